"""The scheduled report: files written, the webhook's Slack-compatible summary received by a
real HTTP server, failures counted and logged without the webhook's token."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from exporter.config import Config, ConfigError, parse_config
from exporter.report.schedule import REPORT_LOCK, ReportSchedule, next_tick
from tests.unit import report_helpers as h

TOKEN = "T0000/B0000/XXXXsecrettokenXXXX"


@dataclass
class Hook:
    url: str
    status: int = 200
    received: list[Any] = field(default_factory=list)


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    found = Hook("")

    async def receive(request: web.Request) -> web.Response:
        found.received.append(await request.json())
        return web.Response(status=found.status, text="ok")

    app = web.Application()
    app.router.add_post("/services/{token:.*}", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    found.url = f"http://{host}:{port}/services/{TOKEN}"
    yield found
    await runner.cleanup()


def scheduled(tmp_path: Path, hook: Hook) -> Config:
    text = h.CONFIG + (
        f"report: {{every: 7d, since: 30d, dir: '{tmp_path / 'reports'}', webhook: '{hook.url}',"
        " web_url: 'http://cc.example:9091/'}\n"
    )
    return parse_config(text, "report.yaml")


def ours(caplog: pytest.LogCaptureFixture) -> str:
    """chatcanary's log records with their extra fields (not the test server's access log)."""
    return "\n".join(
        f"{r.getMessage()} {r.__dict__}" for r in caplog.records if r.name.startswith("exporter")
    )


def value(registry: CollectorRegistry, name: str, result: str) -> float | None:
    return registry.get_sample_value(name, {"result": result})


async def test_a_tick_writes_both_files_and_posts_the_top_findings(
    tmp_path: Path, hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    store = await h.filled_store(tmp_path, changed=True)
    registry = CollectorRegistry()
    config = scheduled(tmp_path, hook)
    try:
        with caplog.at_level(logging.DEBUG):
            page = await ReportSchedule(store, lambda: config, registry).once()
    finally:
        await store.close()
    assert page is not None and page.parent == tmp_path / "reports"
    assert page.name.startswith("report-") and page.suffix == ".html"
    assert "<svg" in page.read_text()
    data = json.loads(page.with_suffix(".json").read_text())
    assert data["findings"][0]["rule"] == "model-change-regression"
    assert sorted(p.name for p in page.parent.iterdir()) == sorted([page.name, page.stem + ".json"])
    (posted,) = hook.received
    assert list(posted) == ["text"]  # Slack's incoming-webhook shape
    text = posted["text"]
    assert text.startswith("chatcanary report ")
    assert "[critical] After the model change" in text
    assert text.endswith("http://cc.example:9091/insights")
    assert TOKEN not in text and TOKEN not in ours(caplog)
    assert value(registry, "chatcanary_reports_total", "written") == 1
    assert value(registry, "chatcanary_report_webhook_posts_total", "ok") == 1


async def test_failures_are_counted_and_logged_without_the_token(
    tmp_path: Path, hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    store = await h.filled_store(tmp_path, changed=False)
    registry = CollectorRegistry()
    hook.status = 500
    config = scheduled(tmp_path, hook)
    (tmp_path / "reports").write_text("a file where the directory should be")
    try:
        schedule = ReportSchedule(store, lambda: config, registry)
        assert await schedule.once() is None  # the directory cannot be made
        assert value(registry, "chatcanary_reports_total", "failed") == 1
        (tmp_path / "reports").unlink()
        assert await schedule.once() is not None
        assert value(registry, "chatcanary_report_webhook_posts_total", "failed") == 1
    finally:
        await store.close()
    (posted,) = hook.received
    # a quiet week: at most the days before the fixture's week, which nothing covers
    bullets = [line for line in posted["text"].splitlines() if line.startswith("•")]
    assert all(line.startswith("• [info] local: no data for ") for line in bullets)
    assert "report webhook failed" in ours(caplog)
    assert TOKEN not in ours(caplog)


async def test_sqlite_always_leads(tmp_path: Path) -> None:
    store = await h.filled_store(tmp_path, changed=False)
    try:
        assert await store.lead(REPORT_LOCK)
    finally:
        await store.close()


def test_ticks_fall_on_multiples_of_every() -> None:
    day = 86400.0
    assert next_tick(10 * day + 5, day) == 11 * day
    assert next_tick(11 * day, day) == 12 * day  # exactly on a tick: the next one
    assert next_tick(0.5, 7 * day) == 7 * day


def test_the_webhook_is_a_secret_in_the_config(tmp_path: Path) -> None:
    config = parse_config(
        h.CONFIG + f"report: {{every: 1d, webhook: 'https://hooks.example/{TOKEN}'}}\n", "r.yaml"
    )
    assert TOKEN not in repr(config.report)
    assert config.report.webhook_url() == f"https://hooks.example/{TOKEN}"
    with pytest.raises(ConfigError, match="needs dir, webhook or webhook_file"):
        parse_config(h.CONFIG + "report: {every: 1d}\n", "r.yaml")
    with pytest.raises(ConfigError, match="http"):
        parse_config(h.CONFIG + "report: {webhook: 'ftp://x'}\n", "r.yaml")
