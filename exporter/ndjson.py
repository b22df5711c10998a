"""Newline-delimited JSON (NDJSON / JSON Lines), decoded incrementally from network reads.

Pure: bytes in, parsed JSON values out, as Ollama streams `/api/chat`. Handles values split
across reads at any byte, LF and CRLF line ends, blank lines, and a last line without its
newline (`close()` parses it at the end of the stream). A line longer than
`max_line`, bytes that are not UTF-8, or a line that is not one JSON value raise
`NDJSONError`, so a hostile stream can neither grow the buffer without bound nor escape as
another exception.
"""

from __future__ import annotations

from typing import Any

from exporter import jsontext


class NDJSONError(ValueError):
    """The stream is not valid newline-delimited JSON. `values` holds those of the lines
    the read completed before the bad one: they came, and count as such."""

    def __init__(self, message: str, values: list[Any] | None = None) -> None:
        super().__init__(message)
        self.values: list[Any] = values or []


class NDJSONDecoder:
    def __init__(self, max_line: int = 1 << 20) -> None:
        self._max_line = max_line
        self._pending = b""

    def feed(self, chunk: bytes) -> list[Any]:
        """Decode one network read; returns the values of the lines it completed."""
        if not chunk:
            return []
        buffer = self._pending + chunk if self._pending else chunk
        lines = buffer.split(b"\n")
        self._pending = lines.pop()
        values: list[Any] = []
        try:
            # a CR before the LF is JSON whitespace, so CRLF lines need no special case
            for line in lines:
                if self._content(line):
                    values.append(self._parse(line))
            if len(self._pending) > self._max_line:
                raise NDJSONError(f"line longer than {self._max_line} bytes")
        except NDJSONError as exc:
            exc.values = values  # the lines before the bad one came all the same
            raise
        return values

    def close(self) -> list[Any]:
        """End the stream: the value of a last line that came without its newline, which
        JSON Lines allows. Raises `NDJSONError` when that line is not JSON (cut short)."""
        line, self._pending = self._pending, b""
        return [self._parse(line)] if self._content(line) else []

    @property
    def pending(self) -> bool:
        """True when the stream ended inside a line."""
        return bool(self._pending) and not self._pending.isspace()

    def _content(self, line: bytes) -> bool:
        """Whether a complete line holds a value; blank lines do not, but count against
        `max_line` all the same, as they would have pending across reads."""
        if len(line) > self._max_line:
            raise NDJSONError(f"line longer than {self._max_line} bytes")
        return bool(line) and not line.isspace()

    def _parse(self, line: bytes) -> Any:
        try:
            # decoded here rather than by json.loads, which would also guess UTF-16 and -32
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NDJSONError(f"invalid UTF-8 in stream: {exc.reason}") from None
        try:
            return jsontext.loads(text)
        # deep nesting exhausts the parser's recursion: that too is a bad line
        except (ValueError, RecursionError) as exc:
            raise NDJSONError(f"invalid JSON line: {exc}") from None
