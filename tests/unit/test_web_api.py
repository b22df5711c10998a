"""The JSON API and /probe (exporter/web/api.py) through aiohttp's test client, against
the simulator on a loopback port: every bad input answers a clear error and sends
nothing; secrets never show."""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from exporter.config import parse_config
from exporter.service import Service
from exporter.simulator import Behaviour, Simulator
from exporter.store import data_dir, locate
from exporter.web import make_app
from exporter.webconfig import WebConfig
from tests.ports import free_port
from tests.unit.store_helpers import run as stored_run

SECRET = "sk-api-test-secret-0123456789"
CONFIG = """
defaults: {{interval: 1h, timeout: 5s}}
targets:
  - {{name: primary, protocol: openai, base_url: "{url}/v1", model: healthy-model,
      api_key: "{key}"}}
  - {{name: echo, protocol: openai, base_url: "{url}/v1", model: echo-model, api_key: "{key}"}}
canaries:
  - name: arithmetic
    prompt: "What is 17+25? Answer with the number only."
    checks: [{{contains: "42"}}]
  - name: echo-only
    prompt: "Say anything."
    targets: [echo]
web:
  run_now_per_minute: 5
  feedback_per_minute: 6
  feedback_max_bytes: 300
  feedback_categories: [incorrect, slow]
  probe_cache: 30s
  trace_url: "http://tempo.example/trace/{{trace_id}}"
"""


@dataclass
class Api:
    client: TestClient[Any, Any]
    service: Service
    sim: Simulator
    url: str

    def requests(self) -> int:
        return sum(self.sim.stats()["requests"].values())

    async def written(self) -> None:
        """Everything queued for the store is committed: what the reads see next."""
        assert self.service.store is not None
        await self.service.store.flush()

    async def post(self, path: str, body: Any, **kwargs: Any) -> tuple[int, Any]:
        resp = await self.client.post(path, json=body, **kwargs)
        return resp.status, await resp.json()

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        resp = await self.client.get(path, **kwargs)
        text = await resp.text()
        is_json = resp.content_type == "application/json"
        return resp.status, json.loads(text) if is_json else text


async def serve(
    web_config: WebConfig | None = None,
    extra: str = "",
    text: str = CONFIG,
    shared: Api | None = None,
) -> AsyncIterator[Api]:
    """The app of a service that keeps its runs in a real SQLite file in the test's data
    directory (the config's `store:` may name another store). Given `shared`, it uses that
    one's simulator and leaves it running (a second service on the same store)."""
    if shared is None:
        sim = Simulator(scenario="healthy", seed=3, api_key=SECRET)
        sim.set_behaviour("echo-model", Behaviour(answer=f"your key is {SECRET}, keep it safe"))
        url = await sim.start("127.0.0.1", 0)
    else:
        sim, url = shared.sim, shared.url
    config = parse_config(text.format(url=url, key=SECRET) + extra, "api.yaml")
    service = Service(config, store=locate(config.store, data_dir()))
    await service.start()
    client = TestClient(TestServer(make_app(service, web_config)))
    await client.start_server()
    try:
        yield Api(client, service, sim, url)
    finally:
        await client.close()
        await service.stop(grace=1)
        if shared is None:
            await sim.stop()


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async for served in serve():
        yield served


async def test_status_lists_every_pair_pending_until_it_runs(api: Api) -> None:
    status, body = await api.get("/api/v1/status")
    assert status == 200
    assert body["counts"]["pending"] == 3 and body["failing"] == 0
    assert {(r["target"], r["canary"]) for r in body["results"]} == {
        ("primary", "arithmetic"),
        ("echo", "arithmetic"),
        ("echo", "echo-only"),
    }
    status, run = await api.post("/api/v1/runs", {"target": "primary", "canary": "arithmetic"})
    assert status == 201 and run["outcome"] == "success"
    _, body = await api.get("/api/v1/status")
    row = next(r for r in body["results"] if r["target"] == "primary")
    assert row["state"] == "success" and row["last"]["run_id"] == run["run_id"]
    assert row["recent"][-1]["run_id"] == run["run_id"]


