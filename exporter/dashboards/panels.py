"""The dashboards' shared vocabulary: data source, variables, queries and panel kinds.

Every panel is built here, so that every panel has the same conventions: the `datasource`
variable, a title, a description, a unit, numbered queries and sensible colours.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, Self, TypeVar

from grafana_foundation_sdk.builders import (
    bargauge,
    common,
    dashboard,
    heatmap,
    prometheus,
    stat,
    statetimeline,
    table,
    timeseries,
)
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.variants import Dataquery
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import heatmap as hm
from grafana_foundation_sdk.models import prometheus as pm

DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
TAG = "chatcanary"

# The label matchers every probe query carries: the dashboards' variables.
PROBE = 'target=~"$target", model=~"$model", canary=~"$canary"'
TARGET = 'target=~"$target"'


def series(metric: str, selector: str, *matchers: str) -> str:
    """`metric{selector, matchers…}`."""
    return f"{metric}{{{', '.join([selector, *matchers])}}}"


def rate(metric: str, selector: str, *matchers: str) -> str:
    return f"rate({series(metric, selector, *matchers)}[$__rate_interval])"


def increase(metric: str, selector: str, *matchers: str, over: str = "$__rate_interval") -> str:
    """`over` is `$__rate_interval` (per point) or `$__range` (the dashboard's range)."""
    return f"increase({series(metric, selector, *matchers)}[{over}])"


GREEN, YELLOW, ORANGE, RED, BLUE = "green", "#EAB839", "orange", "red", "blue"


def query(
    expr: str, legend: str = "__auto", *, instant: bool = False, fmt: str = "time_series"
) -> prometheus.Dataquery:
    q = prometheus.Dataquery().expr(expr).legend_format(legend).datasource(DATASOURCE)
    q = q.format(pm.PromQueryFormat(fmt))
    return q.instant() if instant else q.range()


def exemplars(q: prometheus.Dataquery) -> prometheus.Dataquery:
    """Exemplars on: a latency point links to the trace of the run that made it."""
    return q.exemplar(True)


def quantiles(
    metric: str, selector: str, by: str = "", name: str = ""
) -> list[prometheus.Dataquery]:
    """p50, p95 and p99 of a histogram over `$__rate_interval`, with exemplars."""
    group = f"{by}, le" if by else "le"
    label = f"{{{{{by}}}}} " if by else ""
    return [
        exemplars(
            query(
                f"histogram_quantile({q}, sum by ({group}) "
                f"(rate({metric}_bucket{{{selector}}}[$__rate_interval])))",
                f"{label}{name}p{round(q * 100)}",
            )
        )
        for q in (0.5, 0.95, 0.99)
    ]


def thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    return (
        dashboard.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=v, color=c) for v, c in steps])
    )


# Thresholds for ratios where higher is better (availability, budget, headroom).
GOOD_HIGH = thresholds((None, RED), (0.9, ORANGE), (0.99, GREEN))
BUDGET = thresholds((None, RED), (0.0, ORANGE), (0.25, YELLOW), (0.5, GREEN))
# For rates of bad things: any is noteworthy, a lot is red.
BAD_LOW = thresholds((None, GREEN), (0.01, ORANGE), (0.05, RED))
BAD_COUNT = thresholds((None, GREEN), (1, RED))
HEADROOM = thresholds((None, RED), (0.1, ORANGE), (0.25, GREEN))


def mapping(values: dict[str, tuple[str, str]]) -> list[dm.ValueMapping]:
    """Value → (text, colour): states are shown in words as well as colour."""
    options = {
        key: dm.ValueMappingResult(text=text, color=colour, index=i)
        for i, (key, (text, colour)) in enumerate(values.items())
    }
    return [dm.ValueMap(options=options)]


def numbered(queries: Sequence[prometheus.Dataquery]) -> list[prometheus.Dataquery]:
    """Queries with their refIds A, B, C… (set before a panel builds them)."""
    return [q.ref_id(chr(ord("A") + i)) for i, q in enumerate(queries)]


class _Panel(Protocol):
    """What every panel builder of the SDK has (each returns its own type)."""

    def title(self, title: str) -> Self: ...
    def description(self, description: str) -> Self: ...
    def unit(self, unit: str) -> Self: ...
    def datasource(self, datasource: dm.DataSourceRef) -> Self: ...
    def span(self, w: int) -> Self: ...
    def height(self, h: int) -> Self: ...
    def with_target(self, target: Builder[Dataquery]) -> Self: ...


P = TypeVar("P", bound=_Panel)


def dressed(
    panel: P,
    title: str,
    description: str,
    unit: str,
    queries: Sequence[prometheus.Dataquery],
    width: int,
    height: int,
) -> P:
    """The conventions every panel shares: title, description, unit, the `datasource`
    variable, its place on the grid and its numbered queries."""
    panel = (
        panel.title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .span(width)
        .height(height)
    )
    for q in numbered(queries):
        panel = panel.with_target(q)
    return panel


def timeseries_panel(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[prometheus.Dataquery],
    *,
    width: int = 8,
    height: int = 8,
    stack: bool = False,
    bars: bool = False,
    limits: dashboard.ThresholdsConfig | None = None,
    max_value: float | None = None,
) -> timeseries.Panel:
    panel = (
        dressed(timeseries.Panel(), title, description, unit, queries, width, height)
        .min(0)
        .line_width(1)
        .fill_opacity(60 if stack else 10)
        .show_points(cm.VisibilityMode.NEVER)
        .legend(
            common.VizLegendOptions()
            .show_legend(True)
            .display_mode(cm.LegendDisplayMode.TABLE)
            .placement(cm.LegendPlacement.BOTTOM)
            .calcs(["lastNotNull", "max"])
        )
        .tooltip(
            common.VizTooltipOptions()
            .mode(cm.TooltipDisplayMode.MULTI)
            .sort(cm.SortOrder.DESCENDING)
        )
    )
    if stack:
        panel = panel.stacking(common.StackingConfig().mode(cm.StackingMode.NORMAL))
    if bars:
        panel = panel.draw_style(cm.GraphDrawStyle.BARS)
    if limits is not None:
        panel = panel.thresholds(limits).thresholds_style(
            common.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.DASHED)
        )
    if max_value is not None:
        panel = panel.max(max_value)
    return panel


