"""Azure OpenAI: OpenAI's chunks plus Azure's content-filter annotations.

    POST /openai/deployments/{deployment}/chat/completions?api-version=...
         ``api-key: <key>``; the body names no model: the deployment is the model

Azure's quirks, from its REST reference: a stream opens with a frame whose ``choices``
is empty and which carries ``prompt_filter_results``; every choice carries
``content_filter_results``; filtered output ends with ``finish_reason: content_filter``;
a filtered prompt is an HTTP 400 with ``code: content_filter``. Gateway errors (401,
429) have Azure's ``{"error": {"code", "message"}}`` shape, model errors OpenAI's.
"""

from __future__ import annotations

import math
from typing import Any, Final

from aiohttp import web

from exporter.simulator.behaviour import Behaviour
from exporter.simulator.dialects.openai import (
    OpenAI,
    OpenAIEncoder,
    parse_chat_request,
    retry_headers,
    sse,
)
from exporter.simulator.plan import ChatRequest, RequestError
from exporter.simulator.ratelimit import Headroom
from exporter.simulator.responses import fault_note

_SAFE: Final = {"filtered": False, "severity": "safe"}
_CATEGORIES: Final = ("hate", "self_harm", "sexual", "violence")
_VIOLENT: Final = {"filtered": True, "severity": "medium"}
_ACCESS_DENIED: Final = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
    "provide a valid key for an active subscription and use a correct regional API endpoint "
    "for your resource."
)
_PROMPT_FILTERED: Final = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content "
    "management policy. Please modify your prompt and retry. To learn more about our "
    "content filtering policies please read our documentation: "
    "https://go.microsoft.com/fwlink/?linkid=2198766"
)


def filter_results(*, filtered: bool = False, prompt: bool = False) -> dict[str, Any]:
    """Per-category verdicts; a filtered text is flagged for violence."""
    out: dict[str, Any] = {name: dict(_SAFE) for name in _CATEGORIES}
    if filtered:
        out["violence"] = dict(_VIOLENT)
    if prompt:  # prompts are also screened for jailbreak attempts
        out["jailbreak"] = {"filtered": False, "detected": False}
    return out


def prompt_filter_results() -> list[dict[str, Any]]:
    return [{"prompt_index": 0, "content_filter_results": filter_results(prompt=True)}]


def prompt_filtered_body() -> dict[str, Any]:
    return {
        "error": {
            "message": _PROMPT_FILTERED,
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": filter_results(filtered=True, prompt=True),
            },
        }
    }


def gateway_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


class AzureEncoder(OpenAIEncoder):
    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        out = super().chunk(delta, finish_reason)
        # Azure annotates text it screened; the role prelude and a plain finish carry {}.
        if finish_reason == "content_filter":
            results = filter_results(filtered=True)
        else:
            results = filter_results() if delta.get("content") or delta.get("refusal") else {}
        out["choices"][0]["content_filter_results"] = results
        return out

    def opening(self) -> bytes:
        screened = {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": prompt_filter_results(),
        }
        return sse(screened) + super().opening()

    def body(self) -> dict[str, Any]:
        out = super().body()
        filtered = self._plan.finish_reason == "content_filter"
        out["choices"][0]["content_filter_results"] = filter_results(filtered=filtered)
        out["prompt_filter_results"] = prompt_filter_results()
        return out


class Azure(OpenAI):
    """``POST /openai/deployments/{deployment}/chat/completions``."""

    route = "/openai/deployments/{deployment}/chat/completions"
    encoder_class = AzureEncoder

    def credentials(self, api_key: str) -> tuple[str, str]:
        return "api-key", api_key

    def unauthorized(self) -> web.Response:
        return gateway_error(401, "401", _ACCESS_DENIED)

    def parse(self, request: web.Request, body: bytes) -> ChatRequest:
        if not request.query.get("api-version"):
            raise RequestError(
                "The api-version query parameter (?api-version=) is required for all requests.",
                "api-version",
            )
        return parse_chat_request(body, model=request.match_info["deployment"])

    def bad_request(self, error: RequestError) -> web.Response:
        if error.param == "api-version":
            return gateway_error(400, "MissingApiVersionParameter", error.message)
        return super().bad_request(error)

    def rejection(self, fault: str, behaviour: Behaviour) -> web.Response:
        note = fault_note(fault)
        if fault == "prompt_filtered":
            return web.json_response(prompt_filtered_body(), status=400)
        if fault == "http_401":
            return gateway_error(401, "401", f"{_ACCESS_DENIED} {note}")
        if fault == "http_429":
            wait = f"Please retry after {math.ceil(behaviour.retry_after)} seconds."
            return gateway_error(429, "429", _rate_limited(wait, note), retry_headers(behaviour))
        if fault == "http_429_no_retry_after":
            return gateway_error(429, "429", _rate_limited("Please retry later.", note))
        return super().rejection(fault, behaviour)

    def headers(self, request_id: str, elapsed: float, headroom: Headroom) -> dict[str, str]:
        return {
            "x-request-id": request_id,
            "apim-request-id": request_id,
            "x-ratelimit-limit-requests": str(headroom.request_limit),
            "x-ratelimit-remaining-requests": str(headroom.requests_remaining),
            "x-ratelimit-limit-tokens": str(headroom.token_limit),
            "x-ratelimit-remaining-tokens": str(headroom.tokens_remaining),
        }


def _rate_limited(wait: str, note: str) -> str:
    return (
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API have "
        f"exceeded the token rate limit of your current pricing tier. {wait} {note}"
    )
