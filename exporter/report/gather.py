"""What the report reads: the store's run summaries, feedback, model changes, the
refusal counts of captured real traffic and the comparisons of `chatcanary compare`, as
plain points.

Run summaries are read newest first, a page at a time, up to `MAX_RUNS`; past that the
window's older part is left to Prometheus and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from exporter.store.rows import ModelChange, StoredComparison, StoredFeedback

if TYPE_CHECKING:
    from exporter.store import Store

MAX_RUNS = 200_000
PAGE = 1000
# a comparison approves a model change made within this many seconds after it
APPROVAL_WINDOW = 30 * 86400.0


@dataclass(frozen=True, slots=True)
class RunPoint:
    """One canary run, as the report counts it."""

    run_id: str
    target: str
    canary: str
    started_at: float
    outcome: str  # success | error | check_failed
    error_class: str | None
    ttft: float | None
    duration: float
    expect_refusal: bool | None
    refused: bool | None
    failed_checks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Facts:
    start: float
    end: float
    runs: tuple[RunPoint, ...]  # oldest first
    feedback: tuple[StoredFeedback, ...]  # oldest first
    changes: tuple[ModelChange, ...]  # oldest first
    traffic: dict[str, tuple[int, int]]  # captured real traffic per proxy: (refused, judged)
    runs_truncated_before: float | None  # older runs of the window were not read
    # `chatcanary compare` runs that may have approved a change of the window, newest first
    comparisons: tuple[StoredComparison, ...] = ()


async def gather(store: Store, start: float, end: float) -> Facts:
    runs, cut = await _runs(store, start, end)
    feedback = [f for f in await _all_feedback(store, start) if f.feedback.received_at < end]
    changes = [c for c in await store.model_changes(since=start) if c.at < end]
    return Facts(
        start,
        end,
        tuple(reversed(runs)),
        tuple(reversed(feedback)),
        tuple(reversed(changes)),
        await store.traffic_refusals(start, end),
        cut,
        tuple(await store.comparisons(since=start - APPROVAL_WINDOW)),
    )


async def _runs(store: Store, start: float, end: float) -> tuple[list[RunPoint], float | None]:
    points: list[RunPoint] = []
    cursor: str | None = None
    while True:
        page = await store.runs(since=start, until=end, limit=PAGE, cursor=cursor)
        for stored in page.items:
            r = stored.result
            points.append(
                RunPoint(
                    r.run_id,
                    r.target,
                    r.canary,
                    r.started_at,
                    str(r.outcome),
                    None if r.error_class is None else str(r.error_class),
                    r.ttft_seconds,
                    r.duration_seconds,
                    r.expect_refusal,
                    r.refused,
                    r.failed_checks,
                )
            )
        cursor = page.cursor
        if cursor is None:
            return points, None
        if len(points) >= MAX_RUNS:
            return points, points[-1].started_at


async def _all_feedback(store: Store, start: float) -> list[StoredFeedback]:
    out: list[StoredFeedback] = []
    cursor: str | None = None
    while True:
        page = await store.feedback(since=start, limit=PAGE, cursor=cursor)
        out.extend(page.items)
        cursor = page.cursor
        if cursor is None or len(out) >= MAX_RUNS:
            return out
