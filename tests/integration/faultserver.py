"""A raw asyncio TCP server that misbehaves on purpose, for the fault matrix.

It makes the faults a well-behaved HTTP server cannot: a reset in the middle of the
headers or of a stream, a body dripped a byte at a time, bytes that are not UTF-8, an
endless stream, a gzip bomb, a certificate nobody trusts. Every connection gets the one
fault the server was started with, answered in the dialect the request asked for (the
path says which; the JSON body says whether to stream), with wire bytes written here from
the specifications, sharing no code with `exporter.protocols` or the simulator.

It also watches the client side for leaks: at each accepted connection it counts this
process's sockets connected to its port. Runs are sequential, so a client that closes or
reuses its connections always shows exactly one; a leaked socket shows as more.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import os
import socket
import ssl
import struct
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# the longest a fault holds a connection open when the client does not hang up first
HOLD_SECONDS = 10.0
ANSWER = ("4", "2")


@dataclass
class Conn:
    """One accepted connection and the request read from it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def dialect(self) -> str:
        if self.path.startswith("/v1/messages"):
            return "anthropic"
        if self.path.startswith("/api/chat"):
            return "ollama"
        return "openai"

    @property
    def stream(self) -> bool:
        # Ollama streams unless told not to; the others only when asked
        default = self.dialect == "ollama"
        return bool(self.body.get("stream", default))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()
        # drain() returns at once while the socket takes the bytes: yield all the same,
        # or an endless fault would starve the client sharing this event loop
        await asyncio.sleep(0)

    async def head(self, status: str, headers: dict[str, str]) -> None:
        lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items())]
        await self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    async def respond(self, status: str, content_type: str, body: bytes, **extra: str) -> None:
        headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
        await self.head(status, {**headers, "Connection": "close", **extra})
        await self.send(body)

    async def chunked(self, status: str, content_type: str, **extra: str) -> None:
        headers = {"Content-Type": content_type, "Transfer-Encoding": "chunked"}
        await self.head(status, {**headers, "Connection": "close", **extra})

    async def chunk(self, data: bytes) -> None:
        if data:  # an empty chunk would end the body
            await self.send(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    async def last_chunk(self) -> None:
        await self.send(b"0\r\n\r\n")

    async def reset(self) -> None:
        """Abort with a TCP RST rather than a FIN (SO_LINGER with a zero timeout)."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def hold(self) -> None:
        """Say nothing until the client hangs up (or HOLD_SECONDS pass)."""
        try:
            async with asyncio.timeout(HOLD_SECONDS):
                while await self.reader.read(4096):
                    pass
        except TimeoutError:
            pass


# --- each dialect's answer, from its specification --------------------------------------


def content_type(dialect: str) -> str:
    return "application/x-ndjson" if dialect == "ollama" else "text/event-stream"


def sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {payload}\n\n".encode()


def opening(dialect: str) -> list[bytes]:
    """Frames before the first content token."""
    if dialect == "openai":
        delta = {"role": "assistant", "content": ""}
        return [sse(_openai_chunk(delta, None))]
    if dialect == "anthropic":
        message = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": [],
            "usage": {"input_tokens": 5, "output_tokens": 1},
        }
        return [
            sse({"type": "message_start", "message": message}, "message_start"),
            sse(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
                "content_block_start",
            ),
        ]
    return []


def piece(dialect: str, text: str) -> bytes:
    """One frame carrying `text` of the answer."""
    if dialect == "openai":
        return sse(_openai_chunk({"content": text}, None))
    if dialect == "anthropic":
        delta = {"type": "text_delta", "text": text}
        return sse(
            {"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta"
        )
    line = {"model": "m", "message": {"role": "assistant", "content": text}, "done": False}
    return json.dumps(line).encode() + b"\n"


# the token counts of Ollama's last object
OLLAMA_COUNTS = {"prompt_eval_count": 5, "eval_count": 2}
# what the dialects' whole answers call their token counts
USAGE_KEYS = ("usage", *OLLAMA_COUNTS)


def closing(dialect: str, marker: bool = True, usage: bool = True) -> list[bytes]:
    """The frames that say why the answer stopped (with `usage`, the token counts; Anthropic
    always sends them), then (with `marker`) the end marker."""
    if dialect == "openai":
        counts = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
        frames = [sse(_openai_chunk({}, "stop"))]
        if usage:
            frames.append(sse({"choices": [], "usage": counts}))
        return [*frames, sse("[DONE]")] if marker else frames
    if dialect == "anthropic":
        delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}
        frames = [
            sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            sse({**delta, "usage": {"output_tokens": 2}}, "message_delta"),
        ]
        return [*frames, sse({"type": "message_stop"}, "message_stop")] if marker else frames
    done = {
        "model": "m",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        **(OLLAMA_COUNTS if usage else {}),
    }
    return [json.dumps(done).encode() + b"\n"] if marker else []


def stream_frames(dialect: str, usage: bool = True) -> list[bytes]:
    pieces = (piece(dialect, t) for t in ANSWER)
    return [*opening(dialect), *pieces, *closing(dialect, usage=usage)]


def whole_body(dialect: str, usage: bool = True, text: str = "".join(ANSWER)) -> bytes:
    """The non-streamed answer (with `usage`, its token counts)."""
    if dialect == "openai":
        body: dict[str, Any] = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        }
    elif dialect == "anthropic":
        body = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 5, "output_tokens": 2},
        }
    else:
        body = {
            "model": "m",
            "message": {"role": "assistant", "content": text},
            "done": True,
            "done_reason": "stop",
            **OLLAMA_COUNTS,
        }
    if not usage:
        body = {k: v for k, v in body.items() if k not in USAGE_KEYS}
    return json.dumps(body).encode()


def _openai_chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


# --- the faults ---------------------------------------------------------------------------

Fault = Callable[[Conn], Awaitable[None]]
FAULTS: dict[str, Fault] = {}


def fault(name: str) -> Callable[[Fault], Fault]:
    def register(fn: Fault) -> Fault:
        FAULTS[name] = fn
        return fn

    return register


async def answer(
    conn: Conn, frames: list[bytes], text: str = "".join(ANSWER), **extra: str
) -> None:
    """A 200 answer in the request's dialect and mode, made of `frames` when it streams,
    else of `text`."""
    if not conn.stream:
        body = whole_body(conn.dialect, text=text)
        await conn.respond("200 OK", "application/json", body, **extra)
        return
    await conn.chunked("200 OK", content_type(conn.dialect), **extra)
    for frame in frames:
        await conn.chunk(frame)
    await conn.last_chunk()


@fault("healthy")
async def healthy(conn: Conn) -> None:
    await answer(conn, stream_frames(conn.dialect))


@fault("no_usage")
async def no_usage(conn: Conn) -> None:
    """A good answer without token counts, as llama.cpp's server streams."""
    if conn.stream:
        await answer(conn, stream_frames(conn.dialect, usage=False))
    else:
        await conn.respond("200 OK", "application/json", whole_body(conn.dialect, usage=False))


@fault("interrupted")
async def interrupted(conn: Conn) -> None:
    """What llama-cpp-python's server sends when another request interrupts a stream: the
    opening frames, then the end marker, with no content and no finish reason between."""
    marker = {"openai": sse("[DONE]"), "anthropic": sse({"type": "message_stop"}, "message_stop")}
    await answer(conn, [*opening(conn.dialect), marker[conn.dialect]])


@fault("reset_mid_headers")
async def reset_mid_headers(conn: Conn) -> None:
    await conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/ev")
    await asyncio.sleep(0.05)  # let the client read the half, then pull the plug
    await conn.reset()


@fault("reset_mid_stream")
async def reset_mid_stream(conn: Conn) -> None:
    await conn.chunked("200 OK", content_type(conn.dialect))
    for frame in [*opening(conn.dialect), piece(conn.dialect, "4")]:
        await conn.chunk(frame)
    await asyncio.sleep(0.05)
    await conn.reset()


@fault("close_mid_chunk")
async def close_mid_chunk(conn: Conn) -> None:
    """A FIN in the middle of a chunk: the chunked body never reaches its last chunk."""
    await conn.chunked("200 OK", content_type(conn.dialect))
    for frame in [*opening(conn.dialect), piece(conn.dialect, "4")]:
        await conn.chunk(frame)
    await conn.send(b'40\r\ndata: {"cho')
    conn.writer.close()


@fault("hang_before_headers")
async def hang_before_headers(conn: Conn) -> None:
    await conn.hold()


@fault("headers_then_silence")
async def headers_then_silence(conn: Conn) -> None:
    await conn.chunked("200 OK", content_type(conn.dialect))
    await conn.hold()


@fault("silence_after_first_token")
async def silence_after_first_token(conn: Conn) -> None:
    await conn.chunked("200 OK", content_type(conn.dialect))
    for frame in [*opening(conn.dialect), piece(conn.dialect, "4")]:
        await conn.chunk(frame)
    await conn.hold()


@fault("slow_drip")
async def slow_drip(conn: Conn) -> None:
    """The whole answer, headers included, one byte per second."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
    await drip(conn, head + b"".join(stream_frames(conn.dialect)), 1.0)


@fault("slow_drip_body")
async def slow_drip_body(conn: Conn) -> None:
    """Headers and the first token at once, then the rest of the body a byte per 50 ms."""
    await conn.head("200 OK", {"Content-Type": content_type(conn.dialect), "Connection": "close"})
    frames = stream_frames(conn.dialect)
    first = len(opening(conn.dialect)) + 1
    await conn.send(b"".join(frames[:first]))
    await drip(conn, b"".join(frames[first:]), 0.05)


async def drip(conn: Conn, data: bytes, every: float) -> None:
    try:
        for i in range(len(data)):
            await conn.send(data[i : i + 1])
            await asyncio.sleep(every)
    except ConnectionError:
        pass  # the client gave up, as it should


@fault("oversized_body")
async def oversized_body(conn: Conn) -> None:
    """A well-formed answer of 256 KiB of content."""
    big = [piece(conn.dialect, "x" * 1024) for _ in range(256)]
    frames = [*opening(conn.dialect), *big, *closing(conn.dialect)]
    if conn.stream:
        await answer(conn, frames)
        return
    body = json.loads(whole_body(conn.dialect))
    body["padding"] = "x" * (256 * 1024)
    await conn.respond("200 OK", "application/json", json.dumps(body).encode())


@fault("endless_stream")
async def endless_stream(conn: Conn) -> None:
    """Content frames without end, as fast as the client reads them."""
    await conn.chunked("200 OK", content_type(conn.dialect))
    frame = piece(conn.dialect, "x" * 100)
    try:
        for frame_ in opening(conn.dialect):
            await conn.chunk(frame_)
        for _ in range(1_000_000):  # bounded: 100 MB, far past any response limit
            await conn.chunk(frame)
    except ConnectionError:
        pass


@fault("endless_pings")
async def endless_pings(conn: Conn) -> None:
    """Keep-alive frames without end and no content: SSE comments (blank lines for
    NDJSON), one every 10 ms."""
    await conn.chunked("200 OK", content_type(conn.dialect))
    ping = b"\n" if conn.dialect == "ollama" else b": ping\n\n"
    try:
        for _ in range(int(HOLD_SECONDS / 0.01)):
            await conn.chunk(ping)
            await asyncio.sleep(0.01)
    except ConnectionError:
        pass


@fault("invalid_utf8")
async def invalid_utf8(conn: Conn) -> None:
    """A content frame whose text carries a byte that is never UTF-8."""
    bad = piece(conn.dialect, "4 SPLIT").replace(b"SPLIT", b"\xff\xfe")
    if conn.stream:
        await answer(conn, [*opening(conn.dialect), bad, *closing(conn.dialect)])
        return
    body = whole_body(conn.dialect).replace(b'"42"', b'"4\xff2"')
    await conn.respond("200 OK", "application/json", body)


@fault("invalid_json_chunk")
async def invalid_json_chunk(conn: Conn) -> None:
    """One frame of invalid JSON in an otherwise good stream."""
    broken = piece(conn.dialect, "2").replace(b"}", b"", 1)
    frames = [*opening(conn.dialect), piece(conn.dialect, "4"), broken, *closing(conn.dialect)]
    if conn.stream:
        await answer(conn, frames)
        return
    await conn.respond("200 OK", "application/json", whole_body(conn.dialect)[:-5])


@fault("bad_line_after_content")
async def bad_line_after_content(conn: Conn) -> None:
    """The whole answer's content and then a line that is not UTF-8, in one write (so in
    one read at the other end): the content came before the fault, and counts."""
    bad = piece(conn.dialect, "!SPLIT").replace(b"SPLIT", b"\xff\xfe")
    frames = [*opening(conn.dialect), *(piece(conn.dialect, t) for t in ANSWER), bad]
    await conn.chunked("200 OK", content_type(conn.dialect))
    await conn.chunk(b"".join(frames))
    await conn.last_chunk()


@fault("missing_end")
async def missing_end(conn: Conn) -> None:
    """The content, then a clean end of body without a finish reason or end marker."""
    frames = [*opening(conn.dialect), *(piece(conn.dialect, t) for t in ANSWER)]
    if conn.dialect == "anthropic":
        frames.append(sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    await answer(conn, frames)


@fault("finish_without_end_marker")
async def finish_without_end_marker(conn: Conn) -> None:
    """The content and the finish reason, but no `[DONE]` / `message_stop`."""
    frames = [*opening(conn.dialect), *(piece(conn.dialect, t) for t in ANSWER)]
    await answer(conn, [*frames, *closing(conn.dialect, marker=False)])


@fault("html_200")
async def html_200(conn: Conn) -> None:
    """A proxy's error page, sent with HTTP 200."""
    page = b"<html><body><h1>Service temporarily unavailable</h1></body></html>"
    await conn.respond("200 OK", "text/html; charset=utf-8", page)