async def test_run_now_returns_the_full_exchange_with_timings(api: Api) -> None:
    status, run = await api.post("/api/v1/runs", {"target": "primary", "canary": "arithmetic"})
    assert status == 201
    assert run["target"] == "primary" and run["http_status"] == 200
    (turn,) = run["turns"]
    assert turn["prompt"] == "What is 17+25? Answer with the number only."
    assert "42" in turn["answer"]
    timings = turn["timings"]
    assert 0 <= timings["connect_seconds"] <= timings["headers_seconds"]
    assert timings["headers_seconds"] <= timings["ttft_seconds"] <= timings["duration_seconds"]
    assert turn["headers"]["content-type"].startswith("text/event-stream")
    assert "authorization" not in {h.lower() for h in turn["headers"]}
    status, again = await api.get(f"/api/v1/runs/{run['run_id']}")
    assert status == 200 and again["turns"] == run["turns"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"target": "nope", "canary": "arithmetic"}, 400, "unknown target 'nope'"),
        ({"target": "primary", "canary": "nope"}, 400, "unknown canary 'nope'"),
        (
            {"target": "primary", "canary": "echo-only"},
            400,
            "canary 'echo-only' does not run against target 'primary'",
        ),
        ({"canary": "arithmetic"}, 400, "'target' is required"),
        ({"target": "primary"}, 400, "'canary' is required"),
        ({"target": "primary", "canary": "arithmetic", "x": 1}, 400, "unknown field(s) ['x']"),
        (["primary", "arithmetic"], 400, "the body must be a JSON object"),
    ],
)
async def test_run_now_rejects_bad_input_and_sends_nothing(
    api: Api, body: Any, status: int, message: str
) -> None:
    got, answer = await api.post("/api/v1/runs", body)
    assert (got, answer) == (status, {"error": answer["error"]})
    assert message in answer["error"]
    assert api.requests() == 0


@pytest.mark.parametrize(
    ("data", "headers", "status", "message"),
    [
        (b'{"target": ', {"Content-Type": "application/json"}, 400, "not valid JSON"),
        (b'{"target": "primary"}', {"Content-Type": "text/plain"}, 415, "application/json"),
        (b"{" + b" " * 5000 + b"}", {"Content-Type": "application/json"}, 413, "larger than"),
    ],
)
async def test_run_now_rejects_bad_bodies(
    api: Api, data: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    resp = await api.client.post("/api/v1/runs", data=data, headers=headers)
    assert resp.status == status
    assert message in (await resp.json())["error"]
    assert api.requests() == 0


async def test_run_now_is_rate_limited(api: Api) -> None:
    body = {"target": "primary", "canary": "arithmetic"}
    for _ in range(5):
        assert (await api.post("/api/v1/runs", body))[0] == 201
    resp = await api.client.post("/api/v1/runs", json=body)
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) >= 1
    assert "at most 5 a minute" in (await resp.json())["error"]
    assert api.requests() == 5


async def test_concurrent_run_now_calls_share_one_run(api: Api) -> None:
    body = {"target": "primary", "canary": "arithmetic"}
    (s1, a), (s2, b) = await asyncio.gather(
        api.post("/api/v1/runs", body), api.post("/api/v1/runs", body)
    )
    assert s1 == s2 == 201 and a["run_id"] == b["run_id"]
    assert api.requests() == 1


PAID = """
defaults: {{interval: 1h, timeout: 5s}}
targets:
  - {{name: paid, protocol: openai, base_url: "{url}/v1", model: healthy-model, api_key: "{key}",
      budget: {{tokens_per_hour: 1}}}}
canaries:
  - {{name: first, prompt: "Say one thing."}}
  - {{name: second, prompt: "Say another thing."}}
"""


async def test_runs_from_the_web_spend_the_budget_and_are_held_by_it() -> None:
    """Regression: `POST /api/v1/runs` and `/probe` ran whatever the target had spent."""
    async for api in serve(text=PAID):
        status, run = await api.post("/api/v1/runs", {"target": "paid", "canary": "first"})
        assert status == 201 and run["outcome"] == "success"
        spent = run["input_tokens"] + run["output_tokens"]
        assert spent >= 1, "one run spends the hour's budget"
        _, metrics = await api.get("/metrics")
        assert 'chatcanary_budget_exhausted{target="paid"} 1.0' in metrics
        assert f'chatcanary_budget_used_tokens{{target="paid",window="hour"}} {spent}.0' in metrics

        resp = await api.client.post("/api/v1/runs", json={"target": "paid", "canary": "first"})
        assert resp.status == 429
        assert "token budget of target 'paid' is spent" in (await resp.json())["error"]
        assert int(resp.headers["Retry-After"]) > 3000  # the hour's spending must age out
        resp = await api.client.get("/probe?target=paid&canary=second")
        assert resp.status == 429 and int(resp.headers["Retry-After"]) > 3000
        assert "token budget of target 'paid' is spent" in await resp.text()
        status, text = await api.get("/probe?target=paid&canary=first")
        assert status == 200 and "probe_cached 1.0" in text, "a fresh result costs nothing"
        assert api.requests() == 1


