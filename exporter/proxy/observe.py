"""The observer: one per forwarded request, fed copies of the bytes the proxy forwards.

It measures a chat request with the protocols' own incremental decoders (`exporter.sse`,
`exporter.ndjson`) and fold functions, the ones the canaries use, on bytes it only
watches: TTFT, inter-token gaps, duration, tokens, finish reason, model identity and the
error class of `exporter.errors`. It never writes a byte anywhere; the forwarder calls it
through `Guard`, so an exception in here stops the observing, never the forwarding.

Routes are a small closed set (chat, models, embeddings, completions, other), so they
can be labels. Content lives in memory for the request only: the record keeps it only
when the proxy captures (redacted by `exporter.proxy.capture`).
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote

from exporter.config import Protocol, Proxy
from exporter.errors import ErrorClass, ProbeError, classify_status
from exporter.ndjson import NDJSONDecoder, NDJSONError
from exporter.protocols import anthropic, ollama, openai
from exporter.protocols.http import (
    ERROR_BODY_LIMIT,
    Recorder,
    StreamState,
    end_stream,
    error_message,
    finish_answer,
    parse_json,
)
from exporter.result import Exchange, TrafficOutcome, TrafficRecord, Verdict
from exporter.runner import refusal_verdict
from exporter.sse import Event, SSEDecoder, SSEError

log = logging.getLogger(__name__)

_AZURE_CHAT = re.compile(r"/openai/deployments/([^/]+)/chat/completions\Z")
# the last path segments that name a route, per dialect family
_ROUTES: dict[str, tuple[tuple[str, str], ...]] = {
    "openai": (
        ("/chat/completions", "chat"),
        ("/embeddings", "embeddings"),
        ("/completions", "completions"),
        ("/models", "models"),
    ),
    "anthropic": (("/v1/messages", "chat"), ("/v1/models", "models")),
    "ollama": (
        ("/api/chat", "chat"),
        ("/api/embed", "embeddings"),
        ("/api/embeddings", "embeddings"),
        ("/api/generate", "completions"),
        ("/api/tags", "models"),
    ),
}
ROUTES = ("chat", "completions", "embeddings", "models", "other")


def route_of(protocol: Protocol, path: str) -> tuple[str, str | None]:
    """The route of a request path and, for Azure, the deployment the path names."""
    if protocol is Protocol.AZURE_OPENAI:
        if match := _AZURE_CHAT.search(path):
            return "chat", unquote(match[1])
        family = "openai"
    else:
        family = "openai" if protocol is Protocol.OPENAI else str(protocol)
    path = path.rstrip("/")
    for suffix, route in _ROUTES[family]:
        if path.endswith(suffix) or (route == "models" and suffix + "/" in path):
            return route, None
    return "other", None


def _openai_event(event: Event, rec: Recorder, state: StreamState, now: float) -> None:
    if event.data == "[DONE]":
        state.done = True
    else:
        openai.apply_chunk(parse_json(event.data), rec, state, now)


def _anthropic_event(event: Event, rec: Recorder, state: StreamState, now: float) -> None:
    anthropic.apply_event(event.event, parse_json(event.data), rec, state, now)


def _anthropic_body(data: Any, raw: bytes, rec: Recorder) -> None:
    anthropic.apply_message(data, rec)


def _ollama_body(data: Any, raw: bytes, rec: Recorder) -> None:
    ollama.apply_response(data, rec)


@dataclass(frozen=True)
class Dialect:
    """How to watch one dialect's answers: its stream's events and its whole body."""

    event: Callable[[Event, Recorder, StreamState, float], None] | None  # SSE dialects
    body: Callable[[Any, bytes, Recorder], None]
    unfinished: str  # why a stream that stopped early was cut
    stream_default: bool = False  # Ollama streams unless told not to


DIALECTS = {
    Protocol.OPENAI: Dialect(_openai_event, openai.apply_response, "no finish_reason or [DONE]"),
    Protocol.AZURE_OPENAI: Dialect(
        _openai_event, openai.apply_response, "no finish_reason or [DONE]"
    ),
    Protocol.ANTHROPIC: Dialect(
        _anthropic_event, _anthropic_body, "no stop_reason or message_stop"
    ),
    Protocol.OLLAMA: Dialect(None, _ollama_body, "no object with done: true", True),
}
REQUEST_LIMIT = 1 << 20  # request body bytes read for the model, stream flag and prompt


class Observer:
    """Measures one forwarded request. The forwarder calls, in order: `request_chunk` for
    each piece of the request body, `response` at the upstream's head, `chunk` for each
    piece of its body, then `finish` once."""

    def __init__(
        self,
        proxy: Proxy,
        method: str,
        path: str,
        headers: Mapping[str, str],
        sample: Callable[[], float] = random.random,
    ) -> None:
        self.proxy = proxy
        self.started_at = time.time()
        self.rec = Recorder(streamed=False)
        self.method = method
        self.path = path
        self.route, self.model = route_of(proxy.protocol, path)
        self.chat = self.route == "chat" and method == "POST"
        self.dialect = DIALECTS[proxy.protocol]
        self.tenant = None if proxy.tenant_header is None else headers.get(proxy.tenant_header)
        self.sample = sample
        given = (
            None if proxy.conversation_header is None else headers.get(proxy.conversation_header)
        )
        self.conversation_id = given[:200] if given else None
        self.generated_conversation = False  # set by the proxy, which returns it
        self.body = bytearray()
        self.prompt = ""
        self.stream = False
        self.status: int | None = None
        self.error: ProbeError | None = None
        self._sse: SSEDecoder | None = None
        self._ndjson: NDJSONDecoder | None = None
        self._state = StreamState()
        self._json = bytearray()
        self._over = False  # the body outgrew what the observer reads; forwarding goes on
        self._inflate: Any = None  # a zlib decompressor for a gzip or deflate body
        self.received = 0

    # --- the request ---------------------------------------------------------------------

    def request_chunk(self, data: bytes) -> None:
        if self.chat and len(self.body) < REQUEST_LIMIT:
            self.body += data[: REQUEST_LIMIT - len(self.body)]

    def request_done(self) -> None:
        """Read the model, the stream flag and the prompt from a chat request's JSON."""
        self.stream = self.dialect.stream_default
        if not self.chat:
            return
        try:
            data = json.loads(self.body.decode("utf-8"))
        except (ValueError, RecursionError):
            return  # the upstream will say what it thinks of it
        if not isinstance(data, dict):
            return
        if self.model is None and isinstance(data.get("model"), str):
            self.model = data["model"]
        stream = data.get("stream", self.stream)
        self.stream = stream if isinstance(stream, bool) else self.stream
        self.prompt = _prompt(data)
        self.rec.prompt_chars = len(self.prompt)

    # --- the response --------------------------------------------------------------------

    def response(
        self, status: int, content_type: str, encoding: str = "", at: float | None = None
    ) -> None:
        """The answer's head; `at` is when it came (`time.perf_counter()`), now if None."""
        self.status = self.rec.status = status
        if encoding.strip().lower() in ("gzip", "x-gzip", "deflate"):
            # the client gets the compressed bytes; the observer reads them inflated
            self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)
        self.rec.headers_seconds = self._since(at)
        if not self.chat or status >= 300:
            return
        if self.dialect.event is not None and content_type == "text/event-stream":
            self._sse = SSEDecoder()
        elif self.dialect.event is None and self.stream:
            self._ndjson = NDJSONDecoder()
        self.rec.streamed = self._sse is not None or self._ndjson is not None

    def chunk(self, data: bytes, at: float | None = None) -> None:
        """Bytes of the answer's body, as they came at `at` (now if None)."""
        self.received += 0 if self._inflate is not None else len(data)
        if self.error is not None or self._over or not self.chat or self.status is None:
            return
        if self.status >= 400:
            room = ERROR_BODY_LIMIT - len(self.rec.error_body)
            self.rec.error_body += data[: max(room, 0)]
            return
        if self._inflate is not None:
            try:
                # bounded: a small body that inflates without end (a bomb) stops here
                data = self._inflate.decompress(data, self.proxy.max_observed_bytes)
            except zlib.error as exc:
                self.error = ProbeError(ErrorClass.MALFORMED, f"cannot inflate the body: {exc}")
                return
            if self._inflate.unconsumed_tail:
                self._over = True
            self.received += len(data)
        if self.received > self.proxy.max_observed_bytes:
            self._over = True
            return
        now = self._since(at)
        try:
            if self._sse is not None:
                try:
                    events = self._sse.feed(data)
                except SSEError as exc:
                    self._events(exc.events, now)  # what came before the bad line counts
                    raise
                self._events(events, now)
            elif self._ndjson is not None:
                try:
                    values = self._ndjson.feed(data)
                except NDJSONError as exc:
                    self._values(exc.values, now)
                    raise
                self._values(values, now)
            else:
                self._json += data
        except (SSEError, NDJSONError) as exc:
            self.error = ProbeError(ErrorClass.MALFORMED, str(exc))
        except ProbeError as exc:
            self.error = exc

    def _events(self, events: list[Event], now: float) -> None:
        for event in events:
            if not self._state.done:
                self.dialect.event(event, self.rec, self._state, now)  # type: ignore[misc]

    def _values(self, values: list[Any], now: float) -> None:
        for value in values:
            if not self._state.done:
                ollama.apply_object(value, self.rec, self._state, now)

    def finish(
        self, failure: ProbeError | None = None, cancelled: bool = False, at: float | None = None
    ) -> TrafficRecord:
        """The record of the exchange: `failure` is what the forwarder met on the network
        (the upstream unreachable, its body cut); `cancelled`, the client went away; `at`,
        when it ended (now if None)."""
        ended = self._since(at)
        error = failure or self.error
        if error is None and not cancelled:
            error = self._judge(ended)
        exchange = self.rec.build(
            None if error is None else error.error_class,
            "" if error is None else error.detail,
            ended,
        )
        refusal: Verdict | None = None
        answered = self.status is not None and (
            self.status < 300 or exchange.finish_reason == "content_filter"
        )
        if self.chat and error is None and not cancelled and answered:
            refusal = refusal_verdict(exchange) if self.sample() < self.proxy.sample_ratio else None
        outcome = (
            TrafficOutcome.CANCELLED
            if cancelled
            else TrafficOutcome.SUCCESS
            if error is None
            else TrafficOutcome.ERROR
        )
        return TrafficRecord(
            exchange_id=uuid.uuid4().hex[:16],
            proxy=self.proxy.name,
            route=self.route,
            method=self.method,
            path=self.path,
            model=self.model or "",
            tenant=self.tenant,
            stream=self.rec.streamed,
            started_at=self.started_at,
            outcome=outcome,
            # content only in memory: `capture` puts back what may be kept, redacted
            exchange=replace(exchange, prompt=self.prompt, started_at=self.started_at),
            refusal=refusal,
            conversation_id=self.conversation_id,
        )

    def _since(self, at: float | None) -> float:
        """Seconds from the request's start to `at` (a `perf_counter()`), or to now."""
        return (time.perf_counter() if at is None else at) - self.rec.started

    def _judge(self, ended: float) -> ProbeError | None:
        """The error class of an answer that arrived whole, as the canaries judge one."""
        status = self.status
        if status is None:
            return None
        try:
            if status >= 400:
                self._status_error(status)
            elif self.chat and status < 300 and not self._over:
                if self.rec.streamed:
                    if self._ndjson is not None:
                        self._values(self._ndjson.close(), ended)
                    end_stream(
                        self.rec, self._state, f"stream ended with {self.dialect.unfinished}"
                    )
                else:
                    raw = bytes(self._json)
                    self.dialect.body(parse_json(raw.decode("utf-8", "replace")), raw, self.rec)
                    finish_answer(self.rec)
        except NDJSONError as exc:
            return ProbeError(ErrorClass.TRUNCATED, f"stream cut inside a line: {exc}")
        except ProbeError as exc:
            return exc
        return None

    def _status_error(self, status: int) -> None:
        raw = bytes(self.rec.error_body)
        if self.chat and openai.filtered_prompt(status, raw, self.rec):
            return  # Azure's filtered prompt: a refusal, not a failed request
        error = classify_status(status)
        if error is not None:
            raise ProbeError(error, f"HTTP {status}: {error_message(raw)}")


def _prompt(data: Mapping[str, Any]) -> str:
    """The text of a chat request's messages (and Anthropic's `system`), one per line."""
    parts: list[str] = []
    system = data.get("system")
    if isinstance(system, str):
        parts.append(system)
    messages = data.get("messages")
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):  # content blocks: their text parts
            parts += [
                block["text"]
                for block in content
                if isinstance(block, dict) and isinstance(block.get("text"), str)
            ]
    return "\n".join(parts)


def blank(record: TrafficRecord) -> TrafficRecord:
    """The record without content or error detail (which may echo the prompt)."""
    exchange: Exchange = replace(record.exchange, prompt="", text="", refusal="", error_detail="")
    return replace(record, exchange=exchange)
