"""The Prometheus sink: exporter/sinks/prometheus.py, fed `ProbeResult`s built by hand."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from exporter.config import Metrics
from exporter.errors import ErrorClass
from exporter.feedback import NO_CATEGORY, Feedback, Rating
from exporter.result import CheckVerdict, Exchange, Outcome, ProbeResult, RateLimit, Verdict
from exporter.sinks.prometheus import (
    LABEL_LIMIT,
    PrometheusSink,
    exposition,
    label,
    make_registry,
)

REFUSED = Verdict(refused=True, detector="decline", reason="i can't")
ANSWERED = Verdict(refused=False, detector="none", reason="")
BASE = {"target": "t", "model": "m", "canary": "c"}


def result(**fields: Any) -> ProbeResult:
    values: dict[str, Any] = {
        "run_id": "r1",
        "target": "t",
        "canary": "c",
        "model": "m",
        "started_at": 1000.0,
        "outcome": Outcome.SUCCESS,
        "duration_seconds": 1.0,
    }
    values.update(fields)
    return ProbeResult(**values)


def sink_of(*results: ProbeResult, buckets: Metrics | None = None) -> PrometheusSink:
    sink = PrometheusSink(Metrics() if buckets is None else buckets)
    for r in results:
        sink.record(r)
    return sink


def samples(sink: PrometheusSink, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample called `name` (with its suffix: `_total`, `_bucket`, ...)."""
    return [(s.labels, s.value) for m in sink.collect() for s in m.samples if s.name == name]


def value(sink: PrometheusSink, name: str, **labels: str) -> float | None:
    """The one sample `name` whose labels include `labels`; None when there is none."""
    found = [v for ls, v in samples(sink, name) if labels.items() <= ls.items()]
    assert len(found) <= 1, f"{name}{labels} matches {len(found)} samples"
    return found[0] if found else None


def buckets(sink: PrometheusSink, family: str, **labels: str) -> list[tuple[str, float]]:
    return [
        (ls["le"], v) for ls, v in samples(sink, f"{family}_bucket") if labels.items() <= ls.items()
    ]


def turn(**fields: Any) -> Exchange:
    return Exchange(status=200, text="ok", **fields)


# --- counters ----------------------------------------------------------------------------


def test_probes_by_outcome_and_errors_by_class() -> None:
    sink = sink_of(
        result(outcome=Outcome.SUCCESS),
        result(outcome=Outcome.SUCCESS),
        result(outcome=Outcome.CHECK_FAILED),
        result(outcome=Outcome.ERROR, error_class=ErrorClass.TIMEOUT),
        result(outcome=Outcome.ERROR, error_class=ErrorClass.TIMEOUT),
        result(outcome=Outcome.ERROR, error_class=ErrorClass.HTTP_5XX),
    )
    assert {ls["outcome"]: v for ls, v in samples(sink, "chatcanary_probes_total")} == {
        "success": 2,
        "check_failed": 1,
        "error": 3,
    }
    assert {ls["error_class"]: v for ls, v in samples(sink, "chatcanary_probe_errors_total")} == {
        "timeout": 2,
        "http_5xx": 1,
    }
    for ls, _ in samples(sink, "chatcanary_probes_total"):
        assert {k: ls[k] for k in BASE} == BASE


def test_every_outcome_is_exported_from_the_first_run() -> None:
    """Regression: a target that never failed had no `outcome="error"` series, so the SLO
    rules' bad/all ratio had no numerator and no value at all."""
    sink = sink_of(result(outcome=Outcome.SUCCESS))
    assert {ls["outcome"]: v for ls, v in samples(sink, "chatcanary_probes_total")} == {
        "success": 1,
        "check_failed": 0,
        "error": 0,
    }


def test_no_error_series_without_errors() -> None:
    sink = sink_of(result(), result(outcome=Outcome.CHECK_FAILED))
    assert samples(sink, "chatcanary_probe_errors_total") == []


def test_keys_are_kept_apart() -> None:
    sink = sink_of(result(canary="a"), result(canary="b"), result(canary="b", target="u"))
    assert value(sink, "chatcanary_probes_total", outcome="success", target="t", canary="a") == 1
    assert value(sink, "chatcanary_probes_total", outcome="success", target="t", canary="b") == 1
    assert value(sink, "chatcanary_probes_total", outcome="success", target="u", canary="b") == 1


