"""The byte-exact pass-through: one listener, one configured upstream.

Method, path and query (as the request line wrote them), status, reason, body and every
end-to-end header (names, values, order) go through unchanged both ways. Only framing may
differ: hop-by-hop headers (RFC 9110 §7.6.1: `Connection` and the fields it names,
`Keep-Alive`, `Proxy-Connection`, `TE`, `Transfer-Encoding`, `Upgrade`) are the
connection's own, and `Host` names the upstream. Nothing is added but a `traceparent`
upstream (`propagate_trace: true`), the conversation header to the client (`capture:
true`, when the request brought none) and the framing fields each hop needs.

It runs on asyncio's protocols with llhttp (`httptools`) parsing both ways: each piece
of a body is written on as it arrives (an SSE event or an NDJSON line is never held
back), re-framed where the two hops differ (chunked to a client when the upstream's body
ends at its close, and so on). Backpressure goes both ways by pausing the reading side
while the writing side's buffer is full. Requests on one client connection (keep-alive,
pipelined) are answered in order; upstream connections are kept alive for reuse
(`upstream.Pool`). A client that goes away drops its upstream connection at once.

A malformed request gets a 400 (a head over `upstream.MAX_HEAD` bytes a 431) and never
reaches the upstream. The request target must be a path on the configured upstream,
never a host from the request, so the listener is no open proxy.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Any, cast
from urllib.parse import unquote

import httptools
from multidict import CIMultiDict

from exporter.config import Proxy
from exporter.errors import ErrorClass, ProbeError
from exporter.proxy.observe import Observer
from exporter.proxy.upstream import MAX_HEAD, Connection, Pool
from exporter.result import TrafficRecord

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"te", b"transfer-encoding", b"upgrade"}
)
CONVERSATION_HEADER = "x-chatcanary-conversation"
# sent again on a new connection when a kept-alive one closed before any answer (the
# upstream's idle limit met the request on the way), as aiohttp and nginx do: never a
# POST, which the upstream may have begun to answer at a cost
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
REPLAY_LIMIT = 64 * 1024  # request bytes kept for that
BUFFER_LIMIT = 1 << 20  # request bytes held while no upstream connection takes them
PIPELINE_LIMIT = 32  # requests of one client connection waiting for their turn
LINGER = 2.0  # seconds a refused client's connection is read (and dropped) before closing
# seconds a client connection may wait between requests, or take to send a request's
# head, before it is closed (aiohttp's and nginx's keep-alive limit)
CLIENT_IDLE = 75.0

Headers = list[tuple[bytes, bytes]]
Stamp = Callable[[TrafficRecord], TrafficRecord]


def end_to_end(raw: Iterable[tuple[bytes, bytes]], drop: Iterable[bytes] = ()) -> Headers:
    """The end-to-end headers of a message in their order: without the hop-by-hop ones
    (and those its `Connection` names) and without `drop` (lower case)."""
    pairs = list(raw)
    hop = HOP_BY_HOP.union(drop)
    for name, value in pairs:
        if name.lower() == b"connection":
            hop = hop.union(token.strip().lower() for token in value.split(b","))
    return [(name, value) for name, value in pairs if name.lower() not in hop]


def _head(start: bytes, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    return start + b"".join(b"%s: %s\r\n" % pair for pair in headers) + b"\r\n"


def _own(status: int, reason: bytes, text: str, close: bool = False) -> bytes:
    """A response of the proxy's own (when no upstream answer came at all)."""
    body = text.encode()
    fields = [(b"Content-Type", b"text/plain; charset=utf-8")]
    fields.append((b"Content-Length", b"%d" % len(body)))
    if close:
        fields.append((b"Connection", b"close"))
    return _head(b"HTTP/1.1 %d %s\r\n" % (status, reason), fields) + body


def _bad_gateway(failure: ProbeError) -> bytes:
    timeout = failure.error_class is ErrorClass.TIMEOUT
    text = f"chatcanary proxy: upstream {failure.error_class}: {failure.detail}\n"
    return _own(504, b"Gateway Timeout", text) if timeout else _own(502, b"Bad Gateway", text)


