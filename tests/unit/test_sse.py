"""SSEDecoder: the incremental WHATWG server-sent-events parser in exporter/sse.py."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from exporter.sse import Event, SSEDecoder, SSEError

BOM = b"\xef\xbb\xbf"


def decode(chunks: Iterable[bytes], max_line: int = 1 << 20) -> tuple[list[Event], bool]:
    """Feed every chunk to one decoder; the events it produced and its final `pending`."""
    decoder = SSEDecoder(max_line=max_line)
    events: list[Event] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    return events, decoder.pending


def events_of(*chunks: bytes) -> list[Event]:
    return decode(chunks)[0]


# --- a realistic OpenAI chat-completions stream ----------------------------------------

_CHUNKS: list[dict[str, Any]] = [
    {"delta": {"role": "assistant", "content": ""}, "finish_reason": None},
    {"delta": {"content": "Héllo "}, "finish_reason": None},  # 2-byte UTF-8
    {"delta": {"content": "wörld 🦜"}, "finish_reason": None},  # 4-byte UTF-8
    {"delta": {}, "finish_reason": "stop"},
]
_PAYLOADS = [
    json.dumps(
        {
            "id": "chatcmpl-abc123",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, **chunk}],
        },
        ensure_ascii=False,
    )
    for chunk in _CHUNKS
]


def openai_stream(eol: str) -> bytes:
    parts = [f": keep-alive{eol}{eol}"]
    for payload in _PAYLOADS[:2]:
        parts.append(f"data: {payload}{eol}{eol}")
    parts.append(f": ping{eol}")
    for payload in _PAYLOADS[2:]:
        parts.append(f"data: {payload}{eol}{eol}")
    parts.append(f"data: [DONE]{eol}{eol}")
    return "".join(parts).encode("utf-8")


OPENAI_EVENTS = [Event(data=p) for p in [*_PAYLOADS, "[DONE]"]]


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_openai_stream_in_one_read(eol: str) -> None:
    events, pending = decode([openai_stream(eol)])
    assert events == OPENAI_EVENTS
    assert json.loads(events[2].data)["choices"][0]["delta"]["content"] == "wörld 🦜"
    assert not pending


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_openai_stream_split_at_every_byte_offset(eol: str) -> None:
    stream = openai_stream(eol)
    for cut in range(len(stream) + 1):
        events, pending = decode([stream[:cut], stream[cut:]])
        assert events == OPENAI_EVENTS, f"split at byte {cut}"
        assert not pending, f"split at byte {cut}"


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_openai_stream_one_byte_per_read(eol: str) -> None:
    stream = openai_stream(eol)
    events, pending = decode(stream[i : i + 1] for i in range(len(stream)))
    assert events == OPENAI_EVENTS
    assert not pending


def test_events_are_returned_by_the_read_that_completes_them() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: one\n") == []
    assert decoder.feed(b"\ndata: two\n\ndata: thr") == [Event(data="one"), Event(data="two")]
    assert decoder.feed(b"ee\n") == []
    assert decoder.feed(b"\n") == [Event(data="three")]
    assert decoder.feed(b"") == []


# --- line ends ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (b"data: a\ndata: b\n\n", ["a\nb"]),
        (b"data: a\r\ndata: b\r\n\r\n", ["a\nb"]),
        (b"data: a\rdata: b\r\r", ["a\nb"]),
        (b"data: a\r\ndata: b\n\r", ["a\nb"]),
        (b"data: a\n\rdata: b\r\n\n", ["a", "b"]),
        (b"data: a\r\r\ndata: b\n\n", ["a", "b"]),
    ],
    ids=["lf", "crlf", "lone-cr", "mixed", "lf-then-cr-is-blank-line", "cr-then-crlf"],
)
def test_line_ends(stream: bytes, expected: list[str]) -> None:
    assert [e.data for e in events_of(stream)] == expected


def test_cr_at_end_of_read_and_lf_at_start_of_next_are_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # Were the LF a second line end, it would be a blank line dispatching "a" alone.
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\r\n") == [Event(data="a\nb")]
    assert not decoder.pending


def test_cr_at_end_of_read_then_lf_alone_then_blank_line() -> None:
    assert events_of(b"data: a\r", b"\n", b"\n") == [Event(data="a")]
    assert events_of(b"data: a\r", b"", b"\n", b"\r") == [Event(data="a")]


def test_cr_at_end_of_read_followed_by_cr_is_a_blank_line() -> None:
    assert events_of(b"data: a\r", b"\rdata: b\n\n") == [Event(data="a"), Event(data="b")]


def test_lf_skipped_only_directly_after_a_cr() -> None:
    # The CR ended a read earlier, but a later read starting with LF is a real line end.
    assert events_of(b"data: a\r", b"data: b", b"\n", b"\n") == [Event(data="a\nb")]


# --- fields ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "data"),
    [
        (b"data: x", "x"),
        (b"data:x", "x"),
        (b"data:  x", " x"),
        (b"data: a: b", "a: b"),
        (b"data:", ""),
        (b"data", ""),
        (b"data: ", ""),
    ],
    ids=["space", "no-space", "two-spaces", "colon-in-value", "empty", "no-colon", "only-space"],
)
def test_data_value(line: bytes, data: str) -> None:
    assert events_of(line + b"\n\n") == [Event(data=data)]


def test_multi_line_data_joined_with_newline() -> None:
    stream = b"data: first\ndata:\ndata: third\n\n"
    assert events_of(stream) == [Event(data="first\n\nthird")]


def test_comments_are_ignored() -> None:
    stream = b": ping\ndata: a\n:no space\n: \ndata: b\n\n:\n\n"
    assert events_of(stream) == [Event(data="a\nb")]


def test_comment_only_stream_dispatches_nothing() -> None:
    events, pending = decode([b": ping\n\n: ping\n\n"])
    assert events == []
    assert not pending


def test_unknown_fields_are_ignored() -> None:
    assert events_of(b"retry: 100\nfoo: bar\nDATA: no\ndata: yes\n\n") == [Event(data="yes")]


def test_event_field_names_the_event_and_resets_after_dispatch() -> None:
    stream = b"event: delta\ndata: a\n\ndata: b\n\nevent:\ndata: c\n\n"
    assert events_of(stream) == [
        Event(data="a", event="delta"),
        Event(data="b", event="message"),
        Event(data="c", event="message"),
    ]


def test_id_field_persists_until_changed() -> None:
    stream = b"id: 7\ndata: a\n\ndata: b\n\nid: 8\ndata: c\n\nid:\ndata: d\n\n"
    assert [e.id for e in events_of(stream)] == ["7", "7", "8", ""]


def test_id_without_field_is_none() -> None:
    assert events_of(b"data: a\n\n") == [Event(data="a", event="message", id=None)]


def test_id_containing_nul_is_ignored() -> None:
    stream = b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"
    assert [e.id for e in events_of(stream)] == ["1", "1"]


@pytest.mark.parametrize(
    "stream",
    [b"\n\n\n", b"event: ping\n\n", b"id: 3\n\n", b"event: x\nid: 4\n\n", b": c\n\n"],
    ids=["blank-lines", "event-only", "id-only", "event-and-id", "comment"],
)
def test_events_without_data_are_not_dispatched(stream: bytes) -> None:
    assert events_of(stream) == []


def test_event_type_of_an_undispatched_event_does_not_leak() -> None:
    assert events_of(b"event: ping\n\ndata: x\n\n") == [Event(data="x", event="message")]


# --- byte order mark ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "chunks",
    [
        [BOM + b"data: x\n\n"],
        [b"\xef", b"\xbb\xbfdata: x\n\n"],
        [b"\xef\xbb", b"\xbfdata: x\n\n"],
        [b"\xef", b"\xbb", b"\xbf", b"data: x\n\n"],
        [BOM, b"data: x\n\n"],
    ],
    ids=["one-read", "split-1-2", "split-2-1", "byte-by-byte", "bom-alone"],
)
def test_leading_bom_is_stripped(chunks: list[bytes]) -> None:
    events, pending = decode(chunks)
    assert events == [Event(data="x")]
    assert not pending


def test_only_one_leading_bom_is_stripped() -> None:
    # A second BOM makes the field name "\ufeffdata", which is not a field the spec knows.
    assert events_of(BOM + BOM + b"data: x\n\ndata: y\n\n") == [Event(data="y")]


def test_bom_after_the_start_is_not_stripped() -> None:
    assert events_of(b"data: x\n\n" + BOM + b"data: y\n\n") == [Event(data="x")]


def test_partial_bom_that_turns_out_not_to_be_one_is_kept() -> None:
    # b"\xef\xbb" followed by "X" is not a BOM: the bytes stay and are not valid UTF-8.
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef\xbb") == []
    assert decoder.pending
    with pytest.raises(SSEError, match="UTF-8"):
        decoder.feed(b"Xdata: x\n\n")


# --- UTF-8 -------------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["é", "€", "🦜"], ids=["2-byte", "3-byte", "4-byte"])
def test_multi_byte_character_split_across_reads(char: str) -> None:
    stream = f"data: <{char}>\n\n".encode()
    start = len(b"data: <")
    for cut in range(start + 1, start + len(char.encode())):
        assert events_of(stream[:cut], stream[cut:]) == [Event(data=f"<{char}>")], cut


@pytest.mark.parametrize(
    "line",
    [b"data: \xff", b"data: caf\xc3", b"data: \xed\xa0\x80", b"event: \x80\ndata: x", b"\xc3("],
    ids=["ff-byte", "truncated-sequence", "surrogate", "in-event-name", "in-field-name"],
)
def test_invalid_utf8_raises(line: bytes) -> None:
    with pytest.raises(SSEError, match="invalid UTF-8"):
        SSEDecoder().feed(line + b"\n\n")


def test_sse_error_is_a_value_error() -> None:
    assert issubclass(SSEError, ValueError)


# --- line length bound -------------------------------------------------------------------


def test_line_of_exactly_max_line_is_accepted() -> None:
    line = b"data: " + b"x" * 10  # 16 bytes
    assert decode([line], max_line=16) == ([], True)
    assert decode([line + b"\n\n"], max_line=16) == ([Event(data="x" * 10)], False)


def test_complete_line_over_max_line_raises() -> None:
    with pytest.raises(SSEError, match="longer than 16 bytes"):
        SSEDecoder(max_line=16).feed(b"data: " + b"x" * 11 + b"\n\n")


def test_pending_line_over_max_line_raises() -> None:
    decoder = SSEDecoder(max_line=16)
    assert decoder.feed(b"data: 0123456789") == []  # 16 bytes pending: still allowed
    with pytest.raises(SSEError, match="longer than 16 bytes"):
        decoder.feed(b"x")


def test_line_completed_over_max_line_across_reads_raises() -> None:
    decoder = SSEDecoder(max_line=16)
    assert decoder.feed(b"data: 01234") == []
    with pytest.raises(SSEError, match="longer than 16 bytes"):
        decoder.feed(b"56789abc\n")


def test_comment_over_max_line_raises_in_one_read_as_across_reads() -> None:
    # found by tests/fuzz: a long comment passed in one read but failed across reads
    comment = b":" + b"x" * 16
    with pytest.raises(SSEError, match="longer than 16 bytes"):
        SSEDecoder(max_line=16).feed(comment + b"\n\n")
    decoder = SSEDecoder(max_line=16)
    with pytest.raises(SSEError, match="longer than 16 bytes"):
        decoder.feed(comment)


def test_many_short_lines_are_not_limited_by_max_line() -> None:
    stream = b"data: 0123456789\n" * 50 + b"\n"
    (event,) = decode([stream], max_line=16)[0]
    assert event.data == "\n".join(["0123456789"] * 50)


# --- pending -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chunks", "pending"),
    [
        ([], False),
        ([b"data: x\n\n"], False),
        ([b": ping\n"], False),
        ([b"data: x"], True),
        ([b"data: x\n"], True),
        ([b"data: x\r"], True),
        ([b"data: x\n\ndata: y\n"], True),
        ([b"event: done\n"], True),
        ([b"\xef"], True),
        ([b"data: x\r", b"\n", b"\r\n"], False),
    ],
    ids=[
        "fresh",
        "complete-event",
        "comment",
        "mid-line",
        "data-without-blank-line",
        "data-ended-by-cr",
        "second-event-unfinished",
        "event-field-only",
        "partial-bom",
        "crlf-split-complete",
    ],
)
def test_pending(chunks: list[bytes], pending: bool) -> None:
    assert decode(chunks)[1] is pending


# --- properties --------------------------------------------------------------------------

_VALUE = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n\x00"),
    max_size=12,
)


@st.composite
def event_lists(draw: st.DrawFn) -> tuple[list[list[str]], list[Event]]:
    """Events as lists of field lines, and the events a WHATWG parser must produce."""
    blocks: list[list[str]] = []
    expected: list[Event] = []
    last_id: str | None = None
    for _ in range(draw(st.integers(0, 5))):
        lines: list[str] = []
        if draw(st.booleans()):
            lines.append(":" + draw(_VALUE))
        event = draw(st.none() | _VALUE)
        if event is not None:
            lines.append(f"event: {event}")
        id_ = draw(st.none() | _VALUE)
        if id_ is not None:
            lines.append(f"id: {id_}")
            last_id = id_
        data = draw(st.lists(_VALUE, min_size=1, max_size=3))
        for value in data:
            if value.startswith(" ") or draw(st.booleans()):
                lines.append(f"data: {value}")
            else:
                lines.append(f"data:{value}")
        blocks.append(lines)
        expected.append(Event(data="\n".join(data), event=event or "message", id=last_id))
    return blocks, expected


def _chunk(raw: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted(set(cuts)), len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=200, deadline=None)
@given(
    events=event_lists(),
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    data=st.data(),
)
def test_any_chunking_decodes_like_one_read(
    events: tuple[list[list[str]], list[Event]], eol: str, bom: bool, data: st.DataObject
) -> None:
    blocks, expected = events
    text = "".join(eol.join(lines) + eol + eol for lines in blocks)
    raw = (BOM if bom else b"") + text.encode("utf-8")
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=12), label="cuts")

    whole = decode([raw])
    chunked = decode(_chunk(raw, cuts))

    assert whole == (expected, False)
    assert chunked == whole


_LINE = st.one_of(
    _VALUE.map(lambda v: f"data: {v}"),
    _VALUE.map(lambda v: f"data:{v}"),
    _VALUE.map(lambda v: f"event: {v}"),
    _VALUE.map(lambda v: f"id: {v}"),
    _VALUE.map(lambda v: f":{v}"),
    st.just(""),
)


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.tuples(_LINE, st.sampled_from(["\n", "\r\n", "\r"])), max_size=12),
    tail=_VALUE,
    data=st.data(),
)
def test_mixed_line_ends_any_chunking_decodes_like_one_read(
    lines: list[tuple[str, str]], tail: str, data: st.DataObject
) -> None:
    # Mixed line ends, and a stream that may stop mid-line (`tail`): whatever the one-read
    # parse is, every chunking gives the same events and the same `pending`.
    raw = ("".join(line + eol for line, eol in lines) + tail).encode("utf-8")
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=12), label="cuts")
    assert decode(_chunk(raw, cuts)) == decode([raw])


# Random bytes, and bytes built from the pieces that matter to the parser, so that
# events, line ends across reads and long lines come up, not only noise.
_BYTES = st.one_of(
    st.binary(max_size=40),
    st.lists(
        st.sampled_from(
            [b"data:", b"event:", b"id:", b":", b" ", b"x", b"\r", b"\n", b"\xff", BOM]
        ),
        max_size=12,
    ).map(b"".join),
)


@settings(max_examples=200, deadline=None)
@given(chunks=st.lists(_BYTES, max_size=8), max_line=st.integers(1, 64))
@example(chunks=[b"data: a\r", b"\ndata: b\r\n\r\n"], max_line=64)  # CR | LF: one line end
@example(chunks=[b"data: x", b"\n\n"], max_line=7)  # a line of max_line, its end next
def test_arbitrary_bytes_decode_as_one_read_or_raise_sse_error(
    chunks: list[bytes], max_line: int
) -> None:
    # Garbage too: the reads decode to what the whole stream decodes to in one read, or
    # both fail, and the only failure is SSEError (any other exception fails the test).
    def outcome(reads: list[bytes]) -> tuple[list[Event], bool] | str:
        try:
            return decode(reads, max_line)
        except SSEError:
            return "SSEError"

    chunked = outcome(chunks)
    assert chunked == outcome([b"".join(chunks)])
    if chunked != "SSEError":
        events, _ = chunked
        assert all(e.event for e in events), "a nameless event is dispatched as message"


def test_the_events_before_a_bad_line_come_with_the_error() -> None:
    # they came in the same read as the bad line: a prober or proxy counts their tokens
    decoder = SSEDecoder()
    with pytest.raises(SSEError, match="invalid UTF-8") as raised:
        decoder.feed(b"data: one\n\ndata: two\n\ndata: \xff\n\ndata: four\n\n")
    assert raised.value.events == [Event("one"), Event("two")]


def test_the_events_before_an_overlong_pending_line_come_with_the_error() -> None:
    decoder = SSEDecoder(max_line=16)
    with pytest.raises(SSEError, match="longer than 16 bytes") as raised:
        decoder.feed(b"data: one\n\ndata: " + b"x" * 20)
    assert raised.value.events == [Event("one")]
