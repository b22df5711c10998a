"""Ollama's native chat API (`POST {base_url}/api/chat`), streaming and not.

Streams are newline-delimited JSON: objects `{model, created_at, message: {role, content},
done: false}`, then one with `done: true`, `done_reason`, the token counts
(`prompt_eval_count`, `eval_count`) and what the server spent by phase, in nanoseconds,
which becomes `server_timings` in seconds. An object with `error` may arrive after
HTTP 200. Only `message.content` is answer content: a thinking model's
`message.thinking` neither stamps the first token nor joins the text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import aiohttp

from exporter.config import Message, RunSpec
from exporter.errors import ErrorClass, ProbeError
from exporter.ndjson import NDJSONDecoder, NDJSONError
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
    read_json_body,
    record_tokens,
    require_content_type,
    timed_chunks,
)

# Ollama sends no rate-limit headers; a proxy in front of it may, in OpenAI's names
RATELIMIT_PREFIX = "x-ratelimit"
# the done object's durations (nanoseconds) → `server_timings` keys (seconds)
TIMINGS = {
    "total_duration": "total",
    "load_duration": "load",
    "prompt_eval_duration": "prompt_eval",
    "eval_duration": "eval",
}


def build_request(spec: RunSpec, messages: Sequence[Message]) -> Request:
    target = spec.target
    # Ollama itself has no auth; the key is for a proxy in front of it (Open WebUI, ...)
    headers = json_headers(target, "authorization", "Bearer ")
    return Request(
        url=target.base_url.rstrip("/") + "/api/chat",
        headers=headers,
        body=request_body(spec, messages),
    )


def request_body(spec: RunSpec, messages: Sequence[Message]) -> dict[str, Any]:
    options: dict[str, Any] = {"num_predict": spec.max_tokens}
    if spec.temperature is not None:
        options["temperature"] = spec.temperature
    if spec.seed is not None:
        options["seed"] = spec.seed
    return {
        "model": spec.target.model,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "stream": spec.stream,
        "options": options,
    }


async def read_stream(resp: aiohttp.ClientResponse, rec: Recorder, limit: int) -> None:
    # Ollama says application/x-ndjson; some proxies relabel it application/json
    require_content_type(resp, "application/x-ndjson", "application/json")
    decoder = NDJSONDecoder()
    state = StreamState()

    def fold(objects: list[Any], now: float) -> None:
        for data in objects:
            if not state.done:  # read to the end all the same, so the connection is reusable
                apply_object(data, rec, state, now)

    now = rec.elapsed()
    async for now, piece in timed_chunks(resp, rec, limit):
        try:
            objects = decoder.feed(piece)
        except NDJSONError as exc:
            fold(exc.values, now)  # what came before the bad line counts
            raise ProbeError(ErrorClass.MALFORMED, str(exc)) from None
        fold(objects, now)
    # The end of the body also ends a last line sent without its newline (a proxy that
    # relabels a whole JSON answer, a server that does not end its last line); a last
    # line that does not parse was cut short.
    cut = ""
    try:
        objects = decoder.close()
    except NDJSONError:
        objects, cut = [], " (cut inside a line)"
    fold(objects, now)
    # `done_reason` comes only with `done: true`, so no finish reason means no end either
    end_stream(rec, state, f"stream ended without an object with done: true{cut}")


def apply_object(data: Any, rec: Recorder, state: StreamState, now: float) -> None:
    """Fold one streamed object into the recorder; the one with `done: true` ends it."""
    if not isinstance(data, dict):
        raise ProbeError(ErrorClass.MALFORMED, "stream line is not a JSON object")
    if "error" in data:
        raise ProbeError(ErrorClass.STREAM_ERROR, "error in stream: " + _error_text(data))
    identity(data, rec)
    message = data.get("message")
    if isinstance(message, dict):
        rec.content(as_text(message.get("content")), "", now)
    if data.get("done") is True:
        _final(data, rec)
        state.done = True


async def read_json(resp: aiohttp.ClientResponse, rec: Recorder, limit: int) -> None:
    data, _ = await read_json_body(resp, limit)
    apply_response(data, rec)
    finish_answer(rec)


def apply_response(data: Any, rec: Recorder) -> None:
    """Fold a whole (non-streamed) response, one object with `done: true`."""
    if not isinstance(data, dict):
        raise ProbeError(ErrorClass.MALFORMED, "response is not a JSON object")
    if "error" in data:
        raise ProbeError(ErrorClass.STREAM_ERROR, "error in body: " + _error_text(data))
    message = data.get("message")
    if not isinstance(message, dict):
        raise ProbeError(ErrorClass.MALFORMED, "response has no message object")
    identity(data, rec)
    rec.content(as_text(message.get("content")))
    _final(data, rec)


def _final(data: dict[str, Any], rec: Recorder) -> None:
    if reason := as_text(data.get("done_reason")):
        rec.finish_reason = reason
    record_tokens(rec, data.get("prompt_eval_count"), data.get("eval_count"))
    rec.server_timings = server_timings(data)


def server_timings(data: dict[str, Any]) -> dict[str, float]:
    """The phase durations present in `data`, from nanoseconds to seconds."""
    timings = {name: _seconds(data.get(key)) for key, name in TIMINGS.items()}
    return {name: seconds for name, seconds in timings.items() if seconds is not None}


def _seconds(nanoseconds: Any) -> float | None:
    if isinstance(nanoseconds, bool) or not isinstance(nanoseconds, int | float):
        return None
    try:
        seconds = nanoseconds / 1e9
    except OverflowError:  # JSON integers have no bound; a float does
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _error_text(data: dict[str, Any]) -> str:
    error = data["error"]
    if isinstance(error, dict):  # an OpenAI-style object from a proxy in front of Ollama
        return as_text(error.get("message")) or "unknown error"
    return as_text(error) or str(error) or "unknown error"


DIALECT = Dialect(build_request, read_stream, read_json, RATELIMIT_PREFIX)
probe = DIALECT.probe
