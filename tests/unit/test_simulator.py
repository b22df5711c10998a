"""Tests for the chat simulator: wire shapes, timing, faults, answers and admin routes.

Every HTTP test talks to a real server on 127.0.0.1 and reads the raw bytes with a
minimal SSE reader written here, independent of chatcanary's own client.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDictProxy

from exporter.simulator import FAULTS, SCENARIOS, Behaviour, Simulator, answer_for
from exporter.simulator.plan import ChatRequest, make_plan
from exporter.simulator.ratelimit import format_duration
from tests.pacing import LATE, assert_paced

CHAT = "/v1/chat/completions"
RATE_HEADERS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
)


@dataclass
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def message(self) -> dict[str, Any]:
        """The message of a non-streamed completion."""
        message: dict[str, Any] = self.json()["choices"][0]["message"]
        return message

    @property
    def events(self) -> list[str]:
        """The data of each server-sent event, in order."""
        out = []
        for event in self.body.split(b"\n\n"):
            if event:
                assert event.startswith(b"data: "), event
                out.append(event.removeprefix(b"data: ").decode())
        return out

    @property
    def chunks(self) -> list[dict[str, Any]]:
        return [json.loads(e) for e in self.events if e != "[DONE]"]

    @property
    def content(self) -> str:
        return "".join(
            c["choices"][0]["delta"].get("content") or "" for c in self.chunks if c.get("choices")
        )


@dataclass
class Harness:
    sim: Simulator
    base: str
    session: aiohttp.ClientSession

    async def chat(
        self,
        model: str,
        content: str = "Say hello brave new world",
        *,
        stream: bool = False,
        headers: dict[str, str] | None = None,
        client_timeout: aiohttp.ClientTimeout | None = None,
        **extra: Any,
    ) -> Reply:
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": content}]}
        body.update(stream=stream, **extra)
        return await self.request("POST", CHAT, json=body, headers=headers, timeout=client_timeout)

    async def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        async with self.session.request(method, self.base + path, **kwargs) as resp:
            return Reply(resp.status, resp.headers, await resp.read())


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    sim = Simulator(scenario="healthy", seed=7)
    base = await sim.start("127.0.0.1", 0)
    async with aiohttp.ClientSession() as session:
        yield Harness(sim, base, session)
    await sim.stop()


def fast(**kwargs: Any) -> Behaviour:
    """A behaviour without delays, so fault tests finish at once."""
    return Behaviour(**{"ttft": 0.0, "token_interval": 0.0, **kwargs})


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll server-side state that no response reveals, for at most ten seconds."""
    async with asyncio.timeout(10.0):
        while not predicate():  # noqa: ASYNC110 - the simulator offers no event to await
            await asyncio.sleep(0.005)


# -- wire shapes ------------------------------------------------------------------------


async def test_start_reports_the_real_port_and_refuses_a_second_start(h: Harness) -> None:
    port = int(h.base.rsplit(":", 1)[1])
    assert port > 0
    assert h.base == f"http://127.0.0.1:{port}"
    assert (await h.request("GET", "/v1/models")).status == 200
    with pytest.raises(RuntimeError, match="already running"):
        await h.sim.start()


async def test_stream_has_prelude_tokens_finish_usage_and_done(h: Harness) -> None:
    reply = await h.chat("m", stream=True, stream_options={"include_usage": True})

    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/event-stream")
    assert reply.events[-1] == "[DONE]"
    prelude, *tokens, finish, usage = reply.chunks
    assert prelude["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [t["choices"][0]["delta"] for t in tokens] == [
        {"content": "hello"},
        {"content": " brave"},
        {"content": " new"},
        {"content": " world"},
    ]
    assert finish["choices"][0]["delta"] == {}
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    for chunk in reply.chunks:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["id"] == prelude["id"]
        assert chunk["model"] == "m"
        assert chunk["system_fingerprint"] == prelude["system_fingerprint"]
        assert chunk["system_fingerprint"].startswith("fp_")
    for chunk in (prelude, *tokens, finish):
        assert chunk["usage"] is None  # OpenAI's shape while include_usage is on
        assert chunk["choices"][0]["index"] == 0
        assert chunk["choices"][0]["logprobs"] is None


