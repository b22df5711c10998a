"""Raw HTTP/1.1 on both sides of the proxy, for byte-for-byte comparisons.

`Tap` is a TCP relay in front of an upstream that records every byte each way; `exchange`
is a raw-socket client that records every byte it reads; `parse` splits a recorded
message into its start line, its header fields in order and its body with the framing
removed (what RFC 9112 says a message is). Written from the specification, sharing no
code with the proxy or aiohttp.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
from dataclasses import dataclass, field

FRAMING = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}


@dataclass
class Message:
    start: str
    headers: list[tuple[str, str]]
    body: bytes
    complete: bool  # the framing said where the body ends, and it got there

    def fields(self, *without: str) -> list[tuple[str, str]]:
        """The header fields in order, without the framing ones and `without`."""
        drop = FRAMING | {w.lower() for w in without}
        return [(n, v) for n, v in self.headers if n.lower() not in drop]

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)


def parse(data: bytes, response: bool = True) -> tuple[Message, bytes]:
    """One message from the front of `data`, and what follows it."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError(f"no complete head in {data[:200]!r}")
    lines = head.decode("latin-1").split("\r\n")
    headers = [(n, v.strip(" \t")) for n, _, v in (line.partition(":") for line in lines[1:])]
    message = Message(lines[0], headers, b"", False)
    chunked = "chunked" in (message.header("transfer-encoding") or "").lower()
    length = message.header("content-length")
    if chunked:
        body = bytearray()
        while True:
            size_line, sep, after = rest.partition(b"\r\n")
            try:
                size = int(size_line.split(b";")[0], 16)
            except ValueError:
                break
            if not sep or len(after) < size + 2:
                body += after[:size]
                rest = b""
                break
            body += after[:size]
            rest = after[size + 2 :]
            if size == 0:
                message.complete = True
                break
        message.body = bytes(body)
    elif length is not None:
        message.body = rest[: int(length)]
        message.complete = len(message.body) == int(length)
        rest = rest[int(length) :]
    elif response:  # until the connection closes
        message.body, rest = rest, b""
        message.complete = True
    else:
        message.complete = True
    return message, rest


@dataclass
class Tap:
    """A TCP relay to `port` that records both directions of each connection."""

    port: int
    connections: list[tuple[bytearray, bytearray]] = field(default_factory=list)
    open: int = 0  # connections from the proxy not yet closed
    server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sent, received = bytearray(), bytearray()
        self.connections.append((sent, received))
        self.open += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            self.open -= 1
            writer.close()
            return

        async def pump(
            src: asyncio.StreamReader, dst: asyncio.StreamWriter, log: bytearray
        ) -> None:
            try:
                while data := await src.read(65536):
                    log += data
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        try:
            await asyncio.gather(pump(reader, up_writer, sent), pump(up_reader, writer, received))
        finally:
            self.open -= 1


async def exchange(
    port: int, request: bytes, split: list[int] | None = None, tls: ssl.SSLContext | None = None
) -> bytes:
    """Send `request` (in pieces cut at `split`) to the port (over TLS with `tls`) and read
    until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
    cuts = [0, *(split or []), len(request)]
    for start, end in itertools.pairwise(cuts):
        writer.write(request[start:end])
        await writer.drain()
    data = bytearray()
    try:
        while chunk := await reader.read(65536):
            data += chunk
    except (ConnectionError, ssl.SSLError):
        pass
    writer.close()
    return bytes(data)
