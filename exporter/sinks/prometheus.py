"""Prometheus: the metric contract of DESIGN.md, served by a custom collector.

Per-canary state lives in plain accumulators keyed by (target, canary), updated by
`record` and read by `collect` on the same event loop. `retain` drops the keys a reload
removed, so their series vanish from the next scrape. The exporter's own health metrics
live on the same private registry, never on the import-time global one.
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.samples import Exemplar

from exporter import __version__
from exporter.config import Metrics
from exporter.feedback import Feedback
from exporter.result import Outcome, ProbeResult

Key = tuple[str, str]
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0)
LABEL_LIMIT = 64
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


class Hist:
    """A cumulative histogram with fixed upper bounds (+Inf implied). Each bucket keeps
    the trace id of its latest traced observation as an exemplar."""

    __slots__ = ("bounds", "counts", "exemplars", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.exemplars: list[Exemplar | None] = [None] * (len(self.bounds) + 1)
        self.total = 0.0

    def observe(self, value: float, trace_id: str | None = None) -> None:
        index = bisect.bisect_left(self.bounds, value)
        self.counts[index] += 1
        self.total += value
        if trace_id is not None:
            self.exemplars[index] = Exemplar({"trace_id": trace_id}, value, time.time())

    def buckets(self) -> list[tuple[str, float] | tuple[str, float, Exemplar]]:
        out: list[tuple[str, float] | tuple[str, float, Exemplar]] = []
        running = 0
        bounds = (*self.bounds, float("inf"))
        for bound, count, exemplar in zip(bounds, self.counts, self.exemplars, strict=True):
            running += count
            out.append(
                (le_label(bound), running)
                if exemplar is None
                else (le_label(bound), running, exemplar)
            )
        return out


def le_label(bound: float) -> str:
    """A bucket bound as the `le` label shows it (`2.0`, `0.25`, `+Inf`)."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


OUTCOMES = tuple(str(o) for o in Outcome)


@dataclass
class Series:
    """Everything collected for one (target, canary)."""

    model: str
    buckets: Metrics
    # Every outcome from the first run on, at 0 until it happens: an SLO's bad/all ratio
    # needs its numerator to exist for a target that never failed.
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    errors: dict[str, int] = field(default_factory=dict)
    durations: dict[str, Hist] = field(default_factory=dict)
    ttft: Hist | None = None
    gaps: Hist | None = None
    tokens: dict[str, int] = field(default_factory=dict)
    responses: int = 0
    refusals: int = 0
    check_failures: dict[str, int] = field(default_factory=dict)
    success: float = 0.0
    last_run: float = 0.0
    identity: tuple[str, str] | None = None
    model_changes: int = 0
    fingerprint: str | None = None
    answer_changes: int = 0
    turn_durations: dict[str, Hist] = field(default_factory=dict)
    turn_ttfts: dict[str, Hist] = field(default_factory=dict)
    server: dict[str, Hist] = field(default_factory=dict)
    ratelimit: dict[str, float] = field(default_factory=dict)
    expected: str = "answer"

    def add(self, result: ProbeResult) -> None:
        _inc(self.outcomes, str(result.outcome))
        if result.error_class is not None:
            _inc(self.errors, str(result.error_class))
        _observe(
            self.durations,
            str(result.outcome),
            self.buckets.duration_buckets,
            result.duration_seconds,
            result.trace_id,
        )
        if result.ttft_seconds is not None:
            self.ttft = self.ttft or Hist(self.buckets.ttft_buckets)
            self.ttft.observe(result.ttft_seconds, result.trace_id)
        conversation = len(result.turns) > 1
        for number, turn in enumerate(result.turns, start=1):
            if turn.chunk_gaps:
                self.gaps = self.gaps or Hist(self.buckets.inter_token_buckets)
                for gap in turn.chunk_gaps:
                    self.gaps.observe(gap)
            if turn.response_model is not None or turn.system_fingerprint is not None:
                self._identify(label(turn.response_model), label(turn.system_fingerprint))
            if conversation and turn.error_class is None:
                _observe(
                    self.turn_durations,
                    str(number),
                    self.buckets.duration_buckets,
                    turn.duration_seconds,
                )
                if turn.ttft_seconds is not None:
                    _observe(
                        self.turn_ttfts, str(number), self.buckets.ttft_buckets, turn.ttft_seconds
                    )
            for phase, seconds in turn.server_timings.items():
                _observe(self.server, phase, self.buckets.duration_buckets, seconds)
            for kind in ("requests", "tokens"):
                ratio = turn.ratelimit.remaining_ratio(kind)
                if ratio is not None:
                    self.ratelimit[kind] = ratio
        for kind, count in (("input", result.input_tokens), ("output", result.output_tokens)):
            if count:
                _inc(self.tokens, kind, count)
        expected = "refuse" if result.expect_refusal else "answer"
        if expected != self.expected:  # the canary's expectation changed on reload
            self.expected, self.responses, self.refusals = expected, 0, 0
        if result.refused is not None:
            self.responses += 1
            self.refusals += int(result.refused)
        for name in result.failed_checks:
            _inc(self.check_failures, name)
        if result.answer_fingerprint is not None:
            if self.fingerprint is not None and result.answer_fingerprint != self.fingerprint:
                self.answer_changes += 1
            self.fingerprint = result.answer_fingerprint
        self.success = 1.0 if result.outcome is Outcome.SUCCESS else 0.0
        self.last_run = result.started_at + result.duration_seconds

    def _identify(self, model: str, fingerprint: str) -> None:
        if self.identity is not None and self.identity != (model, fingerprint):
            self.model_changes += 1
        self.identity = (model, fingerprint)


