"""The Ollama `/api/chat` dialect's pure parts: request building, the folding of streamed
NDJSON objects and whole responses into a `Recorder`, nanosecond timings, and the
end-of-stream rules. The network path is covered by the integration suite."""

from __future__ import annotations

import json
from typing import Any

import pytest

from exporter.config import Message, RunSpec, parse_config
from exporter.errors import ErrorClass, ProbeError
from exporter.ndjson import NDJSONDecoder
from exporter.protocols import ollama, probe_for
from exporter.protocols.http import Recorder, StreamState, end_stream, finish_answer
from exporter.protocols.ollama import apply_object, apply_response, build_request, server_timings
from exporter.result import Exchange

CONFIG = """
targets:
  - name: local
    protocol: ollama
    base_url: {base_url}
    model: llama3.2
    {extra}
canaries:
  - name: c
    prompt: hi
    max_tokens: 48
"""


def spec_for(base_url: str = "http://localhost:11434", extra: str = "") -> RunSpec:
    config = parse_config(CONFIG.format(base_url=base_url, extra=extra), "test.yaml")
    return next(iter(config.plan().values()))


def msg(role: str, content: str) -> Message:
    return Message(role=role, content=content)  # type: ignore[arg-type]


# --- request -----------------------------------------------------------------------------


def test_is_registered_for_its_protocol() -> None:
    assert probe_for(spec_for().target.protocol) is ollama.probe


@pytest.mark.parametrize(
    "base_url", ["http://localhost:11434", "http://localhost:11434/"], ids=["bare", "slash"]
)
def test_url_is_api_chat(base_url: str) -> None:
    assert build_request(spec_for(base_url), [msg("user", "hi")]).url == (
        "http://localhost:11434/api/chat"
    )


def test_body_keeps_system_messages_and_puts_sampling_in_options() -> None:
    conversation = [msg("system", "Be brief."), msg("user", "What is 17+25?")]
    extra = "temperature: 0\n    seed: 42"
    body = build_request(spec_for(extra=extra), conversation).body
    assert body == {
        "model": "llama3.2",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 17+25?"},
        ],
        "stream": True,
        "options": {"num_predict": 48, "temperature": 0.0, "seed": 42},
    }


def test_options_leave_out_unset_sampling() -> None:
    body = build_request(spec_for(extra="stream: false"), [msg("user", "hi")]).body
    assert body["options"] == {"num_predict": 48}
    assert body["stream"] is False
    assert "max_tokens" not in body  # Ollama's name for it is options.num_predict


def test_headers_without_and_with_a_key_for_a_proxy() -> None:
    plain = build_request(spec_for(), [msg("user", "hi")]).headers
    assert plain == {"content-type": "application/json"}
    guarded = build_request(spec_for(extra="api_key: sk-proxy-0123"), [msg("user", "hi")])
    assert guarded.headers["authorization"] == "Bearer sk-proxy-0123"
    assert "sk-proxy-0123" not in repr(guarded)


# --- streams -----------------------------------------------------------------------------


def chunk(content: str, **fields: Any) -> dict[str, Any]:
    return {
        "model": "llama3.2",
        "created_at": "2025-06-01T12:00:00.000000Z",
        "message": {"role": "assistant", "content": content},
        "done": False,
        **fields,
    }


def done(**fields: Any) -> dict[str, Any]:
    final = {
        "done": True,
        "done_reason": "stop",
        "total_duration": 4_935_886_791,
        "load_duration": 534_986_708,
        "prompt_eval_count": 26,
        "prompt_eval_duration": 107_345_000,
        "eval_count": 3,
        "eval_duration": 4_289_000_000,
    }
    return chunk("", **{**final, **fields})


def fold(*objects: Any, prompt_chars: int = 0) -> Exchange:
    """Run a stream through the NDJSON decoder and the dialect, one object per 0.1 s, as
    `read_stream` does over the network; the recorder frozen into an `Exchange`."""
    decoder = NDJSONDecoder()
    rec = Recorder(streamed=True, prompt_chars=prompt_chars)
    state = StreamState()
    lines = b"".join(json.dumps(o).encode() + b"\n" for o in objects)
    for n, data in enumerate(decoder.feed(lines), start=1):
        if not state.done:
            apply_object(data, rec, state, n / 10)
    end_stream(rec, state, "cut")
    return rec.build()


def fold_error(*objects: Any) -> ProbeError:
    with pytest.raises(ProbeError) as info:
        fold(*objects)
    return info.value


def test_text_stream() -> None:
    exchange = fold(chunk("The answer"), chunk(" is"), chunk(" 42."), done())
    assert exchange.text == "The answer is 42."
    assert exchange.finish_reason == "stop"
    assert exchange.response_model == "llama3.2"
    assert exchange.response_id is None  # Ollama sends no id
    assert (exchange.input_tokens, exchange.output_tokens) == (26, 3)
    assert not exchange.tokens_estimated
    assert exchange.ttft_seconds == pytest.approx(0.1)
    assert exchange.chunk_gaps == pytest.approx((0.1, 0.1))


def test_nanosecond_durations_become_server_timings_in_seconds() -> None:
    exchange = fold(chunk("42"), done())
    assert exchange.server_timings == pytest.approx(
        {"total": 4.935886791, "load": 0.534986708, "prompt_eval": 0.107345, "eval": 4.289}
    )


