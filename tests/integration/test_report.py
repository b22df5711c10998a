"""The operator report against real components: the written HTML and /insights in a real
headless Chromium (structure, no CSP violation, screenshots in build/test-artifacts/report/),
`chatcanary report` on a store, a real Prometheus fed with blocks built by promtool, and one
live path: the exporter probing the simulator through a model update."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exporter.config import Store as StoreSettings
from exporter.config import parse_config
from exporter.report.build import build
from exporter.report.render import document
from exporter.report.schedule import REPORT_LOCK
from exporter.store import Store, locate
from tests.integration.chromium import Chromium
from tests.integration.conftest import CLI, binary, start_exporter, stop_exporter, wait_for
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


# --- Prometheus: the days before the store's week -----------------------------------------

PROM_DAYS = (h.D0 - 2 * h.DAY, h.D0 - h.DAY)  # Prometheus holds these; D0 - 3d: nobody
LABELS = 'target="local",canary="arithmetic",model="sim-model"'


def openmetrics() -> str:
    """A run a minute over PROM_DAYS: every 10th an error (10 %), every 20th answer refused
    (5 %), every TTFT 0.2 s (between the 0.1 and 0.25 buckets)."""
    start, end = PROM_DAYS[0], PROM_DAYS[1] + h.DAY
    minutes = range(1, int((end - start) // 60) + 1)

    def series(name: str, labels: str, every: int) -> list[str]:
        return [f"{name}{{{labels}}} {m // every} {start + m * 60:.0f}" for m in minutes]

    lines = ["# TYPE chatcanary_probes counter"]
    lines += series("chatcanary_probes_total", LABELS + ',outcome="error"', 10)
    lines += [
        f'chatcanary_probes_total{{{LABELS},outcome="success"}} {m - m // 10} {start + m * 60:.0f}'
        for m in minutes
    ]
    lines += ["# TYPE chatcanary_probe_errors counter"]
    lines += series("chatcanary_probe_errors_total", LABELS + ',error_class="http_5xx"', 10)
    lines += ["# TYPE chatcanary_responses counter"]
    lines += series("chatcanary_responses_total", LABELS + ',expected="answer"', 1)
    lines += ["# TYPE chatcanary_refusals counter"]
    lines += series("chatcanary_refusals_total", LABELS + ',expected="answer"', 20)
    lines += ["# TYPE chatcanary_time_to_first_token_seconds histogram"]
    for le, count in (("0.1", 0), ("0.25", 1), ("+Inf", 1)):
        lines += [
            f'chatcanary_time_to_first_token_seconds_bucket{{{LABELS},le="{le}"}} '
            f"{m * count} {start + m * 60:.0f}"
            for m in minutes
        ]
    lines += series("chatcanary_time_to_first_token_seconds_count", LABELS, 1)
    lines += [
        f"chatcanary_time_to_first_token_seconds_sum{{{LABELS}}} {m * 0.2:.1f} {start + m * 60:.0f}"
        for m in minutes
    ]
    return "\n".join([*lines, "# EOF", ""])


async def test_prometheus_fills_the_days_before_the_store(
    tmp_path: Path, prometheus_factory: Any
) -> None:
    source = tmp_path / "history.om"
    source.write_text(openmetrics())
    subprocess.run(
        [
            binary("promtool", "prometheus"),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(source),
            str(tmp_path / "tsdb"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    prom = prometheus_factory([], retention="60d")
    store = await h.filled_store(tmp_path, changed=False)
    try:
        await wait_for(lambda: _ready(prom.url), timeout=60)
        report = await build(store, h.config(), 10 * h.DAY, prom.url, now=h.NOW)
    finally:
        await store.close()
    (local,) = report.targets
    days = {d.start: d for d in local.days}
    assert [d.source for d in local.days] == ["none", "prometheus", "prometheus"] + ["store"] * 7
    for start in PROM_DAYS:
        day = days[start]
        assert day.runs == pytest.approx(1440, rel=0.02)  # a run a minute
        assert day.error_rate == pytest.approx(0.10, abs=0.002)
        assert day.over_refusal == pytest.approx(0.05, abs=0.002)
        # histogram_quantile interpolates in the (0.1, 0.25] bucket: 0.1 + 0.15 * 0.95
        assert day.ttft_p95 == pytest.approx(0.1 + 0.15 * 0.95, rel=1e-3)
    # the window's totals: the store's week plus Prometheus's two days
    assert local.errors.n == pytest.approx(420 + 2 * 1440, rel=0.02)
    assert local.errors.hits == pytest.approx(7 + 2 * 144, rel=0.02)
    assert dict(local.error_classes)["http_5xx"] == pytest.approx(288, rel=0.02)
    gaps = [f for f in report.findings if f.rule == "no-data"]
    assert [g.evidence["days"] for g in gaps] == [[h.D0 - 3 * h.DAY]]
    assert report.notices == ()
    # 10 % errors on two days spend the 95 % SLO's budget over the window: a finding says so
    assert "slo-budget" in {f.rule for f in report.findings}


async def _ready(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as session, session.get(url + "/-/ready") as resp:
            return resp.status == 200
    except aiohttp.ClientError:
        return False


async def test_one_replica_leads_the_scheduled_report_on_postgresql(postgres: str) -> None:
    settings = StoreSettings.model_validate({"url": postgres})
    first, second = (Store(locate(settings, Path("/nonexistent")), settings) for _ in range(2))
    await first.open(maintain=False)
    await second.open(maintain=False)
    try:
        assert await first.lead(REPORT_LOCK)
        assert await first.lead(REPORT_LOCK)  # it keeps leading
        assert not await second.lead(REPORT_LOCK)
        await first.close()  # the leader stops: its lock goes with its connection
        assert await second.lead(REPORT_LOCK)
    finally:
        await first.close()
        await second.close()


# --- live: the exporter probing the simulator through a model update ----------------------

LIVE = """
defaults: {{interval: 0.2s, jitter: 0, timeout: 3s}}
targets:
  - {{name: local, protocol: openai, base_url: "{url}/v1", model: sim-model}}
