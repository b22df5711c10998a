"""The durable store: runs with their exchanges, feedback and model changes, in SQLite
(embedded) or PostgreSQL (a fleet). `Store` is the one entry point.

    store = Store(location, settings, shard="0/2", registry=registry)
    await store.open()        # SchemaError stops start-up; an unreachable store retries
    store.record(result)      # a Sink: queued, written in batches, never waits
    await store.add_feedback(feedback)   # committed before it returns, or Unavailable
    page = await store.runs(target="local", limit=50); page.cursor ...
    await store.close()

Writes off the probing path: `record` only queues; the store's writer thread turns runs
into rows and writes them in batches through its own connection (exporter/store/writer.py).
Reads and feedback go straight to the database (`engine.Database`: SQLAlchemy Core, in
worker threads on SQLite, through asyncpg on PostgreSQL) and raise `Unavailable` while
it is down.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from prometheus_client import CollectorRegistry
from sqlalchemy import Connection, text

from exporter.config import Store as StoreSettings
from exporter.feedback import Feedback
from exporter.result import ProbeResult, TrafficRecord
from exporter.store import bulk, migrate, reader, retention, rows, traffic
from exporter.store.engine import Database
from exporter.store.errors import SchemaError, StoreError, Unavailable, classify
from exporter.store.metrics import StoreMetrics
from exporter.store.rows import ModelChange, Page, StoredComparison, StoredFeedback, StoredRun
from exporter.store.schema import comparisons as comparisons_table
from exporter.store.schema import feedback as feedback_table
from exporter.store.schema import traffic_exchanges as traffic_table
from exporter.store.url import FILENAME, Location, URLError, data_dir, locate
from exporter.store.writer import BACKOFF, Writer, quietly_close

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = [
    "MEMORY_MAX_SIZE",
    "Location",
    "ModelChange",
    "Page",
    "SchemaError",
    "Store",
    "StoreError",
    "StoredComparison",
    "StoredFeedback",
    "StoredRun",
    "URLError",
    "Unavailable",
    "data_dir",
    "locate",
]

log = logging.getLogger(__name__)

SWEEP_EVERY = 600.0  # seconds between retention passes
FEEDBACK_TIMEOUT = 5.0  # seconds a feedback commit may take before the answer is 503
MEMORY_MAX_SIZE = 64 << 20  # `url: memory` without `max_size`: a scratch file, often on tmpfs
FLUSH_TIMEOUT = 60.0  # seconds `flush` waits for the writer thread

P = ParamSpec("P")
T = TypeVar("T")


class Store:
    def __init__(
        self,
        location: Location,
        settings: StoreSettings,
        shard: str = "",
        registry: CollectorRegistry | None = None,
        text_chars: int = 4096,
    ) -> None:
        self.location = location
        self.settings = settings
        self.shard = shard
        self.metrics = StoreMetrics(registry or CollectorRegistry())
        self.writer = Writer(self.metrics, shard, settings.queue, settings.batch, text_chars)
        self._db: Database | None = None
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._leading: dict[int, AsyncConnection] = {}  # advisory locks held, by key
        self._scratch: tempfile.TemporaryDirectory[str] | None = None  # `memory`'s file

    @property
    def shown(self) -> str:
        """Where the store is, fit for logs (no password)."""
        return self.location.shown()

    @property
    def max_size(self) -> int | None:
        """The size cap in bytes (SQLite): as configured, but a memory store that sets
        none keeps MEMORY_MAX_SIZE, not the file's default: its file is scratch."""
        settings = self.settings
        if self.location.memory and "max_size" not in settings.model_fields_set:
            return MEMORY_MAX_SIZE
        return None if settings.max_size is None else int(settings.max_size)

    @property
    def available(self) -> bool:
        """Open: migrated and reachable the last time it was tried."""
        return self._ready.is_set()

    # --- life cycle ---------------------------------------------------------------------

    async def open(self, background: bool = True, maintain: bool = True) -> None:
        """Connect and migrate. Raises SchemaError (the database cannot be used). An
        unreachable store raises Unavailable unless `background`: then connecting goes on
        in the background, with backoff, and the writer waits for it. Without `maintain`
        (a reader such as export) no retention pass runs."""
        where = self.location
        try:
            if where.memory:  # a file of its own, removed at close: the writer thread and
                # the readers each need a connection to the same database
                self._scratch = tempfile.TemporaryDirectory(prefix="chatcanary-memory-")
                path = f"{self._scratch.name}/{FILENAME}"
                where = Location(where.url.set(database=path))
            self._db = Database(where)
        except OSError as exc:  # the data directory cannot be made
            raise SchemaError(
                f"cannot create the store's directory for {self.shown}: {exc.strerror}. "
                "Give a writable one with --data-dir or CHATCANARY_DATA_DIR, or set store.url."
            ) from None
        try:
            await self._migrate()
        except Unavailable as exc:
            if not background:
                raise
            log.warning("store unavailable, retrying in the background", extra={"error": str(exc)})
            self._tasks.append(asyncio.create_task(self._reconnect(), name="store connect"))
        self.writer.start(bulk.opener(where))
        if maintain:
            self._tasks.append(asyncio.create_task(self._sweeping(), name="store retention"))

    async def _migrate(self) -> None:
        assert self._db is not None
        try:
            before, now = await self._db.run(migrate.upgrade, self.shown)
        except Exception as exc:
            raise classify(exc, self.shown, self.location.engine) from exc
        if before != now:
            log.info("store migrated", extra={"store": self.shown, "from": before, "to": now})
        self._ready.set()
        self.writer.opened()
        self.metrics.up.set(1)
        log.info("store open", extra={"store": self.shown, "schema": now})

    async def _reconnect(self) -> None:
        wait = BACKOFF[0]
        while True:
            await asyncio.sleep(wait)
            try:
                await self._migrate()
                return
            except SchemaError as exc:
                log.error("store cannot be used; runs are not kept", extra={"error": str(exc)})
                return
            except Unavailable as exc:
                wait = min(wait * 2, BACKOFF[1])
                log.warning("store still unavailable", extra={"error": str(exc), "retry_in": wait})

    async def _sweeping(self) -> None:
        while True:
            await self._ready.wait()
            try:
                await self.sweep()
            except StoreError as exc:
                log.warning("retention pass failed", extra={"error": str(exc)})
            await asyncio.sleep(SWEEP_EVERY)

    async def close(self, grace: float = 5.0) -> None:
        """Write what is queued (for up to `grace` seconds), then stop."""
        left = await asyncio.to_thread(self.writer.stop, grace)
        if left:
            self.metrics.writes.labels("dropped").inc(left)
            log.warning("store closed with runs unwritten", extra={"runs": left})
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for conn in self._leading.values():  # closing the session frees its locks
            await quietly_close(conn)
        self._leading.clear()
        self._ready.clear()
        if self._db is not None:
            await self._db.dispose()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    async def flush(self) -> None:
        """Wait until everything queued now is written; raises Unavailable while the store
        is down."""
        if not len(self.writer):
            return
        if not self.available:
            raise Unavailable(f"store {self.shown} is not open")
        await asyncio.to_thread(self.writer.drain, FLUSH_TIMEOUT)

    def configure(self, settings: StoreSettings) -> None:
        """A reload: retention, size cap, queue and batch apply now; a new url at the next
        start."""
        if (
            settings.url != self.settings.url
            or settings.password_file != self.settings.password_file
        ):
            log.warning("store url changed: it applies at the next start")
        self.settings = settings
        self.writer.limit, self.writer.batch = settings.queue, settings.batch

    # --- writes ---------------------------------------------------------------------------

    def record(self, result: ProbeResult) -> None:
        """The sink: queue the run; never waits, never raises."""
        self.writer.put(result)

    async def add_feedback(self, feedback: Feedback) -> int:
        """Commit one submission; its id. Raises Unavailable when it cannot be committed
        within FEEDBACK_TIMEOUT seconds: the caller must not acknowledge it then."""
        row = rows.feedback_row(feedback, self.shard)
        try:
            async with asyncio.timeout(FEEDBACK_TIMEOUT):
                new_id = await self._run(_insert_feedback, row)
        except (StoreError, TimeoutError) as exc:
            self.metrics.feedback.labels("refused").inc()
            raise (
                exc if isinstance(exc, StoreError) else Unavailable("store did not commit in time")
            ) from exc
        self.metrics.feedback.labels("committed").inc()
        return new_id

    async def add_comparison(self, document: Mapping[str, Any]) -> None:
        """Commit a comparison (the JSON document of `chatcanary compare`, with its id)."""
        await self._run(_insert, comparisons_table.insert(), [rows.comparison_row(document)])

    async def sweep(self, now: float | None = None) -> dict[str, int] | None:
        """One retention pass now: the rows deleted by kind (None: another replica's turn)."""
        when = time.time() if now is None else now
        deleted = await self._run(_sweep, self.settings, self.max_size, when)
        if deleted:
            for kind, count in deleted.items():
                self.metrics.deleted.labels(kind).inc(count)
            if any(deleted.values()):
                log.info("retention", extra={f"deleted_{k}": v for k, v in deleted.items()})
        return deleted

    async def lead(self, key: int) -> bool:
        """Whether this replica does the fleet's one-at-a-time job `key` (the scheduled
        report): on PostgreSQL, while it holds the session advisory lock `key` on a
        connection kept open (freed when the replica stops or its connection drops); on
        SQLite, one process's own file, always. Raises Unavailable."""
        if self.location.engine != "postgresql":
            return True
        held = self._leading.get(key)
        if held is not None:
            try:
                await held.execute(text("SELECT 1"))
                return True
            except Exception:  # the connection dropped: so did the lock
                del self._leading[key]
                await quietly_close(held)
        conn = await self._connect()
        try:
            got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar()
            await conn.commit()
        except Exception as exc:
            await quietly_close(conn)
            raise classify(exc, self.shown, self.location.engine) from exc
        if not got:
            await quietly_close(conn)
            return False
        self._leading[key] = conn
        return True

    async def add_traffic(self, records: list[TrafficRecord]) -> None:
        """Commit captured traffic exchanges (redacted already). Raises StoreError."""
        exchanges = [traffic.traffic_row(r, self.shard) for r in records]
        await self._run(_insert, traffic_table.insert(), exchanges)

    # --- reads ----------------------------------------------------------------------------

    async def traffic(
        self, *, proxy: str | None = None, conversation_id: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Captured traffic exchanges, newest first, without their text."""
        return await self._run(
            traffic.list_traffic, proxy=proxy, conversation_id=conversation_id, limit=limit
        )

    async def traffic_page(
        self, *, since: float | None = None, limit: int = 1000, cursor: str | None = None
    ) -> Page:
        """Captured traffic exchanges without their text, newest first, a page at a time."""
        return await self._run(traffic.page_traffic, since=since, limit=limit, cursor=cursor)

    async def traffic_refusals(self, since: float, until: float) -> dict[str, tuple[int, int]]:
        """Per proxy, captured exchanges of the period: (refused, judged by the verdict)."""
        return await self._run(traffic.refusals, since, until)

    async def traffic_exchange(self, exchange_id: str) -> dict[str, Any] | None:
        """One captured exchange, with its text and its conversation's feedback."""
        return await self._run(traffic.get_exchange, exchange_id)

    async def runs(
        self,
        *,
        target: str | None = None,
        canary: str | None = None,
        outcome: str | None = None,
        shard: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        """Run summaries (StoredRun, turns without text), newest first. Raises ValueError
        for a bad limit or cursor."""
        return await self._run(
            reader.list_runs,
            target=target,
            canary=canary,
            outcome=outcome,
            shard=shard,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )

    async def run(self, run_id: str) -> StoredRun | None:
        return await self._run(reader.get_run, run_id)

    async def feedback(
        self,
        *,
        target: str | None = None,
        rating: str | None = None,
        category: str | None = None,
        since: float | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        """Feedback (StoredFeedback), newest first."""
        return await self._run(
            reader.list_feedback,
            target=target,
            rating=rating,
            category=category,
            since=since,
            limit=limit,
            cursor=cursor,
        )

    async def model_changes(
        self, since: float | None = None, target: str | None = None
    ) -> list[ModelChange]:
        return await self._run(reader.list_model_changes, since=since, target=target)

    async def comparisons(
        self, since: float | None = None, target: str | None = None
    ) -> list[StoredComparison]:
        """Comparisons made by `chatcanary compare`, newest first."""
        return await self._run(reader.list_comparisons, since=since, target=target)

    # --- connections ----------------------------------------------------------------------

    def _open_db(self) -> Database:
        if self._db is None or not self.available:
            raise Unavailable(f"store {self.shown} is not open")
        return self._db

    async def _connect(self) -> AsyncConnection:
        """PostgreSQL: a connection of the caller's own, held open."""
        db = self._open_db()
        try:
            return await db.async_engine.connect()
        except Exception as exc:
            raise classify(exc, self.shown, self.location.engine) from exc

    async def _run(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(connection, ...)` on the store's database; its errors as StoreError (a bad
        limit or cursor stays a ValueError)."""
        db = self._open_db()
        try:
            return await db.run(fn, *args, **kwargs)
        except (StoreError, ValueError):
            raise
        except Exception as exc:
            raise classify(exc, self.shown, self.location.engine) from exc


def _insert_feedback(conn: Connection, row: dict[str, Any]) -> int:
    result = conn.execute(feedback_table.insert().returning(feedback_table.c.id), row)
    new_id = int(result.scalar_one())
    conn.commit()
    return new_id


def _insert(conn: Connection, statement: Any, values: list[dict[str, Any]]) -> None:
    """Rows into a table, committed."""
    conn.execute(statement, values)
    conn.commit()


def _sweep(
    conn: Connection, settings: StoreSettings, max_size: int | None, now: float
) -> dict[str, int] | None:
    deleted = retention.sweep(conn, settings.retention, max_size, now)
    if deleted is not None:
        deleted["traffic"] = traffic.sweep(conn, now - settings.retention.traffic)
    return deleted
