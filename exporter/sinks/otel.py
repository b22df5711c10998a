"""OpenTelemetry traces: one trace per canary run, in the GenAI semantic conventions.

The spans are built after the run from the `ProbeResult`, with the exact start and end
times it recorded, so tracing adds nothing to a probe's own timings. A root span
`canary {canary}` (INTERNAL) holds one CLIENT span `chat {model}` per turn; the first
token and every verdict are span events. The trace id is the one the service stamped
on the result, which the Prometheus sink also attaches to histograms as an exemplar.

Export is batched on the SDK's background thread with a bounded queue; a failed export
drops its spans and counts them in `chatcanary_otel_export_failures_total`.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter

from exporter import __version__, patterns
from exporter.config import OpenTelemetry, Protocol, Proxy, RunSpec, Target
from exporter.redaction import REDACTED
from exporter.result import (
    Exchange,
    JudgeCall,
    Outcome,
    ProbeResult,
    TrafficOutcome,
    TrafficRecord,
)

log = logging.getLogger(__name__)

Key = tuple[str, str]

# gen_ai.provider.name values (well-known ones from the conventions; Ollama is not listed)
PROVIDERS = {
    Protocol.OPENAI: "openai",
    Protocol.AZURE_OPENAI: "azure.ai.openai",
    Protocol.ANTHROPIC: "anthropic",
    Protocol.OLLAMA: "ollama",
}
QUEUE_SIZE = 4096
# characters past `max_content_chars` that redaction reads, for a match cut by the cap
REDACT_MARGIN = 4096


def resource(settings: OpenTelemetry) -> Resource:
    """The SDK's resource (OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME apply). The
    service name: OTEL_SERVICE_NAME, else the YAML's, else OTEL_RESOURCE_ATTRIBUTES',
    else `chatcanary`."""
    created = Resource.create({"service.version": __version__})
    name = os.environ.get("OTEL_SERVICE_NAME") or settings.service_name
    named = not str(created.attributes.get("service.name", "")).startswith("unknown_service")
    if name is None and named:
        return created
    return created.merge(Resource({"service.name": name or "chatcanary"}))


def protocol_of(settings: OpenTelemetry, signal: str, environ: Mapping[str, str]) -> str:
    return (
        settings.protocol
        or environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )


def endpoint_of(settings: OpenTelemetry, path: str, grpc: bool) -> str | None:
    """The YAML endpoint as the exporter wants it; None lets the exporter read OTEL_*."""
    if settings.endpoint is None:
        return None
    base = settings.endpoint.rstrip("/")
    return base if grpc else f"{base}/{path}"


class CountingExporter(SpanExporter):
    """Counts the spans a failed export drops; never raises into the SDK."""

    def __init__(self, inner: SpanExporter, failures: Counter) -> None:
        self._inner = inner
        self._failures = failures.labels("traces")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self._inner.export(spans)
        except Exception:
            log.exception("OTLP span export raised")
            result = SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            self._failures.inc(len(spans))
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


# signal -> (exporter module, class, HTTP path, OTEL_EXPORTER_OTLP_{...}_PROTOCOL)
_EXPORTERS = {
    "traces": ("trace_exporter", "OTLPSpanExporter", "v1/traces", "TRACES"),
    "metrics": ("metric_exporter", "OTLPMetricExporter", "v1/metrics", "METRICS"),
}


def otlp_exporter(settings: OpenTelemetry, signal: str, environ: Mapping[str, str]) -> Any:
    """The SDK's OTLP exporter for `signal`, over HTTP/protobuf or (with the extra) gRPC."""
    module, name, path, variable = _EXPORTERS[signal]
    grpc = protocol_of(settings, variable, environ) == "grpc"
    package = f"opentelemetry.exporter.otlp.proto.{'grpc' if grpc else 'http'}.{module}"
    try:
        loaded = importlib.import_module(package)
    except ImportError:
        if not grpc:
            raise
        raise RuntimeError(
            "OTLP over gRPC needs its extra: pip install 'chatcanary[grpc]'"
        ) from None
    headers = {k: v.get_secret_value() for k, v in settings.headers.items()} or None
    endpoint = endpoint_of(settings, "" if grpc else path, grpc=grpc)
    return getattr(loaded, name)(endpoint=endpoint, headers=headers)


