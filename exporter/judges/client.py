"""One question to a judge model, sent by the canaries' own protocol code over the same
HTTP client (so the SSRF guard and the timings are the same), with the judge's secrets
redacted from everything that comes back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import aiohttp

from exporter.config import Canary, Judge, Message, RunSpec
from exporter.errors import ErrorClass
from exporter.protocols import probe_for
from exporter.redaction import redact, secrets
from exporter.result import Exchange

log = logging.getLogger(__name__)

# RunSpec wants a canary; a judge call has none of its own.
_NO_CANARY = Canary(name="judge", prompt="judge")


def judge_spec(judge: Judge) -> RunSpec:
    """The judge as a run the protocol code can send: its settings, no canary."""
    return RunSpec(
        target=judge,
        canary=_NO_CANARY,
        interval=0.0,
        timeout=judge.timeout,
        connect_timeout=min(judge.connect_timeout or 5.0, judge.timeout),
        first_token_timeout=min(judge.first_token_timeout or judge.timeout, judge.timeout),
        max_tokens=judge.max_tokens,
        temperature=judge.temperature,
        seed=judge.seed,
        stream=judge.stream,
        jitter=0.0,
        max_response_bytes=1 << 20,
    )


async def ask(
    session: aiohttp.ClientSession, judge: Judge, messages: Sequence[tuple[str, str]]
) -> Exchange:
    """The judge's answer to `messages` ((role, content) pairs); never raises (but for
    cancellation): a failure comes back as the exchange's `error_class`."""
    spec = judge_spec(judge)
    sent = [Message(role=role, content=content) for role, content in messages]  # type: ignore[arg-type]
    deadline = asyncio.get_running_loop().time() + spec.timeout
    try:
        exchange = await probe_for(judge.protocol)(session, spec, sent, deadline)
    except Exception as exc:  # a bug of ours is the judge's error, not the canary's
        log.exception("judge call crashed", extra={"judge": judge.name})
        exchange = Exchange(error_class=ErrorClass.INTERNAL, error_detail=repr(exc)[:300])
    return redact(exchange, secrets(spec))