@fault("wrong_content_type")
async def wrong_content_type(conn: Conn) -> None:
    """The right bytes under the wrong label: text/plain."""
    if conn.stream:
        await conn.respond("200 OK", "text/plain", b"".join(stream_frames(conn.dialect)))
    else:
        await conn.respond("200 OK", "text/plain", whole_body(conn.dialect))


@fault("json_instead_of_stream")
async def json_instead_of_stream(conn: Conn) -> None:
    """A server that ignores `stream: true` and answers with one JSON body."""
    await conn.respond("200 OK", "application/json", whole_body(conn.dialect))


@fault("gzip")
async def gzip_body(conn: Conn) -> None:
    """A good answer, gzip-encoded, which a client must decode."""
    if not conn.stream:
        body = gzip.compress(whole_body(conn.dialect))
        await conn.respond("200 OK", "application/json", body, **{"Content-Encoding": "gzip"})
        return
    packed = gzip.compress(b"".join(stream_frames(conn.dialect)))
    await conn.chunked("200 OK", content_type(conn.dialect), **{"Content-Encoding": "gzip"})
    for i in range(0, len(packed), 16):  # in small pieces, as a stream would come
        await conn.chunk(packed[i : i + 16])
    await conn.last_chunk()


@functools.cache
def bomb() -> bytes:
    """64 KiB that inflate to 64 MiB (made once: making it takes a while)."""
    return gzip.compress(b" " * (64 << 20), compresslevel=9)


