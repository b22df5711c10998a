"""The one currency: what a protocol measured (`Exchange`) and what a canary run produced
(`ProbeResult`). Both are frozen; sinks read them and never change them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from exporter.errors import ErrorClass

# The detectors of exact, structured refusal signals; every other detector is the text
# classifier's (exporter.refusal), a heuristic.
STRUCTURED_DETECTORS = frozenset({"content_filter", "refusal_field", "stop_reason"})

# The longest, in characters, each server-supplied text of an `Exchange` is kept; longer
# ones are cut and end in CUT. The answer `text` is bounded by `max_response_bytes` (the
# checks judge it whole) and the run history keeps 4,096 characters of it.
FIELD_LIMITS: Mapping[str, int] = {
    "refusal": 4096,
    "error_detail": 300,
    "finish_reason": 64,
    "response_model": 256,
    "system_fingerprint": 256,
    "request_id": 256,
    "response_id": 256,
}
HEADER_LIMIT = 256  # each shown header value (their names are a fixed allowlist)
# Inter-chunk gaps kept per exchange, the first ones; `chunks` and `max_gap_seconds`
# count and measure all of them.
GAPS_KEPT = 1024
CUT = "…"
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Verdict:
    """A refusal verdict on one answer: from a structured signal, or the text classifier."""

    refused: bool
    # Which signal or rule decided (content_filter, refusal_field, stop_reason, or one of
    # the text classifier's detectors; "none" when nothing did).
    detector: str
    # The phrase that decided, short enough for a log line.
    reason: str
    # Declined, yet delivered substantial content too (counted as refused).
    partial: bool = False
    # How likely the verdict is right, from the rule's agreement with people on the
    # development corpus (1.0 for structured signals).
    confidence: float = 1.0
    # The answer's language (ISO 639-1) as far as the classifier could tell; "" unknown.
    language: str = ""

    @property
    def structured(self) -> bool:
        """An exact signal from the service, not a reading of the text."""
        return self.detector in STRUCTURED_DETECTORS


class Outcome(StrEnum):
    SUCCESS = "success"
    ERROR = "error"
    CHECK_FAILED = "check_failed"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Rate-limit headroom from response headers; None where the server said nothing."""

    limit_requests: float | None = None
    remaining_requests: float | None = None
    limit_tokens: float | None = None
    remaining_tokens: float | None = None

    def remaining_ratio(self, kind: str) -> float | None:
        limit, remaining = (
            (self.limit_requests, self.remaining_requests)
            if kind == "requests"
            else (self.limit_tokens, self.remaining_tokens)
        )
        if limit is None or remaining is None or limit <= 0:
            return None
        return max(0.0, min(1.0, remaining / limit))


@dataclass(frozen=True, slots=True, kw_only=True)
class Exchange:
    """One request/response, as measured. Times are seconds from the request start.

    `ttft_seconds` is stamped at the first chunk carrying content (or refusal text), never
    at the response headers or a role-only prelude. `chunk_gaps` are the gaps between
    content chunks after the first one, at most GAPS_KEPT of them; `chunks` counts every
    content chunk and `max_gap_seconds` is the longest gap of all.
    """

    status: int | None = None
    connect_seconds: float | None = None  # connection ready (≈0 when one was reused)
    headers_seconds: float | None = None
    ttft_seconds: float | None = None
    duration_seconds: float = 0.0
    chunk_gaps: tuple[float, ...] = ()
    chunks: int = 0
    max_gap_seconds: float | None = None
    text: str = ""
    refusal: str = ""
    finish_reason: str | None = None
    response_model: str | None = None
    system_fingerprint: str | None = None
    request_id: str | None = None
    response_id: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    tokens_estimated: bool = False
    ratelimit: RateLimit = field(default_factory=RateLimit)
    headers: Mapping[str, str] = field(default_factory=dict)  # the non-secret few we show
    retry_after: float | None = None
    streamed: bool = False
    started_at: float = 0.0  # unix time the request started
    prompt: str = ""  # this turn's user message
    # what the server says it spent, in seconds, by phase (Ollama: load, prompt_eval, eval)
    server_timings: Mapping[str, float] = field(default_factory=dict)
    error_class: ErrorClass | None = None
    error_detail: str = ""

    def bounded(self) -> Exchange:
        """The exchange with every server-supplied text well-formed (see `well_formed`) and
        cut to its FIELD_LIMITS. Redact before: a cut could leave half a secret that
        redaction no longer recognises."""
        changes: dict[str, Any] = {}
        for name in ("text", *FIELD_LIMITS):
            value = getattr(self, name)
            if value is not None:
                kept = cut(well_formed(value), FIELD_LIMITS.get(name))
                if kept != value:
                    changes[name] = kept
        headers = {k: cut(well_formed(v), HEADER_LIMIT) for k, v in self.headers.items()}
        if headers != self.headers:
            changes["headers"] = headers
        return replace(self, **changes) if changes else self


