"""The proxy's observer on bytes written here from the specifications: any split of the
answer measures the same; faults classify as the canaries' error classes."""

from __future__ import annotations

import gzip
import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.config import Proxy
from exporter.errors import ErrorClass
from exporter.proxy.observe import Observer, blank, route_of
from exporter.result import TrafficOutcome, TrafficRecord


def proxy(protocol: str = "openai", **settings: Any) -> Proxy:
    return Proxy(name="p", protocol=protocol, listen="127.0.0.1:0", upstream="http://u", **settings)


def sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def openai_chunk(content: str | None, finish: str | None = None, **extra: Any) -> bytes:
    delta = {} if content is None else {"content": content}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return sse({"id": "c1", "model": "m-served", "choices": [choice], **extra})


OPENAI_STREAM = b"".join(
    [
        sse(
            {
                "id": "c1",
                "model": "m-served",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
            }
        ),
        openai_chunk("The answer"),
        openai_chunk(" is"),
        openai_chunk(" 42."),
        openai_chunk(None, "stop"),
        sse({"id": "c1", "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 4}}),
        b"data: [DONE]\n\n",
    ]
)
REQUEST = json.dumps(
    {"model": "m1", "stream": True, "messages": [{"role": "user", "content": "What is 6x7?"}]}
).encode()


def observe(
    body: bytes,
    pieces: list[int] | None = None,
    status: int = 200,
    kind: str = "text/event-stream",
    protocol: str = "openai",
    request: bytes = REQUEST,
    path: str = "/v1/chat/completions",
    encoding: str = "",
) -> TrafficRecord:
    obs = Observer(proxy(protocol), "POST", path, {}, sample=lambda: 0.0)
    obs.request_chunk(request)
    obs.request_done()
    obs.response(status, kind, encoding)
    cuts = [0, *sorted(set(pieces or [])), len(body)]
    for start, end in itertools.pairwise(cuts):
        if end > start:
            obs.chunk(body[start:end])
    return obs.finish()


def measured(record: TrafficRecord) -> tuple[Any, ...]:
    e = record.exchange
    return (
        record.outcome,
        e.error_class,
        e.text,
        e.finish_reason,
        e.input_tokens,
        e.output_tokens,
        e.response_model,
        e.chunks if hasattr(e, "chunks") else len(e.chunk_gaps),
    )


def test_a_stream_is_measured_as_the_canaries_measure_it() -> None:
    record = observe(OPENAI_STREAM)
    e = record.exchange
    assert record.outcome is TrafficOutcome.SUCCESS
    assert (record.route, record.model, record.stream) == ("chat", "m1", True)
    assert (e.text, e.finish_reason, e.input_tokens, e.output_tokens) == (
        "The answer is 42.",
        "stop",
        11,
        4,
    )
    assert e.response_model == "m-served"
    assert e.ttft_seconds is not None and len(e.chunk_gaps) == 2
    assert record.refusal is not None and not record.refusal.refused


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(OPENAI_STREAM) - 1), max_size=12))
def test_any_split_of_the_answer_measures_the_same(pieces: list[int]) -> None:
    whole = measured(observe(OPENAI_STREAM))
    assert measured(observe(OPENAI_STREAM, pieces)) == whole


ANTHROPIC_STREAM = b"".join(
    [
        sse(
            {
                "type": "message_start",
                "message": {"id": "m", "model": "claude-x", "usage": {"input_tokens": 9}},
            },
            "message_start",
        ),
        sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        ),
        b'event: ping\ndata: {"type": "ping"}\n\n',
        sse(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "I can't help with that."},
            },
            "content_block_delta",
        ),
        sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "refusal"},
                "usage": {"output_tokens": 6},
            },
            "message_delta",
        ),
        sse({"type": "message_stop"}, "message_stop"),
    ]
)
OLLAMA_STREAM = b"".join(
    json.dumps(o).encode() + b"\n"
    for o in [
        {"model": "llama", "message": {"role": "assistant", "content": "4"}, "done": False},
        {"model": "llama", "message": {"role": "assistant", "content": "2"}, "done": False},
        {
            "model": "llama",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 7,
            "eval_count": 2,
        },
    ]
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(ANTHROPIC_STREAM) - 1), max_size=8))
def test_anthropic_refusal_in_any_split(pieces: list[int]) -> None:
    record = observe(ANTHROPIC_STREAM, pieces, protocol="anthropic", path="/v1/messages")
    assert record.error_class is None
    assert record.exchange.text == "I can't help with that."
    assert record.refusal is not None and record.refusal.detector == "stop_reason"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(OLLAMA_STREAM) - 1), max_size=8))