@fault("gzip_bomb")
async def gzip_bomb(conn: Conn) -> None:
    kind = content_type(conn.dialect) if conn.stream else "application/json"
    await conn.respond("200 OK", kind, bomb(), **{"Content-Encoding": "gzip"})


@fault("redirect")
async def redirect(conn: Conn) -> None:
    await conn.respond(
        "307 Temporary Redirect", "text/plain", b"moved", Location="http://127.0.0.1:9/v1"
    )


@fault("garbage_status_line")
async def garbage_status_line(conn: Conn) -> None:
    await conn.send(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    conn.writer.close()


@fault("oversized_header")
async def oversized_header(conn: Conn) -> None:
    """One header line of 1 MiB."""
    await conn.send(b"HTTP/1.1 200 OK\r\nX-Filler: " + b"x" * (1 << 20) + b"\r\n\r\n")


@fault("endless_headers")
async def endless_headers(conn: Conn) -> None:
    """Header lines without end (bounded at 1,000,000), as fast as the client reads."""
    await conn.send(b"HTTP/1.1 200 OK\r\n")
    try:
        for i in range(1_000_000):
            await conn.send(f"X-Header-{i}: value\r\n".encode())
    except ConnectionError:
        pass


@fault("bad_chunk_size")
async def bad_chunk_size(conn: Conn) -> None:
    """Chunked framing broken from the first chunk on, in the read with the headers."""
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type(conn.dialect)}\r\n"
    head += "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    await conn.send(head.encode() + b"zz\r\nnot a chunk\r\n")
    conn.writer.close()


