"""Retention on a real SQLite file (exporter.store.retention): per-kind ages on rows written
in the past, the size cap, and `chatcanary_store_deleted_total{kind}` counting it all."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from exporter.config import Store as StoreSettings
from exporter.result import Outcome
from exporter.store import MEMORY_MAX_SIZE, Store, locate
from tests.unit.store_helpers import complaint, run

DAY = 86400.0
T0 = float(int(time.time()) - 3600)
N = 2500
KINDS = ("runs", "failed_runs", "summaries", "feedback", "model_changes")


def store_at(tmp_path: Path, registry: CollectorRegistry, **settings: object) -> Store:
    config = StoreSettings.model_validate({"url": f"sqlite:///{tmp_path / 'cc.db'}", **settings})
    return Store(locate(config, tmp_path), config, shard="0/1", registry=registry, text_chars=4096)


def deleted(registry: CollectorRegistry) -> dict[str, float | None]:
    return {
        kind: registry.get_sample_value("chatcanary_store_deleted_total", {"kind": kind})
        for kind in KINDS
    }


def count(path: Path, sql: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(sql).fetchone()[0])


async def test_each_kind_goes_at_its_age_content_first_and_the_deletes_are_counted(
    tmp_path: Path,
) -> None:
    registry = CollectorRegistry()
    store = store_at(tmp_path, registry)
    await store.open(maintain=False)  # only the sweeps below delete
    try:
        # 3 successful runs, the second and third with a new model identity each
        # (2 model changes), 2 failed runs, and 2 feedback submissions 1 day apart.
        ok = [run(T0, fingerprint="fp_1"), run(T0 + 1, fingerprint="fp_2")]
        ok.append(run(T0 + 2, fingerprint="fp_3"))
        failed = [
            run(T0 + 3, outcome=Outcome.ERROR, fingerprint="fp_3"),
            run(T0 + 4, outcome=Outcome.CHECK_FAILED, fingerprint="fp_3"),
        ]
        for result in (*ok, *failed):
            store.record(result)
        await store.flush()
        await store.add_feedback(complaint("", T0, "older"))
        await store.add_feedback(complaint("", T0 + DAY, "newer"))
        assert len(await store.model_changes()) == 2

        # 8 days on: successful runs lose their exchange (runs: 7d), keep their summary.
        assert await store.sweep(now=T0 + 8 * DAY) == {
            "runs": 3, "failed_runs": 0, "summaries": 0, "model_changes": 0, "feedback": 0,
            "traffic": 0
        }  # fmt: skip
        for result in ok:
            stored = await store.run(result.run_id)
            assert stored is not None and not stored.content_kept
            assert stored.result.outcome is Outcome.SUCCESS and stored.result.turns[0].text == ""
            assert stored.result.input_tokens == 12  # the summary's numbers remain
        for result in failed:
            stored = await store.run(result.run_id)
            assert stored is not None and stored.content_kept
            assert stored.result.turns[0].text == "42"

        # 31 days on: failed runs' exchanges go too (failed_runs: 30d); summaries stay.
        assert (await store.sweep(now=T0 + 31 * DAY))["failed_runs"] == 2  # type: ignore[index]
        assert len((await store.runs(limit=100)).items) == 5
        assert not any(s.content_kept for s in (await store.runs(limit=100)).items)
        assert len(await store.model_changes()) == 2

        # 91 days on: summaries and model changes go (summaries: 90d); feedback stays.
        assert await store.sweep(now=T0 + 91 * DAY) == {
            "runs": 0, "failed_runs": 0, "summaries": 5, "model_changes": 2, "feedback": 0,
            "traffic": 0
        }  # fmt: skip
        assert (await store.runs(limit=100)).items == ()
        assert await store.model_changes() == []
        assert len((await store.feedback()).items) == 2

        # Feedback is kept 365 days: at 365.5 days only the older one has gone.
        assert (await store.sweep(now=T0 + 365.5 * DAY))["feedback"] == 1  # type: ignore[index]
        assert [f.feedback.comment for f in (await store.feedback()).items] == ["newer"]
        assert (await store.sweep(now=T0 + 367 * DAY))["feedback"] == 1  # type: ignore[index]
    finally:
        await store.close()
    assert deleted(registry) == {
        "runs": 3, "failed_runs": 2, "summaries": 5, "feedback": 2, "model_changes": 2
    }  # fmt: skip


async def test_configured_ages_apply(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    retention = {"runs": "1h", "failed_runs": "2d", "summaries": "3d", "feedback": "4d"}
    store = store_at(tmp_path, registry, retention=retention)
    await store.open(maintain=False)  # only the sweeps below delete
    try:
        store.record(ok := run(T0))
        store.record(bad := run(T0, outcome=Outcome.ERROR))
        await store.flush()
        await store.add_feedback(complaint("", T0, "f"))
        await store.sweep(now=T0 + 2 * 3600)
        assert [(await store.run(r.run_id)).content_kept for r in (ok, bad)] == [False, True]  # type: ignore[union-attr]
        await store.sweep(now=T0 + 2.5 * DAY)
        assert (await store.run(bad.run_id)).content_kept is False  # type: ignore[union-attr]
        await store.sweep(now=T0 + 3.5 * DAY)
        assert await store.run(ok.run_id) is None and len((await store.feedback()).items) == 1
        await store.sweep(now=T0 + 4.5 * DAY)
        assert (await store.feedback()).items == ()
    finally:
        await store.close()
    assert deleted(registry) == {
        "runs": 1, "failed_runs": 1, "summaries": 2, "feedback": 1, "model_changes": 0
    }  # fmt: skip


async def test_the_size_cap_deletes_oldest_content_first_and_never_feedback(
    tmp_path: Path,
) -> None:
    registry = CollectorRegistry()
    cap = 7 << 19  # 3.5 MiB: summaries and part of the content fit
    store = store_at(tmp_path, registry, max_size=cap)
    await store.open(maintain=False)  # only the sweeps below delete
    try:
        # 2,500 runs of ~1 KB of exchange each (over the cap); every 10th fails. The cap
        # deletes in steps of up to 1,000 rows: enough runs that some content is kept.
        results = [
            run(T0 + i, text="x" * 1000, outcome=Outcome.SUCCESS if i % 10 else Outcome.ERROR)
            for i in range(N)
        ]
        for result in results:
            store.record(result)
        await store.flush()
        for i in range(5):
            await store.add_feedback(complaint("", T0 + i, "c" * 2000 + str(i)))
        await store.sweep(now=T0 + 60)  # all within their ages: only the cap deletes
    finally:
        await store.close()

    path = tmp_path / "cc.db"
    with sqlite3.connect(path) as db:
        pages, free, size = (
            db.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("page_count", "freelist_count", "page_size")
        )
        kept = {
            row[0]
            for row in db.execute("SELECT runs.run_id FROM runs JOIN run_content USING (run_id)")
        }
    assert (pages - free) * size <= cap
    assert count(path, "SELECT count(*) FROM runs") == N  # summaries fit: all kept
    assert count(path, "SELECT count(*) FROM feedback") == 5
    # What is left of the content is the newest runs' (successful ones go before failed).
    ok = [r.run_id for r in results if r.outcome is Outcome.SUCCESS]
    bad = [r.run_id for r in results if r.outcome is not Outcome.SUCCESS]
    ok_kept = [r in kept for r in ok]
    assert ok_kept == sorted(ok_kept)  # oldest gone first
    assert 0 < len(kept) < N
    if any(r not in kept for r in bad):
        assert not any(ok_kept)
    assert deleted(registry) == {
        "runs": len(ok) - sum(ok_kept),
        "failed_runs": sum(r not in kept for r in bad),
        "summaries": 0,
        "feedback": 0,
        "model_changes": 0,
    }


def test_a_memory_store_is_capped_smaller_unless_told() -> None:
    """Its data is the process's memory: the file's 1 GiB default would be RSS."""

    def cap(**settings: object) -> int | None:
        config = StoreSettings.model_validate(settings)
        return Store(locate(config, Path("unused")), config).max_size

    assert cap(url="memory") == MEMORY_MAX_SIZE == 64 << 20
    assert cap(url="memory", max_size="8MiB") == 8 << 20
    assert cap(url="memory", max_size=None) is None  # asked for: no cap
    assert cap() == cap(url="sqlite:///x.db") == 1 << 30  # a file: the configured default
