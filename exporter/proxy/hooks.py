"""The service's proxy hooks: traffic counts, trace context and the conversation header."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import replace

from multidict import CIMultiDict

from exporter.config import Proxy
from exporter.proxy import tracecontext
from exporter.proxy.forward import CONVERSATION_HEADER, Hooks
from exporter.proxy.metrics import TrafficMetrics
from exporter.proxy.observe import Observer
from exporter.result import TrafficOutcome, TrafficRecord

# (tracing on, the ratio of successful requests traced)
Tracing = Callable[[], tuple[bool, float]]


class TrafficHooks(Hooks):
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
