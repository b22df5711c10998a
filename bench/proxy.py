"""The proxy's cost: time to first token and total latency it adds over a direct
connection, at 1, 50 and 200 concurrent streams, and its CPU per proxied request.
Run: `python -m bench.proxy [--streams 1 50 200]`.

Three processes on loopback: a paced upstream (this file, `--upstream`: a raw asyncio
HTTP/1.1 server answering every chat request with a real-format OpenAI SSE stream, the
first content chunk after TTFT_MS, then CHUNKS more GAP_MS apart), `chatcanary run` with
two proxies in front of it (refusal verdict on every answer, and on none), and the
client, this process: a raw asyncio socket per stream, no HTTP library, stamping the read
that brings the first content chunk and the one that ends the body. The proxy is pinned
to CPU 0, the upstream and the client to CPU 1. Direct and proxied rounds alternate, so
drift of the machine hits both; the direct rounds are the raw-socket client's floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    cpu_seconds,
    free_port,
    markdown,
    pinned,
    quantile,
    stop,
    wait_http,
    write,
)

TTFT_MS, GAP_MS, CHUNKS = 50, 20, 20
ROUNDS = {1: 200, 50: 20, 200: 5}  # requests per stream: 200, 1000, 1000 in all
BODY = json.dumps(
    {
        "model": "bench",
        "stream": True,
        "messages": [{"role": "user", "content": "What is 17+25? Answer with the number only."}],
    }
).encode()


# --- the paced upstream (its own process) --------------------------------------------------


def _event(payload: dict[str, Any]) -> bytes:
    data = b"data: " + json.dumps(payload).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return _event(
        {"id": "c", "object": "chat.completion.chunk", "model": "bench", "choices": [choice]}
    )


HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"x-request-id: req_bench\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
)
PRELUDE = _chunk({"role": "assistant", "content": ""})
CONTENT = [_chunk({"content": "42" if i == 0 else " ok"}) for i in range(CHUNKS)]
ENDING = (
    _chunk({}, "stop")
    + _event(
        {"id": "c", "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": CHUNKS}}
    )
    + b"%x\r\ndata: [DONE]\n\n\r\n0\r\n\r\n" % len(b"data: [DONE]\n\n")
)


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            writer.write(HEAD + PRELUDE)
            await asyncio.sleep(TTFT_MS / 1000)
            for i, chunk in enumerate(CONTENT):
                if i:
                    await asyncio.sleep(GAP_MS / 1000)
                writer.write(chunk)
            writer.write(ENDING)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def upstream(port: int) -> None:
    server = await asyncio.start_server(_serve_connection, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


# --- the client (this process) --------------------------------------------------------------


async def _worker(port: int, requests: int, delay: float, out: list[tuple[float, float]]) -> None:
    await asyncio.sleep(delay)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(BODY), BODY)
    )
    try:
        for _ in range(requests):
            started = time.perf_counter()
            writer.write(request)
            first = None
            seen = b""
            while True:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("closed mid-answer")
                now = time.perf_counter()
                seen = seen[-64:] + data
                if first is None and b'"content": "42"' in seen:
                    first = now
                if seen.endswith(b"0\r\n\r\n"):
                    break
            assert first is not None
            out.append((first - started, now - started))
    finally:
        writer.close()


async def measure(port: int, streams: int, rounds: int) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    length = (TTFT_MS + (CHUNKS - 1) * GAP_MS) / 1000
    await asyncio.gather(
        *(_worker(port, rounds, length * i / streams, out) for i in range(streams))
    )
    return out


CONFIG = """\
targets: []
canaries: []
proxies:
  - {{name: judged, protocol: openai, listen: "127.0.0.1:{judged}", upstream: "http://127.0.0.1:{up}"}}
  - {{name: unjudged, protocol: openai, listen: "127.0.0.1:{unjudged}", upstream: "http://127.0.0.1:{up}",
     sample_ratio: 0}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 50, 200])
    parser.add_argument("--upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upstream:
        asyncio.run(upstream(args.upstream))
        return
    os.sched_setaffinity(0, {1})
    up_port, judged, unjudged, web = free_port(), free_port(), free_port(), free_port()
    up = subprocess.Popen(
        [sys.executable, "-m", "bench.proxy", "--upstream", str(up_port)], preexec_fn=pinned(1)
    )
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "proxy.yaml"
        config.write_text(CONFIG.format(judged=judged, unjudged=unjudged, up=up_port))
        proxy = subprocess.Popen(
            [sys.executable, "-m", "exporter", "run", "-c", str(config), "--listen",
             f"127.0.0.1:{web}", "--data-dir", tmp, "--log-level", "warning"],
            preexec_fn=pinned(0),
        )  # fmt: skip
        try:
            wait_http(f"http://127.0.0.1:{web}/-/ready")
            rows, results = run(args.streams, up_port, judged, unjudged, proxy.pid)
        finally:
            stop(proxy, up)
    header = [
        "streams", "direct TTFT p50 / p99", "proxied TTFT p50 / p99", "added TTFT p50 / p99",
        "added total p50 / p99", "proxy CPU per request (judged / not)",
    ]  # fmt: skip
    write("proxy", {"results": results}, markdown(header, rows))


def run(
    streams_list: list[int], up: int, judged: int, unjudged: int, pid: int
) -> tuple[list[list[str]], list[dict[str, Any]]]:
    rows, results = [], []
    for streams in streams_list:
        rounds = ROUNDS.get(streams, 5)
        asyncio.run(measure(judged, streams, 1))  # warm-up: connections, caches
        asyncio.run(measure(unjudged, streams, 1))
        direct = asyncio.run(measure(up, streams, rounds))
        before = cpu_seconds(pid)
        proxied = asyncio.run(measure(judged, streams, rounds))
        cpu_judged = (cpu_seconds(pid) - before) / len(proxied)
        direct += asyncio.run(measure(up, streams, rounds))
        before = cpu_seconds(pid)
        plain = asyncio.run(measure(unjudged, streams, rounds))
        cpu_plain = (cpu_seconds(pid) - before) / len(plain)
        proxied += plain

        def q(values: list[float], p: float) -> float:
            return quantile(values, p) * 1000

        d_ttft, p_ttft = [t for t, _ in direct], [t for t, _ in proxied]
        d_total, p_total = [t for _, t in direct], [t for _, t in proxied]
        result = {
            "streams": streams,
            "requests": len(proxied),
            "direct_ttft_ms": {"p50": q(d_ttft, 0.5), "p99": q(d_ttft, 0.99)},
            "proxied_ttft_ms": {"p50": q(p_ttft, 0.5), "p99": q(p_ttft, 0.99)},
            "added_ttft_ms": {
                "p50": q(p_ttft, 0.5) - q(d_ttft, 0.5),
                "p99": q(p_ttft, 0.99) - q(d_ttft, 0.99),
            },
            "added_total_ms": {
                "p50": q(p_total, 0.5) - q(d_total, 0.5),
                "p99": q(p_total, 0.99) - q(d_total, 0.99),
            },
            "cpu_ms_per_request": {"judged": cpu_judged * 1000, "unjudged": cpu_plain * 1000},
        }
        results.append(result)
        rows.append(
            [
                str(streams),
                _pair(result["direct_ttft_ms"]),
                _pair(result["proxied_ttft_ms"]),
                _pair(result["added_ttft_ms"], "+"),
                _pair(result["added_total_ms"], "+"),
                f"{cpu_judged * 1000:.2f} / {cpu_plain * 1000:.2f} ms",
            ]
        )
    return rows, results


def _pair(quantiles: dict[str, float], sign: str = "") -> str:
    return f"{quantiles['p50']:{sign}.2f} / {quantiles['p99']:{sign}.2f} ms"


if __name__ == "__main__":
    main()
