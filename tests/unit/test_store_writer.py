"""The writer thread on a real SQLite file: a batch the database refuses is counted and
skipped, a run written twice is kept once, the thread stops with the store, it skips its
pauses while behind, and the `memory` store keeps runs in a file of its own that goes at
close."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path

from exporter.config import Store as StoreSettings
from exporter.store import Store, locate
from exporter.store.bulk import statements
from tests.unit.store_helpers import queue_length, run, sqlite_store

NOW = float(int(time.time()) - 3600)


def count(store: Store, result: str) -> float:
    return store.metrics.writes.labels(result)._value.get()


def rows_in(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "store writer"]


async def test_a_batch_the_database_refuses_is_counted_as_failed_and_skipped(
    tmp_path: Path,
) -> None:
    store = sqlite_store(tmp_path, batch=1)
    await store.open()
    try:
        good = run(NOW)
        refused = replace(run(NOW + 1), error_detail=None)  # type: ignore[arg-type]  # NOT NULL
        after = run(NOW + 2)
        for result in (good, refused, after):
            store.record(result)
        await store.flush()
        assert (count(store, "written"), count(store, "failed")) == (2, 1)
        assert await store.run(refused.run_id) is None
        assert await store.run(after.run_id) is not None  # the queue went on past it
        assert queue_length(store) == 0
    finally:
        await store.close()


async def test_a_run_written_twice_is_kept_once(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    await store.open()
    try:
        once = run(NOW)
        store.record(once)
        await store.flush()
        store.record(once)  # as a batch retried after a commit whose answer was lost
        await store.flush()
        assert count(store, "written") == 2 and count(store, "failed") == 0
    finally:
        await store.close()
    assert rows_in(tmp_path / "cc.db", "runs") == 1
    assert rows_in(tmp_path / "cc.db", "run_content") == 1


async def test_the_writer_thread_stops_with_the_store_after_writing_the_queue(
    tmp_path: Path,
) -> None:
    before = len(writer_threads())
    store = sqlite_store(tmp_path, batch=7)
    await store.open()
    assert len(writer_threads()) == before + 1
    for i in range(50):
        store.record(run(NOW + i))
    await store.close(grace=30)
    assert len(writer_threads()) == before
    assert count(store, "written") == 50 and count(store, "dropped") == 0
    assert rows_in(tmp_path / "cc.db", "runs") == 50


async def test_the_memory_store_keeps_runs_until_it_closes(tmp_path: Path) -> None:
    settings = StoreSettings.model_validate({"url": "memory"})
    store = Store(locate(settings, tmp_path), settings)
    await store.open()
    assert store.shown == "memory"
    scratch = store._scratch
    assert scratch is not None
    kept = run(NOW)
    store.record(kept)
    await store.flush()
    assert (await store.run(kept.run_id)) is not None
    await store.close()
    assert not Path(scratch.name).exists()
    assert list(tmp_path.iterdir()) == []  # nothing in the data directory


def test_the_inserts_are_compiled_once_per_dialect_and_skip_duplicates() -> None:
    sqlite, postgres = statements("sqlite"), statements("postgresql")
    assert statements("sqlite") is sqlite
    for compiled in (sqlite, postgres):
        assert compiled["runs"].sql.endswith("ON CONFLICT DO NOTHING")
        assert compiled["run_content"].sql.endswith("ON CONFLICT DO NOTHING")
        assert compiled["runs"].keys[0] == "run_id"
        assert {"verdicts", "refusal"} <= compiled["runs"].json
    assert "$1" in postgres["runs"].sql and "?" in sqlite["runs"].sql


def test_the_writer_skips_its_pauses_while_more_than_a_batch_waits(tmp_path: Path) -> None:
    """Pausing halves the writer's pace: it pauses only while it keeps up (exporter/store/
    pace.py). Not opened, the store keeps what is recorded queued."""
    store = sqlite_store(tmp_path, batch=2)
    for i in range(2):
        store.record(run(NOW + i))
    assert not store.writer._behind()  # a batch: the one it would write next
    store.record(run(NOW + 2))
    assert store.writer._behind()