# --- histograms --------------------------------------------------------------------------


def test_duration_histogram_is_cumulative_with_inclusive_bounds() -> None:
    durations = (0.5, 1.0, 1.5, 7.0)
    sink = sink_of(
        *(result(duration_seconds=d) for d in durations),
        buckets=Metrics(duration_buckets=(1, 2, 5)),
    )
    family = "chatcanary_request_duration_seconds"
    assert buckets(sink, family, outcome="success") == [
        ("1.0", 2),  # 0.5 and 1.0: a value on a bound falls in that bucket
        ("2.0", 3),
        ("5.0", 3),
        ("+Inf", 4),
    ]
    assert value(sink, f"{family}_count", outcome="success") == 4
    assert value(sink, f"{family}_sum", outcome="success") == pytest.approx(10.0)


def test_duration_histogram_per_outcome() -> None:
    sink = sink_of(
        result(duration_seconds=0.2),
        result(outcome=Outcome.ERROR, error_class=ErrorClass.DNS, duration_seconds=0.01),
    )
    family = "chatcanary_request_duration_seconds"
    assert value(sink, f"{family}_count", outcome="success") == 1
    assert value(sink, f"{family}_count", outcome="error") == 1
    assert value(sink, f"{family}_sum", outcome="error") == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("configured", "le"),
    [
        ((0.25, 1, 10), ["0.25", "1.0", "10.0", "+Inf"]),
        ((10, 1, 0.25, 1), ["0.25", "1.0", "10.0", "+Inf"]),
        ((3,), ["3.0", "+Inf"]),
    ],
    ids=["sorted", "unsorted-with-duplicate", "single"],
)
def test_custom_bucket_bounds(configured: tuple[float, ...], le: list[str]) -> None:
    sink = sink_of(result(duration_seconds=0.5), buckets=Metrics(duration_buckets=configured))
    assert [b for b, _ in buckets(sink, "chatcanary_request_duration_seconds")] == le


def test_default_duration_bounds() -> None:
    sink = sink_of(result())
    assert [b for b, _ in buckets(sink, "chatcanary_request_duration_seconds")] == [
        *(repr(float(b)) for b in Metrics().duration_buckets),
        "+Inf",
    ]


def test_ttft_only_when_present() -> None:
    family = "chatcanary_time_to_first_token_seconds"
    sink = sink_of(result(turns=(turn(ttft_seconds=None),)))
    sink.record(result(outcome=Outcome.ERROR, error_class=ErrorClass.DNS))
    assert samples(sink, f"{family}_count") == []
    sink.record(result(turns=(turn(ttft_seconds=0.3),)))
    assert value(sink, f"{family}_count") == 1
    assert value(sink, f"{family}_sum") == pytest.approx(0.3)
    assert dict(buckets(sink, family))["0.25"] == 0
    assert dict(buckets(sink, family))["0.5"] == 1


def test_ttft_is_the_first_turns() -> None:
    sink = sink_of(result(turns=(turn(ttft_seconds=0.1), turn(ttft_seconds=4.0))))
    assert value(sink, "chatcanary_time_to_first_token_seconds_sum") == pytest.approx(0.1)


def test_inter_token_gaps_from_every_turn() -> None:
    sink = sink_of(
        result(turns=(turn(chunk_gaps=(0.01, 0.02)), turn(chunk_gaps=(0.3,)))),
        buckets=Metrics(inter_token_buckets=(0.01, 0.025, 0.5)),
    )
    family = "chatcanary_inter_token_latency_seconds"
    assert buckets(sink, family) == [("0.01", 1), ("0.025", 2), ("0.5", 3), ("+Inf", 3)]
    assert value(sink, f"{family}_count") == 3
    assert value(sink, f"{family}_sum") == pytest.approx(0.33)


def test_no_gap_series_without_gaps() -> None:
    sink = sink_of(result(turns=(turn(),)))
    assert samples(sink, "chatcanary_inter_token_latency_seconds_count") == []


# --- tokens, refusals, checks ------------------------------------------------------------