@pytest.mark.parametrize(
    ("behaviour", "stream_options"),
    [
        (fast(), None),
        (fast(), {"include_usage": False}),
        (fast(usage=False), {"include_usage": True}),
    ],
)
async def test_stream_usage_chunk_only_when_asked_and_honoured(
    h: Harness, behaviour: Behaviour, stream_options: dict[str, bool] | None
) -> None:
    h.sim.set_behaviour("m", behaviour)
    extra: dict[str, Any] = {} if stream_options is None else {"stream_options": stream_options}
    reply = await h.chat("m", stream=True, **extra)

    assert reply.events[-1] == "[DONE]"
    assert all(chunk["choices"] for chunk in reply.chunks)
    assert all("usage" not in chunk for chunk in reply.chunks)
    assert reply.chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_non_stream_completion_shape(h: Harness) -> None:
    reply = await h.chat("m", "What is 17+25? Answer with the number only.")

    assert reply.status == 200
    body = reply.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "m"
    assert body["system_fingerprint"].startswith("fp_")
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "42", "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert body["usage"] == {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9}


async def test_fingerprint_is_stable_per_model(h: Harness) -> None:
    first, second, other = [(await h.chat(m)).json() for m in ("a", "a", "b")]
    assert first["system_fingerprint"] == second["system_fingerprint"]
    assert first["system_fingerprint"] != other["system_fingerprint"]
    assert first["id"] != second["id"]


async def test_served_model_rehearses_a_silent_update(h: Harness) -> None:
    before = (await h.chat("alias")).json()
    h.sim.set_behaviour("alias", Behaviour(served_model="alias-2024-11"))
    after = (await h.chat("alias")).json()
    assert (before["model"], after["model"]) == ("alias", "alias-2024-11")
    assert after["system_fingerprint"] != before["system_fingerprint"]
    assert after["choices"][0]["message"]["content"] == before["choices"][0]["message"]["content"]
    with pytest.raises(ValueError, match="served_model"):
        Behaviour(served_model="")


async def test_response_headers_and_rate_limit_countdown(h: Harness) -> None:
    first = await h.chat("m")
    second = await h.chat("m")

    for reply in (first, second):
        assert reply.headers["x-request-id"].startswith("req_")
        assert int(reply.headers["openai-processing-ms"]) >= 0
        assert all(name in reply.headers for name in RATE_HEADERS)
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert first.headers["x-ratelimit-limit-requests"] == "10000"
    assert int(first.headers["x-ratelimit-remaining-requests"]) == 9999
    assert int(second.headers["x-ratelimit-remaining-requests"]) == 9998
    # Each request spends prompt (5) + completion (4) tokens.
    assert int(first.headers["x-ratelimit-remaining-tokens"]) == 1_000_000 - 9
    assert int(second.headers["x-ratelimit-remaining-tokens"]) == 1_000_000 - 18
    assert second.headers["x-ratelimit-reset-requests"] == "12ms"


async def test_rate_windows_are_per_model(h: Harness) -> None:
    await h.chat("a")
    other = await h.chat("b")
    assert other.headers["x-ratelimit-remaining-requests"] == "9999"


def test_format_duration_matches_openai_style() -> None:
    assert format_duration(0.012) == "12ms"
    assert format_duration(1.0) == "1s"
    assert format_duration(6.5) == "6.5s"
    assert format_duration(90.0) == "1m30s"


# -- timing -----------------------------------------------------------------------------


