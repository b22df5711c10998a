"""OpenAI Chat Completions (`POST {base_url}/chat/completions`), streaming and not.

Also what vLLM, llama.cpp's server, LiteLLM and most gateways speak. Quirks handled:
chunks with `choices: []` or `choices: null` (usage frames), usage sent with non-empty
choices, no usage at all (tokens are then counted and marked estimated), and errors that
arrive as a `data: {"error": ...}` event after HTTP 200.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import aiohttp

from exporter.config import Message, RunSpec
from exporter.errors import ErrorClass, ProbeError
from exporter.protocols.http import (
    Recorder,
    bounded_chunks,
    error_message,
    post,
    read_all,
    require_content_type,
)
from exporter.result import Exchange
from exporter.sse import SSEDecoder, SSEError

RATELIMIT_PREFIX = "x-ratelimit"


async def probe(
    session: aiohttp.ClientSession,
    spec: RunSpec,
    messages: Sequence[Message],
    deadline: float,
) -> Exchange:
    target = spec.target
    url = target.base_url.rstrip("/") + "/chat/completions"
    headers = {"content-type": "application/json", **target.headers}
    if target.api_key is not None:
        headers["authorization"] = f"Bearer {target.api_key.get_secret_value()}"
    body = request_body(spec, messages)
    reader = read_stream if spec.stream else read_json
    return await post(session, spec, url, headers, body, deadline, reader, RATELIMIT_PREFIX)


def request_body(spec: RunSpec, messages: Sequence[Message]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": spec.target.model,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "max_tokens": spec.max_tokens,
        "stream": spec.stream,
    }
    if spec.stream:
        body["stream_options"] = {"include_usage": True}
    if spec.temperature is not None:
        body["temperature"] = spec.temperature
    if spec.seed is not None:
        body["seed"] = spec.seed
    return body


async def read_stream(resp: aiohttp.ClientResponse, rec: Recorder, limit: int) -> None:
    require_content_type(resp, "text/event-stream")
    decoder = SSEDecoder()
    state = _StreamState()
    async for chunk in bounded_chunks(resp, limit):
        now = rec.elapsed()
        try:
            events = decoder.feed(chunk)
        except SSEError as exc:
            raise ProbeError(ErrorClass.MALFORMED, str(exc)) from None
        for event in events:
            if state.done:
                break
            if event.data == "[DONE]":
                state.done = True
                break
            apply_chunk(_json(event.data), rec, state, now)
    if not state.done and rec.fields.get("finish_reason") is None:
        raise ProbeError(ErrorClass.TRUNCATED, "stream ended without finish_reason or [DONE]")
    if rec.fields.get("output_tokens") is None:
        rec.fields["output_tokens"] = rec.chunks
        rec.fields["tokens_estimated"] = True
    _require_answer(rec)


class _StreamState:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False


def apply_chunk(data: Any, rec: Recorder, state: _StreamState, now: float) -> None:
    """Fold one `chat.completion.chunk` into the recorder."""
    if not isinstance(data, dict):
        raise ProbeError(ErrorClass.MALFORMED, "stream chunk is not a JSON object")
    if "error" in data:
        raise ProbeError(
            ErrorClass.STREAM_ERROR,
            "error event in stream: " + error_message(json.dumps(data).encode()),
        )
    _identity(data, rec)
    for choice in data.get("choices") or ():
        if not isinstance(choice, dict):
            raise ProbeError(ErrorClass.MALFORMED, "choice is not a JSON object")
        delta = choice.get("delta") or {}
        rec.content(_text(delta.get("content")), _text(delta.get("refusal")), now)
        if choice.get("finish_reason"):
            rec.fields["finish_reason"] = str(choice["finish_reason"])
    _usage(data.get("usage"), rec)


async def read_json(resp: aiohttp.ClientResponse, rec: Recorder, limit: int) -> None:
    raw = await read_all(resp, limit)
    data = _json(raw.decode("utf-8", "replace"))
    if not isinstance(data, dict):
        raise ProbeError(ErrorClass.MALFORMED, "response is not a JSON object")
    if "error" in data:
        raise ProbeError(ErrorClass.STREAM_ERROR, "error in body: " + error_message(raw))
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ProbeError(ErrorClass.MALFORMED, "response has no choices")
    _identity(data, rec)
    message = choices[0].get("message") or {}
    if not isinstance(message, dict):
        raise ProbeError(ErrorClass.MALFORMED, "choice has no message object")
    rec.content(_text(message.get("content")), _text(message.get("refusal")))
    if choices[0].get("finish_reason"):
        rec.fields["finish_reason"] = str(choices[0]["finish_reason"])
    _usage(data.get("usage"), rec)
    if rec.fields.get("output_tokens") is None:
        rec.fields["output_tokens"] = math.ceil(sum(map(len, rec.text)) / 4)
        rec.fields["tokens_estimated"] = True
    _require_answer(rec)


def _identity(data: dict[str, Any], rec: Recorder) -> None:
    for key, field in (("model", "response_model"), ("id", "response_id")):
        if isinstance(data.get(key), str) and data[key]:
            rec.fields[field] = data[key]
    if isinstance(data.get("system_fingerprint"), str):
        rec.fields["system_fingerprint"] = data["system_fingerprint"]


def _usage(usage: Any, rec: Recorder) -> None:
    if not isinstance(usage, dict):
        return
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if isinstance(prompt, int):
        rec.fields["input_tokens"] = prompt
    if isinstance(completion, int):
        rec.fields["output_tokens"] = completion
        rec.fields["tokens_estimated"] = False


def _require_answer(rec: Recorder) -> None:
    if not rec.text and not rec.refusal and rec.fields.get("finish_reason") != "content_filter":
        raise ProbeError(ErrorClass.EMPTY_ANSWER, "the answer has no content")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ProbeError(ErrorClass.MALFORMED, f"invalid JSON: {exc}") from None
