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
from typing import TYPE_CHECKING

import aiohttp

from exporter import netguard
from exporter.budget import Budgets, BudgetSpent
from exporter.config import Config, ConfigError, OpenTelemetry, RunSpec, load_config
from exporter.feedback import Feedback, FeedbackLog
from exporter.history import History, Recent
from exporter.judges.metrics import JudgeMetrics
from exporter.judges.panel import Panel
from exporter.proxy import Proxies, TrafficMetrics
from exporter.proxy.capture import Capture
from exporter.redaction import secrets
from exporter.result import Outcome, ProbeResult, TrafficRecord
from exporter.runner import guarded, http_client, run_canary
from exporter.scheduler import Clock, LoopClock, Scheduler
from exporter.sharding import WHOLE, Shard
from exporter.sinks import Sink
from exporter.sinks.log import LatestSink, LogSink
from exporter.sinks.otel_switch import metrics_enabled, traces_enabled
from exporter.sinks.prometheus import PrometheusSink, make_registry

# The store (SQLAlchemy) is imported only by a service that keeps one: `--version`,
# `check` and `probe` never load it.
if TYPE_CHECKING:
    from exporter.sinks.otel import OTelSink
    from exporter.sinks.otel_metrics import OTelMetricsSink
    from exporter.store import Location, Store

log = logging.getLogger(__name__)


class FeedbackNotKept(Exception):
    """The store could not commit a submission: it must not be acknowledged."""


