"""The SLO rule generator, as pure functions: windows, selectors, thresholds, time scale."""

from __future__ import annotations

import re

import pytest

from exporter.config import ConfigError, Metrics, parse_config
from exporter.rules import SLI, RuleError, duration, generate, prometheus_rule

BASE = """
targets:
  - {name: a, protocol: openai, base_url: "http://127.0.0.1:1/v1", model: m}
  - {name: b, protocol: openai, base_url: "http://127.0.0.1:1/v1", model: m}
canaries:
  - {name: c, prompt: hi}
slos:
"""


def rules_for(slos: str, time_scale: float = 1.0) -> list[dict[str, object]]:
    config = parse_config(BASE + slos, "t.yaml")
    (group,) = generate(config, time_scale)["groups"]
    rules: list[dict[str, object]] = group["rules"]
    return rules


def record(rules: list[dict[str, object]], name: str) -> str:
    return str(next(r["expr"] for r in rules if r.get("record") == name))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(300, "5m"), (3600, "1h"), (86400 * 30, "30d"), (90, "90s"), (36, "36s"), (0.5, "500ms")],
)
def test_duration_uses_the_largest_whole_unit(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_duration_refuses_nothing() -> None:
    with pytest.raises(RuleError):
        duration(0.0001)


def test_availability_counts_errors_over_all_runs() -> None:
    rules = rules_for("  - {name: up, sli: availability, objective: 99.5}\n")
    assert record(rules, "slo:chatcanary_sli_error:ratio_rate5m") == (
        'sum by (target) (increase(chatcanary_probes_total{outcome="error"}[5m]))\n/\n'
        "sum by (target) (increase(chatcanary_probes_total[5m]))"
    )
    names = [r.get("record") for r in rules if "record" in r]
    windows = ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "period"]
    assert names[:8] == [f"slo:chatcanary_sli_error:ratio_rate{w}" for w in windows]
    assert record(rules, "slo:chatcanary_objective:ratio") == "vector(0.995)"
    assert record(rules, "slo:chatcanary_period:seconds") == "vector(2592000)"  # 30 days
    assert "/ 0.005" in record(rules, "slo:chatcanary_error_budget:remaining")


def test_filters_select_targets_and_canaries() -> None:
    rules = rules_for("  - {name: q, sli: quality, objective: 99, targets: [a], canaries: [c]}\n")
    expr = record(rules, "slo:chatcanary_sli_error:ratio_rate1h")
    assert 'outcome="check_failed", target=~"a", canary=~"c"' in expr
    assert 'outcome!="error", target=~"a", canary=~"c"' in expr


def test_refusal_sli_is_benign_canaries_refused() -> None:
    expr = record(
        rules_for("  - {name: r, sli: refusal, objective: 99}\n"),
        "slo:chatcanary_sli_error:ratio_rate1h",
    )
    assert 'chatcanary_refusals_total{expected="answer"}' in expr
    assert 'chatcanary_responses_total{expected="answer"}' in expr


@pytest.mark.parametrize(
    ("latency_of", "histogram", "outcome"),
    [
        ("request", "chatcanary_request_duration_seconds", 'outcome!="error", '),
        ("ttft", "chatcanary_time_to_first_token_seconds", ""),
    ],
)
def test_latency_sli_uses_the_threshold_bucket(
    latency_of: str, histogram: str, outcome: str
) -> None:
    slo = (
        f"  - {{name: l, sli: latency, threshold: 1.5s, objective: 99, latency_of: {latency_of}}}\n"
    )
    expr = record(rules_for(slo), "slo:chatcanary_sli_error:ratio_rate5m")
    assert f'{histogram}_bucket{{{outcome}le="1.5"}}[5m]' in expr
    assert f"{histogram}_count" in expr


def test_slo_thresholds_become_bucket_boundaries() -> None:
    config = parse_config(
        BASE + "  - {name: l, sli: latency, threshold: 1.5s, objective: 99}\n"
        "  - {name: f, sli: latency, threshold: 350ms, objective: 99, latency_of: ttft}\n",
        "t.yaml",
    )
    assert 1.5 in config.buckets().duration_buckets
    assert 0.35 in config.buckets().ttft_buckets


def test_a_threshold_off_the_buckets_is_refused() -> None:
    config = parse_config(
        BASE + "  - {name: l, sli: latency, threshold: 1.5s, objective: 99}\n", "t"
    )
    sli = SLI(config.slos[0], Metrics(duration_buckets=(1.0, 2.0)))
    with pytest.raises(RuleError, match=r"threshold 1.5s is not a bucket boundary"):
        sli.bad("5m")


