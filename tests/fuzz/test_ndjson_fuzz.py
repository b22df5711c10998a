"""Properties of the NDJSON decoder (exporter/ndjson.py) over generated input.

- Any sequence of JSON values, one a line (LF or CRLF, blank lines between, the last line
  with or without its newline), cut into reads anywhere, decodes to those values.
- Any bytes, cut anywhere, either decode or raise `NDJSONError` and nothing else, and the
  outcome does not depend on where the reads were cut.
- Almost-valid streams behave the same way.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from exporter.ndjson import NDJSONDecoder, NDJSONError
from tests.fuzz.strategies import json_values, mutated, reads


def decode(chunks: list[bytes], max_line: int = 1 << 20) -> tuple[list[Any], bool]:
    """Values until the first error (`close()` included), and whether one was raised."""
    decoder = NDJSONDecoder(max_line=max_line)
    values: list[Any] = []
    try:
        for chunk in chunks:
            values.extend(decoder.feed(chunk))
        values.extend(decoder.close())
    except NDJSONError:
        return values, True
    return values, False


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[Any]]:
    values = draw(st.lists(json_values, max_size=8))
    eol = draw(st.sampled_from([b"\n", b"\r\n"]))
    lines = []
    for value in values:
        lines.append(json.dumps(value, ensure_ascii=draw(st.booleans())).encode())
        if draw(st.integers(0, 4)) == 0:
            lines.append(draw(st.sampled_from([b"", b" ", b"\t"])))  # blank lines
    raw = eol.join(lines)
    if lines and draw(st.booleans()):
        raw += eol  # or the last line ends with the body
    return raw, values


@given(stream=streams(), data=st.data())
def test_valid_streams_decode_the_same_however_they_are_cut(
    stream: tuple[bytes, list[Any]], data: st.DataObject
) -> None:
    raw, values = stream
    assert decode([raw]) == (values, False)
    assert decode(data.draw(reads(raw), label="reads")) == (values, False)


@given(raw=st.binary(max_size=200), data=st.data(), max_line=st.sampled_from([4, 16, 64, 1 << 20]))
def test_arbitrary_bytes_decode_or_raise_ndjson_error_whatever_the_cuts(
    raw: bytes, data: st.DataObject, max_line: int
) -> None:
    whole = decode([raw], max_line)
    chunked = decode(data.draw(reads(raw), label="reads"), max_line)
    assert chunked[1] == whole[1]
    if not whole[1]:
        assert chunked == whole


@given(stream=streams(), data=st.data(), max_line=st.sampled_from([8, 64, 1 << 20]))
def test_almost_valid_streams_decode_or_raise_ndjson_error_whatever_the_cuts(
    stream: tuple[bytes, list[Any]], data: st.DataObject, max_line: int
) -> None:
    raw = data.draw(mutated(stream[0]), label="mutated")
    whole = decode([raw], max_line)
    chunked = decode(data.draw(reads(raw), label="reads"), max_line)
    assert chunked[1] == whole[1]
    if not whole[1]:
        assert chunked == whole


_LINE = st.binary(min_size=1, max_size=64) | st.text(" \t\r", min_size=1).map(str.encode)


@given(line=_LINE.filter(lambda raw: b"\n" not in raw))
def test_no_line_longer_than_max_line_is_accepted(line: bytes) -> None:
    # whatever the line holds (JSON, blanks, garbage), past the limit it is refused
    limit = len(line) - 1
    assert decode([line + b"\n"], limit)[1]
    assert decode([line], limit)[1]
