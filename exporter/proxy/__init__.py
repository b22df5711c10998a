"""The proxy: byte-exact pass-through listeners that measure real users' traffic.

    proxies = Proxies(metrics, on_record, tracing)
    await proxies.apply(config.proxies)   # opens, closes and replaces listeners by name
    await proxies.close()

Each listener (`forward.Forwarder`: asyncio protocols, llhttp, a keep-alive pool of
`upstream` connections) forwards to its one configured upstream; its observer
(`observe.Observer`) measures on the side and hands a `TrafficRecord` to `on_record`
at the end of each request. The service sends that to
the traffic metrics, the store (with `capture: true`) and the traces.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from multidict import CIMultiDict

from exporter.config import Proxy
from exporter.proxy import tracecontext
from exporter.proxy.forward import (
    CONVERSATION_HEADER,
    Forwarder,
    Hooks,
    ObserverFactory,
    listener_ssl,
)
from exporter.proxy.metrics import TrafficMetrics
from exporter.proxy.observe import Observer
from exporter.result import TrafficOutcome, TrafficRecord

__all__ = ["CONVERSATION_HEADER", "Listener", "Proxies", "TrafficMetrics"]

log = logging.getLogger(__name__)

# (tracing on, the ratio of successful requests traced)
Tracing = Callable[[], tuple[bool, float]]


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


class _Hooks(Hooks):
    def __init__(self, metrics: TrafficMetrics, tracing: Tracing) -> None:
        self.metrics = metrics
        self.tracing = tracing
        self.sample = random.Random()

    def started(self, proxy: str) -> None:
        self.metrics.in_flight[proxy] = self.metrics.in_flight.get(proxy, 0) + 1

    def finished(self, proxy: str) -> None:
        self.metrics.in_flight[proxy] = self.metrics.in_flight.get(proxy, 1) - 1

    def observer_failed(self, proxy: str) -> None:
        failures = self.metrics.observer_failures
        failures[proxy] = failures.get(proxy, 0) + 1

    def outgoing(
        self, proxy: Proxy, headers: CIMultiDict[str], observer: Observer | None
    ) -> tuple[list[tuple[str, str]], Callable[[TrafficRecord], TrafficRecord] | None]:
        if observer is not None and proxy.capture and observer.conversation_id is None:
            observer.conversation_id = uuid.uuid4().hex
            observer.generated_conversation = True
        traced, ratio = self.tracing()
        if not traced and not proxy.propagate_trace:
            return [], None
        span = tracecontext.server_span(
            headers.get(tracecontext.HEADER), self.sample.random() < ratio
        )
        added = [(tracecontext.HEADER, span.traceparent())] if proxy.propagate_trace else []

        def stamp(record: TrafficRecord) -> TrafficRecord:
            # failures are always traced, as canary runs are
            if traced and (span.sampled or record.outcome is TrafficOutcome.ERROR):
                return replace(
                    record,
                    trace_id=span.trace_id,
                    span_id=span.span_id,
                    parent_span_id=span.parent_span_id,
                )
            return record

        return added, stamp

    def returning(self, proxy: Proxy, observer: Observer | None) -> list[tuple[str, str]]:
        if observer is not None and observer.generated_conversation:
            assert observer.conversation_id is not None
            return [(CONVERSATION_HEADER, observer.conversation_id)]
        return []


class Proxies:
    def __init__(
        self,
        metrics: TrafficMetrics,
        on_record: Callable[[TrafficRecord], None],
        tracing: Tracing = lambda: (False, 0.0),
        observe: ObserverFactory = Observer,
    ) -> None:
        self.metrics = metrics
        self.on_record = on_record
        self.hooks = _Hooks(metrics, tracing)
        self.observe = observe
        self.listeners: dict[str, Listener] = {}

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
        forwarder = Forwarder(proxy, self.on_record, self.hooks, self.observe)
        host, port = proxy.address()
        server = await asyncio.get_running_loop().create_server(
            forwarder, host or None, port, ssl=listener_ssl(proxy), backlog=1024
        )
        listener = Listener(proxy, server, forwarder)
        log.info("proxy listening", extra={"proxy": proxy.name, "url": listener.url})
        return listener
