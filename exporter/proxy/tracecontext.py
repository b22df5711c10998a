"""W3C Trace Context (`traceparent`), read from a client and written to the upstream."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

HEADER = "traceparent"
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})\Z")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


@dataclass(frozen=True, slots=True)
class SpanContext:
    """The proxy's SERVER span: its ids, the client's span if it sent one, sampling."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    sampled: bool

    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"


def server_span(traceparent: str | None, sampled: bool) -> SpanContext:
    """A new span: a child of the client's valid `traceparent` (whose sampled flag then
    wins), else the root of a new trace sampled as `sampled` says."""
    span_id = secrets.token_hex(8)
    match = _TRACEPARENT.match((traceparent or "").strip().lower())
    if match and match[1] != _ZERO_TRACE and match[2] != _ZERO_SPAN:
        return SpanContext(match[1], span_id, match[2], int(match[3], 16) & 1 == 1)
    return SpanContext(secrets.token_hex(16), span_id, None, sampled)
