"""Tests for the simulator's Anthropic, Ollama and Azure OpenAI dialects.

Every test talks to a real server on 127.0.0.1 and reads the raw bytes with the minimal
SSE and NDJSON readers written here, independent of chatcanary's own client. The
timings, answers and faults come from the same Behaviours as the OpenAI dialect's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from exporter.simulator import Behaviour, Simulator
from tests.pacing import LATE, assert_paced

ANTHROPIC_VERSION = "2023-06-01"
AZURE_API_VERSION = "2024-10-21"
NEW_DIALECTS = ("anthropic", "ollama", "azure")
ALL_DIALECTS = ("openai", *NEW_DIALECTS)
HELLO = "Say hello brave new world"
REFUSAL = "I'm sorry, but I can't help with that."
ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}
REJECTIONS = {
    "http_429": 429,
    "http_429_no_retry_after": 429,
    "http_401": 401,
    "http_400": 400,
    "http_500": 500,
    "http_503": 503,
    "http_529": 529,
    "prompt_filtered": 400,
}


# -- minimal readers ----------------------------------------------------------------------


def sse_events(body: bytes) -> list[tuple[str | None, str]]:
    """(event name, data) of each server-sent event."""
    events = []
    for block in body.split(b"\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.decode().split("\n"):
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        events.append((name, "\n".join(data)))
    return events


def ndjson_lines(body: bytes) -> list[str]:
    return [line for line in body.decode().split("\n") if line]


def payloads(dialect: str, body: bytes) -> list[str]:
    """The JSON text of every frame of a stream, in order, end markers left out."""
    if dialect == "ollama":
        return ndjson_lines(body)
    return [data for _, data in sse_events(body) if data != "[DONE]"]


def invalid_json(texts: list[str]) -> list[str]:
    broken = []
    for text in texts:
        try:
            json.loads(text)
        except json.JSONDecodeError:
            broken.append(text)
    return broken


def text_of(dialect: str, frame: dict[str, Any]) -> str:
    """The answer text one frame carries, if any."""
    if dialect == "anthropic":
        return str(frame["delta"]["text"]) if frame["type"] == "content_block_delta" else ""
    if dialect == "ollama":
        return "" if frame.get("done", True) else str(frame["message"]["content"])
    choices = frame.get("choices") or [{}]
    return str(choices[0].get("delta", {}).get("content") or "")


@dataclass
class Reply:
    dialect: str
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def events(self) -> list[tuple[str | None, str]]:
        return sse_events(self.body)

    @property
    def frames(self) -> list[dict[str, Any]]:
        return [json.loads(text) for text in payloads(self.dialect, self.body)]

    @property
    def text(self) -> str:
        """The streamed answer."""
        return "".join(text_of(self.dialect, frame) for frame in self.frames)

    @property
    def answer(self) -> str:
        """The non-streamed answer."""
        body = self.json()
        if self.dialect == "anthropic":
            return "".join(block["text"] for block in body["content"])
        if self.dialect == "ollama":
            return str(body["message"]["content"])
        return str(body["choices"][0]["message"]["content"] or "")

    @property
    def stop(self) -> str:
        """Why the answer ended, in the dialect's words, streamed or not."""
        if self.headers["Content-Type"].startswith("application/json"):
            body = self.json()
            frames = [body]
        else:
            frames = self.frames
        last = frames[-1]
        if self.dialect == "anthropic":
            deltas = [f for f in frames if f["type"] == "message_delta"]
            return str(deltas[-1]["delta"]["stop_reason"] if deltas else last["stop_reason"])
        if self.dialect == "ollama":
            return str(last["done_reason"])
        return str(last["choices"][0]["finish_reason"])