def stat_panel(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[prometheus.Dataquery],
    *,
    width: int = 4,
    height: int = 4,
    limits: dashboard.ThresholdsConfig | None = None,
    mappings: list[dm.ValueMapping] | None = None,
    decimals: int | None = None,
) -> stat.Panel:
    panel = (
        dressed(stat.Panel(), title, description, unit, queries, width, height)
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .text_mode(cm.BigValueTextMode.AUTO)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(limits if limits is not None else thresholds((None, BLUE)))
    )
    if mappings is not None:
        panel = panel.mappings(mappings)
    if decimals is not None:
        panel = panel.decimals(decimals)
    return panel


def bargauge_panel(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[prometheus.Dataquery],
    *,
    width: int = 8,
    height: int = 8,
    limits: dashboard.ThresholdsConfig | None = None,
    max_value: float | None = None,
) -> bargauge.Panel:
    panel = (
        dressed(bargauge.Panel(), title, description, unit, queries, width, height)
        .min(0)
        .display_mode(cm.BarGaugeDisplayMode.GRADIENT)
        .orientation(cm.VizOrientation.HORIZONTAL)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(limits if limits is not None else thresholds((None, BLUE)))
    )
    if max_value is not None:
        panel = panel.max(max_value)
    return panel


def table_panel(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[prometheus.Dataquery],
    *,
    width: int = 12,
    height: int = 8,
    hide: Sequence[str] = ("Time",),
) -> table.Panel:
    """An instant table; `hide` lists columns that add nothing (the time, `Value`s)."""
    panel = (
        dressed(table.Panel(), title, description, unit, queries, width, height)
        .cell_height(cm.TableCellHeight.SM)
        .filterable(True)
        .with_transformation(
            dm.DataTransformerConfig(
                id_val="organize",
                options={"excludeByName": dict.fromkeys(hide, True)},
            )
        )
    )
    if len(queries) > 1:
        panel = panel.with_transformation(dm.DataTransformerConfig(id_val="merge", options={}))
    return panel


def heatmap_panel(
    title: str, description: str, unit: str, q: prometheus.Dataquery, *, width: int = 12
) -> heatmap.Panel:
    """A histogram's buckets over time; exemplars drawn on top."""
    panel = (
        dressed(heatmap.Panel(), title, description, unit, [q], width, 8)
        .calculate(False)
        .color(
            heatmap.HeatmapColorOptions()
            .mode(hm.HeatmapColorMode.SCHEME)
            .scheme("Oranges")
            .fill("dark-orange")
            .scale(hm.HeatmapColorScale.EXPONENTIAL)
            .exponent(0.5)
            .steps(64)
            .reverse(False)
        )
        .y_axis(heatmap.YAxisConfig().unit(unit))
        .cell_gap(1)
        .exemplars_color("rgba(255,0,255,0.7)")
    )
    return panel


def state_panel(
    title: str,
    description: str,
    q: prometheus.Dataquery,
    states: dict[str, tuple[str, str]],
    *,
    width: int = 24,
    height: int = 8,
) -> statetimeline.Panel:
    panel = (
        dressed(statetimeline.Panel(), title, description, "none", [q], width, height)
        .mappings(mapping(states))
        .show_value(cm.VisibilityMode.NEVER)
        .merge_values(True)
        .row_height(0.8)
    )
    return panel


def datasource_variable() -> dashboard.DatasourceVariable:
    return (
        dashboard.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .description("The Prometheus that scrapes chatcanary.")
    )


def label_variable(
    name: str, metric: str, label: str, description: str, depends: str = ""
) -> dashboard.QueryVariable:
    """A multi-value variable from a label's values, with All (`.*`)."""
    selector = f"{metric}{{{depends}}}" if depends else metric
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(DATASOURCE)
        .query(
            {
                "query": f"label_values({selector}, {name})",
                "refId": "PrometheusVariableQueryEditor-VariableQuery",
                "qryType": 1,
            }
        )
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(dm.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )


def probe_variables() -> list[dashboard.QueryVariable]:
    """target → model → canary, each narrowing the next."""
    metric = "chatcanary_probes_total"
    return [
        label_variable("target", metric, "Target", "Endpoints chatcanary probes."),
        label_variable("model", metric, "Model", "Configured models.", TARGET),
        label_variable("canary", metric, "Canary", "Canary prompts.", f'{TARGET}, model=~"$model"'),
    ]


def base(uid: str, title: str, description: str) -> dashboard.Dashboard:
    """A dashboard with the shared conventions: tags, links, time, refresh, read-only."""
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .readonly()
        .timezone("browser")
        .time("now-3h", "now")
        .refresh("1m")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .timepicker(dashboard.TimePicker().refresh_intervals(["30s", "1m", "5m", "15m", "1h"]))
        .link(
            dashboard.DashboardLink("chatcanary")
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(False)
            .include_vars(True)
            .keep_time(True)
            .tooltip("The other chatcanary dashboards")
        )
        .with_variable(datasource_variable())
    )
