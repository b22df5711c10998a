"""Properties of the server-sent-events decoder (exporter/sse.py) over generated input.

- Any valid event stream, cut into reads anywhere, decodes to the events it was made of.
- Any bytes, cut anywhere, either decode or raise `SSEError` and nothing else, and the
  outcome does not depend on where the reads were cut.
- Almost-valid streams (a valid stream with a few bytes changed) behave the same way.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from exporter.sse import Event, SSEDecoder, SSEError
from tests.fuzz.strategies import mutated, reads

BOM = b"\xef\xbb\xbf"
# field values: no line end, and not starting with a space the field syntax would eat
_VALUE = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), max_size=20
).filter(lambda v: not v.startswith(" "))


def decode(chunks: list[bytes], max_line: int = 1 << 20) -> tuple[list[Event], bool, bool]:
    """Events until the first error, whether one was raised, and `pending` at the end."""
    decoder = SSEDecoder(max_line=max_line)
    events: list[Event] = []
    try:
        for chunk in chunks:
            events.extend(decoder.feed(chunk))
    except SSEError:
        return events, True, decoder.pending
    return events, False, decoder.pending


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[Event]]:
    """A valid stream and the events it must decode to: data (one or more lines), event
    names, ids, comments, unknown fields and retry fields, any line end, maybe a BOM."""
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    out: list[str] = []
    expected: list[Event] = []
    last_id: str | None = None
    for _ in range(draw(st.integers(0, 6))):
        lines, data = [], []
        name = ""
        for _ in range(draw(st.integers(1, 5))):
            kind = draw(st.sampled_from(["data", "data", "event", "id", "comment", "other"]))
            value = draw(_VALUE)
            if kind == "data":
                data.append(value)
            elif kind == "event":
                name = value
            elif kind == "id" and "\0" not in value:
                last_id = value
            elif kind == "id":
                continue
            if kind == "comment":
                lines.append(f":{value}")
            elif kind == "other":
                lines.append(f"retry: {value}")
            else:
                space = " " if draw(st.booleans()) else ""
                lines.append(f"{kind}:{space}{value}")
        out.append(eol.join(lines) + eol + eol)
        if data:
            expected.append(Event(data="\n".join(data), event=name or "message", id=last_id))
    raw = "".join(out).encode("utf-8")
    return (BOM + raw if draw(st.booleans()) else raw), expected


@given(stream=streams(), data=st.data())
def test_valid_streams_decode_the_same_however_they_are_cut(
    stream: tuple[bytes, list[Event]], data: st.DataObject
) -> None:
    raw, expected = stream
    assert decode([raw]) == (expected, False, False)
    assert decode(data.draw(reads(raw), label="reads")) == (expected, False, False)


@given(raw=st.binary(max_size=200), data=st.data(), max_line=st.sampled_from([4, 16, 64, 1 << 20]))
def test_arbitrary_bytes_decode_or_raise_sse_error_whatever_the_cuts(
    raw: bytes, data: st.DataObject, max_line: int
) -> None:
    whole = decode([raw], max_line)
    chunked = decode(data.draw(reads(raw), label="reads"), max_line)
    # events before an error depend on the reads; whether there is one must not
    assert chunked[1] == whole[1]
    if not whole[1]:
        assert chunked == whole


@given(
    stream=streams(),
    data=st.data(),
    max_line=st.sampled_from([8, 64, 1 << 20]),
)
def test_almost_valid_streams_decode_or_raise_sse_error_whatever_the_cuts(
    stream: tuple[bytes, list[Event]], data: st.DataObject, max_line: int
) -> None:
    raw = data.draw(mutated(stream[0]), label="mutated")
    whole = decode([raw], max_line)
    chunked = decode(data.draw(reads(raw), label="reads"), max_line)
    assert chunked[1] == whole[1]
    if not whole[1]:
        assert chunked == whole
    for event in whole[0]:
        assert event.event and isinstance(event.data, str)


def _one_line(raw: bytes) -> bool:
    # a leading BOM is no part of the first line: the decoder strips it
    return b"\r" not in raw and b"\n" not in raw and not raw.startswith(b"\xef")


@given(line=st.binary(min_size=1, max_size=64).filter(_one_line))
def test_no_line_longer_than_max_line_is_accepted(line: bytes) -> None:
    # whatever the line holds (data, a comment, garbage), past the limit it is refused,
    # complete in one read or still pending
    limit = len(line) - 1
    assert decode([line + b"\n"], limit)[1]
    assert decode([line], limit)[1]
