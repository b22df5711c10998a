"""One canary run: send the conversation turn by turn, judge the answers, return a
`ProbeResult`; and the HTTP client every run goes through, whoever starts it.

Each later turn is sent with the model's real earlier answers in its history. The run
stops at the first turn that errors. `run_canary` never raises (except cancellation):
whatever goes wrong, down to a bug in chatcanary itself, comes back as a classified
result, so the scheduler never dies.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

import aiohttp

from exporter import netguard
from exporter.checks import internal_verdict, judge_canary
from exporter.checkspecs import Rubric
from exporter.config import Message, RunSpec
from exporter.errors import ErrorClass
from exporter.judges.panel import Panel, Review
from exporter.protocols import probe_for
from exporter.protocols.http import timing_trace
from exporter.redaction import redact, scrub, secrets
from exporter.refusal import detect_refusal
from exporter.result import CheckVerdict, Exchange, JudgeCall, Outcome, ProbeResult, Verdict

log = logging.getLogger(__name__)
_T = TypeVar("_T")


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
        exchange = replace(exchange, started_at=turn_started, prompt=user)
        # redacted before it is cut, so no cut leaves half a secret behind
        exchange = redact(exchange, hidden).bounded()
        turns.append(exchange)
        if exchange.error_class is not None:
            break
        history = [*messages, Message(role="assistant", content=exchange.text)]
    duration = time.perf_counter() - started
    try:
        return await _judged(session, spec, turns, started_at, duration, panel)
    except Exception as exc:  # whatever raises after the exchange, the run is recorded
        log_crash("judging crashed", exc, spec)
        return crashed(spec, started_at, duration, exc, turns)


def crashed(
    spec: RunSpec,
    started_at: float,
    duration: float,
    exc: BaseException,
    turns: Sequence[Exchange] = (),
) -> ProbeResult:
    """The result of a run that chatcanary itself failed to finish: error class
    `internal`, with the exception as its detail and the exchanges it had."""
    return ProbeResult(
        run_id=uuid.uuid4().hex[:16],
        target=spec.target.name,
        canary=spec.canary.name,
        model=spec.target.model,
        started_at=started_at,
        outcome=Outcome.ERROR,
        duration_seconds=duration,
        error_class=ErrorClass.INTERNAL,
        # redacted before it is cut, as every server text is
        error_detail=scrub(f"internal error: {type(exc).__name__}: {exc}", secrets(spec))[:300],
        turns=tuple(turns),
        expect_refusal=spec.canary.expect_refusal,
    )


def log_crash(event: str, exc: BaseException, spec: RunSpec) -> None:
    """One error line with the traceback as a field, redacted: an exception's message
    may carry what a server sent or a credential of the target (`log.exception` would
    print it as it is)."""
    trace = scrub("".join(traceback.format_exception(exc)), secrets(spec))
    extra = {"target": spec.target.name, "canary": spec.canary.name, "traceback": trace}
    log.error(event, extra=extra)


async def guarded(run: Callable[[RunSpec], Awaitable[ProbeResult]], spec: RunSpec) -> ProbeResult:
    """`run(spec)`'s result; when it raises, a result of error class `internal` in its
    place, so that no run goes unrecorded."""
    started_at, started = time.time(), time.perf_counter()
    try:
        return await run(spec)
    except Exception as exc:
        log_crash("canary run failed", exc, spec)
        return crashed(spec, started_at, time.perf_counter() - started, exc)


# Answers up to this many characters (all turns together) are judged on the event loop;
# longer ones on a judging thread, so that checks linear in a 1 MiB answer (a JSON
# schema over 100,000 items takes seconds) never hold the loop.
INLINE_CHARS = 16384
_JUDGING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="judge")


async def _judged(
    session: aiohttp.ClientSession,
    spec: RunSpec,
    turns: Sequence[Exchange],
    started_at: float,
    duration: float,
    panel: Panel | None,
) -> ProbeResult:
    failed = next((t for t in turns if t.error_class is not None), None)
    long = sum(len(t.text) for t in turns) > INLINE_CHARS
    refusals, broken = await _pure(long, _refusals, spec, turns)
    checks: tuple[CheckVerdict, ...] = ()
    calls: tuple[JudgeCall, ...] = ()
    if failed is not None:
        outcome = Outcome.ERROR
    else:
        # the judging stage: a judge's second opinion may replace the last answer's
        # refusal verdict before the pure checks read it; rubric verdicts come after
        review = await _review(session, spec, turns, refusals[-1], panel)
        refusals[-1] = review.refusal
        pure = await _pure(long, _checks, spec, turns, refusals, duration, broken)
        checks = (*pure, *review.checks)
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


async def _pure(long: bool, judge: Callable[..., _T], *args: Any) -> _T:
    """`judge(*args)`: on the loop, or on a judging thread when the answers are long."""
    if not long:
        return judge(*args)
    return await asyncio.get_running_loop().run_in_executor(_JUDGING, judge, *args)


def _refusals(
    spec: RunSpec, turns: Sequence[Exchange]
) -> tuple[list[Verdict | None], CheckVerdict | None]:
    """The refusal verdict of each turn. Pure. A classifier that raises leaves no verdict,
    and the internal verdict that says why."""
    refusals: list[Verdict | None] = []
    broken: CheckVerdict | None = None
    for turn in turns:
        if turn.error_class is not None:
            refusals.append(None)
            continue
        try:
            refusals.append(refusal_verdict(turn))
        except Exception as exc:
            log_crash("refusal classifier raised", exc, spec)
            refusals.append(None)
            broken = broken or internal_verdict("refusal", exc)
    return refusals, broken


def _checks(
    spec: RunSpec,
    turns: Sequence[Exchange],
    refusals: Sequence[Verdict | None],
    duration: float,
    broken: CheckVerdict | None,
) -> tuple[CheckVerdict, ...]:
    """The pure checks' verdicts; a classifier that raised fails the `refusal` check as
    internal. Pure: it runs on the loop or on a judging thread."""
    checks = judge_canary(spec.canary, turns, refusals, duration)
    if broken is not None:  # in place of the verdict on `expect_refusal`, which is last
        checks = (*checks[:-1], broken)
    return checks


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
        log_crash("judging crashed", exc, spec)
        why = scrub(f"chatcanary could not judge: {exc!r}", secrets(spec))[:300]
        checks = tuple(CheckVerdict(label, True, why, "internal", "none") for label in rubrics)
        return Review(refusal, checks)


async def _probe(
    session: aiohttp.ClientSession, spec: RunSpec, messages: Sequence[Message], deadline: float
) -> Exchange:
    try:
        return await probe_for(spec.target.protocol)(session, spec, messages, deadline)
    except Exception as exc:  # a bug of ours must not take the scheduler down
        log_crash("probe crashed", exc, spec)
        return Exchange(error_class=ErrorClass.INTERNAL, error_detail=repr(exc))


def refusal_verdict(exchange: Exchange) -> Verdict:
    """Structured signals first (they are exact), then the text classifier."""
    if exchange.finish_reason == "content_filter":  # Azure's filter, on output or prompt
        reason = exchange.refusal[:120] or "finish_reason: content_filter"
        return Verdict(refused=True, detector="content_filter", reason=reason)
    if exchange.refusal:
        return Verdict(refused=True, detector="refusal_field", reason=exchange.refusal[:120])
    if exchange.finish_reason == "refusal":
        return Verdict(refused=True, detector="stop_reason", reason="stop_reason: refusal")
    if len(exchange.text) <= RECENT_CHARS:
        return _recent_verdict(exchange.text)
    return detect_refusal(exchange.text)


# A canary's answer often repeats run after run ("42"): the classifier is pure, so the
# verdict on a recent short answer is reused (at most 256 x 4096 characters are kept).
RECENT_CHARS = 4096


@functools.lru_cache(maxsize=256)
def _recent_verdict(text: str) -> Verdict:
    return detect_refusal(text)


def fingerprint(turns: Sequence[Exchange]) -> str:
    """A short hash of the answers, folded for case and white space."""
    folded = "\x1e".join(" ".join(t.text.casefold().split()) for t in turns)
    return hashlib.sha256(folded.encode()).hexdigest()[:16]