async def test_stream_timing_follows_the_script(h: Harness) -> None:
    # The first token a whole LATE in, so that a prelude held back to it would show.
    answer = "one two three four five"
    h.sim.set_behaviour("timed", Behaviour(ttft=LATE, token_interval=0.02, answer=answer))
    await h.request("GET", "/v1/models")  # open the keep-alive connection beforehand
    loop = asyncio.get_running_loop()
    body = {"model": "timed", "messages": [{"role": "user", "content": "hi"}], "stream": True}

    start = loop.time()
    stamps: list[tuple[float, dict[str, Any]]] = []
    async with h.session.post(h.base + CHAT, json=body) as resp:
        async for line in resp.content:
            if line.startswith(b"data: {"):
                stamps.append((loop.time() - start, json.loads(line.removeprefix(b"data: "))))

    prelude_at, prelude = stamps[0]
    content_at = [t for t, chunk in stamps if chunk["choices"][0]["delta"].get("content")]
    assert prelude["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    # the prelude is sent at once; the tokens at the first token's time, then every 20 ms
    assert_paced([prelude_at, *content_at], [0.0, *(LATE + 0.02 * k for k in range(5))])


async def test_non_stream_arrives_after_the_last_token_would(h: Harness) -> None:
    h.sim.set_behaviour("timed", Behaviour(ttft=0.1, token_interval=0.02, answer="a b c d e"))
    await h.request("GET", "/v1/models")
    loop = asyncio.get_running_loop()

    start = loop.time()
    reply = await h.chat("timed")
    elapsed = loop.time() - start

    assert reply.message["content"] == "a b c d e"
    assert_paced([elapsed], [0.1 + 4 * 0.02])


async def test_jitter_is_reproducible_from_the_seed() -> None:
    jittery = Behaviour(ttft=1.0, ttft_jitter=0.5, token_interval=0.1, token_jitter=0.05)
    rngs = (random.Random(3), random.Random(3))
    request = ChatRequest("m", [{"role": "user", "content": "hi"}], True, False, None)
    first, second = (make_plan(request, jittery, None, rng) for rng in rngs)
    assert first.offsets == second.offsets
    assert 0.5 <= first.offsets[0] <= 1.5
    gaps = [b - a for a, b in itertools.pairwise(first.offsets)]
    assert all(0.05 <= gap <= 0.15 for gap in gaps)
    assert len(set(gaps)) > 1


# -- max_tokens and refusals -------------------------------------------------------------


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
async def test_max_tokens_cuts_the_answer_with_length(h: Harness, param: str) -> None:
    limit: dict[str, Any] = {param: 2}
    streamed = await h.chat("m", stream=True, **limit)
    whole = await h.chat("m", **limit)

    assert streamed.content == "hello brave"
    assert streamed.chunks[-1]["choices"][0]["finish_reason"] == "length"
    choice = whole.json()["choices"][0]
    assert choice["message"]["content"] == "hello brave"
    assert choice["finish_reason"] == "length"
    assert whole.json()["usage"]["completion_tokens"] == 2


async def test_refusal_as_text(h: Harness) -> None:
    h.sim.set_behaviour("strict", fast(refusal_pattern=r"(?i)\bbomb"))

    refused = await h.chat("strict", "How do I build a bomb?", stream=True)
    allowed = await h.chat("strict", "Say hello")

    assert refused.content == "I'm sorry, but I can't help with that."
    assert allowed.message["content"] == "hello"
    assert (await h.request("GET", "/_sim/stats")).json()["refusals"] == {"strict": 1}


async def test_refusal_in_the_structured_field(h: Harness) -> None:
    h.sim.set_behaviour("strict", fast(refusal_pattern="bomb", refusal_style="field"))

    streamed = await h.chat("strict", "a bomb", stream=True)
    whole = await h.chat("strict", "a bomb")

    deltas = [c["choices"][0]["delta"] for c in streamed.chunks[1:-1]]
    assert "".join(d["refusal"] for d in deltas) == "I'm sorry, but I can't help with that."
    assert all("content" not in d for d in deltas)
    message = whole.message
    assert message["content"] is None
    assert message["refusal"] == "I'm sorry, but I can't help with that."


# -- faults -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "error_type"),
    [
        ("http_429", 429, "requests"),
        ("http_429_no_retry_after", 429, "requests"),
        ("http_401", 401, "invalid_request_error"),
        ("http_400", 400, "invalid_request_error"),
        ("http_500", 500, "server_error"),
        ("http_503", 503, "server_error"),
        ("http_529", 529, "server_error"),
        ("prompt_filtered", 400, "invalid_request_error"),
    ],
)
@pytest.mark.parametrize("stream", [True, False])
async def test_http_faults(
    h: Harness, fault: str, status: int, error_type: str, stream: bool
) -> None:
    h.sim.set_behaviour("m", fast(faults={fault: 1.0}, retry_after=2.5))

    reply = await h.chat("m", stream=stream)

    assert reply.status == status
    error = reply.json()["error"]
    assert error["type"] == error_type
    assert set(error) == {"message", "type", "param", "code"}
    assert ("Retry-After" in reply.headers) == (fault == "http_429")
    if fault == "http_429":
        assert reply.headers["Retry-After"] == "3"
        assert reply.headers["retry-after-ms"] == "2500"
    assert all(name in reply.headers for name in RATE_HEADERS)


