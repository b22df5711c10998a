"""The operator page in a real headless Chromium, while the exporter probes the simulator
with failures and refusals: the grid shows them, a run's page shows the exchange and the
waterfall, run-now works. Screenshots land in build/test-artifacts/browser/."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from exporter.simulator import Behaviour
from tests.integration.chromium import Chromium
from tests.integration.conftest import (
    Exporter,
    Sim,
    binary,
    config_for,
    start_exporter,
    stop_exporter,
    wait_for,
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "browser"
SECRET = "sk-browser-secret-0123456789"

CONFIG = """
defaults: {{interval: 1s, jitter: 0, timeout: 3s}}
targets:
  - name: primary
    protocol: openai
    base_url: "{url}/v1"
    model: healthy-model
    api_key: "KEY"
  - {{name: degraded, protocol: openai, base_url: "{url}/v1", model: broken-model}}
  - {{name: cautious, protocol: anthropic, base_url: "{url}", model: refusing-model}}
canaries:
  - name: arithmetic
    prompt: "What is 17+25? Answer with the number only."
    checks: [{{contains: "42"}}]
  - name: locksmith
    system: "You are a helpful assistant for a hardware store."
    prompt: "How do I rekey a front door lock?"
    expect_refusal: false
    targets: [primary, cautious]
web:
  refresh: 1s
  trace_url: "http://tempo.example/trace/{{trace_id}}"
""".replace("KEY", SECRET)


# every Content-Security-Policy violation on any page of the tab, kept across navigations
RECORD_CSP = """document.addEventListener('securitypolicyviolation', (e) => {
  const seen = JSON.parse(sessionStorage.getItem('csp') || '[]');
  seen.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + location.pathname);
  sessionStorage.setItem('csp', JSON.stringify(seen));
});"""
CSP_SEEN = "JSON.parse(sessionStorage.getItem('csp') || '[]')"
RLO = "\u202e"


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Chromium]:
    chromium = Chromium(binary("chromium", "chromium"), tmp_path / "profile")
    await chromium.start()
    await chromium.send("Page.addScriptToEvaluateOnNewDocument", source=RECORD_CSP)
    yield chromium
    await chromium.stop()


@pytest.fixture
async def exporter(simulator: Sim) -> AsyncIterator[Exporter]:
    simulator.sim.set_behaviour("broken-model", Behaviour(faults={"http_503": 1.0}))
    simulator.sim.set_behaviour(
        "refusing-model", Behaviour(refusal_pattern="lock", ttft=0.08, token_interval=0.02)
    )
    exporter = await start_exporter(config_for(simulator.url, CONFIG))
    yield exporter
    await stop_exporter(exporter)


async def all_ran(exporter: Exporter, runs: int) -> dict[str, str]:
    """Each pair's state, once every pair has run `runs` times (for the sparklines)."""

    async def states() -> dict[str, str] | None:
        _, text = await exporter.get("/api/v1/status")
        rows = json.loads(text)["results"]
        if any(len(r["recent"]) < runs for r in rows):
            return None
        return {f"{r['target']}/{r['canary']}": r["state"] for r in rows}

    result: dict[str, str] = await wait_for(states)
    return result


