"""aiohttp building blocks every dialect shares: exact pacing, hang-ups, ids and times."""

from __future__ import annotations

import asyncio
import math
import uuid
from datetime import UTC, datetime
from typing import Final

from aiohttp import web

from exporter.simulator.behaviour import Behaviour

# The last stretch before a chunk is due, spent yielding instead of sleeping.
_SPIN_SECONDS: Final = 0.0015

SSE_HEADERS: Final = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
}


def new_request_id() -> str:
    return "req_" + uuid.uuid4().hex


def new_id(prefix: str) -> str:
    """A response id in a provider's style: ``chatcmpl-...``, ``msg_...``."""
    return prefix + uuid.uuid4().hex[:24]


def rfc3339(timestamp: float, *, precise: bool = False) -> str:
    """A UTC time as RFC 3339: ``2024-06-13T10:34:20Z``, with microseconds if precise."""
    when = datetime.fromtimestamp(timestamp, UTC)
    return when.isoformat(timespec="microseconds" if precise else "seconds").replace("+00:00", "Z")


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


def abort(request: web.Request, response: web.StreamResponse | None = None) -> web.StreamResponse:
    """Drop the connection; aiohttp then fails to finish the response and moves on."""
    if request.transport is not None:
        request.transport.close()
    return response if response is not None else web.Response()


def fault_note(fault: str) -> str:
    return f"(simulated fault: {fault})"


def fault_message(fault: str) -> str:
    return f"The server had an error while processing your request. {fault_note(fault)}"


def retry_after(behaviour: Behaviour) -> dict[str, str]:
    """``Retry-After`` for a scripted 429; the header only takes whole seconds."""
    return {"Retry-After": str(math.ceil(behaviour.retry_after))}
