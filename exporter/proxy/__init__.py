"""The proxy: byte-exact pass-through listeners that measure real users' traffic.

    proxies = Proxies(metrics, on_record, tracing)
    await proxies.apply(config.proxies)   # opens, closes and replaces listeners by name
    await proxies.close()

Each listener (`forward.Forwarder`: asyncio protocols, llhttp, a keep-alive pool of
`upstream` connections) forwards to its one configured upstream; its observer
(`observe.Observer`) measures on the side and hands a `TrafficRecord` to `on_record`
at the end of each request. The service sends that to
the traffic metrics, the store (with `capture: true`) and the traces; `hooks` count and
trace on the way. A config without proxies imports none of forward, upstream, observe
and hooks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from exporter.config import Proxy
from exporter.proxy.metrics import TrafficMetrics
from exporter.result import TrafficRecord

if TYPE_CHECKING:
    from exporter.proxy.forward import Forwarder, Hooks, ObserverFactory
    from exporter.proxy.hooks import Tracing

__all__ = ["Listener", "Proxies", "TrafficMetrics"]

log = logging.getLogger(__name__)


@dataclass
class Listener:
    proxy: Proxy
    server: asyncio.Server
    forwarder: Forwarder

    @property
    def port(self) -> int:
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"{'https' if self.proxy.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        """Client connections open now."""
        return len(self.forwarder.connections)

    async def close(self, grace: float = 5.0) -> None:
        self.server.close()
        await self.forwarder.close(grace)
        await self.server.wait_closed()


class Proxies:
    def __init__(
        self,
        metrics: TrafficMetrics,
        on_record: Callable[[TrafficRecord], None],
        tracing: Tracing = lambda: (False, 0.0),
        observe: ObserverFactory | None = None,
    ) -> None:
        self.metrics = metrics
        self.on_record = on_record
        self.tracing = tracing
        self.observe = observe  # None: exporter.proxy.observe.Observer
        self.listeners: dict[str, Listener] = {}
        self._hooks: Hooks | None = None

    async def apply(self, proxies: Sequence[Proxy], strict: bool = True) -> None:
        """Run exactly these proxies: a changed one is closed and opened anew. Raises
        RuntimeError when a listener cannot open (unless not `strict`: then logged)."""
        wanted = {p.name: p for p in proxies}
        for name, listener in list(self.listeners.items()):
            if wanted.get(name) != listener.proxy:
                del self.listeners[name]
                await listener.close()
        for proxy in proxies:
            if proxy.name in self.listeners:
                continue
            try:
                self.listeners[proxy.name] = await self._open(proxy)
            except (OSError, ValueError) as exc:
                message = f"proxy {proxy.name}: cannot listen on {proxy.listen}: {exc}"
                if strict:
                    raise RuntimeError(message) from None
                log.error(message)

    async def close(self, grace: float = 5.0) -> None:
        listeners, self.listeners = list(self.listeners.values()), {}
        await asyncio.gather(*(listener.close(grace) for listener in listeners))

    async def _open(self, proxy: Proxy) -> Listener:
        # imported by the first proxy that listens: a config without one never loads them
        from exporter.proxy.forward import Forwarder, listener_ssl
        from exporter.proxy.hooks import TrafficHooks
        from exporter.proxy.observe import Observer

        if self._hooks is None:
            self._hooks = TrafficHooks(self.metrics, self.tracing)
        forwarder = Forwarder(proxy, self.on_record, self._hooks, self.observe or Observer)
        host, port = proxy.address()
        server = await asyncio.get_running_loop().create_server(
            forwarder, host or None, port, ssl=listener_ssl(proxy), backlog=1024
        )
        listener = Listener(proxy, server, forwarder)
        log.info("proxy listening", extra={"proxy": proxy.name, "url": listener.url})
        return listener
