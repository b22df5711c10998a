"""The byte-exact pass-through: one listener, one configured upstream.

Method, path and query (as the request line wrote them), status, reason, body and every
end-to-end header (names, values, order) go through unchanged both ways. Only framing may
differ: hop-by-hop headers (RFC 9110 §7.6.1: `Connection` and the fields it names,
`Keep-Alive`, `Proxy-Connection`, `TE`, `Transfer-Encoding`, `Upgrade`) are the
connection's own, and `Host` names the upstream. aiohttp's own additions are suppressed:
no decompression either way, no `User-Agent`/`Accept`/`Accept-Encoding`/`Content-Type`
upstream, no `Date`/`Server`/`Content-Type` to the client. The only additions are a
`traceparent` upstream (`propagate_trace: true`) and the conversation header to the
client (`capture: true`, when the request brought none).

Bodies stream both ways as they arrive, each read written at once (an SSE event or an
NDJSON line is never held back), with backpressure: a slow client slows the upstream
reads. A client that goes away cancels the upstream request and closes its connection.
The request target is always a path on the configured upstream, never a host from the
request, so the listener is no open proxy.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Callable, Iterable
from contextvars import ContextVar
from typing import Any

import aiohttp
from aiohttp import hdrs, web
from multidict import CIMultiDict
from yarl import URL

from exporter.config import Proxy
from exporter.errors import ErrorClass, ProbeError
from exporter.protocols.http import classify_client_error, root_cause
from exporter.proxy.observe import Observer
from exporter.result import TrafficRecord

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade"}
)
# what aiohttp's client would add on its own
SKIP_AUTO_HEADERS = (hdrs.USER_AGENT, hdrs.ACCEPT, hdrs.ACCEPT_ENCODING, hdrs.CONTENT_TYPE)
CONVERSATION_HEADER = "x-chatcanary-conversation"
READ_SIZE = 64 * 1024


def end_to_end(
    raw: Iterable[tuple[bytes, bytes]], drop: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """The end-to-end headers of a message in their order: without the hop-by-hop ones
    (and those its `Connection` names) and without `drop`."""
    pairs = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw]
    hop = set(HOP_BY_HOP) | {d.lower() for d in drop}
    for name, value in pairs:
        if name.lower() == "connection":
            hop |= {token.strip().lower() for token in value.split(",")}
    return [(name, value) for name, value in pairs if name.lower() not in hop]


# The request's headers exactly, for `VerbatimRequest`: the session's merging of headers
# keeps one of two fields whose names differ only in case (X-A, x-a).
_OUTGOING: ContextVar[list[tuple[str, str]] | None] = ContextVar("outgoing", default=None)


class VerbatimRequest(aiohttp.ClientRequest):
    """A client request that sends the forwarded headers as they are, in their order."""

    def update_headers(self, headers: Any) -> None:
        given = _OUTGOING.get()
        if given is None:
            super().update_headers(headers)
            return
        super().update_headers(None)  # Host: the upstream's
        for name, value in given:
            self.headers.add(name, value)


class _Verbatim(web.StreamResponse):
    """A response that sends the upstream's headers and no defaults of aiohttp's own."""

    def __init__(self, status: int, reason: str | None, headers: list[tuple[str, str]]) -> None:
        super().__init__(status=status, reason=reason)
        self._given = {name.lower() for name, _ in headers}
        for name, value in headers:
            self.headers.add(name, value)

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        for added in (hdrs.DATE, hdrs.SERVER, hdrs.CONTENT_TYPE):
            if added.lower() not in self._given and added in self.headers:
                del self.headers[added]


ObserverFactory = Callable[[Proxy, str, str, CIMultiDict[str]], Observer]


class Guard:
    """Calls into the observer; its first exception is counted, logged and ends the
    observing of that request. The bytes never depend on it."""

    def __init__(self, observer: Observer | None, on_failure: Callable[[], None]) -> None:
        self.observer = observer
        self._on_failure = on_failure

    def __call__(self, method: str, *args: Any) -> Any:
        if self.observer is None:
            return None
        try:
            return getattr(self.observer, method)(*args)
        except Exception:
            log.exception("proxy observer failed; forwarding goes on")
            self.observer = None
            self._on_failure()
            return None


class Forwarder:
    """The request handler of one proxy listener."""

    def __init__(
        self,
        proxy: Proxy,
        session: aiohttp.ClientSession,
        on_record: Callable[[TrafficRecord], None],
        hooks: Hooks | None = None,
        observe: ObserverFactory = Observer,
    ) -> None:
        self.proxy = proxy
        self.upstream = proxy.upstream.rstrip("/")
        self.session = session
        self.on_record = on_record
        self.hooks = hooks or Hooks()
        self.observe = observe
        self.tasks: set[asyncio.Task[Any]] = set()  # for the tests: what is in flight

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        target = request.raw_path
        if not target.startswith("/") or target.startswith("//"):
            # absolute-form (a forward-proxy request) or a scheme-relative path: never
            # forwarded anywhere but the configured upstream, so not at all
            return web.Response(status=400, text="chatcanary proxy: origin-form targets only\n")
        url = URL(self.upstream + target, encoded=True)
        path = request.path  # for the observer; without the query, which may carry a key
        self.hooks.started(self.proxy.name)
        guard = Guard(
            self._observer(request, path), lambda: self.hooks.observer_failed(self.proxy.name)
        )
        headers = end_to_end(request.raw_headers, drop=("host",))
        extra_out, trace = self.hooks.outgoing(self.proxy, request, guard.observer)
        headers = [(n, v) for n, v in headers if n.lower() not in {k.lower() for k, _ in extra_out}]
        headers += extra_out
        if not request.body_exists:
            guard("request_done")
        response: web.StreamResponse | None = None
        failure: ProbeError | None = None
        cancelled = False
        _OUTGOING.set(headers)  # this request's task only
        try:
            async with self.session.request(
                request.method,
                url,
                headers=headers,
                data=self._body(request, guard) if request.body_exists else None,
                allow_redirects=False,
                skip_auto_headers=SKIP_AUTO_HEADERS,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_read=self.proxy.idle_timeout, connect=None
                ),
            ) as upstream:
                encoding = upstream.headers.get(hdrs.CONTENT_ENCODING, "")
                guard("response", upstream.status, upstream.content_type, encoding)
                back = end_to_end(upstream.raw_headers)
                back += self.hooks.returning(self.proxy, guard.observer)
                response = _Verbatim(upstream.status, upstream.reason, back)
                await response.prepare(request)
                try:
                    async for data in upstream.content.iter_chunked(READ_SIZE):
                        guard("chunk", data)
                        try:
                            await response.write(data)
                        except ConnectionError:  # the client's side, not the upstream's
                            raise _Gone from None
                except TimeoutError:  # aiohttp's read timeout is a connection error too
                    failure = ProbeError(ErrorClass.TIMEOUT, "upstream idle past idle_timeout")
                    upstream.close()
                    raise _Cut from None
                except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
                    failure = ProbeError(*classify_client_error(exc, True))
                    upstream.close()  # the rest cannot be trusted, nor the connection
                    raise _Cut from None
                except (_Gone, asyncio.CancelledError):
                    cancelled = True
                    upstream.close()
                    raise
                await response.write_eof()
            return response
        except _Cut:
            # the head went out: the client must see the body end early, as the
            # upstream's did, so the connection to the client is closed under it
            if request.transport is not None:
                request.transport.close()
            assert response is not None
            return response
        except (ConnectionError, asyncio.CancelledError):
            cancelled = True
            raise
        except TimeoutError:
            failure = ProbeError(ErrorClass.TIMEOUT, "no answer from the upstream in idle_timeout")
            return _bad_gateway(failure, 504)
        except aiohttp.ClientError as exc:
            failure = ProbeError(*classify_client_error(exc, False))
            return _bad_gateway(failure)
        except OSError as exc:
            failure = ProbeError(ErrorClass.CONNECTION, root_cause(exc))
            return _bad_gateway(failure)
        finally:
            self.hooks.finished(self.proxy.name)
            record = guard("finish", failure, cancelled)
            if record is not None:
                self.on_record(record if trace is None else trace(record))

    def _observer(self, request: web.BaseRequest, path: str) -> Observer | None:
        try:
            return self.observe(self.proxy, request.method, path, request.headers.copy())
        except Exception:
            log.exception("proxy observer failed; forwarding goes on")
            self.hooks.observer_failed(self.proxy.name)
            return None

    async def _body(self, request: web.BaseRequest, guard: Guard) -> AsyncIterator[bytes]:
        async for data in request.content.iter_chunked(READ_SIZE):
            guard("request_chunk", data)
            yield data
        guard("request_done")


class _Gone(Exception):
    """The client went away while the answer was being written to it."""


class _Cut(Exception):
    """The upstream's body ended early after the head was sent on."""


def _bad_gateway(failure: ProbeError, status: int = 502) -> web.Response:
    """What the client gets when no upstream answer came at all: the proxy's own words."""
    return web.Response(
        status=status, text=f"chatcanary proxy: upstream {failure.error_class}: {failure.detail}\n"
    )


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
        self, proxy: Proxy, request: web.BaseRequest, observer: Observer | None
    ) -> tuple[list[tuple[str, str]], Callable[[TrafficRecord], TrafficRecord] | None]:
        """Headers to add upstream, and what to do to the record at the end."""
        return [], None

    def returning(self, proxy: Proxy, observer: Observer | None) -> list[tuple[str, str]]:
        """Headers to add to the client's response."""
        return []


def client_ssl(proxy: Proxy) -> ssl.SSLContext | bool:
    """TLS to an https:// upstream: the system's CAs, plus `upstream_ca_file`."""
    if proxy.upstream_ca_file is None:
        return True
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=str(proxy.upstream_ca_file))
    return context


def listener_ssl(proxy: Proxy) -> ssl.SSLContext | None:
    if proxy.tls is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(proxy.tls.cert_file), str(proxy.tls.key_file))
    return context