def test_alerts_burn_two_windows_with_a_volume_guard() -> None:
    rules = rules_for("  - {name: up, sli: availability, objective: 99, min_events: 5}\n")
    alerts = [r for r in rules if "alert" in r]
    assert [
        (a["labels"]["long_window"], a["labels"]["short_window"], a["for"], a["labels"]["severity"])
        for a in alerts
    ] == [  # type: ignore[index]
        ("1h", "5m", "2m", "critical"),
        ("6h", "30m", "15m", "critical"),
        ("1d", "2h", "1h", "warning"),
        ("3d", "6h", "3h", "warning"),
    ]
    first = str(alerts[0]["expr"])
    assert 'ratio_rate1h{slo="up"} > 0.144' in first
    assert 'ratio_rate5m{slo="up"} > 0.144' in first
    assert 'increase(chatcanary_probes_total{outcome="error"}[1h])) >= 5' in first
    assert all(a["alert"] == "ChatCanaryErrorBudgetBurn" for a in alerts)
    assert all(
        str(a["annotations"]["runbook_url"]).endswith("#chatcanaryerrorbudgetburn") for a in alerts
    )  # type: ignore[index]


def test_every_recorded_series_a_rule_reads_is_recorded() -> None:
    """Regression: the budget rule once read `ratio_rateperiod` while `ratio_rate30d` was
    recorded, so the budget never had a value."""
    rules = rules_for("  - {name: day, sli: quality, objective: 99, period: 1d}\n")
    recorded = [str(r["record"]) for r in rules if "record" in r]
    assert len(recorded) == len(set(recorded)), "a 1d period must not clash with the 1d window"
    exprs = " ".join(str(r["expr"]) for r in rules)
    read = set(re.findall(r"slo:chatcanary_[a-z_]+:[a-z_0-9]+", exprs))
    assert "slo:chatcanary_sli_error:ratio_rateperiod" in read
    assert read <= set(recorded), read - set(recorded)


def test_time_scale_shrinks_windows_and_waits_but_not_names() -> None:
    rules = rules_for("  - {name: up, sli: availability, objective: 99}\n", time_scale=1 / 60)
    assert "[5s]" in record(rules, "slo:chatcanary_sli_error:ratio_rate5m")
    assert "[12h]" in record(rules, "slo:chatcanary_sli_error:ratio_rateperiod")
    alerts = [r for r in rules if "alert" in r]
    assert [a["for"] for a in alerts] == ["2s", "15s", "1m", "3m"]


def test_time_scale_must_be_positive() -> None:
    with pytest.raises(RuleError):
        generate(parse_config(BASE + "  - {name: u, sli: availability, objective: 99}\n", "t"), 0)


def test_prometheus_operator_wraps_the_groups() -> None:
    document = generate(
        parse_config(BASE + "  - {name: u, sli: availability, objective: 99}\n", "t")
    )
    wrapped = prometheus_rule(document)
    assert wrapped["kind"] == "PrometheusRule"
    assert wrapped["apiVersion"] == "monitoring.coreos.com/v1"
    assert wrapped["spec"] is document


@pytest.mark.parametrize(
    ("slos", "message"),
    [
        (
            "  - {name: l, sli: latency, objective: 99}\n",
            "t.yaml:8: slos[0]: a latency SLO needs a threshold",
        ),
        (
            "  - {name: u, sli: availability, objective: 99, threshold: 1s}\n",
            "t.yaml:8: slos[0]: a latency SLO needs a threshold",
        ),
        (
            "  - {name: u, sli: availability, objective: 100}\n",
            "t.yaml:8: slos[0].objective: Input should be less than 100",
        ),
        ("  - {name: u, sli: uptime, objective: 99}\n", "t.yaml:8: slos[0].sli: Input should be"),
        (
            "  - {name: u, sli: availability, objective: 99, targets: [z]}\n",
            "t.yaml:8: slos[0].targets[0]: unknown target 'z'",
        ),
        (
            "  - {name: u, sli: availability, objective: 99}\n"
            "  - {name: u, sli: quality, objective: 99}\n",
            "t.yaml:9: slos[1].name: duplicate name 'u'",
        ),
    ],
    ids=[
        "latency-needs-threshold",
        "threshold-only-latency",
        "objective-100",
        "unknown-sli",
        "unknown-target",
        "duplicate",
    ],
)
def test_bad_slos_name_their_line(slos: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + slos, "t.yaml")
    assert info.value.messages[0].startswith(message), info.value.messages
