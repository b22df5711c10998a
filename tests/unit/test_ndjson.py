"""NDJSONDecoder: the incremental newline-delimited JSON parser in exporter/ndjson.py."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.ndjson import NDJSONDecoder, NDJSONError


def decode(chunks: Iterable[bytes], max_line: int = 1 << 20) -> tuple[list[Any], bool]:
    """Feed every chunk to one decoder; the values it produced and its final `pending`."""
    decoder = NDJSONDecoder(max_line=max_line)
    values: list[Any] = []
    for chunk in chunks:
        values.extend(decoder.feed(chunk))
    return values, decoder.pending


# --- a realistic Ollama /api/chat stream -------------------------------------------------

OLLAMA_OBJECTS: list[dict[str, Any]] = [
    {
        "model": "llama3.2",
        "created_at": "2025-06-01T12:00:00.000000Z",
        "message": {"role": "assistant", "content": "Héllo "},  # 2-byte UTF-8
        "done": False,
    },
    {
        "model": "llama3.2",
        "created_at": "2025-06-01T12:00:00.050000Z",
        "message": {"role": "assistant", "content": "wörld 🦜"},  # 4-byte UTF-8
        "done": False,
    },
    {
        "model": "llama3.2",
        "created_at": "2025-06-01T12:00:00.100000Z",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        "total_duration": 1_250_000_000,
        "load_duration": 200_000_000,
        "prompt_eval_count": 26,
        "prompt_eval_duration": 130_000_000,
        "eval_count": 2,
        "eval_duration": 900_000_000,
    },
]


def ollama_stream(eol: str) -> bytes:
    lines = (json.dumps(o, ensure_ascii=False) for o in OLLAMA_OBJECTS)
    return "".join(line + eol for line in lines).encode("utf-8")


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_ollama_stream_in_one_read(eol: str) -> None:
    values, pending = decode([ollama_stream(eol)])
    assert values == OLLAMA_OBJECTS
    assert values[1]["message"]["content"] == "wörld 🦜"
    assert not pending


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_ollama_stream_split_at_every_byte_offset(eol: str) -> None:
    stream = ollama_stream(eol)
    for cut in range(len(stream) + 1):
        values, pending = decode([stream[:cut], stream[cut:]])
        assert values == OLLAMA_OBJECTS, f"split at byte {cut}"
        assert not pending, f"split at byte {cut}"


def test_ollama_stream_one_byte_per_read() -> None:
    stream = ollama_stream("\r\n")
    values, pending = decode(stream[i : i + 1] for i in range(len(stream)))
    assert values == OLLAMA_OBJECTS
    assert not pending


def test_values_are_returned_by_the_read_that_completes_them() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a": ') == []
    assert decoder.pending
    assert decoder.feed(b'1}\n{"b"') == [{"a": 1}]
    assert decoder.feed(b": 2}") == []
    assert decoder.feed(b"\n") == [{"b": 2}]
    assert decoder.feed(b"") == []
    assert not decoder.pending


# --- lines -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (b'{"a":1}\n\n{"b":2}\n', [{"a": 1}, {"b": 2}]),
        (b'\r\n{"a":1}\r\n\r\n', [{"a": 1}]),
        (b'  \n\t\n{"a":1}\n \r\n', [{"a": 1}]),
        (b'  {"a": 1}  \n', [{"a": 1}]),
        (b"\n\n\n", []),
        (b"", []),
    ],
    ids=["blank-line", "crlf-blank-lines", "whitespace-lines", "padded", "only-blank", "empty"],
)
def test_blank_and_whitespace_lines_are_skipped(stream: bytes, expected: list[Any]) -> None:
    values, pending = decode([stream])
    assert values == expected
    assert not pending


def test_any_json_value_per_line() -> None:
    # The decoder is the format, not Ollama's shape: the dialect checks for objects.
    assert decode([b'[1, 2]\n"s"\n3\nnull\ntrue\n'])[0] == [[1, 2], "s", 3, None, True]


def test_trailing_whitespace_after_the_last_line_is_not_pending() -> None:
    assert decode([b'{"a":1}\n  '])[1] is False
    assert decode([b'{"a":1}\n\r'])[1] is False
    assert decode([b'{"a":1}\r'])[1] is True  # a lone CR ends no line in NDJSON


def test_a_stream_that_ends_mid_line_is_pending() -> None:
    values, pending = decode([b'{"a":1}\n{"done": tr'])
    assert values == [{"a": 1}]
    assert pending


def test_a_last_line_without_newline_stays_pending() -> None:
    # Ollama ends every line with LF; an unterminated one is how a cut stream looks.
    values, pending = decode([b'{"a":1}'])
    assert values == []
    assert pending


# --- close: the end of the stream -----------------------------------------------------


def test_close_parses_a_last_line_without_its_newline() -> None:
    # JSON Lines allows it; a proxy relabelling one JSON answer sends exactly this
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a":1}\n{"done": tr') == [{"a": 1}]
    assert decoder.feed(b"ue}") == []
    assert decoder.close() == [{"done": True}]
    assert not decoder.pending


@pytest.mark.parametrize("tail", [b"", b"  ", b"\r", b'{"a":1}\n'], ids=repr)
def test_close_without_a_last_line_gives_nothing(tail: bytes) -> None:
    decoder = NDJSONDecoder()
    decoder.feed(tail)
    assert decoder.close() == []


def test_close_on_a_cut_line_raises() -> None:
    decoder = NDJSONDecoder()
    decoder.feed(b'{"done": tr')
    with pytest.raises(NDJSONError, match="invalid JSON line"):
        decoder.close()


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"{not json}",
        b'{"a": 1',
        b'{"a": 1}{"b": 2}',
        b"<html><body>502 Bad Gateway</body></html>",
        b"data: {}",
        b"\xef\xbb\xbf{}",
        b"[" * 100_000,
    ],
    ids=["bare-key", "unclosed", "two-values", "html", "sse", "bom", "deep-nesting"],
)
def test_invalid_json_line_raises(line: bytes) -> None:
    with pytest.raises(NDJSONError, match="invalid JSON"):
        NDJSONDecoder().feed(line + b"\n")


@pytest.mark.parametrize(
    "line",
    [b'{"a": "\xff"}', b'{"a": "\xc3"}', b'{"a": "\xed\xa0\x80"}', b"\xfe\xff\x00{\x00}"],
    ids=["invalid-byte", "truncated-sequence", "surrogate", "utf16"],
)
def test_invalid_utf8_raises(line: bytes) -> None:
    with pytest.raises(NDJSONError, match="UTF-8"):
        NDJSONDecoder().feed(line + b"\n")


def test_error_is_a_value_error() -> None:
    assert issubclass(NDJSONError, ValueError)


def test_long_complete_line_raises() -> None:
    decoder = NDJSONDecoder(max_line=16)
    assert decoder.feed(b'{"a": "' + b"x" * 7 + b'"}\n') == [{"a": "x" * 7}]
    with pytest.raises(NDJSONError, match="longer than 16 bytes"):
        decoder.feed(b'{"a": "' + b"x" * 20 + b'"}\n')


def test_long_pending_line_raises_before_it_ends() -> None:
    # A stream that never sends a newline must not grow the buffer without bound.
    decoder = NDJSONDecoder(max_line=64)
    decoder.feed(b'{"a": "' + b"x" * 50)
    with pytest.raises(NDJSONError, match="longer than 64 bytes"):
        decoder.feed(b"x" * 50)


def test_long_blank_line_raises_in_one_read_as_across_reads() -> None:
    # found by tests/fuzz: a long blank line passed in one read but failed across reads
    with pytest.raises(NDJSONError, match="longer than 4 bytes"):
        NDJSONDecoder(max_line=4).feed(b" " * 5 + b"\n")
    with pytest.raises(NDJSONError, match="longer than 4 bytes"):
        NDJSONDecoder(max_line=4).feed(b" " * 5)


def test_line_of_exactly_max_line_is_accepted() -> None:
    line = b'{"a": "' + b"x" * 9 + b'"}'
    assert len(line) == 18
    assert decode([line[:10], line[10:] + b"\n"], max_line=18)[0] == [{"a": "x" * 9}]


# --- properties --------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(json_values, max_size=6),
    eol=st.sampled_from([b"\n", b"\r\n"]),
    data=st.data(),
)
def test_any_chunking_decodes_identically(values: list[Any], eol: bytes, data: Any) -> None:
    stream = b"".join(json.dumps(v, ensure_ascii=False).encode() + eol for v in values)
    chunks = data.draw(chunked(stream))
    assert decode(chunks) == (values, False)


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(st.binary(max_size=64), max_size=8))
def test_arbitrary_bytes_raise_only_ndjson_error(chunks: list[bytes]) -> None:
    decoder = NDJSONDecoder(max_line=128)
    try:
        for chunk in chunks:
            decoder.feed(chunk)
    except NDJSONError:
        pass


def test_the_values_before_a_bad_line_come_with_the_error() -> None:
    # they came in the same read as the bad line: a prober or proxy counts their tokens
    decoder = NDJSONDecoder()
    with pytest.raises(NDJSONError, match="invalid JSON line") as raised:
        decoder.feed(b'{"n": 1}\n\n{"n": 2}\n{"n": \n{"n": 4}\n')
    assert raised.value.values == [{"n": 1}, {"n": 2}]


def test_the_values_before_an_overlong_pending_line_come_with_the_error() -> None:
    decoder = NDJSONDecoder(max_line=16)
    with pytest.raises(NDJSONError, match="longer than 16 bytes") as raised:
        decoder.feed(b'{"n": 1}\n' + b"x" * 17)
    assert raised.value.values == [{"n": 1}]
