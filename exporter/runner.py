"""One canary run: send the conversation, judge the answer, return a `ProbeResult`.

`run_canary` never raises (except cancellation): whatever goes wrong, down to a bug in
chatcanary itself, comes back as a classified result, so the scheduler never dies.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import replace

import aiohttp

from exporter.checks import judge_all
from exporter.config import RunSpec
from exporter.errors import ErrorClass
from exporter.protocols import PROBES
from exporter.result import CheckVerdict, Exchange, Outcome, ProbeResult

log = logging.getLogger(__name__)

REDACTED = "[redacted]"


async def run_canary(session: aiohttp.ClientSession, spec: RunSpec) -> ProbeResult:
    started_at = time.time()
    started = time.perf_counter()
    deadline = asyncio.get_running_loop().time() + spec.timeout
    try:
        probe = PROBES[spec.target.protocol]
        exchange = await probe(session, spec, spec.canary.conversation(), deadline)
    except Exception as exc:  # a bug of ours must not take the scheduler down
        log.exception("probe crashed", extra={"target": spec.target.name})
        exchange = Exchange(error_class=ErrorClass.INTERNAL, error_detail=repr(exc)[:300])
    exchange = redact(exchange, secrets(spec))
    duration = time.perf_counter() - started
    turns = (exchange,)
    checks: tuple[CheckVerdict, ...] = ()
    if exchange.error_class is not None:
        outcome = Outcome.ERROR
    else:
        checks = judge_all(spec.canary.checks, turns, duration)
        outcome = Outcome.SUCCESS if all(c.passed for c in checks) else Outcome.CHECK_FAILED
    return ProbeResult(
        run_id=uuid.uuid4().hex[:16],
        target=spec.target.name,
        canary=spec.canary.name,
        model=spec.target.model,
        started_at=started_at,
        outcome=outcome,
        duration_seconds=duration,
        error_class=exchange.error_class,
        error_detail=exchange.error_detail,
        turns=turns,
        checks=checks,
        expect_refusal=spec.canary.expect_refusal,
        refused=None if exchange.error_class is not None else structured_refusal(exchange),
    )


def structured_refusal(exchange: Exchange) -> bool:
    """The exact refusal signals a server sends, before any text classification."""
    return bool(exchange.refusal) or exchange.finish_reason == "content_filter"


def secrets(spec: RunSpec) -> tuple[str, ...]:
    """Values that must never leave the process: the API key and every header value
    that looks like a credential."""
    found = [] if spec.target.api_key is None else [spec.target.api_key.get_secret_value()]
    for name, value in spec.target.headers.items():
        if is_secret_header(name):
            found.append(value)
    return tuple(s for s in found if len(s) >= 4)


def is_secret_header(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in ("auth", "key", "token", "secret", "cookie"))


def redact(exchange: Exchange, values: tuple[str, ...]) -> Exchange:
    """The exchange with every secret replaced, in case a server echoed one back."""
    detail, text = exchange.error_detail, exchange.text
    if not values or not any(v in detail or v in text for v in values):
        return exchange
    for value in values:
        detail, text = detail.replace(value, REDACTED), text.replace(value, REDACTED)
    return replace(exchange, error_detail=detail, text=text)
