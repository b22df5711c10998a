"""Anthropic Messages (`POST {base_url}/v1/messages`), streaming and not.

Streams are server-sent events, one JSON object per event: `message_start` (id, model,
input tokens), per content block `content_block_start` / `content_block_delta` /
`content_block_stop`, then `message_delta` (stop reason, cumulative output tokens) and
`message_stop`, the end marker. `ping` may come at any time and `error` may arrive after
HTTP 200 (`overloaded_error`, the stream form of HTTP 529). Only `text_delta` is answer
content: thinking and tool-input deltas neither stamp the first token nor join the text.
`stop_reason: refusal` is a refusal to judge, even with no text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp

from exporter.config import Message, RunSpec
from exporter.errors import ErrorClass, ProbeError
from exporter.protocols.http import (
    Dialect,
    Recorder,
    Request,
    StreamState,
    as_text,
    end_stream,
    finish_answer,
    identity,
    json_headers,
    parse_json,
    read_json_body,
    record_tokens,
    sse_events,
)

RATELIMIT_PREFIX = "anthropic-ratelimit"


def build_request(spec: RunSpec, messages: Sequence[Message]) -> Request:
    target = spec.target
    headers = json_headers(target, "x-api-key", **{"anthropic-version": target.anthropic_version})
    return Request(
        url=target.base_url.rstrip("/") + "/v1/messages",
        headers=headers,
        body=request_body(spec, messages),
    )


def request_body(spec: RunSpec, messages: Sequence[Message]) -> dict[str, Any]:
    """The Messages body: system prompts go to the top-level `system`, since the API
    accepts only user and assistant turns in `messages`; it has no `seed`."""
    system = [m.content for m in messages if m.role == "system"]
    body: dict[str, Any] = {
        "model": spec.target.model,
        "max_tokens": spec.max_tokens,
        "messages": [
            {"role": m.role, "content": m.content} for m in messages if m.role != "system"
        ],
        "stream": spec.stream,
    }
    if system:
        body["system"] = "\n\n".join(system)
    if spec.temperature is not None:
        body["temperature"] = spec.temperature
    return body


async def read_stream(resp: aiohttp.ClientResponse, rec: Recorder, limit: int) -> None:
    state = StreamState()
    async for now, event in sse_events(resp, rec, limit):
        if not state.done:  # read to the end all the same, so the connection can be reused
            apply_event(event.event, parse_json(event.data), rec, state, now)
    end_stream(rec, state, "stream ended without stop_reason or message_stop")


def apply_event(name: str, data: Any, rec: Recorder, state: StreamState, now: float) -> None:
    """Fold one stream event into the recorder. `name` is the SSE event name; the JSON's
    own `type` repeats it and wins. Unknown types are skipped, as Anthropic asks clients
    to do with event types it adds later."""
    if not isinstance(data, dict):
        raise ProbeError(ErrorClass.MALFORMED, f"{name} event is not a JSON object")
    kind = as_text(data.get("type")) or name
    if kind == "error":
        raise ProbeError(ErrorClass.STREAM_ERROR, "error event in stream: " + _error_text(data))
    if kind == "message_start":
        message = _object(data, "message")
        identity(message, rec)
        _usage(message.get("usage"), rec)
    elif kind == "content_block_start":
        block = _object(data, "content_block")
        if block.get("type") == "text":  # usually empty, but text may start here
            rec.content(as_text(block.get("text")), "", now)
    elif kind == "content_block_delta":
        delta = _object(data, "delta")
        if delta.get("type") == "text_delta":
            rec.content(as_text(delta.get("text")), "", now)
    elif kind == "message_delta":
        _stop_reason(_object(data, "delta"), rec)
        _usage(data.get("usage"), rec)
    elif kind == "message_stop":
        state.done = True


async def read_json(resp: aiohttp.ClientResponse, rec: Recorder, limit: int) -> None:
    data, _ = await read_json_body(resp, limit)
    apply_message(data, rec)
    finish_answer(rec)


def apply_message(data: Any, rec: Recorder) -> None:
    """Fold a whole (non-streamed) Message into the recorder."""
    if not isinstance(data, dict):
        raise ProbeError(ErrorClass.MALFORMED, "response is not a JSON object")
    if data.get("type") == "error" or "error" in data:
        raise ProbeError(ErrorClass.STREAM_ERROR, "error in body: " + _error_text(data))
    content = data.get("content")
    if not isinstance(content, list):
        raise ProbeError(ErrorClass.MALFORMED, "response has no content list")
    identity(data, rec)
    text = "".join(
        as_text(block.get("text"))
        for block in content
        if isinstance(block, dict) and block.get("type") == "text"
    )
    rec.content(text)
    _stop_reason(data, rec)
    _usage(data.get("usage"), rec)


def _stop_reason(holder: dict[str, Any], rec: Recorder) -> None:
    if stop := as_text(holder.get("stop_reason")):
        rec.finish_reason = stop


def _usage(usage: Any, rec: Recorder) -> None:
    """Record tokens; input counts the cached prompt too, as OpenTelemetry asks, since
    Anthropic reports cache reads and writes apart from `input_tokens`."""
    if not isinstance(usage, dict):
        return
    prompt = usage.get("input_tokens")
    if isinstance(prompt, int):
        for cached in ("cache_creation_input_tokens", "cache_read_input_tokens"):
            if isinstance(usage.get(cached), int):
                prompt += usage[cached]
    record_tokens(rec, prompt, usage.get("output_tokens"))


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ProbeError(ErrorClass.MALFORMED, f"{data.get('type')} event has no {key} object")
    return value


def _error_text(data: dict[str, Any]) -> str:
    """`type: message` of an Anthropic error object, e.g. `overloaded_error: Overloaded`."""
    error = data.get("error")
    if isinstance(error, dict):
        kind, message = as_text(error.get("type")), as_text(error.get("message"))
        return ": ".join(part for part in (kind, message) if part) or "unknown error"
    return as_text(error) or "unknown error"


DIALECT = Dialect(build_request, read_stream, read_json, RATELIMIT_PREFIX)
probe = DIALECT.probe
