"""Runs and stores for the store's tests: real SQLite files in the test's directory."""

from __future__ import annotations

import itertools
from pathlib import Path

from exporter.config import Store as StoreSettings
from exporter.errors import ErrorClass
from exporter.feedback import Feedback, Rating
from exporter.result import CheckVerdict, Exchange, Outcome, ProbeResult, Verdict
from exporter.store import Store, locate

_ids = itertools.count()


def run(
    started_at: float,
    *,
    target: str = "local",
    canary: str = "arithmetic",
    outcome: Outcome = Outcome.SUCCESS,
    text: str = "42",
    response_model: str | None = "gpt-4o-mini-2024-07-18",
    fingerprint: str | None = "fp_1",
) -> ProbeResult:
    failed = outcome is not Outcome.SUCCESS
    return ProbeResult(
        run_id=f"run{next(_ids):06d}",
        target=target,
        canary=canary,
        model="gpt-4o-mini",
        started_at=started_at,
        outcome=outcome,
        duration_seconds=0.25,
        error_class=ErrorClass.FIRST_TOKEN_TIMEOUT if outcome is Outcome.ERROR else None,
        error_detail="no answer within 10s" if outcome is Outcome.ERROR else "",
        turns=(
            Exchange(
                status=200,
                ttft_seconds=0.1,
                duration_seconds=0.25,
                text=text,
                finish_reason="stop",
                response_model=response_model,
                system_fingerprint=fingerprint,
                input_tokens=12,
                output_tokens=3,
                prompt="What is 17+25?",
            ),
        ),
        checks=(CheckVerdict("contains", not failed, "found '42'" if not failed else "no '42'"),),
        refusal=Verdict(refused=False, detector="none", reason=""),
        trace_id="ab" * 16,
    )


def complaint(run_id: str, received_at: float, comment: str = "wrong sum") -> Feedback:
    """A negative feedback on the target "local", linked to a run."""
    return Feedback(
        target="local",
        rating=Rating.NEGATIVE,
        category="incorrect",
        comment=comment,
        conversation_id="",
        received_at=received_at,
        run_id=run_id,
    )


def sqlite_store(tmp_path: Path, shard: str = "0/1", **settings: object) -> Store:
    config = StoreSettings.model_validate({"url": f"sqlite:///{tmp_path / 'cc.db'}", **settings})
    return Store(locate(config, tmp_path), config, shard=shard, text_chars=64)


def queue_length(store: Store) -> float:
    """chatcanary_store_queue_length as a scrape reads it."""
    (family,) = store.metrics.queue.collect()
    return family.samples[0].value
