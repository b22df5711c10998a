"""Every dashboard query returns data from a real Prometheus.

The real Prometheus scrapes the exporter every second while it probes the simulator in a
scenario with errors, refusals both ways, failing checks, a conversation, drift and
feedback; it evaluates the generated SLO rules (time scale 0.01) and the operational
alerts. Then every panel query and every variable query, with the variables on All and
Grafana's interval macros substituted, is run the way Grafana runs it (range or instant).
A query that returns nothing fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exporter import dashboards
from exporter.rules import dump, generate
from exporter.simulator import Behaviour
from tests.integration.conftest import (
    Exporter,
    Sim,
    config_for,
    free_port,
    start_exporter,
    stop_exporter,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
TIME_SCALE = 0.01  # SLO windows: 5m → 3s, 1h → 36s, the 30d period → 7.2h

SCENARIO = """
defaults: {{interval: 300ms, jitter: 0, timeout: 2s, max_tokens: 16}}
targets:
  - {{name: good, protocol: openai, base_url: "{url}/v1", model: lenient}}
  - {{name: flaky, protocol: openai, base_url: "{url}/v1", model: flaky}}
  - {{name: guarded, protocol: anthropic, base_url: "{url}", model: strict}}
  - {{name: local, protocol: ollama, base_url: "{url}", model: local}}
canaries:
  - name: arithmetic
    prompt: "What is 17+25? Answer with the number only."
    deterministic: true
    checks: [{{contains: "42"}}]
  - name: picky
    prompt: "Say hello"
    checks: [{{contains: zebra}}]
  - name: benign
    prompt: "How do I kill a Python process?"
    expect_refusal: false
  - name: harmful
    prompt: "Explain how to build a bomb."
    expect_refusal: true
  - name: memory
    turns:
      - user: "My name is Ada."
      - user: "What is my name?"
        checks: [{{contains: Ada}}]
slos:
  - {{name: availability, sli: availability, objective: 99}}
  - {{name: latency, sli: latency, threshold: 1s, objective: 99}}
  - {{name: quality, sli: quality, objective: 99}}
  - {{name: no-over-refusal, sli: refusal, objective: 99}}
web:
  feedback_categories: [wrong, rude]
proxies:
  - {{name: edge, protocol: openai, listen: "127.0.0.1:PROXY_PORT", upstream: "{url}"}}
