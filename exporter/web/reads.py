"""Where the pages and the API read kept runs and feedback: the store, when the service
keeps one and it answers; else what this process holds in memory, with a notice that says
so: beside a store, the runs not written yet and the latest run of each canary; without
one, its History; and its FeedbackLog. A shared PostgreSQL store answers for the whole
fleet, each run labelled with the shard that ran it.

A run is in the store once the writer's batch holding it is committed (milliseconds after
it finished, unless the store is slow or down); until then it is read from the writer's
queue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from exporter.checkspecs import parse_duration
from exporter.feedback import Feedback
from exporter.history import trim
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
    kept = [
        r
        for r in _held(service)
        if query.target in (None, r.target)
        and query.canary in (None, r.canary)
        and query.outcome in (None, r.outcome)
        and (query.since is None or r.started_at >= query.since)
        and (query.until is None or r.started_at < query.until)
    ]
    kept.sort(key=lambda r: r.started_at, reverse=True)
    return [_memory_run(service, r) for r in kept[: query.limit]]


def _held(service: Service) -> list[ProbeResult]:
    """The runs this process holds in full: without a store, its History's; beside one, the
    runs not written yet and the latest run of each canary."""
    history = service.history
    if history is not None:
        return [r for key in history.canaries() for r in history.runs(key)]
    held = {r.run_id: r for r in service.recent.latest_runs()}
    if service.store is not None:
        chars = service.config.web.history_text_chars
        for result in service.store.writer.unwritten():
            held.setdefault(result.run_id, trim(result, chars))
    return list(held.values())


def _memory_run(service: Service, result: ProbeResult) -> Run:
    aged_out = service.history is not None and service.history.aged_out(result)
    return Run(result, str(service.shard), aged_out=aged_out)


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
    # not written yet, or no store
    result = next((r for r in _held(service) if r.run_id == run_id), None)
    if result is None:
        return None, from_memory
    return _memory_run(service, result), from_memory


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