def test_tokens_by_type() -> None:
    sink = sink_of(
        result(turns=(turn(input_tokens=10, output_tokens=5), turn(input_tokens=20))),
        result(turns=(turn(input_tokens=7, output_tokens=3),)),
    )
    assert {ls["type"]: v for ls, v in samples(sink, "chatcanary_tokens_total")} == {
        "input": 37,
        "output": 8,
    }


def test_no_token_series_without_counts() -> None:
    sink = sink_of(result(turns=(turn(),)), result(turns=(turn(output_tokens=0),)))
    assert samples(sink, "chatcanary_tokens_total") == []


def test_responses_and_refusals_by_expectation() -> None:
    sink = sink_of(
        result(expect_refusal=False, refusal=ANSWERED),
        result(expect_refusal=False, refusal=REFUSED),
        result(expect_refusal=False, refusal=ANSWERED),
        result(expect_refusal=False, outcome=Outcome.ERROR, error_class=ErrorClass.DNS),
    )
    assert samples(sink, "chatcanary_responses_total") == [({**BASE, "expected": "answer"}, 3)]
    assert samples(sink, "chatcanary_refusals_total") == [({**BASE, "expected": "answer"}, 1)]


def test_a_canary_without_an_expectation_counts_under_unspecified() -> None:
    # measured, so the refusal rate of such canaries is visible; never `answer`, so refusal
    # SLOs and the over-refusal alert do not see a heuristic's verdict they did not ask for
    sink = sink_of(result(refusal=REFUSED), result(refusal=ANSWERED))
    unspecified = {**BASE, "expected": "unspecified"}
    assert samples(sink, "chatcanary_responses_total") == [(unspecified, 2)]
    assert samples(sink, "chatcanary_refusals_total") == [(unspecified, 1)]


def test_refusals_are_exported_as_zero_once_there_are_responses() -> None:
    sink = sink_of(result(expect_refusal=False, refusal=ANSWERED))
    assert value(sink, "chatcanary_refusals_total", expected="answer") == 0
    assert samples(sink_of(result()), "chatcanary_responses_total") == []


def test_responses_and_refusals_reset_when_the_expectation_flips() -> None:
    sink = sink_of(
        result(expect_refusal=False, refusal=ANSWERED),
        result(expect_refusal=False, refusal=REFUSED),
    )
    sink.record(result(expect_refusal=True, refusal=REFUSED))
    assert samples(sink, "chatcanary_responses_total") == [({**BASE, "expected": "refuse"}, 1)]
    assert samples(sink, "chatcanary_refusals_total") == [({**BASE, "expected": "refuse"}, 1)]
    sink.record(result(expect_refusal=False, refusal=ANSWERED))
    assert samples(sink, "chatcanary_responses_total") == [({**BASE, "expected": "answer"}, 1)]
    assert samples(sink, "chatcanary_refusals_total") == [({**BASE, "expected": "answer"}, 0)]


def test_check_failures_by_name() -> None:
    sink = sink_of(
        result(
            outcome=Outcome.CHECK_FAILED,
            checks=(
                CheckVerdict("contains", False, "x"),
                CheckVerdict("max_ttft", True, "x"),
                CheckVerdict("refusal", False, "x"),
            ),
        ),
        result(outcome=Outcome.CHECK_FAILED, checks=(CheckVerdict("contains", False, "x"),)),
        result(checks=(CheckVerdict("contains", True, "x"),)),
    )
    assert {ls["check"]: v for ls, v in samples(sink, "chatcanary_check_failures_total")} == {
        "contains": 2,
        "refusal": 1,
    }


def test_check_errors_count_checks_that_raised_among_the_failures() -> None:
    crashed = CheckVerdict("json", False, "internal error: RecursionError: ...", status="internal")
    sink = sink_of(
        result(outcome=Outcome.CHECK_FAILED, checks=(crashed,)),
        result(outcome=Outcome.CHECK_FAILED, checks=(CheckVerdict("json", False, "not JSON"),)),
    )
    assert samples(sink, "chatcanary_check_errors_total") == [
        ({"target": "t", "model": "m", "canary": "c", "check": "json"}, 1)
    ]
    assert value(sink, "chatcanary_check_failures_total", check="json") == 2


# --- gauges ------------------------------------------------------------------------------