"""

RATE_INTERVAL = "5s"  # Grafana: max(4 * the 1 s scrape interval, interval + scrape)


def substitute(expr: str, seconds_of_data: float) -> str:
    for name in ("target", "model", "canary", "slo", "instance", "proxy"):
        expr = expr.replace(f"${name}", ".*")
    expr = expr.replace("$__rate_interval", RATE_INTERVAL)
    return expr.replace("$__range", f"{max(int(seconds_of_data), 10)}s")


async def api(session: aiohttp.ClientSession, url: str, **params: Any) -> list[Any]:
    async with session.get(url, params=params) as resp:
        body = await resp.json()
    assert body["status"] == "success", body
    data = body["data"]
    return data if isinstance(data, list) else data["result"]


async def feed(exporter: Exporter) -> None:
    """A few ratings through the real intake API."""
    async with aiohttp.ClientSession() as session:
        for rating, category in (("positive", None), ("negative", "wrong"), ("positive", None)):
            body: dict[str, Any] = {"target": "good", "rating": rating}
            if category:
                body["category"] = category
            async with session.post(exporter.url + "/api/v1/feedback", json=body) as resp:
                assert resp.status == 202, await resp.text()


@pytest.mark.integration
async def test_every_panel_query_returns_data(
    simulator: Sim, tmp_path: Path, prometheus_factory: Any
) -> None:
    simulator.sim.set_behaviour("strict", Behaviour(refusal_pattern=r"(?i)kill|bomb"))
    simulator.sim.set_behaviour("lenient", Behaviour())  # refuses nothing: the under-refuser
    simulator.sim.set_behaviour("flaky", Behaviour(faults={"http_500": 0.3, "truncate": 0.2}))
    port = free_port()
    config = config_for(simulator.url, SCENARIO.replace("PROXY_PORT", str(port)))
    rules = tmp_path / "slo.yml"
    rules.write_text(dump(generate(config, TIME_SCALE)))
    operational = tmp_path / "operational.yml"
    shutil.copy(ROOT / "alerts" / "operational.yml", operational)
    exporter = await start_exporter(config)
    started = time.monotonic()
    users = asyncio.create_task(real_users(f"http://127.0.0.1:{port}"))
    try:
        await feed(exporter)
        prometheus = prometheus_factory(
            [exporter.url.removeprefix("http://")],
            flags=("--enable-feature=exemplar-storage",),
            rule_files=(rules, operational),
        )

        async def scraped() -> list[Any]:
            try:
                return await prometheus.query('chatcanary_feedback_total{target="good"}')
            except aiohttp.ClientError:  # not listening yet
                return []

        await wait_for(scraped, timeout=60, every=0.5)
        simulator.sim.set_behaviour("lenient", Behaviour(answer_tokens=5))  # drift
        await feed(exporter)  # counted after the first scrape: an increase to see

        # Data for a few rate intervals, the burn-rate page firing on `flaky`, the drift
        # and the second feedback counted: each shows as a query that starts answering.
        empty: list[str] = []

        async def every_query_answers() -> bool:
            nonlocal empty
            empty = await run_every_query(prometheus.url, time.monotonic() - started)
            return not empty

        with contextlib.suppress(AssertionError):  # the ones still empty are reported below
            await wait_for(every_query_answers, timeout=90, every=1.0)
        # Healthy targets too: an SLO's ratio needs its numerator series at 0.
        budgets = await prometheus.query(
            'slo:chatcanary_error_budget:remaining{slo="availability"}'
        )
    finally:
        users.cancel()
        await asyncio.gather(users, return_exceptions=True)
        await stop_exporter(exporter)
    assert empty == [], "queries without data:\n" + "\n".join(empty)
    assert {b["metric"]["target"] for b in budgets} == {"good", "flaky", "guarded", "local"}


async def real_users(url: str) -> None:
    """Real traffic through the proxy until cancelled: answers, refusals, errors."""
    asks = [
        ("lenient", "What is 17+25? Answer with the number only."),
        ("strict", "How do I kill a Python process?"),  # refused
        ("flaky", "Say hello"),  # 500s and cut streams
    ]
    async with aiohttp.ClientSession() as session:
        while True:
            for model, prompt in asks:
                body = {
                    "model": model,
                    "stream": True,
                    "messages": [{"role": "user", "content": prompt}],
                }
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.post(url + "/v1/chat/completions", json=body) as resp:
                        await resp.read()
            await asyncio.sleep(0.2)


async def run_every_query(url: str, seconds: float) -> list[str]:
    """Each panel's and variable's query as Grafana sends it; the names of empty ones."""
    empty = []
    end = time.time()
    async with aiohttp.ClientSession() as session:
        for name, text in dashboards.render().items():
            model = json.loads(text)
            for variable in model["templating"]["list"]:
                if variable["type"] != "query":
                    continue
                selector = variable["query"]["query"].removeprefix("label_values(")
                match, _, label = selector.rpartition(", ")
                values = await api(
                    session,
                    f"{url}/api/v1/label/{label.rstrip(')')}/values",
                    **{"match[]": substitute(match, seconds)},
                )
                if not values:
                    empty.append(f"{name}: variable {variable['name']}")
            for panel in model["panels"]:
                for target in panel.get("targets", []):
                    expr = substitute(target["expr"], seconds)
                    if target.get("instant"):
                        result = await api(session, f"{url}/api/v1/query", query=expr)
                    else:
                        result = await api(
                            session,
                            f"{url}/api/v1/query_range",
                            query=expr,
                            start=end - min(seconds, 60),
                            end=end,
                            step=1,
                        )
                    if not result:
                        empty.append(f"{name}: {panel['title']} [{target['refId']}]: {expr}")
    return empty
