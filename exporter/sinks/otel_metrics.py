"""OpenTelemetry GenAI client metrics over OTLP, for OTel-native backends (off by default).

One observation per turn, as an instrumented client would record them:
`gen_ai.client.operation.duration`, `gen_ai.client.token.usage`,
`gen_ai.client.operation.time_to_first_chunk` and
`gen_ai.client.operation.time_per_output_chunk`, with the conventions' attributes and
advisory buckets (plus every latency threshold of the config). The model a server reports
is normalised and capped as the Prometheus label is, so it cannot grow the series without
bound. Export runs on the SDK's background thread; failed exports are counted, never
retried without bound.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from prometheus_client import Counter

from exporter import __version__
from exporter.config import Metrics, OpenTelemetry, RunSpec
from exporter.result import ProbeResult
from exporter.sinks.otel import client_attributes, otlp_exporter, resource
from exporter.sinks.prometheus import label

log = logging.getLogger(__name__)

Key = tuple[str, str]

# The conventions' advisory buckets: duration doubles from 10 ms; tokens quadruple from 1.
DURATION_BUCKETS = tuple(0.01 * 2**i for i in range(14))  # 0.01 ... 81.92
TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1 ... 67108864


def temporality(environ: Mapping[str, str]) -> dict[type, AggregationTemporality]:
    """The histograms' temporality, as OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE
    asks (the sink records histograms only): `delta` and `lowmemory` make them delta,
    anything else leaves OTLP's default, cumulative."""
    preference = environ.get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "")
    delta = preference.strip().lower() in ("delta", "lowmemory")
    return {Histogram: AggregationTemporality.DELTA if delta else AggregationTemporality.CUMULATIVE}


class CountingMetricExporter(MetricExporter):
    """Counts failed metric exports; never raises into the SDK.

    The reader takes its temporality from the exporter it is given, this one; the inner
    exporter's own preferences are private to the SDK, so they are stated here."""

    def __init__(
        self,
        inner: MetricExporter,
        failures: Counter,
        preferred_temporality: dict[type, AggregationTemporality],
    ) -> None:
        super().__init__(preferred_temporality=preferred_temporality)
        self._inner = inner
        self._failures = failures.labels("metrics")

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        try:
            result = self._inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception:
            log.exception("OTLP metric export raised")
            result = MetricExportResult.FAILURE
        if result is not MetricExportResult.SUCCESS:
            self._failures.inc()
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._inner.shutdown(timeout_millis=timeout_millis, **kwargs)


def metric_exporter(settings: OpenTelemetry) -> MetricExporter:
    exporter: MetricExporter = otlp_exporter(settings, "metrics", os.environ)
    return exporter


def _bounds(advisory: Iterable[float], extra: Iterable[float]) -> list[float]:
    return sorted({*advisory, *extra})


class OTelMetricsSink:
    def __init__(
        self,
        settings: OpenTelemetry,
        buckets: Metrics,
        exporter: MetricExporter,
        failures: Counter,
    ) -> None:
        reader = PeriodicExportingMetricReader(
            CountingMetricExporter(exporter, failures, temporality(os.environ)),
            export_interval_millis=settings.metrics_interval * 1000,
        )
        self._provider = MeterProvider(resource=resource(settings), metric_readers=[reader])
        meter = self._provider.get_meter("chatcanary", __version__)
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_bounds(DURATION_BUCKETS, buckets.duration_buckets),
        )
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self._ttft = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=_bounds(DURATION_BUCKETS, buckets.ttft_buckets),
        )
        self._per_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_per_output_chunk",
            unit="s",
            description="Time between chunks of a streamed response, after the first.",
            explicit_bucket_boundaries_advisory=_bounds(
                DURATION_BUCKETS, buckets.inter_token_buckets
            ),
        )
        self._specs: Mapping[Key, RunSpec] = {}

    def retain(self, specs: Mapping[Key, RunSpec]) -> None:
        self._specs = dict(specs)

    def shutdown(self) -> None:
        self._provider.shutdown()

    def record(self, result: ProbeResult) -> None:
        spec = self._specs.get((result.target, result.canary))
        if spec is None:
            return
        base = client_attributes(spec.target)
        for turn in result.turns:
            attributes = dict(base)
            response_model = label(turn.response_model)  # bounded as the Prometheus label is
            if response_model:
                attributes["gen_ai.response.model"] = response_model
            if turn.error_class is not None:
                attributes["error.type"] = str(turn.error_class)
            self._duration.record(turn.duration_seconds, attributes)
            if turn.error_class is not None:
                continue
            for kind, count in (("input", turn.input_tokens), ("output", turn.output_tokens)):
                if count is not None:
                    self._tokens.record(count, {**attributes, "gen_ai.token.type": kind})
            if turn.ttft_seconds is not None:
                self._ttft.record(turn.ttft_seconds, attributes)
            for gap in turn.chunk_gaps:
                self._per_chunk.record(gap, attributes)