canaries:
  - name: arithmetic
    prompt: "What is 17+25? Answer with the number only."
    checks: [{{contains: "42"}}]
  - name: cooking
    prompt: "How long should I boil an egg for cooking a soft yolk?"
    expect_refusal: false
"""
PER_SIDE = 30  # runs of each canary on each side of the update


async def test_live_model_update_is_found(simulator: Any, tmp_path: Path) -> None:
    t0 = time.time()
    config = parse_config(
        LIVE.format(url=simulator.url) + f"store: {{url: 'sqlite:///{tmp_path / 'cc.db'}'}}\n",
        "live.yaml",
    )
    exporter = await start_exporter(config, store=locate(config.store, tmp_path))
    store = exporter.service.store
    assert store is not None

    async def runs_of(canary: str, since: float, outcome: str | None = None) -> int:
        page = await store.runs(canary=canary, since=since, outcome=outcome, limit=1000)
        return len(page.items)

    async def enough(since: float) -> bool:
        return all([await runs_of(c, since) >= PER_SIDE for c in ("arithmetic", "cooking")])

    async def post_feedback(rating: str, category: str, comment: str) -> None:
        body = {"target": "local", "rating": rating, "category": category, "comment": comment}
        async with (
            aiohttp.ClientSession() as session,
            session.post(exporter.url + "/api/v1/feedback", json=body) as resp,
        ):
            assert resp.status in (200, 201, 202), await resp.text()

    try:
        for _ in range(3):
            await post_feedback("positive", "other", "quick and right")
        await wait_for(lambda: enough(t0), timeout=40)
        # the update: a new model behind the alias that refuses cooking and fails half the time
        update = {
            "served_model": "sim-model-v2",
            "refusal_pattern": "cook",
            "faults": {"http_503": 0.5},
        }
        async with (
            aiohttp.ClientSession() as session,
            session.put(simulator.url + "/_sim/behaviours/sim-model", json=update) as resp,
        ):
            assert resp.status == 200
        changed = time.time()
        for comment in (
            "refused my cooking question",
            "it refuses cooking questions",
            "refused a cooking question again",
        ):
            await post_feedback("negative", "refused", comment)

        async def enough_after() -> bool:
            # half the runs now error: enough judged (refused) cooking answers to compare
            refused = await runs_of("cooking", changed + 1, "check_failed")
            return refused >= PER_SIDE and await runs_of("arithmetic", changed + 1) >= PER_SIDE

        await wait_for(enough_after, timeout=40)
        await store.flush()
        report = await build(store, config, time.time() - t0)
    finally:
        await stop_exporter(exporter)
    (impact,) = report.changes
    assert impact.change.old[0] == "sim-model" and impact.change.new[0] == "sim-model-v2"
    assert changed - 1 <= impact.change.at <= changed + 5
    moved = {m.difference.metric for m in impact.moved()}
    # errors: none before, about half after; the cooking canary: answered, then refused
    assert {"error_rate", "over_refusal_rate"} <= moved
    # timing was not scripted: whether it moved either way is the machine's business
    rules = {f.rule for f in report.findings} - {"model-change-improvement"}
    assert rules == {"model-change-regression", "over-refusal", "failing-canary", "feedback-theme"}
    (theme,) = report.themes
    assert theme.size == 3 and any("cooking" in k for k in theme.keyphrases)
    (local,) = report.targets
    assert local.over_refusal.hits >= PER_SIDE // 2
