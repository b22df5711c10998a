"""`chatcanary export`: what the store kept, as JSON lines or CSV, newest first, read a
page at a time (never held in memory whole)."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from exporter.store import Store

PAGE = 1000


async def records(store: Store, kind: str, since: float | None) -> AsyncIterator[dict[str, Any]]:
    """Flat records of one kind (runs, feedback, model-changes, traffic), newest first."""
    if kind == "model-changes":
        for change in await store.model_changes(since=since):
            yield change.as_dict()
        return
    cursor: str | None = None
    while True:
        if kind == "runs":
            page = await store.runs(since=since, limit=PAGE, cursor=cursor)
            for stored in page.items:
                summary = stored.result.summary()
                summary.pop("answer")  # the content stays in the store; see /api/v1/runs/{id}
                yield {
                    "started_at": stored.result.started_at,
                    "shard": stored.shard,
                    **summary,
                    "verdicts": list(stored.verdicts),
                    "content_kept": stored.content_kept,
                }
        elif kind == "traffic":  # captured exchanges; their text stays in the store
            page = await store.traffic_page(since=since, limit=PAGE, cursor=cursor)
            for exchange in page.items:
                yield exchange
        else:
            page = await store.feedback(since=since, limit=PAGE, cursor=cursor)
            for item in page.items:
                yield item.as_dict()
        if page.cursor is None:
            return
        cursor = page.cursor


async def write(store: Store, kind: str, since: float | None, form: str, out: TextIO) -> int:
    """Write every record; how many. CSV cells holding lists or objects are JSON."""
    count = 0
    writer: csv.DictWriter[str] | None = None
    async for record in records(store, kind, since):
        if form == "jsonl":
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(record), lineterminator="\n")
                writer.writeheader()
            writer.writerow({k: _cell(v) for k, v in record.items()})
        count += 1
    return count


def _cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value