@fault("bad_chunk_after_data")
async def bad_chunk_after_data(conn: Conn) -> None:
    """Good chunks, then broken framing once the client has read them, then a close."""
    await conn.chunked("200 OK", content_type(conn.dialect))
    for frame in [*opening(conn.dialect), piece(conn.dialect, "4")]:
        await conn.chunk(frame)
    await asyncio.sleep(0.05)
    await conn.send(b"zz\r\nnot a chunk\r\n")
    conn.writer.close()


# Azure OpenAI's answer to a prompt its content filter flags: a refusal, sent as HTTP 400
_FILTERED = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
        "content management policy.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
    }
}


async def error_head(conn: Conn, body: bytes) -> None:
    """The head of an HTTP 400 whose JSON body is `body`."""
    kind = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    await conn.head("400 Bad Request", {**kind, "Connection": "close"})


@fault("content_filter_in_two_writes")
async def content_filter_in_two_writes(conn: Conn) -> None:
    """A filtered prompt whose error body comes in two TCP writes: read whole, a refusal;
    read as far as it arrived, half a JSON object."""
    body = json.dumps(_FILTERED).encode()
    await error_head(conn, body)
    await conn.send(body[:20])
    await asyncio.sleep(0.05)  # let the client read the first part on its own
    await conn.send(body[20:])


