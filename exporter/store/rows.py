"""Runs and feedback as table rows, and back: the one place that knows both shapes.

A stored run reads back as a `ProbeResult`. Once retention has deleted its content, the
run comes back with one synthetic turn that carries what the summary row kept (status,
first-token time, tokens, model identity, finish reason) and no text.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from exporter.errors import ErrorClass
from exporter.feedback import Feedback, Rating
from exporter.history import trim
from exporter.result import CheckVerdict, Exchange, Outcome, ProbeResult, RateLimit, Verdict
from exporter.sinks.prometheus import label

PASS, FAIL, UNKNOWN, INTERNAL = "pass", "fail", "unknown", "internal"  # verdict statuses
# field names, for shallow copies: every value is immutable, so `dataclasses.asdict` (a
# deep copy, most of a row's cost) is not needed
EXCHANGE_FIELDS = tuple(f.name for f in fields(Exchange))
RATELIMIT_FIELDS = tuple(f.name for f in fields(RateLimit))
VERDICT_FIELDS = tuple(f.name for f in fields(Verdict))


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A run read from the store, labelled with the shard that ran it."""

    result: ProbeResult
    shard: str
    content_kept: bool  # False: retention deleted the exchange, the summary remains
    verdicts: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class StoredFeedback:
    id: int
    feedback: Feedback
    shard: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "shard": self.shard, **self.feedback.as_dict()}


@dataclass(frozen=True, slots=True)
class ModelChange:
    at: float
    target: str
    shard: str
    run_id: str
    old: tuple[str, str]  # (response_model, system_fingerprint), normalised as the label
    new: tuple[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "target": self.target,
            "shard": self.shard,
            "run_id": self.run_id,
            "old_response_model": self.old[0],
            "old_system_fingerprint": self.old[1],
            "new_response_model": self.new[0],
            "new_system_fingerprint": self.new[1],
        }


@dataclass(frozen=True, slots=True)
class StoredComparison:
    """A comparison made by `chatcanary compare`; `summary` is its JSON document."""

    id: str
    started_at: float
    finished_at: float
    baseline: tuple[str, str]  # (target, model)
    candidate: tuple[str, str]
    runs: int
    verdict: str
    exit_code: int
    summary: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "baseline_target": self.baseline[0],
            "baseline_model": self.baseline[1],
            "candidate_target": self.candidate[0],
            "candidate_model": self.candidate[1],
            "runs": self.runs,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
        }


def comparison_row(document: Mapping[str, Any]) -> dict[str, Any]:
    """The row of a `compare --format json` document (it carries its own id)."""
    return {
        "id": document["id"],
        "started_at": document["started_at"],
        "finished_at": document["finished_at"],
        "baseline_target": document["baseline"]["target"],
        "baseline_model": document["baseline"]["model"][:200],
        "candidate_target": document["candidate"]["target"],
        "candidate_model": document["candidate"]["model"][:200],
        "runs": document["runs"],
        "verdict": document["verdict"],
        "exit_code": document["exit_code"],
        "summary": dict(document),
    }


