"""Azure OpenAI, the OpenAI dialect on another address: request building (deployment path,
`api-version`, `api-key`, no `model`), its stream frames, and the HTTP 400 `content_filter`
that refuses a prompt. The network path is covered by the integration suite."""

from __future__ import annotations

import json
from typing import Any

import pytest

from exporter.config import Message, RunSpec, parse_config
from exporter.errors import ErrorClass, ProbeError
from exporter.protocols import openai, probe_for
from exporter.protocols.http import Recorder, StreamState, end_stream
from exporter.protocols.openai import apply_chunk, azure_request, filtered_prompt, openai_request
from exporter.result import Exchange

KEY = "azure-key-0123456789abcdef"

CONFIG = """
targets:
  - name: az
    protocol: {protocol}
    base_url: {base_url}
    model: {model}
    api_key: {key}
    {extra}
canaries:
  - name: c
    prompt: hi
    max_tokens: 16
"""


def spec_for(
    base_url: str = "https://contoso.openai.azure.com",
    model: str = "gpt-4o-mini-prod",
    protocol: str = "azure_openai",
    extra: str = "",
) -> RunSpec:
    text = CONFIG.format(protocol=protocol, base_url=base_url, model=model, key=KEY, extra=extra)
    return next(iter(parse_config(text, "test.yaml").plan().values()))


HI = [Message(role="user", content="hi")]


# --- request -----------------------------------------------------------------------------


def test_is_registered_for_its_protocol() -> None:
    assert probe_for(spec_for().target.protocol) is openai.probe_azure
    assert probe_for(spec_for(protocol="openai").target.protocol) is openai.probe


@pytest.mark.parametrize(
    "base_url",
    ["https://contoso.openai.azure.com", "https://contoso.openai.azure.com/"],
    ids=["bare", "slash"],
)
def test_url_names_the_deployment_and_api_version(base_url: str) -> None:
    assert azure_request(spec_for(base_url), HI).url == (
        "https://contoso.openai.azure.com/openai/deployments/gpt-4o-mini-prod"
        "/chat/completions?api-version=2024-10-21"
    )


def test_api_version_and_deployment_are_configured_and_quoted() -> None:
    spec = spec_for(model="my deployment", extra="api_version: 2025-01-01-preview")
    assert azure_request(spec, HI).url.endswith(
        "/openai/deployments/my%20deployment/chat/completions?api-version=2025-01-01-preview"
    )


def test_key_goes_in_api_key_not_authorization() -> None:
    request = azure_request(spec_for(extra="headers: {x-team: ops}"), HI)
    assert request.headers == {"content-type": "application/json", "x-team": "ops", "api-key": KEY}
    assert KEY not in repr(request)


def test_body_has_no_model() -> None:
    body = azure_request(spec_for(extra="seed: 3\n    temperature: 0"), HI).body
    assert body == {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 16,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.0,
        "seed": 3,
    }


def test_openai_request_differs_only_in_url_auth_and_model() -> None:
    spec = spec_for(base_url="https://api.openai.com/v1/", protocol="openai")
    request = openai_request(spec, HI)
    assert request.url == "https://api.openai.com/v1/chat/completions"
    assert request.headers == {"content-type": "application/json", "authorization": f"Bearer {KEY}"}
    azure = azure_request(spec, HI)
    assert request.body == {"model": "gpt-4o-mini-prod", **azure.body}


def test_a_first_turn_is_rendered_once() -> None:
    spec = spec_for(protocol="openai")  # its canary's prompt: "hi"
    request, payload = openai.OPENAI.rendered(spec, HI)
    assert json.loads(payload) == openai_request(spec, HI).body
    assert openai.OPENAI.rendered(spec, list(HI)) == (request, payload)
    assert openai.OPENAI.rendered(spec, list(HI))[1] is payload  # kept, not rendered again
    # another turn (or a judge's question) is rendered each time, and not kept
    other = [*HI, Message(role="assistant", content="42"), Message(role="user", content="and?")]
    assert json.loads(openai.OPENAI.rendered(spec, other)[1])["messages"][2]["content"] == "and?"
    assert openai.OPENAI.rendered(spec, other)[1] is not openai.OPENAI.rendered(spec, other)[1]
    assert openai.OPENAI.rendered(spec, HI)[1] is payload
    # a spec equal to the first but another object (a reload) gets its own rendering
    again = spec_for(protocol="openai")
    assert openai.OPENAI.rendered(again, HI)[1] is not payload
    assert openai.OPENAI.rendered(again, HI)[1] == payload


# --- streams -----------------------------------------------------------------------------

PROMPT_FILTER = {
    "choices": [],
    "created": 0,
    "id": "",
    "model": "",
    "object": "",
    "prompt_filter_results": [
        {
            "prompt_index": 0,
            "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}},
        }
    ],
}