ObserverFactory = Callable[[Proxy, str, str, CIMultiDict[str]], Observer]


class Guard:
    """Calls into the observer, in order, once the event loop has run the reads and
    writes it had ready: what the proxy read is forwarded for every connection before any
    of it is observed (each call carries when its bytes came). The observer's first
    exception is counted, logged and ends the observing of that request. The bytes never
    depend on it."""

    def __init__(self, observer: Observer | None, on_failure: Callable[[], None]) -> None:
        self.observer = observer
        self._on_failure = on_failure
        self._calls: deque[tuple[str, tuple[Any, ...], Callable[[Any], None] | None]] = deque()

    def __call__(self, method: str, *args: Any, then: Callable[[Any], None] | None = None) -> None:
        """Call `method` soon; `then` gets what it returns (not if the observer failed)."""
        if self.observer is None:
            return
        if not self._calls:
            asyncio.get_running_loop().call_soon(self._run)
        self._calls.append((method, args, then))

    def _run(self) -> None:
        calls = self._calls
        while calls and self.observer is not None:
            method, args, then = calls.popleft()
            try:
                result = getattr(self.observer, method)(*args)
            except Exception:
                log.exception("proxy observer failed; forwarding goes on")
                self.observer = None
                self._on_failure()
                break
            if then is not None:
                then(result)
        calls.clear()


class Hooks:
    """What the proxy does beside forwarding: counting, trace context, the conversation
    header. The defaults add nothing."""

    def started(self, proxy: str) -> None:
        pass

    def finished(self, proxy: str) -> None:
        pass

    def observer_failed(self, proxy: str) -> None:
        pass

    def outgoing(
        self, proxy: Proxy, headers: CIMultiDict[str], observer: Observer | None
    ) -> tuple[list[tuple[str, str]], Stamp | None]:
        """Headers to add upstream, and what to do to the record at the end."""
        return [], None

    def returning(self, proxy: Proxy, observer: Observer | None) -> list[tuple[str, str]]:
        """Headers to add to the client's response."""
        return []


class Forwarder:
    """One proxy listener: its client connections (the protocol factory) and its pool."""

    def __init__(
        self,
        proxy: Proxy,
        on_record: Callable[[TrafficRecord], None],
        hooks: Hooks | None = None,
        observe: ObserverFactory = Observer,
    ) -> None:
        self.proxy = proxy
        self.on_record = on_record
        self.hooks = hooks or Hooks()
        self.observe = observe
        self.pool = Pool(proxy)
        self.connections: set[Downstream] = set()
        self._drained = asyncio.Event()

    def __call__(self) -> Downstream:
        return Downstream(self)

    async def close(self, grace: float) -> None:
        """Close idle client connections now, busy ones when done or after `grace`."""
        for connection in list(self.connections):
            if not connection.queue:
                connection.close()
        if self.connections:
            self._drained.clear()
            try:
                async with asyncio.timeout(grace):
                    await self._drained.wait()
            except TimeoutError:
                pass
        for connection in list(self.connections):
            connection.abort()
        self.pool.close()

    def gone(self, connection: Downstream) -> None:
        self.connections.discard(connection)
        if not self.connections:
            self._drained.set()