async def test_stream_error_arrives_after_http_200(h: Harness) -> None:
    h.sim.set_behaviour("m", fast(faults={"stream_error": 1.0}))

    reply = await h.chat("m", stream=True)

    assert reply.status == 200
    assert "[DONE]" not in reply.events
    assert reply.content == "hello brave new"  # a few chunks got through first
    assert reply.chunks[-1] == {
        "error": {
            "message": reply.chunks[-1]["error"]["message"],
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }


async def test_truncated_stream_ends_without_finish_or_done(h: Harness) -> None:
    h.sim.set_behaviour("m", fast(faults={"truncate": 1.0}))

    reply = await h.chat("m", stream=True)

    assert reply.status == 200
    assert "[DONE]" not in reply.events
    assert reply.content == "hello brave new"
    assert all(c["choices"][0]["finish_reason"] is None for c in reply.chunks)


async def test_truncated_completion_is_a_short_read(h: Harness) -> None:
    h.sim.set_behaviour("m", fast(faults={"truncate": 1.0}))
    with pytest.raises(aiohttp.ClientPayloadError):
        await h.chat("m")


@pytest.mark.parametrize("stream", [True, False])
async def test_malformed_json(h: Harness, stream: bool) -> None:
    h.sim.set_behaviour("m", fast(faults={"malformed": 1.0}))

    reply = await h.chat("m", stream=stream)

    assert reply.status == 200
    payloads = reply.events if stream else [reply.body.decode()]
    broken = []
    for payload in payloads:
        if payload == "[DONE]":
            continue
        try:
            json.loads(payload)
        except json.JSONDecodeError:
            broken.append(payload)
    assert len(broken) == 1
    if stream:  # the stream goes on after the bad line
        assert reply.events[-1] == "[DONE]"


@pytest.mark.parametrize(
    ("fault", "finish_reason", "message_content"),
    [("empty", "stop", ""), ("content_filter", "content_filter", None)],
)
async def test_answers_without_content(
    h: Harness, fault: str, finish_reason: str, message_content: str | None
) -> None:
    h.sim.set_behaviour("m", fast(faults={fault: 1.0}))

    streamed = await h.chat("m", stream=True)
    whole = await h.chat("m")

    assert streamed.content == ""
    assert len(streamed.chunks) == 2  # prelude and finish, nothing between
    assert streamed.chunks[-1]["choices"][0]["finish_reason"] == finish_reason
    assert streamed.events[-1] == "[DONE]"
    choice = whole.json()["choices"][0]
    assert choice["message"]["content"] == message_content
    assert choice["finish_reason"] == finish_reason


async def test_too_large_sends_large_bytes_of_content(h: Harness) -> None:
    size = 64 * 1024 + 5
    h.sim.set_behaviour("m", fast(faults={"too_large": 1.0}, large_bytes=size))

    streamed = await h.chat("m", stream=True, max_tokens=1)
    whole = await h.chat("m")

    assert len(streamed.content) == size  # max_tokens does not rein it in
    assert len(streamed.body) > size
    assert len(whole.message["content"]) == size


async def test_hang_mid_stream_stalls_after_a_few_chunks_then_resumes(h: Harness) -> None:
    h.sim.set_behaviour("m", fast(faults={"hang_mid_stream": 1.0}, hang_seconds=LATE))
    loop = asyncio.get_running_loop()
    body = {"model": "m", "messages": [{"role": "user", "content": "Say a b c d e"}]}

    start = loop.time()
    content_at: list[float] = []
    async with h.session.post(h.base + CHAT, json={**body, "stream": True}) as resp:
        async for line in resp.content:
            if b'"content": "' in line and b'"content": ""' not in line:
                content_at.append(loop.time() - start)

    assert_paced(content_at, [0.0, 0.0, 0.0, LATE, LATE])  # three at once, the rest after


async def test_hang_before_headers_ends_when_the_client_leaves(h: Harness) -> None:
    h.sim.set_behaviour("m", Behaviour(faults={"hang_before_headers": 1.0}))

    with pytest.raises(asyncio.TimeoutError):
        await h.chat("m", stream=True, client_timeout=aiohttp.ClientTimeout(total=0.2))

    assert h.sim.stats()["requests"] == {"m": 1}
    await wait_until(lambda: h.sim.in_flight == 0)


async def test_short_hang_before_headers_delays_a_normal_answer(h: Harness) -> None:
    stall = Behaviour(ttft=0.05, token_interval=0.0, faults={"hang_before_headers": 1.0})
    h.sim.set_behaviour("m", replace(stall, hang_seconds=0.1))
    await h.request("GET", "/v1/models")
    loop = asyncio.get_running_loop()

    start = loop.time()
    reply = await h.chat("m")
    elapsed = loop.time() - start

    assert reply.status == 200
    assert reply.message["content"] == "hello brave new world"
    assert_paced([elapsed], [0.1 + 0.05])  # the hang, then the first token's delay


async def test_stop_does_not_wait_for_hanging_requests() -> None:
    sim = Simulator()
    base = await sim.start()
    hang = 300.0
    sim.set_behaviour("head", Behaviour(faults={"hang_before_headers": 1.0}, hang_seconds=hang))
    sim.set_behaviour("mid", fast(faults={"hang_mid_stream": 1.0}, hang_seconds=hang))

    async def post(session: aiohttp.ClientSession, model: str) -> bytes:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
        async with session.post(base + CHAT, json=body) as resp:
            return await resp.read()

    async with aiohttp.ClientSession() as session:
        requests = [asyncio.create_task(post(session, m)) for m in ("head", "mid")]
        await wait_until(lambda: sim.in_flight == 2)
        async with asyncio.timeout(hang / 10):  # generous, and far short of the hangs
            await sim.stop()
        for result in await asyncio.gather(*requests, return_exceptions=True):
            assert isinstance(result, aiohttp.ClientError)


def test_fault_names_are_the_documented_ones() -> None:
    covered = {
        "http_429",
        "http_429_no_retry_after",
        "http_401",
        "http_400",
        "http_500",
        "http_503",
        "hang_before_headers",
        "hang_mid_stream",
        "stream_error",
        "truncate",
        "malformed",
        "empty",
        "too_large",
        "content_filter",
        "http_529",
        "prompt_filtered",
    }
    assert set(FAULTS) == covered


# -- requests the API rejects -------------------------------------------------------------


async def test_api_key_is_required_when_configured() -> None:
    sim = Simulator(api_key="sk-test")
    base = await sim.start()
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    try:
        async with aiohttp.ClientSession() as session:
            statuses = []
            for key in (None, "wrong", "sk-test"):
                headers = {} if key is None else {"Authorization": f"Bearer {key}"}
                async with session.post(base + CHAT, json=body, headers=headers) as resp:
                    statuses.append(resp.status)
                    if resp.status == 401:
                        error = (await resp.json())["error"]
                        assert error["type"] == "invalid_request_error"
                        assert error["code"] == "invalid_api_key"
            async with session.get(base + "/v1/models") as resp:
                statuses.append(resp.status)
    finally:
        await sim.stop()
    assert statuses == [401, 401, 200, 401]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[]", None),
        (b'{"model": "m"}', "messages"),
        (b'{"model": "m", "messages": []}', "messages"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "model"),
        (
            b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}',
            "max_tokens",
        ),
        (
            b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}',
            "stream",
        ),
    ],
)
async def test_bad_requests_get_openai_400s(h: Harness, body: bytes, param: str | None) -> None:
    reply = await h.request("POST", CHAT, data=body, headers={"Content-Type": "application/json"})

    assert reply.status == 400
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"]