async def test_runs_list_filters_and_validates(api: Api) -> None:
    await api.post("/api/v1/runs", {"target": "primary", "canary": "arithmetic"})
    await api.post("/api/v1/runs", {"target": "echo", "canary": "arithmetic"})
    await api.written()
    status, body = await api.get("/api/v1/runs?target=primary")
    assert status == 200 and body["count"] == 1
    assert body["runs"][0]["target"] == "primary"
    _, body = await api.get("/api/v1/runs?canary=arithmetic")
    assert body["count"] == 2
    _, body = await api.get("/api/v1/runs?canary=arithmetic&outcome=check_failed")
    assert [r["target"] for r in body["runs"]] == ["echo"]
    _, body = await api.get("/api/v1/runs?outcome=error")
    assert body == {"count": 0, "runs": [], "next_cursor": None, "source": "store"}
    for query, message in (
        ("target=nope", "unknown target 'nope'"),
        ("canary=nope", "unknown canary 'nope'"),
        ("outcome=great", "outcome must be one of"),
        ("limit=0", "limit must be a whole number"),
        ("limit=x", "limit must be a whole number"),
    ):
        status, body = await api.get(f"/api/v1/runs?{query}")
        assert status == 400 and message in body["error"], query
    status, body = await api.get("/api/v1/runs/0123456789abcdef")
    assert status == 404 and "no such run" in body["error"]
    for query, message in (
        ("since=yesterday", "since: 'yesterday' is not a time"),
        ("until=2024-05-01T12:00:00", "until: '2024-05-01T12:00:00' has no UTC offset"),
        ("cursor=abc", "cursor: not a cursor from this listing"),
        ("limit=501", "limit must be a whole number from 1 to 500"),
    ):
        status, body = await api.get(f"/api/v1/runs?{query}")
        assert status == 400 and message in body["error"], query


async def test_feedback_is_counted_without_free_text_in_labels(api: Api) -> None:
    status, body = await api.post(
        "/api/v1/feedback",
        {
            "target": "primary",
            "rating": "negative",
            "category": "incorrect",
            "comment": "wrong-sum-comment",
            "conversation_id": "conv-77",
        },
    )
    assert status == 202 and body["accepted"] is True
    assert (await api.post("/api/v1/feedback", {"target": "echo", "rating": "positive"}))[0] == 202
    _, metrics = await api.get("/metrics")
    assert (
        'chatcanary_feedback_total{category="incorrect",rating="negative",target="primary"} 1.0'
        in metrics
    )
    assert 'chatcanary_feedback_total{category="none",rating="positive",target="echo"} 1.0' in (
        metrics
    )
    assert "wrong-sum-comment" not in metrics and "conv-77" not in metrics
    _, page = await api.get("/")
    assert "wrong-sum-comment" in page and "conv-77" in page


@pytest.mark.parametrize(
    ("data", "content_type", "status", "message"),
    [
        ({"target": "nope", "rating": "positive"}, None, 400, "unknown target 'nope'"),
        ({"target": "primary", "rating": "5 stars"}, None, 400, "'rating' must be"),
        ({"target": "primary", "rating": "positive", "category": "x"}, None, 400, "category"),
        (b'{"rating": "positive"', "application/json", 400, "not valid JSON"),
        (b"rating=positive", "application/x-www-form-urlencoded", 415, "application/json"),
        (
            {"target": "primary", "rating": "positive", "comment": "x" * 400},
            None,
            413,
            "larger than 300 bytes",
        ),
    ],
)
async def test_bad_feedback_is_refused_clearly_and_not_counted(
    api: Api, data: Any, content_type: str | None, status: int, message: str
) -> None:
    if content_type is None:
        resp = await api.client.post("/api/v1/feedback", json=data)
    else:
        resp = await api.client.post(
            "/api/v1/feedback", data=data, headers={"Content-Type": content_type}
        )
    assert resp.status == status
    assert message in (await resp.json())["error"]
    assert len(api.service.feedback) == 0
    _, metrics = await api.get("/metrics")
    assert "chatcanary_feedback_total{" not in metrics


