"""A token bucket: how the state-changing endpoints (run now, feedback) are rate limited.

Time is injected, so tests step it instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """`per_minute` requests a minute on average, in bursts of up to `per_minute`."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._tokens = float(per_minute)
        self._stamp = clock()

    def take(self) -> float:
        """0 when a request may go now, else the seconds until one may."""
        now = self._clock()
        rate = self.per_minute / 60.0
        self._tokens = min(float(self.per_minute), self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / rate
