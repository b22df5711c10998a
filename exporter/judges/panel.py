"""The runner's judging stage: the configured judges, their caches, budgets and
concurrency, and the two things they are asked — a second opinion on a refusal verdict,
and each rubric check.

A judge that times out, errs, answers garbage or has spent its budget gives no verdict:
a rubric check then takes the status `on_judge_error` says (default `unknown`, which does
not fail the run), and a refusal keeps the text classifier's verdict. Either way the
reason says what happened, and `chatcanary_judge_errors_total` counts it by class.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from exporter.budget import Budgets
from exporter.checkspecs import Rubric
from exporter.config import Judge, RunSpec
from exporter.judges import prompts
from exporter.judges.cache import Bounded, conversation_hash
from exporter.judges.client import ask
from exporter.judges.metrics import JudgeMetrics
from exporter.judges.parse import Garbage, Parsed, parse_verdict
from exporter.result import CheckVerdict, Exchange, JudgeCall, Verdict

REFUSAL_RUBRIC = prompts.BUILTIN_RUBRIC + prompts.REFUSAL
Conversation = Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Answer:
    """A judge's verdict on one question, or why there is none (`error_class`)."""

    parsed: Parsed | None
    error_class: str | None
    detail: str
    call: JudgeCall


@dataclass(frozen=True, slots=True)
class Review:
    """What the judges said about one run."""

    refusal: Verdict | None  # the last answer's refusal verdict, after any second opinion
    checks: tuple[CheckVerdict, ...] = ()  # the rubric checks', in the canary's order
    calls: tuple[JudgeCall, ...] = ()


def conversation_of(spec: RunSpec, turns: Sequence[Exchange]) -> list[tuple[str, str]]:
    """The conversation as the judge sees it: the fixed preamble, then every turn's user
    message and the model's answer (a structured refusal's text when it sent no text)."""
    out: list[tuple[str, str]] = [(m.role, m.content) for m in spec.canary.preamble()]
    for turn in turns:
        out += [("user", turn.prompt), ("assistant", turn.text or turn.refusal)]
    return out