async def test_feedback_is_rate_limited(api: Api) -> None:
    body = {"target": "primary", "rating": "positive"}
    statuses = [(await api.post("/api/v1/feedback", body))[0] for _ in range(7)]
    assert statuses == [202] * 6 + [429]
    assert len(api.service.feedback) == 6


async def test_probe_runs_once_then_reuses_the_fresh_result(api: Api) -> None:
    status, first = await api.get("/probe?target=primary&canary=arithmetic")
    assert status == 200
    assert "probe_success 1.0" in first and "probe_cached 0.0" in first
    assert 'probe_check_success{check="contains"} 1.0' in first
    status, second = await api.get("/probe?target=primary&canary=arithmetic")
    assert "probe_cached 1.0" in second
    assert api.requests() == 1


async def test_probe_rejects_names_not_configured_and_sends_nothing(api: Api) -> None:
    for query, message in (
        ("target=http://evil.example&canary=arithmetic", "unknown target 'http://evil.example'"),
        ("target=primary&canary=nope", "unknown canary 'nope'"),
        ("target=primary&canary=echo-only", "does not run against target 'primary'"),
        ("canary=arithmetic", "'target' is required"),
    ):
        status, text = await api.get(f"/probe?{query}")
        assert status == 400 and message in text, query
    assert api.requests() == 0


async def test_probe_debug_shows_log_metrics_and_config_without_secrets(api: Api) -> None:
    status, text = await api.get("/probe?target=echo&canary=echo-only&debug=true")
    assert status == 200
    assert "Logs for the probe:" in text and "outcome: success" in text
    assert "Metrics that would have been returned:" in text and "probe_success 1.0" in text
    assert "Canary configuration (secrets redacted):" in text and "echo-only" in text
    assert "api_key: '**********'" in text
    assert SECRET not in text


async def test_secrets_never_show_even_when_the_endpoint_echoes_them(api: Api) -> None:
    _, run = await api.post("/api/v1/runs", {"target": "echo", "canary": "echo-only"})
    assert "[redacted]" in run["turns"][0]["answer"]
    await api.written()  # the pages below read it back from the store
    shown = [json.dumps(run)]
    for path in (
        "/",
        f"/runs/{run['run_id']}",
        "/runs",
        "/config",
        "/api/v1/status",
        "/api/v1/runs",
        f"/api/v1/runs/{run['run_id']}",
        "/metrics",
    ):
        status, body = await api.get(path)
        assert status == 200, path
        shown.append(body if isinstance(body, str) else json.dumps(body))
    assert all(SECRET not in text for text in shown)
    assert "**********" in shown[4]  # the config page shows that a key is set


async def test_pages_render_and_unknown_runs_are_404(api: Api) -> None:
    _, run = await api.post("/api/v1/runs", {"target": "primary", "canary": "arithmetic"})
    status, page = await api.get(f"/runs/{run['run_id']}")
    assert status == 200
    assert "What is 17+25? Answer with the number only." in page
    assert 'id="waterfall"' in page
    status, page = await api.get("/runs/0123456789abcdef")
    assert status == 404 and "retention may have deleted it" in page
    status, page = await api.get("/?target=nope&state=weird")  # a stale bookmark shows all
    assert status == 200 and page.count('<tr data-state="') == 3
    status, page = await api.get("/?state=pending")
    assert page.count('<tr data-state="pending"') == 2
    for asset, kind in (("/static/style.css", "text/css"), ("/static/app.js", "text/javascript")):
        resp = await api.client.get(asset)
        assert resp.status == 200 and resp.content_type == kind


@pytest.fixture
async def guarded() -> AsyncIterator[Api]:
    config = WebConfig.model_validate(
        {
            "bearer_tokens": ["read-token-0123456789"],
            "write": {"bearer_tokens": ["write-0123456789abcdef"]},
        }
    )
    async for served in serve(config):
        yield served