def test_probe_success_and_last_run() -> None:
    sink = sink_of(result(started_at=1000.0, duration_seconds=2.5))
    assert value(sink, "chatcanary_probe_success") == 1
    assert value(sink, "chatcanary_last_run_timestamp_seconds") == 1002.5
    sink.record(result(outcome=Outcome.CHECK_FAILED, started_at=1060.0, duration_seconds=1.0))
    assert value(sink, "chatcanary_probe_success") == 0
    assert value(sink, "chatcanary_last_run_timestamp_seconds") == 1061.0
    sink.record(result(outcome=Outcome.ERROR, error_class=ErrorClass.DNS, started_at=1120.0))
    assert value(sink, "chatcanary_probe_success") == 0
    sink.record(result(started_at=1180.0))
    assert value(sink, "chatcanary_probe_success") == 1


def test_ratelimit_remaining_ratio() -> None:
    limits = RateLimit(
        limit_requests=100, remaining_requests=25, limit_tokens=1000, remaining_tokens=1000
    )
    sink = sink_of(result(turns=(turn(ratelimit=limits),)))
    assert {ls["kind"]: v for ls, v in samples(sink, "chatcanary_ratelimit_remaining_ratio")} == {
        "requests": 0.25,
        "tokens": 1.0,
    }
    sink.record(
        result(turns=(turn(ratelimit=RateLimit(limit_requests=100, remaining_requests=5)),))
    )
    assert value(sink, "chatcanary_ratelimit_remaining_ratio", kind="requests") == 0.05


def test_no_ratelimit_series_without_headers() -> None:
    sink = sink_of(result(turns=(turn(ratelimit=RateLimit(limit_requests=100)),)))
    assert samples(sink, "chatcanary_ratelimit_remaining_ratio") == []


# --- identity and answer changes ---------------------------------------------------------


def identity(sink: PrometheusSink) -> list[tuple[str, str]]:
    """Every model_info series (all of them, to see that old ones are gone)."""
    found = samples(sink, "chatcanary_model_info")
    assert all(v == 1 for _, v in found)
    return [(ls["response_model"], ls["system_fingerprint"]) for ls, _ in found]


def test_model_info_is_replaced_and_changes_are_counted() -> None:
    def seen(model: str | None, fp: str | None) -> ProbeResult:
        return result(turns=(turn(response_model=model, system_fingerprint=fp),))

    sink = sink_of()
    assert samples(sink, "chatcanary_model_info") == []
    assert samples(sink, "chatcanary_model_changes_total") == []

    sink.record(seen("gpt-4o-2024-08-06", "fp_1"))
    assert identity(sink) == [("gpt-4o-2024-08-06", "fp_1")]
    assert value(sink, "chatcanary_model_changes_total") == 0  # first sight is no change

    sink.record(seen("gpt-4o-2024-08-06", "fp_1"))
    assert value(sink, "chatcanary_model_changes_total") == 0

    sink.record(seen("gpt-4o-2024-08-06", "fp_2"))
    assert identity(sink) == [("gpt-4o-2024-08-06", "fp_2")]
    assert value(sink, "chatcanary_model_changes_total") == 1

    sink.record(seen("gpt-4o-2024-11-20", "fp_2"))
    assert identity(sink) == [("gpt-4o-2024-11-20", "fp_2")]
    assert value(sink, "chatcanary_model_changes_total") == 2

    sink.record(seen("gpt-4o-2024-11-20", None))
    assert identity(sink) == [("gpt-4o-2024-11-20", "")]
    assert value(sink, "chatcanary_model_changes_total") == 3


def test_a_result_without_identity_keeps_the_last_one() -> None:
    sink = sink_of(result(turns=(turn(response_model="llama3", system_fingerprint="fp"),)))
    sink.record(result(outcome=Outcome.ERROR, error_class=ErrorClass.DNS))
    sink.record(result(turns=(turn(),)))
    assert identity(sink) == [("llama3", "fp")]
    assert value(sink, "chatcanary_model_changes_total") == 0


def test_answer_changes() -> None:
    sink = sink_of(result())
    assert samples(sink, "chatcanary_answer_changes_total") == []
    for fp in ("aaaa", "aaaa", "bbbb", None, "bbbb", "aaaa"):
        sink.record(result(answer_fingerprint=fp))
    assert value(sink, "chatcanary_answer_changes_total") == 2


