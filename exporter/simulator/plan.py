"""From a chat request and a Behaviour to a response plan: what to send, and when.

Planning is pure, so the server only has to follow the plan; every random draw (fault,
jitter) happens here, from the simulator's seeded generator.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any, Final

from exporter.simulator.answers import answer_for, count_words, message_text
from exporter.simulator.behaviour import Behaviour
from exporter.simulator.judge import is_judge, judge_answer

REFUSAL_TEXT: Final = "I'm sorry, but I can't help with that."
# How many content chunks a mid-stream fault lets through before it strikes.
FEW_CHUNKS: Final = 3
# too_large content travels in chunks this big, so megabytes need not take 10 ms per word.
BULK_CHUNK_BYTES: Final = 64 * 1024
_BULK_PATTERN: Final = "bulk "


class RequestError(ValueError):
    """A request the API would reject with 400; each dialect words the error body."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True)
class ChatRequest:
    """A chat request as every dialect reads it; a system prompt is the first message."""

    model: str
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    max_tokens: int | None


def json_object(body: bytes) -> dict[str, Any]:
    """The request body decoded; raises RequestError unless it is a JSON object."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(f"We could not parse the JSON body of your request: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError("The request body must be a JSON object.")
    return data


@dataclass(frozen=True)
class Plan:
    """One response, decided before the first byte is sent."""

    fault: str | None
    pieces: tuple[str, ...]
    # When each piece is due, in seconds after the request arrived.
    offsets: tuple[float, ...]
    # When the finish chunk (or the whole non-streamed body) is due.
    finish_offset: float
    # In OpenAI's words (stop, length, content_filter); each other dialect translates it.
    finish_reason: str
    refused: bool
    # True when the pieces belong in the structured `refusal` field, not `content`.
    refusal_field: bool
    prompt_tokens: int
    completion_tokens: int

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def first_offset(self) -> float:
        """When the first token is due, or would be if the answer had any."""
        return self.offsets[0] if self.offsets else self.finish_offset


def make_plan(
    request: ChatRequest, behaviour: Behaviour, fault: str | None, rng: random.Random
) -> Plan:
    refused = _refuses(request, behaviour) and not is_judge(request.model)  # judges judge
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
        elif is_judge(request.model):
            words = judge_answer(request.messages).split()
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
