"""The running exporter: config → scheduler → runner → sinks, and reloads.

Owns the HTTP client session and the metrics registry. `reload()` keeps the old config
when the new file is bad, and says so in `chatcanary_config_last_reload_successful`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import uuid
from dataclasses import replace
from pathlib import Path

import aiohttp

from exporter.config import Config, ConfigError, OpenTelemetry, RunSpec, load_config
from exporter.result import Outcome, ProbeResult
from exporter.runner import run_canary
from exporter.scheduler import Clock, Scheduler
from exporter.sinks import Sink
from exporter.sinks.log import LatestSink, LogSink
from exporter.sinks.otel import OTelSink, span_exporter, traces_enabled
from exporter.sinks.otel_metrics import OTelMetricsSink, metric_exporter, metrics_enabled
from exporter.sinks.prometheus import PrometheusSink, make_registry

log = logging.getLogger(__name__)


class Service:
    def __init__(self, config: Config, path: Path | None = None, clock: Clock | None = None):
        self.config = config
        self.path = path
        self.prometheus = PrometheusSink(config.buckets())
        self.registry, self.metrics = make_registry(self.prometheus)
        self.latest = LatestSink()
        self.sinks: list[Sink] = [self.prometheus, self.latest, LogSink()]
        self.scheduler = Scheduler(
            run=self._run, on_result=self._record, on_lag=self.metrics.lag.observe, clock=clock
        )
        self.otel: OTelSink | None = None
        self.otel_metrics: OTelMetricsSink | None = None
        self._sample = random.Random()
        self._session: aiohttp.ClientSession | None = None
        self.ready = False

    async def start(self) -> None:
        """Raises RuntimeError when the tracing set-up cannot work (a missing extra)."""
        self.otel = self._tracing(self.config.opentelemetry)
        settings = self.config.opentelemetry
        if metrics_enabled(settings):  # applies at start; a reload does not rebuild it
            self.otel_metrics = OTelMetricsSink(
                settings,
                self.config.buckets(),
                metric_exporter(settings),
                self.metrics.otel_failures,
            )
            self.sinks.append(self.otel_metrics)
        # No global connection cap: the per-target semaphores bound concurrency.
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=60)
        self._session = aiohttp.ClientSession(connector=connector)
        self._apply(self.config)
        self.metrics.reload_ok.set(1)
        self.metrics.reload_time.set(time.time())
        self.ready = True

    async def stop(self, grace: float = 10.0) -> None:
        self.ready = False
        await self.scheduler.stop(grace)
        if self._session is not None:
            await self._session.close()
        for exporting in (self.otel, self.otel_metrics):
            if exporting is not None:  # flushes what is left; blocking, so off the loop
                await asyncio.to_thread(exporting.shutdown)

    def reload(self) -> ConfigError | None:
        """Load the config file again; on error keep the running config."""
        if self.path is None:
            return ConfigError(["no config file to reload (started with a built-in config)"])
        try:
            config = load_config(self.path)
        except ConfigError as exc:
            self.metrics.reload_ok.set(0)
            log.error("config reload failed, keeping the old config", extra={"errors": str(exc)})
            return exc
        if config.opentelemetry != self.config.opentelemetry:
            self._retrace(config.opentelemetry)
        self._apply(config)
        self.config = config
        self.metrics.reload_ok.set(1)
        self.metrics.reload_time.set(time.time())
        log.info("config reloaded", extra={"canaries": len(self.scheduler.keys)})
        return None

    def _apply(self, config: Config) -> None:
        plan = config.plan()
        limits = {t.name: t.concurrency or config.defaults.concurrency for t in config.targets}
        self.scheduler.reconcile(plan, limits)
        self.prometheus.retain(plan, config.buckets())
        for exporting in (self.otel, self.otel_metrics):
            if exporting is not None:
                exporting.retain(plan)
        self.metrics.canaries.set(len(plan))

    def _tracing(self, settings: OpenTelemetry) -> OTelSink | None:
        if not traces_enabled(settings):
            return None
        exporter = span_exporter(settings, os.environ)
        log.info("tracing on", extra={"sample_ratio": settings.sample_ratio})
        return OTelSink(settings, exporter, self.metrics.otel_failures)

    def _retrace(self, settings: OpenTelemetry) -> None:
        old = self.otel
        try:
            self.otel = self._tracing(settings)
        except RuntimeError as exc:
            log.error("tracing settings not applied", extra={"error": str(exc)})
            return
        if old is not None:  # flush the old provider without blocking the loop
            asyncio.get_running_loop().run_in_executor(None, old.shutdown)

    def _traced(self, result: ProbeResult) -> bool:
        """Failed runs are always traced; successful ones at the configured ratio."""
        if result.outcome is not Outcome.SUCCESS:
            return True
        return self._sample.random() < self.config.opentelemetry.sample_ratio

    async def _run(self, spec: RunSpec) -> ProbeResult:
        assert self._session is not None, "Service.start() first"
        self.metrics.in_flight.inc()
        try:
            return await run_canary(self._session, spec)
        finally:
            self.metrics.in_flight.dec()

    def _record(self, result: ProbeResult) -> None:
        if self.otel is not None and self._traced(result):
            result = replace(result, trace_id=uuid.uuid4().hex)
        sinks = self.sinks if self.otel is None else [*self.sinks, self.otel]
        for sink in sinks:
            try:
                sink.record(result)
            except Exception:
                log.exception("sink failed", extra={"sink": type(sink).__name__})
