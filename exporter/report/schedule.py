"""The scheduled report (`report: {every, dir, webhook}`): at each multiple of `every` since
the epoch (so every replica's clock agrees on the moment), the replica that leads writes the
report into `dir` (HTML and JSON, named by the time) and posts a short summary to the
webhook as Slack-compatible JSON `{"text": ...}`.

One replica only: on PostgreSQL the leader holds an advisory lock (Store.lead); the others
skip. A failure is logged and counted (`chatcanary_reports_total{result}`,
`chatcanary_report_webhook_posts_total{result}`); the webhook's URL (it carries a token) is
never logged, and the summary holds findings only, no secret.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
from prometheus_client import CollectorRegistry, Counter

from exporter.config import Config

if TYPE_CHECKING:
    from exporter.report.build import Report
    from exporter.store import Store

log = logging.getLogger(__name__)

REPORT_LOCK = 0x63_63_72_70  # pg_try_advisory_lock key: "ccrp"
TOP = 5  # findings in the webhook's summary
POST_TIMEOUT = 10.0
IDLE_CHECK = 60.0  # seconds between looks at a config without a schedule


class ReportMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.reports = Counter(
            "chatcanary_reports",
            "Scheduled reports: written, or failed (the store or the directory).",
            ["result"],
            registry=registry,
        )
        self.posts = Counter(
            "chatcanary_report_webhook_posts",
            "Report summaries posted to the webhook: ok, or failed.",
            ["result"],
            registry=registry,
        )
        for result in ("written", "failed"):
            self.reports.labels(result)
        for result in ("ok", "failed"):
            self.posts.labels(result)


def summary(report: Report, web_url: str | None = None) -> str:
    """The webhook's text: the window and the top findings."""
    from exporter.report.render import clock

    lines = [f"chatcanary report {clock(report.start)} to {clock(report.end)}"]
    if not report.findings:
        lines.append("No findings: no rule fired.")
    for f in report.findings[:TOP]:
        lines.append(f"• [{f.severity}] {f.claim}")
    if len(report.findings) > TOP:
        lines.append(f"… and {len(report.findings) - TOP} more")
    if web_url:
        lines.append(f"{web_url.rstrip('/')}/insights")
    return "\n".join(lines)


def next_tick(now: float, every: float) -> float:
    return (math.floor(now / every) + 1) * every


class ReportSchedule:
    def __init__(
        self,
        store: Store,
        config: Callable[[], Config],
        registry: CollectorRegistry,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.config = config  # the current one: a reload applies at the next tick
        self.metrics = ReportMetrics(registry)
        self.clock = clock

    async def run(self) -> None:
        while True:
            every = self.config().report.every
            if every is None:  # off; a reload may set it
                await asyncio.sleep(IDLE_CHECK)
                continue
            await asyncio.sleep(max(0.0, next_tick(self.clock(), every) - self.clock()))
            await self.once()

    async def once(self) -> Path | None:
        """One tick: write and post when this replica leads; the HTML file written."""
        from exporter.report.build import build  # `run` loads the report when one is due
        from exporter.store import StoreError

        config = self.config()
        settings = config.report
        try:
            if not await self.store.lead(REPORT_LOCK):
                log.debug("scheduled report: another replica writes it")
                return None
            report = await build(self.store, config, settings.since, settings.prometheus)
        except StoreError as exc:
            self.metrics.reports.labels("failed").inc()
            log.warning("scheduled report failed", extra={"error": str(exc)})
            return None
        written = None
        if settings.dir is not None:
            try:
                written = write(report, settings.dir, settings.web_url)
            except OSError as exc:
                self.metrics.reports.labels("failed").inc()
                log.warning(
                    "scheduled report not written",
                    extra={"dir": str(settings.dir), "error": exc.strerror},
                )
                return None
            log.info("report written", extra={"file": str(written)})
        self.metrics.reports.labels("written").inc()
        url = settings.webhook_url()
        if url:
            await self.post(url, summary(report, settings.web_url))
        return written

    async def post(self, url: str, text: str) -> None:
        timeout = aiohttp.ClientTimeout(total=POST_TIMEOUT)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(url, json={"text": text}) as resp,
            ):
                if resp.status >= 300:
                    raise aiohttp.ClientResponseError(
                        resp.request_info, (), status=resp.status, message=resp.reason or ""
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.metrics.posts.labels("failed").inc()
            # the URL carries the webhook's token: only the kind of failure is logged
            status = getattr(exc, "status", None)
            log.warning(
                "report webhook failed",
                extra={"error": type(exc).__name__, "status": status},
            )
            return
        self.metrics.posts.labels("ok").inc()


def write(report: Report, directory: Path, web_url: str | None) -> Path:
    """report-YYYYmmddTHHMMZ.html and .json in `directory`; the HTML's path."""
    from exporter.report.render import render

    directory.mkdir(parents=True, exist_ok=True)
    stem = "report-" + time.strftime("%Y%m%dT%H%MZ", time.gmtime(report.end))
    root = None if web_url is None else web_url.rstrip("/") + "/"
    page = directory / f"{stem}.html"
    for fmt, path in (("html", page), ("json", directory / f"{stem}.json")):
        partial = path.with_suffix(path.suffix + ".part")
        partial.write_text(render(report, fmt, root), encoding="utf-8")
        partial.replace(path)  # a reader never sees half a report
    return page