def test_answer_changes_first_fingerprint_is_zero() -> None:
    sink = sink_of(result(answer_fingerprint="aaaa"))
    assert value(sink, "chatcanary_answer_changes_total") == 0


def test_a_new_model_for_the_same_key_starts_fresh_series() -> None:
    sink = sink_of(
        result(model="old", refusal=ANSWERED, answer_fingerprint="a"),
        result(model="old", refusal=ANSWERED, answer_fingerprint="b"),
    )
    sink.record(result(model="new", refusal=ANSWERED, answer_fingerprint="c"))
    for name in (
        "chatcanary_probes_total",
        "chatcanary_responses_total",
        "chatcanary_answer_changes_total",
        "chatcanary_request_duration_seconds_count",
    ):
        assert {ls["model"] for ls, _ in samples(sink, name)} == {"new"}, name
    assert value(sink, "chatcanary_probes_total", outcome="success") == 1
    assert value(sink, "chatcanary_responses_total") == 1
    assert value(sink, "chatcanary_answer_changes_total") == 0


# --- per-turn and server histograms ------------------------------------------------------


def test_per_turn_histograms_only_for_conversations() -> None:
    sink = sink_of(result(turns=(turn(duration_seconds=0.4, ttft_seconds=0.1),)))
    assert samples(sink, "chatcanary_turn_duration_seconds_count") == []
    assert samples(sink, "chatcanary_turn_time_to_first_token_seconds_count") == []


def test_per_turn_histograms() -> None:
    sink = sink_of(
        result(
            turns=(
                turn(duration_seconds=0.4, ttft_seconds=0.1),
                turn(duration_seconds=0.7, ttft_seconds=None),
                turn(duration_seconds=3.0, error_class=ErrorClass.TIMEOUT),
            )
        )
    )
    assert {ls["turn"]: v for ls, v in samples(sink, "chatcanary_turn_duration_seconds_sum")} == {
        "1": pytest.approx(0.4),
        "2": pytest.approx(0.7),
    }
    assert {
        ls["turn"]: v for ls, v in samples(sink, "chatcanary_turn_time_to_first_token_seconds_sum")
    } == {"1": pytest.approx(0.1)}


def test_server_phase_histograms() -> None:
    timings = {"load": 2.0, "prompt_eval": 0.05, "eval": 1.2}
    sink = sink_of(
        result(turns=(turn(server_timings=timings),)),
        result(turns=(turn(server_timings={"eval": 0.8}),)),
        buckets=Metrics(duration_buckets=(0.1, 1, 5)),
    )
    family = "chatcanary_server_duration_seconds"
    assert {ls["phase"]: v for ls, v in samples(sink, f"{family}_count")} == {
        "load": 1,
        "prompt_eval": 1,
        "eval": 2,
    }
    assert value(sink, f"{family}_sum", phase="eval") == pytest.approx(2.0)
    assert buckets(sink, family, phase="eval") == [
        ("0.1", 0),
        ("1.0", 1),
        ("5.0", 2),
        ("+Inf", 2),
    ]


def test_no_server_series_without_timings() -> None:
    assert (
        samples(sink_of(result(turns=(turn(),))), "chatcanary_server_duration_seconds_count") == []
    )


# --- retain ------------------------------------------------------------------------------


def test_retain_drops_removed_keys() -> None:
    sink = sink_of(result(canary="kept"), result(canary="gone"))
    sink.retain({("t", "kept"): Metrics(), ("t", "not-run-yet"): Metrics()})
    assert {ls["canary"] for ls, _ in samples(sink, "chatcanary_probes_total")} == {"kept"}
    assert value(sink, "chatcanary_probes_total", outcome="success", canary="kept") == 1


def test_each_canary_has_the_bounds_retain_gave_it() -> None:
    sink = sink_of()
    sink.retain(
        {("t", "fast"): Metrics(duration_buckets=(0.5, 1)), ("t", "slow"): Metrics()},
    )
    sink.record(result(canary="fast", duration_seconds=0.7))
    sink.record(result(canary="slow", duration_seconds=0.7))
    family = "chatcanary_request_duration_seconds"
    assert buckets(sink, family, canary="fast") == [("0.5", 0), ("1.0", 1), ("+Inf", 1)]
    assert len(buckets(sink, family, canary="slow")) == len(Metrics().duration_buckets) + 1