def test_server_timings_keep_only_durations_present_and_sane() -> None:
    data = {
        "total_duration": 1_500_000_000,
        "load_duration": None,
        "eval_duration": -5,
        "prompt_eval_duration": True,
        "unrelated_duration": 7,
    }
    assert server_timings(data) == {"total": 1.5}
    assert server_timings({"eval_duration": 10**400}) == {}
    assert server_timings({"eval_duration": float("inf")}) == {}
    assert server_timings({"eval_duration": 2.5e9}) == {"eval": 2.5}
    assert server_timings({}) == {}


def test_role_only_and_empty_chunks_are_not_the_first_token() -> None:
    exchange = fold(chunk(""), chunk(""), chunk("42"), done())
    assert exchange.ttft_seconds == pytest.approx(0.3)


def test_thinking_is_not_the_first_token_nor_the_answer() -> None:
    thinking = [
        {**chunk(""), "message": {"role": "assistant", "content": "", "thinking": "17+25"}},
        {**chunk(""), "message": {"role": "assistant", "content": "", "thinking": "=42"}},
    ]
    exchange = fold(*thinking, chunk("42"), done())
    assert exchange.text == "42"
    assert exchange.ttft_seconds == pytest.approx(0.3)


def test_done_reason_length_is_kept() -> None:
    assert fold(chunk("Once"), done(done_reason="length")).finish_reason == "length"


def test_missing_counts_are_estimated_from_chunks_and_the_prompt() -> None:
    final = done()
    del final["eval_count"], final["prompt_eval_count"]
    exchange = fold(chunk("a"), chunk("b"), final, prompt_chars=41)
    assert (exchange.output_tokens, exchange.tokens_estimated) == (2, True)
    assert exchange.input_tokens == 11  # four characters a token, rounded up


def test_content_in_the_done_object_counts() -> None:
    assert fold(chunk("4"), {**done(), "message": {"role": "assistant", "content": "2"}}).text == (
        "42"
    )


def test_error_object_is_a_stream_error() -> None:
    exc = fold_error(chunk("The"), {"error": "an error was encountered while running the model"})
    assert exc.error_class is ErrorClass.STREAM_ERROR
    assert exc.detail == "error in stream: an error was encountered while running the model"


def test_openai_shaped_error_object_from_a_proxy() -> None:
    exc = fold_error({"error": {"message": "upstream overloaded", "type": "server_error"}})
    assert exc.detail == "error in stream: upstream overloaded"


@pytest.mark.parametrize(
    "objects",
    [[chunk("The"), chunk(" answer")], [chunk("The"), chunk("", done=False)], []],
    ids=["mid-answer", "done-false", "nothing"],
)
def test_stream_without_done_is_truncated(objects: list[Any]) -> None:
    exc = fold_error(*objects)
    assert (exc.error_class, exc.detail) == (ErrorClass.TRUNCATED, "cut")


def test_done_without_content_is_an_empty_answer() -> None:
    assert fold_error(chunk(""), done(eval_count=0)).error_class is ErrorClass.EMPTY_ANSWER


def test_done_marks_the_end() -> None:
    state = StreamState()
    apply_object(chunk("4"), Recorder(streamed=True), state, 0.1)
    assert not state.done
    apply_object(done(), Recorder(streamed=True), state, 0.2)
    assert state.done


def test_done_must_be_true_not_truthy() -> None:
    state = StreamState()
    apply_object(chunk("4", done="yes"), Recorder(streamed=True), state, 0.1)
    assert not state.done


@pytest.mark.parametrize("data", [[1], "42", 42, None], ids=["list", "string", "number", "null"])
def test_non_object_lines_are_malformed(data: Any) -> None:
    with pytest.raises(ProbeError) as info:
        apply_object(data, Recorder(streamed=True), StreamState(), 0.1)
    assert info.value.error_class is ErrorClass.MALFORMED


# --- whole responses (stream: false) -----------------------------------------------------


def whole(data: Any) -> Exchange:
    rec = Recorder(streamed=False)
    apply_response(data, rec)
    finish_answer(rec)
    return rec.build()


def test_whole_response() -> None:
    exchange = whole(done(message={"role": "assistant", "content": "The answer is 42."}))
    assert exchange.text == "The answer is 42."
    assert exchange.finish_reason == "stop"
    assert (exchange.input_tokens, exchange.output_tokens) == (26, 3)
    assert exchange.server_timings["eval"] == pytest.approx(4.289)
    assert exchange.ttft_seconds is None  # one body has no first token


def test_whole_response_error_is_a_stream_error() -> None:
    with pytest.raises(ProbeError) as info:
        whole({"error": "model 'llama9' not found"})
    assert info.value.error_class is ErrorClass.STREAM_ERROR
    assert info.value.detail == "error in body: model 'llama9' not found"


@pytest.mark.parametrize(
    "data",
    [[], "42", {"model": "llama3.2", "done": True}, {"message": "42", "done": True}],
    ids=["list", "string", "no-message", "message-string"],
)
def test_malformed_whole_response(data: Any) -> None:
    with pytest.raises(ProbeError) as info:
        whole(data)
    assert info.value.error_class is ErrorClass.MALFORMED