def _observe(
    hists: dict[str, Hist],
    key: str,
    bounds: Sequence[float],
    value: float,
    trace_id: str | None = None,
) -> None:
    hist = hists.get(key)
    if hist is None:
        hist = hists[key] = Hist(bounds)
    hist.observe(value, trace_id)


def _inc(counts: dict[str, int], key: str, by: int = 1) -> None:
    counts[key] = counts.get(key, 0) + by


def label(value: str | None) -> str:
    """A response value made safe as a label: printable, bounded."""
    if not value:
        return ""
    return _UNPRINTABLE.sub("_", value.strip())[:LABEL_LIMIT]


class PrometheusSink:
    """The probe metrics. A `Sink` and a prometheus-client `Collector` in one."""

    def __init__(self, buckets: Metrics) -> None:
        self._buckets = buckets
        self._series: dict[Key, Series] = {}
        # (target, rating, category): bounded by the targets and the configured categories
        self._feedback: dict[tuple[str, str, str], int] = {}

    def record_feedback(self, feedback: Feedback) -> None:
        key = (feedback.target, str(feedback.rating), feedback.category)
        self._feedback[key] = self._feedback.get(key, 0) + 1

    def record(self, result: ProbeResult) -> None:
        key = (result.target, result.canary)
        series = self._series.get(key)
        if series is None or series.model != result.model:
            series = self._series[key] = Series(model=result.model, buckets=self._buckets)
        series.add(result)

    def retain(self, keys: Iterable[Key], buckets: Metrics) -> None:
        """Forget canaries no longer configured; new bucket bounds start fresh series."""
        wanted = set(keys)
        if buckets != self._buckets:
            self._buckets = buckets
            self._series.clear()
        for key in set(self._series) - wanted:
            del self._series[key]
        targets = {target for target, _ in wanted}
        for labels in [k for k in self._feedback if k[0] not in targets]:
            del self._feedback[labels]

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterator[Metric]:
        # Any: the table mixes family types; each key is used as its own type wants
        f: dict[str, Any] = {
            key: cls(name, doc, labels=labels) for key, (cls, name, doc, labels) in FAMILIES.items()
        }
        for (target, canary), s in self._series.items():
            lv = [target, s.model, canary]
            for outcome, count in s.outcomes.items():
                f["probes"].add_metric([*lv, outcome], count)
            for error_class, count in s.errors.items():
                f["errors"].add_metric([*lv, error_class], count)
            for outcome, hist in s.durations.items():
                f["duration"].add_metric([*lv, outcome], hist.buckets(), hist.total)
            if s.ttft is not None:
                f["ttft"].add_metric(lv, s.ttft.buckets(), s.ttft.total)
            if s.gaps is not None:
                f["gaps"].add_metric(lv, s.gaps.buckets(), s.gaps.total)
            for kind, count in s.tokens.items():
                f["tokens"].add_metric([*lv, kind], count)
            if s.responses:
                f["responses"].add_metric([*lv, s.expected], s.responses)
                f["refusals"].add_metric([*lv, s.expected], s.refusals)
            for name, count in s.check_failures.items():
                f["checks"].add_metric([*lv, name], count)
            f["success"].add_metric(lv, s.success)
            f["last_run"].add_metric(lv, s.last_run)
            if s.identity is not None:
                f["info"].add_metric([*lv, *s.identity], 1)
                f["model_changes"].add_metric(lv, s.model_changes)
            if s.fingerprint is not None:
                f["answer_changes"].add_metric(lv, s.answer_changes)
            for families, hists in (
                ("turn_duration", s.turn_durations),
                ("turn_ttft", s.turn_ttfts),
                ("server", s.server),
            ):
                for key, hist in hists.items():
                    f[families].add_metric([*lv, key], hist.buckets(), hist.total)
            for kind, ratio in s.ratelimit.items():
                f["headroom"].add_metric([*lv, kind], ratio)
        for labels, count in self._feedback.items():
            f["feedback"].add_metric(list(labels), count)
        yield from f.values()


_BASE = ("target", "model", "canary")
Family = type[CounterMetricFamily] | type[GaugeMetricFamily] | type[HistogramMetricFamily]

