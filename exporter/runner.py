"""One canary run: send the conversation turn by turn, judge the answers, return a
`ProbeResult`; and the HTTP client every run goes through, whoever starts it.

Each later turn is sent with the model's real earlier answers in its history. The run
stops at the first turn that errors. `run_canary` never raises (except cancellation):
whatever goes wrong, down to a bug in chatcanary itself, comes back as a classified
result, so the scheduler never dies.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace

import aiohttp

from exporter import netguard
from exporter.checks import judge_canary
from exporter.checkspecs import Rubric
from exporter.config import Message, RunSpec
from exporter.errors import ErrorClass
from exporter.judges.panel import Panel, Review
from exporter.protocols import PROBES
from exporter.protocols.http import timing_trace
from exporter.redaction import redact, secrets
from exporter.refusal import detect_refusal
from exporter.result import CheckVerdict, Exchange, JudgeCall, Outcome, ProbeResult, Verdict

log = logging.getLogger(__name__)


def http_client(policy: netguard.Policy) -> aiohttp.ClientSession:
    """The HTTP client canary runs go through, the service's and `probe`'s alike, so their
    timings mean the same: the SSRF guard, and the hook that starts each request's clock
    when its connection opens (or is taken from the pool) and stamps when it is ready."""
    return netguard.session(policy, timing_trace())


async def run_canary(
    session: aiohttp.ClientSession, spec: RunSpec, panel: Panel | None = None
) -> ProbeResult:
    """One run of `spec`; `panel` holds the judge models its rubric checks and refusal
    second opinion ask (none: they are not asked, and rubric checks are `unknown`)."""
    started_at = time.time()
    started = time.perf_counter()
    deadline = asyncio.get_running_loop().time() + spec.timeout
    hidden = secrets(spec)
    history = list(spec.canary.preamble())
    turns: list[Exchange] = []
    for user in spec.canary.user_turns():
        messages = [*history, Message(role="user", content=user)]
        turn_started = time.time()
        exchange = await _probe(session, spec, messages, deadline)
        exchange = redact(replace(exchange, started_at=turn_started, prompt=user), hidden)
        turns.append(exchange)
        if exchange.error_class is not None:
            break
        history = [*messages, Message(role="assistant", content=exchange.text)]
    duration = time.perf_counter() - started
    failed = next((t for t in turns if t.error_class is not None), None)
    refusals = [None if t.error_class is not None else refusal_verdict(t) for t in turns]
    checks: tuple[CheckVerdict, ...] = ()
    calls: tuple[JudgeCall, ...] = ()
    if failed is not None:
        outcome = Outcome.ERROR
    else:
        # the judging stage: a judge's second opinion may replace the last answer's
        # refusal verdict before the pure checks read it; rubric verdicts come after
        review = await _review(session, spec, turns, refusals[-1], panel)
        refusals[-1] = review.refusal
        checks = (*judge_canary(spec.canary, turns, refusals, duration), *review.checks)
        calls = review.calls
        outcome = Outcome.SUCCESS if all(c.passed for c in checks) else Outcome.CHECK_FAILED
    return ProbeResult(
        run_id=uuid.uuid4().hex[:16],
        target=spec.target.name,
        canary=spec.canary.name,
        model=spec.target.model,
        started_at=started_at,
        outcome=outcome,
        duration_seconds=duration,
        error_class=None if failed is None else failed.error_class,
        error_detail="" if failed is None else failed.error_detail,
        turns=tuple(turns),
        checks=checks,
        expect_refusal=spec.canary.expect_refusal,
        refusal=refusals[-1],
        answer_fingerprint=fingerprint(turns) if spec.canary.deterministic and not failed else None,
        judge_calls=calls,
    )


async def _review(
    session: aiohttp.ClientSession,
    spec: RunSpec,
    turns: Sequence[Exchange],
    refusal: Verdict | None,
    panel: Panel | None,
) -> Review:
    rubrics = [label for label, (_, c) in spec.canary.labelled_checks() if isinstance(c, Rubric)]
    if panel is None:
        why = "no verdict: no judge models in this run (on_judge_error applies)"
        checks = tuple(CheckVerdict(label, True, why, "unknown", "none") for label in rubrics)
        return Review(refusal, checks)
    if not rubrics and spec.refusal_judge is None:
        return Review(refusal)
    try:
        return await panel.review(session, spec, turns, refusal)
    except Exception as exc:  # a bug of ours: the verdicts are internal, the run goes on
        log.exception("judging crashed", extra={"target": spec.target.name})
        why = f"chatcanary could not judge: {exc!r}"[:300]
        checks = tuple(CheckVerdict(label, True, why, "internal", "none") for label in rubrics)
        return Review(refusal, checks)


async def _probe(
    session: aiohttp.ClientSession, spec: RunSpec, messages: Sequence[Message], deadline: float
) -> Exchange:
    try:
        return await PROBES[spec.target.protocol](session, spec, messages, deadline)
    except Exception as exc:  # a bug of ours must not take the scheduler down
        log.exception("probe crashed", extra={"target": spec.target.name})
        return Exchange(error_class=ErrorClass.INTERNAL, error_detail=repr(exc)[:300])


def refusal_verdict(exchange: Exchange) -> Verdict:
    """Structured signals first (they are exact), then the text classifier."""
    if exchange.finish_reason == "content_filter":  # Azure's filter, on output or prompt
        reason = exchange.refusal[:120] or "finish_reason: content_filter"
        return Verdict(refused=True, detector="content_filter", reason=reason)
    if exchange.refusal:
        return Verdict(refused=True, detector="refusal_field", reason=exchange.refusal[:120])
    if exchange.finish_reason == "refusal":
        return Verdict(refused=True, detector="stop_reason", reason="stop_reason: refusal")
    return detect_refusal(exchange.text)


def fingerprint(turns: Sequence[Exchange]) -> str:
    """A short hash of the answers, folded for case and white space."""
    folded = "\x1e".join(" ".join(t.text.casefold().split()) for t in turns)
    return hashlib.sha256(folded.encode()).hexdigest()[:16]