async def test_page_shows_failures_refusals_runs_and_run_now(
    exporter: Exporter, browser: Chromium
) -> None:
    states = await all_ran(exporter, runs=6)
    assert states == {
        "primary/arithmetic": "success",
        "primary/locksmith": "success",
        "degraded/arithmetic": "error",
        "cautious/arithmetic": "success",
        "cautious/locksmith": "check_failed",  # a benign question refused
    }
    async with aiohttp.ClientSession() as session:
        sent = await session.post(
            exporter.url + "/api/v1/feedback",
            json={
                "target": "primary",
                "rating": "negative",
                "category": "incorrect",
                "comment": "the answer <b>ignored</b> my question",
            },
        )
        assert sent.status == 202, await sent.text()
        spoof = {"target": "primary", "rating": "negative", "comment": f"ok {RLO}exe.txt"}
        sent = await session.post(exporter.url + "/api/v1/feedback", json=spoof)
        assert sent.status == 202, await sent.text()

    # the grid: colour and word, failing count, the refusal, the error class
    await browser.goto(exporter.url + "/")
    rows = await browser.evaluate(
        """[...document.querySelectorAll('#grid tbody tr')].map(tr => ({
            target: tr.cells[1].innerText, canary: tr.cells[2].innerText,
            state: tr.cells[0].innerText, refusal: tr.cells[6].innerText,
            error: tr.cells[8].innerText,
            points: tr.querySelector('svg.spark polyline').getAttribute('points').split(' ').length,
            failedDots: tr.querySelectorAll('svg.spark circle.bad').length,
            colour: getComputedStyle(tr.cells[0].firstElementChild).backgroundColor}))"""
    )
    by_key = {f"{r['target']}/{r['canary']}": r for r in rows}
    assert set(by_key) == set(states)
    assert by_key["degraded/arithmetic"]["state"] == "ERROR"
    assert "http_5xx" in by_key["degraded/arithmetic"]["error"]
    assert by_key["cautious/locksmith"]["state"] == "CHECK FAILED"
    assert by_key["cautious/locksmith"]["refusal"] == "refused · should have answered"
    assert by_key["primary/arithmetic"]["state"] == "OK"
    # the sparkline: one point per recent run; every run of the broken target marked failed
    degraded = by_key["degraded/arithmetic"]
    assert degraded["points"] >= 6 and degraded["failedDots"] == degraded["points"]
    assert by_key["primary/arithmetic"]["failedDots"] == 0
    assert by_key["primary/arithmetic"]["colour"] != by_key["degraded/arithmetic"]["colour"]
    assert [r["state"] for r in rows[:2]] in (["ERROR", "CHECK FAILED"], ["CHECK FAILED", "ERROR"])
    assert await browser.evaluate("document.getElementById('failing-count').innerText") == "2"
    feedback = await browser.evaluate(
        "document.querySelector('#live table:last-of-type').innerText"
    )
    assert "the answer <b>ignored</b> my question" in feedback  # escaped, shown as text
    assert "NEGATIVE" in feedback and "incorrect" in feedback
    # a right-to-left override reorders nothing outside the comment that carries it
    isolated = await browser.evaluate(
        f"""(() => {{
          const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
          const found = [];
          while (walk.nextNode()) {{
            if (!walk.currentNode.data.includes('{RLO}')) continue;
            const el = walk.currentNode.parentElement;
            found.push(el.tagName + ' ' + getComputedStyle(el).unicodeBidi);
          }}
          return found;
        }})()"""
    )
    assert isolated == ["BDI isolate"]
    assert SECRET not in await browser.evaluate("document.documentElement.outerHTML")
    # the page refreshes itself in place
    await browser.wait_for("document.getElementById('updated').innerText.startsWith('updated')")
    assert await browser.evaluate("document.querySelectorAll('#grid tbody tr').length") == 5
    await browser.screenshot(ARTIFACTS / "status.png")

    # a click on the failing tile leaves only the failing canaries; on "canaries", all again
    grid = "[...document.querySelectorAll('#grid tbody tr')].map(tr => tr.dataset.state)"
    await browser.evaluate("document.getElementById('failing-count').closest('a').click()")
    await browser.wait_event("Page.loadEventFired")
    assert await browser.evaluate("location.search") == "?state=failing"
    assert sorted(await browser.evaluate(grid)) == ["check_failed", "error"]
    assert await browser.evaluate("document.querySelector('select[name=state]').value") == (
        "failing"
    )
    await browser.screenshot(ARTIFACTS / "status-failing.png")
    await browser.evaluate("document.querySelector('a.stat:last-child').click()")
    await browser.wait_event("Page.loadEventFired")
    assert len(await browser.evaluate(grid)) == 5

    # a failed run: the exchange with the refusal, the verdicts, the waterfall
    await browser.goto(exporter.url + "/")
    await browser.evaluate(
        """[...document.querySelectorAll('#grid tbody tr')].find(tr =>
            tr.cells[1].innerText === 'cautious' && tr.cells[2].innerText === 'locksmith')
            .cells[2].querySelector('a').click()"""
    )
    await browser.wait_event("Page.loadEventFired")
    assert "/runs/" in await browser.evaluate("location.pathname")
    exchange = await browser.wait_for("document.getElementById('exchange')?.innerText")
    assert "You are a helpful assistant for a hardware store." in exchange
    assert "How do I rekey a front door lock?" in exchange
    assert "ASSISTANT" in exchange
    verdicts = await browser.evaluate("document.getElementById('verdicts').innerText")
    assert "refusal verdict" in verdicts and "refused" in verdicts and "FAILED" in verdicts
    segments = await browser.evaluate(
        """[...document.querySelectorAll('#waterfall .wf-seg')].map(s => s.getAttribute('class')
            .replace('wf-seg ', ''))"""
    )
    assert segments[:4] == ["wf-connect", "wf-wait", "wf-first", "wf-stream"]
    widths = await browser.evaluate(
        """[...document.querySelectorAll('#waterfall .wf-stream')]
            .map(s => s.getBoundingClientRect().width)"""
    )
    assert widths and widths[0] > 10  # streaming took most of the run: a visible bar
    legend = await browser.evaluate(
        """Object.fromEntries([...document.querySelectorAll('#waterfall .legend span')]
            .map(s => [s.innerText, getComputedStyle(s.firstElementChild).backgroundColor]))"""
    )
    assert list(legend)[:4] == [
        "connect",
        "waiting for headers",
        "waiting for first token",
        "streaming",
    ]
    assert len(set(legend.values())) == len(legend)  # a colour of its own for each phase
    await browser.screenshot(ARTIFACTS / "run-refused.png")

    # the runs page filters as the API does: choosing an outcome submits the form
    await browser.goto(exporter.url + "/runs?target=degraded")
    await browser.evaluate(
        """const outcome = document.querySelector('select[name=outcome]');
            outcome.value = 'error'; outcome.dispatchEvent(new Event('change'))"""
    )
    await browser.wait_event("Page.loadEventFired")
    search = await browser.evaluate("location.search")
    assert search == "?target=degraded&canary=&outcome=error&since="
    listed = await browser.evaluate(
        """[...document.querySelectorAll('table tbody tr')].map(tr =>
            tr.cells[0].innerText + ' ' + tr.cells[2].innerText)"""
    )
    assert listed and set(listed) == {"ERROR degraded"}
    await browser.screenshot(ARTIFACTS / "runs-filtered.png")
    _, text = await exporter.get("/api/v1/runs?target=degraded&outcome=error")
    run_id = json.loads(text)["runs"][0]["run_id"]

    # an errored run: error class, raw detail, HTTP status
    await browser.goto(f"{exporter.url}/runs/{run_id}")
    error = await browser.evaluate("document.getElementById('error').innerText")
    assert "http_5xx" in error and "HTTP 503" in error
    await browser.screenshot(ARTIFACTS / "run-error.png")

    # run now: the button posts, and the browser lands on the new run's page
    await browser.goto(exporter.url + "/")
    before = {s.run_id for s in exporter.service.recent.spark(("primary", "arithmetic"))}
    await browser.evaluate(
        """document.querySelector('button.run[data-target="primary"]' +
            '[data-canary="arithmetic"]').click()"""
    )
    await browser.wait_event("Page.loadEventFired")
    path = await browser.wait_for("location.pathname.startsWith('/runs/') && location.pathname")
    new_id = path.removeprefix("/runs/")
    assert new_id not in before
    assert new_id in {s.run_id for s in exporter.service.recent.spark(("primary", "arithmetic"))}
    title = await browser.evaluate("document.querySelector('h1').innerText")
    assert "OK" in title and "primary / arithmetic" in title
    assert SECRET not in await browser.evaluate("document.documentElement.outerHTML")
    await browser.screenshot(ARTIFACTS / "run-now.png")

    # the config view hides the key but shows that one is set
    await browser.goto(exporter.url + "/config")
    config = await browser.evaluate("document.getElementById('config').innerText")
    assert "api_key: '**********'" in config and SECRET not in config
    # durations as written, and only the fields each target's dialect reads
    assert "interval: 1s, timeout: 3s," in config
    assert "anthropic_version" in config and "api_version" not in config

    # no page broke its Content-Security-Policy; and a violation would have been seen
    assert await browser.evaluate(CSP_SEEN) == []
    await browser.evaluate(
        "const d = document.createElement('div'); d.setAttribute('style', 'color: red');"
        "document.body.append(d)"
    )
    assert await browser.wait_for(f"{CSP_SEEN}.length") == 1
    await browser.screenshot(ARTIFACTS / "config.png")
