"""The traffic metrics (`chatcanary_traffic_*`): what real users' requests met.

A prometheus-client `Collector` over plain accumulators, updated by `record` on the
event loop. Labels are bounded: `proxy` and `route` are closed sets, `outcome` and
`error_class` enums, and the two values that come from requests are capped: `model`
(the request's, normalised) keeps the first `max_models` distinct values per proxy and
calls the rest `other`; `tenant` exists only from the proxy's allow-listed
`tenant_header`, capped the same way by `max_tenants`. This is the documented exception
to DESIGN's rule that no label takes a value from a request.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from exporter.config import Metrics, Proxy
from exporter.result import TrafficOutcome, TrafficRecord
from exporter.sinks.prometheus import Hist, label

OTHER = "other"
NONE = "none"  # no model in the request (non-chat routes), no tenant header
OUTCOMES = tuple(str(o) for o in TrafficOutcome)
Key = tuple[str, str, str, str]  # proxy, route, model, tenant
LABELS = ("proxy", "route", "model", "tenant")


class Cap:
    """The first `limit` distinct values keep their name; the rest read `other`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, value: str | None) -> str:
        value = label(value).lower()
        if not value:
            return NONE
        if value in self.seen:
            return value
        if len(self.seen) < self.limit:
            self.seen.add(value)
            return value
        return OTHER


@dataclass
class Series:
    buckets: Metrics
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    errors: dict[str, int] = field(default_factory=dict)
    durations: dict[str, Hist] = field(default_factory=dict)
    ttft: Hist | None = None
    gaps: Hist | None = None
    tokens: dict[str, int] = field(default_factory=lambda: {"input": 0, "output": 0})
    responses: int = 0
    refusals: int = 0

    def add(self, record: TrafficRecord) -> None:
        exchange = record.exchange
        outcome = str(record.outcome)
        self.outcomes[outcome] += 1
        if record.error_class is not None:
            name = str(record.error_class)
            self.errors[name] = self.errors.get(name, 0) + 1
        hist = self.durations.get(outcome)
        if hist is None:
            hist = self.durations[outcome] = Hist(self.buckets.duration_buckets)
        hist.observe(exchange.duration_seconds, record.trace_id)
        if exchange.ttft_seconds is not None:
            if self.ttft is None:
                self.ttft = Hist(self.buckets.ttft_buckets)
            self.ttft.observe(exchange.ttft_seconds, record.trace_id)
        if exchange.chunk_gaps:
            if self.gaps is None:
                self.gaps = Hist(self.buckets.inter_token_buckets)
            for gap in exchange.chunk_gaps:
                self.gaps.observe(gap)
        if exchange.input_tokens is not None and record.outcome is TrafficOutcome.SUCCESS:
            self.tokens["input"] += exchange.input_tokens
        if exchange.output_tokens is not None and record.outcome is TrafficOutcome.SUCCESS:
            self.tokens["output"] += exchange.output_tokens
        if record.refusal is not None:
            self.responses += 1
            self.refusals += record.refusal.refused


