"""The Anthropic Messages dialect's pure parts: request building, the folding of stream
events and whole messages into a `Recorder`, and the end-of-stream rules. The network
path is covered by the integration suite against the simulator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from exporter.config import Message, RunSpec, parse_config
from exporter.errors import ErrorClass, ProbeError
from exporter.protocols import anthropic, probe_for
from exporter.protocols.anthropic import RATELIMIT_PREFIX, apply_event, apply_message, build_request
from exporter.protocols.http import Recorder, StreamState, end_stream, finish_answer, ratelimit
from exporter.result import Exchange, RateLimit
from exporter.sse import SSEDecoder

KEY = "sk-ant-test-0123456789"

CONFIG = """
targets:
  - name: claude
    protocol: anthropic
    base_url: {base_url}
    model: claude-sonnet-4-5
    {extra}
canaries:
  - name: c
    prompt: hi
    max_tokens: 32
"""


def spec_for(base_url: str = "https://api.anthropic.com", extra: str = "") -> RunSpec:
    config = parse_config(CONFIG.format(base_url=base_url, extra=extra), "test.yaml")
    return next(iter(config.plan().values()))


def msg(role: str, content: str) -> Message:
    return Message(role=role, content=content)  # type: ignore[arg-type]


# --- request -----------------------------------------------------------------------------


def test_is_registered_for_its_protocol() -> None:
    assert probe_for(spec_for().target.protocol) is anthropic.probe


@pytest.mark.parametrize(
    "base_url", ["https://api.anthropic.com", "https://api.anthropic.com/"], ids=["bare", "slash"]
)
def test_url_is_messages_under_the_sdk_base_url(base_url: str) -> None:
    request = build_request(spec_for(base_url), [msg("user", "hi")])
    assert request.url == "https://api.anthropic.com/v1/messages"


def test_headers_carry_key_version_and_custom_headers() -> None:
    extra = f'api_key: {KEY}\n    anthropic_version: "2099-01-01"\n    headers: {{x-team: ops}}'
    headers = build_request(spec_for(extra=extra), [msg("user", "hi")]).headers
    assert headers == {
        "content-type": "application/json",
        "anthropic-version": "2099-01-01",
        "x-team": "ops",
        "x-api-key": KEY,
    }
    assert "authorization" not in headers


def test_default_version_and_no_key_header_without_a_key() -> None:
    headers = build_request(spec_for(), [msg("user", "hi")]).headers
    assert headers["anthropic-version"] == "2023-06-01"
    assert "x-api-key" not in headers


def test_request_repr_never_shows_the_key() -> None:
    request = build_request(spec_for(extra=f"api_key: {KEY}"), [msg("user", "hi")])
    assert KEY not in repr(request)
    assert KEY not in str(request)


def test_body_hoists_system_messages_to_the_top_level() -> None:
    conversation = [
        msg("system", "Be brief."),
        msg("user", "What is 2+2?"),
        msg("assistant", "4"),
        msg("system", "Answer with a number."),
        msg("user", "And 3+3?"),
    ]
    body = build_request(spec_for(), conversation).body
    assert body == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 32,
        "messages": [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": "And 3+3?"},
        ],
        "stream": True,
        "system": "Be brief.\n\nAnswer with a number.",
    }


def test_body_without_system_has_no_system_key() -> None:
    body = build_request(spec_for(), [msg("user", "hi")]).body
    assert "system" not in body
    assert body["max_tokens"] == 32  # required by the Messages API


def test_body_sends_temperature_but_never_seed() -> None:
    extra = "temperature: 0.5\n    seed: 7\n    stream: false"
    body = build_request(spec_for(extra=extra), [msg("user", "hi")]).body
    assert body["temperature"] == 0.5
    assert body["stream"] is False
    assert "seed" not in body  # the Messages API has none and rejects unknown fields


def test_ratelimit_headers_in_anthropic_order() -> None:
    headers = CIMultiDictProxy(
        CIMultiDict(
            {
                "anthropic-ratelimit-requests-limit": "50",
                "anthropic-ratelimit-requests-remaining": "49",
                "anthropic-ratelimit-requests-reset": "2025-06-01T12:00:01Z",
                "anthropic-ratelimit-tokens-limit": "40000",
                "anthropic-ratelimit-tokens-remaining": "10000",
            }
        )
    )
    limits = ratelimit(headers, RATELIMIT_PREFIX)
    assert limits == RateLimit(
        limit_requests=50.0,
        remaining_requests=49.0,
        limit_tokens=40000.0,
        remaining_tokens=10000.0,
    )
    assert limits.remaining_ratio("tokens") == 0.25


# --- streams -----------------------------------------------------------------------------


def sse(*events: tuple[str, dict[str, Any]]) -> bytes:
    return b"".join(
        f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events
    )


def ev(kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    return kind, {"type": kind, **fields}


MESSAGE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "content": [],
    "model": "claude-sonnet-4-5-20250929",
    "stop_reason": None,
    "stop_sequence": None,
    "usage": {"input_tokens": 25, "output_tokens": 1},
}
START = ev("message_start", message=MESSAGE)
PING = ev("ping")
STOP = ev("message_stop")


def text_block(index: int, *texts: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ev("content_block_start", index=index, content_block={"type": "text", "text": ""}),
        *(
            ev("content_block_delta", index=index, delta={"type": "text_delta", "text": t})
            for t in texts
        ),
        ev("content_block_stop", index=index),
    ]


def message_delta(stop_reason: str | None, output_tokens: int, **usage: int) -> Any:
    return ev(
        "message_delta",
        delta={"stop_reason": stop_reason, "stop_sequence": None},
        usage={"output_tokens": output_tokens, **usage},
    )


def fold(*events: tuple[str, dict[str, Any]], prompt_chars: int = 0) -> Exchange:
    """Run a stream through the SSE decoder and the dialect, one event per 0.1 s, as
    `read_stream` does over the network; the recorder frozen into an `Exchange`."""
    rec = Recorder(streamed=True, prompt_chars=prompt_chars)
    state = StreamState()
    for n, event in enumerate(SSEDecoder().feed(sse(*events)), start=1):
        if not state.done:
            apply_event(event.event, json.loads(event.data), rec, state, n / 10)
    end_stream(rec, state, "cut")
    return rec.build()


def fold_error(*events: tuple[str, dict[str, Any]]) -> ProbeError:
    with pytest.raises(ProbeError) as info:
        fold(*events)
    return info.value


def test_text_stream() -> None:
    exchange = fold(
        START, *text_block(0, "The answer", " is", " 42."), message_delta("end_turn", 15), STOP
    )
    assert exchange.text == "The answer is 42."
    assert exchange.finish_reason == "end_turn"
    assert exchange.response_model == "claude-sonnet-4-5-20250929"
    assert exchange.response_id == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert (exchange.input_tokens, exchange.output_tokens) == (25, 15)
    assert not exchange.tokens_estimated
    # events 1-2 are message_start and the empty block start: not the first token
    assert exchange.ttft_seconds == pytest.approx(0.3)
    assert exchange.chunk_gaps == pytest.approx((0.1, 0.1))
    assert exchange.error_class is None


def test_pings_anywhere_are_ignored() -> None:
    blocks = text_block(0, "4", "2")
    events = [PING, START, PING, blocks[0], PING, blocks[1], PING, PING, blocks[2], *blocks[3:]]
    exchange = fold(*events, PING, message_delta("end_turn", 2), PING, STOP)
    assert exchange.text == "42"
    assert exchange.ttft_seconds == pytest.approx(0.6)  # the 6th event is the first text
    assert exchange.chunk_gaps == pytest.approx((0.3,))  # pings between text deltas count


def test_thinking_deltas_are_not_the_first_token_nor_the_answer() -> None:
    thinking = [
        ev("content_block_start", index=0, content_block={"type": "thinking", "thinking": ""}),
        ev("content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": "17+25"}),
        ev("content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": " = 42"}),
        ev("content_block_delta", index=0, delta={"type": "signature_delta", "signature": "EqQ"}),
        ev("content_block_stop", index=0),
    ]
    exchange = fold(START, *thinking, *text_block(1, "42"), message_delta("end_turn", 40), STOP)
    assert exchange.text == "42"
    assert exchange.ttft_seconds == pytest.approx(0.8)
    assert exchange.chunk_gaps == ()


def test_tool_input_deltas_are_not_the_answer() -> None:
    tool = [
        ev(
            "content_block_start",
            index=1,
            content_block={"type": "tool_use", "id": "toolu_01", "name": "calc", "input": {}},
        ),
        ev("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": ""}),
        ev(
            "content_block_delta",
            index=1,
            delta={"type": "input_json_delta", "partial_json": '{"expr": "17+25"}'},
        ),
        ev("content_block_stop", index=1),
    ]
    exchange = fold(
        START, *text_block(0, "Let me compute."), *tool, message_delta("tool_use", 30), STOP
    )
    assert exchange.text == "Let me compute."
    assert exchange.finish_reason == "tool_use"


def test_text_in_a_content_block_start_counts() -> None:
    start = ev("content_block_start", index=0, content_block={"type": "text", "text": "4"})
    delta = ev("content_block_delta", index=0, delta={"type": "text_delta", "text": "2"})
    exchange = fold(START, start, delta, message_delta("end_turn", 1), STOP)
    assert exchange.text == "42"
    assert exchange.ttft_seconds == pytest.approx(0.2)


def test_unknown_event_types_are_skipped() -> None:
    novel = ev("content_block_flourish", index=0, sparkle=True)
    exchange = fold(START, novel, *text_block(0, "42"), message_delta("end_turn", 1), STOP)
    assert exchange.text == "42"


def test_usage_is_cumulative_and_counts_cached_input() -> None:
    start = ev(
        "message_start",
        message={
            **MESSAGE,
            "usage": {
                "input_tokens": 10,
                "cache_creation_input_tokens": 100,
                "cache_read_input_tokens": 1000,
                "output_tokens": 1,
            },
        },
    )
    exchange = fold(start, *text_block(0, "42"), message_delta("end_turn", 7), STOP)
    assert (exchange.input_tokens, exchange.output_tokens) == (1110, 7)


def test_output_tokens_take_the_last_cumulative_count() -> None:
    exchange = fold(
        START, *text_block(0, "a", "b"), message_delta(None, 3), message_delta("end_turn", 9), STOP
    )
    assert exchange.output_tokens == 9


def test_message_delta_input_tokens_update_the_count() -> None:
    exchange = fold(
        START, *text_block(0, "42"), message_delta("end_turn", 2, input_tokens=30), STOP
    )
    assert exchange.input_tokens == 30


def test_missing_usage_is_estimated_from_chunks_and_the_prompt() -> None:
    start = ev("message_start", message={k: v for k, v in MESSAGE.items() if k != "usage"})
    delta = ev("message_delta", delta={"stop_reason": "end_turn"})
    exchange = fold(start, *text_block(0, "a", "b", "c"), delta, STOP, prompt_chars=8)
    assert exchange.output_tokens == 3
    assert exchange.tokens_estimated
    assert exchange.input_tokens == 2  # four characters a token


def test_reported_output_with_no_input_estimates_the_input_alone() -> None:
    start = ev("message_start", message={k: v for k, v in MESSAGE.items() if k != "usage"})
    exchange = fold(
        start, *text_block(0, "a", "b"), message_delta("end_turn", 7), STOP, prompt_chars=9
    )
    assert (exchange.input_tokens, exchange.output_tokens) == (3, 7)
    assert exchange.tokens_estimated  # the input is, though the output is not


def test_error_event_is_a_stream_error() -> None:
    error = ev("error", error={"type": "overloaded_error", "message": "Overloaded"})
    exc = fold_error(START, *text_block(0, "The ans"), error)
    assert exc.error_class is ErrorClass.STREAM_ERROR
    assert exc.detail == "error event in stream: overloaded_error: Overloaded"


@pytest.mark.parametrize(
    ("error", "detail"),
    [
        ({"type": "api_error"}, "api_error"),
        ({"message": "Internal"}, "Internal"),
        ({}, "unknown error"),
        ("plain text", "plain text"),
    ],
    ids=["type-only", "message-only", "empty", "string"],
)
def test_error_event_detail_with_partial_error_objects(error: Any, detail: str) -> None:
    exc = fold_error(START, ev("error", error=error))
    assert exc.detail == f"error event in stream: {detail}"


def test_error_event_named_only_by_the_sse_event() -> None:
    rec, state = Recorder(streamed=True), StreamState()
    with pytest.raises(ProbeError) as info:
        apply_event("error", {"error": {"type": "overloaded_error"}}, rec, state, 0.1)
    assert info.value.error_class is ErrorClass.STREAM_ERROR


def test_refusal_without_text_is_a_refusal_not_an_empty_answer() -> None:
    exchange = fold(START, message_delta("refusal", 0), STOP)
    assert exchange.error_class is None
    assert exchange.finish_reason == "refusal"
    assert exchange.text == ""
    assert exchange.ttft_seconds is None


def test_refusal_after_partial_text_keeps_the_text() -> None:
    exchange = fold(START, *text_block(0, "Here is how"), message_delta("refusal", 4), STOP)
    assert exchange.finish_reason == "refusal"
    assert exchange.text == "Here is how"


def test_no_text_and_no_refusal_is_an_empty_answer() -> None:
    exc = fold_error(START, *text_block(0), message_delta("end_turn", 0), STOP)
    assert exc.error_class is ErrorClass.EMPTY_ANSWER


def test_an_end_with_no_text_and_no_stop_reason_was_cut_off() -> None:
    exc = fold_error(START, *text_block(0), STOP)
    assert exc.error_class is ErrorClass.TRUNCATED
    assert "no content and no finish reason" in exc.detail


def test_max_tokens_stop_reason_is_kept() -> None:
    exchange = fold(START, *text_block(0, "Once upon"), message_delta("max_tokens", 32), STOP)
    assert exchange.finish_reason == "max_tokens"


@pytest.mark.parametrize(
    "events",
    [
        [START, *text_block(0, "The ans")],
        [START, *text_block(0, "The answer"), message_delta(None, 2)],
        [START],
        [],
    ],
    ids=["mid-block", "delta-without-stop-reason", "after-start", "nothing"],
)
def test_stream_without_message_stop_or_stop_reason_is_truncated(events: Any) -> None:
    assert fold_error(*events).error_class is ErrorClass.TRUNCATED


def test_stop_reason_without_message_stop_is_enough() -> None:
    exchange = fold(START, *text_block(0, "42"), message_delta("end_turn", 1))
    assert exchange.text == "42"
    assert exchange.error_class is None


def test_message_stop_marks_the_end() -> None:
    rec, state = Recorder(streamed=True), StreamState()
    apply_event("message_stop", {"type": "message_stop"}, rec, state, 0.1)
    assert state.done


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("message_start", [1, 2]),
        ("ping", "ping"),
        ("message_start", {"type": "message_start"}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": "end_turn"}),
        ("content_block_start", {"type": "content_block_start", "content_block": None}),
    ],
    ids=["list", "string", "no-message", "no-delta", "delta-not-object", "no-block"],
)
def test_malformed_events(name: str, data: Any) -> None:
    with pytest.raises(ProbeError) as info:
        apply_event(name, data, Recorder(streamed=True), StreamState(), 0.1)
    assert info.value.error_class is ErrorClass.MALFORMED


# --- whole messages (stream: false) ------------------------------------------------------


def whole(data: Any) -> Exchange:
    rec = Recorder(streamed=False)
    apply_message(data, rec)
    finish_answer(rec)
    return rec.build()


def test_whole_message() -> None:
    data = {
        **MESSAGE,
        "content": [
            {"type": "thinking", "thinking": "17+25=42", "signature": "EqQ"},
            {"type": "text", "text": "The answer "},
            {"type": "text", "text": "is 42."},
        ],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 25, "output_tokens": 6},
    }
    exchange = whole(data)
    assert exchange.text == "The answer is 42."
    assert exchange.finish_reason == "end_turn"
    assert (exchange.input_tokens, exchange.output_tokens) == (25, 6)
    assert exchange.response_id == MESSAGE["id"]
    assert exchange.response_model == MESSAGE["model"]
    assert exchange.ttft_seconds is None  # one body has no first token


def test_whole_message_refusal_without_content() -> None:
    exchange = whole({**MESSAGE, "content": [], "stop_reason": "refusal"})
    assert exchange.finish_reason == "refusal"
    assert exchange.error_class is None


def test_whole_message_without_text_is_empty() -> None:
    with pytest.raises(ProbeError) as info:
        whole({**MESSAGE, "content": [], "stop_reason": "end_turn"})
    assert info.value.error_class is ErrorClass.EMPTY_ANSWER


def test_whole_message_estimates_missing_usage_from_characters() -> None:
    data = {**MESSAGE, "content": [{"type": "text", "text": "x" * 9}], "stop_reason": "end_turn"}
    del data["usage"]
    exchange = whole(data)
    assert (exchange.output_tokens, exchange.tokens_estimated) == (3, True)


def test_error_body_after_200_is_a_stream_error() -> None:
    data = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(ProbeError) as info:
        whole(data)
    assert info.value.error_class is ErrorClass.STREAM_ERROR
    assert info.value.detail == "error in body: overloaded_error: Overloaded"


@pytest.mark.parametrize(
    "data",
    [[], "text", {**MESSAGE, "content": None}, {**MESSAGE, "content": "42"}],
    ids=["list", "string", "no-content", "content-string"],
)
def test_malformed_whole_message(data: Any) -> None:
    with pytest.raises(ProbeError) as info:
        whole(data)
    assert info.value.error_class is ErrorClass.MALFORMED
