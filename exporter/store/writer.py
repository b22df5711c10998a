"""The write path of runs: a bounded queue the scheduler's loop appends to (O(1), no
conversion, never waits), and one writer thread per store that takes up to `batch` runs
from its head, turns them into rows and inserts them in one transaction through its own
connection (`exporter.store.bulk`: statements compiled once, many rows a statement).

While the store is down the runs stay queued (the batch taken is kept and retried) and
the thread retries with backoff; past `queue` runs the newest are dropped and counted. A
batch the database rejects for its content (not for being down) is counted as failed and
skipped. Metrics are updated from both threads (prometheus_client is thread-safe).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from exporter.result import ProbeResult
from exporter.sinks.prometheus import label
from exporter.store import rows
from exporter.store.bulk import Bulk
from exporter.store.engine import COMMAND_TIMEOUT
from exporter.store.errors import Unavailable
from exporter.store.metrics import StoreMetrics
from exporter.store.pace import Pace, release

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger(__name__)

Identity = tuple[str, str]
BACKOFF = (0.5, 10.0)  # first and longest wait between retries, seconds
IDLE = 1.0  # seconds the idle thread sleeps before it looks again (it is woken anyway)
# Seconds the first queued run waits for a batch to gather, unless `batch` runs are
# queued sooner: one transaction (and fsync) a second rather than one per run, each wake
# a hand-over of the GIL that can keep the event loop's thread waiting. Queued runs are
# served to readers meanwhile (`unwritten`); a `kill -9` loses at most this long's runs.
LINGER = 1.0


async def quietly_close(conn: AsyncConnection) -> None:
    """Close, and say nothing when the connection is already dead."""
    try:
        await conn.close()
    except Exception:
        log.debug("store connection closed uncleanly", exc_info=True)


class Writer:
    def __init__(
        self, metrics: StoreMetrics, shard: str, queue: int, batch: int, text_chars: int
    ) -> None:
        self.metrics = metrics
        self.shard = shard
        self.limit, self.batch, self.text_chars = queue, batch, text_chars
        self._queue: deque[ProbeResult] = deque()
        self._batch: list[ProbeResult] = []  # taken from the queue, not committed yet
        self._wake = threading.Event()  # runs queued, the store opened, or stop
        self._hurry = threading.Event()  # cut a backoff short: flush, open or stop
        self._usable = threading.Event()  # the store is open (migrated)
        self._progress = threading.Condition()  # notified when runs are done or a write fails
        self._accepted = 0  # runs put (the loop's thread)
        self._done = 0  # runs written or failed (the writer thread)
        self._failures = 0  # write attempts that found the store down
        self._identity: dict[str, Identity] = {}  # per target, as last written
        self._thread: threading.Thread | None = None
        self._stop_at: float | None = None
        # read when scraped: a `set` on every put took a lock in the loop's thread
        metrics.queue.set_function(self.__len__)

    def put(self, result: ProbeResult) -> None:
        """Never waits: a full queue drops the run (counted)."""
        queued = len(self._queue) + len(self._batch)
        if queued >= self.limit:
            self.metrics.writes.labels("dropped").inc()
            return
        self._queue.append(result)
        self._accepted += 1
        if (not queued or queued + 1 >= self.batch) and not self._wake.is_set():
            self._wake.set()  # the first run (the linger starts) or a full batch

    def __len__(self) -> int:
        return len(self._queue) + len(self._batch)

    def unwritten(self) -> list[ProbeResult]:
        """The runs not written yet, oldest first (as recorded: texts not cut yet)."""
        return list(self._batch) + list(self._queue)

    # --- the loop's side ------------------------------------------------------------------

    def start(self, connect: Callable[[], Bulk]) -> None:
        """Start the thread; it writes once `opened` is called. `connect` opens its own
        connection (raising when the store is down)."""
        self._thread = threading.Thread(
            target=self._run, args=(connect,), name="store writer", daemon=True
        )
        self._thread.start()

    def opened(self) -> None:
        """The store is open: write what is queued."""
        self._usable.set()
        self._hurry.set()
        self._wake.set()

    def drain(self, timeout: float) -> None:
        """Block until every run put so far is written (or failed). Raises Unavailable
        when a write attempt finds the store down first, or after `timeout` seconds."""
        with self._progress:
            target, failures = self._accepted, self._failures
            self._hurry.set()
            self._wake.set()
            self._progress.wait_for(
                lambda: self._done >= target or self._failures > failures, timeout
            )
            if self._done < target:
                raise Unavailable("store did not write the queued runs")

    def stop(self, grace: float) -> int:
        """Write what is queued for up to `grace` seconds (while the store is open), stop
        the thread; the runs left unwritten. Blocks: call it from a worker thread."""
        self._stop_at = time.monotonic() + grace
        self._hurry.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(grace + COMMAND_TIMEOUT)  # a statement under way may finish
        return len(self)

    # --- the writer thread ----------------------------------------------------------------

    def _stopping(self) -> bool:
        if self._stop_at is None:
            return False
        return not len(self) or not self._usable.is_set() or time.monotonic() > self._stop_at

    def _ready(self) -> bool:
        return self._usable.is_set() and bool(self._batch or self._queue)

    def _lingering(self) -> bool:
        """Whether to wait for more runs before writing: less than a batch, no batch
        taken to retry, and nobody waiting for the queue to be written."""
        if self._batch or self._stop_at is not None or self._hurry.is_set():
            return False
        return len(self._queue) < self.batch

    def _run(self, connect: Callable[[], Bulk]) -> None:
        bulk: Bulk | None = None
        wait = BACKOFF[0]
        try:
            while not self._stopping():
                if not self._ready():
                    self._wake.clear()
                    if not self._ready() and self._stop_at is None:
                        self._wake.wait(IDLE)
                    continue
                if self._lingering():
                    self._wake.clear()
                    if self._lingering():
                        self._wake.wait(LINGER)  # a full batch, flush or stop ends it
                try:
                    if bulk is None:
                        bulk = connect()
                    self._write_head(bulk)
                except Exception as exc:  # down, or went down mid-batch: keep the batch
                    if bulk is not None:
                        _quietly(bulk.close)
                        bulk = None
                    self.metrics.up.set(0)
                    with self._progress:
                        self._failures += 1
                        self._progress.notify_all()
                    if self._stop_at is not None:
                        return
                    error = f"{type(exc).__name__}: {str(exc)[:300]}"
                    log.warning(
                        "store write failed, retrying", extra={"error": error, "retry_in": wait}
                    )
                    self._hurry.clear()
                    self._hurry.wait(wait)
                    wait = min(wait * 2, BACKOFF[1])
                else:
                    self.metrics.up.set(1)
                    wait = BACKOFF[0]
        finally:
            if bulk is not None:
                _quietly(bulk.close)

    def _behind(self) -> bool:
        """More than a batch waits beyond the one being written, or the store stops:
        write without pauses."""
        return len(self._queue) > self.batch or self._stop_at is not None

    def _write_head(self, bulk: Bulk) -> None:
        if not self._batch:
            taken = min(self.batch, len(self._queue))
            self._batch = [self._queue.popleft() for _ in range(taken)]
        batch = self._batch
        refused: tuple[type[Exception], ...] = (*bulk.rejected, ValueError, TypeError)
        try:
            identity = self._write(bulk, batch)
        except refused as exc:  # the database will not take the content: skip it
            log.error("store rejected runs", extra={"error": str(exc)[:300], "runs": len(batch)})
            self.metrics.writes.labels("failed").inc(len(batch))
        else:
            self._identity.update(identity)
            self.metrics.writes.labels("written").inc(len(batch))
        self._batch = []
        if not self._queue:
            self._hurry.clear()  # a flush waiting for these runs has them
        with self._progress:
            self._done += len(batch)
            self._progress.notify_all()
        release(batch, Pace(behind=self._behind))  # freed a few runs at a time

    def _write(self, bulk: Bulk, batch: Sequence[ProbeResult]) -> dict[str, Identity]:
        statements = bulk.statements
        summary, content = statements["runs"], statements["run_content"]
        summaries: list[tuple[Any, ...]] = []
        contents: list[tuple[Any, ...]] = []
        pace = Pace(behind=self._behind)
        for r in batch:
            summaries.append(summary.params(rows.run_row(r, self.shard)))
            contents.append(content.params(rows.content_row(r, self.text_chars)))
            pace()  # the event loop's thread takes the GIL if it waits
        identity = self._known(bulk, {r.target for r in batch})
        changes: list[tuple[Any, ...]] = []
        change = statements["model_changes"]
        for result in batch:
            now = rows.identity(result)
            if now is None:
                continue
            before = identity.get(result.target)
            if before is not None and before != now:
                row = {
                    "at": result.started_at,
                    "target": result.target,
                    "shard": self.shard,
                    "run_id": result.run_id,
                    "old_response_model": before[0],
                    "old_system_fingerprint": before[1],
                    "new_response_model": now[0],
                    "new_system_fingerprint": now[1],
                }
                changes.append(change.params(row))
            identity[result.target] = now
        bulk.write(summaries, contents, changes, pace)
        release(summaries, pace)
        release(contents, pace)
        return identity

    def _known(self, bulk: Bulk, targets: set[str]) -> dict[str, Identity]:
        """The last identity of each target: from memory, else the last stored run's."""
        known = {t: self._identity[t] for t in targets if t in self._identity}
        for target in targets - set(known):
            row = bulk.last_identity(target)
            if row is not None:
                known[target] = (label(row[0]), label(row[1]))
        return known


def _quietly(close: Callable[[], None]) -> None:
    try:
        close()
    except Exception:
        log.debug("store writer connection closed uncleanly", exc_info=True)
