"""The web app's defences against other sites' pages and a hostile network
(exporter/web/app.py), through aiohttp's test server: security headers on every answer,
cross-site writes and /probe refused, reloads and /probe runs rate limited."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from exporter.config import load_config
from exporter.service import Service
from exporter.simulator import Simulator
from exporter.web import make_app
from tests.unit.test_web_api import CONFIG, SECRET, Api, serve

ORIGIN_CASES = [
    ({"Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site is 'cross-site'"),
    ({"Sec-Fetch-Site": "same-site"}, "Sec-Fetch-Site is 'same-site'"),
    ({"Origin": "https://evil.example"}, "Origin 'https://evil.example' is not this server"),
    ({"Origin": "null"}, "Origin 'null' is not this server"),
]


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async for served in serve():
        yield served


async def test_every_answer_carries_the_security_headers(api: Api) -> None:
    for path in ("/", "/metrics", "/api/v1/status", "/static/app.js", "/no-such-page"):
        resp = await api.client.get(path)
        headers = resp.headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp, path
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Server"] == "chatcanary", path  # not Python/aiohttp versions


async def test_the_pages_have_no_inline_script_or_style(api: Api) -> None:
    await api.post("/api/v1/runs", {"target": "primary", "canary": "arithmetic"})
    run_id = api.service.recent.latest(("primary", "arithmetic")).run_id  # type: ignore[union-attr]
    for path in ("/", "/runs", f"/runs/{run_id}", "/config"):
        _, page = await api.get(path)
        assert "<script" in page and "<script>" not in page, path  # only <script src=...>
        assert "style=" not in page and "<style" not in page, path
        assert " on" + "click=" not in page


@pytest.mark.parametrize(("headers", "why"), ORIGIN_CASES)
async def test_other_sites_pages_cannot_change_state(
    api: Api, headers: dict[str, str], why: str
) -> None:
    for path, body in (
        ("/api/v1/runs", {"target": "primary", "canary": "arithmetic"}),
        ("/api/v1/feedback", {"target": "primary", "rating": "negative"}),
        ("/-/reload", {}),
    ):
        resp = await api.client.post(path, json=body, headers=headers)
        assert resp.status == 403, path
        assert (await resp.json())["error"] == f"cross-site request refused: {why}"
    assert api.requests() == 0 and len(api.service.feedback) == 0


async def test_this_sites_page_and_clients_without_browser_headers_may_post(api: Api) -> None:
    body = {"target": "primary", "rating": "positive"}
    host = f"http://127.0.0.1:{api.client.port}"
    for headers in (
        {},  # curl, a backend posting feedback, a config-reload sidecar
        {"Sec-Fetch-Site": "same-origin", "Origin": host},
        {"Origin": host},  # an older browser on this page
        {"Sec-Fetch-Site": "none"},  # typed in, a bookmark
    ):
        assert (await api.post("/api/v1/feedback", body, headers=headers))[0] == 202, headers


@pytest.mark.parametrize(("headers", "why"), ORIGIN_CASES)
async def test_other_sites_pages_cannot_make_probe_spend_tokens(
    api: Api, headers: dict[str, str], why: str
) -> None:
    resp = await api.client.get("/probe?target=primary&canary=arithmetic", headers=headers)
    assert resp.status == 403 and why in (await resp.json())["error"]
    assert api.requests() == 0
    resp = await api.client.get("/metrics", headers=headers)  # reads stay readable
    assert resp.status == 200


async def test_probe_runs_no_more_often_than_the_canary_interval() -> None:
    # /probe's own cache window is 1ms, the canary's interval 1h: later scrapes reuse
    text = CONFIG.replace("  probe_cache: 30s\n", "  probe_cache: 1ms\n")
    async for api in serve(text=text):
        _, first = await api.get("/probe?target=primary&canary=arithmetic")
        assert "probe_cached 0.0" in first
        latest = api.service.recent.latest(("primary", "arithmetic"))
        assert latest is not None
        finished = latest.started_at + latest.duration_seconds
        await asyncio.sleep(max(0.0, finished + 0.05 - time.time()))  # past the 1ms window
        for _ in range(3):
            status, again = await api.get("/probe?target=primary&canary=arithmetic")
            assert status == 200 and "probe_cached 1.0" in again
        assert api.requests() == 1


async def test_reloads_are_rate_limited(tmp_path: Path) -> None:
    sim = Simulator(scenario="healthy", seed=1, api_key=SECRET)
    url = await sim.start("127.0.0.1", 0)
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.format(url=url, key=SECRET))
    service = Service(load_config(path), path=path)
    await service.start()
    client = TestClient(TestServer(make_app(service)))
    await client.start_server()
    try:
        statuses = [(await client.post("/-/reload")).status for _ in range(50)]
        assert statuses[:3] == [200, 200, 200]  # a burst of three goes through
        assert statuses.count(429) >= 42  # then one a second, over however long 50 took
        refused = await client.post("/-/reload")
        if refused.status == 429:
            assert int(refused.headers["Retry-After"]) >= 1
            assert "at most 1 a second" in await refused.text()
    finally:
        await client.close()
        await service.stop(grace=1)
        await sim.stop()


RLO = "\u202e"


async def test_right_to_left_overrides_from_outside_stay_isolated_on_the_page() -> None:
    model = f"gpt-4o{RLO}lacol"
    text = CONFIG.replace("model: healthy-model", f'model: "{model}"')
    async for api in serve(text=text):
        status, run = await api.post("/api/v1/runs", {"target": "primary", "canary": "arithmetic"})
        assert status == 201
        comment = f"fine answer {RLO}evil.exe"
        body = {"target": "primary", "rating": "negative", "comment": comment}
        assert (await api.post("/api/v1/feedback", body))[0] == 202
        for path in ("/", f"/runs/{run['run_id']}"):
            _, page = await api.get(path)
            assert RLO in page, path
            # every override sits inside an isolating element, closed before what follows
            outside = re.sub(r"<bdi>[^<]*</bdi>", "", page)
            assert RLO not in outside, path
        _, index = await api.get("/")
        assert f"<bdi>{comment}</bdi>" in index and f"<bdi>{model}</bdi>" in index
