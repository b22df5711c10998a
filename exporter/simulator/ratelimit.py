"""Rate-limit headroom from a rolling window per model, for each dialect's headers.

The limits are reported, never enforced: a benchmark that outruns them must measure the
simulator's timing, not surprise 429s. Scripted 429s come from the ``http_429`` fault.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final

WINDOW_SECONDS: Final = 60.0
REQUEST_LIMIT: Final = 10_000
TOKEN_LIMIT: Final = 1_000_000


@dataclass(frozen=True)
class Headroom:
    """A model's window right after one request; each dialect writes it its own way."""

    request_limit: int
    requests_remaining: int
    # Seconds until the window has earned back what was used.
    requests_reset: float
    token_limit: int
    tokens_remaining: int
    tokens_reset: float


@dataclass
class _Usage:
    events: deque[tuple[float, int]] = field(default_factory=deque)
    tokens: int = 0


class RateWindow:
    """Requests and tokens seen per model within the last ``window`` seconds."""

    def __init__(
        self,
        window: float = WINDOW_SECONDS,
        request_limit: int = REQUEST_LIMIT,
        token_limit: int = TOKEN_LIMIT,
    ) -> None:
        self._window = window
        self._request_limit = request_limit
        self._token_limit = token_limit
        self._models: dict[str, _Usage] = {}

    def record(self, model: str, tokens: int, now: float) -> Headroom:
        """Count one request and return the headroom left after it."""
        usage = self._models.setdefault(model, _Usage())
        usage.events.append((now, tokens))
        usage.tokens += tokens
        while usage.events and usage.events[0][0] <= now - self._window:
            _, old_tokens = usage.events.popleft()
            usage.tokens -= old_tokens
        used_requests = len(usage.events)
        return Headroom(
            request_limit=self._request_limit,
            requests_remaining=max(0, self._request_limit - used_requests),
            requests_reset=self._reset(used_requests, self._request_limit),
            token_limit=self._token_limit,
            tokens_remaining=max(0, self._token_limit - usage.tokens),
            tokens_reset=self._reset(usage.tokens, self._token_limit),
        )

    def clear(self) -> None:
        self._models.clear()

    def _reset(self, used: int, limit: int) -> float:
        # Providers refill continuously, so "reset" is the time to earn back what was used
        # at limit-per-window; that yields OpenAI's familiar small values such as "6ms".
        return min(used, limit) * self._window / limit


def format_duration(seconds: float) -> str:
    """Format like OpenAI's reset headers: ``12ms``, ``1s``, ``6.5s``, ``1m30s``."""
    millis = round(seconds * 1000)
    if millis < 1000:
        return f"{millis}ms"
    minutes, millis = divmod(millis, 60_000)
    secs = f"{millis / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"