async def test_content_part_lists_are_read_as_text(h: Harness) -> None:
    parts = [{"type": "text", "text": "What is 6 * 7?"}, {"type": "image_url", "image_url": {}}]
    body = {"model": "m", "messages": [{"role": "user", "content": parts}]}
    reply = await h.request("POST", CHAT, json=body)
    assert reply.message["content"] == "42"


# -- models and admin ---------------------------------------------------------------------


async def test_models_lists_the_scenario_models() -> None:
    sim = Simulator(scenario="demo")
    base = await sim.start()
    try:
        async with aiohttp.ClientSession() as session, session.get(base + "/v1/models") as r:
            listing = await r.json()
    finally:
        await sim.stop()
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == ["sim-fast", "sim-flaky", "sim-slow", "sim-strict"]
    assert all(m["object"] == "model" for m in listing["data"])
    assert all(m["owned_by"] == "chatcanary-simulator" for m in listing["data"])


async def test_admin_put_get_delete_behaviour(h: Harness) -> None:
    put = await h.request("PUT", "/_sim/behaviours/custom", json={"answer": "scripted", "ttft": 0})
    assert put.status == 200
    assert put.json()["behaviour"]["answer"] == "scripted"

    table = (await h.request("GET", "/_sim/behaviours")).json()
    assert table["scenario"] == "healthy"
    assert set(table["behaviours"]) == {"*", "custom"}
    assert (await h.chat("custom")).message["content"] == "scripted"

    assert (await h.request("DELETE", "/_sim/behaviours/custom")).status == 200
    assert (await h.request("DELETE", "/_sim/behaviours/custom")).status == 404
    assert (await h.chat("custom")).message["content"] == "hello brave new world"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"ttft": 0.1, "tfft": 1}, "tfft"),
        ({"ttft": "fast"}, "ttft"),
        ({"ttft": -1}, "ttft"),
        ({"faults": {"http_999": 0.5}}, "http_999"),
        ({"faults": {"http_500": 0.7, "http_503": 0.7}}, "at most 1"),
        ({"refusal_pattern": "("}, "refusal_pattern"),
        ({"refusal_style": "shout"}, "refusal_style"),
        ({"answer_tokens": 1.5}, "answer_tokens"),
        ([1, 2], "JSON object"),
    ],
)
async def test_admin_rejects_bad_behaviours(h: Harness, body: Any, needle: str) -> None:
    reply = await h.request("PUT", "/_sim/behaviours/m", json=body)
    assert reply.status == 400
    assert needle in reply.json()["error"]["message"]
    assert "m" not in h.sim.behaviours