def everything(canary: str) -> ProbeResult:
    """A run that feeds every histogram and counter of its canary."""
    return result(
        canary=canary,
        duration_seconds=1.5,
        turns=(
            turn(ttft_seconds=0.3, chunk_gaps=(0.02,), output_tokens=4, duration_seconds=1.0),
            turn(ttft_seconds=0.4, duration_seconds=0.5, server_timings={"eval": 0.2}),
        ),
        checks=(CheckVerdict("contains", False, "no"),),
        outcome=Outcome.CHECK_FAILED,
    )


def test_new_bounds_restart_only_the_histograms_on_them() -> None:
    """Regression: any change of bounds on reload cleared every series, counters included,
    of every canary; a threshold changed on one canary must leave the others alone, and
    its own counters and other histograms too."""
    before = Metrics(duration_buckets=(1, 2), ttft_buckets=(0.5,), inter_token_buckets=(0.1,))
    sink = sink_of(buckets=before)
    sink.retain({("t", "changed"): before, ("t", "other"): before})
    sink.record(everything("changed"))
    sink.record(everything("other"))
    untouched = sink.render(openmetrics=False)

    sink.retain({("t", "changed"): before, ("t", "other"): before})
    assert sink.render(openmetrics=False) == untouched, "the same bounds change nothing"

    after = Metrics(duration_buckets=(1, 3), ttft_buckets=(0.5,), inter_token_buckets=(0.1,))
    sink.retain({("t", "changed"): after, ("t", "other"): before})
    text = sink.render(openmetrics=False)
    assert [line for line in text.splitlines() if 'canary="other"' in line] == [
        line for line in untouched.splitlines() if 'canary="other"' in line
    ]
    assert value(sink, "chatcanary_probes_total", canary="changed", outcome="check_failed") == 1
    assert value(sink, "chatcanary_tokens_total", canary="changed", type="output") == 4
    assert value(sink, "chatcanary_check_failures_total", canary="changed") == 1
    assert value(sink, "chatcanary_time_to_first_token_seconds_count", canary="changed") == 1
    assert value(sink, "chatcanary_inter_token_latency_seconds_count", canary="changed") == 1
    for family in (
        "chatcanary_request_duration_seconds",
        "chatcanary_turn_duration_seconds",
        "chatcanary_server_duration_seconds",
    ):
        assert value(sink, f"{family}_count", canary="changed") is None, family

    sink.record(everything("changed"))
    assert buckets(sink, "chatcanary_request_duration_seconds", canary="changed") == [
        ("1.0", 0),
        ("3.0", 1),
        ("+Inf", 1),
    ]
    assert value(sink, "chatcanary_probes_total", canary="changed", outcome="check_failed") == 2


# --- labels ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ""),
        ("", ""),
        ("gpt-4o-2024-08-06", "gpt-4o-2024-08-06"),
        ("  llama3:8b \n", "llama3:8b"),
        ("a\nb\tc", "a_b_c"),
        ("nul\x00del\x7f", "nul_del_"),
        ("modèle", "mod_le"),
        ("x" * 100, "x" * LABEL_LIMIT),
        ("\n" * 100, ""),
        ("é" * 100, "_" * LABEL_LIMIT),
    ],
    ids=[
        "none",
        "empty",
        "plain",
        "stripped",
        "control-chars",
        "nul-and-del",
        "non-ascii",
        "capped",
        "only-space",
        "replaced-then-capped",
    ],
)
def test_label(raw: str | None, expected: str) -> None:
    assert label(raw) == expected
    assert len(label(raw)) <= 64


def test_identity_labels_are_normalised() -> None:
    sink = sink_of(result(turns=(turn(response_model="bad\nmodel", system_fingerprint="f" * 80),)))
    assert identity(sink) == [("bad_model", "f" * 64)]


def test_a_server_that_changes_identity_every_answer_cannot_grow_the_series() -> None:
    """Cardinality is bounded by the config, not by what a server returns."""
    import random

    rng = random.Random(3)
    sink = sink_of(result(turns=(turn(response_model="m", system_fingerprint="f"),)))
    baseline = sum(len(list(m.samples)) for m in sink.collect())
    for _ in range(1000):
        model = "".join(rng.choice("abcdefg\n\x00é ") for _ in range(rng.randint(1, 300)))
        sink.record(result(turns=(turn(response_model=model, system_fingerprint=model[::-1]),)))
    (only,) = samples(sink, "chatcanary_model_info")
    assert all(len(v) <= LABEL_LIMIT for v in only[0].values())
    total = sum(len(list(m.samples)) for m in sink.collect())
    assert total == baseline, "as many series as after one answer, for 1,000 identities"


