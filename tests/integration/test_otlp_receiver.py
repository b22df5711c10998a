"""The OTLP receiver against the real SDK exporters (OTLP/HTTP protobuf): spans and metric
points decode exactly, compression is undone, and the failure switch fails exports.

SDK calls that export (`span.end()` under a `SimpleSpanProcessor`, `force_flush()`,
`export()`) block the calling thread on an HTTP request; they are made straight from the
tests' event loop on purpose, since the receiver serves from its own thread."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.integration.otlp_receiver import Event, OTLPReceiver, Point, Received

RESOURCE = Resource.create({"service.name": "chatcanary-test", "deployment.environment": "ci"})
# Attempts and waits are capped by the exporter's `timeout`; 2s is ample on loopback.
TIMEOUT = 2.0


# OTEL_EXPORTER_OTLP_* (compression, headers, timeout) would change what is sent.
pytestmark = pytest.mark.usefixtures("no_otel_environment")


@pytest.fixture
def tracer_provider(receiver: OTLPReceiver) -> Iterator[TracerProvider]:
    """A provider of its own (never the global one) exporting each span as it ends."""
    exporter = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", timeout=TIMEOUT)
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


def finished_span(name: str = "probe") -> ReadableSpan:
    """A finished SDK span, recorded in memory, to hand to an exporter directly."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.get_tracer("chatcanary.tests").start_span(name).end()
    (span,) = memory.get_finished_spans()
    provider.shutdown()
    return span


async def test_spans_decode_exactly(
    receiver: OTLPReceiver, tracer_provider: TracerProvider
) -> None:
    tracer = tracer_provider.get_tracer("chatcanary.tests", "1.2.3")
    with tracer.start_as_current_span("canary arithmetic", start_time=1_000_000_000) as parent:
        child = tracer.start_span(
            "chat healthy-model",
            kind=SpanKind.CLIENT,
            start_time=1_100_000_000,
            attributes={
                "gen_ai.request.model": "healthy-model",
                "gen_ai.usage.output_tokens": 42,
                "gen_ai.request.temperature": 0.25,
                "chatcanary.stream": True,
                "gen_ai.response.finish_reasons": ["stop", "length"],
            },
        )
        child.add_event("first_token", {"index": 0, "text": "4"}, timestamp=1_200_000_000)
        child.set_status(Status(StatusCode.ERROR, "check contains failed"))
        child.end(end_time=1_300_000_000)
    # the parent's end_time defaults to now: take it from the SDK's own span below
    (arrived_child, arrived_parent) = await receiver.wait_for_spans(lambda s: True, count=2)

    ids = parent.get_span_context()
    assert arrived_parent.name == "canary arithmetic"
    assert arrived_parent.kind == "INTERNAL"
    assert arrived_parent.trace_id == format(ids.trace_id, "032x")
    assert arrived_parent.span_id == format(ids.span_id, "016x")
    assert arrived_parent.parent_span_id == ""
    assert arrived_parent.start_ns == 1_000_000_000
    assert arrived_parent.end_ns > 1_300_000_000
    assert (arrived_parent.status_code, arrived_parent.status_message) == ("UNSET", "")
    assert arrived_parent.attributes == {}
    assert arrived_parent.events == ()

    child_ids = child.get_span_context()
    assert arrived_child.name == "chat healthy-model"
    assert arrived_child.kind == "CLIENT"
    assert arrived_child.trace_id == arrived_parent.trace_id
    assert arrived_child.span_id == format(child_ids.span_id, "016x")
    assert len(arrived_child.span_id) == 16 and len(arrived_child.trace_id) == 32
    assert arrived_child.parent_span_id == arrived_parent.span_id
    assert (arrived_child.start_ns, arrived_child.end_ns) == (1_100_000_000, 1_300_000_000)
    assert arrived_child.attributes == {
        "gen_ai.request.model": "healthy-model",
        "gen_ai.usage.output_tokens": 42,
        "gen_ai.request.temperature": 0.25,
        "chatcanary.stream": True,
        "gen_ai.response.finish_reasons": ("stop", "length"),
    }
    assert type(arrived_child.attributes["gen_ai.usage.output_tokens"]) is int
    assert arrived_child.events == (Event("first_token", 1_200_000_000, {"index": 0, "text": "4"}),)
    assert arrived_child.status_code == "ERROR"
    assert arrived_child.status_message == "check contains failed"

    for span in (arrived_child, arrived_parent):
        assert span.scope == "chatcanary.tests"
        assert span.resource["service.name"] == "chatcanary-test"
        assert span.resource["deployment.environment"] == "ci"
        assert span.resource["telemetry.sdk.language"] == "python"

    assert receiver.spans_named("chat healthy-model") == [arrived_child]
    assert receiver.traces() == {arrived_parent.trace_id: [arrived_child, arrived_parent]}
    # SimpleSpanProcessor: one POST per span, both plain protobuf, both accepted
    assert receiver.received == [
        Received("/v1/traces", "application/x-protobuf", "", 200),
        Received("/v1/traces", "application/x-protobuf", "", 200),
    ]