def well_formed(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, so it encodes as UTF-8 wherever
    it is shown. JSON's `"\\ud800"` decodes to one, and aiohttp keeps a header's byte
    that is not UTF-8 (`\\xff`) as one (`\\udcff`)."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def cut(text: str, limit: int | None) -> str:
    """`text`, or its first `limit` characters ending in CUT when it is longer."""
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - len(CUT)] + CUT


CHECK_STATUSES = ("pass", "fail", "unknown", "internal")


@dataclass(frozen=True, slots=True)
class CheckVerdict:
    """One check's verdict. `passed` is what it does to the run's outcome; `status` what
    was found: pass, fail, unknown (a judge model could not tell: it erred, timed out or
    answered garbage) or internal (chatcanary could not judge). `decided_by` names what
    decided: "rule", "judge:NAME", "classifier"; empty for a plain rule."""

    name: str
    passed: bool
    reason: str
    status: str = ""  # derived from `passed` when not given
    decided_by: str = ""

    def __post_init__(self) -> None:
        if not self.status:
            object.__setattr__(self, "status", "pass" if self.passed else "fail")
        elif self.status not in CHECK_STATUSES:
            raise ValueError(f"unknown check status {self.status!r}")

    @property
    def internal(self) -> bool:
        """The check raised instead of judging (a bug of chatcanary's, a library's limit);
        `chatcanary_check_errors_total` counts it apart."""
        return self.status == "internal"


