"""`engine.Database` on real SQLite files: a store function runs with a Connection of its
own, off the event loop's thread, in a transaction that what it does not commit leaves
undone; disposing of it twice is harmless and using it after is an error."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.engine import URL

from exporter.store.engine import Database
from exporter.store.url import Location


def database(tmp_path: Path) -> Database:
    return Database(Location(URL.create("sqlite+pysqlite", database=str(tmp_path / "e.db"))))


def create(conn: Connection, *, rows: int) -> str:
    conn.execute(text("CREATE TABLE t (n INTEGER)"))
    for n in range(rows):
        conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
    conn.commit()
    return threading.current_thread().name


def insert_uncommitted(conn: Connection, n: int) -> None:
    conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})


def total(conn: Connection) -> int:
    return int(conn.execute(text("SELECT coalesce(sum(n), 0) FROM t")).scalar_one())


async def test_a_function_runs_in_a_store_thread_with_its_arguments(tmp_path: Path) -> None:
    db = database(tmp_path)
    try:
        thread = await db.run(create, rows=4)
        assert thread.startswith("store") and thread != threading.current_thread().name
        assert await db.run(total) == 0 + 1 + 2 + 3
        await db.run(insert_uncommitted, 100)  # not committed: rolled back at close
        assert await db.run(total) == 6
    finally:
        await db.dispose()


async def test_the_parent_directory_is_made_and_disposing_twice_is_harmless(
    tmp_path: Path,
) -> None:
    db = Database(Location(URL.create("sqlite+pysqlite", database=str(tmp_path / "a/b/e.db"))))
    await db.run(create, rows=1)
    assert (tmp_path / "a" / "b" / "e.db").is_file()
    await db.dispose()
    await db.dispose()  # a store closed twice (a service stopped twice)
    with pytest.raises(RuntimeError, match="disposed"):
        await db.run(total)


async def test_a_sqlite_database_has_no_async_engine(tmp_path: Path) -> None:
    db = database(tmp_path)
    try:
        with pytest.raises(TypeError, match="PostgreSQL"):
            db.async_engine  # noqa: B018 - the property raises
    finally:
        await db.dispose()