@fault("error_body_unfinished")
async def error_body_unfinished(conn: Conn) -> None:
    """An error body that stops halfway and never ends."""
    body = b'{"error": {"message": "the prompt is too long"}}'
    await error_head(conn, body)
    await conn.send(body[:20])
    await conn.hold()


def _status(status: str, body: bytes, kind: str = "application/json", **extra: str) -> Fault:
    async def respond(conn: Conn) -> None:
        await conn.respond(status, kind, body, **extra)

    return respond


_OVERLOADED = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
FAULTS.update(
    {
        "http_429_retry_after": _status(
            "429 Too Many Requests",
            b'{"error":{"message":"Rate limit reached","type":"requests"}}',
            **{"Retry-After": "1"},
        ),
        "http_429": _status("429 Too Many Requests", b'{"error":{"message":"Rate limit reached"}}'),
        "http_500": _status("500 Internal Server Error", b'{"error":{"message":"boom"}}'),
        "http_502": _status(
            "502 Bad Gateway",
            b"<html><body><center><h1>502 Bad Gateway</h1></center></body></html>",
            "text/html",
        ),
        "http_503": _status("503 Service Unavailable", b"upstream connect error", "text/plain"),
        "http_529": _status("529 Site Overloaded", _OVERLOADED),
    }
)


# --- answers built to break pages, fill memory or leak secrets (issue 17) ---------------

