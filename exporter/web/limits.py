"""Rate limits of the web port: a token bucket (run now, feedback, reload), one bucket per
client address (password checks), and a quiet log that says a thing at most so often.

Time is injected, so tests step it instead of sleeping."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class TokenBucket:
    """`per_minute` requests a minute on average, in bursts of up to `burst` (by default
    `per_minute`)."""

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        burst: int | None = None,
    ) -> None:
        self.per_minute = per_minute
        self.burst = burst
        self._clock = clock
        self._tokens = float(per_minute if burst is None else burst)
        self._stamp = clock()

    def take(self) -> float:
        """0 when a request may go now, else the seconds until one may."""
        now = self._clock()
        rate = self.per_minute / 60.0
        top = float(self.per_minute if self.burst is None else self.burst)
        self._tokens = min(top, self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / rate


class PerClient:
    """A token bucket per client address; the `clients` most recently seen are kept, so a
    flood of addresses costs bounded memory (a forgotten one starts with a full bucket)."""

    def __init__(
        self,
        per_minute: int,
        burst: int,
        clients: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute, self.burst, self.clients = per_minute, burst, clients
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, client: str) -> float:
        bucket = self._buckets.pop(client, None)
        if bucket is None:
            bucket = TokenBucket(self.per_minute, self._clock, self.burst)
        self._buckets[client] = bucket
        while len(self._buckets) > self.clients:
            self._buckets.popitem(last=False)
        return bucket.take()


class QuietLog:
    """Logs a warning at most `per_minute` times a minute; the ones held back are counted
    and reported with the next one that goes out, so a flood cannot flood the log."""

    def __init__(
        self,
        logger: logging.Logger,
        per_minute: int = 6,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._bucket = TokenBucket(per_minute, clock)
        self.held = 0

    def warning(self, message: str, **extra: Any) -> bool:
        """True when the line was written."""
        if self._bucket.take() > 0:
            self.held += 1
            return False
        if self.held:
            extra["suppressed_since_last"] = self.held
            self.held = 0
        self._log.warning(message, extra=extra)
        return True
