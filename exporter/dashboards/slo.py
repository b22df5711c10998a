"""SLOs: for each SLO, objective, SLI, budget, burn rates and time to exhaustion; alerts.

Reads the recording rules that `chatcanary rules` generates (`slo:chatcanary_*`), so the
numbers here are the ones the burn-rate alerts use.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from exporter.dashboards.panels import (
    BUDGET,
    GOOD_HIGH,
    TARGET,
    bargauge_panel,
    base,
    label_variable,
    query,
    stat_panel,
    table_panel,
    thresholds,
    timeseries_panel,
)
from exporter.rules import BURNS, WINDOWS

UID = "chatcanary-slo"
HERE = f'{TARGET}, slo=~"$slo"'
# Burn rate: the error ratio over a window divided by the budget (1 - objective).
BUDGET_OF = ' / on (slo, sli) group_left ()\n(1 - slo:chatcanary_objective:ratio{slo=~"$slo"})'


def burn(window: str) -> str:
    return f"slo:chatcanary_sli_error:ratio_rate{window}{{{HERE}}}{BUDGET_OF}"


def per_slo(d: dashboard.Dashboard) -> dashboard.Dashboard:
    factors = sorted({b.factor for b in BURNS})
    burn_limits = thresholds(
        (None, "green"),
        *((f, c) for f, c in zip(factors, ("#EAB839", "orange", "red", "dark-red"), strict=False)),
    )
    exhaustion = (
        f"clamp_min(slo:chatcanary_error_budget:remaining{{{HERE}}}, 0)\n"
        '* on (slo, sli) group_left () slo:chatcanary_period:seconds{slo=~"$slo"}\n'
        f"/ slo:chatcanary_burn_rate:rate1h{{{HERE}}}"
    )
    return (
        d.with_row(dashboard.Row("SLO $slo").repeat("slo"))
        .with_panel(
            stat_panel(
                "Objective",
                "The SLO's objective: the share of good runs promised over the period.",
                "percentunit",
                [query('max(slo:chatcanary_objective:ratio{slo=~"$slo"})', "objective")],
                decimals=2,
                width=3,
                height=8,
            )
        )
        .with_panel(
            stat_panel(
                "SLI over the period",
                "Share of good runs over the SLO's whole period, per target.",
                "percentunit",
                [
                    query(
                        f"1 - slo:chatcanary_sli_error:ratio_rateperiod{{{HERE}}}",
                        "{{target}}",
                    )
                ],
                limits=GOOD_HIGH,
                decimals=3,
                width=5,
                height=8,
            )
        )
        .with_panel(
            stat_panel(
                "Error budget remaining",
                "Share of the period's error budget left, per target "
                "(1 = untouched, 0 = spent, below 0 = overspent).",
                "percentunit",
                [query(f"slo:chatcanary_error_budget:remaining{{{HERE}}}", "{{target}}")],
                limits=BUDGET,
                decimals=1,
                width=5,
                height=8,
            )
        )
        .with_panel(
            stat_panel(
                "Time to exhaustion",
                "At the last hour's burn rate, how long the remaining budget lasts "
                "(∞: not burning).",
                "s",
                [query(exhaustion, "{{target}}")],
                limits=thresholds((None, "red"), (86400, "orange"), (7 * 86400, "green")),
                width=5,
                height=8,
            )
        )
        .with_panel(
            bargauge_panel(
                "Burn rate by alert window",
                "Error ratio over each window divided by the budget: 1 spends the budget "
                "exactly over the period. Alerts page when a long and a short window both "
                "exceed 14.4 (1h, 5m) or 6 (6h, 30m), and warn at 3 (1d, 2h) and 1 (3d, 6h).",
                "x",
                [query(burn(w), f"{{{{target}}}} {w}", instant=True) for w, _ in WINDOWS],
                limits=burn_limits,
                width=6,
                height=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Burn rate",
                "Burn rate over the alerting windows' long windows; dashed lines are the "
                "alert thresholds.",
                "x",
                [query(burn(b.long), f"{{{{target}}}} {b.long}") for b in BURNS],
                limits=burn_limits,
                width=24,
            )
        )
    )


def alerts(d: dashboard.Dashboard) -> dashboard.Dashboard:
    return d.with_row(dashboard.Row("Alerts")).with_panel(
        table_panel(
            "chatcanary alerts pending and firing",
            "Prometheus's ALERTS series for every chatcanary alert: burn-rate pages and "
            "the operational alerts of alerts/operational.yml.",
            "none",
            [
                query(
                    "max by (alertname, alertstate, severity, target, slo, canary) "
                    '(ALERTS{alertname=~"ChatCanary.*"})',
                    fmt="table",
                    instant=True,
                )
            ],
            width=24,
            hide=("Time", "Value"),
        )
    )


def build() -> dashboard.Dashboard:
    d = base(
        UID,
        "chatcanary / SLOs",
        "Service level objectives from `chatcanary rules`: objective, SLI, error budget, "
        "burn rates and time to exhaustion, and the alerts that follow from them.",
    )
    d = d.with_variable(
        label_variable("target", "slo:chatcanary_error_budget:remaining", "Target", "Endpoints.")
    ).with_variable(
        label_variable(
            "slo", "slo:chatcanary_objective:ratio", "SLO", "SLOs from the config's `slos:`."
        )
    )
    return alerts(per_slo(d))