class Downstream(asyncio.Protocol):
    """One client connection: its requests parsed by llhttp and forwarded in order."""

    def __init__(self, forwarder: Forwarder) -> None:
        self.forwarder = forwarder
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[Exchange] = deque()  # the first is being answered
        self.parsing: Exchange | None = None  # the one whose body is being read
        self.writing_paused = False
        self.closing = False  # answer what was asked, then close
        self.feeding = False  # a read from the client is being parsed
        self._held: list[bytes] | None = None  # writes to the client, while held
        self._paused_for: set[str] = set()
        self._url = b""
        self._headers: Headers = []
        self._head_size = 0
        self._in_body = False  # its head is parsed: a field now is a trailer
        self._refusal: bytes | None = None  # the answer to a bad request after the queue
        self._idle: asyncio.TimerHandle | None = None

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.forwarder.connections.add(self)
        self._wait()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.feeding = True  # what it writes upstream goes in one write, after the read
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._stop()  # no tunnel: the request went on as a plain one, nothing follows
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _HeadTooLarge):
                raise  # a bug of ours: asyncio logs it and closes the connection
            self._refuse(431, b"Request Header Fields Too Large", "request head too large")
        except httptools.HttpParserError as exc:
            self._refuse(400, b"Bad Request", f"malformed request: {exc}")
        finally:
            self.feeding = False
            if self.queue:
                self.queue[0].flush()  # only the first exchange has a connection

    def eof_received(self) -> bool | None:
        """The client is done sending: answer what it asked, then close."""
        self.closing = True
        if self.parsing is not None:  # its request cut short
            self.parsing.client_gone()
            return None
        for exchange in self.queue:
            exchange.keep_alive = False
        return True if self.queue else None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self._idle is not None:
            self._idle.cancel()
        for exchange in self.queue:
            exchange.client_gone()
        self.queue.clear()
        self.forwarder.gone(self)

    def pause_writing(self) -> None:
        self.writing_paused = True
        if self.queue and self.queue[0].connection is not None:
            self.queue[0].connection.pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.queue and self.queue[0].connection is not None:
            self.queue[0].connection.resume_reading()

    # --- httptools' callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._head_size = 0
        self._in_body = False

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._grow(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._grow(len(name) + len(value) + 4)  # trailers too: head and trailers bounded
        if self._in_body:
            if self.parsing is not None:
                self.parsing.request_trailer(name, value)
            return
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_body = True
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        parser = self.parser
        exchange = Exchange(
            self,
            parser.get_method(),
            self._url,
            self._headers,
            parser.get_http_version() == "1.1",
            parser.should_keep_alive(),
        )
        self.parsing = exchange
        self.queue.append(exchange)
        if len(self.queue) == 1:
            exchange.begin()
        elif len(self.queue) > PIPELINE_LIMIT:
            self.pause("pipeline")

    def on_body(self, data: bytes) -> None:
        if self.parsing is not None:
            self.parsing.request_body(data)

    def on_message_complete(self) -> None:
        if self.parsing is not None:
            self.parsing.request_complete()
            self.parsing = None

    # --- for the exchanges ---------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._held is not None:
            self._held.append(data)
        elif self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def hold(self) -> None:
        if self._held is None:
            self._held = []

    def release(self) -> None:
        held, self._held = self._held, None
        if held:
            self.write(held[0] if len(held) == 1 else b"".join(held))

    def pause(self, reason: str) -> None:
        if not self._paused_for and self.transport is not None:
            self.transport.pause_reading()
        self._paused_for.add(reason)

    def resume(self, reason: str) -> None:
        if reason in self._paused_for:
            self._paused_for.discard(reason)
            if not self._paused_for and self.transport is not None and not self.closing:
                self.transport.resume_reading()

    def done(self, exchange: Exchange, keep: bool) -> None:
        """The exchange's answer is written: the next one's turn, or the connection ends."""
        if self.queue and self.queue[0] is exchange:
            self.queue.popleft()
        if self._refusal is not None and not self.queue:
            self.write(self._refusal)
            self._linger()
        elif not keep:
            self.close()
        elif self.queue:
            if len(self.queue) <= PIPELINE_LIMIT:
                self.resume("pipeline")
            self.queue[0].begin()
        else:
            self.resume("pipeline")
            self._wait()

    def close(self) -> None:
        self.closing = True
        self.release()
        if self.transport is not None:
            self.transport.close()  # after what is buffered is written

    def abort(self) -> None:
        self._held = None
        if self.transport is not None:
            self.transport.abort()

    # --- inside --------------------------------------------------------------------------

    def _grow(self, size: int) -> None:
        self._head_size += size
        if self._head_size > MAX_HEAD:
            raise _HeadTooLarge

    def _wait(self) -> None:
        """Wait CLIENT_IDLE for the next request's head, then close."""
        if self._idle is None:
            self._idle = asyncio.get_running_loop().call_later(CLIENT_IDLE, self._expire)

    def _expire(self) -> None:
        self._idle = None
        if not self.queue:
            self.close()

    def _stop(self) -> None:
        """Read no more requests from this connection; answer those read, then close."""
        self.closing = True
        if self.transport is not None:
            self.transport.pause_reading()
        if not self.queue:
            self.close()
        else:
            for exchange in self.queue:
                exchange.keep_alive = False

    def _refuse(self, status: int, reason: bytes, text: str) -> None:
        """Answer a request that cannot be read, after those before it, and close."""
        answer = _own(status, reason, f"chatcanary proxy: {text}\n", close=True)
        if self.parsing is not None:
            # its head went upstream already but its body cannot be read to the end
            self.parsing.client_gone()
            self.abort()
            return
        self.closing = True
        if self.queue:
            self._refusal = answer  # read no more: what comes is of no use
            if self.transport is not None:
                self.transport.pause_reading()
            for exchange in self.queue:
                exchange.keep_alive = False
        else:
            self.write(answer)
            self._linger()

    def _linger(self) -> None:
        """Close after the answer, reading (and dropping) what the client still sends for
        a while: closing with unread bytes would reset the connection, and the client
        could lose the answer."""
        self.resume("pipeline")
        self.release()
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self._paused_for.clear()
        transport.resume_reading()
        if transport.can_write_eof():
            transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER, transport.close)


