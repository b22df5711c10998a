"""Scripted behaviour of one simulated model: timings, answers and fault probabilities.

A :class:`Behaviour` is immutable and validated on construction, so a bad value sent to
the admin API is rejected up front instead of failing in the middle of a request.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Final

FAULTS: Final[tuple[str, ...]] = (
    "http_429",
    "http_429_no_retry_after",
    "http_401",
    "http_400",
    "http_500",
    "http_503",
    "http_529",
    "hang_before_headers",
    "hang_mid_stream",
    "stream_error",
    "truncate",
    "malformed",
    "empty",
    "too_large",
    "content_filter",
    "prompt_filtered",
)

# Faults that turn the request away with this HTTP status before any token is spent.
REJECTION_STATUS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "http_429": 429,
        "http_429_no_retry_after": 429,
        "http_401": 401,
        "http_400": 400,
        "http_500": 500,
        "http_503": 503,
        "http_529": 529,
        "prompt_filtered": 400,
    }
)

# Faults that strike after a few chunks of a stream (or halfway through a whole body).
MID_STREAM_FAULTS: Final = frozenset({"hang_mid_stream", "stream_error", "truncate", "malformed"})

REFUSAL_STYLES: Final[tuple[str, ...]] = ("text", "field")

_SECONDS_FIELDS: Final = (
    "ttft",
    "ttft_jitter",
    "token_interval",
    "token_jitter",
    "retry_after",
    "hang_seconds",
)

# Probabilities are summed in floating point; allow for rounding when they add up to 1.
_PROBABILITY_SLACK: Final = 1e-9


@dataclass(frozen=True)
class Behaviour:
    """How a simulated model answers. All durations are in seconds.

    Each request draws at most one fault from ``faults`` (fault name -> probability), so
    the probabilities must add up to at most 1. ``usage`` governs OpenAI's optional usage
    chunk (OpenAI and Azure streams); Anthropic and Ollama always report their counts.
    """

    ttft: float = 0.05
    ttft_jitter: float = 0.0
    token_interval: float = 0.01
    token_jitter: float = 0.0
    answer: str | None = None
    answer_tokens: int = 12
    faults: Mapping[str, float] = field(default_factory=dict)
    retry_after: float = 1.0
    refusal_pattern: str | None = None
    refusal_style: str = "text"
    usage: bool = True
    hang_seconds: float = 300.0
    large_bytes: int = 4 * 1024 * 1024
    # the model name answers report (and so the fingerprint), for rehearsing a silent
    # update behind an alias; None: the requested name
    served_model: str | None = None

    def __post_init__(self) -> None:
        for name in _SECONDS_FIELDS:
            object.__setattr__(self, name, _seconds(name, getattr(self, name)))
        _check_int("answer_tokens", self.answer_tokens, minimum=0)
        _check_int("large_bytes", self.large_bytes, minimum=1)
        if self.answer is not None and not isinstance(self.answer, str):
            raise ValueError("answer: must be a string or null")
        if self.served_model is not None and (
            not isinstance(self.served_model, str) or not self.served_model
        ):
            raise ValueError("served_model: must be a non-empty string or null")
        if not isinstance(self.usage, bool):
            raise ValueError("usage: must be true or false")
        if self.refusal_style not in REFUSAL_STYLES:
            raise ValueError(f"refusal_style: must be one of {', '.join(REFUSAL_STYLES)}")
        if self.refusal_pattern is not None:
            if not isinstance(self.refusal_pattern, str):
                raise ValueError("refusal_pattern: must be a string or null")
            try:
                re.compile(self.refusal_pattern)
            except re.error as exc:
                raise ValueError(f"refusal_pattern: invalid regular expression: {exc}") from None
        # A read-only copy: the caller's dict must not be able to change a frozen Behaviour.
        object.__setattr__(self, "faults", MappingProxyType(_faults(self.faults)))

    @classmethod
    def from_dict(cls, data: Any) -> Behaviour:
        """Build a Behaviour from decoded JSON; missing keys take their defaults.

        Raises ValueError naming the offending key on unknown keys or bad values.
        """
        if not isinstance(data, Mapping):
            raise ValueError("behaviour must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            raise ValueError(
                f"unknown behaviour key(s): {', '.join(unknown)}; "
                f"known keys: {', '.join(sorted(known))}"
            )
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, accepted back by :meth:`from_dict`."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["faults"] = dict(self.faults)
        return out

    def pick_fault(self, rng: random.Random) -> str | None:
        """Draw at most one fault for a request."""
        if not self.faults:
            return None
        draw = rng.random()
        # Walk FAULTS rather than the mapping so a seed gives the same faults whatever
        # order the caller wrote them in.
        for name in FAULTS:
            probability = self.faults.get(name, 0.0)
            if draw < probability:
                return name
            draw -= probability
        return None


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value!r}")


def _faults(value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ValueError("faults: must be an object mapping fault name to probability")
    out: dict[str, float] = {}
    for name, probability in value.items():
        if name not in FAULTS:
            raise ValueError(f"faults: unknown fault {name!r}; known faults: {', '.join(FAULTS)}")
        if isinstance(probability, bool) or not isinstance(probability, int | float):
            raise ValueError(f"faults.{name}: probability must be a number, got {probability!r}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"faults.{name}: probability must be within 0..1, got {probability}")
        out[name] = float(probability)
    total = sum(out.values())
    if total > 1.0 + _PROBABILITY_SLACK:
        raise ValueError(
            f"faults: probabilities add up to {total:g}; a request draws at most one fault, "
            "so they must add up to at most 1"
        )
    return out
