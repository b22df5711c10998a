"""Captured traffic exchanges: rows in, pages out, found by proxy and conversation id.

Written only for a proxy with `capture: true`, already redacted and capped by
`exporter.proxy.capture`; read by the API and the page beside canary runs, and joined to
feedback by `conversation_id`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select

from exporter.result import TrafficRecord
from exporter.store import rows
from exporter.store.rows import Page
from exporter.store.schema import feedback, traffic_exchanges

COLUMNS = [c.name for c in traffic_exchanges.columns if c.name != "shard"]


def traffic_row(record: TrafficRecord, shard: str) -> dict[str, Any]:
    e = record.exchange
    refusal = record.refusal
    return {
        "exchange_id": record.exchange_id,
        "proxy": record.proxy,
        "shard": shard,
        "conversation_id": record.conversation_id,
        "started_at": record.started_at,
        "duration_seconds": e.duration_seconds,
        "route": record.route,
        "model": record.model[:200],
        "stream": record.stream,
        "outcome": str(record.outcome),
        "error_class": None if record.error_class is None else str(record.error_class),
        "http_status": e.status,
        "ttft_seconds": e.ttft_seconds,
        "input_tokens": e.input_tokens,
        "output_tokens": e.output_tokens,
        "finish_reason": (e.finish_reason or None) and e.finish_reason[:64],
        "response_model": (e.response_model or None) and e.response_model[:200],
        "refusal": None
        if refusal is None
        else {"refused": refusal.refused, "detector": refusal.detector},
        "trace_id": record.trace_id,
        "prompt": e.prompt,
        "answer": e.text,
    }


def refusals(conn: Connection, since: float, until: float) -> dict[str, tuple[int, int]]:
    """Per proxy, the captured exchanges of [since, until) the refusal verdict read:
    (refused, judged)."""
    t = traffic_exchanges
    query = select(t.c.proxy, t.c.refusal).where(t.c.started_at >= since, t.c.started_at < until)
    counts: dict[str, tuple[int, int]] = {}
    for proxy, verdict in conn.execute(query):
        if not isinstance(verdict, dict):  # not sampled, or no answer to read
            continue
        refused, judged = counts.get(proxy, (0, 0))
        counts[proxy] = (refused + bool(verdict.get("refused")), judged + 1)
    return counts


def list_traffic(
    conn: Connection,
    *,
    proxy: str | None = None,
    conversation_id: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Captured exchanges, newest first, without their text."""
    t = traffic_exchanges
    query = select(*(t.c[name] for name in COLUMNS if name not in ("prompt", "answer")))
    if proxy is not None:
        query = query.where(t.c.proxy == proxy)
    if conversation_id is not None:
        query = query.where(t.c.conversation_id == conversation_id)
    query = query.order_by(t.c.started_at.desc()).limit(max(1, min(limit, 500)))
    return [dict(row._mapping) for row in conn.execute(query)]


def page_traffic(conn: Connection, *, since: float | None, limit: int, cursor: str | None) -> Page:
    """Captured exchanges without their text, newest first, a page at a time (keyset on
    start and exchange id, as runs are)."""
    t = traffic_exchanges
    query = select(*(t.c[name] for name in (*COLUMNS, "shard") if name not in ("prompt", "answer")))
    if since is not None:
        query = query.where(t.c.started_at >= since)
    if cursor is not None:
        at, key = rows.decode_cursor(cursor)
        query = query.where(
            or_(t.c.started_at < at, and_(t.c.started_at == at, t.c.exchange_id < key))
        )
    query = query.order_by(t.c.started_at.desc(), t.c.exchange_id.desc()).limit(limit + 1)
    found = [dict(row._mapping) for row in conn.execute(query)]
    last = found[limit - 1] if len(found) > limit else None
    return Page(
        tuple(found[:limit]),
        None if last is None else rows.encode_cursor(last["started_at"], last["exchange_id"]),
    )


def get_exchange(conn: Connection, exchange_id: str) -> dict[str, Any] | None:
    """One captured exchange with its text and the feedback given on its conversation."""
    t = traffic_exchanges
    row = (
        conn.execute(select(*(t.c[name] for name in COLUMNS)).where(t.c.exchange_id == exchange_id))
    ).first()
    if row is None:
        return None
    data = dict(row._mapping)
    data["feedback"] = []
    if data["conversation_id"]:
        f = feedback
        query = (
            select(f.c.received_at, f.c.rating, f.c.category, f.c.comment)
            .where(f.c.conversation_id == data["conversation_id"])
            .order_by(f.c.received_at)
        )
        data["feedback"] = [dict(r._mapping) for r in conn.execute(query)]
    return data


def sweep(conn: Connection, before: float) -> int:
    """Delete the exchanges captured before `before`; how many."""
    t = traffic_exchanges
    result = conn.execute(delete(t).where(t.c.started_at < before))
    conn.commit()
    return int(result.rowcount)