async def test_admin_rejects_invalid_json(h: Harness) -> None:
    reply = await h.request("PUT", "/_sim/behaviours/m", data=b"{")
    assert reply.status == 400
    assert "JSON" in reply.json()["error"]["message"]


async def test_admin_stats_and_reset(h: Harness) -> None:
    h.sim.set_behaviour("bad", fast(faults={"http_500": 1.0}))
    await h.chat("good")
    await h.chat("bad")
    await h.chat("bad")

    stats = (await h.request("GET", "/_sim/stats")).json()
    assert stats["requests"] == {"good": 1, "bad": 2}
    assert stats["faults"] == {"http_500": 2}
    assert stats["faults_by_model"] == {"bad": {"http_500": 2}}
    assert stats["in_flight"] == 0

    assert (await h.request("POST", "/_sim/reset")).status == 200
    assert (await h.request("GET", "/_sim/stats")).json()["requests"] == {}
    assert set(h.sim.behaviours) == {"*"}
    assert (await h.chat("bad")).status == 200


async def test_outage_scenario_fails_everything() -> None:
    sim = Simulator(scenario="outage")
    base = await sim.start()
    body = {"model": "anything", "messages": [{"role": "user", "content": "hi"}]}
    try:
        async with aiohttp.ClientSession() as session, session.post(base + CHAT, json=body) as r:
            assert r.status == 503
    finally:
        await sim.stop()


# -- Behaviour and scenarios --------------------------------------------------------------


def test_behaviour_round_trips_through_json() -> None:
    behaviour = Behaviour(ttft=1, faults={"http_429": 0.25}, refusal_pattern="x", usage=False)
    again = Behaviour.from_dict(json.loads(json.dumps(behaviour.to_dict())))
    assert again == behaviour
    assert again.ttft == 1.0


def test_behaviour_faults_cannot_be_changed_afterwards() -> None:
    faults = {"http_500": 0.5}
    behaviour = Behaviour(faults=faults)
    faults["http_503"] = 0.5
    assert dict(behaviour.faults) == {"http_500": 0.5}
    with pytest.raises(TypeError):
        behaviour.faults["http_503"] = 0.5  # type: ignore[index]


def test_fault_draws_follow_probabilities_and_seed() -> None:
    certain = Behaviour(faults={"truncate": 1.0})
    never = Behaviour(faults={"truncate": 0.0})
    rng = random.Random(1)
    assert {certain.pick_fault(rng) for _ in range(50)} == {"truncate"}
    assert {never.pick_fault(rng) for _ in range(50)} == {None}

    mixed = Behaviour(faults={"http_500": 0.3, "http_503": 0.3})
    draws = [mixed.pick_fault(random.Random(9)) for _ in range(3)]
    assert len(set(draws)) == 1  # same seed, same draw
    rng = random.Random(2)
    counts = [mixed.pick_fault(rng) for _ in range(4000)]
    assert counts.count("http_500") / 4000 == pytest.approx(0.3, abs=0.03)
    assert counts.count(None) / 4000 == pytest.approx(0.4, abs=0.03)