class Service:
    def __init__(
        self,
        config: Config,
        path: Path | None = None,
        clock: Clock | None = None,
        shard: Shard = WHOLE,
        store: Location | None = None,
    ):
        self.config = config
        self.path = path
        self.shard = shard
        self.store_location = store
        self.prometheus = PrometheusSink(config.metrics)
        self.registry, self.metrics = make_registry(self.prometheus)
        shard.export(self.registry)
        self.latest = LatestSink()
        web = config.web
        self.recent = Recent(web.history_text_chars)  # the grid: latest run, sparkline
        self.feedback = FeedbackLog(web.feedback_kept)
        self.sinks: list[Sink] = [self.prometheus, self.latest, self.recent, LogSink()]
        # the runs in full: the store's, else a bounded window in memory
        self.history: History | None = None
        self.store: Store | None = None
        if store is not None:
            from exporter.store import Store

            self.store = Store(
                store, config.store, str(shard), self.registry, web.history_text_chars
            )
            self.sinks.append(self.store)
        else:
            self.history = History(web.history_size, web.failures_kept, web.history_text_chars)
            self.sinks.append(self.history)
        # real users' content: kept only by a proxy with `capture: true`, in the store
        self.capture = None if self.store is None else Capture(self.store)
        self.network = netguard.Policy(config.security.allowed_networks)  # the SSRF guard
        self.clock = clock or LoopClock()
        self.budgets = Budgets(self.clock.now)  # the cost guard
        self.registry.register(self.budgets)
        # the judge models of rubric checks and refusal second opinions
        self.judges = Panel(
            config.judges, JudgeMetrics(self.registry), self.budgets, self.clock.now
        )
        self.scheduler = Scheduler(
            run=self._run,
            on_result=self._record,
            on_lag=self.metrics.lag.observe,
            clock=self.clock,
            gate=self.budgets.blocked_until,
        )
        self.otel: OTelSink | None = None
        self.otel_metrics: OTelMetricsSink | None = None
        self.traffic = TrafficMetrics(config.buckets())
        self.registry.register(self.traffic)
        self.proxies = Proxies(self.traffic, self.record_traffic, self._tracing_state)
        self._proxying: asyncio.Task[None] | None = None
        self._sample = random.Random()
        self._session: aiohttp.ClientSession | None = None
        self._on_demand: dict[tuple[str, str], asyncio.Task[ProbeResult]] = {}
        self.plan: dict[tuple[str, str], RunSpec] = {}  # what this exporter runs, once applied
        self.fleet: dict[tuple[str, str], RunSpec] = {}  # what every shard runs
        self.ready = False
        self._reporting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Raises RuntimeError when the tracing set-up cannot work (a missing extra), and
        exporter.store.SchemaError when the store's database cannot be used."""
        if self.store is not None:  # unreachable: it connects in the background
            await self.store.open()
        self.otel = self._tracing(self.config.opentelemetry)
        settings = self.config.opentelemetry
        if metrics_enabled(settings):  # applies at start; a reload does not rebuild it
            from exporter.sinks.otel_metrics import OTelMetricsSink, metric_exporter

            self.otel_metrics = OTelMetricsSink(
                settings,
                self.config.buckets(),
                metric_exporter(settings),
                self.metrics.otel_failures,
            )
            self.sinks.append(self.otel_metrics)
        self._session = http_client(self.network)
        self._apply(self.config)
        await self.proxies.apply(self.config.proxies)  # RuntimeError: cannot listen
        for sink in [*self.sinks, self.otel]:  # every sink's failure count, 0 from the start
            if sink is not None:
                self.metrics.sink_failures.labels(type(sink).__name__)
        self.metrics.reload_ok.set(1)
        self.metrics.reload_time.set(time.time())
        if self.store is not None:
            from exporter.report.schedule import ReportSchedule

            schedule = ReportSchedule(self.store, lambda: self.config, self.registry)
            self._reporting = asyncio.create_task(schedule.run(), name="scheduled report")
        self.ready = True

    async def stop(self, grace: float = 10.0) -> None:
        self.ready = False
        if self._reporting is not None:
            self._reporting.cancel()
            await asyncio.gather(self._reporting, return_exceptions=True)
        await self.scheduler.stop(grace)
        if self._proxying is not None:
            await asyncio.gather(self._proxying, return_exceptions=True)
        await self.proxies.close(grace)
        if self.capture is not None:
            await self.capture.close(grace)
        for task in self._on_demand.values():
            task.cancel()
        await asyncio.gather(*self._on_demand.values(), return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self.store is not None:  # what is queued gets the grace to be written
            await self.store.close(grace)
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
        previous = self._proxying
        self._proxying = asyncio.create_task(self._reproxy(previous, config), name="proxies")
        self.metrics.reload_ok.set(1)
        self.metrics.reload_time.set(time.time())
        log.info("config reloaded", extra={"canaries": len(self.scheduler.keys)})
        return None

    def _apply(self, config: Config) -> None:
        self.fleet = config.plan()
        plan = self.shard.select(self.fleet)  # this replica's part of the fleet
        self.plan = plan
        limits = {t.name: t.concurrency or config.defaults.concurrency for t in config.targets}
        self.budgets.configure(config.budgets())
        self.judges.configure(config.judges)
        if self.network.networks != _networks(config):
            self.network.update(config.security.allowed_networks)
            if self._session is not None:  # names resolved under the old list
                connector = self._session.connector
                if isinstance(connector, aiohttp.TCPConnector):
                    connector.clear_dns_cache()
        self.scheduler.reconcile(plan, limits)
        self.prometheus.retain(config.series_buckets(plan), config.names())
        web = config.web
        self.recent.resize(web.history_text_chars)
        self.recent.retain(plan)
        if self.history is not None:
            self.history.resize(web.history_size, web.failures_kept, web.history_text_chars)
            self.history.retain(plan)
        self.feedback.resize(web.feedback_kept)
        if self.store is not None:
            self.store.configure(config.store)
        for exporting in (self.otel, self.otel_metrics):
            if exporting is not None:
                exporting.retain(plan)
        self.metrics.canaries.set(len(plan))
        self.traffic.configure(config.proxies, config.buckets())

    async def _reproxy(self, previous: asyncio.Task[None] | None, config: Config) -> None:
        """Apply a reload's proxies after the one before; one that cannot listen is logged."""
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        await self.proxies.apply(config.proxies, strict=False)

    def _tracing_state(self) -> tuple[bool, float]:
        return self.otel is not None, self.config.opentelemetry.sample_ratio

    def record_traffic(self, record: TrafficRecord) -> None:
        """One proxied request: to the traffic metrics, the store and the traces. Its
        content goes no further than `capture`, which keeps it redacted or not at all."""
        from exporter.proxy.observe import blank  # loaded already: a proxy observed it

        proxy = next((p for p in self.config.proxies if p.name == record.proxy), None)
        captured = False
        if self.capture is not None and proxy is not None:
            try:
                captured = self.capture.keep(record, proxy)
            except Exception:
                log.exception("sink failed", extra={"sink": "Capture"})
                self.metrics.sink_failures.labels("Capture").inc()
        record = replace(blank(record), captured=captured)
        for name, sink in (("TrafficMetrics", self.traffic.record), ("OTelSink", self._trace)):
            try:
                sink(record)
            except Exception:
                log.exception("sink failed", extra={"sink": name})
                self.metrics.sink_failures.labels(name).inc()
        log.debug(
            "proxied",
            extra={
                "proxy": record.proxy,
                "route": record.route,
                "status": record.exchange.status,
                "outcome": str(record.outcome),
                "error_class": record.error_class and str(record.error_class),
            },
        )

    def _trace(self, record: TrafficRecord) -> None:
        if self.otel is not None and record.trace_id is not None:
            proxy = next((p for p in self.config.proxies if p.name == record.proxy), None)
            if proxy is not None:
                self.otel.record_traffic(record, proxy)

    def spec(self, target: str, canary: str) -> RunSpec | None:
        """The run of this pair; None when this exporter does not run it."""
        return self.plan.get((target, canary))

    def secrets(self, key: tuple[str, str]) -> tuple[str, ...]:
        """The values to redact from what is shown of this pair's runs, whichever shard
        ran them."""
        spec = self.fleet.get(key)
        return () if spec is None else secrets(spec)

    async def run_now(self, spec: RunSpec) -> ProbeResult:
        """Run one canary now, outside its schedule; the result flows to every sink.
        Concurrent callers for the same pair share one run, and a caller that goes away
        does not cancel it for the others. Raises BudgetSpent, as the scheduler holds its
        runs, while the target's token budget is spent."""
        task = self._on_demand.get(spec.key)
        if task is None:
            now = self.clock.now()
            held = self.budgets.blocked_until(spec.target.name, now)
            if held is not None:
                raise BudgetSpent(spec.target.name, held - now)
            task = asyncio.create_task(self._run_and_record(spec), name=f"on demand {spec.key}")
            self._on_demand[spec.key] = task
            task.add_done_callback(lambda _: self._on_demand.pop(spec.key, None))
        return await asyncio.shield(task)

    async def fresh(self, spec: RunSpec, max_age: float) -> tuple[ProbeResult, bool]:
        """A result that finished within `max_age` seconds (and True), else a new run
        (which raises BudgetSpent while the target's budget is spent)."""
        latest = self.recent.latest(spec.key)
        if latest is not None and time.time() - _finished(latest) <= max_age:
            return latest, True
        return await self.run_now(spec), False

    async def submit_feedback(self, feedback: Feedback) -> Feedback:
        """Keep a submission: committed to the store (when there is one) before it counts.
        Raises FeedbackNotKept when the store cannot commit it."""
        if self.store is not None:
            from exporter.store import StoreError

            try:
                await self.store.add_feedback(feedback)
            except StoreError as exc:
                log.warning(
                    "feedback not kept: the store could not commit it", extra={"error": str(exc)}
                )
                raise FeedbackNotKept(str(exc)) from None
        self.record_feedback(feedback)
        return feedback

    def record_feedback(self, feedback: Feedback) -> None:
        self.prometheus.record_feedback(feedback)
        self.feedback.record(feedback)
        log.info(
            "feedback",
            extra={
                "target": feedback.target,
                "rating": str(feedback.rating),
                "category": feedback.category,
            },
        )

    async def _run_and_record(self, spec: RunSpec) -> ProbeResult:
        result = await guarded(self._run, spec)
        self._record(result)
        return result

    def _tracing(self, settings: OpenTelemetry) -> OTelSink | None:
        if not traces_enabled(settings):
            return None
        from exporter.sinks.otel import OTelSink, span_exporter  # the SDK: only when tracing

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
            return await run_canary(self._session, spec, self.judges)
        finally:
            self.metrics.in_flight.dec()

    def _record(self, result: ProbeResult) -> None:
        self.budgets.spend(result.target, (result.input_tokens or 0) + (result.output_tokens or 0))
        if self.otel is not None and self._traced(result):
            result = replace(result, trace_id=uuid.uuid4().hex)
        sinks = self.sinks if self.otel is None else [*self.sinks, self.otel]
        for sink in sinks:
            try:
                sink.record(result)
            except Exception:
                log.exception("sink failed", extra={"sink": type(sink).__name__})
                self.metrics.sink_failures.labels(type(sink).__name__).inc()


def _networks(config: Config) -> tuple[netguard.Network, ...] | None:
    networks = config.security.allowed_networks
    return None if networks is None else tuple(networks)


def _finished(result: ProbeResult) -> float:
    return result.started_at + result.duration_seconds
