"""Prometheus: the metric contract of DESIGN.md, served by a custom collector.

Per-canary state lives in plain accumulators keyed by (target, canary), updated by
`record` and read by `collect` on the same event loop. `retain` drops the keys a reload
removed, so their series vanish from the next scrape, and hands each kept key its bucket
bounds. The exporter's own health metrics live on the same private registry, never on the
import-time global one.
"""

from __future__ import annotations

import bisect
import functools
import re
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString as _go_float

from exporter import __version__
from exporter.config import Metrics, le_label
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

    def observe_all(self, values: Iterable[float]) -> None:
        """Each value, as `observe` without an exemplar would (a stream's gaps)."""
        bounds, counts, total = self.bounds, self.counts, self.total
        for value in values:
            counts[bisect.bisect_left(bounds, value)] += 1
            total += value
        self.total = total

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
    check_errors: dict[str, int] = field(default_factory=dict)
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
                self.gaps.observe_all(turn.chunk_gaps)
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
        expected = result.expected
        if expected != self.expected:  # the canary's expectation changed on reload
            self.expected, self.responses, self.refusals = expected, 0, 0
        if result.refused is not None:
            self.responses += 1
            self.refusals += int(result.refused)
        for name in result.failed_checks:
            _inc(self.check_failures, name)
        for check in result.checks:
            if check.internal:
                _inc(self.check_errors, check.name)
        if result.answer_fingerprint is not None:
            if self.fingerprint is not None and result.answer_fingerprint != self.fingerprint:
                self.answer_changes += 1
            self.fingerprint = result.answer_fingerprint
        self.success = 1.0 if result.outcome is Outcome.SUCCESS else 0.0
        self.last_run = result.started_at + result.duration_seconds

    def rebucket(self, buckets: Metrics) -> bool:
        """Take new bounds; whether they differ. A histogram whose bounds changed starts
        again, its counts being impossible to split into the new buckets; the counters and
        the other histograms go on."""
        old, self.buckets = self.buckets, buckets
        # each histogram on the bounds `add` makes it with
        if old.duration_buckets != buckets.duration_buckets:
            self.durations, self.turn_durations, self.server = {}, {}, {}
        if old.ttft_buckets != buckets.ttft_buckets:
            self.ttft, self.turn_ttfts = None, {}
        if old.inter_token_buckets != buckets.inter_token_buckets:
            self.gaps = None
        return old != buckets

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
        self._default = buckets  # for a key `retain` did not name
        self._buckets: dict[Key, Metrics] = {}
        self._series: dict[Key, Series] = {}
        # (target, rating, category): bounded by the targets and the configured categories
        self._feedback: dict[tuple[str, str, str], int] = {}
        # OpenMetrics or not -> each canary's rendered lines, one text per family
        self._rendered: dict[bool, dict[Key, list[str]]] = {False: {}, True: {}}

    def record_feedback(self, feedback: Feedback) -> None:
        key = (feedback.target, str(feedback.rating), feedback.category)
        self._feedback[key] = self._feedback.get(key, 0) + 1

    def record(self, result: ProbeResult) -> None:
        key = (result.target, result.canary)
        series = self._series.get(key)
        if series is None or series.model != result.model:
            bounds = self._buckets.get(key, self._default)
            series = self._series[key] = Series(model=result.model, buckets=bounds)
        series.add(result)
        for rendered in self._rendered.values():
            rendered.pop(key, None)

    def retain(self, buckets: Mapping[Key, Metrics], names: Collection[str] | None = None) -> None:
        """Keep the canaries of `buckets` only, each with its bucket bounds: a canary
        whose bounds changed restarts those histograms alone (see `Series.rebucket`).
        Feedback is kept for `names` (the targets and proxies feedback may name; by
        default the targets of `buckets`)."""
        self._buckets = dict(buckets)
        for key in set(self._series) - set(buckets):
            del self._series[key]
        changed = {key for key, s in self._series.items() if s.rebucket(buckets[key])}
        for rendered in self._rendered.values():
            for key in set(rendered) - (set(self._series) - changed):
                del rendered[key]
        kept = set(names) if names is not None else {target for target, _ in buckets}
        for labels in [k for k in self._feedback if k[0] not in kept]:
            del self._feedback[labels]

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterator[Metric]:
        # Any: the table mixes family types; each key is used as its own type wants
        f: dict[str, Any] = {
            key: cls(name, doc, labels=labels) for key, (cls, name, doc, labels) in FAMILIES.items()
        }
        for key, series in self._series.items():
            for family, labels, value in _points(key, series):
                if isinstance(value, Hist):
                    f[family].add_metric(labels, value.buckets(), value.total)
                else:
                    f[family].add_metric(labels, value)
        for rating, count in self._feedback.items():
            f["feedback"].add_metric(list(rating), count)
        yield from f.values()

    def render(self, openmetrics: bool) -> str:
        """The probe metrics in the text format (or OpenMetrics), exactly as
        prometheus_client renders `collect()`, several times faster. Each canary's lines
        are kept until its next result, so a scrape renders only the canaries that ran
        since the last one."""
        cache = self._rendered[openmetrics]
        parts: list[list[str]] = [[header] for header in _headers(openmetrics)]
        for key, series in self._series.items():
            lines = cache.get(key)
            if lines is None:
                lines = cache[key] = _render_series(key, series, openmetrics)
            for part, text in zip(parts, lines, strict=True):
                if text:
                    part.append(text)
        feedback = parts[_INDEX["feedback"]]
        for labels, count in self._feedback.items():
            feedback.append(_sample("feedback", [_escape(v) for v in labels], count))
        return "".join(text for part in parts for text in part)


