"""The SSRF guard and redirect policy over real sockets, against the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from exporter import netguard
from exporter.config import load_config, parse_config
from exporter.errors import ErrorClass
from exporter.result import Outcome, ProbeResult
from exporter.runner import run_canary
from tests.integration.conftest import Sim, start_exporter, stop_exporter, wait_for

CONFIG = """
targets:
  - {name: t, protocol: openai, base_url: "URL/v1", model: guarded EXTRA}
canaries: [{name: c, prompt: "Say hello", timeout: 3s}]
SECURITY
"""


async def probe(base: str, security: str = "", extra: str = "") -> ProbeResult:
    text = CONFIG.replace("URL", base).replace("SECURITY", security).replace("EXTRA", extra)
    config = parse_config(text, "test.yaml")
    policy = netguard.Policy(config.security.allowed_networks)
    async with netguard.session(policy) as session:
        return await run_canary(session, config.plan()[("t", "c")])


def sent(simulator: Sim) -> int:
    return int(simulator.sim.stats()["requests"].get("guarded", 0))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_target_outside_the_allowed_networks_gets_nothing(
    simulator: Sim, host: str
) -> None:
    url = simulator.url.replace("127.0.0.1", host)
    result = await probe(url, "security: {allowed_networks: [10.0.0.0/8]}")
    assert result.outcome is Outcome.ERROR
    assert result.error_class is ErrorClass.CONNECTION
    assert f"blocked: {host} is at 127.0.0.1" in result.error_detail
    assert sent(simulator) == 0


async def test_a_target_inside_the_allowed_networks_is_probed(simulator: Sim) -> None:
    result = await probe(simulator.url, "security: {allowed_networks: [127.0.0.0/8]}")
    assert result.outcome is Outcome.SUCCESS, result.error_detail
    assert sent(simulator) == 1


@pytest.fixture
async def redirector(simulator: Sim) -> AsyncIterator[str]:
    """Answers every chat request with a 307 to the simulator, or to 10.255.255.1."""

    async def hop(request: web.Request) -> web.Response:
        base = "http://10.255.255.1:9" if "away" in request.path else simulator.url
        raise web.HTTPTemporaryRedirect(base + "/v1/chat/completions")

    app = web.Application()
    app.router.add_post("/{tail:.*}", hop)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


async def test_redirects_are_refused_unless_the_target_allows_them(
    simulator: Sim, redirector: str
) -> None:
    refused = await probe(redirector)
    assert refused.error_class is ErrorClass.MALFORMED
    assert "HTTP 307 redirect to" in refused.error_detail
    assert "follow_redirects" in refused.error_detail
    assert sent(simulator) == 0
    followed = await probe(redirector, extra=", follow_redirects: true")
    assert followed.outcome is Outcome.SUCCESS, followed.error_detail
    assert sent(simulator) == 1


async def test_a_redirect_out_of_the_allowed_networks_is_blocked(redirector: str) -> None:
    result = await probe(
        redirector + "/away",
        "security: {allowed_networks: [127.0.0.0/8]}",
        extra=", follow_redirects: true",
    )
    assert result.error_class is ErrorClass.CONNECTION
    assert "blocked: 10.255.255.1" in result.error_detail


RELOADED = """
targets: [{name: t, protocol: openai, base_url: "URL/v1", model: guarded}]
canaries: [{name: c, prompt: "Say hello", interval: 200ms}]
"""


async def test_a_reload_applies_a_new_allow_list(simulator: Sim, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    text = RELOADED.replace("URL", simulator.url)
    path.write_text(text)
    exporter = await start_exporter(load_config(path), path)
    service = exporter.service

    async def last_error() -> ErrorClass | None:
        result = service.latest.results.get(("t", "c"))
        return None if result is None else result.error_class

    async def probed() -> bool:
        return sent(simulator) >= 1

    async def blocked() -> bool:
        return await last_error() is ErrorClass.CONNECTION

    try:
        await wait_for(probed)
        path.write_text(text + "security: {allowed_networks: [10.0.0.0/8]}\n")
        assert service.reload() is None
        await wait_for(blocked)
        before, runs = sent(simulator), service.latest.runs[("t", "c")]

        async def two_more_runs() -> bool:
            return service.latest.runs[("t", "c")] >= runs + 2

        await wait_for(two_more_runs)
        assert await last_error() is ErrorClass.CONNECTION
        assert sent(simulator) == before, "blocked runs send nothing"
    finally:
        await stop_exporter(exporter)