async def test_read_and_write_endpoints_take_their_own_credentials(guarded: Api) -> None:
    read = {"Authorization": "Bearer read-token-0123456789"}
    write = {"Authorization": "Bearer write-0123456789abcdef"}
    feedback = {"target": "primary", "rating": "positive"}
    resp = await guarded.client.get("/api/v1/status")
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await guarded.client.get("/metrics", headers=write)).status == 401
    assert (await guarded.client.get("/metrics", headers=read)).status == 200
    assert (await guarded.client.get("/", headers=read)).status == 200
    assert (await guarded.post("/api/v1/feedback", feedback, headers=read))[0] == 401
    assert (await guarded.post("/api/v1/feedback", feedback))[0] == 401
    assert (await guarded.post("/api/v1/feedback", feedback, headers=write))[0] == 202
    assert len(guarded.service.feedback) == 1


# --- reading the store ------------------------------------------------------------------


async def test_runs_come_from_the_store_a_page_at_a_time_and_by_time(api: Api) -> None:
    assert api.service.store is not None
    now = float(int(time.time()))  # whole seconds: an ISO 8601 time names them exactly
    kept = [stored_run(now - 3600 + 600 * i, target="primary") for i in range(7)]  # oldest first
    for result in kept:
        api.service.store.record(result)
    await api.written()
    newest_first = [r.run_id for r in reversed(kept)]
    seen: list[str] = []
    path = "/api/v1/runs?target=primary&limit=3"
    pages = 0
    while path:
        status, body = await api.get(path)
        assert status == 200 and body["source"] == "store"
        assert body["count"] == len(body["runs"]) <= 3
        assert {r["shard"] for r in body["runs"]} == {"0/1"}
        seen += [r["run_id"] for r in body["runs"]]
        cursor = body["next_cursor"]
        path = "" if cursor is None else f"/api/v1/runs?target=primary&limit=3&cursor={cursor}"
        pages += 1
    assert seen == newest_first and pages == 3

    # since is inclusive, until exclusive; a Unix time, an ISO 8601 time or a duration ago
    since, until = kept[2].started_at, kept[5].started_at
    _, body = await api.get(f"/api/v1/runs?since={since}&until={until}")
    assert [r["run_id"] for r in body["runs"]] == [kept[4].run_id, kept[3].run_id, kept[2].run_id]
    iso = datetime.fromtimestamp(until, UTC).isoformat()
    _, body = await api.get("/api/v1/runs", params={"since": "2h", "until": iso})
    assert [r["run_id"] for r in body["runs"]] == newest_first[2:]
    _, body = await api.get("/api/v1/runs?since=15m")  # started 10 min ago and now
    assert [r["run_id"] for r in body["runs"]] == newest_first[:2]
    _, body = await api.get("/api/v1/runs?shard=1/2")
    assert body["runs"] == []

    # the page pages the same way: its "older" link carries the cursor
    status, page = await api.get("/runs?target=primary&limit=4")
    assert status == 200 and all(f"runs/{i}" in page for i in newest_first[:4])
    older = re.search(r'<a id="older" href="([^"]+)"', page)
    assert older is not None and newest_first[4] not in page
    status, page = await api.get("/runs" + html.unescape(older.group(1)))
    assert status == 200 and all(f"runs/{i}" in page for i in newest_first[4:])
    assert 'id="older"' not in page and newest_first[0] not in page


async def test_a_second_exporter_on_the_same_store_shows_what_the_first_kept(api: Api) -> None:
    _, run = await api.post("/api/v1/runs", {"target": "primary", "canary": "arithmetic"})
    feedback = {"target": "primary", "rating": "negative", "comment": "kept-across-restarts"}
    assert (await api.post("/api/v1/feedback", feedback))[0] == 202
    await api.written()
    async for second in serve(shared=api):
        assert second.service.history is None  # beside a store, memory keeps no runs in full
        assert second.service.recent.latest_runs() == []  # nothing run yet: all from the store
        status, again = await second.get(f"/api/v1/runs/{run['run_id']}")
        assert status == 200 and again["turns"] == run["turns"] and again["content_kept"]
        status, page = await second.get(f"/runs/{run['run_id']}")
        assert status == 200 and "What is 17+25? Answer with the number only." in page
        _, listing = await second.get("/api/v1/runs")
        assert [r["run_id"] for r in listing["runs"]] == [run["run_id"]]
        _, page = await second.get("/")
        assert "kept-across-restarts" in page
        _, body = await second.get("/api/v1/feedback")
        assert [f["comment"] for f in body["feedback"]] == ["kept-across-restarts"]