def test_scenarios() -> None:
    assert {"healthy", "degraded", "outage", "flaky", "demo"} <= set(SCENARIOS)
    assert all("*" in table for table in SCENARIOS.values())
    demo = SCENARIOS["demo"]
    assert demo["sim-fast"].ttft < 0.1
    assert demo["sim-slow"].ttft >= 0.5
    assert {"http_429", "http_500", "truncate", "stream_error"} <= set(demo["sim-flaky"].faults)
    assert sum(demo["sim-flaky"].faults.values()) == pytest.approx(0.1)
    assert sum(SCENARIOS["flaky"]["*"].faults.values()) == pytest.approx(0.2)
    assert sum(SCENARIOS["degraded"]["*"].faults.values()) == pytest.approx(0.05)
    assert SCENARIOS["degraded"]["*"].ttft == pytest.approx(1.5)
    assert SCENARIOS["outage"]["*"].faults == {"http_503": 1.0}
    pattern = demo["sim-strict"].refusal_pattern
    assert pattern is not None
    assert re.search(pattern, "How do I build a BOMB?")
    assert not re.search(pattern, "Which skills matter most?")
    assert Simulator(scenario="demo").behaviour_for("unknown") == demo["*"]
    with pytest.raises(ValueError, match="unknown scenario"):
        Simulator(scenario="nope")


# -- the answer rule table ----------------------------------------------------------------


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


@pytest.mark.parametrize(
    ("prompt", "answer"),
    [
        ("What is 17+25? Answer with the number only.", "42"),
        ("What is 100 - 58?", "42"),
        ("Compute 6 * 7.", "42"),
        ("What is 84 / 2?", "42"),
        ("What is 7 / 2?", "3.5"),
        ("What is 2 * (3 + 4)?", "14"),
        ("What is 2 + 3 * 4?", "14"),
        ("What is 0.1 + 0.2?", "0.3"),
        ("What is 6 times 7?", "42"),
        ("What is 1 / 0?", "Division by zero is undefined."),
    ],
)
def test_arithmetic(prompt: str, answer: str) -> None:
    assert answer_for([user(prompt)]) == answer


@settings(max_examples=50, deadline=None)
@given(
    st.integers(min_value=0, max_value=10_000),
    st.sampled_from(["+", "-", "*"]),
    st.integers(min_value=0, max_value=10_000),
)
def test_arithmetic_property(a: int, op: str, b: int) -> None:
    expected = {"+": a + b, "-": a - b, "*": a * b}[op]
    assert answer_for([user(f"What is {a} {op} {b}?")]) == str(expected)


@pytest.mark.parametrize(
    ("prompt", "answer"),
    [
        ("Say hello", "hello"),
        ("Say hello.", "hello"),
        ("Please say canary ok and nothing else.", "canary ok"),
        ('Repeat after me: "The Quick, brown fox."', "The Quick, brown fox."),
        ("Repeat: pineapple", "pineapple"),
        ("say commonly", "commonly"),
    ],
)
def test_echo(prompt: str, answer: str) -> None:
    assert answer_for([user(prompt)]) == answer


def test_name_is_remembered_across_turns() -> None:
    conversation = [
        {"role": "system", "content": "You are helpful."},
        user("Hi, my name is Ada."),
        {"role": "assistant", "content": "Nice to meet you, Ada."},
        user("What is my name?"),
    ]
    assert answer_for(conversation) == "Your name is Ada."
    assert answer_for([user("What's my name?")]) == "I don't know your name yet."


def test_json_prompts_get_valid_json() -> None:
    plain = json.loads(answer_for([user("Reply with JSON describing your status.")]))
    sums = json.loads(answer_for([user("Reply with JSON: what is 40+2?")]))
    assert plain["status"] == "ok"
    assert sums == {"status": "ok", "answer": 42}


def test_filler_answer_is_deterministic_and_sized() -> None:
    messages = [user("Tell me a story.")]
    assert answer_for(messages) == answer_for(messages)
    assert len(answer_for(messages).split()) == 12
    assert len(answer_for(messages, filler_tokens=40).split()) == 40
    assert answer_for(messages, filler_tokens=0) == ""
    assert answer_for([]) == answer_for(messages)