# The metric contract of DESIGN.md: key -> (type, name, help, labels).
FAMILIES: dict[str, tuple[Family, str, str, tuple[str, ...]]] = {
    "probes": (
        CounterMetricFamily,
        "chatcanary_probes",
        "Finished canary runs by outcome.",
        (*_BASE, "outcome"),
    ),
    "errors": (
        CounterMetricFamily,
        "chatcanary_probe_errors",
        "Canary runs that errored, by error class.",
        (*_BASE, "error_class"),
    ),
    "duration": (
        HistogramMetricFamily,
        "chatcanary_request_duration_seconds",
        "Time from request start to the last byte of the answer.",
        (*_BASE, "outcome"),
    ),
    "ttft": (
        HistogramMetricFamily,
        "chatcanary_time_to_first_token_seconds",
        "Time from request start to the first chunk with content.",
        _BASE,
    ),
    "gaps": (
        HistogramMetricFamily,
        "chatcanary_inter_token_latency_seconds",
        "Gaps between content chunks after the first one.",
        _BASE,
    ),
    "tokens": (
        CounterMetricFamily,
        "chatcanary_tokens",
        "Tokens as reported by the server, or counted from chunks.",
        (*_BASE, "type"),
    ),
    "refusals": (
        CounterMetricFamily,
        "chatcanary_refusals",
        "Answers judged to be refusals.",
        (*_BASE, "expected"),
    ),
    "responses": (
        CounterMetricFamily,
        "chatcanary_responses",
        "Answers judged for refusal at all.",
        (*_BASE, "expected"),
    ),
    "checks": (
        CounterMetricFamily,
        "chatcanary_check_failures",
        "Failed answer checks, by check name.",
        (*_BASE, "check"),
    ),
    "success": (
        GaugeMetricFamily,
        "chatcanary_probe_success",
        "Whether the last run succeeded (1) or not (0).",
        _BASE,
    ),
    "last_run": (
        GaugeMetricFamily,
        "chatcanary_last_run_timestamp_seconds",
        "Unix time at which the last run finished.",
        _BASE,
    ),
    "info": (
        GaugeMetricFamily,
        "chatcanary_model_info",
        "Model identity the endpoint reported in its last answer.",
        (*_BASE, "response_model", "system_fingerprint"),
    ),
    "headroom": (
        GaugeMetricFamily,
        "chatcanary_ratelimit_remaining_ratio",
        "Remaining share of the rate limit, from the last response's headers.",
        (*_BASE, "kind"),
    ),
    "model_changes": (
        CounterMetricFamily,
        "chatcanary_model_changes",
        "Changes of the model identity (response model or system fingerprint).",
        _BASE,
    ),
    "answer_changes": (
        CounterMetricFamily,
        "chatcanary_answer_changes",
        "Changes of a deterministic canary's normalised answer.",
        _BASE,
    ),
    "turn_duration": (
        HistogramMetricFamily,
        "chatcanary_turn_duration_seconds",
        "Duration of each turn of a multi-turn canary.",
        (*_BASE, "turn"),
    ),
    "turn_ttft": (
        HistogramMetricFamily,
        "chatcanary_turn_time_to_first_token_seconds",
        "Time to first token of each turn of a multi-turn canary.",
        (*_BASE, "turn"),
    ),
    "server": (
        HistogramMetricFamily,
        "chatcanary_server_duration_seconds",
        "Time the server reports it spent, by phase (Ollama: load, prompt_eval, eval).",
        (*_BASE, "phase"),
    ),
    "feedback": (
        CounterMetricFamily,
        "chatcanary_feedback",
        "User feedback received, by rating and configured category (none if not given).",
        ("target", "rating", "category"),
    ),
}


class SelfMetrics:
    """The exporter's own health, on the private registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.reload_ok = Gauge(
            "chatcanary_config_last_reload_successful",
            "Whether the last configuration reload succeeded.",
            registry=registry,
        )
        self.reload_time = Gauge(
            "chatcanary_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration reload.",
            registry=registry,
        )
        self.lag = Histogram(
            "chatcanary_scheduler_lag_seconds",
            "How late canary runs start after their scheduled time.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "chatcanary_runs_in_flight", "Canary runs in progress.", registry=registry
        )
        self.canaries = Gauge(
            "chatcanary_canaries_configured",
            "Scheduled (target, canary) pairs.",
            registry=registry,
        )
        self.otel_failures = Counter(
            "chatcanary_otel_export_failures",
            "Spans or metric batches dropped because the OTLP export failed.",
            ["signal"],
            registry=registry,
        )
        for signal in ("traces", "metrics"):  # present at 0 from the start
            self.otel_failures.labels(signal)
        self.sink_failures = Counter(
            "chatcanary_sink_failures",
            "Results a sink failed to record (the other sinks and probing go on).",
            ["sink"],
            registry=registry,
        )
        build = Gauge(
            "chatcanary_build_info",
            "chatcanary's version.",
            ["version"],
            registry=registry,
        )
        build.labels(__version__).set(1)


def make_registry(sink: PrometheusSink) -> tuple[CollectorRegistry, SelfMetrics]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(sink)
    ProcessCollector(registry=registry)
    return registry, SelfMetrics(registry)
