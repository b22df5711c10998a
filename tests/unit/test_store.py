"""The store facade on a real SQLite file: what a run and a feedback keep, reading back
with filters and cursors, model changes, the bounded queue, restart."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from exporter.feedback import Feedback, Rating
from exporter.result import Outcome
from exporter.store import Unavailable
from tests.integration.conftest import wait_for
from tests.unit.store_helpers import queue_length, run, sqlite_store

NOW = float(int(time.time()) - 3600)  # recent: the retention pass at open keeps it


def feedback(comment: str, at: float, **fields: str) -> Feedback:
    return Feedback(
        target=fields.get("target", "local"),
        rating=Rating(fields.get("rating", "negative")),
        category=fields.get("category", "incorrect"),
        comment=comment,
        conversation_id=fields.get("conversation_id", ""),
        received_at=at,
        run_id=fields.get("run_id", ""),
    )


def written(store: object) -> float:
    return store.metrics.writes.labels("written")._value.get()  # type: ignore[attr-defined]


async def test_a_run_reads_back_whole_with_its_shard_and_verdicts(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path, shard="1/3")
    await store.open()
    try:
        kept = run(NOW, outcome=Outcome.CHECK_FAILED, text="forty-one " * 20)
        store.record(kept)
        await store.flush()
        stored = await store.run(kept.run_id)
        assert stored is not None and stored.shard == "1/3" and stored.content_kept
        result = stored.result
        assert result.outcome is Outcome.CHECK_FAILED
        assert result.failed_checks == ("contains",)
        assert result.turns[0].prompt == "What is 17+25?"
        assert result.turns[0].text.startswith("forty-one") and result.turns[0].text.endswith("[…]")
        assert len(result.turns[0].text) == 64 + len(" […]")  # capped as the History caps
        assert stored.verdicts == (
            {
                "name": "contains",
                "passed": False,
                "status": "fail",
                "decided_by": "check",
                "reason": "no '42'",
            },
        )
        assert (result.input_tokens, result.output_tokens, result.trace_id) == (12, 3, "ab" * 16)
        assert await store.run("no-such-run") is None
    finally:
        await store.close()


async def test_runs_filter_and_page_newest_first(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    await store.open()
    try:
        runs = [run(NOW + i, canary="a" if i % 2 else "b") for i in range(7)]
        runs.append(run(NOW + 100, outcome=Outcome.ERROR, target="other"))
        for r in runs:
            store.record(r)
        await store.flush()
        first = await store.runs(canary="a", limit=2)
        second = await store.runs(canary="a", limit=2, cursor=first.cursor)
        ids = [s.result.run_id for s in (*first.items, *second.items)]
        assert ids == [runs[5].run_id, runs[3].run_id, runs[1].run_id]
        assert second.cursor is None
        errors = await store.runs(outcome="error")
        assert [s.result.target for s in errors.items] == ["other"]
        window = await store.runs(since=NOW + 2, until=NOW + 4)
        assert [s.result.started_at for s in window.items] == [NOW + 3, NOW + 2]
        with pytest.raises(ValueError, match="cursor"):
            await store.runs(cursor="not-a-cursor")
    finally:
        await store.close()


async def test_model_identity_changes_are_events(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    await store.open()
    try:
        for i, fingerprint in enumerate(["fp_1", "fp_1", "fp_2", "fp_2", "fp_1"]):
            store.record(run(NOW + i, fingerprint=fingerprint))
        store.record(run(NOW + 9, target="other", fingerprint="fp_9"))  # its first: no event
        await store.flush()
        changes = await store.model_changes()
        assert [(c.at, c.old[1], c.new[1]) for c in changes] == [
            (NOW + 4, "fp_2", "fp_1"),
            (NOW + 2, "fp_1", "fp_2"),
        ]
        assert {c.target for c in changes} == {"local"}
    finally:
        await store.close()


async def test_restart_keeps_runs_feedback_and_the_last_identity(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    await store.open()
    first = run(NOW, fingerprint="fp_1")
    store.record(first)
    feedback_id = await store.add_feedback(feedback("wrong sum", NOW, run_id=first.run_id))
    await store.close()

    again = sqlite_store(tmp_path)
    await again.open()
    try:
        assert (await again.run(first.run_id)) is not None
        kept = (await again.feedback()).items
        assert [(f.id, f.feedback.comment, f.feedback.run_id) for f in kept] == [
            (feedback_id, "wrong sum", first.run_id)
        ]
        again.record(run(NOW + 1, fingerprint="fp_2"))  # compared with the run before restart
        await again.flush()
        assert [c.new[1] for c in await again.model_changes()] == ["fp_2"]
    finally:
        await again.close()


async def test_feedback_filters_and_pages(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    await store.open()
    try:
        for i in range(5):
            rating = "positive" if i % 2 else "negative"
            await store.add_feedback(feedback(f"c{i}", NOW + i, rating=rating))
        await store.add_feedback(
            feedback("slow one", NOW + 9, category="slow", target="other", rating="positive")
        )
        negative = await store.feedback(rating="negative", limit=2)
        rest = await store.feedback(rating="negative", limit=2, cursor=negative.cursor)
        assert [f.feedback.comment for f in (*negative.items, *rest.items)] == ["c4", "c2", "c0"]
        assert [f.feedback.comment for f in (await store.feedback(category="slow")).items] == [
            "slow one"
        ]
        assert len((await store.feedback(target="local", since=NOW + 3)).items) == 2
    finally:
        await store.close()


async def test_a_full_queue_drops_and_counts_never_waits(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path, queue=3)  # not opened: nothing is written
    for i in range(5):
        store.record(run(NOW + i))
    assert len(store.writer) == 3
    assert store.metrics.writes.labels("dropped")._value.get() == 2
    assert queue_length(store) == 3
    with pytest.raises(Unavailable):
        await store.add_feedback(feedback("lost?", NOW))
    assert store.metrics.feedback.labels("refused")._value.get() == 1


async def test_queued_runs_are_written_in_batches_once_open(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path, batch=4)
    for i in range(10):
        store.record(run(NOW + i))
    await store.open()
    try:

        async def all_written() -> bool:
            return written(store) == 10

        await wait_for(all_written, timeout=30)
        assert len((await store.runs(limit=100)).items) == 10
    finally:
        await store.close()