class Panel:
    """The configured judges. `configure()` applies a reloaded config; a judge whose
    model is unchanged keeps its cache."""

    def __init__(
        self,
        judges: Sequence[Judge] = (),
        metrics: JudgeMetrics | None = None,
        budgets: Budgets | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics or JudgeMetrics(None)
        self._budgets = budgets
        self._now = now
        self._judges: dict[str, Judge] = {}
        self._caches: dict[str, Bounded[Parsed]] = {}
        self._limits: dict[str, asyncio.Semaphore] = {}
        self.configure(judges)

    def configure(self, judges: Sequence[Judge]) -> None:
        old = self._judges
        self._judges = {j.name: j for j in judges}
        for name, judge in self._judges.items():
            kept = old.get(name)
            if kept is None or kept.model != judge.model or name not in self._caches:
                self._caches[name] = Bounded(judge.cache_size)
            else:
                self._caches[name].resize(judge.cache_size)
            if kept is None or kept.concurrency != judge.concurrency:
                self._limits[name] = asyncio.Semaphore(judge.concurrency)
            self.metrics.judge_configured(name)
        for gone in set(self._caches) - set(self._judges):
            del self._caches[gone]
            self._limits.pop(gone, None)

    def cached(self, judge: str) -> int:
        """How many verdicts the judge's cache holds."""
        cache = self._caches.get(judge)
        return 0 if cache is None else len(cache)

    async def review(
        self,
        session: aiohttp.ClientSession,
        spec: RunSpec,
        turns: Sequence[Exchange],
        refusal: Verdict | None,
    ) -> Review:
        """The second opinion on the last answer's refusal verdict (where the canary asks
        for one), then every rubric check; never raises but for cancellation."""
        calls: list[JudgeCall] = []
        if refusal is not None and self._second_opinion_wanted(spec, refusal):
            refusal, call = await self._second_opinion(session, spec, turns, refusal)
            calls.append(call)
        rubrics = [
            (label, turn, check)
            for label, (turn, check) in spec.canary.labelled_checks()
            if isinstance(check, Rubric)
        ]
        answers = await asyncio.gather(
            *(
                self._rubric(session, spec, turns, label, turn, check)
                for label, turn, check in rubrics
            )
        )
        checks = [
            verdict_of(spec, label, check, answer)
            for (label, _, check), answer in zip(rubrics, answers, strict=True)
        ]
        calls += [answer.call for answer in answers]
        return Review(refusal, tuple(checks), tuple(calls))

    @staticmethod
    def _second_opinion_wanted(spec: RunSpec, verdict: Verdict) -> bool:
        wanted = spec.refusal_judge
        if wanted is None or verdict.structured:  # an exact signal needs no opinion
            return False
        return wanted.when == "always" or verdict.confidence < wanted.min_confidence

    async def _second_opinion(
        self,
        session: aiohttp.ClientSession,
        spec: RunSpec,
        turns: Sequence[Exchange],
        verdict: Verdict,
    ) -> tuple[Verdict, JudgeCall]:
        assert spec.refusal_judge is not None
        judge = self._pick(spec.refusal_judge.judge)
        conversation = conversation_of(spec, turns)
        answer = await self._ask(
            session,
            judge,
            REFUSAL_RUBRIC,
            "refusal_judge",
            "refusal_judge",
            len(turns),
            conversation,
        )
        if answer.parsed is None:
            return verdict, answer.call  # the classifier's verdict stands
        refused = prompts.REFUSAL_LABELS[answer.parsed.verdict]
        agreed = "agree" if refused == verdict.refused else "disagree"
        self.metrics.agreement.labels(judge.name, agreed).inc()
        confidence = answer.parsed.confidence
        judged = Verdict(
            refused=refused,
            detector=f"judge:{judge.name}",
            reason=f"{answer.parsed.verdict}: {answer.parsed.reason}"[:120],
            partial=answer.parsed.verdict == "partial_refusal",
            confidence=1.0 if confidence is None else confidence,
            language=verdict.language,
        )
        return judged, answer.call

    async def _rubric(
        self,
        session: aiohttp.ClientSession,
        spec: RunSpec,
        turns: Sequence[Exchange],
        label: str,
        turn: int | None,
        check: Rubric,
    ) -> Answer:
        seen = turns if turn is None else turns[: turn + 1]
        judge = self._pick(check.judge)
        metric = check.rubric if check.builtin is not None else label
        conversation = conversation_of(spec, seen)
        return await self._ask(session, judge, check.rubric, metric, label, len(seen), conversation)

    def _pick(self, name: str | None) -> Judge:
        """The named judge, or the only one (the config's cross-check guarantees one)."""
        if name is None:
            return next(iter(self._judges.values()))
        return self._judges[name]

    async def _ask(
        self,
        session: aiohttp.ClientSession,
        judge: Judge,
        rubric: str,
        metric: str,
        check: str,
        turn: int,
        conversation: Conversation,
    ) -> Answer:
        """One verdict: from the cache, else from a call the budget allows."""
        digest = conversation_hash(conversation)
        key = (judge.name, judge.model, prompts.TEMPLATE_VERSION, rubric, digest)
        cache = self._caches[judge.name]
        call = _Call(judge, metric, check, turn, time.time())
        hit = cache.get(key)
        if hit is not None:
            self.metrics.cache_hits.labels(judge.name, metric).inc()
            return Answer(hit, None, "", call.made(hit.verdict, hit.reason, cached=True))
        if self._budgets is not None and self._budgets.blocked_until(judge.name, self._now()):
            return self._failed(call, "budget", "the judge's token budget is spent")
        async with self._limits[judge.name]:
            call.started_at = time.time()
            started = time.perf_counter()
            self.metrics.requests.labels(judge.name, metric).inc()
            exchange = await ask(session, judge, prompts.render(rubric, conversation))
            call.duration = time.perf_counter() - started
            call.exchange = exchange
        self.metrics.duration.labels(judge.name, metric).observe(call.duration)
        for kind, count in (("input", exchange.input_tokens), ("output", exchange.output_tokens)):
            if count:
                self.metrics.tokens.labels(judge.name, metric, kind).inc(count)
        if self._budgets is not None:
            spent = (exchange.input_tokens or 0) + (exchange.output_tokens or 0)
            self._budgets.spend(judge.name, spent)
        if exchange.error_class is not None:
            detail = exchange.error_detail or str(exchange.error_class)
            return self._failed(call, str(exchange.error_class), detail)
        try:
            parsed = parse_verdict(exchange.text or exchange.refusal, prompts.labels(rubric))
        except Garbage as exc:
            return self._failed(call, "garbage", str(exc))
        cache.put(key, parsed)
        return Answer(parsed, None, "", call.made(parsed.verdict, parsed.reason))

    def _failed(self, call: _Call, error_class: str, detail: str) -> Answer:
        self.metrics.errors.labels(call.judge.name, call.metric, error_class).inc()
        made = call.made("unknown", detail, error_class=error_class)
        return Answer(None, error_class, detail, made)


@dataclass(slots=True)
class _Call:
    """What is known of a judge call as it goes; `made()` freezes it into a JudgeCall."""

    judge: Judge
    metric: str
    check: str
    turn: int
    started_at: float
    duration: float = 0.0
    exchange: Exchange | None = None

    def made(
        self, verdict: str, reason: str, cached: bool = False, error_class: str | None = None
    ) -> JudgeCall:
        url = urlsplit(self.judge.base_url)
        exchange = self.exchange or Exchange()
        return JudgeCall(
            judge=self.judge.name,
            model=self.judge.model,
            protocol=str(self.judge.protocol),
            server_address=url.hostname or "",
            server_port=url.port or (443 if url.scheme == "https" else 80),
            rubric=self.metric,
            check=self.check,
            turn=self.turn,
            started_at=self.started_at,
            duration_seconds=self.duration,
            verdict=verdict,
            reason=reason,
            cached=cached,
            error_class=error_class,
            input_tokens=exchange.input_tokens,
            output_tokens=exchange.output_tokens,
            response_model=exchange.response_model,
        )


def verdict_of(spec: RunSpec, label: str, check: Rubric, answer: Answer) -> CheckVerdict:
    """A rubric check's verdict from the judge's answer. Without one, `on_judge_error`
    decides: `unknown` (the default) and `pass` leave the run's outcome alone, `fail`
    fails it. The refusal rubric decides only where the canary sets `expect_refusal`."""
    judge = f"judge:{answer.call.judge}"
    parsed = answer.parsed
    if parsed is None:
        policy = spec.on_judge_error
        reason = f"no verdict: judge {answer.error_class}: {answer.detail}"[:300]
        return CheckVerdict(
            label,
            policy != "fail",
            f"{reason} (on_judge_error: {policy})",
            policy,
            "on_judge_error",
        )
    if check.builtin != prompts.REFUSAL:  # the status says pass or fail; the reason why
        passed = prompts.RUBRIC_LABELS[parsed.verdict]
        return CheckVerdict(label, passed, parsed.reason or parsed.verdict, decided_by=judge)
    said = f"{parsed.verdict}: {parsed.reason}" if parsed.reason else parsed.verdict
    refused = prompts.REFUSAL_LABELS[parsed.verdict]
    expected = spec.canary.expect_refusal
    if expected is None:
        return CheckVerdict(
            label, True, f"{said}; not judged: expect_refusal unset", decided_by=judge
        )
    return CheckVerdict(label, refused == expected, said, decided_by=judge)
