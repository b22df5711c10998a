"""Content capture: with a proxy's `capture: true`, sampled chat exchanges are redacted,
capped and kept in the store under their conversation id, so feedback can name them.

Nothing is kept by default. What is kept: the request's message texts and the answer's
text, after the proxy's `redact_patterns` and the built-in credential patterns, each cut
at `max_capture_chars`; never a header. Writes are queued (bounded) and batched off the
request path; a full queue or a store that is down drops exchanges, counted and logged.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING

from exporter import patterns
from exporter.config import Proxy
from exporter.redaction import REDACTED
from exporter.result import TrafficRecord

if TYPE_CHECKING:
    from exporter.store import Store

log = logging.getLogger(__name__)

# credentials a user may paste into a prompt: API keys and bearer tokens of the common
# shapes, and private key blocks
CREDENTIALS = (
    r"\bsk-[A-Za-z0-9_-]{16,}",
    r"\bsk-ant-[A-Za-z0-9_-]{16,}",
    r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*",
    r"\bAKIA[0-9A-Z]{16}\b",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
)
QUEUE = 10_000
BATCH = 200


@lru_cache(maxsize=64)
def _patterns(extra: tuple[str, ...]) -> tuple[patterns.Pattern, ...]:
    """RE2, so that no text a user sends makes a pattern slow (the private-key block's
    lazy scan was quadratic with Python's engine)."""
    return tuple(patterns.compile(p) for p in (*CREDENTIALS, *extra))


def redact(text: str, extra: Sequence[str], limit: int) -> str:
    """`text` with every match replaced, then cut at `limit` characters."""
    for pattern in _patterns(tuple(extra)):
        text = pattern.sub(REDACTED, text)
    return text if len(text) <= limit else text[:limit] + "…[truncated]"


class Capture:
    """Keeps the exchanges a capturing proxy samples, through one writer task."""

    def __init__(self, store: Store, sample: Callable[[], float] = random.random) -> None:
        self.store = store
        self.sample = sample
        self.queue: deque[TrafficRecord] = deque()
        self.dropped = 0
        self.written = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def keep(self, record: TrafficRecord, proxy: Proxy) -> bool:
        """Queue the record's redacted content when the proxy captures it; True if so."""
        if not proxy.capture or record.route != "chat":
            return False
        if self.sample() >= proxy.capture_ratio:
            return False
        if len(self.queue) >= QUEUE:
            self.dropped += 1
            return False
        limit, extra = proxy.max_capture_chars, proxy.redact_patterns
        exchange = replace(
            record.exchange,
            prompt=redact(record.exchange.prompt, extra, limit),
            text=redact(record.exchange.text, extra, limit),
        )
        self.queue.append(replace(record, exchange=exchange, captured=True))
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._write(), name="traffic capture")
        return True

    async def flush(self) -> None:
        """Write what is queued now (tests, and the grace at shutdown)."""
        while self.queue:
            await self._write_some()

    async def close(self, grace: float = 5.0) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            async with asyncio.timeout(grace):
                await self.flush()
        except Exception as exc:  # the store is down or slow: what is left is lost
            log.warning("captured exchanges not written", extra={"error": str(exc)})
        self.dropped += len(self.queue)
        self.queue.clear()

    async def _write(self) -> None:
        from exporter.store import StoreError

        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except StoreError as exc:
                self.dropped += len(self.queue)
                self.queue.clear()
                log.warning("captured exchanges dropped", extra={"error": str(exc)})

    async def _write_some(self) -> None:
        batch = [self.queue[i] for i in range(min(BATCH, len(self.queue)))]
        await self.store.add_traffic(batch)
        for _ in batch:
            self.queue.popleft()
        self.written += len(batch)
