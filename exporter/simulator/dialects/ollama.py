"""Ollama's native chat API, written from its API documentation (``docs/api.md``).

    POST /api/chat    streams unless ``"stream": false``; NDJSON, one object per token,
                      then a ``done: true`` object with counts and nanosecond durations
    GET  /api/tags    the named models of the behaviour table

Ollama has no authentication of its own. With an API key set, the simulator asks for
``Authorization: Bearer <key>``, as ollama.com and the proxies put in front of Ollama do.
Errors are ``{"error": "message"}``, as an HTTP body or as a line of a stream. Ollama
has no refusal field and no content filter: a refusal is always text, and filtered
output is an empty answer that stopped normally.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

from aiohttp import web

from exporter.simulator.behaviour import REJECTION_STATUS, Behaviour
from exporter.simulator.plan import ChatRequest, Plan, RequestError, json_object
from exporter.simulator.ratelimit import Headroom
from exporter.simulator.responses import fault_message, fault_note, retry_after, rfc3339

NDJSON_HEADERS: Final = {"Content-Type": "application/x-ndjson"}
# The simulated model is always resident, so loading it takes next to nothing.
LOAD_SECONDS: Final = 0.001
MODIFIED_AT: Final = 1_700_000_000
MODEL_SIZE: Final = 1_321_098_329

_DONE_REASONS: Final = {"stop": "stop", "length": "length", "content_filter": "stop"}
_BUSY: Final = "server busy, please try again.  maximum pending requests exceeded"
_RATE_LIMITED: Final = "rate limit exceeded, please try again later"
_MESSAGES: Final[Mapping[str, str]] = {
    "http_429": _RATE_LIMITED,
    "http_429_no_retry_after": _RATE_LIMITED,
    "http_401": "unauthorized",
    "http_400": "invalid request",
    "http_500": "an error was encountered while running the model",
    "http_503": _BUSY,
    "http_529": _BUSY,
    "prompt_filtered": "prompt blocked by content policy",
}

# A line cut off inside a JSON string, as a buggy proxy might forward it.
MALFORMED_LINE: Final = b'{"model": "broken", "message": {"role": "assistant", "content": "\n'

_JSON_KINDS: Final = ((bool, "bool"), (str, "string"), (int | float, "number"), (list, "array"))


def line(payload: Any) -> bytes:
    return json.dumps(payload).encode() + b"\n"


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def nanoseconds(seconds: float) -> int:
    return round(seconds * 1e9)


def tags(models: Iterable[str]) -> dict[str, Any]:
    """The body of ``GET /api/tags``."""
    details = {
        "parent_model": "",
        "format": "gguf",
        "family": "simulated",
        "families": ["simulated"],
        "parameter_size": "1.2B",
        "quantization_level": "Q4_K_M",
    }
    return {
        "models": [
            {
                "name": model,
                "model": model,
                "modified_at": rfc3339(MODIFIED_AT),
                "size": MODEL_SIZE,
                "digest": hashlib.sha256(model.encode()).hexdigest(),
                "details": details,
            }
            for model in models
        ]
    }


def parse_chat(body: bytes) -> ChatRequest:
    """Validate a ``POST /api/chat`` body; errors are worded like Go's JSON decoder."""
    data = json_object(body)
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("model is required", "model")
    messages = _typed(data, "messages", list, "ChatRequest.messages", "[]api.Message") or []
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise RequestError("invalid message: every message needs a role", "messages")
        _typed(message, "content", str, "Message.content", "string")
    stream = _typed(data, "stream", bool, "ChatRequest.stream", "bool")
    options = _typed(data, "options", dict, "ChatRequest.options", "map[string]interface {}")
    options = options or {}
    num_predict = _typed(options, "num_predict", int, "Options.num_predict", "int")
    _typed(options, "temperature", int | float, "Options.temperature", "float32")
    _typed(options, "seed", int, "Options.seed", "int")
    return ChatRequest(
        model=model,
        messages=messages,
        stream=stream is not False,  # Ollama streams unless told not to
        include_usage=True,
        # -1 (the default) means no limit, -2 "until the context is full".
        max_tokens=num_predict if num_predict is not None and num_predict >= 0 else None,
    )


def _typed(data: Mapping[str, Any], key: str, kind: Any, field: str, go_type: str) -> Any:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool):
        return value
    got = next((name for cls, name in _JSON_KINDS if isinstance(value, cls)), "object")
    raise RequestError(
        f"json: cannot unmarshal {got} into Go struct field {field} of type {go_type}", key
    )


class OllamaEncoder:
    stream_headers: Mapping[str, str] = NDJSON_HEADERS

    def __init__(self, chat: ChatRequest, plan: Plan, arrived: float) -> None:
        self._model = chat.model
        self._plan = plan
        self._arrived = arrived

    def _object(self, content: str, done: bool) -> dict[str, Any]:
        return {
            "model": self._model,
            "created_at": rfc3339(time.time(), precise=True),
            "message": {"role": "assistant", "content": content},
            "done": done,
        }

    def _final(self, content: str) -> dict[str, Any]:
        """The ``done`` object: counts, and durations that follow the script.

        The first token comes out of prompt evaluation, so prompt_eval_duration runs up
        to it and eval_duration covers the gaps after it (llama.cpp counts the same way);
        total_duration is measured, so it also holds hangs and scheduling delays.
        """
        plan = self._plan
        first = plan.first_offset
        load = min(LOAD_SECONDS, first)
        elapsed = asyncio.get_running_loop().time() - self._arrived
        return {
            **self._object(content, True),
            "done_reason": _DONE_REASONS[plan.finish_reason],
            "total_duration": nanoseconds(elapsed),
            "load_duration": nanoseconds(load),
            "prompt_eval_count": plan.prompt_tokens,
            "prompt_eval_duration": nanoseconds(first - load),
            "eval_count": plan.completion_tokens,
            "eval_duration": nanoseconds(plan.finish_offset - first),
        }

    def opening(self) -> bytes:
        return b""

    def piece(self, text: str) -> bytes:
        return line(self._object(text, False))

    def closing(self) -> bytes:
        return line(self._final(""))

    def error(self) -> bytes:
        return line(self.error_body())

    def malformed(self) -> bytes:
        return MALFORMED_LINE

    def body(self) -> dict[str, Any]:
        return self._final(self._plan.text)

    def error_body(self) -> dict[str, Any]:
        return {"error": fault_message("stream_error")}


class Ollama:
    """``POST /api/chat``."""

    route = "/api/chat"

    def credentials(self, api_key: str) -> tuple[str, str]:
        return "Authorization", f"Bearer {api_key}"

    def unauthorized(self) -> web.Response:
        return error_response(401, _MESSAGES["http_401"])

    def parse(self, request: web.Request, body: bytes) -> ChatRequest:
        return parse_chat(body)

    def bad_request(self, error: RequestError) -> web.Response:
        return error_response(400, error.message)

    def rejection(self, fault: str, behaviour: Behaviour) -> web.Response:
        headers = retry_after(behaviour) if fault == "http_429" else None
        message = f"{_MESSAGES[fault]} {fault_note(fault)}"
        return error_response(REJECTION_STATUS[fault], message, headers)

    def encoder(
        self, chat: ChatRequest, plan: Plan, behaviour: Behaviour, arrived: float
    ) -> OllamaEncoder:
        return OllamaEncoder(chat, plan, arrived)

    def headers(self, request_id: str, elapsed: float, headroom: Headroom) -> dict[str, str]:
        return {}  # Ollama sends neither request ids nor rate limits
