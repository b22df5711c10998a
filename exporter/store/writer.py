"""The write path of runs: a bounded queue the scheduler's loop puts into without waiting,
and a task that writes batches, one transaction each.

While the store is down the queue holds what has not been written, and the writer retries
with backoff; past `queue` runs the newest are dropped and counted. A batch the database
rejects for its content (not for being down) is counted as failed and skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import Insert, Table, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.result import ProbeResult
from exporter.sinks.prometheus import label
from exporter.store import rows
from exporter.store.errors import StoreError, Unavailable
from exporter.store.metrics import StoreMetrics
from exporter.store.schema import model_changes, run_content, runs

log = logging.getLogger(__name__)

Identity = tuple[str, str]
BACKOFF = (0.5, 10.0)  # first and longest wait between retries, seconds
# what the database answers to content it will not take (not to being down)
REJECTED = (sa_exc.IntegrityError, sa_exc.DataError, sa_exc.ProgrammingError, ValueError)


async def quietly_close(conn: AsyncConnection) -> None:
    """Close, and say nothing when the connection is already dead."""
    try:
        await conn.close()
    except Exception:
        log.debug("store connection closed uncleanly", exc_info=True)


def insert_ignoring_duplicates(conn: AsyncConnection, table: Table) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING: a batch retried after a commit whose answer was
    lost writes nothing twice."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


class Writer:
    def __init__(
        self, metrics: StoreMetrics, shard: str, queue: int, batch: int, text_chars: int
    ) -> None:
        self.metrics = metrics
        self.shard = shard
        self.limit, self.batch, self.text_chars = queue, batch, text_chars
        self._queue: deque[ProbeResult] = deque()
        self._wake = asyncio.Event()
        self._identity: dict[str, Identity] = {}  # per target, as last written
        self._writing = asyncio.Lock()  # the task and a closing flush take turns

    def put(self, result: ProbeResult) -> None:
        """Never waits: a full queue drops the run (counted)."""
        if len(self._queue) >= self.limit:
            self.metrics.writes.labels("dropped").inc()
            return
        self._queue.append(result)
        self.metrics.queue.set(len(self._queue))
        self._wake.set()

    def __len__(self) -> int:
        return len(self._queue)

    def unwritten(self) -> list[ProbeResult]:
        """The runs queued, oldest first (as recorded: texts not cut yet)."""
        return list(self._queue)

    async def run(
        self, connect: Callable[[], Awaitable[AsyncConnection]], ready: asyncio.Event
    ) -> None:
        """Write until cancelled. `connect` opens a connection (raising Unavailable) and
        `ready` is set while the store is open."""
        wait = BACKOFF[0]
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
            await ready.wait()
            try:
                await self.write_some(connect)
            except StoreError as exc:  # down, or its file went away: retry
                self.metrics.up.set(0)
                log.warning(
                    "store write failed, retrying", extra={"error": str(exc), "retry_in": wait}
                )
                await asyncio.sleep(wait)
                wait = min(wait * 2, BACKOFF[1])
            else:
                self.metrics.up.set(1)
                wait = BACKOFF[0]

    async def write_some(self, connect: Callable[[], Awaitable[AsyncConnection]]) -> int:
        """Write one batch from the head of the queue; the runs written (or failed)."""
        async with self._writing:
            return await self._write_head(connect)

    async def _write_head(self, connect: Callable[[], Awaitable[AsyncConnection]]) -> int:
        batch = [self._queue[i] for i in range(min(self.batch, len(self._queue)))]
        if not batch:
            return 0
        try:
            conn = await connect()
            try:
                identity = await self._write(conn, batch)
            finally:
                await quietly_close(conn)
        except REJECTED as exc:  # the database refused the content: skip this batch
            log.error("store rejected runs", extra={"error": str(exc)[:300], "runs": len(batch)})
            self.metrics.writes.labels("failed").inc(len(batch))
        except StoreError:
            raise
        except Exception as exc:  # down, or went down mid-batch: keep the batch
            raise Unavailable(f"{type(exc).__name__}: {str(exc)[:300]}") from exc
        else:
            self._identity.update(identity)
            self.metrics.writes.labels("written").inc(len(batch))
        for _ in batch:
            self._queue.popleft()
        self.metrics.queue.set(len(self._queue))
        return len(batch)

    async def _write(
        self, conn: AsyncConnection, batch: Sequence[ProbeResult]
    ) -> dict[str, Identity]:
        summaries = [rows.run_row(r, self.shard) for r in batch]
        contents = [rows.content_row(r, self.text_chars) for r in batch]
        identity = await self._known(conn, {r.target for r in batch})
        changes: list[dict[str, Any]] = []
        for result in batch:
            now = rows.identity(result)
            if now is None:
                continue
            before = identity.get(result.target)
            if before is not None and before != now:
                changes.append(
                    {
                        "at": result.started_at,
                        "target": result.target,
                        "shard": self.shard,
                        "run_id": result.run_id,
                        "old_response_model": before[0],
                        "old_system_fingerprint": before[1],
                        "new_response_model": now[0],
                        "new_system_fingerprint": now[1],
                    }
                )
            identity[result.target] = now
        await conn.execute(insert_ignoring_duplicates(conn, runs), summaries)
        await conn.execute(insert_ignoring_duplicates(conn, run_content), contents)
        if changes:
            await conn.execute(model_changes.insert(), changes)
        await conn.commit()
        return identity

    async def _known(self, conn: AsyncConnection, targets: set[str]) -> dict[str, Identity]:
        """The last identity of each target: from memory, else the last stored run's."""
        known = {t: self._identity[t] for t in targets if t in self._identity}
        for target in targets - set(known):
            query = (
                select(runs.c.response_model, runs.c.system_fingerprint)
                .where(runs.c.target == target)
                .where(
                    (runs.c.response_model.is_not(None)) | (runs.c.system_fingerprint.is_not(None))
                )
                .order_by(runs.c.started_at.desc())
                .limit(1)
            )
            row = (await conn.execute(query)).first()
            if row is not None:
                known[target] = (label(row[0]), label(row[1]))
        return known
