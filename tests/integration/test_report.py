"""The operator report against real components: the written HTML and /insights in a real
headless Chromium (structure, no CSP violation, screenshots in build/test-artifacts/report/),
`chatcanary report` on a store, a real Prometheus fed with blocks built by promtool, and one
live path: the exporter probing the simulator through a model update."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exporter.config import parse_config
from exporter.report import build
from exporter.report.render import document
from exporter.store import locate
from tests.integration.chromium import Chromium
from tests.integration.conftest import CLI, binary, start_exporter, stop_exporter
from tests.unit import report_helpers as h

ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "report"
WEEK = 7 * 86400.0

RECORD_CSP = """document.addEventListener('securitypolicyviolation', (e) => {
  const seen = JSON.parse(sessionStorage.getItem('csp') || '[]');
  seen.push(e.violatedDirective + ' ' + e.blockedURI);
  sessionStorage.setItem('csp', JSON.stringify(seen));
});"""
CSP_SEEN = "JSON.parse(sessionStorage.getItem('csp') || '[]')"
STRUCTURE = """(() => ({
  findings: [...document.querySelectorAll('#findings li')].map(li => li.dataset.rule),
  targets: [...document.querySelectorAll('section.target')].map(s => s.dataset.target),
  charts: document.querySelectorAll('section.target svg.chart').length,
  points: document.querySelectorAll('svg.chart circle').length,
  marker: document.querySelectorAll('svg.chart line[stroke-dasharray]').length,
  worse: [...document.querySelectorAll('#changes td.verdict.worse')]
    .map(td => td.parentElement.dataset.metric),
  themes: document.querySelectorAll('#feedback h3.theme').length,
  external: [...document.querySelectorAll('[src],link[href]')].length,
  width: document.documentElement.scrollWidth,
}))()"""


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Chromium]:
    chromium = Chromium(binary("chromium", "chromium"), tmp_path / "profile")
    await chromium.start(width=1100, height=900)
    await chromium.send("Page.addScriptToEvaluateOnNewDocument", source=RECORD_CSP)
    yield chromium
    await chromium.stop()


async def test_written_html_in_chromium(tmp_path: Path, browser: Chromium) -> None:
    store = await h.filled_store(tmp_path, changed=True)
    try:
        report = await build(store, h.config(), WEEK, now=h.NOW)
    finally:
        await store.close()
    page = tmp_path / "report.html"
    page.write_text(document(report), encoding="utf-8")
    await browser.goto(page.as_uri())
    seen = await browser.evaluate(STRUCTURE)
    assert seen["findings"] == ["model-change-regression", "feedback-theme", "over-refusal"]
    assert seen["targets"] == ["local"]
    assert seen["charts"] == 2  # TTFT p95 and error rate by day
    assert seen["points"] == 2 * 7  # a point a day on each
    assert seen["marker"] == 2  # the model change on both
    assert set(seen["worse"]) == {
        "over_refusal_rate",
        "ttft_seconds",
        "duration_seconds",
        "negative_share",
        "negative:refused",
    }
    assert seen["themes"] == 1
    assert seen["external"] == 0  # self-contained: nothing loaded from anywhere
    assert seen["width"] <= 1100  # readable on a laptop: no sideways scrolling
    await browser.screenshot(ARTIFACTS / "report.png")
    # printable: Chromium lays it out as a PDF
    pdf = await browser.send("Page.printToPDF", printBackground=True)
    assert len(pdf["data"]) > 1000


async def test_insights_page_in_chromium(tmp_path: Path, browser: Chromium) -> None:
    store = await h.filled_store(tmp_path, changed=True)
    await store.close()
    text = h.CONFIG.replace("base_url:", "interval: 24h, base_url:")
    config = parse_config(text + f"store: {{url: 'sqlite:///{tmp_path / 'cc.db'}'}}\n", "r.yaml")
    exporter = await start_exporter(config, store=locate(config.store, tmp_path))
    try:
        await browser.goto(exporter.url + "/")
        assert await browser.evaluate("document.querySelector('nav a[href=\"insights\"]') !== null")
        await browser.goto(exporter.url + "/insights?since=30d")
        seen = await browser.evaluate(STRUCTURE)
        assert "model-change-regression" in seen["findings"]
        assert seen["targets"] == ["local"]
        assert seen["charts"] == 2
        assert await browser.evaluate(CSP_SEEN) == []
        await browser.screenshot(ARTIFACTS / "insights.png")
        # from a run's page to its target's insights
        assert exporter.service.store is not None
        run_id = (await exporter.service.store.runs(limit=1)).items[0].result.run_id
        await browser.goto(f"{exporter.url}/runs/{run_id}")
        await browser.evaluate("document.querySelector('a[href*=\"insights#target-\"]').click()")
        await browser.wait_event("Page.loadEventFired")
        assert await browser.evaluate("location.pathname + location.hash") == (
            "/insights#target-local"
        )
        assert await browser.evaluate(CSP_SEEN) == []
    finally:
        await stop_exporter(exporter)


def test_report_command_writes_each_format(tmp_path: Path) -> None:
    import asyncio

    async def fill() -> None:
        store = await h.filled_store(tmp_path, changed=True)
        await store.close()

    asyncio.run(fill())
    path = tmp_path / "config.yaml"
    path.write_text(h.CONFIG + f"store: {{url: 'sqlite:///{tmp_path / 'cc.db'}'}}\n")
    out = tmp_path / "report.json"
    done = subprocess.run(
        [*CLI, "report", "-c", str(path), "--since", "30d", "--format", "json", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert data["findings"][0]["rule"] == "model-change-regression"
    md = subprocess.run(
        [*CLI, "report", "-c", str(path), "--format", "md", "--web-url", "http://cc:9091"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("# chatcanary report")
    assert "(http://cc:9091/runs/" in md.stdout
    nowhere = tmp_path / "nowhere.yaml"
    nowhere.write_text(h.CONFIG + f"store: {{url: 'sqlite:///{tmp_path / 'none.db'}'}}\n")
    missing = subprocess.run(
        [*CLI, "report", "-c", str(nowhere)], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2
    assert f"no store at sqlite:///{tmp_path / 'none.db'}" in missing.stderr
    assert not (tmp_path / "none.db").exists()  # a report never creates a store