async def test_a_run_whose_exchange_retention_deleted_shows_its_summary(api: Api) -> None:
    store = api.service.store
    assert store is not None
    old = stored_run(time.time() - 8 * 86400, target="primary", text="forty-two-old")
    store.record(old)
    await api.written()
    await store.sweep()  # runs keep their exchange 7 days, their summary 90
    status, view = await api.get(f"/api/v1/runs/{old.run_id}")
    assert status == 200 and view["content_kept"] is False
    assert view["outcome"] == "success" and view["duration_seconds"] == old.duration_seconds
    status, page = await api.get(f"/runs/{old.run_id}")
    assert status == 200 and 'id="content-deleted"' in page and "forty-two-old" not in page


async def test_feedback_is_listed_from_the_store_filtered_and_paged(api: Api) -> None:
    sent = [
        {"target": "primary", "rating": "negative", "category": "incorrect", "comment": "one"},
        {"target": "echo", "rating": "positive", "comment": "two"},
        {"target": "primary", "rating": "negative", "category": "slow", "comment": "three"},
        {"target": "primary", "rating": "positive", "comment": "four"},
    ]
    for body in sent:
        assert (await api.post("/api/v1/feedback", body))[0] == 202

    async def comments(query: str) -> list[str]:
        status, body = await api.get(f"/api/v1/feedback?{query}")
        assert status == 200 and body["source"] == "store", body
        return [f["comment"] for f in body["feedback"]]

    assert await comments("") == ["four", "three", "two", "one"]
    assert await comments("target=primary&rating=negative") == ["three", "one"]
    assert await comments("category=slow") == ["three"]
    assert await comments("since=1h") == ["four", "three", "two", "one"]
    assert await comments(f"since={time.time() + 60}") == []
    _, first = await api.get("/api/v1/feedback?limit=3")
    assert first["count"] == 3 and first["feedback"][0]["shard"] == "0/1"
    assert await comments(f"limit=3&cursor={first['next_cursor']}") == ["one"]
    for query, message in (
        ("rating=meh", "rating must be one of"),
        ("target=nope", "unknown target 'nope'"),
        ("since=soon", "since: 'soon' is not a time"),
        ("cursor=zzz", "cursor: not a cursor from this listing"),
    ):
        status, body = await api.get(f"/api/v1/feedback?{query}")
        assert status == 400 and message in body["error"], query


async def test_an_unreachable_store_is_said_and_memory_is_shown() -> None:
    password = "store-pw-0123456789"
    url = f"postgresql://chatcanary:{password}@127.0.0.1:{free_port()}/chatcanary"  # closed
    async for api in serve(extra=f'store: {{url: "{url}"}}\n'):
        assert api.service.store is not None and not api.service.store.available
        status, run = await api.post("/api/v1/runs", {"target": "primary", "canary": "arithmetic"})
        assert status == 201
        status, later = await api.post(
            "/api/v1/runs", {"target": "primary", "canary": "arithmetic"}
        )
        assert status == 201 and later["run_id"] != run["run_id"]
        status, body = await api.get("/api/v1/runs")
        assert status == 200 and body["source"] == "memory"
        assert "cannot be read right now" in body["notice"]
        # the earlier run is no canary's latest any more: it is read from the store's queue
        assert [r["run_id"] for r in body["runs"]] == [later["run_id"], run["run_id"]]
        status, view = await api.get(f"/api/v1/runs/{run['run_id']}")
        assert status == 200 and view["turns"] == run["turns"] and "notice" in view
        status, body = await api.post(
            "/api/v1/feedback", {"target": "primary", "rating": "positive"}
        )
        assert status == 503
        status, body = await api.get("/api/v1/feedback")
        assert status == 200 and body["source"] == "memory" and body["feedback"] == []
        shown = [json.dumps(body)]
        for path in ("/", "/runs", f"/runs/{run['run_id']}"):
            status, page = await api.get(path)
            assert status == 200 and 'class="notice"' in page, path
            assert "cannot be read right now" in page
            shown.append(page)
        assert all(password not in text for text in shown)
