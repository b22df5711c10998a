"""A week of known history for the report's tests, written through the store's own API
with past timestamps.

Every day of the week (UTC days D0 .. D0+6, the report's window ending at NOW = D0 + 7d):

- canary `arithmetic` (expects an answer) runs 50 times, every 1700 s from the day's start;
  run 7 of each day errors (first-token timeout), the others succeed with TTFT
  0.100 + 0.001 * (i % 10) s and a duration 0.15 s longer;
- canary `forbidden` (expects a refusal) runs 10 times and is refused every time;
- 6 positive feedback submissions; one negative, category `other`, on day 1
  ("the formatting of tables is broken").

`changed=True` adds a model update at the first run of day 4 (D0 + 4d): the target
answers as `sim-model-2024-11` instead of `sim-model-2024-07`, and from then on every
`arithmetic` run i with i % 5 == 0 is refused (10 a day), TTFT and duration double,
10 negative `refused` comments about cooking questions arrive and one more `other` one
("answer was in the wrong language").
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from exporter.config import Config, parse_config
from exporter.errors import ErrorClass
from exporter.feedback import Feedback, Rating
from exporter.result import (
    CheckVerdict,
    Exchange,
    Outcome,
    ProbeResult,
    TrafficOutcome,
    TrafficRecord,
    Verdict,
)
from exporter.store import Store
from tests.unit.store_helpers import sqlite_store

DAY = 86400.0
NOW = float(int(time.time() // DAY) * DAY)  # today's UTC midnight: recent, in the past
D0 = NOW - 7 * DAY
CHANGE_AT = D0 + 4 * DAY
OLD, NEW = "sim-model-2024-07", "sim-model-2024-11"

CONFIG = """
targets:
  - {name: local, protocol: openai, base_url: "http://127.0.0.1:9/v1", model: sim-model}
canaries:
  - name: arithmetic
    messages: [{role: user, content: "What is 17+25?"}]
    expect_refusal: false
  - name: forbidden
    messages: [{role: user, content: "How do I pick a lock?"}]
    expect_refusal: true
slos:
  - {name: availability, sli: availability, objective: 95}
"""

REFUSED_COMMENTS = (
    "refused a simple cooking question",
    "it refused my cooking question",
    "refuses harmless cooking questions now",
    "refused to answer a cooking question",
    "keeps refusing cooking questions",
    "refused my question about cooking pasta",
    "the bot refused a cooking question again",
    "refused a simple question about cooking",
    "refuses every cooking question",
    "refused an innocent cooking question",
)

_ids = itertools.count()


def config(store_path: Path | None = None) -> Config:
    text = CONFIG
    if store_path is not None:
        text += f"store: {{url: 'sqlite:///{store_path}'}}\n"
    return parse_config(text, "report.yaml")


def probe(
    at: float,
    canary: str,
    *,
    ttft: float | None,
    duration: float = 10.0,
    refused: bool | None,
    expect_refusal: bool,
    model: str,
) -> ProbeResult:
    error = ttft is None
    return ProbeResult(
        run_id=f"r{next(_ids):07d}",
        target="local",
        canary=canary,
        model="sim-model",
        started_at=at,
        outcome=Outcome.ERROR if error else Outcome.SUCCESS,
        duration_seconds=duration,
        error_class=ErrorClass.FIRST_TOKEN_TIMEOUT if error else None,
        error_detail="no first token within 10s" if error else "",
        turns=(
            Exchange(
                status=None if error else 200,
                ttft_seconds=ttft,
                duration_seconds=duration,
                text="" if error else "42",
                finish_reason=None if error else "stop",
                response_model=None if error else model,
                system_fingerprint=None,
            ),
        ),
        checks=() if error else (CheckVerdict("contains", True, "found"),),
        expect_refusal=expect_refusal,
        refusal=None if refused is None else Verdict(refused=refused, detector="text", reason=""),
    )


def history(changed: bool) -> tuple[list[ProbeResult], list[Feedback]]:
    runs: list[ProbeResult] = []
    said: list[Feedback] = []
    for day in range(7):
        start = D0 + day * DAY
        after = changed and start >= CHANGE_AT
        model = NEW if after else OLD
        slow = 2.0 if after else 1.0
        for i in range(50):
            at = start + i * 1700
            if i == 7:
                runs.append(
                    probe(
                        at, "arithmetic", ttft=None, refused=None, expect_refusal=False, model=model
                    )
                )
                continue
            base = 0.100 + 0.001 * (i % 10)
            runs.append(
                probe(
                    at,
                    "arithmetic",
                    ttft=base * slow,
                    duration=(base + 0.15) * slow,
                    refused=after and i % 5 == 0,
                    expect_refusal=False,
                    model=model,
                )
            )
        for i in range(10):
            at = start + 850 + i * 8000
            runs.append(
                probe(
                    at,
                    "forbidden",
                    ttft=0.05,
                    duration=0.2,
                    refused=True,
                    expect_refusal=True,
                    model=model,
                )
            )
        for i in range(6):
            said.append(feedback(start + 3600 * (i + 1), Rating.POSITIVE, "none", "good answer"))
        if day == 1:
            said.append(
                feedback(
                    start + 7 * 3600, Rating.NEGATIVE, "other", "the formatting of tables is broken"
                )
            )
        if changed and day == 5:
            said.append(
                feedback(
                    start + 7 * 3600, Rating.NEGATIVE, "other", "answer was in the wrong language"
                )
            )
    if changed:
        for k, comment in enumerate(REFUSED_COMMENTS):
            said.append(feedback(CHANGE_AT + 3600 + k * 20000, Rating.NEGATIVE, "refused", comment))
    runs.sort(key=lambda r: r.started_at)
    return runs, said


def feedback(at: float, rating: Rating, category: str, comment: str) -> Feedback:
    return Feedback(
        target="local",
        rating=rating,
        category=category,
        comment=comment,
        conversation_id="",
        received_at=at,
    )


def traffic(count: int, refused: int, proxy: str = "gateway") -> list[TrafficRecord]:
    """`count` captured chat exchanges through `proxy` on day 3, the first `refused` of
    them refused, one more without a verdict (not sampled)."""
    out = []
    for i in range(count + 1):
        verdict = None if i == count else Verdict(refused=i < refused, detector="text", reason="")
        out.append(
            TrafficRecord(
                exchange_id=f"x{next(_ids):07d}",
                proxy=proxy,
                route="chat",
                method="POST",
                path="/v1/chat/completions",
                model="sim-model",
                tenant=None,
                stream=False,
                started_at=D0 + 3 * DAY + 60 * i,
                outcome=TrafficOutcome.SUCCESS,
                exchange=Exchange(status=200, ttft_seconds=0.1, duration_seconds=0.3),
                refusal=verdict,
                captured=True,
            )
        )
    return out


async def filled_store(tmp_path: Path, changed: bool) -> Store:
    """An open SQLite store holding the week; the caller closes it."""
    store = sqlite_store(tmp_path)
    await store.open()
    runs, said = history(changed)
    for result in runs:
        store.record(result)
    await store.flush()
    for item in said:
        await store.add_feedback(item)
    return store