class _HeadTooLarge(Exception):
    pass


class Exchange:
    """One request and its answer: forwarded upstream, the answer forwarded back, the
    observer fed beside."""

    def __init__(
        self,
        down: Downstream,
        method: bytes,
        target: bytes,
        headers: Headers,
        http11: bool,
        keep_alive: bool,
    ) -> None:
        self.down = down
        self.forwarder = down.forwarder
        self.method = method
        self.target = target
        self.raw = headers
        self.http11 = http11  # chunked framing is understood
        self.keep_alive = keep_alive and http11
        self.connection: Connection | None = None
        self.guard = Guard(None, self._observer_failed)
        self._refused = not target.startswith(b"/") or target.startswith(b"//")
        self._out: bytes = b""  # the request's head and body not yet on a connection
        self._trailers_in: list[bytes] = []  # the request's trailer fields, as they came
        self._trailers_out: list[bytes] = []  # the answer's
        self._pending = 0
        self._chunked_in = False
        self._request_done = False
        self._responded = False
        self._chunked_out = False
        self._close_after = False
        self._stamp: Stamp | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._replay: bytes | None = None  # what went out, while it may be sent again
        self._begun = False
        self._over = False
        if not self._refused:
            self._start()

    def _start(self) -> None:
        """Build the request for the upstream and the observer (before the exchange's
        turn: its body may come first)."""
        forwarder, proxy = self.forwarder, self.forwarder.proxy
        text = CIMultiDict((n.decode("latin-1"), v.decode("latin-1")) for n, v in self.raw)
        method = self.method.decode("latin-1")
        path = unquote(self.target.partition(b"?")[0].decode("latin-1"))
        try:
            observer: Observer | None = forwarder.observe(proxy, method, path, text)
        except Exception:
            log.exception("proxy observer failed; forwarding goes on")
            self._observer_failed()
            observer = None
        self.guard.observer = observer
        extra, self._stamp = forwarder.hooks.outgoing(proxy, text, observer)
        added = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in extra]
        headers = end_to_end(self.raw, [b"host", *(n.lower() for n, _ in added)])
        self._chunked_in = any(
            n.lower() == b"transfer-encoding" and b"chunked" in v.lower() for n, v in self.raw
        )
        address = forwarder.pool.address
        fields = [(b"Host", address.host_header), *headers, *added]
        if self._chunked_in:
            fields.append((b"Transfer-Encoding", b"chunked"))
        start = b"%s %s%s HTTP/1.1\r\n" % (self.method, address.prefix, self.target)
        self._out = _head(start, fields)

    # --- the request, from the client ----------------------------------------------------

    def begin(self) -> None:
        """The exchange's turn: send the request upstream."""
        self._begun = True
        if self._over:  # its request was cut short while it waited
            self.down.done(self, False)
            return
        if self._refused:
            # absolute-form (a forward-proxy request) or a scheme-relative path: never
            # forwarded anywhere but the configured upstream, so not at all
            text = "chatcanary proxy: origin-form targets only\n"
            self.down.write(_own(400, b"Bad Request", text, close=not self.keep_alive))
            self._over = True
            self.down.done(self, self.keep_alive)
            return
        self.forwarder.hooks.started(self.forwarder.proxy.name)
        connection = self.forwarder.pool.take()
        if connection is not None:
            self._attach(connection)
        else:
            self._connecting = asyncio.create_task(self._connect())

    def _retry(self, error: ProbeError) -> bool:
        """Send the request again on a new connection, if the one it went on was a kept-alive
        one that closed before answering and the request may be sent twice."""
        connection, replay = self.connection, self._replay
        if connection is None or replay is None or not self._request_done:
            return False
        if (
            not connection.reused
            or connection.answered
            or error.error_class is not ErrorClass.CONNECTION
        ):
            return False
        self._replay, self._out, self.connection = None, replay, None
        self._connecting = asyncio.create_task(self._connect())
        return True

    async def _connect(self) -> None:
        try:
            connection = await self.forwarder.pool.open()
        except ProbeError as error:
            self._connecting = None
            self.failed(error)
            return
        self._connecting = None
        if self._over:
            connection.abort()
        else:
            self._attach(connection)

    def _attach(self, connection: Connection) -> None:
        self.connection = connection
        if connection.reused and self.method in IDEMPOTENT:
            self._replay = b""
        connection.send(self, self.method == b"HEAD")
        connection.request_sent = self._request_done
        if not self.down.feeding:  # else once the client's read is parsed
            self.flush()
        if self._pending:
            self._pending = 0
            self.down.resume("buffer")
        if self.down.writing_paused:
            connection.pause_reading()

    def request_body(self, data: bytes) -> None:
        if self._refused:
            return
        # forwarded first, observed after: the observer never delays a byte
        self._send(b"%x\r\n%s\r\n" % (len(data), data) if self._chunked_in else data)
        self.guard("request_chunk", data)

    def request_trailer(self, name: bytes, value: bytes) -> None:
        if self._chunked_in and not self._refused:
            self._trailers_in.append(b"%s: %s\r\n" % (name, value))

    def request_complete(self) -> None:
        if self._refused:
            return
        self._request_done = True
        if self._chunked_in:  # the last chunk, and the trailer fields it ends with
            self._send(b"0\r\n" + b"".join(self._trailers_in) + b"\r\n")
        self.flush()  # the whole request upstream before the observer parses it
        if self.connection is not None:
            self.connection.request_sent = True
        self.guard("request_done")  # after the last byte went: it parses the whole body

    def _send(self, data: bytes) -> None:
        if self.connection is not None:
            self._out += data  # a read's worth at most: flushed when it is parsed
            if not self.down.feeding:
                self.flush()
        elif not self._over:
            self._out += data
            self._pending += len(data)
            if self._pending > BUFFER_LIMIT:
                self.down.pause("buffer")

    def flush(self) -> None:
        """Write what waits for the upstream connection, if the exchange has one."""
        if self.connection is None or not self._out:
            return
        data, self._out = self._out, b""
        if self._replay is not None:
            replay = self._replay + data
            self._replay = replay if len(replay) <= REPLAY_LIMIT else None
        self.connection.write(data)

    def hold(self) -> None:
        self.down.hold()

    def release(self) -> None:
        self.down.release()

    def client_gone(self) -> None:
        """The client went away (or its request cannot be read to the end)."""
        if self._over:
            return
        if not self._begun:
            self._over = True
            return
        if self._connecting is not None:
            self._connecting.cancel()
        if self.connection is not None:
            self.connection.abort()
        self._finish(None, cancelled=True)

    # --- the answer, from the upstream (upstream.Receiver) -------------------------------

    def head(self, status: int, reason: bytes, headers: Headers) -> None:
        self._responded = True
        content_type, encoding, framed = "", "", False
        for name, value in headers:
            lower = name.lower()
            if lower == b"content-type":
                content_type = value.partition(b";")[0].strip().lower().decode("latin-1")
            elif lower == b"content-encoding":
                encoding = value.decode("latin-1")
            elif lower in (b"content-length", b"transfer-encoding"):
                framed = True
        fields = end_to_end(headers)
        returning = self.forwarder.hooks.returning(self.forwarder.proxy, self.guard.observer)
        fields += [(n.encode("latin-1"), v.encode("latin-1")) for n, v in returning]
        chunked = any(n.lower() == b"transfer-encoding" for n, _ in headers)
        bodiless = self.method == b"HEAD" or status in (204, 304)
        if not bodiless and (chunked or not framed):
            if self.http11:  # chunked, so that a body cut short reads as cut
                self._chunked_out = True
                fields.append((b"Transfer-Encoding", b"chunked"))
            else:
                self._close_after = True  # the body ends where the connection does
        if not self.keep_alive:
            fields.append((b"Connection", b"close"))
        self.down.write(_head(b"HTTP/1.1 %d %s\r\n" % (status, reason), fields))
        self.guard("response", status, content_type, encoding, perf_counter())

    def interim(self, status: int, reason: bytes, headers: Headers) -> None:
        self.down.write(_head(b"HTTP/1.1 %d %s\r\n" % (status, reason), end_to_end(headers)))

    def body(self, data: bytes) -> None:
        self.down.write(b"%x\r\n%s\r\n" % (len(data), data) if self._chunked_out else data)
        self.guard("chunk", data, perf_counter())

    def trailer(self, name: bytes, value: bytes) -> None:
        # on to a chunked client; one that is not (HTTP/1.0) has no place for them
        if self._chunked_out:
            self._trailers_out.append(b"%s: %s\r\n" % (name, value))

    def complete(self) -> None:
        if self._chunked_out:
            self.down.write(b"0\r\n" + b"".join(self._trailers_out) + b"\r\n")
        self.connection = None
        self._finish(None)
        self.down.done(self, self.keep_alive and not self._close_after and self._request_done)

    def failed(self, error: ProbeError) -> None:
        if self._over or self._retry(error):
            return
        self.connection = None
        if self._responded:
            # the head went out: the client must see the body end early, as the
            # upstream's did, so the connection to the client is closed under it
            self._finish(error)
            self.down.close()
            return
        self.down.write(_bad_gateway(error))
        self._finish(error)
        self.down.done(self, self.keep_alive and self._request_done)

    def upstream_paused(self, paused: bool) -> None:
        if paused:
            self.down.pause("upstream")
        else:
            self.down.resume("upstream")

    # --- the end -------------------------------------------------------------------------

    def _finish(self, failure: ProbeError | None, cancelled: bool = False) -> None:
        if self._over:
            return
        self._over = True
        self.down.resume("upstream")
        proxy = self.forwarder.proxy
        self.forwarder.hooks.finished(proxy.name)
        self.guard("finish", failure, cancelled, perf_counter(), then=self._record)

    def _record(self, record: TrafficRecord) -> None:
        self.forwarder.on_record(record if self._stamp is None else self._stamp(record))

    def _observer_failed(self) -> None:
        self.forwarder.hooks.observer_failed(self.forwarder.proxy.name)


def listener_ssl(proxy: Proxy) -> ssl.SSLContext | None:
    if proxy.tls is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(proxy.tls.cert_file), str(proxy.tls.key_file))
    return context