async def test_separate_traces_are_grouped(
    receiver: OTLPReceiver, tracer_provider: TracerProvider
) -> None:
    tracer = tracer_provider.get_tracer("chatcanary.tests")
    for target in ("good", "broken"):
        with (
            tracer.start_as_current_span("canary", attributes={"target": target}),
            tracer.start_as_current_span("chat", kind=SpanKind.CLIENT),
        ):
            pass
    await receiver.wait_for_spans(lambda s: s.name == "canary", count=2)

    traces = receiver.traces()
    assert len(traces) == 2
    for spans in traces.values():
        chat, canary = spans
        assert (chat.name, canary.name) == ("chat", "canary")
        assert chat.parent_span_id == canary.span_id
    assert [s.attributes["target"] for s in receiver.spans_named("canary")] == ["good", "broken"]


async def test_metrics_decode_exactly(receiver: OTLPReceiver) -> None:
    exporter = OTLPMetricExporter(endpoint=f"{receiver.url}/v1/metrics", timeout=TIMEOUT)
    # a long interval: force_flush() exports the one batch asserted on (and shutdown another)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader], resource=RESOURCE)
    try:
        meter = provider.get_meter("chatcanary.metrics")
        duration = meter.create_histogram(
            "chatcanary.request.duration", unit="s", explicit_bucket_boundaries_advisory=[0.5, 1, 5]
        )
        probes = meter.create_counter("chatcanary.probes", unit="{probe}")
        for seconds in (0.3, 0.7, 3.0, 10.0):
            duration.record(seconds, {"target": "good"})
        probes.add(1, {"target": "good"})
        probes.add(2, {"target": "good"})
        probes.add(1, {"target": "broken"})
        assert provider.force_flush(timeout_millis=int(TIMEOUT * 1000))

        batch = await receiver.wait_for_points(lambda p: True, count=3)
        assert len(receiver.received) == 1
    finally:
        provider.shutdown()  # exports a final collection: the cumulative points again
    assert len(receiver.points) == 6

    resource, scope = batch[0].resource, "chatcanary.metrics"
    assert resource["service.name"] == "chatcanary-test"
    (histogram,) = [p for p in batch if p.kind == "histogram"]
    assert histogram == Point(
        metric="chatcanary.request.duration",
        unit="s",
        kind="histogram",
        attributes={"target": "good"},
        count=4,
        sum=14.0,
        bucket_counts=(1, 1, 1, 1),
        explicit_bounds=(0.5, 1.0, 5.0),
        resource=resource,
        scope=scope,
    )
    sums = sorted((p for p in batch if p.kind == "sum"), key=lambda p: p.value or 0)
    probe = ("chatcanary.probes", "{probe}", "sum")
    assert sums == [
        Point(*probe, {"target": "broken"}, resource, scope, value=1),
        Point(*probe, {"target": "good"}, resource, scope, value=3),
    ]
    assert all(type(p.value) is int for p in sums)
    assert receiver.received[0] == Received("/v1/metrics", "application/x-protobuf", "", 200)


async def test_gauge_points_keep_float_values(receiver: OTLPReceiver) -> None:
    exporter = OTLPMetricExporter(endpoint=f"{receiver.url}/v1/metrics", timeout=TIMEOUT)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader], resource=RESOURCE)
    try:
        ratio = provider.get_meter("chatcanary.metrics").create_gauge("chatcanary.ratio")
        ratio.set(0.75, {"target": "good"})
        assert provider.force_flush(timeout_millis=int(TIMEOUT * 1000))
        (point,) = await receiver.wait_for_points(lambda p: p.metric == "chatcanary.ratio")
    finally:
        provider.shutdown()
    assert (point.kind, point.value, point.attributes) == ("gauge", 0.75, {"target": "good"})


