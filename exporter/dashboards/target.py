"""Target detail: per canary (and per turn of a conversation), what went wrong and when."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models import dashboard as dashboard_model

from exporter.dashboards.panels import (
    GREEN,
    ORANGE,
    PROBE,
    RED,
    base,
    exemplars,
    heatmap_panel,
    increase,
    probe_variables,
    quantiles,
    query,
    rate,
    table_panel,
    timeseries_panel,
)

UID = "chatcanary-target"
RANGE = "$__range"
DURATION = "chatcanary_request_duration_seconds"
TURN_TTFT = "chatcanary_turn_time_to_first_token_seconds"
SERVER = "chatcanary_server_duration_seconds"


def per_canary(d: dashboard.Dashboard) -> dashboard.Dashboard:
    here = PROBE
    return (
        d.with_row(dashboard.Row("Canary $canary").repeat("canary"))
        .with_panel(
            timeseries_panel(
                "Outcomes",
                "Finished runs per interval by outcome: success, error (no usable answer) "
                "or check_failed (answered, but a check failed).",
                "short",
                [
                    query(
                        f"sum by (outcome) ({increase('chatcanary_probes_total', here)})",
                        "{{outcome}}",
                    )
                ],
                stack=True,
                bars=True,
                width=6,
            )
            .override_by_name("success", [color(GREEN)])
            .override_by_name("error", [color(RED)])
            .override_by_name("check_failed", [color(ORANGE)])
        )
        .with_panel(
            heatmap_panel(
                "Request duration heatmap",
                "Distribution of request durations (all outcomes) per interval; "
                "dots are exemplars: click one for its trace.",
                "s",
                exemplars(
                    query(
                        f"sum by (le) ({increase(DURATION + '_bucket', here)})",
                        "{{le}}",
                        fmt="heatmap",
                    )
                ),
                width=9,
            )
        )
        .with_panel(
            timeseries_panel(
                "Time to first token",
                "p50, p95, p99 by target. Exemplars link to traces.",
                "s",
                quantiles("chatcanary_time_to_first_token_seconds", here, by="target"),
                width=9,
            )
        )
        .with_panel(
            timeseries_panel(
                "Inter-token latency",
                "Gaps between content chunks after the first: p50, p95, p99 by target.",
                "s",
                quantiles("chatcanary_inter_token_latency_seconds", here, by="target"),
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Turn duration (conversations)",
                "p95 duration of each turn of a multi-turn canary: a later turn slowing "
                "down shows the context growing.",
                "s",
                [
                    exemplars(
                        query(
                            "histogram_quantile(0.95, sum by (target, turn, le) "
                            f"({rate('chatcanary_turn_duration_seconds_bucket', here)}))",
                            "{{target}} turn {{turn}} p95",
                        )
                    ),
                    exemplars(
                        query(
                            "histogram_quantile(0.95, sum by (target, turn, le) "
                            f"({rate(TURN_TTFT + '_bucket', here)}))",
                            "{{target}} turn {{turn}} TTFT p95",
                        )
                    ),
                ],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Tokens per run",
                "Input and output tokens per finished run, as the server reports them.",
                "short",
                [
                    query(
                        f"sum by (target, type) ({rate('chatcanary_tokens_total', here)})\n"
                        "/ on (target) group_left ()\n"
                        f"sum by (target) ({rate('chatcanary_probes_total', here)})",
                        "{{target}} {{type}}",
                    )
                ],
                width=8,
            )
        )
        .with_panel(
            table_panel(
                "Failures by class (time range)",
                "Errored runs over the time range, by target and error class.",
                "none",
                [
                    query(
                        "sum by (target, error_class) "
                        f"({increase('chatcanary_probe_errors_total', here, over=RANGE)})",
                        fmt="table",
                        instant=True,
                    )
                ],
                width=8,
            ).display_name("runs")
        )
        .with_panel(
            table_panel(
                "Checks failing (time range)",
                "Failed checks over the time range, by target and check.",
                "none",
                [
                    query(
                        "sum by (target, check) "
                        f"({increase('chatcanary_check_failures_total', here, over=RANGE)})",
                        fmt="table",
                        instant=True,
                    )
                ],
                width=8,
            ).display_name("failures")
        )
        .with_panel(
            table_panel(
                "Answer and model changes (time range)",
                "Changes of a deterministic canary's normalised answer, and of the "
                "reported model identity: drift without a deploy.",
                "none",
                [
                    query(
                        "sum by (target) "
                        f"({increase('chatcanary_answer_changes_total', here, over=RANGE)})",
                        fmt="table",
                        instant=True,
                    ),
                    query(
                        "sum by (target) "
                        f"({increase('chatcanary_model_changes_total', here, over=RANGE)})",
                        fmt="table",
                        instant=True,
                    ),
                ],
                width=8,
            )
            .override_by_name("Value #A", [display("answer changes"), thresholded()])
            .override_by_name("Value #B", [display("model changes"), thresholded()])
        )
        .with_panel(
            timeseries_panel(
                "Server-reported time by phase",
                "Mean time the server says it spent per run, by phase "
                "(Ollama: load, prompt_eval, eval).",
                "s",
                [
                    query(
                        f"sum by (target, phase) ({rate(SERVER + '_sum', here)})\n"
                        "/\n"
                        f"sum by (target, phase) ({rate(SERVER + '_count', here)})",
                        "{{target}} {{phase}}",
                    )
                ],
                width=12,
                stack=True,
            )
        )
        .with_panel(
            timeseries_panel(
                "Refusals",
                "Answers judged refusals per second: expected=answer is over-refusal, "
                "expected=refuse is the wanted refusal, expected=unspecified is measured "
                "only (the canary sets no expect_refusal; never alerted on).",
                "reqps",
                [
                    query(
                        f"sum by (target, expected) ({rate('chatcanary_refusals_total', here)})",
                        "{{target}} expected={{expected}}",
                    )
                ],
                width=12,
            )
        )
    )


def color(fixed: str) -> dashboard_model.DynamicConfigValue:
    return dashboard_model.DynamicConfigValue(
        id_val="color", value={"mode": "fixed", "fixedColor": fixed}
    )


def display(name: str) -> dashboard_model.DynamicConfigValue:
    return dashboard_model.DynamicConfigValue(id_val="displayName", value=name)


def thresholded() -> dashboard_model.DynamicConfigValue:
    return dashboard_model.DynamicConfigValue(
        id_val="custom.cellOptions", value={"type": "color-text"}
    )


def build() -> dashboard.Dashboard:
    d = base(
        UID,
        "chatcanary / Target detail",
        "Per canary and per turn: outcomes, latency distributions, failures, checks, drift.",
    )
    for variable in probe_variables():
        d = d.with_variable(variable)
    return per_canary(d)