# --- feedback ----------------------------------------------------------------------------


def feedback(target: str, rating: Rating, category: str = NO_CATEGORY) -> Feedback:
    return Feedback(target, rating, category, "a comment", "conv-1", 0.0)


def test_feedback_by_target_rating_and_category() -> None:
    sink = sink_of()
    sink.record_feedback(feedback("t", Rating.NEGATIVE, "incorrect"))
    sink.record_feedback(feedback("t", Rating.NEGATIVE, "incorrect"))
    sink.record_feedback(feedback("u", Rating.POSITIVE))
    assert sorted(
        (labels["target"], labels["rating"], labels["category"], v)
        for labels, v in samples(sink, "chatcanary_feedback_total")
    ) == [("t", "negative", "incorrect", 2.0), ("u", "positive", "none", 1.0)]


def test_retain_drops_the_feedback_of_removed_targets() -> None:
    sink = sink_of()
    sink.record_feedback(feedback("t", Rating.POSITIVE))
    sink.record_feedback(feedback("gone", Rating.POSITIVE))
    sink.retain({("t", "c"): Metrics()})
    assert [labels["target"] for labels, _ in samples(sink, "chatcanary_feedback_total")] == ["t"]


def test_retain_keeps_the_feedback_of_every_name_given() -> None:
    # a proxy, or a target without canaries on this replica, may be named by feedback
    sink = sink_of()
    for name in ("t", "proxy", "idle-target", "gone"):
        sink.record_feedback(feedback(name, Rating.NEGATIVE, "slow"))
    sink.retain({("t", "c"): Metrics()}, {"t", "proxy", "idle-target"})
    kept = sorted(labels["target"] for labels, _ in samples(sink, "chatcanary_feedback_total"))
    assert kept == ["idle-target", "proxy", "t"]


# --- exposition --------------------------------------------------------------------------


def busy_sink() -> PrometheusSink:
    """A sink that has seen every kind of series, with bounds that differ by canary."""
    sink = sink_of()
    own = Metrics(duration_buckets=(0.75, 3), ttft_buckets=(0.35,))
    sink.retain({("t", "c"): Metrics(), ("t", "other"): own, ("t", "refuser"): Metrics()})
    for run in (
        result(
            turns=(
                turn(
                    ttft_seconds=0.2,
                    duration_seconds=0.5,
                    chunk_gaps=(0.01, 0.03),
                    input_tokens=12,
                    output_tokens=4,
                    response_model="gpt-4o\u2028x",
                    system_fingerprint='fp"1\\',
                    server_timings={"load": 0.1, "eval": 0.3},
                    ratelimit=RateLimit(10, 5, 1000, 900),
                ),
                turn(ttft_seconds=0.3, duration_seconds=0.6, output_tokens=5),
            ),
            checks=(CheckVerdict("contains_turn2", False, "no"),),
            outcome=Outcome.CHECK_FAILED,
            refusal=REFUSED,
            answer_fingerprint="abcd",
        ),
        result(outcome=Outcome.ERROR, error_class=ErrorClass.RATE_LIMITED, canary="other"),
        result(canary="other", turns=(turn(ttft_seconds=0.3),)),
        result(canary="refuser", expect_refusal=True, refusal=REFUSED),
    ):
        sink.record(run)
    sink.record_feedback(feedback("t", Rating.NEGATIVE, "incorrect"))
    return sink


