"""The writer thread's SQLite connection (exporter.store.bulk) on a real file: batches of
every size are written whole and sqlite3's statement cache stays small; the connection
carries the engine's pragmas."""

from __future__ import annotations

import _sqlite3
import asyncio
import ctypes
import gc
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Connection

from exporter.store import engine as engines
from exporter.store import migrate, rows
from exporter.store.bulk import SQLiteBulk, chunks
from tests.unit.store_helpers import run, sqlite_store

# what the pragmas set, as SQLite reports it back (synchronous FULL is 2)
PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": 2,
    "busy_timeout": 10000,
    "foreign_keys": 1,
    "cache_size": -128,  # KiB: 128 KiB a connection
}


def fresh_database(tmp_path: Path) -> str:
    store = sqlite_store(tmp_path)

    async def create() -> None:
        db = engines.Database(store.location)
        await db.run(migrate.upgrade, "test")
        await db.dispose()

    asyncio.run(create())
    return str(tmp_path / "cc.db")


def sqlite_memory() -> Callable[[], int]:
    """SQLite's own memory counter, from the library the `sqlite3` module runs on (its
    extension's handle finds the symbol there, linked in or among its dependencies)."""
    used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    used.restype = ctypes.c_int64
    return used


def written_in_batches(path: str, sizes: range) -> int:
    """Writes a batch of each size through one writer connection; checks every row is
    there and returns what SQLite's memory grew by meanwhile."""
    memory_used = sqlite_memory()
    gc.collect()  # the counter is the process's: no earlier connection freed meanwhile
    before = memory_used()
    bulk = SQLiteBulk(path)
    try:
        template = run(time.time(), text="The answer is 42. " * 8)
        s = bulk.statements
        for size in sizes:
            batch = [replace(template, run_id=uuid.uuid4().hex) for _ in range(size)]
            bulk.write(
                [s["runs"].params(rows.run_row(r, "0/1")) for r in batch],
                [s["run_content"].params(rows.content_row(r, 64)) for r in batch],
                [],
                lambda: None,
            )
        grown = memory_used() - before
    finally:
        bulk.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == sum(sizes)
        assert conn.execute("SELECT count(*) FROM run_content").fetchone()[0] == sum(sizes)
    assert grown > 0, "the counter read is not this sqlite3's (another libsqlite3?)"
    return grown


def test_batches_of_every_size_are_written_whole_with_little_statement_memory(
    tmp_path: Path,
) -> None:
    """Every row count is a statement of its own: with sqlite3's default cache of 128
    statements, batches of 1 to 160 runs kept 32 MB of them, and one statement per batch
    size with 8 kept 3.9 MB with batches of 1 to 500 (measured)."""
    grown = written_in_batches(fresh_database(tmp_path), range(1, 161))
    assert grown < 2 * 2**20, f"{grown / 2**20:.1f} MB"  # 1.1 MB measured


def test_a_sidecars_small_batches_hold_one_statement_a_table(tmp_path: Path) -> None:
    """Batches of fewer than 64 runs go in row by row: SQLite's memory after batches of
    1 to 63 runs is the page cache (128 KiB) and one statement a table, 0.17 MB measured,
    against 0.45 MB with a statement for every power of two."""
    grown = written_in_batches(fresh_database(tmp_path), range(1, 64))
    assert grown < 256 * 1024, f"{grown / 1024:.0f} KiB"


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (0, []),
        (1, [1]),
        (24, [1] * 24),
        (63, [1] * 63),
        (64, [64]),
        (65, [64, 1]),
        (200, [64, 64, 64, 8]),
        (500, [64] * 7 + [32, 16, 4]),
    ],
)
def test_a_batch_goes_in_as_statements_of_a_few_sizes(count: int, expected: list[int]) -> None:
    """Fewer than 64 rows one by one; else at most 64 rows a statement, the rest in
    powers of two, largest first: seven statement sizes a table whatever the batches."""
    assert chunks(count) == expected


def test_the_statement_sizes_are_few_whatever_the_batches() -> None:
    sizes = {size for count in range(1, 1001) for size in chunks(count)}
    assert sizes == {1, 2, 4, 8, 16, 32, 64}
    assert all(sum(chunks(count)) == count for count in range(1001))


def test_the_writer_may_pause_between_any_two_statements(tmp_path: Path) -> None:
    """A batch of 500 runs is ten statements a table (seven of 64 rows, then 32, 16, 4):
    `pace` runs after each of the twenty, inside the one transaction."""
    path = fresh_database(tmp_path)
    bulk = SQLiteBulk(path)
    seen: list[int] = []

    def pace() -> None:  # what another connection sees at each pause
        with sqlite3.connect(path) as other:
            seen.append(other.execute("SELECT count(*) FROM runs").fetchone()[0])

    try:
        template = run(time.time())
        batch = [replace(template, run_id=uuid.uuid4().hex) for _ in range(500)]
        s = bulk.statements
        bulk.write(
            [s["runs"].params(rows.run_row(r, "0/1")) for r in batch],
            [s["run_content"].params(rows.content_row(r, 64)) for r in batch],
            [],
            pace,
        )
    finally:
        bulk.close()
    assert seen == [0] * 20  # not committed until the batch is whole
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 500


def test_the_writer_and_the_engine_connections_carry_the_pragmas(tmp_path: Path) -> None:
    path = fresh_database(tmp_path)
    bulk = SQLiteBulk(path)
    try:  # the writer thread's own connection
        for name, value in PRAGMAS.items():
            assert bulk._conn.execute(f"PRAGMA {name}").fetchone()[0] == value, name
    finally:
        bulk.close()

    def pragmas(conn: Connection) -> dict[str, object]:
        return {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in PRAGMAS}

    async def engine_pragmas() -> dict[str, object]:
        db = engines.Database(sqlite_store(tmp_path).location)
        try:  # the readers' connections, in their worker threads
            return await db.run(pragmas)
        finally:
            await db.dispose()

    assert asyncio.run(engine_pragmas()) == PRAGMAS
