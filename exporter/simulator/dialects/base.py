"""What the simulator's shared conductor needs from a wire dialect.

The conductor (:mod:`exporter.simulator.server`) owns everything the dialects share: the
plan with its absolute-deadline pacing, fault draws, hangs, truncation, counters and the
rate window. A dialect only says how a request is read and how each part of the answer
is written on its wire, so a fault looks the same in every dialect but for its bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web

from exporter.simulator.behaviour import Behaviour
from exporter.simulator.plan import ChatRequest, Plan, RequestError
from exporter.simulator.ratelimit import Headroom


class Encoder(Protocol):
    """One response's frames. A frame may be ``b""``: then nothing is sent."""

    @property
    def stream_headers(self) -> Mapping[str, str]: ...

    def opening(self) -> bytes:
        """Frames sent with the headers, before the first token (not tokens themselves)."""
        ...

    def piece(self, text: str) -> bytes:
        """The frame carrying one token."""
        ...

    def closing(self) -> bytes:
        """Frames due when the answer is complete: finish reason, usage, end marker."""
        ...

    def error(self) -> bytes:
        """An error frame in the middle of a stream (the ``stream_error`` fault)."""
        ...

    def malformed(self) -> bytes:
        """One frame whose JSON is cut short (the ``malformed`` fault)."""
        ...

    def body(self) -> dict[str, Any]:
        """The whole answer, for a request that did not ask for a stream."""
        ...

    def error_body(self) -> dict[str, Any]:
        """An error reported with HTTP 200 instead of an answer (``stream_error``)."""
        ...


class Dialect(Protocol):
    """One wire dialect: its chat route, its auth, its errors and its encoder."""

    @property
    def route(self) -> str: ...

    def credentials(self, api_key: str) -> tuple[str, str]:
        """The header a client must send, and its value, when an API key is set."""
        ...

    def unauthorized(self) -> web.Response: ...

    def parse(self, request: web.Request, body: bytes) -> ChatRequest:
        """Read a chat request; raises RequestError for what the API would reject."""
        ...

    def bad_request(self, error: RequestError) -> web.Response: ...

    def rejection(self, fault: str, behaviour: Behaviour) -> web.Response:
        """The error response of a fault in ``REJECTION_STATUS``."""
        ...

    def encoder(
        self, chat: ChatRequest, plan: Plan, behaviour: Behaviour, arrived: float
    ) -> Encoder:
        """Frames for one answer; ``arrived`` is the loop time the request came in."""
        ...

    def headers(self, request_id: str, elapsed: float, headroom: Headroom) -> dict[str, str]:
        """Response headers: request id, processing time, rate-limit headroom."""
        ...
