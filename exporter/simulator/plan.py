"""From a chat request and a Behaviour to a response plan: what to send, and when.

Planning is pure, so the server only has to follow the plan; every random draw (fault,
jitter) happens here, from the simulator's seeded generator.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from exporter.simulator.answers import answer_for, count_words, message_text
from exporter.simulator.behaviour import Behaviour

REFUSAL_TEXT: Final = "I'm sorry, but I can't help with that."
# How many content chunks a mid-stream fault lets through before it strikes.
FEW_CHUNKS: Final = 3
# too_large content travels in chunks this big, so megabytes need not take 10 ms per word.
BULK_CHUNK_BYTES: Final = 64 * 1024
_BULK_PATTERN: Final = "bulk "


class RequestError(ValueError):
    """A request the OpenAI API would reject with 400 invalid_request_error."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    max_tokens: int | None


def parse_chat_request(body: bytes) -> ChatRequest:
    """Validate a ``POST /v1/chat/completions`` body; raises RequestError."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(f"We could not parse the JSON body of your request: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError("The request body must be a JSON object.")
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
class Plan:
    """One response, decided before the first byte is sent."""

    fault: str | None
    pieces: tuple[str, ...]
    # When each piece is due, in seconds after the request arrived.
    offsets: tuple[float, ...]
    # When the finish chunk (or the whole non-streamed body) is due.
    finish_offset: float
    finish_reason: str
    refused: bool
    # True when the pieces belong in the structured `refusal` field, not `content`.
    refusal_field: bool
    prompt_tokens: int
    completion_tokens: int

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def make_plan(
    request: ChatRequest, behaviour: Behaviour, fault: str | None, rng: random.Random
) -> Plan:
    refused = _refuses(request, behaviour)
    finish_reason = "stop"
    if fault == "too_large":
        pieces, completion_tokens = _bulk(behaviour.large_bytes)
    else:
        if fault in ("empty", "content_filter"):
            words: list[str] = []
        elif refused:
            words = REFUSAL_TEXT.split()
        elif behaviour.answer is not None:
            words = behaviour.answer.split()
        else:
            words = answer_for(request.messages, filler_tokens=behaviour.answer_tokens).split()
        if request.max_tokens is not None and len(words) > request.max_tokens:
            words = words[: request.max_tokens]
            finish_reason = "length"
        pieces = tuple(word if i == 0 else " " + word for i, word in enumerate(words))
        completion_tokens = len(pieces)
    if fault == "content_filter":
        finish_reason = "content_filter"
    first, offsets = _schedule(len(pieces), behaviour, rng)
    return Plan(
        fault=fault,
        pieces=pieces,
        offsets=offsets,
        finish_offset=offsets[-1] if offsets else first,
        finish_reason=finish_reason,
        refused=refused,
        refusal_field=refused and behaviour.refusal_style == "field",
        prompt_tokens=count_words(request.messages),
        completion_tokens=completion_tokens,
    )


def _refuses(request: ChatRequest, behaviour: Behaviour) -> bool:
    if behaviour.refusal_pattern is None:
        return False
    users = [m for m in request.messages if m.get("role") == "user"]
    last = message_text(users[-1].get("content")) if users else ""
    return re.search(behaviour.refusal_pattern, last) is not None


def _bulk(size: int) -> tuple[tuple[str, ...], int]:
    text = (_BULK_PATTERN * (size // len(_BULK_PATTERN) + 1))[:size]
    pieces = tuple(text[i : i + BULK_CHUNK_BYTES] for i in range(0, size, BULK_CHUNK_BYTES))
    return pieces, len(text.split())


def _schedule(
    count: int, behaviour: Behaviour, rng: random.Random
) -> tuple[float, tuple[float, ...]]:
    """First-token time and the due time of every piece.

    Due times are absolute (relative to the request's arrival), so a late wake-up never
    delays the chunks after it.
    """
    first = _jittered(behaviour.ttft, behaviour.ttft_jitter, rng)
    offsets = [first] if count else []
    for _ in range(count - 1):
        offsets.append(
            offsets[-1] + _jittered(behaviour.token_interval, behaviour.token_jitter, rng)
        )
    return first, tuple(offsets)


def _jittered(value: float, jitter: float, rng: random.Random) -> float:
    # No draw without jitter: unjittered models then leave the seeded sequence alone.
    if jitter == 0:
        return value
    return max(0.0, value + rng.uniform(-jitter, jitter))