def test_ollama_stream_in_any_split(pieces: list[int]) -> None:
    request = json.dumps({"model": "llama", "messages": []}).encode()  # streams by default
    record = observe(
        OLLAMA_STREAM,
        pieces,
        kind="application/x-ndjson",
        protocol="ollama",
        request=request,
        path="/api/chat",
    )
    assert (record.error_class, record.exchange.text, record.exchange.output_tokens) == (
        None,
        "42",
        2,
    )


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (OPENAI_STREAM[: len(OPENAI_STREAM) // 2], 200, ErrorClass.TRUNCATED),
        (b'data: {"error": {"message": "overloaded"}}\n\n', 200, ErrorClass.STREAM_ERROR),
        (b"data: {not json\n\n", 200, ErrorClass.MALFORMED),
        (b'{"error": {"message": "slow down"}}', 429, ErrorClass.RATE_LIMITED),
        (b"<html>bad gateway</html>", 502, ErrorClass.HTTP_5XX),
        (b'{"error": {"message": "bad key"}}', 401, ErrorClass.AUTH),
    ],
)
def test_faults_classify_as_the_canaries_do(body: bytes, status: int, expected: ErrorClass) -> None:
    record = observe(body, status=status)
    assert record.outcome is TrafficOutcome.ERROR
    assert record.error_class is expected
    assert record.refusal is None


def test_a_gzip_answer_is_read_inflated() -> None:
    whole = {
        "id": "x",
        "model": "m",
        "choices": [{"index": 0, "message": {"content": "42"}, "finish_reason": "stop"}],
    }
    body = gzip.compress(json.dumps(whole).encode())
    record = observe(body, [3, 10], kind="application/json", encoding="gzip")
    assert (record.error_class, record.exchange.text) == (None, "42")


def test_an_answer_past_max_observed_bytes_is_forwarded_not_read() -> None:
    obs = Observer(proxy(max_observed_bytes=64), "POST", "/v1/chat/completions", {})
    obs.request_done()
    obs.response(200, "text/event-stream")
    obs.chunk(OPENAI_STREAM)
    record = obs.finish()
    assert record.outcome is TrafficOutcome.SUCCESS and record.exchange.text == ""


def test_the_conversation_and_tenant_come_from_configured_headers_only() -> None:
    settings = {"conversation_header": "x-session", "tenant_header": "x-team"}
    headers = {"x-session": "s-1", "x-team": "blue", "x-other": "no"}
    obs = Observer(proxy(**settings), "POST", "/v1/chat/completions", headers)
    assert (obs.conversation_id, obs.tenant) == ("s-1", "blue")
    assert Observer(proxy(), "POST", "/v1/chat/completions", headers).tenant is None


def test_blank_keeps_no_content() -> None:
    record = blank(observe(OPENAI_STREAM))
    e = record.exchange
    assert (e.prompt, e.text, e.refusal, e.error_detail) == ("", "", "", "")
    assert e.output_tokens == 4


@pytest.mark.parametrize(
    ("protocol", "path", "route"),
    [
        ("openai", "/v1/chat/completions", "chat"),
        ("openai", "/v1/models", "models"),
        ("openai", "/v1/models/gpt-4o", "models"),
        ("openai", "/v1/embeddings", "embeddings"),
        ("openai", "/v1/completions", "completions"),
        ("openai", "/metrics", "other"),
        ("azure_openai", "/openai/deployments/gpt%2D4/chat/completions", "chat"),
        ("anthropic", "/v1/messages", "chat"),
        ("anthropic", "/v1/messages/count_tokens", "other"),
        ("ollama", "/api/chat", "chat"),
        ("ollama", "/api/tags", "models"),
        ("ollama", "/api/generate", "completions"),
    ],
)
def test_routes(protocol: str, path: str, route: str) -> None:
    assert route_of(proxy(protocol).protocol, path)[0] == route
    if protocol == "azure_openai":
        assert route_of(proxy(protocol).protocol, path)[1] == "gpt-4"
