"""Properties of the dialects' answer readers (OpenAI, Anthropic, Ollama; streamed and
whole) over generated bodies, from the network read down to the `Exchange`.

- A valid stream, cut into reads anywhere, decodes to the same answer as in one read:
  text, finish reason, tokens, identity, chunk count and error class alike.
- Arbitrary bytes, almost-valid streams, and valid framing around JSON of any shape
  never raise anything but a classified `ProbeError`: the reader returns a result.

The readers run on a stand-in response whose body is a list of reads; it never waits,
so each reader is driven to the end without an event loop.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.errors import ErrorClass, ProbeError
from exporter.protocols import anthropic, ollama, openai
from exporter.protocols.http import Dialect, Recorder
from exporter.result import Exchange
from tests.fuzz.strategies import json_values, mutated, reads, reshaped
from tests.integration.faultserver import (
    closing,
    content_type,
    opening,
    piece,
    sse,
    whole_body,
)

DIALECTS: dict[str, Dialect] = {
    "openai": openai.OPENAI,
    "anthropic": anthropic.DIALECT,
    "ollama": ollama.DIALECT,
}
LIMIT = 1 << 16
FINISH = {"openai": "stop", "anthropic": "end_turn", "ollama": "stop"}


@dataclass
class _Body:
    chunks: list[bytes]

    async def iter_any(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


@dataclass
class _Response:
    """What the readers use of an `aiohttp.ClientResponse`."""

    content_type: str
    content: _Body


def _finish(coro: Coroutine[Any, Any, None]) -> None:
    try:
        coro.send(None)
    except StopIteration:
        return
    raise AssertionError("the reader waited on something")  # pragma: no cover


def read(dialect: str, chunks: list[bytes], stream: bool = True) -> Exchange:
    """The `Exchange` a reader makes of this body, as `post` would build it."""
    kind = content_type(dialect) if stream else "application/json"
    resp = cast(aiohttp.ClientResponse, _Response(kind, _Body(chunks)))
    rec = Recorder(streamed=stream)
    reader = DIALECTS[dialect].read_stream if stream else DIALECTS[dialect].read_json
    try:
        _finish(reader(resp, rec, LIMIT))
    except ProbeError as exc:
        return rec.build(exc.error_class, exc.detail)
    return rec.build()


def answer(exchange: Exchange) -> tuple[Any, ...]:
    """What must not depend on how the body was cut (timings do)."""
    return (
        exchange.error_class,
        exchange.error_detail,
        exchange.text,
        exchange.refusal,
        exchange.finish_reason,
        exchange.input_tokens,
        exchange.output_tokens,
        exchange.tokens_estimated,
        exchange.response_model,
        exchange.response_id,
        exchange.system_fingerprint,
        len(exchange.chunk_gaps),
        exchange.ttft_seconds is None,
    )


_PIECES = st.lists(st.text(max_size=8), min_size=1, max_size=8)
# keep-alive frames a server may send anywhere
_PINGS = {
    "openai": [b": keep-alive\n\n", b"\n"],
    "anthropic": [sse({"type": "ping"}, "ping"), b": comment\n\n"],
    "ollama": [b"\n", b"  \r\n"],
}


@st.composite
def streams(draw: st.DrawFn, dialect: str) -> tuple[bytes, list[str]]:
    """A valid stream of `dialect` carrying the answer `pieces`, with keep-alive frames
    anywhere, and CRLF line ends sometimes."""
    pieces = draw(_PIECES)
    frames = [*opening(dialect), *(piece(dialect, p) for p in pieces), *closing(dialect)]
    out = []
    for frame in frames:
        out += draw(st.lists(st.sampled_from(_PINGS[dialect]), max_size=2))
        out.append(frame)
    raw = b"".join(out)
    if draw(st.booleans()):
        raw = raw.replace(b"\n", b"\r\n")
    return raw, pieces


@pytest.mark.parametrize("dialect", DIALECTS)
@given(data=st.data())
def test_valid_streams_read_the_same_however_they_are_cut(
    dialect: str, data: st.DataObject
) -> None:
    raw, pieces = data.draw(streams(dialect), label="stream")
    whole = read(dialect, [raw])
    text = "".join(pieces)
    if text:
        assert whole.error_class is None, whole.error_detail
        assert (whole.text, whole.finish_reason) == (text, FINISH[dialect])
        assert whole.output_tokens == 2  # as the usage said
    else:
        assert whole.error_class is ErrorClass.EMPTY_ANSWER
    cut = read(dialect, data.draw(reads(raw), label="reads"))
    assert answer(cut) == answer(whole)


def _classified(exchange: Exchange) -> None:
    # reaching here means no exception escaped; an error is one of the closed set
    assert exchange.error_class is None or exchange.error_class in ErrorClass
    assert exchange.error_class is not ErrorClass.INTERNAL


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
@pytest.mark.parametrize("dialect", DIALECTS)
@given(data=st.data())
def test_arbitrary_bytes_give_a_classified_result(
    dialect: str, stream: bool, data: st.DataObject
) -> None:
    raw = data.draw(st.binary(max_size=300), label="raw")
    _classified(read(dialect, data.draw(reads(raw), label="reads"), stream))


@pytest.mark.parametrize("dialect", DIALECTS)
@given(data=st.data())
def test_almost_valid_streams_give_a_classified_result(dialect: str, data: st.DataObject) -> None:
    raw, _ = data.draw(streams(dialect), label="stream")
    bent = data.draw(mutated(raw), label="mutated")
    _classified(read(dialect, data.draw(reads(bent), label="reads")))


def _frame(dialect: str, value: Any) -> bytes:
    """`value` in the dialect's framing: an SSE event (Anthropic names it by its type) or
    an NDJSON line."""
    if dialect == "ollama":
        return json.dumps(value).encode() + b"\n"
    name = value.get("type") if dialect == "anthropic" and isinstance(value, dict) else None
    return sse(value, name if isinstance(name, str) else None)


def _objects(dialect: str) -> list[Any]:
    """The JSON objects of a valid stream, decoded back from its frames."""
    frames = [*opening(dialect), piece(dialect, "42"), *closing(dialect, marker=True)]
    out = []
    for frame in frames:
        text = frame.decode().strip()
        payload = text.rsplit("data: ", 1)[-1]
        if payload != "[DONE]":
            out.append(json.loads(payload))
    return out


@pytest.mark.parametrize("dialect", DIALECTS)
@given(data=st.data())
def test_any_json_shape_in_valid_framing_gives_a_classified_result(
    dialect: str, data: st.DataObject
) -> None:
    # each object of a valid stream may have one part swapped for any JSON value: a list
    # where an object belongs, a number for a string, null for the choices...
    objects = [data.draw(reshaped(o), label="object") for o in _objects(dialect)]
    raw = b"".join(_frame(dialect, o) for o in objects)
    _classified(read(dialect, data.draw(reads(raw), label="reads")))


@pytest.mark.parametrize("dialect", DIALECTS)
@given(data=st.data())
def test_any_json_shape_of_a_whole_body_gives_a_classified_result(
    dialect: str, data: st.DataObject
) -> None:
    body = data.draw(reshaped(json.loads(whole_body(dialect))), label="body")
    _classified(read(dialect, [json.dumps(body).encode()], stream=False))


@given(value=json_values)
def test_a_lone_json_value_gives_a_classified_result(value: Any) -> None:
    for dialect in DIALECTS:
        _classified(read(dialect, [_frame(dialect, value)]))
        _classified(read(dialect, [json.dumps(value).encode()], stream=False))