Point = tuple[str, list[str], float | Hist]


def _points(key: Key, s: Series) -> Iterator[Point]:
    """Every sample group of one canary: (family key, label values, number or histogram)."""
    target, canary = key
    lv = [target, s.model, canary]
    for outcome, count in s.outcomes.items():
        yield "probes", [*lv, outcome], count
    for error_class, count in s.errors.items():
        yield "errors", [*lv, error_class], count
    for outcome, hist in s.durations.items():
        yield "duration", [*lv, outcome], hist
    if s.ttft is not None:
        yield "ttft", lv, s.ttft
    if s.gaps is not None:
        yield "gaps", lv, s.gaps
    for kind, count in s.tokens.items():
        yield "tokens", [*lv, kind], count
    if s.responses:
        yield "responses", [*lv, s.expected], s.responses
        yield "refusals", [*lv, s.expected], s.refusals
    for name, count in s.check_failures.items():
        yield "checks", [*lv, name], count
    for name, count in s.check_errors.items():
        yield "check_errors", [*lv, name], count
    yield "success", lv, s.success
    yield "last_run", lv, s.last_run
    if s.identity is not None:
        yield "info", [*lv, *s.identity], 1
        yield "model_changes", lv, s.model_changes
    if s.fingerprint is not None:
        yield "answer_changes", lv, s.answer_changes
    for family, hists in (
        ("turn_duration", s.turn_durations),
        ("turn_ttft", s.turn_ttfts),
        ("server", s.server),
    ):
        for label_value, hist in hists.items():
            yield family, [*lv, label_value], hist
    for kind, ratio in s.ratelimit.items():
        yield "headroom", [*lv, kind], ratio


# --- the fast text rendering; tests hold it to prometheus_client's output byte for byte ---


def _render_series(key: Key, series: Series, openmetrics: bool) -> list[str]:
    lines: list[list[str]] = [[] for _ in FAMILIES]
    for family, labels, value in _points(key, series):
        values = [_escape(v) for v in labels]
        if isinstance(value, Hist):
            text = _histogram(family, values, value, openmetrics)
        else:
            text = _sample(family, values, value)
        lines[_INDEX[family]].append(text)
    return ["".join(texts) for texts in lines]


def _sample(family: str, values: list[str], value: float) -> str:
    name, labels, _, _ = _LAYOUT[family]
    return f"{name}{{{labels.format(*values)}}} {_number(value)}\n"


def _histogram(family: str, values: list[str], hist: Hist, openmetrics: bool) -> str:
    name, labels, before, after = _LAYOUT[family]
    head = f'{name}_bucket{{{before.format(*values)}le="'
    tail = f'"{after.format(*values)}}} '
    out = []
    running = 0
    for le, count, exemplar in zip(
        _le_labels(hist.bounds), hist.counts, hist.exemplars, strict=True
    ):
        running += count
        line = f"{head}{le}{tail}{_number(running)}"
        if openmetrics and exemplar is not None:
            line += _exemplar(exemplar)
        out.append(line + "\n")
    label_text = labels.format(*values)
    out.append(f"{name}_count{{{label_text}}} {_number(running)}\n")
    out.append(f"{name}_sum{{{label_text}}} {_number(hist.total)}\n")
    return "".join(out)