def test_rendered_families_round_trip() -> None:
    registry, _ = make_registry(busy_sink())
    text = generate_latest(registry).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    expected_types = {
        "chatcanary_probes": "counter",
        "chatcanary_probe_errors": "counter",
        "chatcanary_request_duration_seconds": "histogram",
        "chatcanary_time_to_first_token_seconds": "histogram",
        "chatcanary_inter_token_latency_seconds": "histogram",
        "chatcanary_tokens": "counter",
        "chatcanary_responses": "counter",
        "chatcanary_refusals": "counter",
        "chatcanary_check_failures": "counter",
        "chatcanary_probe_success": "gauge",
        "chatcanary_last_run_timestamp_seconds": "gauge",
        "chatcanary_model_info": "gauge",
        "chatcanary_model_changes": "counter",
        "chatcanary_answer_changes": "counter",
        "chatcanary_turn_duration_seconds": "histogram",
        "chatcanary_turn_time_to_first_token_seconds": "histogram",
        "chatcanary_server_duration_seconds": "histogram",
        "chatcanary_ratelimit_remaining_ratio": "gauge",
        "chatcanary_feedback": "counter",
    }
    assert {name: families[name].type for name in expected_types} == expected_types
    info = families["chatcanary_model_info"].samples
    assert [(s.labels["response_model"], s.labels["system_fingerprint"]) for s in info] == [
        ("gpt-4o_x", 'fp"1\\')
    ]
    errors = families["chatcanary_probe_errors"].samples
    assert [(s.name, s.labels["error_class"], s.value) for s in errors] == [
        ("chatcanary_probe_errors_total", "rate_limited", 1.0)
    ]
    refusals = {
        (s.labels["canary"], s.labels["expected"]): s.value
        for s in families["chatcanary_refusals"].samples
    }
    assert refusals == {("c", "unspecified"): 1.0, ("refuser", "refuse"): 1.0}


def test_rendered_metrics_pass_promtool() -> None:
    promtool = shutil.which("promtool") or shutil.which("/usr/bin/promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: apt-get install prometheus (or put it on PATH)")
    registry, _ = make_registry(busy_sink())
    text = generate_latest(registry)
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, check=False, timeout=30
    )
    report = (checked.stdout + checked.stderr).decode()
    assert checked.returncode == 0, report
    assert report == "", report


# --- the fast rendering /metrics serves, and its cache ------------------------------------

OPENMETRICS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"


def traced_sink() -> PrometheusSink:
    """`busy_sink` plus exemplars, and a model name that needs escaping in a label."""
    sink = busy_sink()
    sink.record(result(canary="traced", trace_id="0af7651916cd43dd8448eb211c80319c"))
    sink.record(result(canary="odd", model='m"\\\n2', duration_seconds=2_000_000.5))
    return sink


def without_process(text: bytes) -> bytes:
    """The exposition less the process_* families, whose values move between two calls."""
    return b"\n".join(line for line in text.split(b"\n") if b"process_" not in line)


@pytest.mark.parametrize("accept", ["", "text/plain", OPENMETRICS])
def test_exposition_is_what_prometheus_client_renders(accept: str) -> None:
    registry, _ = make_registry(traced_sink())
    encoder, content_type = choose_encoder(accept)
    body, served_type = exposition(registry, accept)
    assert served_type == content_type
    assert without_process(body) == without_process(encoder(registry))


@pytest.mark.parametrize("openmetrics", [False, True])
def test_cached_rendering_follows_every_change(openmetrics: bool) -> None:
    sink = traced_sink()
    encode = generate_openmetrics if openmetrics else generate_latest

    def expected() -> str:
        return encode(sink).decode().removesuffix("# EOF\n")

    assert sink.render(openmetrics) == expected()
    sink.record(result(outcome=Outcome.ERROR, error_class=ErrorClass.TIMEOUT))  # a new result
    assert 'error_class="timeout"' in sink.render(openmetrics)
    assert sink.render(openmetrics) == expected()
    sink.record(result(canary="new"))  # a new canary
    assert sink.render(openmetrics) == expected()
    sink.record_feedback(feedback("t", Rating.POSITIVE))
    assert sink.render(openmetrics) == expected()
    sink.retain({("t", "c"): Metrics(), ("t", "new"): Metrics()})  # canaries removed
    assert 'canary="traced"' not in sink.render(openmetrics)
    assert sink.render(openmetrics) == expected()
    sink.retain({("t", "c"): Metrics(duration_buckets=(1.0, 3.0)), ("t", "new"): Metrics()})
    assert sink.render(openmetrics) == expected()
    sink.record(result(duration_seconds=2.0))
    assert 'le="3.0"' in sink.render(openmetrics)
    assert sink.render(openmetrics) == expected()
