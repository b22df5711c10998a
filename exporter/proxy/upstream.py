"""The upstream side of a proxy listener: keep-alive HTTP/1.1 connections to its one
configured upstream, each reading the answers with llhttp (`httptools`).

A `Connection` carries one request at a time for a `Receiver` (the forwarder's exchange):
it writes the bytes it is given as they come and reports the answer's head, each piece
of its body as it arrives, its end, or why it failed. The `Pool` keeps finished
connections for reuse, each at most `POOL_IDLE` seconds (under uvicorn's 5 s keep-alive,
the usual server in front of vLLM, so the upstream rarely closes one as it is reused).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass
from typing import Protocol, cast
from urllib.parse import urlsplit

import httptools

from exporter.config import Proxy
from exporter.errors import ErrorClass, ProbeError
from exporter.protocols.http import root_cause

MAX_HEAD = 64 * 1024  # bytes of a message's start line and header fields, either way
POOL_IDLE = 4.0  # seconds an idle connection is kept
POOL_SIZE = 256  # idle connections kept at most


class Receiver(Protocol):
    """What a connection reports to while it carries a request."""

    def head(self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> None: ...

    def interim(self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> None: ...

    def body(self, data: bytes) -> None: ...

    def trailer(self, name: bytes, value: bytes) -> None:
        """A trailer field of a chunked body (after its last chunk)."""

    def complete(self) -> None: ...

    def failed(self, error: ProbeError) -> None: ...

    def upstream_paused(self, paused: bool) -> None: ...

    def hold(self) -> None:
        """What the next callbacks write to the client goes out in one write..."""

    def release(self) -> None:
        """...here, once the read that brought it is parsed."""


@dataclass(frozen=True)
class Address:
    """Where the upstream is, and how a request line and `Host` name it."""

    host: str
    port: int
    tls: ssl.SSLContext | None
    prefix: bytes  # the upstream URL's path, before every request's own
    host_header: bytes

    @classmethod
    def of(cls, proxy: Proxy) -> Address:
        url = urlsplit(proxy.upstream)
        secure = url.scheme == "https"
        host = url.hostname or ""
        port = url.port or (443 if secure else 80)
        context = None
        if secure:
            context = ssl.create_default_context()
            if proxy.upstream_ca_file is not None:
                context.load_verify_locations(cafile=str(proxy.upstream_ca_file))
        named = f"[{host}]" if ":" in host else host
        if url.port is not None and url.port != (443 if secure else 80):
            named += f":{url.port}"
        prefix = url.path.rstrip("/").encode("latin-1")
        return cls(host, port, context, prefix, named.encode("idna"))


class Connection(asyncio.Protocol):
    """One connection to the upstream, carrying one request at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.receiver: Receiver | None = None
        self.head_only = False  # the request was HEAD: no body follows the head
        self.request_sent = False  # the whole request went out: the connection may be reused
        self.reused = False  # it carried a request before this one
        self.answered = False  # a byte of the answer came
        self.closed = False
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_size = 0
        self._in_body = False  # its head is parsed: a field now is a trailer
        self._responded = False  # the final (not 1xx) head came
        self._until_close = False  # the body ends where the connection does
        self._idle: asyncio.TimerHandle | None = None  # the pool's, or the idle limit's
        self._last_read = 0.0
        self._reading_paused = False

    # --- for the exchange ----------------------------------------------------------------

    def send(self, receiver: Receiver, head_only: bool) -> None:
        """Carry a new request (its bytes follow with `write`)."""
        self.receiver = receiver
        self.head_only = head_only
        self.request_sent = self.answered = False
        self._responded = self._until_close = False
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        limit = self.pool.idle_timeout
        if limit is not None:
            self._last_read = self.pool.loop.time()
            self._idle = self.pool.loop.call_later(limit, self._check_idle)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed and self._reading_paused:
            self._reading_paused = False
            self._last_read = self.pool.loop.time()  # a paused read is not an idle upstream
            self.transport.resume_reading()

    def abort(self) -> None:
        """Drop the connection and whatever it carries (nothing more is reported)."""
        self.receiver = None
        self.closed = True
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self.transport is not None:
            self.transport.abort()

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self._last_read = self.pool.loop.time()
        self.answered = True
        receiver = self.receiver
        if receiver is not None:
            receiver.hold()  # one write to the client per read, not one per chunk
        try:
            self._feed(data)
        finally:
            if receiver is not None:
                receiver.release()

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ErrorClass.MALFORMED, "the upstream switched protocols unasked")
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _HeadTooLarge):
                raise
            self._fail(ErrorClass.MALFORMED, f"response head over {MAX_HEAD} bytes")
        except httptools.HttpParserError as exc:
            if self._responded:
                self._fail(ErrorClass.TRUNCATED, f"response payload is not completed: {exc}")
            else:
                self._fail(ErrorClass.MALFORMED, f"invalid response from the upstream: {exc}")

    def eof_received(self) -> bool | None:
        return None  # close the transport: this side has nothing more to say either

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        receiver, self.receiver = self.receiver, None
        if receiver is None:
            return
        if self._responded and self._until_close and exc is None:
            receiver.complete()
        elif self._responded:
            detail = root_cause(exc) if exc else "the upstream closed the connection mid-body"
            receiver.failed(
                ProbeError(ErrorClass.TRUNCATED, f"response payload is not completed: {detail}")
            )
        else:
            detail = root_cause(exc) if exc else "server disconnected"
            receiver.failed(ProbeError(ErrorClass.CONNECTION, detail))

    def pause_writing(self) -> None:
        if self.receiver is not None:
            self.receiver.upstream_paused(True)

    def resume_writing(self) -> None:
        if self.receiver is not None:
            self.receiver.upstream_paused(False)

    # --- httptools' callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._reason = b""
        self._headers = []
        self._head_size = 0
        self._in_body = False  # its head is parsed: a field now is a trailer

    def on_status(self, reason: bytes) -> None:
        self._reason += reason
        self._grow(len(reason))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._grow(len(name) + len(value) + 4)  # trailers too: head and trailers bounded
        if self._in_body:
            if self.receiver is not None:
                self.receiver.trailer(name, value)
            return
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_body = True
        receiver = self.receiver
        if receiver is None:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            receiver.interim(status, self._reason, self._headers)
            return
        self._responded = True
        if not self.head_only and status not in (204, 304):
            self._until_close = not any(
                name.lower() in (b"content-length", b"transfer-encoding")
                for name, _ in self._headers
            )
        receiver.head(status, self._reason, self._headers)
        if self.head_only and self.receiver is not None:
            # llhttp would wait for a body the Content-Length announces: this connection
            # is not reused
            self.receiver = None
            receiver.complete()
            self.abort()

    def on_body(self, data: bytes) -> None:
        if self.receiver is not None:
            self.receiver.body(data)

    def on_message_complete(self) -> None:
        receiver = self.receiver
        if receiver is None or not self._responded:
            return  # a 1xx head, or an exchange already over
        self.receiver = None
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        # back in the pool first: the client's next request may take it at once
        if self.parser.should_keep_alive() and self.request_sent and not self.closed:
            self.pool.put(self)
        else:
            self.abort()
        receiver.complete()

    # --- inside --------------------------------------------------------------------------

    def _grow(self, size: int) -> None:
        self._head_size += size
        if self._head_size > MAX_HEAD:
            raise _HeadTooLarge

    def _fail(self, error_class: ErrorClass, detail: str) -> None:
        receiver = self.receiver
        self.abort()
        if receiver is not None:
            receiver.failed(ProbeError(error_class, detail))

    def _check_idle(self) -> None:
        self._idle = None
        limit = self.pool.idle_timeout
        if self.receiver is None or limit is None:
            return
        now = self.pool.loop.time()
        if self._reading_paused:
            self._last_read = now
        left = self._last_read + limit - now
        if left > 0:
            self._idle = self.pool.loop.call_later(left, self._check_idle)
        elif self._responded:
            self._fail(ErrorClass.TIMEOUT, "upstream idle past idle_timeout")
        else:
            self._fail(ErrorClass.TIMEOUT, "no answer from the upstream in idle_timeout")

    def _expire(self) -> None:
        self._idle = None
        self.pool.forget(self)
        self.abort()