def stored_comparison(row: Mapping[Any, Any]) -> StoredComparison:
    return StoredComparison(
        id=row["id"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        baseline=(row["baseline_target"], row["baseline_model"]),
        candidate=(row["candidate_target"], row["candidate_model"]),
        runs=row["runs"],
        verdict=row["verdict"],
        exit_code=row["exit_code"],
        summary=row["summary"],
    )


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing, newest first; `cursor` fetches the next (None: the end)."""

    items: tuple[Any, ...]
    cursor: str | None


def identity(result: ProbeResult) -> tuple[str, str] | None:
    """The run's model identity as the model_info metric labels it: the last turn that
    reported one; None when no turn did."""
    for turn in reversed(result.turns):
        if turn.response_model is not None or turn.system_fingerprint is not None:
            return label(turn.response_model), label(turn.system_fingerprint)
    return None


def verdicts(result: ProbeResult) -> list[dict[str, Any]]:
    """Every check's verdict with its status and what decided it."""
    out = []
    for check in result.checks:
        decided = check.decided_by or "check"
        if check.name == "refusal" and result.refusal is not None:
            decided = f"refusal:{result.refusal.detector}"
        out.append(
            {
                "name": check.name,
                "passed": check.passed,  # an unknown verdict may pass or fail its run
                "status": check.status,
                "decided_by": decided,
                "reason": check.reason,
            }
        )
    return out


def run_row(result: ProbeResult, shard: str) -> dict[str, Any]:
    last = result.last
    refusal = None if result.refusal is None else _fields(result.refusal, VERDICT_FIELDS)
    return {
        "run_id": result.run_id,
        "target": result.target,
        "canary": result.canary,
        "model": result.model,
        "shard": shard,
        "started_at": result.started_at,
        "duration_seconds": result.duration_seconds,
        "outcome": str(result.outcome),
        "error_class": None if result.error_class is None else str(result.error_class),
        "error_detail": result.error_detail,
        "http_status": last.status,
        "ttft_seconds": result.ttft_seconds,
        "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
        "finish_reason": _cut(last.finish_reason, 64),
        "response_model": _cut(last.response_model, 200),
        "system_fingerprint": _cut(last.system_fingerprint, 200),
        "answer_fingerprint": _cut(result.answer_fingerprint, 128),
        "expect_refusal": result.expect_refusal,
        "refused": result.refused,
        "refusal": refusal,
        "verdicts": verdicts(result),
        "turns": len(result.turns),
        "trace_id": result.trace_id,
    }


def content_row(result: ProbeResult, text_chars: int) -> dict[str, Any]:
    trimmed = trim(result, text_chars)
    return {
        "run_id": result.run_id,
        "started_at": result.started_at,
        "failed": result.outcome is not Outcome.SUCCESS,
        "exchanges": [_exchange_json(t) for t in trimmed.turns],
    }


def _fields(item: object, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(item, name) for name in names}


def _exchange_json(turn: Exchange) -> dict[str, Any]:
    data = _fields(turn, EXCHANGE_FIELDS)
    data["ratelimit"] = _fields(turn.ratelimit, RATELIMIT_FIELDS)
    data["headers"] = dict(turn.headers)
    data["server_timings"] = dict(turn.server_timings)
    data["chunk_gaps"] = list(turn.chunk_gaps)
    data["error_class"] = None if turn.error_class is None else str(turn.error_class)
    return data


def _exchange(data: Mapping[str, Any]) -> Exchange:
    fields = dict(data)
    fields["ratelimit"] = RateLimit(**fields.get("ratelimit") or {})
    fields["chunk_gaps"] = tuple(fields.get("chunk_gaps") or ())
    error = fields.get("error_class")
    fields["error_class"] = None if error is None else ErrorClass(error)
    known = Exchange.__dataclass_fields__
    return Exchange(**{k: v for k, v in fields.items() if k in known})


def stored_run(row: Mapping[Any, Any], exchanges: list[Any] | None) -> StoredRun:
    """A row of `runs` (and its content's exchanges, None when deleted) as a StoredRun."""
    if exchanges is not None:
        turns = tuple(_exchange(e) for e in exchanges)
    else:
        turns = (
            Exchange(
                status=row["http_status"],
                ttft_seconds=row["ttft_seconds"],
                duration_seconds=row["duration_seconds"],
                finish_reason=row["finish_reason"],
                response_model=row["response_model"],
                system_fingerprint=row["system_fingerprint"],
                input_tokens=row["input_tokens"],
                output_tokens=row["output_tokens"],
                started_at=row["started_at"],
            ),
        )
    refusal = row["refusal"]
    checks = tuple(
        CheckVerdict(
            v["name"],
            v.get("passed", v["status"] == PASS),
            v.get("reason", ""),
            v["status"],
            "" if v.get("decided_by") == "check" else v.get("decided_by", ""),
        )
        for v in row["verdicts"]
    )
    result = ProbeResult(
        run_id=row["run_id"],
        target=row["target"],
        canary=row["canary"],
        model=row["model"],
        started_at=row["started_at"],
        outcome=Outcome(row["outcome"]),
        duration_seconds=row["duration_seconds"],
        error_class=None if row["error_class"] is None else ErrorClass(row["error_class"]),
        error_detail=row["error_detail"],
        turns=turns,
        checks=checks,
        expect_refusal=row["expect_refusal"],
        refusal=None if refusal is None else Verdict(**refusal),
        answer_fingerprint=row["answer_fingerprint"],
        trace_id=row["trace_id"],
    )
    return StoredRun(result, row["shard"], exchanges is not None, tuple(row["verdicts"]))


def feedback_row(feedback: Feedback, shard: str) -> dict[str, Any]:
    return {
        "received_at": feedback.received_at,
        "target": feedback.target,
        "rating": str(feedback.rating),
        "category": feedback.category,
        "comment": feedback.comment,
        "conversation_id": feedback.conversation_id,
        "run_id": feedback.run_id,
        "shard": shard,
    }


def stored_feedback(row: Mapping[Any, Any]) -> StoredFeedback:
    feedback = Feedback(
        target=row["target"],
        rating=Rating(row["rating"]),
        category=row["category"],
        comment=row["comment"],
        conversation_id=row["conversation_id"],
        received_at=row["received_at"],
        run_id=row["run_id"],
    )
    return StoredFeedback(row["id"], feedback, row["shard"])


def model_change(row: Mapping[Any, Any]) -> ModelChange:
    return ModelChange(
        at=row["at"],
        target=row["target"],
        shard=row["shard"],
        run_id=row["run_id"],
        old=(row["old_response_model"], row["old_system_fingerprint"]),
        new=(row["new_response_model"], row["new_system_fingerprint"]),
    )


# --- cursors: the last item's (time, id), opaque to callers -----------------------------


def encode_cursor(at: float, key: str | int) -> str:
    raw = json.dumps([at, key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, Any]:
    """Raises ValueError on a cursor this store did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, key = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        raise ValueError("not a cursor from this listing") from None
    if not isinstance(at, int | float) or not isinstance(key, str | int):
        raise ValueError("not a cursor from this listing")
    return float(at), key


def _cut(value: str | None, limit: int) -> str | None:
    return None if value is None else value[:limit]
