"""A real OTLP/HTTP receiver for tests: the part of an OpenTelemetry Collector that accepts
`POST /v1/traces` and `POST /v1/metrics` (binary protobuf, optionally gzip or deflate) and
keeps what arrived as plain, decoded records (`Span`, `Point`).

The server runs on its own event loop in a daemon thread. The SDK's OTLP exporters are
synchronous (`requests`), and `SimpleSpanProcessor`, `force_flush()` and `shutdown()` export
on the caller's thread; a receiver on the test's own loop would be starved by such a call
until the exporter times out. On its own thread it answers whoever calls, from anywhere.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1 import trace_pb2

PROTOBUF = "application/x-protobuf"
MAX_BODY = 64 * 1024 * 1024  # the SDK exporters' default max_request_size
_T = TypeVar("_T")


@dataclass(frozen=True)
class Event:
    """A span event."""

    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Span:
    """One received span; ids are lowercase hex, enums are their short names."""

    name: str
    kind: str  # "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER", "UNSPECIFIED"
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_span_id: str  # 16 hex digits, or "" for a root span
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: tuple[Event, ...]
    status_code: str  # "UNSET", "OK", "ERROR"
    status_message: str
    resource: dict[str, Any]
    scope: str  # instrumentation scope name


@dataclass(frozen=True)
class Point:
    """One received metric data point. `value` is set for sums and gauges (an int or a
    float, as sent); `count`, `sum` and the buckets for histograms."""

    metric: str
    unit: str
    kind: str  # "sum", "gauge", "histogram", "exponential_histogram", "summary"
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str
    value: int | float | None = None
    count: int = 0
    sum: float | None = None
    bucket_counts: tuple[int, ...] = ()
    explicit_bounds: tuple[float, ...] = ()


@dataclass(frozen=True)
class Received:
    """One POST as it arrived: where, how it was encoded, and what it was answered."""

    path: str
    content_type: str
    content_encoding: str  # "" when uncompressed
    status: int


def _any_value(value: Any) -> Any:
    """Decode an `AnyValue` into str/bool/int/float/bytes, a tuple, a dict, or None."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return tuple(_any_value(item) for item in value.array_value.values)
    if which == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, which)


def _attributes(pairs: Any) -> dict[str, Any]:
    """Decode repeated `KeyValue`s into a dict."""
    return {pair.key: _any_value(pair.value) for pair in pairs}


def _enum_name(enum: Any, number: int, prefix: str) -> str:
    try:
        name: str = enum.Name(number)
    except ValueError:
        return str(number)
    return name.removeprefix(prefix)


def _decode_spans(request: Any) -> list[Span]:
    spans = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    Span(
                        name=span.name,
                        kind=_enum_name(trace_pb2.Span.SpanKind, span.kind, "SPAN_KIND_"),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes=_attributes(span.attributes),
                        events=tuple(
                            Event(e.name, e.time_unix_nano, _attributes(e.attributes))
                            for e in span.events
                        ),
                        status_code=_enum_name(
                            trace_pb2.Status.StatusCode, span.status.code, "STATUS_CODE_"
                        ),
                        status_message=span.status.message,
                        resource=resource,
                        scope=scope_spans.scope.name,
                    )
                )
    return spans


def _decode_point(kind: str, point: Any, **common: Any) -> Point:
    attributes = _attributes(point.attributes)
    if kind in ("sum", "gauge"):
        which = point.WhichOneof("value")
        value = None if which is None else getattr(point, which)
        return Point(kind=kind, attributes=attributes, value=value, **common)
    total = point.sum if kind == "summary" or point.HasField("sum") else None
    if kind == "histogram":
        return Point(
            kind=kind,
            attributes=attributes,
            count=point.count,
            sum=total,
            bucket_counts=tuple(point.bucket_counts),
            explicit_bounds=tuple(point.explicit_bounds),
            **common,
        )
    return Point(kind=kind, attributes=attributes, count=point.count, sum=total, **common)


def _decode_points(request: Any) -> list[Point]:
    points = []
    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue
                common = {
                    "metric": metric.name,
                    "unit": metric.unit,
                    "resource": resource,
                    "scope": scope_metrics.scope.name,
                }
                for point in getattr(metric, kind).data_points:
                    points.append(_decode_point(kind, point, **common))
    return points


def _decompress(body: bytes, encoding: str) -> bytes | None:
    """The body without its content-encoding, or None for an encoding we do not know."""
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return None


def _summary(records: Sequence[Any], describe: Callable[[Any], str], last: int = 20) -> str:
    shown = ", ".join(describe(r) for r in records[-last:])
    more = f" (last {last} shown)" if len(records) > last else ""
    return f"{len(records)} arrived{more}: [{shown}]"