def azure_chunk(content: str | None, finish_reason: str | None = None) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    return {
        "choices": [
            {
                "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}},
                "delta": delta,
                "finish_reason": finish_reason,
                "index": 0,
                "logprobs": None,
            }
        ],
        "created": 1_717_000_000,
        "id": "chatcmpl-9Uz",
        "model": "gpt-4o-mini-2024-07-18",
        "object": "chat.completion.chunk",
        "system_fingerprint": "fp_5f4bad809a",
    }


def fold(*chunks: dict[str, Any]) -> Exchange:
    rec, state = Recorder(streamed=True), StreamState()
    for n, data in enumerate(chunks, start=1):
        apply_chunk(json.loads(json.dumps(data)), rec, state, n / 10)
    end_stream(rec, state, "cut")
    return rec.build()


def test_prompt_filter_frames_are_skipped() -> None:
    exchange = fold(
        PROMPT_FILTER, azure_chunk(""), azure_chunk("The answer is 42."), azure_chunk(None, "stop")
    )
    assert exchange.text == "The answer is 42."
    assert exchange.ttft_seconds == pytest.approx(0.3)
    # the filter frame's empty model and id do not overwrite the real ones
    assert exchange.response_model == "gpt-4o-mini-2024-07-18"
    assert exchange.response_id == "chatcmpl-9Uz"
    assert exchange.finish_reason == "stop"


def test_filtered_output_is_a_refusal_not_an_empty_answer() -> None:
    exchange = fold(PROMPT_FILTER, azure_chunk(""), azure_chunk(None, "content_filter"))
    assert exchange.error_class is None
    assert exchange.finish_reason == "content_filter"
    assert exchange.text == ""


def test_stop_without_content_is_still_an_empty_answer() -> None:
    with pytest.raises(ProbeError) as info:
        fold(PROMPT_FILTER, azure_chunk(""), azure_chunk(None, "stop"))
    assert info.value.error_class is ErrorClass.EMPTY_ANSWER


# --- a filtered prompt: HTTP 400 code content_filter -------------------------------------

FILTERED = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
        "content management policy.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {"violence": {"filtered": True, "severity": "high"}},
        },
    }
}


def test_filtered_prompt_is_a_refusal() -> None:
    rec = Recorder(streamed=True)
    assert filtered_prompt(400, json.dumps(FILTERED).encode(), rec)
    exchange = rec.build()
    assert exchange.error_class is None
    assert exchange.finish_reason == "content_filter"
    assert exchange.refusal == FILTERED["error"]["message"]
    assert exchange.text == ""
    assert exchange.ttft_seconds is None  # no token was generated


def test_filtered_prompt_without_message_still_refuses() -> None:
    rec = Recorder(streamed=False)
    assert filtered_prompt(400, b'{"error": {"code": "content_filter"}}', rec)
    assert rec.build().refusal == "prompt filtered (content_filter)"


@pytest.mark.parametrize(
    ("status", "raw"),
    [
        (400, b'{"error": {"code": "invalid_request", "message": "bad"}}'),
        (400, b'{"error": "content_filter"}'),
        (400, b'{"code": "content_filter"}'),
        (400, b"<html>Bad Request</html>"),
        (400, b""),
        (400, b"[" * 60_000),
        (500, json.dumps(FILTERED).encode()),
        (429, json.dumps(FILTERED).encode()),
    ],
    ids=[
        "other-code",
        "error-string",
        "code-not-in-error",
        "html",
        "empty",
        "deep-nesting",
        "status-500",
        "status-429",
    ],
)
def test_other_errors_stay_errors(status: int, raw: bytes) -> None:
    rec = Recorder(streamed=True)
    assert not filtered_prompt(status, raw, rec)
    assert (rec.finish_reason, rec.refusal) == (None, [])  # nothing recorded: `post` raises


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        ({"choices": [{"delta": [None]}]}, "delta is not a JSON object"),
        ({"choices": [{"delta": "text"}]}, "delta is not a JSON object"),
        ({"choices": 5}, "choices is not a JSON array"),
        ({"choices": {"0": {}}}, "choices is not a JSON array"),
        ({"choices": ["x"]}, "choice is not a JSON object"),
    ],
    ids=["delta-list", "delta-string", "choices-number", "choices-object", "choice-string"],
)
def test_chunks_of_the_wrong_shape_are_malformed(data: dict[str, Any], detail: str) -> None:
    # found by tests/fuzz: a list or string `delta` crashed the reader (an internal error)
    with pytest.raises(ProbeError) as caught:
        apply_chunk(data, Recorder(streamed=True), StreamState(), 0.1)
    assert (caught.value.error_class, caught.value.detail) == (ErrorClass.MALFORMED, detail)