def span_exporter(settings: OpenTelemetry, environ: Mapping[str, str]) -> SpanExporter:
    exporter: SpanExporter = otlp_exporter(settings, "traces", environ)
    return exporter


def client_attributes(target: Target) -> dict[str, Any]:
    """The GenAI attributes every span and metric point of a target carries."""
    url = urlsplit(target.base_url)
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": PROVIDERS[target.protocol],
        "gen_ai.request.model": target.model,
        "server.address": url.hostname or "",
        "server.port": url.port or (443 if url.scheme == "https" else 80),
    }


class _RunIds(RandomIdGenerator):
    """Gives the next root span the trace id the service chose for the run (and the next
    span the span id a proxy already sent upstream in its traceparent)."""

    def __init__(self) -> None:
        self.next_trace_id: int | None = None
        self.next_span_id: int | None = None

    def generate_trace_id(self) -> int:
        chosen, self.next_trace_id = self.next_trace_id, None
        return chosen if chosen is not None else super().generate_trace_id()

    def generate_span_id(self) -> int:
        chosen, self.next_span_id = self.next_span_id, None
        return chosen if chosen is not None else super().generate_span_id()


class OTelSink:
    def __init__(
        self,
        settings: OpenTelemetry,
        exporter: SpanExporter,
        failures: Counter,
    ) -> None:
        self._settings = settings
        self._patterns = [patterns.compile(p) for p in settings.redact_patterns]  # RE2
        self._ids = _RunIds()
        self._provider = TracerProvider(resource=resource(settings), id_generator=self._ids)
        self._provider.add_span_processor(
            BatchSpanProcessor(CountingExporter(exporter, failures), max_queue_size=QUEUE_SIZE)
        )
        self._tracer = self._provider.get_tracer("chatcanary", __version__)
        self._specs: Mapping[Key, RunSpec] = {}

    def retain(self, specs: Mapping[Key, RunSpec]) -> None:
        self._specs = dict(specs)

    def shutdown(self) -> None:
        self._provider.shutdown()

    def record(self, result: ProbeResult) -> None:
        spec = self._specs.get((result.target, result.canary))
        if result.trace_id is None or spec is None:
            return
        self._ids.next_trace_id = int(result.trace_id, 16)
        end = _ns(result.started_at + result.duration_seconds)
        judged = [_ns(c.started_at + c.duration_seconds) for c in result.judge_calls]
        root_end = max([end, *judged])  # judging comes after the answers
        root = self._tracer.start_span(
            f"canary {result.canary}",
            kind=SpanKind.INTERNAL,
            start_time=_ns(result.started_at),
            attributes={
                "chatcanary.target": result.target,
                "chatcanary.canary": result.canary,
                "chatcanary.run_id": result.run_id,
                "chatcanary.outcome": str(result.outcome),
                "chatcanary.turns": len(result.turns),
            },
        )
        context = trace.set_span_in_context(root)
        evaluations: dict[int, list[dict[str, Any]]] = {}
        for call in result.judge_calls:
            evaluations.setdefault(call.turn, []).append(_evaluation(call))
            if not call.cached:
                self._judge_span(call, context)
        for number, turn in enumerate(result.turns, start=1):
            self._turn_span(spec, turn, number, context, evaluations.get(number, ()))
        if result.refusal is not None:
            verdict = result.refusal
            root.add_event(
                "gen_ai.evaluation.result",
                {
                    "gen_ai.evaluation.name": "refusal_detection",
                    "gen_ai.evaluation.score.label": "refused" if verdict.refused else "answered",
                    # the probability that the answer is a refusal
                    "gen_ai.evaluation.score.value": round(
                        verdict.confidence if verdict.refused else 1.0 - verdict.confidence, 4
                    ),
                    "gen_ai.evaluation.explanation": f"{verdict.detector}: {verdict.reason}"[:200],
                    "chatcanary.refusal.expected": result.expected,
                    "chatcanary.refusal.language": verdict.language,
                },
                timestamp=end,
            )
        by_judge = {call.check for call in result.judge_calls}  # on their turn's span
        for check in result.checks:
            if check.name in by_judge:
                continue
            root.add_event(
                "gen_ai.evaluation.result",
                {
                    "gen_ai.evaluation.name": check.name,
                    "gen_ai.evaluation.score.label": "pass" if check.passed else "fail",
                    "gen_ai.evaluation.score.value": 1.0 if check.passed else 0.0,
                    "gen_ai.evaluation.explanation": check.reason[:200],
                },
                timestamp=end,
            )
        if result.outcome is Outcome.SUCCESS:
            root.set_status(Status(StatusCode.OK))
        else:
            why = str(result.error_class) if result.error_class else ",".join(result.failed_checks)
            root.set_status(Status(StatusCode.ERROR, f"{result.outcome}: {why}"))
            if result.error_class is not None:
                root.set_attribute("error.type", str(result.error_class))
        root.end(end_time=root_end)

    def _judge_span(self, call: JudgeCall, context: Context) -> None:
        """A judge model's call: a CLIENT span beside the turns, in the GenAI conventions."""
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": PROVIDERS[Protocol(call.protocol)],
            "gen_ai.request.model": call.model,
            "server.address": call.server_address,
            "server.port": call.server_port,
            "chatcanary.judge": call.judge,
            "chatcanary.judge.rubric": call.rubric,
            "chatcanary.judge.check": call.check,
            "chatcanary.judge.verdict": call.verdict,
        }
        optional = {
            "gen_ai.response.model": call.response_model,
            "gen_ai.usage.input_tokens": call.input_tokens,
            "gen_ai.usage.output_tokens": call.output_tokens,
            "error.type": call.error_class,
        }
        attributes.update({k: v for k, v in optional.items() if v is not None})
        start = _ns(call.started_at)
        span = self._tracer.start_span(
            f"chat {call.model}",
            context=context,
            kind=SpanKind.CLIENT,
            start_time=start,
            attributes=attributes,
        )
        if call.error_class is not None:
            span.set_status(Status(StatusCode.ERROR, f"judge {call.error_class}"))
        span.end(end_time=start + _ns(call.duration_seconds))

    def record_traffic(self, record: TrafficRecord, proxy: Proxy) -> None:
        """One SERVER span `chat {model}` for a proxied chat request, a child of the
        client's span when its traceparent named one. No content, even with
        `capture_content`: real users' words stay out of traces."""
        if record.trace_id is None or record.span_id is None:
            return
        exchange = record.exchange
        url = urlsplit(proxy.upstream)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat" if record.route == "chat" else record.route,
            "gen_ai.provider.name": PROVIDERS[proxy.protocol],
            "gen_ai.request.stream": record.stream,
            "http.request.method": record.method,
            "url.path": record.path,
            "server.address": url.hostname or "",
            "server.port": url.port or (443 if url.scheme == "https" else 80),
            "chatcanary.proxy": record.proxy,
            "chatcanary.outcome": str(record.outcome),
        }
        optional = {
            "gen_ai.request.model": record.model or None,
            "gen_ai.response.id": exchange.response_id,
            "gen_ai.response.model": exchange.response_model,
            "gen_ai.usage.input_tokens": exchange.input_tokens,
            "gen_ai.usage.output_tokens": exchange.output_tokens,
            "http.response.status_code": exchange.status,
            "chatcanary.conversation_id": record.conversation_id,
        }
        attributes.update({k: v for k, v in optional.items() if v is not None})
        if exchange.finish_reason:
            attributes["gen_ai.response.finish_reasons"] = (exchange.finish_reason,)
        if record.error_class is not None:
            attributes["error.type"] = str(record.error_class)
        context = None
        if record.parent_span_id is not None:
            parent = trace.SpanContext(
                int(record.trace_id, 16),
                int(record.parent_span_id, 16),
                is_remote=True,
                trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
            )
            context = trace.set_span_in_context(trace.NonRecordingSpan(parent))
        else:
            self._ids.next_trace_id = int(record.trace_id, 16)
        self._ids.next_span_id = int(record.span_id, 16)
        start = _ns(record.started_at)
        span = self._tracer.start_span(
            f"chat {record.model}".strip(),
            context=context,
            kind=SpanKind.SERVER,
            start_time=start,
            attributes=attributes,
        )
        if exchange.ttft_seconds is not None:
            span.add_event(
                "gen_ai.first_token",
                {"gen_ai.response.time_to_first_chunk": exchange.ttft_seconds},
                timestamp=start + _ns(exchange.ttft_seconds),
            )
        if record.refusal is not None:
            span.add_event(
                "gen_ai.evaluation.result",
                {
                    "gen_ai.evaluation.name": "refusal_detection",
                    "gen_ai.evaluation.score.label": (
                        "refused" if record.refusal.refused else "answered"
                    ),
                    "gen_ai.evaluation.explanation": record.refusal.detector,
                },
                timestamp=start + _ns(exchange.duration_seconds),
            )
        if record.outcome is TrafficOutcome.ERROR:
            span.set_status(Status(StatusCode.ERROR, str(record.error_class)))
        span.end(end_time=start + _ns(exchange.duration_seconds))

    def _turn_span(
        self,
        spec: RunSpec,
        turn: Exchange,
        number: int,
        context: Context,
        evaluations: Sequence[dict[str, Any]] = (),
    ) -> None:
        target = spec.target
        attributes: dict[str, Any] = {
            **client_attributes(target),
            "gen_ai.request.max_tokens": spec.max_tokens,
            "gen_ai.request.stream": spec.stream,
            "chatcanary.turn": number,
        }
        optional = {
            "gen_ai.request.temperature": spec.temperature,
            "gen_ai.request.seed": spec.seed,
            "gen_ai.response.id": turn.response_id,
            "gen_ai.response.model": turn.response_model,
            "gen_ai.usage.input_tokens": turn.input_tokens,
            "gen_ai.usage.output_tokens": turn.output_tokens,
            "http.response.status_code": turn.status,
        }
        attributes.update({k: v for k, v in optional.items() if v is not None})
        if turn.finish_reason:
            attributes["gen_ai.response.finish_reasons"] = (turn.finish_reason,)
        if turn.error_class is not None:
            attributes["error.type"] = str(turn.error_class)
        if self._settings.capture_content:
            attributes["gen_ai.input.messages"] = self._content("user", turn.prompt)
            attributes["gen_ai.output.messages"] = self._content("assistant", turn.text)
        start = _ns(turn.started_at)
        span = self._tracer.start_span(
            f"chat {target.model}",
            context=context,
            kind=SpanKind.CLIENT,
            start_time=start,
            attributes=attributes,
        )
        if turn.ttft_seconds is not None:
            span.add_event(
                "gen_ai.first_token",
                {"gen_ai.response.time_to_first_chunk": turn.ttft_seconds},
                timestamp=start + _ns(turn.ttft_seconds),
            )
        if turn.error_class is not None:
            span.set_status(Status(StatusCode.ERROR, f"{turn.error_class}: {turn.error_detail}"))
        finish = start + _ns(turn.duration_seconds)
        for evaluation in evaluations:  # a judge's verdicts on this turn's answer
            if turn.response_id:
                evaluation = {**evaluation, "gen_ai.response.id": turn.response_id}
            span.add_event("gen_ai.evaluation.result", evaluation, timestamp=finish)
        span.end(end_time=finish)

    def _content(self, role: str, text: str) -> str:
        """One message in the conventions' JSON shape, redacted and capped.

        Only the kept part and a margin after it are redacted: a secret longer than the
        margin is all that could be cut in half, and a 1 MiB answer of matches does not
        cost seconds of substitutions."""
        limit = self._settings.max_content_chars
        if self._patterns:
            text = text[: limit + REDACT_MARGIN]
        for pattern in self._patterns:
            text = pattern.sub(REDACTED, text)
        if len(text) > limit:
            text = text[:limit] + "…[truncated]"
        return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


def _evaluation(call: JudgeCall) -> dict[str, Any]:
    """The `gen_ai.evaluation.result` attributes of a judge's verdict."""
    out: dict[str, Any] = {
        "gen_ai.evaluation.name": call.check,
        "gen_ai.evaluation.score.label": call.verdict,
        "gen_ai.evaluation.explanation": call.reason[:200],
        "chatcanary.judge": call.judge,
        "chatcanary.judge.cached": call.cached,
    }
    if call.verdict in ("pass", "fail"):
        out["gen_ai.evaluation.score.value"] = 1.0 if call.verdict == "pass" else 0.0
    if call.error_class is not None:
        out["error.type"] = call.error_class
    return out


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)
