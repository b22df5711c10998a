"""OpenAI Chat Completions (`POST {base_url}/chat/completions`) and Azure OpenAI, streaming
and not.

Also what vLLM, llama.cpp's server, LiteLLM and most gateways speak. Quirks handled:
chunks with `choices: []` or `choices: null` (usage frames, Azure's `prompt_filter_results`),
usage sent with non-empty choices, no usage at all (tokens are then counted and marked
estimated), and errors that arrive as a `data: {"error": ...}` event after HTTP 200.

Azure OpenAI is the same dialect on another address: the deployment (the configured
`model`) is in the path, `api-version` in the query, the key in an `api-key` header and no
`model` in the body. It refuses a prompt its content filter flags with HTTP 400
`code: content_filter`, which is a refusal to judge, not a failed request.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

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
    error_message,
    finish_answer,
    identity,
    json_headers,
    parse_json,
    read_json_body,
    record_tokens,
    sse_events,
)

RATELIMIT_PREFIX = "x-ratelimit"


def openai_request(spec: RunSpec, messages: Sequence[Message]) -> Request:
    target = spec.target
    return Request(
        url=target.base_url.rstrip("/") + "/chat/completions",
        headers=json_headers(target, "authorization", "Bearer "),
        body=request_body(spec, messages),
    )


def azure_request(spec: RunSpec, messages: Sequence[Message]) -> Request:
    target = spec.target
    deployment = quote(target.model, safe="")
    version = quote(target.api_version, safe="")
    body = request_body(spec, messages)
    del body["model"]  # the deployment in the path chooses the model
    return Request(
        url=f"{target.base_url.rstrip('/')}/openai/deployments/{deployment}"
        f"/chat/completions?api-version={version}",
        headers=json_headers(target, "api-key"),
        body=body,
    )


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


def filtered_prompt(status: int, raw: bytes, rec: Recorder) -> bool:
    """Take Azure's HTTP 400 `code: content_filter` as a refused prompt: the refusal text is
    the error message, so the structured refusal signal fires instead of http_4xx."""
    if status != 400:
        return False
    try:
        data = parse_json(raw.decode("utf-8", "replace"))
    except ProbeError:
        return False
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict) or error.get("code") != "content_filter":
        return False
    rec.finish_reason = "content_filter"
    # not `rec.content`: no token was generated, so there is no first token to stamp
    rec.refusal.append(as_text(error.get("message")) or "prompt filtered (content_filter)")
    return True


async def read_stream(resp: aiohttp.ClientResponse, rec: Recorder, limit: int) -> None:
    state = StreamState()
    async for now, event in sse_events(resp, rec, limit):
        if state.done:
            continue  # read to the end all the same, so the connection can be reused
        if event.data == "[DONE]":
            state.done = True
            continue
        apply_chunk(parse_json(event.data), rec, state, now)
    end_stream(rec, state, "stream ended without finish_reason or [DONE]")


def apply_chunk(data: Any, rec: Recorder, state: StreamState, now: float) -> None:
    """Fold one `chat.completion.chunk` into the recorder."""
    if not isinstance(data, dict):
        raise ProbeError(ErrorClass.MALFORMED, "stream chunk is not a JSON object")
    if "error" in data:
        raise ProbeError(
            ErrorClass.STREAM_ERROR,
            "error event in stream: " + error_message(json.dumps(data).encode()),
        )
    identity(data, rec)
    choices = data.get("choices") or []  # usage and filter frames: [] or null
    if not isinstance(choices, list):
        raise ProbeError(ErrorClass.MALFORMED, "choices is not a JSON array")
    for choice in choices:
        if not isinstance(choice, dict):
            raise ProbeError(ErrorClass.MALFORMED, "choice is not a JSON object")
        delta = choice.get("delta") or {}
        if not isinstance(delta, dict):
            raise ProbeError(ErrorClass.MALFORMED, "delta is not a JSON object")
        rec.content(as_text(delta.get("content")), as_text(delta.get("refusal")), now)
        if choice.get("finish_reason"):
            rec.finish_reason = str(choice["finish_reason"])
    _usage(data.get("usage"), rec)


async def read_json(resp: aiohttp.ClientResponse, rec: Recorder, limit: int) -> None:
    data, raw = await read_json_body(resp, limit)
    apply_response(data, raw, rec)
    finish_answer(rec)


def apply_response(data: Any, raw: bytes, rec: Recorder) -> None:
    """Fold a whole (non-streamed) `chat.completion` into the recorder; `raw` is its bytes."""
    if not isinstance(data, dict):
        raise ProbeError(ErrorClass.MALFORMED, "response is not a JSON object")
    if "error" in data:
        raise ProbeError(ErrorClass.STREAM_ERROR, "error in body: " + error_message(raw))
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ProbeError(ErrorClass.MALFORMED, "response has no choices")
    identity(data, rec)
    message = choices[0].get("message") or {}
    if not isinstance(message, dict):
        raise ProbeError(ErrorClass.MALFORMED, "choice has no message object")
    rec.content(as_text(message.get("content")), as_text(message.get("refusal")))
    if choices[0].get("finish_reason"):
        rec.finish_reason = str(choices[0]["finish_reason"])
    _usage(data.get("usage"), rec)


def _usage(usage: Any, rec: Recorder) -> None:
    if isinstance(usage, dict):
        record_tokens(rec, usage.get("prompt_tokens"), usage.get("completion_tokens"))


# `filtered_prompt` for plain OpenAI too: a gateway in front of Azure passes the 400 on.
OPENAI = Dialect(openai_request, read_stream, read_json, RATELIMIT_PREFIX, filtered_prompt)
AZURE = Dialect(azure_request, read_stream, read_json, RATELIMIT_PREFIX, filtered_prompt)
probe = OPENAI.probe
probe_azure = AZURE.probe