@dataclass(frozen=True, slots=True, kw_only=True)
class JudgeCall:
    """One question put to a judge model during a run (or answered from its cache), kept
    so that traces can show it as a child span of the run."""

    judge: str
    model: str
    protocol: str  # the judge's wire dialect (openai, anthropic, ...)
    server_address: str
    server_port: int
    rubric: str  # the bounded label: a built-in rubric's name or the check's name
    check: str  # the check the verdict belongs to ("refusal_judge": the second opinion)
    turn: int  # the turn (1-based) whose answer was judged
    started_at: float  # unix time
    duration_seconds: float
    verdict: str  # pass, fail, unknown; for the refusal rubric its label
    reason: str = ""
    cached: bool = False
    error_class: str | None = None  # timeout, http, garbage, budget, ...
    input_tokens: int | None = None
    output_tokens: int | None = None
    response_model: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    """A finished canary run: timings, tokens, outcome, verdicts and identity."""

    run_id: str
    target: str
    canary: str
    model: str
    started_at: float  # unix time
    outcome: Outcome
    duration_seconds: float
    error_class: ErrorClass | None = None
    error_detail: str = ""
    turns: tuple[Exchange, ...] = ()
    checks: tuple[CheckVerdict, ...] = ()
    expect_refusal: bool | None = None  # None: the canary did not say (see `expected`)
    refusal: Verdict | None = None  # the last answer's; None when no answer came back
    answer_fingerprint: str | None = None  # deterministic canaries only
    trace_id: str | None = None  # 32 hex digits when the run is traced (and sampled)
    judge_calls: tuple[JudgeCall, ...] = ()  # questions put to judge models

    @property
    def expected(self) -> str:
        """The `expected` label of the refusal metrics: answer, refuse or unspecified."""
        return expected_label(self.expect_refusal)

    @property
    def refused(self) -> bool | None:
        return None if self.refusal is None else self.refusal.refused

    @property
    def last(self) -> Exchange:
        return self.turns[-1] if self.turns else Exchange()

    @property
    def ttft_seconds(self) -> float | None:
        return self.turns[0].ttft_seconds if self.turns else None

    @property
    def input_tokens(self) -> int | None:
        return _sum(t.input_tokens for t in self.turns)

    @property
    def output_tokens(self) -> int | None:
        return _sum(t.output_tokens for t in self.turns)

    @property
    def failed_checks(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.checks if not c.passed)

    def summary(self) -> dict[str, Any]:
        """The stable JSON shape of `chatcanary probe --json`."""
        last = self.last
        return {
            "run_id": self.run_id,
            "target": self.target,
            "canary": self.canary,
            "model": self.model,
            "outcome": str(self.outcome),
            "error_class": None if self.error_class is None else str(self.error_class),
            "error_detail": self.error_detail or None,
            "http_status": last.status,
            "ttft_seconds": self.ttft_seconds,
            "duration_seconds": self.duration_seconds,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "tokens_estimated": any(t.tokens_estimated for t in self.turns),
            "finish_reason": last.finish_reason,
            "response_model": last.response_model,
            "system_fingerprint": last.system_fingerprint,
            "refused": self.refused,
            "refusal_detector": None if self.refusal is None else self.refusal.detector,
            "refusal_reason": None if self.refusal is None else self.refusal.reason,
            "refusal_confidence": None if self.refusal is None else self.refusal.confidence,
            "refusal_language": None if self.refusal is None else self.refusal.language or None,
            "refusal_partial": None if self.refusal is None else self.refusal.partial,
            "expect_refusal": self.expect_refusal,
            "turns": len(self.turns),
            "answer_fingerprint": self.answer_fingerprint,
            "trace_id": self.trace_id,
            "failed_checks": list(self.failed_checks),
            "checks": [
                {
                    "name": c.name,
                    "passed": c.passed,
                    "reason": c.reason,
                    "status": c.status,
                    "decided_by": c.decided_by or None,
                }
                for c in self.checks
            ],
            "answer": last.text,
        }


def expected_label(expect_refusal: bool | None) -> str:
    """Refusal SLOs and alerts select only `answer` and `refuse`: a canary that did not
    say what it expects is measured under `unspecified` and never judged."""
    if expect_refusal is None:
        return "unspecified"
    return "refuse" if expect_refusal else "answer"


def _sum(values: Any) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


class TrafficOutcome(StrEnum):
    SUCCESS = "success"
    ERROR = "error"
    CANCELLED = "cancelled"  # the client went away before the answer ended


@dataclass(frozen=True, slots=True, kw_only=True)
class TrafficRecord:
    """One request a proxy forwarded, as its observer saw it on the side. `model` and
    `tenant` are as the request said them: the sinks bound them before any label."""

    exchange_id: str
    proxy: str
    route: str  # chat | models | embeddings | completions | other
    method: str
    path: str  # without the query, which may carry a key
    model: str  # from the request ("" when it named none)
    tenant: str | None  # the allow-listed header's value
    stream: bool
    started_at: float  # unix time
    outcome: TrafficOutcome
    exchange: Exchange  # status, timings, tokens, identity, error class; text only if kept
    refusal: Verdict | None = None  # None: not a chat answer, or not sampled
    conversation_id: str | None = None
    captured: bool = False  # `exchange.prompt`/`.text` hold the redacted content to keep
    trace_id: str | None = None  # set when the request's SERVER span is exported
    span_id: str | None = None
    parent_span_id: str | None = None  # the client's, from its traceparent

    @property
    def error_class(self) -> ErrorClass | None:
        return self.exchange.error_class
