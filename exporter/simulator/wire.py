"""OpenAI Chat Completions wire shapes, written from the public API reference.

Deliberately independent of the prober's own protocol code: if both sides shared one
mistake, the tests would pass and real endpoints would still break the prober.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Final

DONE: Final = b"data: [DONE]\n\n"

# A data line cut off inside a JSON string, as a buggy proxy might forward it.
MALFORMED_EVENT: Final = b'data: {"id": "chatcmpl-broken", "choices": [{"delta": {"content": "\n\n'


def sse(payload: Any) -> bytes:
    """One server-sent event carrying a JSON payload."""
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def error_body(
    message: str, error_type: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The OpenAI error object, used for HTTP errors and for errors inside a stream."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def system_fingerprint(model: str) -> str:
    """A stable fingerprint per model, like the ``fp_...`` values OpenAI returns."""
    return "fp_" + hashlib.sha256(model.encode()).hexdigest()[:10]


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


@dataclass(frozen=True)
class Envelope:
    """The fields every chunk or completion of one response shares."""

    id: str
    created: int
    model: str
    # With include_usage OpenAI puts "usage": null on every chunk before the usage chunk.
    include_usage: bool = False

    def _base(self, obj: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": system_fingerprint(self.model),
        }

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        out = self._base("chat.completion.chunk")
        out["choices"] = [
            {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        ]
        if self.include_usage:
            out["usage"] = None
        return out

    def usage_chunk(self, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        out = self._base("chat.completion.chunk")
        out["choices"] = []
        out["usage"] = usage(prompt_tokens, completion_tokens)
        return out

    def completion(
        self,
        *,
        content: str | None,
        refusal: str | None,
        finish_reason: str,
        prompt_tokens: int,
        completion_tokens: int,
    ) -> dict[str, Any]:
        out = self._base("chat.completion")
        out["choices"] = [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ]
        out["usage"] = usage(prompt_tokens, completion_tokens)
        return out