# JSON's escape of a lone surrogate: valid JSON, and json.loads makes it a str no page can
# encode as UTF-8 (json.dumps writes a str holding one as this escape)
LONE = "\ud800"
HUGE = 200_000  # characters of each huge field
TINY_CHUNKS = 100_000  # one character each
# the prose an echoed credential hides behind, longer than the 300-character detail
PADDING = "x" * 255


@fault("lone_surrogates")
async def lone_surrogates(conn: Conn) -> None:
    """A lone surrogate in the model name, the id, the fingerprint and a chunk of content,
    and bytes that are not UTF-8 in x-request-id."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return sse(
            {
                "id": f"chatcmpl-{LONE}",
                "object": "chat.completion.chunk",
                "model": f"m{LONE}",
                "system_fingerprint": f"fp{LONE}",
                "choices": [choice],
            }
        )

    frames = [chunk({"content": f"4{LONE}"}), chunk({"content": "42"}), chunk({}, "stop")]
    await answer(conn, [*frames, sse("[DONE]")], **{"x-request-id": "req-\xff\xfe"})


@fault("lone_surrogate_error")
async def lone_surrogate_error(conn: Conn) -> None:
    body = json.dumps({"error": {"message": f"boom {LONE} at \udcff"}}).encode()
    await conn.respond("500 Internal Server Error", "application/json", body)


@fault("huge_fields_many_chunks")
async def huge_fields_many_chunks(conn: Conn) -> None:
    """Huge identity fields, a huge x-request-id (as long as aiohttp reads a header),
    a huge finish reason, and the answer in TINY_CHUNKS chunks of one character."""
    first = {
        "id": "i" * HUGE,
        "object": "chat.completion.chunk",
        "model": "m" * HUGE,
        "system_fingerprint": "f" * HUGE,
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
    }
    tiny = sse({"choices": [{"index": 0, "delta": {"content": "a"}}]})
    last = sse(
        {"choices": [{"index": 0, "delta": {"refusal": "r" * HUGE}, "finish_reason": "s" * HUGE}]}
    )
    await conn.chunked("200 OK", "text/event-stream", **{"x-request-id": "q" * 8000})
    await conn.chunk(sse(first))
    for _ in range(TINY_CHUNKS // 1000):  # a thousand frames a write, or it takes minutes
        await conn.chunk(tiny * 1000)
    for frame in (last, sse("[DONE]")):
        await conn.chunk(frame)
    await conn.last_chunk()


def _credential(conn: Conn) -> str:
    """The credential the client sent: an API key, or the Basic credential from the
    base URL's userinfo."""
    scheme, _, credential = conn.headers.get("authorization", "").partition(" ")
    return credential or scheme


@fault("key_echo_after_255")
async def key_echo_after_255(conn: Conn) -> None:
    """401 with the credential echoed after 255 characters of message, and more after."""
    message = f"{PADDING} Incorrect API key provided: {_credential(conn)}. " + "See docs. " * 20
    body = json.dumps({"error": {"message": message, "code": "invalid_api_key"}}).encode()
    await conn.respond("401 Unauthorized", "application/json", body)


@fault("key_prefix_echo")
async def key_prefix_echo(conn: Conn) -> None:
    """401 whose message ends with the first 12 characters of the credential, as a
    server that cuts what it echoes."""
    message = f"Incorrect API key provided: {_credential(conn)[:12]}…"
    body = json.dumps({"error": {"message": message}}).encode()
    await conn.respond("401 Unauthorized", "application/json", body)


# --- hostile answers: built to be slow to judge, or to crash a check ---------------------