def chat_request(
    dialect: str, model: str, content: str, stream: bool, extra: dict[str, Any]
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """Path, headers and body of a chat request in each dialect."""
    messages = [{"role": "user", "content": content}]
    if dialect == "anthropic":
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        body = {"model": model, "max_tokens": 64, "messages": messages, "stream": stream}
        return "/v1/messages", headers, {**body, **extra}
    if dialect == "ollama":
        return "/api/chat", {}, {"model": model, "messages": messages, "stream": stream, **extra}
    if dialect == "azure":
        path = f"/openai/deployments/{model}/chat/completions?api-version={AZURE_API_VERSION}"
        return path, {}, {"messages": messages, "stream": stream, **extra}
    body = {"model": model, "messages": messages, "stream": stream}
    return "/v1/chat/completions", {}, {**body, **extra}


def key_header(dialect: str, key: str) -> dict[str, str]:
    if dialect == "anthropic":
        return {"x-api-key": key}
    if dialect == "azure":
        return {"api-key": key}
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Harness:
    sim: Simulator
    base: str
    session: aiohttp.ClientSession

    async def chat(
        self,
        dialect: str,
        model: str = "m",
        content: str = HELLO,
        *,
        stream: bool = True,
        key: str | None = None,
        **extra: Any,
    ) -> Reply:
        path, headers, body = chat_request(dialect, model, content, stream, extra)
        if key is not None:
            headers.update(key_header(dialect, key))
        async with self.session.post(self.base + path, json=body, headers=headers) as resp:
            return Reply(dialect, resp.status, resp.headers, await resp.read())

    async def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Reply:
        async with self.session.post(self.base + path, json=body, headers=headers) as resp:
            return Reply("", resp.status, resp.headers, await resp.read())

    async def warm_up(self) -> None:
        """Open the keep-alive connection, so timings leave the TCP handshake out."""
        async with self.session.get(self.base + "/v1/models") as resp:
            await resp.read()

    async def timed(
        self, dialect: str, model: str, content: str = HELLO
    ) -> list[tuple[float, str]]:
        """(seconds since the request, text) of every content-bearing line of a stream."""
        path, headers, body = chat_request(dialect, model, content, True, {})
        loop = asyncio.get_running_loop()
        out = []
        start = loop.time()
        async with self.session.post(self.base + path, json=body, headers=headers) as resp:
            async for raw in resp.content:
                line = raw.strip().removeprefix(b"data: ")
                if not line.startswith(b"{"):
                    continue
                text = text_of(dialect, json.loads(line))
                if text:
                    out.append((loop.time() - start, text))
        return out


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


# -- Anthropic ------------------------------------------------------------------------------


async def test_anthropic_stream_events_come_in_the_documented_order(h: Harness) -> None:
    reply = await h.chat("anthropic", system="Be brief.")

    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/event-stream")
    names = [name for name, _ in reply.events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    frames = reply.frames
    assert [frame["type"] for frame in frames] == names
    message = frames[0]["message"]
    assert message["id"].startswith("msg_")
    assert message["type"] == "message"
    assert message["role"] == "assistant"
    assert message["model"] == "m"
    assert message["content"] == []
    assert message["stop_reason"] is None
    assert message["usage"] == {"input_tokens": 7, "output_tokens": 1}  # system counts
    assert frames[1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    assert [f["delta"] for f in frames[3:7]] == [
        {"type": "text_delta", "text": text} for text in ("hello", " brave", " new", " world")
    ]
    assert all(f["index"] == 0 for f in (frames[1], *frames[3:8]))
    assert frames[-2] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 4},
    }


async def test_anthropic_message_shape_and_headers(h: Harness) -> None:
    reply = await h.chat("anthropic", content="What is 17+25?", stream=False)

    assert reply.status == 200
    body = reply.json()
    assert body.pop("id").startswith("msg_")
    assert body == {
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [{"type": "text", "text": "42"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    assert reply.headers["request-id"].startswith("req_")
    assert "x-request-id" not in reply.headers
    for kind in ("requests", "tokens"):
        prefix = f"anthropic-ratelimit-{kind}"
        assert int(reply.headers[f"{prefix}-remaining"]) < int(reply.headers[f"{prefix}-limit"])
        reset = datetime.fromisoformat(reply.headers[f"{prefix}-reset"])
        assert reset.tzinfo is not None


@pytest.mark.parametrize("stream", [True, False])
async def test_anthropic_max_tokens_stops_with_max_tokens(h: Harness, stream: bool) -> None:
    reply = await h.chat("anthropic", stream=stream, max_tokens=2)

    assert (reply.text if stream else reply.answer) == "hello brave"
    assert reply.stop == "max_tokens"


def anthropic_body(**changes: Any) -> dict[str, Any]:
    """A valid Messages body with some keys changed; None drops a key."""
    body = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


@pytest.mark.parametrize(
    ("version", "body", "needle"),
    [
        (None, anthropic_body(), "anthropic-version"),
        (ANTHROPIC_VERSION, anthropic_body(max_tokens=None), "max_tokens"),
        (ANTHROPIC_VERSION, anthropic_body(max_tokens=0), "max_tokens"),
        (ANTHROPIC_VERSION, anthropic_body(messages=[]), "messages"),
        (ANTHROPIC_VERSION, anthropic_body(messages=[{"role": "system", "content": "x"}]), "role"),
        (ANTHROPIC_VERSION, anthropic_body(model=None), "model"),
        (ANTHROPIC_VERSION, anthropic_body(temperature=2), "temperature"),
        (ANTHROPIC_VERSION, anthropic_body(stream="yes"), "stream"),
    ],
)
async def test_anthropic_rejects_bad_requests(
    h: Harness, version: str | None, body: dict[str, Any], needle: str
) -> None:
    headers = {} if version is None else {"anthropic-version": version}
    reply = await h.post("/v1/messages", body, headers)

    assert reply.status == 400
    error = reply.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert needle in error["error"]["message"]


async def test_anthropic_content_blocks_are_read_as_text(h: Harness) -> None:
    blocks = [{"type": "text", "text": "What is 6 * 7?"}]
    reply = await h.chat("anthropic", stream=False, messages=[{"role": "user", "content": blocks}])
    assert reply.answer == "42"


# -- Ollama ---------------------------------------------------------------------------------


async def test_ollama_streams_ndjson_by_default(h: Harness) -> None:
    path, _, body = chat_request("ollama", "m", HELLO, True, {})
    del body["stream"]  # Ollama streams unless told not to
    reply = await h.post(path, body)
    reply.dialect = "ollama"

    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/x-ndjson"
    *tokens, final = reply.frames
    for token, text in zip(tokens, ("hello", " brave", " new", " world"), strict=True):
        assert set(token) == {"model", "created_at", "message", "done"}
        assert token["model"] == "m"
        assert token["message"] == {"role": "assistant", "content": text}
        assert token["done"] is False
        assert datetime.fromisoformat(token["created_at"]).tzinfo is not None
    assert final["done"] is True
    assert final["done_reason"] == "stop"
    assert final["message"] == {"role": "assistant", "content": ""}
    assert final["prompt_eval_count"] == 5
    assert final["eval_count"] == 4
    durations = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")
    assert all(type(final[name]) is int for name in durations)
    assert "x-request-id" not in reply.headers


async def test_ollama_non_stream_is_the_final_object_with_the_whole_message(h: Harness) -> None:
    reply = await h.chat("ollama", stream=False)

    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json()
    assert body["message"] == {"role": "assistant", "content": "hello brave new world"}
    assert body["done"] is True
    assert body["done_reason"] == "stop"
    assert body["eval_count"] == 4


@pytest.mark.parametrize("stream", [True, False])
async def test_ollama_num_predict_stops_with_length(h: Harness, stream: bool) -> None:
    reply = await h.chat("ollama", stream=stream, options={"num_predict": 2, "seed": 1})

    assert (reply.text if stream else reply.answer) == "hello brave"
    assert reply.stop == "length"


async def test_ollama_durations_follow_the_script_in_nanoseconds(h: Harness) -> None:
    script = Behaviour(ttft=0.1, token_interval=0.02, answer="one two three four five")
    h.sim.set_behaviour("timed", script)
    await h.warm_up()

    loop = asyncio.get_running_loop()
    for stream in (True, False):
        start = loop.time()
        reply = await h.chat("ollama", "timed", stream=stream)
        waited = loop.time() - start
        final = reply.frames[-1] if stream else reply.json()

        load, prompt_eval = final["load_duration"], final["prompt_eval_duration"]
        assert 0 < load <= 1_000_000
        assert load + prompt_eval == pytest.approx(100_000_000, abs=1)  # up to the first token
        assert final["eval_duration"] == pytest.approx(4 * 20_000_000, abs=1)  # the gaps after
        assert final["eval_count"] == 5
        # measured by the server: the script at least, and no more than the client waited
        scripted = load + prompt_eval + final["eval_duration"]
        assert scripted <= final["total_duration"] <= waited * 1e9


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": []}, "model is required"),
        ({"model": "m", "stream": "yes"}, "cannot unmarshal string into Go struct field"),
        ({"model": "m", "options": {"temperature": "hot"}}, "Options.temperature"),
        ({"model": "m", "options": {"num_predict": True}}, "Options.num_predict"),
    ],
)
async def test_ollama_rejects_bad_requests(h: Harness, body: dict[str, Any], message: str) -> None:
    reply = await h.post("/api/chat", body)

    assert reply.status == 400
    assert set(reply.json()) == {"error"}
    assert message in reply.json()["error"]


async def test_ollama_tags_lists_the_named_models() -> None:
    sim = Simulator(scenario="demo")
    base = await sim.start()
    try:
        async with aiohttp.ClientSession() as session, session.get(base + "/api/tags") as resp:
            listing = await resp.json()
    finally:
        await sim.stop()
    models = listing["models"]
    assert [m["name"] for m in models] == ["sim-fast", "sim-flaky", "sim-slow", "sim-strict"]
    for model in models:
        assert model["model"] == model["name"]
        assert datetime.fromisoformat(model["modified_at"]).tzinfo is not None
        assert isinstance(model["size"], int)
        assert len(model["digest"]) == 64
        assert {"format", "family", "parameter_size", "quantization_level"} <= set(model["details"])


# -- Azure OpenAI ---------------------------------------------------------------------------


async def test_azure_stream_opens_with_prompt_filter_results(h: Harness) -> None:
    reply = await h.chat("azure", "deploy-1")

    assert reply.status == 200
    assert reply.events[-1] == (None, "[DONE]")
    screened, prelude, *tokens, finish = reply.frames
    assert screened["choices"] == []
    [results] = screened["prompt_filter_results"]
    assert results["prompt_index"] == 0
    assert results["content_filter_results"]["jailbreak"] == {"filtered": False, "detected": False}
    assert prelude["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert prelude["choices"][0]["content_filter_results"] == {}
    assert reply.text == "hello brave new world"
    for token in tokens:
        verdicts = token["choices"][0]["content_filter_results"]
        assert set(verdicts) == {"hate", "self_harm", "sexual", "violence"}
        assert not any(v["filtered"] for v in verdicts.values())
    assert finish["choices"][0]["finish_reason"] == "stop"
    for chunk in (prelude, *tokens, finish):
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == "deploy-1"


async def test_azure_completion_shape_and_headers(h: Harness) -> None:
    path, _, body = chat_request("azure", "deploy-1", HELLO, False, {"model": "ignored"})
    reply = await h.post(path, body)

    body = reply.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "deploy-1"  # the deployment, whatever the body says
    assert body["prompt_filter_results"][0]["prompt_index"] == 0
    choice = body["choices"][0]
    assert choice["message"]["content"] == "hello brave new world"
    assert choice["content_filter_results"]["violence"] == {"filtered": False, "severity": "safe"}
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    assert reply.headers["x-request-id"].startswith("req_")
    assert reply.headers["apim-request-id"] == reply.headers["x-request-id"]
    assert reply.headers["x-ratelimit-remaining-requests"] == "9999"
    assert reply.headers["x-ratelimit-remaining-tokens"] == str(1_000_000 - 9)
    assert "x-ratelimit-reset-requests" not in reply.headers
    assert h.sim.stats()["requests"] == {"deploy-1": 1}


async def test_azure_requires_api_version(h: Harness) -> None:
    messages = [{"role": "user", "content": "hi"}]
    reply = await h.post("/openai/deployments/d/chat/completions", {"messages": messages})

    assert reply.status == 400
    error = reply.json()["error"]
    assert error["code"] == "MissingApiVersionParameter"
    assert "api-version" in error["message"]


@pytest.mark.parametrize("stream", [True, False])
async def test_azure_prompt_filtered_is_a_400_with_the_filter_verdicts(
    h: Harness, stream: bool
) -> None:
    h.sim.set_behaviour("d", fast(faults={"prompt_filtered": 1.0}))

    reply = await h.chat("azure", "d", stream=stream)

    assert reply.status == 400
    error = reply.json()["error"]
    assert error["code"] == "content_filter"
    assert error["param"] == "prompt"
    assert error["status"] == 400
    assert "content management policy" in error["message"]
    assert error["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    verdicts = error["innererror"]["content_filter_result"]
    assert verdicts["violence"] == {"filtered": True, "severity": "medium"}
    assert verdicts["hate"] == {"filtered": False, "severity": "safe"}


async def test_azure_content_filter_finishes_with_filtered_verdicts(h: Harness) -> None:
    h.sim.set_behaviour("d", fast(faults={"content_filter": 1.0}))

    streamed = await h.chat("azure", "d")
    whole = await h.chat("azure", "d", stream=False)

    assert streamed.text == ""
    finish = streamed.frames[-1]["choices"][0]
    assert finish["finish_reason"] == "content_filter"
    assert finish["content_filter_results"]["violence"]["filtered"] is True
    choice = whole.json()["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"]["content"] is None
    assert choice["content_filter_results"]["violence"]["filtered"] is True


# -- every dialect: auth and timing -----------------------------------------------------------


@pytest.mark.parametrize("dialect", ALL_DIALECTS)
async def test_api_key_goes_in_the_dialect_header(dialect: str) -> None:
    sim = Simulator(api_key="sk-test")
    base = await sim.start()
    try:
        async with aiohttp.ClientSession() as session:
            h = Harness(sim, base, session)
            missing = await h.chat(dialect, stream=False)
            wrong = await h.chat(dialect, stream=False, key="wrong")
            right = await h.chat(dialect, stream=False, key="sk-test")
    finally:
        await sim.stop()

    assert (missing.status, wrong.status, right.status) == (401, 401, 200)
    error = wrong.json()
    if dialect == "anthropic":
        assert error["type"] == "error"
        assert error["error"]["type"] == "authentication_error"
    elif dialect == "ollama":
        assert set(error) == {"error"}
    elif dialect == "azure":
        assert error["error"]["code"] == "401"
    else:
        assert error["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize(
    ("dialect", "header"),
    [("azure", "Authorization"), ("anthropic", "Authorization"), ("openai", "x-api-key")],
)
async def test_a_key_in_another_dialects_header_is_refused(dialect: str, header: str) -> None:
    sim = Simulator(api_key="k")
    base = await sim.start()
    path, headers, body = chat_request(dialect, "m", "hi", False, {})
    headers[header] = "Bearer k" if header == "Authorization" else "k"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(base + path, json=body, headers=headers) as resp:
                assert resp.status == 401
            async with session.get(base + "/api/tags") as resp:
                assert resp.status == 401
    finally:
        await sim.stop()


@pytest.mark.parametrize("dialect", NEW_DIALECTS)
async def test_stream_timing_follows_the_script(h: Harness, dialect: str) -> None:
    h.sim.set_behaviour("timed", Behaviour(ttft=0.1, token_interval=0.02, answer="a b c d e"))
    await h.warm_up()

    content_at = [t for t, _ in await h.timed(dialect, "timed")]

    assert_paced(content_at, [0.1 + 0.02 * k for k in range(5)])


@pytest.mark.parametrize("dialect", NEW_DIALECTS)
async def test_non_stream_arrives_after_the_last_token_would(h: Harness, dialect: str) -> None:
    h.sim.set_behaviour("timed", Behaviour(ttft=0.1, token_interval=0.02, answer="a b c d e"))
    await h.warm_up()
    loop = asyncio.get_running_loop()

    start = loop.time()
    reply = await h.chat(dialect, "timed", stream=False)
    elapsed = loop.time() - start

    assert reply.answer == "a b c d e"
    assert_paced([elapsed], [0.1 + 4 * 0.02])


@pytest.mark.parametrize("dialect", NEW_DIALECTS)
async def test_short_hang_before_headers_delays_the_first_token(h: Harness, dialect: str) -> None:
    stall = Behaviour(ttft=0.05, faults={"hang_before_headers": 1.0}, hang_seconds=0.1)
    h.sim.set_behaviour("m", stall)
    await h.warm_up()

    content_at = [t for t, _ in await h.timed(dialect, "m")]

    assert_paced(content_at[:1], [0.1 + 0.05])  # the hang, then the first token's delay


@pytest.mark.parametrize("dialect", NEW_DIALECTS)
async def test_hang_mid_stream_stalls_after_a_few_tokens(h: Harness, dialect: str) -> None:
    h.sim.set_behaviour("m", fast(faults={"hang_mid_stream": 1.0}, hang_seconds=LATE))

    content_at = [t for t, _ in await h.timed(dialect, "m", "Say a b c d e")]

    assert_paced(content_at, [0.0, 0.0, 0.0, LATE, LATE])  # three at once, the rest after


# -- every dialect: faults ------------------------------------------------------------------


@pytest.mark.parametrize("fault", list(REJECTIONS))
@pytest.mark.parametrize("dialect", NEW_DIALECTS)
async def test_rejections_carry_the_dialect_error_body(
    h: Harness, dialect: str, fault: str
) -> None:
    h.sim.set_behaviour("m", fast(faults={fault: 1.0}, retry_after=2.5))

    reply = await h.chat(dialect)

    status = REJECTIONS[fault]
    assert reply.status == status
    assert (reply.headers.get("Retry-After") == "3") == (fault == "http_429")
    body = reply.json()
    if dialect == "anthropic":
        assert body["type"] == "error"
        assert body["error"]["type"] == ANTHROPIC_ERROR_TYPES[status]
        assert fault in body["error"]["message"]
        assert "request-id" in reply.headers
    elif dialect == "ollama":
        assert set(body) == {"error"}
        assert fault in body["error"]
    else:
        assert fault in body["error"]["message"] or fault == "prompt_filtered"
        if status in (401, 429):
            assert body["error"]["code"] == str(status)
        assert "x-ratelimit-remaining-requests" in reply.headers
    assert h.sim.stats()["faults"] == {fault: 1}


@pytest.mark.parametrize("dialect", NEW_DIALECTS)
async def test_stream_error_arrives_after_http_200(h: Harness, dialect: str) -> None:
    h.sim.set_behaviour("m", fast(faults={"stream_error": 1.0}))

    reply = await h.chat(dialect)

    assert reply.status == 200
    assert reply.text == "hello brave new"  # a few tokens got through first
    last = reply.frames[-1]
    if dialect == "anthropic":
        assert reply.events[-1][0] == "error"
        assert last == {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
        }
    elif dialect == "ollama":
        assert set(last) == {"error"}
        assert not any(frame.get("done") for frame in reply.frames)
    else:
        assert last["error"]["type"] == "server_error"
        assert (None, "[DONE]") not in reply.events


@pytest.mark.parametrize("dialect", NEW_DIALECTS)
async def test_stream_error_without_a_stream_is_an_error_body_with_200(
    h: Harness, dialect: str
) -> None:
    h.sim.set_behaviour("m", fast(faults={"stream_error": 1.0}))

    reply = await h.chat(dialect, stream=False)

    assert reply.status == 200
    body = reply.json()
    if dialect == "anthropic":
        assert body["type"] == "error"
        assert body["error"]["type"] == "overloaded_error"
    else:
        assert "error" in body


@pytest.mark.parametrize("dialect", NEW_DIALECTS)
async def test_truncated_stream_ends_without_its_end_marker(h: Harness, dialect: str) -> None:
    h.sim.set_behaviour("m", fast(faults={"truncate": 1.0}))

    reply = await h.chat(dialect)

    assert reply.status == 200
    assert reply.text == "hello brave new"
    if dialect == "anthropic":
        names = [name for name, _ in reply.events]
        assert names[-1] == "content_block_delta"
        assert "message_delta" not in names
        assert "message_stop" not in names
    elif dialect == "ollama":
        assert all(frame["done"] is False for frame in reply.frames)
    else:
        assert (None, "[DONE]") not in reply.events
        assert all(f["choices"][0]["finish_reason"] is None for f in reply.frames[1:])


@pytest.mark.parametrize("dialect", NEW_DIALECTS)
async def test_truncated_body_is_a_short_read(h: Harness, dialect: str) -> None:
    h.sim.set_behaviour("m", fast(faults={"truncate": 1.0}))
    with pytest.raises(aiohttp.ClientPayloadError):
        await h.chat(dialect, stream=False)


@pytest.mark.parametrize("dialect", NEW_DIALECTS)
async def test_malformed_line_then_the_stream_goes_on(h: Harness, dialect: str) -> None:
    h.sim.set_behaviour("m", fast(faults={"malformed": 1.0}))

    streamed = await h.chat(dialect)
    whole = await h.chat(dialect, stream=False)

    texts = payloads(dialect, streamed.body)
    assert len(invalid_json(texts)) == 1
    last = json.loads(texts[-1])
    if dialect == "anthropic":
        assert last == {"type": "message_stop"}
    elif dialect == "ollama":
        assert last["done"] is True
    else:
        assert streamed.events[-1] == (None, "[DONE]")
    assert invalid_json([whole.body.decode()])


@pytest.mark.parametrize("dialect", NEW_DIALECTS)
async def test_empty_answer(h: Harness, dialect: str) -> None:
    h.sim.set_behaviour("m", fast(faults={"empty": 1.0}))

    streamed = await h.chat(dialect)
    whole = await h.chat(dialect, stream=False)

    assert streamed.text == ""
    assert whole.answer == ""
    expected = {"anthropic": "end_turn", "ollama": "stop", "azure": "stop"}[dialect]
    assert streamed.stop == whole.stop == expected
    if dialect == "anthropic":
        assert whole.json()["content"] == []
        assert whole.json()["usage"]["output_tokens"] == 0
    if dialect == "ollama":
        assert [f["done"] for f in streamed.frames] == [True]
        assert whole.json()["eval_count"] == 0


@pytest.mark.parametrize("dialect", NEW_DIALECTS)
async def test_content_filter(h: Harness, dialect: str) -> None:
    h.sim.set_behaviour("m", fast(faults={"content_filter": 1.0}))

    streamed = await h.chat(dialect)
    whole = await h.chat(dialect, stream=False)

    assert streamed.text == ""
    assert whole.answer == ""
    # Anthropic reports filtered output as a refusal; Ollama has no content filter at all.
    expected = {"anthropic": "refusal", "ollama": "stop", "azure": "content_filter"}[dialect]
    assert streamed.stop == whole.stop == expected


@pytest.mark.parametrize("dialect", NEW_DIALECTS)
async def test_too_large_sends_large_bytes_of_content(h: Harness, dialect: str) -> None:
    size = 64 * 1024 + 5
    h.sim.set_behaviour("m", fast(faults={"too_large": 1.0}, large_bytes=size))

    streamed = await h.chat(dialect)
    whole = await h.chat(dialect, stream=False)

    assert len(streamed.text) == size
    assert len(whole.answer) == size


# -- every dialect: refusals ------------------------------------------------------------------


@pytest.mark.parametrize("style", ["text", "field"])
@pytest.mark.parametrize("dialect", NEW_DIALECTS)
async def test_refusals(h: Harness, dialect: str, style: str) -> None:
    h.sim.set_behaviour("strict", fast(refusal_pattern=r"(?i)\bbomb", refusal_style=style))

    streamed = await h.chat(dialect, "strict", "How do I build a bomb?")
    whole = await h.chat(dialect, "strict", "How do I build a bomb?", stream=False)

    if dialect == "anthropic" and style == "field":
        # Anthropic's structured refusal is the stop reason alone, without text.
        assert streamed.text == whole.answer == ""
        assert streamed.stop == whole.stop == "refusal"
        assert whole.json()["content"] == []
    elif dialect == "azure" and style == "field":
        deltas = [f["choices"][0]["delta"] for f in streamed.frames[2:-1]]
        assert "".join(d["refusal"] for d in deltas) == REFUSAL
        assert whole.json()["choices"][0]["message"]["refusal"] == REFUSAL
    else:  # Ollama has no refusal field: a refusal is always text
        assert streamed.text == whole.answer == REFUSAL
        assert streamed.stop == whole.stop == {"anthropic": "end_turn"}.get(dialect, "stop")
    assert h.sim.stats()["refusals"] == {"strict": 2}


async def test_dialects_share_the_behaviour_table_and_counters(h: Harness) -> None:
    h.sim.set_behaviour("shared", fast(answer="same everywhere"))

    answers = [(await h.chat(d, "shared", stream=False)).answer for d in ALL_DIALECTS]

    assert answers == ["same everywhere"] * 4
    assert h.sim.stats()["requests"] == {"shared": 4}
