"""Fault to page and back, through the real components: the simulator's admin endpoint
flips a fault on, the exporter measures it, the real Prometheus (1 s scrape and
evaluation) runs the generated SLO rules at a short time scale, the real Alertmanager
routes the page to a webhook in this test; clearing the fault resolves it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from exporter.rules import dump, generate
from exporter.simulator import Behaviour
from tests.integration.conftest import (
    Prometheus,
    Sim,
    config_for,
    start_exporter,
    stop_exporter,
    wait_for,
)

# 1 h of alerting in 36 s: 5m → 3s, 1h → 36s, `for: 2m` → 1.2s
TIME_SCALE = 0.01

CONFIG = """
defaults: {{interval: 250ms, jitter: 0, timeout: 2s, max_tokens: 8}}
targets:
  - {{name: chat, protocol: openai, base_url: "{url}/v1", model: pager-model}}
canaries:
  - {{name: ping, prompt: "What is 2+2?"}}
slos:
  - {{name: availability, sli: availability, objective: 99}}
"""

ALERTMANAGER = """
route:
  receiver: hook
  group_by: [alertname, target, slo]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
        send_resolved: true
"""


class Webhook:
    """Collects Alertmanager's webhook notifications, stamped on arrival."""

    def __init__(self) -> None:
        self.notifications: list[tuple[float, dict[str, Any]]] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        self.notifications.append((time.monotonic(), await request.json()))
        return web.Response(text="ok")

    def first(self, status: str, after: float) -> float | None:
        for stamp, body in self.notifications:
            critical = [
                a
                for a in body["alerts"]
                if a["labels"].get("alertname") == "ChatCanaryErrorBudgetBurn"
                and a["labels"].get("severity") == "critical"
                and a["status"] == status
            ]
            if stamp >= after and critical:
                return stamp
        return None


async def rule_evaluations(prometheus: Prometheus) -> float:
    """How many times Prometheus has evaluated the SLO's rule group, by its own /metrics."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(prometheus.url + "/metrics") as resp,
    ):
        text = await resp.text()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "prometheus_rule_group_iterations_total"
        and sample.labels["rule_group"].endswith(";chatcanary-slo-availability")
    )


async def test_a_fault_pages_and_its_end_resolves(
    simulator: Sim, tmp_path: Path, prometheus_factory: Any, alertmanager_factory: Any
) -> None:
    config = config_for(simulator.url, CONFIG)
    rules = tmp_path / "slo.yml"
    rules.write_text(dump(generate(config, TIME_SCALE)))
    hook = Webhook()
    hook_url = await hook.start()
    exporter = await start_exporter(config)
    try:
        alertmanager = alertmanager_factory(ALERTMANAGER.format(url=hook_url))
        prometheus = prometheus_factory(
            [exporter.url.removeprefix("http://")],
            rule_files=(rules,),
            alertmanagers=(alertmanager,),
        )

        async def healthy_ratios() -> list[object]:
            # the page's inputs recorded from healthy runs: both windows' error ratio at 0
            try:
                return await prometheus.query(
                    'slo:chatcanary_sli_error:ratio_rate1h{target="chat"} == 0 and on (target)'
                    ' slo:chatcanary_sli_error:ratio_rate5m{target="chat"} == 0'
                )
            except OSError:  # not listening yet
                return []

        await wait_for(healthy_ratios, timeout=30)
        evaluated = await rule_evaluations(prometheus)

        async def evaluated_twice_more() -> bool:
            return await rule_evaluations(prometheus) >= evaluated + 2

        await wait_for(evaluated_twice_more, timeout=30)
        burning = await prometheus.query('ALERTS{alertname="ChatCanaryErrorBudgetBurn"}')
        assert burning == [], "healthy runs must not page, nor be about to"
        assert hook.first("firing", 0.0) is None, "healthy runs must not page"

        fault_on = time.monotonic()
        simulator.sim.set_behaviour("pager-model", Behaviour(faults={"http_503": 1.0}))

        async def paged() -> float | None:
            return hook.first("firing", fault_on)

        page = await wait_for(paged, timeout=60, every=0.2)

        fault_off = time.monotonic()
        simulator.sim.remove_behaviour("pager-model")

        async def resolved() -> float | None:
            return hook.first("resolved", fault_off)

        resolution = await wait_for(resolved, timeout=60, every=0.2)
    finally:
        await stop_exporter(exporter)
        await hook.stop()

    to_page, to_resolve = page - fault_on, resolution - fault_off
    print(f"\nfault → page {to_page:.1f} s; fault cleared → resolved {to_resolve:.1f} s")
    # With a 36 s "hour", a 3 s "5 minutes" and a 1.2 s `for:`, the page needs the hour's
    # error ratio over 14.4% (the longer the healthy history, the more seconds of failures)
    # and then the `for:` (2m scaled) of pending: never sooner, and within the wait's minute.
    assert to_page > 120 * TIME_SCALE
    (_, body), *_ = [n for n in hook.notifications if n[0] == page]
    alert = next(a for a in body["alerts"] if a["status"] == "firing")
    assert alert["labels"]["target"] == "chat"
    assert alert["labels"]["slo"] == "availability"
    assert alert["labels"]["long_window"] == "1h"
    assert alert["annotations"]["runbook_url"].endswith("#chatcanaryerrorbudgetburn")