# the answer cap: a 1 MiB response cannot carry more characters
HOSTILE_CHARS = 1 << 20
# name -> the answer of that many characters; each is also a fault of that name
HOSTILE: dict[str, Callable[[int], str]] = {
    # the fence regex backtracked over every line break: quadratic
    "fence_bomb": lambda n: "```\n" + "\n" * (n - 5) + "x",
    "fence_bomb_spaces": lambda n: "```json" + " " * (n - 8) + "x",
    # the JSON parser recursed into every bracket: RecursionError
    "deep_json": lambda n: "[" * n,
    "deep_json_balanced": lambda n: "[" * (n // 2) + "]" * (n // 2),
    "deep_json_objects": lambda n: '{"a":' * (n // 5),
    "escaped_quotes": lambda n: '["' + '\\"[' * ((n - 2) // 3),
    "one_char": lambda n: "a" * n,
    "one_quote": lambda n: "'" * n,
    "one_backtick": lambda n: "`" * n,
    "digits": lambda n: "1," * (n // 2),
    "many_lines": lambda n: "a\n" * (n // 2),
    "many_fences": lambda n: "```\n" * (n // 4),
    "long_word": lambda n: ("abcdefghijklmnopqrstuvwxyz" * (n // 26 + 1))[:n],
    "declines": lambda n: ("I can't help with that. " * (n // 24 + 1))[:n],
    "unicode": lambda n: ("é拒😀\u0301\ufdfa\u202e" * (n // 6 + 1))[:n],
}
# stream pieces: small enough for any SSE line limit
PIECE_CHARS = 1 << 16


def hostile(make: Callable[[int], str]) -> Fault:
    async def respond(conn: Conn) -> None:
        text = make(HOSTILE_CHARS)
        pieces = [
            piece(conn.dialect, text[at : at + PIECE_CHARS])
            for at in range(0, len(text), PIECE_CHARS)
        ]
        frames = [*opening(conn.dialect), *pieces, *closing(conn.dialect)]
        await answer(conn, frames, text=text)

    return respond


FAULTS.update({name: hostile(make) for name, make in HOSTILE.items()})


# --- the server ---------------------------------------------------------------------------


class FaultServer:
    def __init__(self, fault: str, tls: ssl.SSLContext | None = None) -> None:
        self._fault = FAULTS[fault]
        if fault == "gzip_bomb":
            bomb()  # made now, not on the loop while a client waits for it
        self._tls = tls
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.accepted = 0
        # the states of this process's sockets connected to the port, at each accept
        self.client_sockets: list[list[str]] = []

    @property
    def url(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self._tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.url

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = Conn(reader, writer)
        self._writers.append(writer)
        self.accepted += 1
        self.client_sockets.append(sockets_to(self.port))
        try:
            if await _read_request(conn):
                await self._fault(conn)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client went away first
        except asyncio.CancelledError:
            # close() ends the faults still running; the task is the connection's own, so
            # ending it quietly here hides nothing (asyncio would log it as an error)
            pass
        finally:
            self._tasks.discard(task)
            writer.close()  # flushes what is buffered first; close() aborts the rest


async def _read_request(conn: Conn) -> bool:
    """Read the request head and its JSON body; False when the client sent none."""
    try:
        async with asyncio.timeout(HOLD_SECONDS):
            head = await conn.reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            conn.path = lines[0].split(" ")[1]
            for line in lines[1:]:
                name, _, value = line.partition(":")
                conn.headers[name.strip().lower()] = value.strip()
            raw = await conn.reader.readexactly(int(conn.headers.get("content-length", 0)))
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return False
    conn.body = json.loads(raw) if raw else {}
    return True


# --- leak watching ------------------------------------------------------------------------


def sockets_to(port: int) -> list[str]:
    """The TCP states of this process's sockets whose remote end is 127.0.0.1:`port`, one
    per socket. /proc/net/tcp is read a page at a time while other processes' sockets come
    and go, so a line can be read twice: a socket is its inode, counted once."""
    inodes = set()
    fd_dir = Path("/proc/self/fd")
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(fd_dir / fd)
        except OSError:
            continue  # closed since the listing
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    remote = f"0100007F:{port:04X}"
    states: dict[str, str] = {}  # by inode
    for line in Path("/proc/self/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        if cols[2] == remote and cols[9] in inodes:
            states[cols[9]] = cols[3]
    return list(states.values())


def open_fds() -> set[str]:
    """What this process's open file descriptors point at."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add(f"{fd}->{os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            continue
    return found


def self_signed(directory: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1, made by the
    openssl command, which no client trusts."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