class TrafficMetrics(Collector):
    def __init__(self, buckets: Metrics) -> None:
        self.buckets = buckets
        self._series: dict[Key, Series] = {}
        self._models: dict[str, Cap] = {}
        self._tenants: dict[str, Cap] = {}
        self.in_flight: dict[str, int] = {}
        self.observer_failures: dict[str, int] = {}

    def configure(self, proxies: Sequence[Proxy], buckets: Metrics) -> None:
        """Keep the series of these proxies; a proxy whose caps changed starts afresh."""
        names = {p.name for p in proxies}
        for proxy in proxies:
            models, tenants = self._models.get(proxy.name), self._tenants.get(proxy.name)
            if models is None or models.limit != proxy.max_models:
                self._models[proxy.name] = Cap(proxy.max_models)
            if proxy.tenant_header is None:
                self._tenants.pop(proxy.name, None)
            elif tenants is None or tenants.limit != proxy.max_tenants:
                self._tenants[proxy.name] = Cap(proxy.max_tenants)
            self.in_flight.setdefault(proxy.name, 0)
            self.observer_failures.setdefault(proxy.name, 0)
        rebucket = buckets != self.buckets
        self.buckets = buckets
        for key in list(self._series):
            if key[0] not in names or rebucket:
                del self._series[key]
        for table in (self._models, self._tenants, self.in_flight, self.observer_failures):
            for name in set(table) - names:
                del table[name]

    def record(self, record: TrafficRecord) -> None:
        models = self._models.get(record.proxy)
        if models is None:  # a proxy a reload removed, finishing its last request
            return
        key = (record.proxy, record.route, models(record.model), self._tenant(record))
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = Series(self.buckets)
        series.add(record)

    def _tenant(self, record: TrafficRecord) -> str:
        """ "" (no label) unless the proxy names a `tenant_header`."""
        tenants = self._tenants.get(record.proxy)
        return "" if tenants is None else tenants(record.tenant)

    def totals(self, proxy: str) -> dict[str, int]:
        """A proxy's requests, errors, judged answers and refusals, for the page."""
        out = dict.fromkeys(("requests", "errors", "responses", "refusals"), 0)
        for key, s in self._series.items():
            if key[0] == proxy:
                out["requests"] += sum(s.outcomes.values())
                out["errors"] += s.outcomes["error"]
                out["responses"] += s.responses
                out["refusals"] += s.refusals
        return out

    def describe(self) -> Iterable[Any]:
        return ()

    def collect(self) -> Iterator[Any]:
        requests = CounterMetricFamily(
            "chatcanary_traffic_requests",
            "Requests the proxy forwarded, by outcome (cancelled: the client went away).",
            labels=(*LABELS, "outcome"),
        )
        errors = CounterMetricFamily(
            "chatcanary_traffic_errors",
            "Forwarded requests that failed, by error class.",
            labels=(*LABELS, "error_class"),
        )
        duration = HistogramMetricFamily(
            "chatcanary_traffic_request_duration_seconds",
            "Time from the request's arrival at the proxy to the upstream's last byte.",
            labels=(*LABELS, "outcome"),
        )
        ttft = HistogramMetricFamily(
            "chatcanary_traffic_time_to_first_token_seconds",
            "Time from the request's arrival to the first content chunk of a streamed answer.",
            labels=LABELS,
        )
        gaps = HistogramMetricFamily(
            "chatcanary_traffic_inter_token_latency_seconds",
            "Gaps between content chunks of streamed answers.",
            labels=LABELS,
        )
        tokens = CounterMetricFamily(
            "chatcanary_traffic_tokens",
            "Tokens of answered chat requests, as the upstream reported (or counted).",
            labels=(*LABELS, "type"),
        )
        responses = CounterMetricFamily(
            "chatcanary_traffic_responses",
            "Chat answers the refusal verdict read (sampled): the refusal rate's denominator.",
            labels=LABELS,
        )
        refusals = CounterMetricFamily(
            "chatcanary_traffic_refusals",
            "Chat answers judged refusals (structured signal or the text classifier).",
            labels=LABELS,
        )
        for key, s in self._series.items():
            values = list(key)
            for outcome, count in s.outcomes.items():
                requests.add_metric([*values, outcome], count)
            for name, count in s.errors.items():
                errors.add_metric([*values, name], count)
            for outcome, hist in s.durations.items():
                duration.add_metric([*values, outcome], hist.buckets(), hist.total)
            if s.ttft is not None:
                ttft.add_metric(values, s.ttft.buckets(), s.ttft.total)
            if s.gaps is not None:
                gaps.add_metric(values, s.gaps.buckets(), s.gaps.total)
            for kind, count in s.tokens.items():
                tokens.add_metric([*values, kind], count)
            responses.add_metric(values, s.responses)
            refusals.add_metric(values, s.refusals)
        in_flight = GaugeMetricFamily(
            "chatcanary_traffic_requests_in_flight",
            "Requests the proxy is forwarding now.",
            labels=("proxy",),
        )
        failures = CounterMetricFamily(
            "chatcanary_traffic_observer_failures",
            "Requests whose observing failed (the bytes were forwarded all the same).",
            labels=("proxy",),
        )
        for proxy, count in self.in_flight.items():
            in_flight.add_metric([proxy], count)
        for proxy, count in self.observer_failures.items():
            failures.add_metric([proxy], count)
        yield from (requests, errors, duration, ttft, gaps, tokens, responses, refusals)
        yield from (in_flight, failures)
