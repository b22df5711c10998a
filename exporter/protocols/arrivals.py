"""When each piece of a response body reached the process.

A streamed body is read by the canary's task, which the event loop runs after the read
callback that brought the bytes — with many streams in flight, after the callbacks and
tasks of the others too: stamping a piece when the task gets to it adds that wait to
every TTFT and gap. `Arrivals` stamps the body in the read callback itself (the
connection's `data_received`, wrapped for this one response), and `split` gives every
chunk the task reads back as the pieces it is made of, each with the time of the read
that brought it: a chunk that joins two reads still gives the second its later time.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import aiohttp


class Arrivals:
    """The arrival times of one response's body from now on; bytes that came before
    (with the head) are stamped with the time this was made."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        stream = resp.content
        self._since = time.perf_counter()
        # bytes of the body that came before now (a body on no connection: none)
        self._early: int = getattr(stream, "total_bytes", 0)
        self._read = 0  # bytes of the body split so far
        # (bytes of the body in after a read, when that read came), oldest first
        self._marks: deque[tuple[int, float]] = deque()
        self.close: Callable[[], None] = lambda: None
        connection = getattr(resp, "connection", None)
        protocol: Any = None if connection is None else connection.protocol
        if protocol is None or stream.is_eof():
            return
        received = protocol.data_received
        marks = self._marks

        def stamped(data: bytes) -> None:
            at = time.perf_counter()
            received(data)
            total = stream.total_bytes
            if not marks or marks[-1][0] != total:
                marks.append((total, at))
            if stream.is_eof():
                close()  # the body is whole: the connection may carry another request

        def close() -> None:
            if protocol.__dict__.get("data_received") is stamped:
                del protocol.data_received

        protocol.data_received = stamped  # the instance's, before its class's method
        self.close = close

    def split(self, chunk: bytes) -> list[tuple[float, bytes]]:
        """`chunk`, the next bytes read from the body, as (arrival, bytes) pieces in
        order, the arrival a `time.perf_counter()`."""
        start = pos = self._read
        end = self._read = start + len(chunk)
        out: list[tuple[float, bytes]] = []
        if pos < self._early:
            pos = min(self._early, end)
            out.append((self._since, chunk[: pos - start]))
        marks = self._marks
        while pos < end:
            while marks and marks[0][0] <= pos:
                marks.popleft()
            if not marks:  # fed by no read seen here (a body on no connection): now
                out.append((time.perf_counter(), chunk[pos - start :]))
                break
            upto, at = marks[0]
            cut = min(upto, end)
            out.append((at, chunk[pos - start : cut - start]))
            pos = cut
        return out
