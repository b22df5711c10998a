"""A minimal canned-response chat endpoint for the cost and rate benchmarks.

The simulator is a full aiohttp application and saturates before a fast prober does, so
the benchmarks that measure a prober's own CPU use this instead: a raw asyncio HTTP/1.1
server (keep-alive, pipelining-safe) that answers every `POST .../chat/completions` with
a pre-rendered, real-format OpenAI answer — one `chat.completion` JSON body, or (when the
request says `"stream": true`) an SSE stream of `--chunks` content chunks, a finish chunk,
a usage chunk and `data: [DONE]`, in chunked transfer encoding, each event in its own
write. The answer is "42" (then " ok" pieces), so every prober's check can pass.

`GET /stats` returns the number of chat requests answered, so every contender is counted
by the same meter. `--delay-ms` holds each answer that long (the scheduling benchmark's
endpoint latency). Run: `python -m bench.canned --port P [--chunks 100] [--delay-ms 0]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

MODEL = "gpt-4o-mini-2024-07-18"
FINGERPRINT = "fp_0ba0d124f1"


def json_body() -> bytes:
    body = {
        "id": "chatcmpl-BENCH0000000000000000000",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "42",
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 21,
            "completion_tokens": 1,
            "total_tokens": 22,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
    return json.dumps(body).encode()


def sse_events(chunks: int) -> list[bytes]:
    """The events of one stream, each framed as an HTTP/1.1 chunk."""
    created = int(time.time())

    def chunk(choices: list[object], usage: object = None) -> bytes:
        payload = {
            "id": "chatcmpl-BENCH0000000000000000000",
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
            "choices": choices,
            "usage": usage,
        }
        return b"data: " + json.dumps(payload).encode() + b"\n\n"

    def delta(content: dict[str, object], finish: str | None = None) -> list[object]:
        return [{"index": 0, "delta": content, "logprobs": None, "finish_reason": finish}]

    events = [chunk(delta({"role": "assistant", "content": "", "refusal": None}))]
    events += [chunk(delta({"content": "42" if i == 0 else " ok"})) for i in range(chunks)]
    events.append(chunk(delta({}, "stop")))
    usage = {"prompt_tokens": 21, "completion_tokens": chunks, "total_tokens": 21 + chunks}
    events.append(chunk([], usage))
    events.append(b"data: [DONE]\n\n")
    return [b"%x\r\n%s\r\n" % (len(e), e) for e in events] + [b"0\r\n\r\n"]


HEADERS = (
    b"x-request-id: req_bench\r\n"
    b"openai-processing-ms: 1\r\n"
    b"x-ratelimit-limit-requests: 10000\r\n"
    b"x-ratelimit-remaining-requests: 9999\r\n"
    b"x-ratelimit-limit-tokens: 1000000\r\n"
    b"x-ratelimit-remaining-tokens: 999000\r\n"
)


class Canned:
    def __init__(self, chunks: int, delay: float) -> None:
        body = json_body()
        self.json = (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + HEADERS
            + b"content-length: %d\r\n\r\n" % len(body)
            + body
        )
        self.stream_head = (
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
            + HEADERS
            + b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        self.events = sse_events(chunks)
        self.delay = delay
        self.served = 0


class Connection(asyncio.Protocol):
    def __init__(self, canned: Canned) -> None:
        self.canned = canned
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.queue: asyncio.Queue[tuple[bytes, bytes]] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.request(head, body)

    def request(self, head: bytes, body: bytes) -> None:
        if self.canned.delay or self.worker is not None:
            # answers must leave in request order: one worker per connection
            self.queue.put_nowait((head, body))
            if self.worker is None:
                self.worker = asyncio.get_running_loop().create_task(self.work())
            return
        self.answer(head, body)

    async def work(self) -> None:
        while True:
            head, body = await self.queue.get()
            if self.canned.delay:
                await asyncio.sleep(self.canned.delay)
            self.answer(head, body)

    def answer(self, head: bytes, body: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        request_line = head.split(b"\r\n", 1)[0]
        if request_line.startswith(b"GET /stats"):
            text = json.dumps({"served": self.canned.served}).encode()
            transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(text), text)
            )
            return
        if not request_line.startswith(b"POST "):
            transport.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
            return
        self.canned.served += 1
        if b'"stream": true' in body or b'"stream":true' in body:
            transport.write(self.canned.stream_head)
            for event in self.canned.events:
                transport.write(event)
        else:
            transport.write(self.canned.json)
        if b"connection: close" in head.lower():
            transport.close()


async def serve(port: int, chunks: int, delay: float) -> None:
    canned = Canned(chunks, delay)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(canned), "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--cpu", type=int, help="pin to this CPU")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    asyncio.run(serve(args.port, args.chunks, args.delay_ms / 1000))


if __name__ == "__main__":
    main()