class OTLPReceiver:
    """An OTLP/HTTP receiver on a loopback port. Set `fail_with` to a status (e.g. 503) to
    answer every POST with it and store nothing, `None` to accept again; `fail_times` to
    fail only that many POSTs from now on (then accept, with no race against the
    sender's retry); `retry_after` (seconds) adds a `Retry-After` header to those
    failures."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.points: list[Point] = []
        self.received: list[Received] = []  # every POST, in arrival order
        self.requests = 0  # POSTs received, failed ones included
        self.fail_with: int | None = None
        self.fail_times: int | None = None  # None: every POST while fail_with is set
        self.retry_after: float | None = None
        self.url = ""  # the base URL, once started
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on `host:port` (0: any free port); return the base URL."""
        assert self._loop is None, "already started"
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="otlp-receiver", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self.url = await self._call(self._serve(host, port))
        except BaseException:
            await self.stop()
            raise
        return self.url

    async def stop(self) -> None:
        """Stop serving and end the server thread; the records stay readable."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._runner is not None:
            await self._call(self._runner.cleanup())
            self._runner = None
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join, 10)
        loop.close()
        self._loop = self._thread = None

    def spans_named(self, name: str) -> list[Span]:
        """The spans called `name`, in arrival order."""
        return [s for s in list(self.spans) if s.name == name]

    def traces(self) -> dict[str, list[Span]]:
        """The spans grouped by trace id, each trace's spans in arrival order."""
        grouped: dict[str, list[Span]] = {}
        for span in list(self.spans):
            grouped.setdefault(span.trace_id, []).append(span)
        return grouped

    async def wait_for_spans(
        self, predicate: Callable[[Span], bool], count: int = 1, timeout: float = 10.0
    ) -> list[Span]:
        """Poll until at least `count` spans match `predicate`; return the matches. On
        timeout, raise AssertionError listing what did arrive."""

        def describe(s: Span) -> str:
            return f"{s.name}({s.kind}, {s.status_code})"

        return await self._wait(self.spans, predicate, count, timeout, "spans", describe)

    async def wait_for_points(
        self, predicate: Callable[[Point], bool], count: int = 1, timeout: float = 10.0
    ) -> list[Point]:
        """Poll until at least `count` points match `predicate`; return the matches. On
        timeout, raise AssertionError listing what did arrive."""

        def describe(p: Point) -> str:
            shown = p.value if p.kind in ("sum", "gauge") else f"count={p.count}"
            return f"{p.metric}{p.attributes}={shown}"

        return await self._wait(self.points, predicate, count, timeout, "points", describe)

    async def wait_for_requests(self, count: int = 1, timeout: float = 10.0) -> list[Received]:
        """Poll until at least `count` POSTs have been answered; return them all."""

        def describe(r: Received) -> str:
            return f"{r.path}={r.status}"

        return await self._wait(self.received, lambda r: True, count, timeout, "POSTs", describe)

    async def _wait(
        self,
        records: list[_T],
        predicate: Callable[[_T], bool],
        count: int,
        timeout: float,
        what: str,
        describe: Callable[[_T], str],
    ) -> list[_T]:
        deadline = time.monotonic() + timeout
        while True:
            snapshot = list(records)
            matches = [r for r in snapshot if predicate(r)]
            if len(matches) >= count:
                return matches
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{len(matches)} of the {count} {what} wanted within {timeout}s; "
                    f"{_summary(snapshot, describe)}; {self.requests} POSTs "
                    f"(statuses {[r.status for r in self.received]}), fail_with={self.fail_with}"
                )
            await asyncio.sleep(0.02)

    async def _call(self, coro: Any) -> Any:
        assert self._loop is not None
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def _serve(self, host: str, port: int) -> str:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/v1/traces", self._traces)
        app.router.add_post("/v1/metrics", self._metrics)
        # Decompress ourselves, so a body in an encoding we do not know is refused.
        self._runner = web.AppRunner(app, access_log=None, auto_decompress=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        return f"http://{bound_host}:{bound_port}"

    async def _traces(self, request: web.Request) -> web.Response:
        return await self._export(
            request, ExportTraceServiceRequest, ExportTraceServiceResponse, self._add_spans
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        return await self._export(
            request, ExportMetricsServiceRequest, ExportMetricsServiceResponse, self._add_points
        )

    def _add_spans(self, message: Any) -> None:
        self.spans.extend(_decode_spans(message))

    def _add_points(self, message: Any) -> None:
        self.points.extend(_decode_points(message))

    async def _export(
        self,
        request: web.Request,
        request_type: Any,
        response_type: Any,
        store: Callable[[Any], None],
    ) -> web.Response:
        self.requests += 1
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        response = await self._answer(request, encoding, request_type, response_type, store)
        self.received.append(
            Received(request.path, request.content_type, encoding, response.status)
        )
        return response

    async def _answer(
        self,
        request: web.Request,
        encoding: str,
        request_type: Any,
        response_type: Any,
        store: Callable[[Any], None],
    ) -> web.Response:
        failing = self.fail_with
        if failing is not None and self.fail_times is not None:
            if self.fail_times > 0:
                self.fail_times -= 1
            else:
                failing = None
        if failing is not None:
            headers = {} if self.retry_after is None else {"Retry-After": f"{self.retry_after:g}"}
            return web.Response(status=failing, text="simulated collector failure", headers=headers)
        if request.content_type != PROTOBUF:
            return web.Response(status=415, text=f"only {PROTOBUF} is accepted")
        try:
            body = _decompress(await request.read(), encoding)
        except (OSError, EOFError, zlib.error) as exc:
            return web.Response(status=400, text=f"bad {encoding} body: {exc}")
        if body is None:
            return web.Response(status=415, text=f"unsupported content-encoding {encoding!r}")
        message = request_type()
        try:
            message.ParseFromString(body)
        except Exception as exc:  # protobuf's DecodeError; its module has no type stubs
            return web.Response(status=400, text=f"not a {request_type.__name__}: {exc}")
        store(message)
        return web.Response(body=response_type().SerializeToString(), content_type=PROTOBUF)
