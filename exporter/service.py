"""The running exporter: config → scheduler → runner → sinks, and reloads.

Owns the HTTP client session and the metrics registry. `reload()` keeps the old config
when the new file is bad, and says so in `chatcanary_config_last_reload_successful`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import aiohttp

from exporter.config import Config, ConfigError, RunSpec, load_config
from exporter.result import ProbeResult
from exporter.runner import run_canary
from exporter.scheduler import Clock, Scheduler
from exporter.sinks import Sink
from exporter.sinks.log import LatestSink, LogSink
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
        self._session: aiohttp.ClientSession | None = None
        self.ready = False

    async def start(self) -> None:
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
        self.metrics.canaries.set(len(plan))

    async def _run(self, spec: RunSpec) -> ProbeResult:
        assert self._session is not None, "Service.start() first"
        self.metrics.in_flight.inc()
        try:
            return await run_canary(self._session, spec)
        finally:
            self.metrics.in_flight.dec()

    def _record(self, result: ProbeResult) -> None:
        for sink in self.sinks:
            try:
                sink.record(result)
            except Exception:
                log.exception("sink failed", extra={"sink": type(sink).__name__})
