"""The database of a store location, and the one way to use it: `await db.run(fn, ...)`
calls `fn(connection, ...)` with a SQLAlchemy Core `Connection`, off the event loop, so
that every query is written once, as plain synchronous Core, for both engines.

- SQLite: SQLAlchemy's own driver over the standard library's `sqlite3`, each call in a
  small pool of worker threads (`sqlite3` lets go of the GIL while it steps). The asyncio
  extension, which imports SQLAlchemy's ORM, greenlet and aiosqlite, is about 6.6 MB of
  every `chatcanary run` process that the embedded store does not need.
- PostgreSQL: asyncpg under SQLAlchemy's asyncio extension (`AsyncConnection.run_sync`),
  imported only for a PostgreSQL store.

SQLite runs in WAL mode with synchronous=FULL: a commit is on disk before it returns, so
neither `kill -9` nor a power cut loses an acknowledged write or corrupts the file. Each
connection's page cache is 128 KiB rather than SQLite's 2 MB: the operating system caches
the file anyway, and inserting 100,000 runs took the same CPU with 128 KiB, 512 KiB or
2 MB, while `run` with 24 canaries holds 0.4 MB less after 15 s than with 512 KiB
(bench/notes.md).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import StaticPool

from exporter.store.url import Location

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA cache_size=-128",  # KiB, per connection
)
CONNECT_TIMEOUT = 5.0  # PostgreSQL: seconds to connect before the store counts as down
COMMAND_TIMEOUT = 30.0  # PostgreSQL: seconds one statement may take
SQLITE_THREADS = 4  # SQLite: calls at once (page reads, feedback, retention), each a thread

P = ParamSpec("P")
T = TypeVar("T")


class Database:
    """One location's engine. For a SQLite file, its directory is created."""

    def __init__(self, location: Location) -> None:
        self._threads: ThreadPoolExecutor | None = None
        self._sync: Engine | None = None
        self._async: AsyncEngine | None = None
        if location.engine == "sqlite":
            kwargs: dict[str, Any] = {}
            if location.memory:
                kwargs["poolclass"] = StaticPool  # one connection: the database lives in it
            elif location.path is not None:
                location.path.parent.mkdir(parents=True, exist_ok=True)
            # a connection is used by one call at a time, but not always on one thread
            self._sync = create_engine(
                location.url, connect_args={"check_same_thread": False}, **kwargs
            )
            event.listen(self._sync, "connect", _sqlite_pragmas)
            self._threads = ThreadPoolExecutor(SQLITE_THREADS, thread_name_prefix="store")
        else:
            from sqlalchemy.ext.asyncio import create_async_engine

            self._async = create_async_engine(
                location.url,
                pool_pre_ping=True,  # a restarted server leaves dead connections in the pool
                pool_size=4,
                max_overflow=4,
                connect_args={"timeout": CONNECT_TIMEOUT, "command_timeout": COMMAND_TIMEOUT},
            )

    @property
    def async_engine(self) -> AsyncEngine:
        """PostgreSQL's engine, for a connection held open (an advisory lock's session)."""
        if self._async is None:
            raise TypeError("only a PostgreSQL store has an async engine")
        return self._async

    async def run(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(connection, *args, **kwargs)` on a connection of its own, closed after (what
        `fn` did not commit is rolled back). Cancelling the caller does not stop a SQLite
        call under way: it finishes in its thread."""
        if self._async is not None:
            async with self._async.connect() as conn:
                return await conn.run_sync(fn, *args, **kwargs)
        if self._sync is None or self._threads is None:
            raise RuntimeError("the database was disposed of")
        call = functools.partial(_call, self._sync, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)

    async def dispose(self) -> None:
        """Close every pooled connection; the database is not used after (a second call
        does nothing)."""
        if self._async is not None:
            await self._async.dispose()
        threads, self._threads = self._threads, None
        if self._sync is not None and threads is not None:
            await asyncio.get_running_loop().run_in_executor(threads, self._sync.dispose)
            threads.shutdown(wait=False)


def _call(engine: Engine, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with engine.connect() as conn:
        return fn(conn, *args, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()
