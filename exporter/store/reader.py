"""Queries: runs, one run, feedback and model changes, newest first, a page at a time.

Pages are keyset-paginated on (time, id): a cursor names the last item shown, so a page
stays right while new rows arrive. Every row carries the shard that wrote it; a shared
PostgreSQL store answers for the whole fleet.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, Select, and_, or_, select

from exporter.store import rows
from exporter.store.rows import ModelChange, Page, StoredComparison, StoredRun
from exporter.store.schema import comparisons, model_changes, run_content, runs
from exporter.store.schema import feedback as feedback_table

MAX_LIMIT = 1000


def _page_filter(
    query: Select[Any], at: Column[Any], key: Column[Any], cursor: str | None
) -> Select[Any]:
    if cursor is None:
        return query
    last_at, last_key = rows.decode_cursor(cursor)
    return query.where(or_(at < last_at, and_(at == last_at, key < last_key)))


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be from 1 to {MAX_LIMIT}")
    return limit


def list_runs(
    conn: Connection,
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
    """Summaries (no exchange content) of the matching runs, newest first."""
    limit = _limit(limit)
    query = select(runs)
    for column, value in (
        (runs.c.target, target),
        (runs.c.canary, canary),
        (runs.c.outcome, outcome),
        (runs.c.shard, shard),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(runs.c.started_at >= since)
    if until is not None:
        query = query.where(runs.c.started_at < until)
    query = _page_filter(query, runs.c.started_at, runs.c.run_id, cursor)
    query = query.order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(limit + 1)
    found = conn.execute(query).mappings().all()
    kept = _kept(conn, [r["run_id"] for r in found[:limit]])
    items = tuple(_summary(r, r["run_id"] in kept) for r in found[:limit])
    last = found[limit - 1] if len(found) > limit else None
    next_cursor = None if last is None else rows.encode_cursor(last["started_at"], last["run_id"])
    return Page(items, next_cursor)


def _summary(row: Any, content_kept: bool) -> StoredRun:
    summary = rows.stored_run(row, None)
    return StoredRun(summary.result, summary.shard, content_kept, summary.verdicts)


def _kept(conn: Connection, run_ids: list[str]) -> set[str]:
    if not run_ids:
        return set()
    query = select(run_content.c.run_id).where(run_content.c.run_id.in_(run_ids))
    return set(conn.execute(query).scalars())


def get_run(conn: Connection, run_id: str) -> StoredRun | None:
    """One run in full: with its exchanges while retention keeps them."""
    row = conn.execute(select(runs).where(runs.c.run_id == run_id)).mappings().first()
    if row is None:
        return None
    query = select(run_content.c.exchanges).where(run_content.c.run_id == run_id)
    exchanges = conn.execute(query).scalar()
    return rows.stored_run(row, exchanges)


def list_feedback(
    conn: Connection,
    *,
    target: str | None = None,
    rating: str | None = None,
    category: str | None = None,
    since: float | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> Page:
    limit = _limit(limit)
    table = feedback_table
    query = select(table)
    for column, value in (
        (table.c.target, target),
        (table.c.rating, rating),
        (table.c.category, category),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(table.c.received_at >= since)
    query = _page_filter(query, table.c.received_at, table.c.id, cursor)
    query = query.order_by(table.c.received_at.desc(), table.c.id.desc()).limit(limit + 1)
    found = conn.execute(query).mappings().all()
    items = tuple(rows.stored_feedback(r) for r in found[:limit])
    last = found[limit - 1] if len(found) > limit else None
    next_cursor = None if last is None else rows.encode_cursor(last["received_at"], last["id"])
    return Page(items, next_cursor)


def list_model_changes(
    conn: Connection, *, since: float | None = None, target: str | None = None
) -> list[ModelChange]:
    """Every kept model change, newest first."""
    query = select(model_changes)
    if since is not None:
        query = query.where(model_changes.c.at >= since)
    if target is not None:
        query = query.where(model_changes.c.target == target)
    query = query.order_by(model_changes.c.at.desc(), model_changes.c.id.desc())
    return [rows.model_change(r) for r in conn.execute(query).mappings()]


def list_comparisons(
    conn: Connection, *, since: float | None = None, target: str | None = None
) -> list[StoredComparison]:
    """Every kept comparison, newest first; `target`: as its baseline or its candidate."""
    query = select(comparisons)
    if since is not None:
        query = query.where(comparisons.c.finished_at >= since)
    if target is not None:
        query = query.where(
            or_(comparisons.c.baseline_target == target, comparisons.c.candidate_target == target)
        )
    query = query.order_by(comparisons.c.finished_at.desc(), comparisons.c.id.desc())
    return [rows.stored_comparison(r) for r in conn.execute(query).mappings()]
