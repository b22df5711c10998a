"""The proxy's cost: time to first token and total latency it adds over a direct
connection, at 1, 50 and 200 concurrent streams, and its CPU per proxied request; beside
it, LiteLLM's proxy (`litellm[proxy]` from `.venv-peers`, a pass-through `openai/` model)
in front of the same upstream, when that virtualenv has it.
Run: `python -m bench.proxy [--streams 1 50 200] [--scale 0.5]`. The goal at 50 streams
(at most 0.5 ms median and 2 ms p99 added, TTFT and total) is written with the figures
as met or not. The quick profile (`CHATCANARY_BENCH_QUICK=1`) paces the upstream ten
times faster, sends a request or three per stream and leaves LiteLLM out (it takes a
minute to start): a few seconds in all.

Three processes on loopback: a paced upstream (this file, `--upstream`: a raw asyncio
HTTP/1.1 server answering every chat request with a real-format OpenAI SSE stream, the
first content chunk after TTFT_MS, then CHUNKS more GAP_MS apart), `chatcanary run` with
two proxies in front of it (refusal verdict on every answer, and on none), and the
client, this process: a raw asyncio socket per stream, no HTTP library, stamping the read
that brings the first content chunk and the one that ends the body. Beside them, the
floor of any proxy in a Python process of its own: a raw asyncio TCP relay (`--relay`,
no parsing, no observing). The proxies (chatcanary's, the relay,
LiteLLM's) are pinned to CPU 0, the upstream and the client to CPU 1. Direct and proxied
rounds alternate (direct, judged, direct, unjudged, direct, relay), so drift of the
machine hits all; the direct rounds are the raw-socket client's floor. LiteLLM's rounds
come after all of those, each after a direct round of its own, once LiteLLM has gone
idle: saturated, it goes on working after its round ends, and that backlog on the shared
core would land in whichever round came next.

"Added" is judged by legs: the upstream stamps when it read each request and wrote the
first and the finish chunk (see STAMP), and the client sums the request's way there and
the chunk's way back, so the upstream's own paced timers, which move by more than the
goal's bound between sets of rounds, are left out. The end-to-end figures and the
upstream's own time are published beside them (bench/notes.md, proxy).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    QUICK,
    cpu_seconds,
    free_port,
    markdown,
    pinned,
    quantile,
    scale,
    stop,
    wait_http,
    write,
)

TTFT_MS, GAP_MS, CHUNKS = scale(50, 5), scale(20, 2), scale(20, 5)
# seconds a stream may wait for its next read (LiteLLM's TTFT p99 at 200 streams: 13 s)
READ_DEADLINE = 120.0
# requests per stream: 200, 1000, 1000 in all
ROUNDS = {1: scale(200, 3), 50: scale(20, 1), 200: scale(5, 1)}
GOAL_STREAMS, GOAL_P50_MS, GOAL_P99_MS = 50, 0.5, 2.0  # added latency, TTFT and total
PEERS = Path(os.environ.get("CHATCANARY_PEERS", Path(__file__).parent.parent / ".venv-peers"))
KEY = "sk-bench-" + secrets.token_hex(8)  # LiteLLM's master key; the others ignore it
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


def _chunk(delta: dict[str, Any], finish: str | None = None, name: str = "c") -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return _event(
        {"id": name, "object": "chat.completion.chunk", "model": "bench", "choices": [choice]}
    )


# The upstream stamps its side of each exchange with `time.perf_counter()` (Linux's
# CLOCK_MONOTONIC, one clock for every process of the machine): when it had read the
# request (a response header), and when it wrote the first content chunk and the finish
# chunk (their `id`s). The client subtracts them from its own stamps: the time each leg
# spent between the processes, without the upstream's paced timers in it.
STAMP = b"x-bench-received"
HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"x-request-id: req_bench\r\n" + STAMP + b": %.9f\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
PRELUDE = _chunk({"role": "assistant", "content": ""})
MORE = _chunk({"content": " ok"})  # the content chunks after the first
USAGE_AND_DONE = _event(
    {"id": "c", "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": CHUNKS}}
) + b"%x\r\ndata: [DONE]\n\n\r\n0\r\n\r\n" % len(b"data: [DONE]\n\n")
RECEIVED = re.compile(STAMP + rb": ([0-9.]+)")
FIRST_WRITTEN = re.compile(rb'"id": ?"f([0-9.]+)"')  # the first content chunk: "42"
LAST_WRITTEN = re.compile(rb'"id": ?"e([0-9.]+)"')  # the finish chunk


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            writer.write(HEAD % time.perf_counter() + PRELUDE)
            await asyncio.sleep(TTFT_MS / 1000)
            writer.write(_chunk({"content": "42"}, name=f"f{time.perf_counter():.9f}"))
            for _ in range(CHUNKS - 1):
                await asyncio.sleep(GAP_MS / 1000)
                writer.write(MORE)
            writer.write(_chunk({}, "stop", f"e{time.perf_counter():.9f}") + USAGE_AND_DONE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


# --- the floor: a raw TCP relay (its own process) ------------------------------------------


class _Pipe(asyncio.Protocol):
    """One side of the relay: what it reads, the other side writes (no parsing at all)."""

    def __init__(self, peer: _Pipe | None = None) -> None:
        self.peer = peer
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


async def relay(port: int, up: int) -> None:
    """What any proxy in its own Python process costs at the least: an asyncio TCP relay
    to the upstream, one connection per client connection."""
    loop = asyncio.get_running_loop()

    class Front(_Pipe):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            transport.pause_reading()  # type: ignore[attr-defined]
            self.connecting = loop.create_task(self.connect())

        async def connect(self) -> None:
            _, self.peer = await loop.create_connection(lambda: _Pipe(self), "127.0.0.1", up)
            assert self.transport is not None
            self.transport.resume_reading()

    server = await loop.create_server(Front, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


async def upstream(port: int) -> None:
    server = await asyncio.start_server(_serve_connection, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


# --- the client (this process) --------------------------------------------------------------


Timing = tuple[float, float, float | None, float | None, float | None]


async def _worker(port: int, requests: int, delay: float, out: list[Timing]) -> None:
    await asyncio.sleep(delay)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\ncontent-type: application/json\r\n"
        b"authorization: Bearer %s\r\ncontent-length: %d\r\n\r\n%s"
        % (KEY.encode(), len(BODY), BODY)
    )
    try:
        for _ in range(requests):
            started = time.perf_counter()
            writer.write(request)
            first = None
            seen = bytearray()
            while True:
                # a peer that stalls fails the bench rather than hanging it
                data = await asyncio.wait_for(reader.read(65536), READ_DEADLINE)
                if not data:
                    raise ConnectionError("closed mid-answer")
                now = time.perf_counter()
                seen += data
                if first is None and b'"42"' in seen[-len(data) - 64 :]:  # both JSON spacings
                    first = now
                if seen.endswith(b"0\r\n\r\n"):
                    break
            assert first is not None
            out.append((first - started, now - started, *_legs(seen, started, first, now)))
    finally:
        writer.close()


def _legs(
    answer: bytes | bytearray, started: float, first: float, end: float
) -> tuple[float, float, float] | tuple[None, None, None]:
    """The time to first token and the total without the upstream's own time (the request's
    way to the upstream plus the first, or last, chunk's way back, from the upstream's
    stamps), and the upstream's own time from reading the request to writing the finish
    chunk. None where a proxy did not pass the stamps on."""
    stamps = [pattern.search(answer) for pattern in (RECEIVED, FIRST_WRITTEN, LAST_WRITTEN)]
    if not all(stamps):
        return None, None, None
    received, written_first, written_last = (float(m.group(1)) for m in stamps if m)
    going = received - started
    return going + first - written_first, going + end - written_last, written_last - received


async def measure(port: int, streams: int, rounds: int) -> list[Timing]:
    out: list[Timing] = []
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


LITELLM_CONFIG = """\
model_list:
  - model_name: bench
    litellm_params: {{model: openai/bench, api_base: "http://127.0.0.1:{up}/v1", api_key: sk-up}}
