"""Where the pages and the API read kept runs and feedback: the store, when the service
keeps one and it answers; else what this process holds in memory (its History and
FeedbackLog), with a notice that says so. A shared PostgreSQL store answers for the whole
fleet, each run labelled with the shard that ran it.

A run is in the store once the writer's batch holding it is committed (milliseconds after
it finished, unless the store is slow or down); until then it is read from memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from exporter.checkspecs import parse_duration
from exporter.feedback import Feedback
from exporter.result import ProbeResult
from exporter.service import Service

if TYPE_CHECKING:
    from exporter.store import Store

log = logging.getLogger(__name__)

STORE, MEMORY = "store", "memory"  # a listing's source


@dataclass(frozen=True, slots=True)
class Run:
    result: ProbeResult  # as kept: not yet redacted for display
    shard: str
    content_kept: bool = True  # False: retention deleted the exchange, the summary remains
    aged_out: bool = False  # a failure memory keeps after it left the recent window


@dataclass(frozen=True, slots=True)
class Listing:
    """One page, newest first; `cursor` fetches the next (None: the end)."""

    items: list[Any]  # Run, or (shard, Feedback) pairs
    cursor: str | None
    source: str
    notice: str = ""  # why the store was not read, when it was not


@dataclass(frozen=True, slots=True)
class RunQuery:
    target: str | None = None
    canary: str | None = None
    outcome: str | None = None
    shard: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class FeedbackQuery:
    target: str | None = None
    rating: str | None = None
    category: str | None = None
    since: float | None = None
    limit: int = 100
    cursor: str | None = None


def moment(text: str, now: float) -> float:
    """A point in time as a query gives it: a duration back from now (`90m`, `7d`), a
    Unix time in seconds, or an ISO 8601 time with its offset. Raises ValueError."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return now - float(parse_duration(text))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: give a duration back from now (1h, 7d), "
            "a Unix time in seconds or an ISO 8601 time (2024-05-01T12:00:00Z)"
        ) from None
    if when.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset: add Z or +HH:MM")
    return when.timestamp()


def notice(store: Store, exc: Exception) -> str:
    log.warning("store not readable, showing memory", extra={"error": str(exc)})
    return (
        f"The store ({store.shown}) cannot be read right now: this shows only what this "
        "exporter holds in memory, its own latest runs, not the full history."
    )


async def runs(service: Service, query: RunQuery) -> Listing:
    from_memory = ""
    if service.store is not None:
        from exporter.store import StoreError

        try:
            page = await service.store.runs(
                target=query.target,
                canary=query.canary,
                outcome=query.outcome,
                shard=query.shard,
                since=query.since,
                until=query.until,
                limit=query.limit,
                cursor=query.cursor,
            )
        except StoreError as exc:
            from_memory = notice(service.store, exc)
        else:
            found = [Run(s.result, s.shard, s.content_kept) for s in page.items]
            return Listing(found, page.cursor, STORE)
    return Listing(_memory_runs(service, query), None, MEMORY, from_memory)


def _memory_runs(service: Service, query: RunQuery) -> list[Run]:
    shard = str(service.shard)
    if query.shard not in (None, shard):
        return []
    history = service.history
    kept = [
        r
        for key in history.canaries()
        if query.target in (None, key[0]) and query.canary in (None, key[1])
        for r in history.runs(key)
        if query.outcome in (None, r.outcome)
        and (query.since is None or r.started_at >= query.since)
        and (query.until is None or r.started_at < query.until)
    ]
    kept.sort(key=lambda r: r.started_at, reverse=True)
    return [Run(r, shard, aged_out=history.aged_out(r)) for r in kept[: query.limit]]


async def run(service: Service, run_id: str) -> tuple[Run | None, str]:
    """One run in full, and a notice when the store could not be asked."""
    from_memory = ""
    if service.store is not None:
        from exporter.store import StoreError

        try:
            stored = await service.store.run(run_id)
        except StoreError as exc:
            from_memory = notice(service.store, exc)
        else:
            if stored is not None:
                return Run(stored.result, stored.shard, stored.content_kept), ""
    result = service.history.get(run_id)  # not written yet, or no store
    if result is None:
        return None, from_memory
    return Run(result, str(service.shard), aged_out=service.history.aged_out(result)), from_memory


async def feedback(service: Service, query: FeedbackQuery) -> Listing:
    from_memory = ""
    if service.store is not None:
        from exporter.store import StoreError

        try:
            page = await service.store.feedback(
                target=query.target,
                rating=query.rating,
                category=query.category,
                since=query.since,
                limit=query.limit,
                cursor=query.cursor,
            )
        except StoreError as exc:
            from_memory = notice(service.store, exc)
        else:
            return Listing([(s.shard, s.feedback) for s in page.items], page.cursor, STORE)
    shard = str(service.shard)
    kept = [(shard, f) for f in service.feedback if _matches(f, query)]
    return Listing(kept[: query.limit], None, MEMORY, from_memory)


def _matches(entry: Feedback, query: FeedbackQuery) -> bool:
    return (
        query.target in (None, entry.target)
        and query.rating in (None, str(entry.rating))
        and query.category in (None, entry.category)
        and (query.since is None or entry.received_at >= query.since)
    )