@pytest.mark.parametrize(
    ("compression", "encoding"), [(Compression.Gzip, "gzip"), (Compression.Deflate, "deflate")]
)
async def test_compressed_exports_are_decoded(
    receiver: OTLPReceiver, compression: Compression, encoding: str
) -> None:
    exporter = OTLPSpanExporter(
        endpoint=f"{receiver.url}/v1/traces", timeout=TIMEOUT, compression=compression
    )
    try:
        assert exporter.export([finished_span("compressed")]) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]
    assert [s.name for s in receiver.spans] == ["compressed"]
    assert receiver.spans[0].resource["service.name"] == "chatcanary-test"
    assert receiver.received == [Received("/v1/traces", "application/x-protobuf", encoding, 200)]


async def test_failure_switch_fails_export_and_stores_nothing(receiver: OTLPReceiver) -> None:
    # 400 is not retryable, so export() gives up after this one attempt; see the 503 tests
    receiver.fail_with = 400
    exporter = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", timeout=TIMEOUT)
    try:
        span = finished_span()
        assert exporter.export([span]) is SpanExportResult.FAILURE
        assert receiver.spans == []
        assert receiver.requests == 1

        receiver.fail_with = None
        assert exporter.export([span]) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]
    assert [s.name for s in receiver.spans] == ["probe"]
    assert receiver.requests == 2
    assert [r.status for r in receiver.received] == [400, 200]


async def test_503_fails_once_the_backoff_outlasts_the_timeout(receiver: OTLPReceiver) -> None:
    # 503 is retryable, but the first backoff (1s +-20% jitter) exceeds what is left of
    # the 0.5s timeout, so the exporter gives up after a single attempt instead of waiting.
    receiver.fail_with = 503
    exporter = OTLPMetricExporter(endpoint=f"{receiver.url}/v1/metrics", timeout=0.5)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader], resource=RESOURCE)
    try:
        provider.get_meter("m").create_counter("chatcanary.probes").add(1)
        provider.force_flush(timeout_millis=5_000)
        assert receiver.requests == 1
        assert receiver.received[0].status == 503
        assert receiver.points == []
        receiver.fail_with = None
    finally:
        provider.shutdown()  # the final collection is exported, now accepted
    assert [p.metric for p in receiver.points] == ["chatcanary.probes"]


async def test_503_is_retried_after_retry_after(receiver: OTLPReceiver) -> None:
    # With Retry-After the exporter waits that long instead of its own backoff; the
    # collector recovers meanwhile, and the retry succeeds within the same export() call.
    # One failure only, counted by the receiver: the test does not race the retry.
    receiver.fail_with, receiver.fail_times, receiver.retry_after = 503, 1, 0.5
    exporter = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", timeout=5.0)
    try:
        export = asyncio.create_task(asyncio.to_thread(exporter.export, [finished_span()]))
        assert await export is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]
    assert [r.status for r in receiver.received] == [503, 200]
    assert [s.name for s in receiver.spans] == ["probe"]


async def test_raw_requests_get_otlp_answers(receiver: OTLPReceiver) -> None:
    empty = ExportTraceServiceRequest().SerializeToString()
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{receiver.url}/v1/traces",
            data=empty,
            headers={"Content-Type": "application/x-protobuf"},
        ) as resp:
            assert resp.status == 200
            assert resp.content_type == "application/x-protobuf"
            answer = ExportTraceServiceResponse()
            answer.ParseFromString(await resp.read())
            assert not answer.HasField("partial_success")
        async with session.post(
            f"{receiver.url}/v1/traces", data=b"{}", headers={"Content-Type": "application/json"}
        ) as resp:
            assert resp.status == 415
        async with session.post(
            f"{receiver.url}/v1/traces",
            data=b"\xff\xff\xff",
            headers={"Content-Type": "application/x-protobuf"},
        ) as resp:
            assert resp.status == 400
        async with session.post(
            f"{receiver.url}/v1/traces",
            data=empty,
            headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "br"},
        ) as resp:
            assert resp.status == 415
        async with session.post(f"{receiver.url}/v1/logs", data=empty) as resp:
            assert resp.status == 404
    assert receiver.requests == 4  # the 404 never reached an OTLP endpoint
    assert [r.status for r in receiver.received] == [200, 415, 400, 415]
    assert receiver.spans == [] and receiver.points == []


async def test_wait_for_spans_times_out_with_a_summary(
    receiver: OTLPReceiver, tracer_provider: TracerProvider
) -> None:
    tracer_provider.get_tracer("t").start_span("arrived").end()
    with pytest.raises(AssertionError, match=r"0 of the 1 spans.*arrived\(INTERNAL, UNSET\)"):
        await receiver.wait_for_spans(lambda s: s.name == "never", timeout=0.2)
    with pytest.raises(AssertionError, match=r"0 of the 1 points.*0 arrived"):
        await receiver.wait_for_points(lambda p: True, timeout=0.1)
