"""Overview: the fleet at a glance, then one row per target (the wall screen)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from exporter.dashboards.panels import (
    BAD_COUNT,
    BAD_LOW,
    BUDGET,
    GOOD_HIGH,
    GREEN,
    HEADROOM,
    PROBE,
    RED,
    TARGET,
    bargauge_panel,
    base,
    increase,
    probe_variables,
    quantiles,
    query,
    rate,
    series,
    stat_panel,
    state_panel,
    table_panel,
    timeseries_panel,
)

UID = "chatcanary-overview"
RANGE = "$__range"
PERIOD_ERRORS = "slo:chatcanary_sli_error:ratio_rateperiod"
FEEDBACK = "chatcanary_feedback_total"
AVAILABILITY, OUTPUT, POSITIVE = 'sli="availability"', 'type="output"', 'rating="positive"'
ANSWER, REFUSE = 'expected="answer"', 'expected="refuse"'


def _runs(selector: str) -> str:
    return f"sum(rate(chatcanary_probes_total{{{selector}}}[$__rate_interval]))"


def fleet(d: dashboard.Dashboard) -> dashboard.Dashboard:
    passing = f"sum({series('chatcanary_probe_success', PROBE)})"
    failing = f"count({series('chatcanary_probe_success', PROBE)} == 0) or vector(0)"
    availability = (
        f'sum(increase(chatcanary_probes_total{{{PROBE}, outcome!="error"}}[$__range]))\n'
        f"/\nsum(increase(chatcanary_probes_total{{{PROBE}}}[$__range]))"
    )
    good = (
        f'sum(increase(chatcanary_probes_total{{{PROBE}, outcome="success"}}[$__range]))\n'
        f"/\nsum(increase(chatcanary_probes_total{{{PROBE}}}[$__range]))"
    )
    changes = f"sum(increase(chatcanary_model_changes_total{{{PROBE}}}[$__range]))"
    return (
        d.with_row(dashboard.Row("Fleet"))
        .with_panel(
            stat_panel(
                "Canaries failing",
                "(target, canary) pairs whose last run failed: errored or a check failed.",
                "none",
                [query(failing, "failing", instant=True)],
                limits=BAD_COUNT,
            )
        )
        .with_panel(
            stat_panel(
                "Canaries passing",
                "(target, canary) pairs whose last run succeeded.",
                "none",
                [query(passing, "passing", instant=True)],
            )
        )
        .with_panel(
            stat_panel(
                "Availability (time range)",
                "Share of runs that got an answer (not errored) over the dashboard's range.",
                "percentunit",
                [query(availability, "availability", instant=True)],
                limits=GOOD_HIGH,
                decimals=2,
            )
        )
        .with_panel(
            stat_panel(
                "Runs passing every check (time range)",
                "Share of runs that succeeded: answered and passed every check.",
                "percentunit",
                [query(good, "good", instant=True)],
                limits=GOOD_HIGH,
                decimals=2,
            )
        )
        .with_panel(
            stat_panel(
                "Model identity changes (time range)",
                "Times the reported model or system fingerprint changed: a silent model swap.",
                "none",
                [query(changes, "changes", instant=True)],
                limits=BAD_COUNT,
            )
        )
        .with_panel(
            stat_panel(
                "Run rate",
                "Canary runs finished per second, all targets.",
                "reqps",
                [query(_runs(PROBE), "runs/s")],
            )
        )
        .with_panel(
            state_panel(
                "Last run per canary",
                "Each (target, canary): passing or failing over time (chatcanary_probe_success).",
                query(
                    f"max by (target, canary) ({series('chatcanary_probe_success', PROBE)})",
                    "{{target}} / {{canary}}",
                ),
                {"1": ("pass", GREEN), "0": ("FAIL", RED)},
            )
        )
        .with_panel(
            table_panel(
                "Model identity",
                "What each target says it runs (chatcanary_model_info): the configured "
                "model, the model in the response and the system fingerprint.",
                "none",
                [
                    query(
                        "max by (target, model, response_model, system_fingerprint) "
                        f"({series('chatcanary_model_info', PROBE)})",
                        fmt="table",
                        instant=True,
                    )
                ],
                width=24,
                height=6,
                hide=("Time", "Value"),
            )
        )
    )


def per_target(d: dashboard.Dashboard) -> dashboard.Dashboard:
    here = PROBE
    answered = f'{PROBE}, outcome!="error"'
    return (
        d.with_row(dashboard.Row("Target $target").repeat("target"))
        .with_panel(
            stat_panel(
                "Availability now",
                "Share of runs that got an answer, over the last `$__rate_interval`.",
                "percentunit",
                [
                    query(
                        f"{_runs(answered)}\n/\n{_runs(here)}",
                        "availability",
                    )
                ],
                limits=GOOD_HIGH,
                decimals=2,
                width=3,
                height=8,
            )
        )
        .with_panel(
            stat_panel(
                "Availability (SLO period)",
                "1 - the availability SLI's error ratio over its period, from the "
                "generated SLO rules (`chatcanary rules`).",
                "percentunit",
                [
                    query(
                        f"1 - max by (target) ({series(PERIOD_ERRORS, TARGET, AVAILABILITY)})",
                        "availability",
                    )
                ],
                limits=GOOD_HIGH,
                decimals=3,
                width=3,
                height=8,
            )
        )
        .with_panel(
            bargauge_panel(
                "Error budget remaining",
                "Per SLO: the share of the period's error budget left "
                "(1 = untouched, below 0 = spent).",
                "percentunit",
                [
                    query(
                        f"max by (slo) ({series('slo:chatcanary_error_budget:remaining', TARGET)})",
                        "{{slo}}",
                        instant=True,
                    )
                ],
                limits=BUDGET,
                max_value=1,
                width=6,
            )
        )
        .with_panel(
            timeseries_panel(
                "Request duration",
                "Request start to the last byte, answered runs: p50, p95, p99. "
                "Exemplars link to traces.",
                "s",
                quantiles("chatcanary_request_duration_seconds", f'{here}, outcome!="error"'),
                width=6,
            )
        )
        .with_panel(
            timeseries_panel(
                "Time to first token",
                "Request start to the first content token, streamed runs: p50, p95, p99.",
                "s",
                quantiles("chatcanary_time_to_first_token_seconds", here),
                width=6,
            )
        )
        .with_panel(
            timeseries_panel(
                "Output tokens per second",
                "Output tokens per second of answering (tokens over request time).",
                "short",
                [
                    query(
                        f"sum({rate('chatcanary_tokens_total', here, OUTPUT)})\n/\n"
                        f"sum({rate('chatcanary_request_duration_seconds_sum', answered)})",
                        "tokens/s",
                    )
                ],
                width=6,
            )
        )
        .with_panel(
            timeseries_panel(
                "Errors by class",
                "Runs that errored per second, stacked by error class "
                "(see the README's error classes).",
                "reqps",
                [
                    query(
                        f"sum by (error_class) ({rate('chatcanary_probe_errors_total', here)})",
                        "{{error_class}}",
                    )
                ],
                width=6,
                stack=True,
                bars=True,
            )
        )
        .with_panel(
            timeseries_panel(
                "Over- and under-refusal",
                "Over-refusal: benign canaries refused, of those answered. Under-refusal: "
                "canaries that must be refused but were answered.",
                "percentunit",
                [
                    query(
                        f"sum({rate('chatcanary_refusals_total', here, ANSWER)})\n/\n"
                        f"sum({rate('chatcanary_responses_total', here, ANSWER)})",
                        "over-refusal",
                    ),
                    query(
                        f"1 - sum({rate('chatcanary_refusals_total', here, REFUSE)})\n/\n"
                        f"sum({rate('chatcanary_responses_total', here, REFUSE)})",
                        "under-refusal",
                    ),
                ],
                width=6,
                limits=BAD_LOW,
                max_value=1,
            )
        )
        .with_panel(
            timeseries_panel(
                "Check failures",
                "Failed answer checks per second, by canary and check.",
                "reqps",
                [
                    query(
                        f"sum by (canary, check) ({rate('chatcanary_check_failures_total', here)})",
                        "{{canary}}: {{check}}",
                    )
                ],
                width=6,
                stack=True,
                bars=True,
            )
        )
        .with_panel(
            bargauge_panel(
                "Rate-limit headroom",
                "Remaining share of the requests and tokens rate limits, from the last "
                "response's headers (lowest canary).",
                "percentunit",
                [
                    query(
                        f"min by (kind) ({series('chatcanary_ratelimit_remaining_ratio', here)})",
                        "{{kind}}",
                        instant=True,
                    )
                ],
                limits=HEADROOM,
                max_value=1,
                width=6,
            )
        )
        .with_panel(
            stat_panel(
                "User feedback: positive",
                "Share of user feedback rated positive over the time range "
                "(POST /api/v1/feedback).",
                "percentunit",
                [
                    query(
                        f"sum({increase(FEEDBACK, TARGET, POSITIVE, over=RANGE)})\n/\n"
                        f"sum({increase(FEEDBACK, TARGET, over=RANGE)})",
                        "positive",
                        instant=True,
                    )
                ],
                limits=GOOD_HIGH,
                width=6,
                height=8,
            )
        )
        .with_panel(
            bargauge_panel(
                "Since last run",
                "Seconds since each canary last finished a run: a stuck scheduler or a "
                "hanging endpoint shows here first.",
                "s",
                [
                    query(
                        "time() - max by (canary) "
                        f"({series('chatcanary_last_run_timestamp_seconds', here)})",
                        "{{canary}}",
                        instant=True,
                    )
                ],
                width=6,
            )
        )
        .with_panel(
            timeseries_panel(
                "Drift: answer and model changes",
                "Changes of a deterministic canary's normalised answer, and of the model "
                "identity the endpoint reports, per interval.",
                "short",
                [
                    query(f"sum({increase('chatcanary_answer_changes_total', here)})", "answer"),
                    query(f"sum({increase('chatcanary_model_changes_total', here)})", "model"),
                ],
                width=6,
                bars=True,
            )
        )
    )


def build() -> dashboard.Dashboard:
    d = base(
        UID,
        "chatcanary / Overview",
        "Is every chat endpoint answering, fast, correct and as it was? One row per target.",
    )
    for variable in probe_variables():
        d = d.with_variable(variable)
    return per_target(fleet(d))
