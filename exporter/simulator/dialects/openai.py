"""OpenAI Chat Completions, written from the public API reference.

    POST /v1/chat/completions    ``Authorization: Bearer <key>``; SSE ``data:`` chunks
                                 ending in ``data: [DONE]``, or one chat.completion

Deliberately independent of the prober's own protocol code: if both sides shared one
mistake, the tests would pass and real endpoints would still break the prober.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from exporter.simulator.behaviour import REJECTION_STATUS, Behaviour
from exporter.simulator.plan import ChatRequest, Plan, RequestError, json_object
from exporter.simulator.ratelimit import Headroom, format_duration
from exporter.simulator.responses import (
    SSE_HEADERS,
    fault_message,
    fault_note,
    new_id,
    retry_after,
)

DONE: Final = b"data: [DONE]\n\n"
MODEL_CREATED: Final = 1_700_000_000
OWNER: Final = "chatcanary-simulator"

# A data line cut off inside a JSON string, as a buggy proxy might forward it.
MALFORMED_EVENT: Final = b'data: {"id": "chatcmpl-broken", "choices": [{"delta": {"content": "\n\n'

_SERVER_ERROR: Final = "The server had an error while processing your request."
_RATE_LIMITED: Final = (
    "Rate limit reached for requests. Please try again later.",
    "requests",
    None,
    "rate_limit_exceeded",
)
_OVERLOADED: Final = (
    "The engine is currently overloaded, please try again later.",
    "server_error",
    None,
    None,
)
# fault -> (message, type, param, code) of its error object.
_REJECTIONS: Final[Mapping[str, tuple[str, str, str | None, str | None]]] = {
    "http_429": _RATE_LIMITED,
    "http_429_no_retry_after": _RATE_LIMITED,
    "http_401": ("Incorrect API key provided.", "invalid_request_error", None, "invalid_api_key"),
    "http_400": ("Invalid request.", "invalid_request_error", None, None),
    "http_500": (
        "The server had an error while processing your request.",
        "server_error",
        None,
        None,
    ),
    "http_503": _OVERLOADED,
    "http_529": _OVERLOADED,
    "prompt_filtered": (
        "Your request was rejected as a result of our safety system.",
        "invalid_request_error",
        "prompt",
        "content_filter",
    ),
}


def sse(payload: Any) -> bytes:
    """One server-sent event carrying a JSON payload."""
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def error_body(
    message: str, error_type: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The OpenAI error object, used for HTTP errors and for errors inside a stream."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def error_response(
    status: int,
    message: str,
    error_type: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = error_body(message, error_type, param=param, code=code)
    return web.json_response(body, status=status, headers=headers)


def system_fingerprint(model: str) -> str:
    """A stable fingerprint per model, like the ``fp_...`` values OpenAI returns."""
    return "fp_" + hashlib.sha256(model.encode()).hexdigest()[:10]


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def model_list(models: Iterable[str]) -> dict[str, Any]:
    """The body of ``GET /v1/models``."""
    data = [
        {"id": model, "object": "model", "created": MODEL_CREATED, "owned_by": OWNER}
        for model in models
    ]
    return {"object": "list", "data": data}


def parse_chat_request(body: bytes, model: str | None = None) -> ChatRequest:
    """Validate a chat completions body; ``model`` stands in for one the body lacks."""
    data = json_object(body)
    if model is None:
        model = data.get("model")
        if not isinstance(model, str) or not model:
            raise RequestError("you must provide a model parameter", "model")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty array.", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise RequestError(f"messages[{i}] must be an object with a 'role'.", "messages")
        if not isinstance(message.get("content"), str | list | None):
            raise RequestError(f"messages[{i}].content must be a string or array.", "messages")
    stream = data.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError("'stream' must be a boolean.", "stream")
    options = data.get("stream_options") or {}
    if not isinstance(options, dict):
        raise RequestError("'stream_options' must be an object.", "stream_options")
    return ChatRequest(
        model=model,
        messages=messages,
        stream=stream,
        include_usage=options.get("include_usage") is True,
        max_tokens=_max_tokens(data),
    )


def _max_tokens(data: Mapping[str, Any]) -> int | None:
    # max_completion_tokens is the newer name; OpenAI prefers it when both are present.
    for param in ("max_completion_tokens", "max_tokens"):
        value = data.get(param)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RequestError(f"'{param}' must be a positive integer.", param)
        return value
    return None


@dataclass(frozen=True)
class Envelope:
    """The fields every chunk or completion of one response shares."""

    id: str
    created: int
    model: str
    # With include_usage OpenAI puts "usage": null on every chunk before the usage chunk.
    include_usage: bool = False

    def _base(self, obj: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": system_fingerprint(self.model),
        }

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        out = self._base("chat.completion.chunk")
        out["choices"] = [
            {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        ]
        if self.include_usage:
            out["usage"] = None
        return out

    def usage_chunk(self, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        out = self._base("chat.completion.chunk")
        out["choices"] = []
        out["usage"] = usage(prompt_tokens, completion_tokens)
        return out

    def completion(
        self,
        *,
        content: str | None,
        refusal: str | None,
        finish_reason: str,
        prompt_tokens: int,
        completion_tokens: int,
    ) -> dict[str, Any]:
        out = self._base("chat.completion")
        out["choices"] = [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ]
        out["usage"] = usage(prompt_tokens, completion_tokens)
        return out


class OpenAIEncoder:
    """Chunks of one chat completion; Azure's encoder adds its filter annotations."""

    stream_headers: Mapping[str, str] = SSE_HEADERS

    def __init__(self, chat: ChatRequest, plan: Plan, *, include_usage: bool) -> None:
        self._plan = plan
        self._envelope = Envelope(
            id=new_id("chatcmpl-"),
            created=int(time.time()),
            model=chat.model,
            include_usage=include_usage,
        )

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return self._envelope.chunk(delta, finish_reason)

    def opening(self) -> bytes:
        # The role-only prelude goes out at once, as OpenAI does; it is not a token.
        return sse(self.chunk({"role": "assistant", "content": ""}))

    def piece(self, text: str) -> bytes:
        key = "refusal" if self._plan.refusal_field else "content"
        return sse(self.chunk({key: text}))

    def closing(self) -> bytes:
        plan = self._plan
        frames = [sse(self.chunk({}, plan.finish_reason))]
        if self._envelope.include_usage:
            usage_chunk = self._envelope.usage_chunk(plan.prompt_tokens, plan.completion_tokens)
            frames.append(sse(usage_chunk))
        frames.append(DONE)
        return b"".join(frames)

    def error(self) -> bytes:
        return sse(self.error_body())

    def malformed(self) -> bytes:
        return MALFORMED_EVENT

    def body(self) -> dict[str, Any]:
        plan = self._plan
        silent = plan.refusal_field or plan.fault == "content_filter"
        return self._envelope.completion(
            content=None if silent else plan.text,
            refusal=plan.text if plan.refusal_field else None,
            finish_reason=plan.finish_reason,
            prompt_tokens=plan.prompt_tokens,
            completion_tokens=plan.completion_tokens,
        )

    def error_body(self) -> dict[str, Any]:
        # Some gateways report upstream failures as HTTP 200 with an error body.
        return error_body(fault_message("stream_error"), "server_error")


