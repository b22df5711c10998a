"""The Grafana dashboards: generated JSON committed and current, conventions, PromQL lint.

The lint follows grafana's dashboard-linter in spirit: every panel on the `datasource`
variable, `$__rate_interval` (or `$__range`) for every range, counters only inside
`rate`/`increase`, the dashboard's variables on every selector, a unit on every panel.
Every query is parsed by a real PromQL parser (promql-parser, Prometheus's grammar in Rust).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from exporter import dashboards
from exporter.cli import main
from exporter.config import Metrics
from exporter.proxy.metrics import TrafficMetrics
from exporter.sharding import WHOLE
from exporter.sinks.prometheus import PrometheusSink, make_registry

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "grafana" / "dashboards"
RENDERED = dashboards.render()
MODELS = {name: json.loads(text) for name, text in RENDERED.items()}

# Grafana's interval macros, replaced by durations nobody would type by hand.
RATE_INTERVAL, RANGE = timedelta(seconds=17), timedelta(seconds=4321)


def substitute(expr: str) -> str:
    """The query as Prometheus receives it from Grafana with every variable on All."""
    for name in ("target", "model", "canary", "slo", "instance", "proxy"):
        expr = expr.replace(f"${name}", ".*")
    return expr.replace("$__rate_interval", "17s").replace("$__range", "4321s")


def panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in model["panels"]:
        if panel["type"] != "row":
            yield panel


def queries() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, model in MODELS.items():
        for panel in panels(model):
            for target in panel["targets"]:
                yield name, panel["title"], target


QUERIES = list(queries())
IDS = [f"{name}:{title}:{t['refId']}" for name, title, t in QUERIES]


def metric_kinds() -> dict[str, str]:
    """Series name → the kind it belongs to, from the exporter's own registry."""
    registry, _ = make_registry(PrometheusSink(Metrics()))
    WHOLE.export(registry)  # the shard gauges, as the service registers them
    registry.register(TrafficMetrics(Metrics()))  # as the service registers it
    kinds = {}
    for family in registry.collect():
        if family.type == "counter":
            kinds[f"{family.name}_total"] = "counter"
        elif family.type == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                kinds[family.name + suffix] = "counter"
        else:
            kinds[family.name] = family.type
    return kinds


KINDS = metric_kinds()


def walk(node: Any, inside: str | None = None) -> Iterator[tuple[Any, str | None]]:
    """Every node with the name of the innermost function call around it."""
    yield node, inside
    if isinstance(node, promql_parser.Call):
        for arg in node.args:
            yield from walk(arg, node.func.name)
    elif isinstance(node, promql_parser.BinaryExpr):
        yield from walk(node.lhs, inside)
        yield from walk(node.rhs, inside)
    elif isinstance(node, promql_parser.AggregateExpr):
        yield from walk(node.expr, None)
        if node.param is not None:
            yield from walk(node.param, None)
    elif isinstance(node, promql_parser.MatrixSelector):
        yield from walk(node.vector_selector, inside)
    elif isinstance(node, promql_parser.ParenExpr | promql_parser.UnaryExpr):
        yield from walk(node.expr, inside)
    elif isinstance(node, promql_parser.SubqueryExpr):
        pytest.fail(f"subqueries are not used by the dashboards: {node}")


def test_the_committed_dashboards_are_the_generated_ones() -> None:
    shipped = {p.name: p.read_text(encoding="utf-8") for p in SHIPPED.glob("*.json")}
    assert set(shipped) == set(RENDERED), "run `chatcanary dashboards --out grafana/dashboards`"
    for name, text in RENDERED.items():
        assert shipped[name] == text, f"{name} is stale: `chatcanary dashboards --out ...`"


def test_rendering_is_byte_stable() -> None:
    assert dashboards.render() == RENDERED


def test_the_cli_writes_the_same_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dashboards", "--out", str(tmp_path / "out")]) == 0
    written = {p.name: p.read_text() for p in (tmp_path / "out").iterdir()}
    assert written == RENDERED
    assert capsys.readouterr().out.count(".json\n") == len(RENDERED)


def test_the_cli_names_a_directory_it_cannot_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["dashboards", "--out", str(blocker / "sub")]) == 1
    assert f"cannot write dashboards to {blocker / 'sub'}" in capsys.readouterr().err


def test_uids_are_stable_and_dashboards_link_to_each_other() -> None:
    uids = {name: model["uid"] for name, model in MODELS.items()}
    assert uids == {
        "chatcanary-overview.json": "chatcanary-overview",
        "chatcanary-target.json": "chatcanary-target",
        "chatcanary-slo.json": "chatcanary-slo",
        "chatcanary-exporter.json": "chatcanary-exporter",
        "chatcanary-traffic.json": "chatcanary-traffic",
    }
    for model in MODELS.values():
        assert model["tags"] == ["chatcanary"]
        (link,) = model["links"]
        assert link["type"] == "dashboards" and link["tags"] == ["chatcanary"]
        assert link["includeVars"] and link["keepTime"]


@pytest.mark.parametrize("name", list(MODELS))
def test_dashboard_conventions(name: str) -> None:
    model = MODELS[name]
    assert "__inputs" not in model and model["editable"] is False
    assert model["title"].startswith("chatcanary / ") and model["description"]
    variables = {v["name"]: v for v in model["templating"]["list"]}
    datasource = variables.pop("datasource")
    assert datasource["type"] == "datasource" and datasource["query"] == "prometheus"
    assert variables, "a dashboard filters by at least one label"
    for variable in variables.values():
        assert variable["type"] == "query" and variable["datasource"]["uid"] == "${datasource}"
        assert variable["multi"] and variable["includeAll"] and variable["allValue"] == ".*"
        expr = variable["query"]["query"]
        assert expr.startswith("label_values(") and expr.endswith(f", {variable['name']})")
        promql_parser.parse(substitute(expr.removeprefix("label_values(").rsplit(",", 1)[0]))
    ids = [p["id"] for p in model["panels"]]
    assert ids == list(range(1, len(ids) + 1))


