"""Retention: what the store deletes, and when. Exchange content goes first (successful
runs' after `runs`, failed runs' after `failed_runs`), summary rows and model changes
after `summaries`, feedback after `feedback`. On SQLite a size cap then deletes the
oldest content, then the oldest summaries, until the live data fits; feedback never goes
for size. Deletes run in chunks, so a sweep never holds the write lock for long.

On PostgreSQL one replica sweeps at a time: the sweep takes a try-lock and is skipped
where another holds it.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, Table, delete, select, text

from exporter.config import Retention
from exporter.store.schema import feedback, model_changes, run_content, runs

RETENTION_LOCK = 0x63_63_72_74  # pg_try_advisory_lock key: "ccrt"
CHUNK = 5000


def sweep(
    conn: Connection, retention: Retention, max_size: int | None, now: float
) -> dict[str, int] | None:
    """One pass; the rows deleted by kind, or None when another replica is sweeping."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        lock = text("SELECT pg_try_advisory_lock(:k)")
        got = conn.execute(lock, {"k": RETENTION_LOCK}).scalar()
        conn.commit()
        if not got:
            return None
    try:
        deleted = {
            "runs": _chunked(
                conn,
                run_content,
                run_content.c.run_id,
                (~run_content.c.failed) & (run_content.c.started_at < now - retention.runs),
            ),
            "failed_runs": _chunked(
                conn,
                run_content,
                run_content.c.run_id,
                run_content.c.failed & (run_content.c.started_at < now - retention.failed_runs),
            ),
        }
        cutoff = now - retention.summaries
        _chunked(conn, run_content, run_content.c.run_id, run_content.c.started_at < cutoff)
        deleted["summaries"] = _chunked(conn, runs, runs.c.run_id, runs.c.started_at < cutoff)
        deleted["model_changes"] = _chunked(
            conn, model_changes, model_changes.c.id, model_changes.c.at < cutoff
        )
        deleted["feedback"] = _chunked(
            conn, feedback, feedback.c.id, feedback.c.received_at < now - retention.feedback
        )
        if max_size is not None and conn.dialect.name == "sqlite":
            for kind, count in (_cap(conn, max_size)).items():
                deleted[kind] += count
        return deleted
    finally:
        if postgres:
            conn.rollback()
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": RETENTION_LOCK})
            conn.commit()


def _chunked(
    conn: Connection, table: Table, key: ColumnElement[object], where: ColumnElement[bool]
) -> int:
    """Delete the matching rows, CHUNK per transaction; how many."""
    total = 0
    while True:
        chosen = select(key).where(where).limit(CHUNK).scalar_subquery()
        result = conn.execute(delete(table).where(key.in_(chosen)))
        conn.commit()
        total += result.rowcount
        if result.rowcount < CHUNK:
            return total


def used_bytes(conn: Connection) -> int:
    """SQLite: the bytes the live data takes (free pages, reused by new rows, excluded)."""
    pages = conn.execute(text("PRAGMA page_count")).scalar_one()
    free = conn.execute(text("PRAGMA freelist_count")).scalar_one()
    size = conn.execute(text("PRAGMA page_size")).scalar_one()
    return int((pages - free) * size)


def _cap(conn: Connection, max_size: int) -> dict[str, int]:
    deleted = {"runs": 0, "failed_runs": 0, "summaries": 0}
    steps = (
        (
            "runs",
            run_content,
            run_content.c.run_id,
            ~run_content.c.failed,
            run_content.c.started_at,
        ),
        (
            "failed_runs",
            run_content,
            run_content.c.run_id,
            run_content.c.failed,
            run_content.c.started_at,
        ),
        ("summaries", runs, runs.c.run_id, None, runs.c.started_at),
    )
    for kind, table, key, where, order in steps:
        while used_bytes(conn) > max_size:
            query = select(key).order_by(order).limit(CHUNK // 5)
            if where is not None:
                query = query.where(where)
            result = conn.execute(delete(table).where(key.in_(query.scalar_subquery())))
            conn.commit()
            deleted[kind] += result.rowcount
            if not result.rowcount:
                break
    return deleted