def _layout(cls: Family, name: str, names: tuple[str, ...]) -> tuple[str, str, str, str]:
    """A family's sample name and its label templates (`{0}`... are the label values in
    the family's order; prometheus_client writes labels sorted by name): all labels, and
    for histogram buckets those before and after `le`."""

    def template(keep: Callable[[str], bool]) -> str:
        order = sorted((n, i) for i, n in enumerate(names) if keep(n))
        return ",".join(f'{n}="{{{i}}}"' for n, i in order)

    before, after = template(lambda n: n < "le"), template(lambda n: n > "le")
    sample = name + "_total" if cls is CounterMetricFamily else name
    return (
        sample,
        template(lambda n: True),
        before + "," if before else "",
        "," + after if after else "",
    )


@functools.cache
def _le_labels(bounds: tuple[float, ...]) -> tuple[str, ...]:
    return (*map(le_label, bounds), "+Inf")


def _escape(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def _number(value: float) -> str:
    # floatToGoString prints whole numbers below 10**6 as `n.0`: the common case, made cheap
    if type(value) is int and 0 <= value < 1_000_000:
        return f"{value}.0"
    return _go_string(value)


def _go_string(value: float) -> str:
    """A number as prometheus_client writes it (Go's formatting)."""
    text: str = _go_float(value)  # type: ignore[no-untyped-call]
    return text


def _exemplar(exemplar: Exemplar) -> str:
    labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(exemplar.labels.items()))
    text = f" # {{{labels}}} {_go_string(exemplar.value)}"
    return text if exemplar.timestamp is None else f"{text} {exemplar.timestamp}"


class _One:
    """A collector of one metric family, to render its header lines."""

    def __init__(self, metric: Metric) -> None:
        self.metric = metric

    def collect(self) -> Iterable[Metric]:
        return [self.metric]


@functools.cache
def _headers(openmetrics: bool) -> tuple[str, ...]:
    """The `# HELP` / `# TYPE` lines of each family, as prometheus_client writes them."""
    encode = generate_openmetrics if openmetrics else generate_latest
    return tuple(
        encode(_One(cls(name, doc, labels=labels))).decode().removesuffix("# EOF\n")
        for cls, name, doc, labels in FAMILIES.values()
    )


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
    "check_errors": (
        CounterMetricFamily,
        "chatcanary_check_errors",
        "Checks that raised instead of judging (counted in check_failures too).",
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


_INDEX = {key: index for index, key in enumerate(FAMILIES)}
_LAYOUT = {key: _layout(cls, name, labels) for key, (cls, name, _, labels) in FAMILIES.items()}


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


class Registry(CollectorRegistry):
    """The exporter's private registry. It keeps its collectors other than the probe sink
    apart, so that `exposition` renders the sink's many series by the sink's own fast path
    and only the few others through prometheus_client."""

    def __init__(self, sink: PrometheusSink) -> None:
        super().__init__(auto_describe=False)
        self.sink = sink
        self.others: list[Collector] = []
        self.register(sink)

    def register(self, collector: Collector) -> None:
        super().register(collector)
        if collector is not self.sink:
            self.others.append(collector)

    def unregister(self, collector: Collector) -> None:
        super().unregister(collector)
        if collector in self.others:
            self.others.remove(collector)


class _Others:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        for collector in list(self.registry.others):
            yield from collector.collect()


def exposition(registry: Registry, accept: str) -> tuple[bytes, str]:
    """The body and content type of `/metrics` for this Accept header: what
    prometheus_client's `choose_encoder` picks would write for the registry."""
    encoder, content_type = choose_encoder(accept)
    openmetrics = content_type.startswith("application/openmetrics-text")
    return registry.sink.render(openmetrics).encode() + encoder(_Others(registry)), content_type


def make_registry(sink: PrometheusSink) -> tuple[Registry, SelfMetrics]:
    registry = Registry(sink)
    ProcessCollector(registry=registry)
    return registry, SelfMetrics(registry)
