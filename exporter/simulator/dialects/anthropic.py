"""Anthropic Messages, written from Anthropic's API reference.

    POST /v1/messages    ``x-api-key: <key>`` and a required ``anthropic-version``;
                         SSE ``event:``/``data:`` pairs, or one message object

A stream goes ``message_start``, ``content_block_start``, ``ping``, one
``content_block_delta`` per token, ``content_block_stop``, ``message_delta`` (stop reason
and cumulative output tokens), ``message_stop``. Errors, in a body or a stream, read
``{"type": "error", "error": {"type", "message"}}``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from exporter.simulator.behaviour import REJECTION_STATUS, Behaviour
from exporter.simulator.plan import ChatRequest, Plan, RequestError, json_object
from exporter.simulator.ratelimit import Headroom
from exporter.simulator.responses import (
    SSE_HEADERS,
    fault_note,
    new_id,
    retry_after,
    rfc3339,
)

# The plan's finish reasons in Anthropic's words; filtered output is a refusal here.
_STOP_REASONS: Final = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal"}
_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}
_RATE_LIMITED: Final = "This request would exceed your organization's rate limit."
_MESSAGES: Final[Mapping[str, str]] = {
    "http_429": _RATE_LIMITED,
    "http_429_no_retry_after": _RATE_LIMITED,
    "http_401": "invalid x-api-key",
    "http_400": "Invalid request.",
    "http_500": "Internal server error",
    "http_503": "Service unavailable",
    "http_529": "Overloaded",
    "prompt_filtered": "Input blocked by content filtering policy",
}
_ROLES: Final = ("user", "assistant")

# A data line cut off inside a JSON string, as a buggy proxy might forward it.
MALFORMED_EVENT: Final = (
    b"event: content_block_delta\n"
    b'data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", '
    b'"text": "\n\n'
)


def event(name: str, **fields: Any) -> bytes:
    """One server-sent event: its type on the ``event:`` line and again in the JSON."""
    payload = json.dumps({"type": name, **fields})
    return f"event: {name}\ndata: {payload}\n\n".encode()


def error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = error_body(_ERROR_TYPES[status], message)
    return web.json_response(body, status=status, headers=headers)


def parse_messages_request(version: str | None, body: bytes) -> ChatRequest:
    """Validate a ``POST /v1/messages`` request; a system prompt becomes the first message."""
    if not version:
        raise RequestError("anthropic-version: header is required", "anthropic-version")
    data = json_object(body)
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("model: Field required", "model")
    max_tokens = data.get("max_tokens")
    if max_tokens is None:
        raise RequestError("max_tokens: Field required", "max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise RequestError("max_tokens: Input should be an integer >= 1", "max_tokens")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages: at least one message is required", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise RequestError(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if not isinstance(message.get("content"), str | list):
            raise RequestError(f"messages.{i}.content: Input should be a string or a list")
    system = data.get("system")
    if not isinstance(system, str | list | None):
        raise RequestError("system: Input should be a string or a list", "system")
    stream = data.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError("stream: Input should be a valid boolean", "stream")
    temperature = data.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 <= temperature <= 1
    ):
        raise RequestError("temperature: Input should be a number from 0 to 1", "temperature")
    prompt = [{"role": "system", "content": system}] if system else []
    return ChatRequest(
        model=model,
        messages=prompt + messages,
        stream=stream,
        include_usage=True,
        max_tokens=max_tokens,
    )


class AnthropicEncoder:
    stream_headers: Mapping[str, str] = SSE_HEADERS

    def __init__(self, chat: ChatRequest, plan: Plan) -> None:
        self._model = chat.model
        self._plan = plan
        self._id = new_id("msg_")
        # A refusal "in the field" is the stop reason alone: no text at all.
        self._silent = plan.refusal_field
        self._stop_reason = "refusal" if plan.refusal_field else _STOP_REASONS[plan.finish_reason]
        self._output_tokens = 0 if plan.refusal_field else plan.completion_tokens

    def _message(
        self, content: list[dict[str, str]], stop_reason: str | None, output_tokens: int
    ) -> dict[str, Any]:
        return {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": self._plan.prompt_tokens, "output_tokens": output_tokens},
        }

    def opening(self) -> bytes:
        return b"".join(
            (
                event("message_start", message=self._message([], None, 1)),
                event("content_block_start", index=0, content_block=_text("")),
                event("ping"),
            )
        )

    def piece(self, text: str) -> bytes:
        if self._silent:
            return b""
        return event("content_block_delta", index=0, delta={"type": "text_delta", "text": text})

    def closing(self) -> bytes:
        delta = {"stop_reason": self._stop_reason, "stop_sequence": None}
        return b"".join(
            (
                event("content_block_stop", index=0),
                event("message_delta", delta=delta, usage={"output_tokens": self._output_tokens}),
                event("message_stop"),
            )
        )

    def error(self) -> bytes:
        return event("error", error=self.error_body()["error"])

    def malformed(self) -> bytes:
        return MALFORMED_EVENT

    def body(self) -> dict[str, Any]:
        text = "" if self._silent else self._plan.text
        # Anthropic sends an empty content list, not an empty text block, for no text.
        content = [_text(text)] if text else []
        return self._message(content, self._stop_reason, self._output_tokens)

    def error_body(self) -> dict[str, Any]:
        return error_body("overloaded_error", "Overloaded")


class Anthropic:
    """``POST /v1/messages``."""

    route = "/v1/messages"

    def credentials(self, api_key: str) -> tuple[str, str]:
        return "x-api-key", api_key

    def unauthorized(self) -> web.Response:
        return error_response(401, _MESSAGES["http_401"])

    def parse(self, request: web.Request, body: bytes) -> ChatRequest:
        return parse_messages_request(request.headers.get("anthropic-version"), body)

    def bad_request(self, error: RequestError) -> web.Response:
        return error_response(400, error.message)

    def rejection(self, fault: str, behaviour: Behaviour) -> web.Response:
        headers = retry_after(behaviour) if fault == "http_429" else None
        message = f"{_MESSAGES[fault]} {fault_note(fault)}"
        return error_response(REJECTION_STATUS[fault], message, headers)

    def encoder(
        self, chat: ChatRequest, plan: Plan, behaviour: Behaviour, arrived: float
    ) -> AnthropicEncoder:
        return AnthropicEncoder(chat, plan)

    def headers(self, request_id: str, elapsed: float, headroom: Headroom) -> dict[str, str]:
        now = time.time()
        return {
            "request-id": request_id,
            "anthropic-ratelimit-requests-limit": str(headroom.request_limit),
            "anthropic-ratelimit-requests-remaining": str(headroom.requests_remaining),
            "anthropic-ratelimit-requests-reset": _reset_at(now, headroom.requests_reset),
            "anthropic-ratelimit-tokens-limit": str(headroom.token_limit),
            "anthropic-ratelimit-tokens-remaining": str(headroom.tokens_remaining),
            "anthropic-ratelimit-tokens-reset": _reset_at(now, headroom.tokens_reset),
        }


def _text(text: str) -> dict[str, str]:
    return {"type": "text", "text": text}


def _reset_at(now: float, seconds: float) -> str:
    # Whole seconds, rounded up: the reset must not read as already past.
    return rfc3339(math.ceil(now + seconds))