@pytest.mark.parametrize("name", list(MODELS))
def test_every_panel_has_title_description_unit_and_the_datasource_variable(name: str) -> None:
    for panel in panels(MODELS[name]):
        where = f"{name}: {panel['title']}"
        assert panel["title"] and len(panel["description"]) > 20, where
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{where}: no unit"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["x"] + grid["w"] <= 24, f"{where}: off the 24-column grid"
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(set(refs)) == len(refs), where
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", where


def test_repeated_rows_follow_their_variable() -> None:
    rows = {
        name: [p.get("repeat") for p in model["panels"] if p["type"] == "row"]
        for name, model in MODELS.items()
    }
    assert "target" in rows["chatcanary-overview.json"]
    assert "canary" in rows["chatcanary-target.json"]
    assert "slo" in rows["chatcanary-slo.json"]


def test_latency_panels_show_exemplars() -> None:
    latency = [
        (title, t)
        for _, title, t in QUERIES
        if "histogram_quantile" in t["expr"] and "scheduler_lag" not in t["expr"]
    ]
    assert len(latency) >= 8
    for title, target in latency:
        assert target.get("exemplar") is True, title


@pytest.mark.parametrize(("name", "title", "target"), QUERIES, ids=IDS)
def test_query_lint(name: str, title: str, target: dict[str, Any]) -> None:
    expr = target["expr"]
    tree = promql_parser.parse(substitute(expr))  # raises on a syntax error
    for node, inside in walk(tree):
        if isinstance(node, promql_parser.MatrixSelector):
            assert node.range in (RATE_INTERVAL, RANGE), (
                f"{title}: ranges are $__rate_interval or $__range, not {node.range}"
            )
            assert inside in ("rate", "increase"), f"{title}: a range outside rate/increase"
        if isinstance(node, promql_parser.VectorSelector):
            metric = node.name
            if KINDS.get(metric) == "counter":
                assert inside in ("rate", "increase"), f"{title}: counter {metric} not in a rate"
            labels = {m.name: m.value for m in node.matchers.matchers}
            if metric.startswith("chatcanary_") and metric in KINDS:
                wanted = expected_variables(name, metric)
                for variable in wanted:
                    assert labels.get(variable) == ".*", f"{title}: {metric} lacks ${variable}"
            elif metric.startswith("slo:"):
                assert labels.get("slo") == ".*" or name != "chatcanary-slo.json", title
            elif metric in KINDS or metric in ("up", "ALERTS") or metric.startswith("scrape_"):
                pass
            else:
                pytest.fail(f"{title}: unknown metric {metric!r}")


SELF_METRICS = ("chatcanary_config", "chatcanary_runs_in_flight", "chatcanary_canaries")


def expected_variables(dashboard: str, metric: str) -> tuple[str, ...]:
    if dashboard == "chatcanary-exporter.json":
        return ("instance",)
    if metric == "chatcanary_feedback_total":
        return ("target",)
    if metric.startswith(("chatcanary_traffic_requests_in", "chatcanary_traffic_observer")):
        return ("proxy",)  # per proxy only
    if metric.startswith("chatcanary_traffic_"):
        return ("proxy", "model")
    if metric.startswith(SELF_METRICS):
        return ()
    return ("target", "model", "canary")


def test_lint_catches_what_it_claims_to() -> None:
    """The rules above fail on the mistakes they exist for."""
    bad = {
        "fixed range": "rate(chatcanary_probes_total{target=~'$target'}[5m])",
        "bare counter": 'chatcanary_probes_total{target=~"$target"}',
    }
    fixed = promql_parser.parse(substitute(bad["fixed range"]))
    ranges = [n.range for n, _ in walk(fixed) if isinstance(n, promql_parser.MatrixSelector)]
    assert ranges == [timedelta(minutes=5)] and ranges[0] not in (RATE_INTERVAL, RANGE)
    bare = promql_parser.parse(substitute(bad["bare counter"]))
    contexts = [i for n, i in walk(bare) if isinstance(n, promql_parser.VectorSelector)]
    assert contexts == [None] and KINDS["chatcanary_probes_total"] == "counter"
    with pytest.raises(ValueError, match="unexpected character inside brackets"):
        promql_parser.parse("sum(rate(chatcanary_probes_total[$__rate_interval]))")


def test_provisioning_loads_the_dashboards_and_the_datasource() -> None:
    provisioning = ROOT / "grafana" / "provisioning"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "chatcanary.yml").read_text())[
        "providers"
    ]
    assert provider["type"] == "file" and provider["allowUiUpdates"] is False
    assert provider["options"]["path"].endswith("/chatcanary")
    sources = yaml.safe_load((provisioning / "datasources" / "chatcanary.yml").read_text())
    by_uid = {s["uid"]: s for s in sources["datasources"]}
    prometheus = by_uid["prometheus"]
    assert prometheus["type"] == "prometheus" and prometheus["isDefault"] is True
    (destination,) = prometheus["jsonData"]["exemplarTraceIdDestinations"]
    assert destination["name"] == "trace_id" and destination["datasourceUid"] in by_uid
