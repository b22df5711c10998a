"""Server-sent events, decoded incrementally from network reads (WHATWG HTML §9.2.6).

Pure: bytes in, events out. Handles events split across reads at any byte, LF, CRLF
and lone CR line ends (a CR at the end of one read and the LF at the start of the next
are one line end), comments, multi-line `data:` fields, and a leading BOM. A line longer
than `max_line` or bytes that are not UTF-8 raise `SSEError`, so a hostile stream cannot
grow the buffer without bound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_END = re.compile(rb"\r\n|\r|\n")


class SSEError(ValueError):
    """The stream is not valid server-sent events. `events` holds those the read completed
    before the bad line: they came, and count as such."""

    def __init__(self, message: str, events: list[Event] | None = None) -> None:
        super().__init__(message)
        self.events: list[Event] = events or []


@dataclass(frozen=True, slots=True)
class Event:
    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    def __init__(self, max_line: int = 1 << 20) -> None:
        self._max_line = max_line
        self._pending = b""
        self._skip_lf = False
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[Event]:
        """Decode one network read; returns the events it completed."""
        if not chunk:
            return []
        if self._skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        buffer = self._pending + chunk if self._pending else chunk
        if not self._started and buffer:
            if len(buffer) < 3 and b"\xef\xbb\xbf".startswith(buffer):
                self._pending = buffer
                return []
            self._started = True
            buffer = buffer.removeprefix(b"\xef\xbb\xbf")
        lines = buffer.split(b"\n") if b"\r" not in buffer else _LINE_END.split(buffer)
        self._pending = lines.pop()
        self._skip_lf = buffer.endswith(b"\r")
        events: list[Event] = []
        try:
            for raw in lines:
                event = self._line(raw)
                if event is not None:
                    events.append(event)
            if len(self._pending) > self._max_line:
                raise SSEError(f"line longer than {self._max_line} bytes")
        except SSEError as exc:
            exc.events = events  # the events before the bad line came all the same
            raise
        return events

    @property
    def pending(self) -> bool:
        """True when the stream ended inside an event (the spec discards it)."""
        return bool(self._pending or self._data or self._event)

    def _line(self, raw: bytes) -> Event | None:
        if not raw:
            return self._dispatch()
        # before the comment test: a long comment must fail the same whether it came in
        # one read or was caught pending across reads
        if len(raw) > self._max_line:
            raise SSEError(f"line longer than {self._max_line} bytes")
        if raw[:1] == b":":
            return None
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SSEError(f"invalid UTF-8 in stream: {exc.reason}") from None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def _dispatch(self) -> Event | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return Event(data="\n".join(data), event=event or "message", id=self._id)