class OpenAI:
    """``POST /v1/chat/completions``."""

    route = "/v1/chat/completions"
    encoder_class: type[OpenAIEncoder] = OpenAIEncoder

    def credentials(self, api_key: str) -> tuple[str, str]:
        return "Authorization", f"Bearer {api_key}"

    def unauthorized(self) -> web.Response:
        message, error_type, _, code = _REJECTIONS["http_401"]
        return error_response(401, message, error_type, code=code)

    def parse(self, request: web.Request, body: bytes) -> ChatRequest:
        return parse_chat_request(body)

    def bad_request(self, error: RequestError) -> web.Response:
        return error_response(400, error.message, "invalid_request_error", param=error.param)

    def rejection(self, fault: str, behaviour: Behaviour) -> web.Response:
        message, error_type, param, code = _REJECTIONS[fault]
        headers = retry_headers(behaviour) if fault == "http_429" else None
        return error_response(
            REJECTION_STATUS[fault],
            f"{message} {fault_note(fault)}",
            error_type,
            param=param,
            code=code,
            headers=headers,
        )

    def encoder(
        self, chat: ChatRequest, plan: Plan, behaviour: Behaviour, arrived: float
    ) -> OpenAIEncoder:
        include_usage = chat.include_usage and behaviour.usage
        return self.encoder_class(chat, plan, include_usage=include_usage)

    def headers(self, request_id: str, elapsed: float, headroom: Headroom) -> dict[str, str]:
        return {
            "x-request-id": request_id,
            "openai-processing-ms": str(round(elapsed * 1000)),
            "x-ratelimit-limit-requests": str(headroom.request_limit),
            "x-ratelimit-remaining-requests": str(headroom.requests_remaining),
            "x-ratelimit-reset-requests": format_duration(headroom.requests_reset),
            "x-ratelimit-limit-tokens": str(headroom.token_limit),
            "x-ratelimit-remaining-tokens": str(headroom.tokens_remaining),
            "x-ratelimit-reset-tokens": format_duration(headroom.tokens_reset),
        }


def retry_headers(behaviour: Behaviour) -> dict[str, str]:
    """OpenAI's pair: whole seconds in Retry-After, the exact value in retry-after-ms."""
    return {**retry_after(behaviour), "retry-after-ms": str(round(behaviour.retry_after * 1000))}