class _HeadTooLarge(Exception):
    pass


class Pool:
    """Idle keep-alive connections to the upstream, the most recently used first."""

    def __init__(self, proxy: Proxy) -> None:
        self.address = Address.of(proxy)
        self.idle_timeout = proxy.idle_timeout
        self.loop = asyncio.get_running_loop()
        self.idle: list[Connection] = []
        self.busy: set[Connection] = set()

    def take(self) -> Connection | None:
        """An idle connection, if one is open."""
        while self.idle:
            connection = self.idle.pop()
            if not connection.closed:
                if connection._idle is not None:
                    connection._idle.cancel()
                    connection._idle = None
                self.busy.add(connection)
                connection.reused = True
                return connection
        return None

    async def open(self) -> Connection:
        """A new connection; ProbeError (dns, tls, connection) when none can be had."""
        a = self.address
        try:
            _, connection = await self.loop.create_connection(
                lambda: Connection(self),
                a.host,
                a.port,
                ssl=a.tls,
                server_hostname=a.host if a.tls else None,
            )
        except ssl.SSLError as exc:
            raise ProbeError(ErrorClass.TLS, self._words(exc)) from None
        except socket.gaierror as exc:
            raise ProbeError(ErrorClass.DNS, self._words(exc)) from None
        except OSError as exc:
            raise ProbeError(ErrorClass.CONNECTION, self._words(exc)) from None
        self.busy.add(connection)
        return connection

    def put(self, connection: Connection) -> None:
        self.busy.discard(connection)
        if len(self.idle) >= POOL_SIZE:
            connection.abort()
            return
        connection._idle = self.loop.call_later(POOL_IDLE, connection._expire)
        self.idle.append(connection)

    def forget(self, connection: Connection) -> None:
        self.busy.discard(connection)
        if connection in self.idle:
            self.idle.remove(connection)

    def close(self) -> None:
        for connection in [*self.idle, *self.busy]:
            connection.abort()
        self.idle.clear()
        self.busy.clear()

    def _words(self, exc: BaseException) -> str:
        return f"{root_cause(exc)} (connecting to {self.address.host}:{self.address.port})"
