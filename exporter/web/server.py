"""The web port's connections, held against slow and many clients (slowloris).

- A request's headers must arrive within `header_timeout` of the connection opening or
  of the previous response: aiohttp's keep-alive timer closes a connection still waiting
  for them, whether it sends nothing or a byte now and then.
- At most `max_connections` are open: a new one past the cap closes the connection that
  has waited longest for a request's headers (a slow or idle one), so `/metrics` and the
  page stay served; when every connection is busy with a request, the new one is closed.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from exporter.web.limits import QuietLog

log = logging.getLogger(__name__)


class CappedServer(web.Server):
    """aiohttp's low-level server, counting its connections and which of them are idle
    (waiting for a request's headers) since when."""

    def __init__(self, made: web.Server, limit: int, **kwargs: Any) -> None:
        super().__init__(
            self._handle,
            request_factory=self._request,
            handler_cancellation=made.handler_cancellation,
            **kwargs,
        )
        self._inner_handler = made.request_handler
        self._inner_factory = made.request_factory
        self.limit = limit
        self.idle_since: dict[RequestHandler, float] = {}  # absent while a request runs
        self.shed = 0
        self._quiet = QuietLog(log)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self.idle_since[handler] = self._loop.time()
        if len(self.connections) <= self.limit:
            return
        idle = [(since, h) for h, since in self.idle_since.items() if h is not handler]
        victim = min(idle, key=lambda pair: pair[0])[1] if idle else handler
        self.shed += 1
        self._quiet.warning(
            "web connections at the cap: closed the one idle longest",
            max_connections=self.limit,
            closed_total=self.shed,
        )
        self.idle_since.pop(victim, None)
        victim.force_close()

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        self.idle_since.pop(handler, None)
        super().connection_lost(handler, exc)

    def _request(self, message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> Any:
        self.idle_since.pop(protocol, None)  # its headers are in: busy
        return self._inner_factory(message, payload, protocol, writer, task)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            return await self._inner_handler(request)
        finally:
            if request.protocol.transport is not None:  # waits for the next request now
                self.idle_since[request.protocol] = self._loop.time()


class CappedRunner(web.AppRunner):
    """An AppRunner whose server is a CappedServer."""

    def __init__(self, app: web.Application, header_timeout: float, max_connections: int) -> None:
        self._settings: dict[str, Any] = {
            "keepalive_timeout": header_timeout,
            "access_log": None,
        }
        super().__init__(app, **self._settings)
        self.max_connections = max_connections

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        return CappedServer(made, self.max_connections, **self._settings)


async def start(
    app: web.Application,
    host: str,
    port: int,
    header_timeout: float,
    max_connections: int,
    ssl_context: ssl.SSLContext | None = None,
) -> CappedRunner:
    """Serve `app` on host:port; raises OSError when the address cannot be bound."""
    runner = CappedRunner(app, header_timeout, max_connections)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    return runner
