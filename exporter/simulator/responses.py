"""aiohttp building blocks for the chat route: errors, scripted faults, exact pacing."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from typing import Final

from aiohttp import web

from exporter.simulator import wire
from exporter.simulator.behaviour import Behaviour
from exporter.simulator.plan import ChatRequest, Plan

# The last stretch before a chunk is due, spent yielding instead of sleeping.
_SPIN_SECONDS: Final = 0.0015

SSE_HEADERS: Final = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
}


def new_request_id() -> str:
    return "req_" + uuid.uuid4().hex


async def send_pieces(
    response: web.StreamResponse,
    envelope: wire.Envelope,
    plan: Plan,
    indices: range,
    t0: float,
) -> None:
    key = "refusal" if plan.refusal_field else "content"
    for k in indices:
        await sleep_until(t0 + plan.offsets[k])
        await response.write(wire.sse(envelope.chunk({key: plan.pieces[k]})))


async def sleep_until(deadline: float) -> None:
    """Wake at ``deadline`` (loop time) to well within a millisecond.

    epoll rounds its timeout up to whole milliseconds, so a plain sleep lands up to 1 ms
    late, which is the whole error budget of the timing benchmarks. Sleep short of the
    deadline instead and yield to the loop for the rest: other requests keep running,
    at the cost of about a millisecond of busy looping per chunk.
    """
    loop = asyncio.get_running_loop()
    coarse = deadline - _SPIN_SECONDS - loop.time()
    if coarse > 0:
        await asyncio.sleep(coarse)
    while loop.time() < deadline:  # noqa: ASYNC110 - a deadline, not an event, ends the wait
        await asyncio.sleep(0)


def new_envelope(chat: ChatRequest, *, include_usage: bool) -> wire.Envelope:
    return wire.Envelope(
        id="chatcmpl-" + uuid.uuid4().hex[:24],
        created=int(time.time()),
        model=chat.model,
        include_usage=include_usage,
    )


def abort(request: web.Request, response: web.StreamResponse | None = None) -> web.StreamResponse:
    """Drop the connection; aiohttp then fails to finish the response and moves on."""
    if request.transport is not None:
        request.transport.close()
    return response if response is not None else web.Response()


def error_response(
    status: int,
    message: str,
    error_type: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = wire.error_body(message, error_type, param=param, code=code)
    return web.json_response(body, status=status, headers=headers)


def fault_message(fault: str) -> str:
    return f"The server had an error while processing your request. (simulated fault: {fault})"


def http_fault_response(fault: str, behaviour: Behaviour) -> web.Response:
    note = f"(simulated fault: {fault})"
    if fault in ("http_429", "http_429_no_retry_after"):
        headers = None
        if fault == "http_429":
            # Retry-After only takes whole seconds; retry-after-ms carries the exact value.
            headers = {
                "Retry-After": str(math.ceil(behaviour.retry_after)),
                "retry-after-ms": str(round(behaviour.retry_after * 1000)),
            }
        message = f"Rate limit reached for requests. Please try again later. {note}"
        return error_response(429, message, "requests", code="rate_limit_exceeded", headers=headers)
    if fault == "http_401":
        message = f"Incorrect API key provided. {note}"
        return error_response(401, message, "invalid_request_error", code="invalid_api_key")
    if fault == "http_400":
        return error_response(400, f"Invalid request. {note}", "invalid_request_error")
    if fault == "http_503":
        message = f"The engine is currently overloaded, please try again later. {note}"
        return error_response(503, message, "server_error")
    return error_response(500, fault_message(fault), "server_error")