"""


def start_litellm(up: int, folder: Path) -> tuple[subprocess.Popen[bytes] | None, int, str]:
    """LiteLLM's proxy from `.venv-peers` on CPU 0, or None and why not."""
    if QUICK:
        return None, 0, "LiteLLM not measured in the quick profile"
    if not (PEERS / "bin" / "litellm").exists():
        return None, 0, f"LiteLLM not measured: no `litellm` in {PEERS} (scripts/peers.sh)"
    config = folder / "litellm.yaml"
    config.write_text(LITELLM_CONFIG.format(up=up))
    port = free_port()
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch from the network at start
        "LITELLM_LOG": "ERROR",
        "LITELLM_MASTER_KEY": KEY,
    }
    process = subprocess.Popen(
        [str(PEERS / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1",
         "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, preexec_fn=pinned(0),
    )  # fmt: skip
    wait_http(f"http://127.0.0.1:{port}/health/liveliness", timeout=180)
    version = subprocess.run(
        [str(PEERS / "bin" / "python"), "-c",
         "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return process, port, f"LiteLLM {version}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 50, 200])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply the requests per stream (min 1)"
    )
    parser.add_argument("--upstream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--relay", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.relay:
        asyncio.run(relay(args.relay, args.upstream))
        return
    if args.upstream:
        asyncio.run(upstream(args.upstream))
        return
    os.sched_setaffinity(0, {1})
    up_port, judged, unjudged, web = free_port(), free_port(), free_port(), free_port()
    up = subprocess.Popen(
        [sys.executable, "-m", "bench.proxy", "--upstream", str(up_port)], preexec_fn=pinned(1)
    )
    relay_port = free_port()
    floor = subprocess.Popen(
        [sys.executable, "-m", "bench.proxy", "--relay", str(relay_port), "--upstream",
         str(up_port)],
        preexec_fn=pinned(0),
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "proxy.yaml"
        config.write_text(CONFIG.format(judged=judged, unjudged=unjudged, up=up_port))
        proxy = subprocess.Popen(
            [sys.executable, "-m", "exporter", "run", "-c", str(config), "--listen",
             f"127.0.0.1:{web}", "--data-dir", tmp, "--log-level", "warning"],
            preexec_fn=pinned(0),
        )  # fmt: skip
        litellm, litellm_port, peer = None, 0, ""
        try:
            wait_http(f"http://127.0.0.1:{web}/-/ready")
            litellm, litellm_port, peer = start_litellm(up_port, Path(tmp))
            ports = {
                "up": up_port,
                "judged": judged,
                "unjudged": unjudged,
                "relay": relay_port,
                "litellm": litellm_port,
            }
            pids = {
                "chatcanary": proxy.pid,
                "relay": floor.pid,
                "litellm": litellm.pid if litellm else 0,
            }
            rows, results = run(args.streams, args.scale, ports, pids)
        finally:
            stop(proxy, up, floor, *([litellm] if litellm else []))
    header = [
        "streams", "proxy", "direct TTFT p50 / p99", "proxied TTFT p50 / p99",
        "added TTFT p50 / p99, by legs (end to end)", "added total p50 / p99, by legs (end to end)",
        "upstream's own time vs direct, p50 / p99", "proxy CPU per request",
    ]  # fmt: skip
    table = markdown(header, rows)
    table += "\nAdded latency by legs: the request's way to the upstream and the chunk's way"
    table += " back, from the upstream's stamps (the goal is judged on these); end to end: the"
    table += " proxied rounds' quantile less the direct rounds', the upstream's paced timers"
    table += " in both. The upstream's own time (request read to finish chunk written, on the"
    table += " other CPU) is the difference between the two; it moves by a few tenths of a"
    table += " millisecond with anything busy on the proxies' CPU (bench/notes.md, proxy).\n"
    table += "chatcanary CPU per request: refusal verdict on every answer / on none. The raw"
    table += " TCP relay (no parsing, no observing) is the least any proxy process adds."
    table += f" {peer}"
    table += " (`openai/` pass-through model, master key, no database).\n" if litellm else ".\n"
    goals = _goals(results)
    if goals:
        met = all(goal["met"] for goal in goals.values())
        table += f"Goal at {GOAL_STREAMS} streams (≤ {GOAL_P50_MS} ms median, ≤ {GOAL_P99_MS} ms"
        table += f" p99 added, TTFT and total): {'met' if met else 'not met'}.\n"
    write("proxy", {"litellm": peer, "goals": goals, "results": results}, table)


def _goals(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The goal at GOAL_STREAMS, each figure with its bound and whether it is met: added
    latency by legs (end to end where the stamps did not come through)."""
    at = next((r for r in results if r["streams"] == GOAL_STREAMS), None)
    if at is None:
        return {}
    goals = {}
    for kind in ("ttft", "total"):
        added = at[f"added_{kind}_legs_ms"] or at[f"added_{kind}_ms"]
        for q, bound in (("p50", GOAL_P50_MS), ("p99", GOAL_P99_MS)):
            goals[f"added_{kind}_{q}_ms"] = {
                "bound": bound,
                "measured": round(added[q], 3),
                "met": added[q] <= bound,
            }
    return goals


def _compare(direct: list[Timing], proxied: list[Timing]) -> Any:
    """Quantiles in ms of proxied TTFT and what the proxy adds over the direct rounds: end
    to end, and by legs where the upstream's stamps came through (the goal is judged on
    those: the upstream's paced timers, which jitter from round to round by more than the
    bound, are out of them)."""

    def q(values: list[float], p: float) -> float:
        return quantile(values, p) * 1000

    def added(column: int) -> dict[str, float] | None:
        before = [v for t in direct if (v := t[column]) is not None]
        after = [v for t in proxied if (v := t[column]) is not None]
        if len(after) < len(proxied) or not before:
            return None
        return {p: q(after, x) - q(before, x) for p, x in (("p50", 0.5), ("p99", 0.99))}

    d_ttft, p_ttft = [t[0] for t in direct], [t[0] for t in proxied]
    return {
        "requests": len(proxied),
        "proxied_ttft_ms": {"p50": q(p_ttft, 0.5), "p99": q(p_ttft, 0.99)},
        "added_ttft_ms": added(0),
        "added_total_ms": added(1),
        "added_ttft_legs_ms": added(2),
        "added_total_legs_ms": added(3),
        "added_upstream_ms": added(4),  # the upstream's own time: ~0 unless a proxy slows it
        "direct_ttft_ms": {"p50": q(d_ttft, 0.5), "p99": q(d_ttft, 0.99)},
    }


def run(
    streams_list: list[int], factor: float, ports: dict[str, int], pids: dict[str, int]
) -> tuple[list[list[str]], list[dict[str, Any]]]:
    results: list[dict[str, Any]] = []

    def timed(port: str, pid: str, streams: int, rounds: int) -> tuple[Any, float]:
        before = cpu_seconds(pids[pid])
        out = asyncio.run(measure(ports[port], streams, rounds))
        return out, (cpu_seconds(pids[pid]) - before) / len(out) * 1000

    def rounds_at(streams: int) -> int:
        return max(1, round(ROUNDS.get(streams, scale(5, 1)) * factor))

    for streams in streams_list:
        rounds = rounds_at(streams)
        for name in ("judged", "unjudged", "relay"):  # warm-up: connections, caches
            asyncio.run(measure(ports[name], streams, 1))
        direct = asyncio.run(measure(ports["up"], streams, rounds))
        proxied, cpu_judged = timed("judged", "chatcanary", streams, rounds)
        direct += asyncio.run(measure(ports["up"], streams, rounds))
        plain, cpu_plain = timed("unjudged", "chatcanary", streams, rounds)
        direct += asyncio.run(measure(ports["up"], streams, rounds))
        relayed, cpu_relay = timed("relay", "relay", streams, rounds)
        result = {
            "streams": streams,
            **_compare(direct, proxied + plain),
            "cpu_ms_per_request": {"judged": cpu_judged, "unjudged": cpu_plain},
            "relay": {**_compare(direct, relayed), "cpu_ms_per_request": cpu_relay},
            "litellm": None,
        }
        results.append(result)
    # LiteLLM apart, after the others: saturated (50 streams and more), it goes on working
    # after its round has ended, and on the shared core that backlog would land in the
    # next round of whichever proxy came next
    for streams, result in zip(streams_list, results, strict=True):
        if not ports["litellm"]:
            break
        rounds = rounds_at(streams)
        settle(pids["litellm"])
        asyncio.run(measure(ports["litellm"], streams, 1))  # warm-up
        settle(pids["litellm"])
        direct = asyncio.run(measure(ports["up"], streams, rounds))
        peer, cpu_peer = timed("litellm", "litellm", streams, rounds)
        result["litellm"] = {**_compare(direct, peer), "cpu_ms_per_request": cpu_peer}
    rows = []
    for result in results:
        streams, cpu = result["streams"], result["cpu_ms_per_request"]
        rows.append(
            _row(streams, "chatcanary", result, f"{cpu['judged']:.2f} / {cpu['unjudged']:.2f} ms")
        )
        relay = result["relay"]
        rows.append(_row(streams, "raw TCP relay", relay, f"{relay['cpu_ms_per_request']:.2f} ms"))
        if result["litellm"]:
            peer = result["litellm"]
            rows.append(_row(streams, "LiteLLM", peer, f"{peer['cpu_ms_per_request']:.2f} ms"))
    return rows, results


def settle(pid: int, deadline: float = 60.0) -> None:
    """Wait until the process has gone idle (under 2% of a core over a quarter second),
    for at most `deadline` seconds."""
    stop_at = time.monotonic() + deadline
    before = cpu_seconds(pid)
    while time.monotonic() < stop_at:
        time.sleep(0.25)
        now = cpu_seconds(pid)
        if now - before < 0.005:
            return
        before = now


def _row(streams: int, proxy: str, result: dict[str, Any], cpu: str) -> list[str]:
    def added(kind: str) -> str:
        legs, whole = result[f"added_{kind}_legs_ms"], result[f"added_{kind}_ms"]
        return (_pair(legs, "+") + " (" if legs else "") + _pair(whole, "+") + (")" if legs else "")

    return [
        str(streams),
        proxy,
        _pair(result["direct_ttft_ms"]),
        _pair(result["proxied_ttft_ms"]),
        added("ttft"),
        added("total"),
        _pair(upstream, "+") if (upstream := result["added_upstream_ms"]) else "—",
        cpu,
    ]


def _pair(quantiles: dict[str, float], sign: str = "") -> str:
    return f"{quantiles['p50']:{sign}.2f} / {quantiles['p99']:{sign}.2f} ms"


if __name__ == "__main__":
    main()
