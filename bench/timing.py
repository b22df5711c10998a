"""Timing accuracy: chatcanary's measured TTFT, inter-token gaps and total duration against
the simulator's scripted values, at N concurrent streams.
Run: `python -m bench.timing [--streams 1 50 200 500]`.

N workers start spread evenly over one stream's length and then run back to back, so
about N streams are always in flight — the way the scheduler runs canaries. The
simulator (its own process) scripts TTFT and every gap exactly; its clock for a request
starts when its handler gets the request, so the loopback round trip and the simulator's
request parsing are part of every error measured here. The prober (this process) and the
simulator are pinned to a core each; the CPU each used is reported beside each row: once
one of them nears a whole core, the queue on that side shows up as error.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import time
from typing import Any

import aiohttp

from bench.common import (
    QUICK,
    cpu_seconds,
    markdown,
    put_behaviour,
    quantile,
    scale,
    start_simulator,
    stop,
    write,
)
from exporter.cli import freeze_heap
from exporter.config import parse_config
from exporter.protocols.http import timing_trace
from exporter.runner import run_canary

TTFT, GAP, TOKENS = 0.1, 0.05, 20
SCRIPTED_TOTAL = TTFT + (TOKENS - 1) * GAP
# streams -> runs per worker: enough samples for a p99 without a long run (the quick
# profile: a run or two at 1 and 50 streams, figures without meaning)
ROUNDS = {1: scale(30, 2), 50: scale(6, 1), 200: scale(4, 1), 500: scale(3, 1)}
STREAMS = [1, 50] if QUICK else list(ROUNDS)
FLOORS = (1, 200, 500)  # the minimal client's runs, for comparison
LAG_TICK = 0.001  # the loop-lag probe's sleep

CONFIG = """
defaults: {{timeout: 10s, max_tokens: 100}}
targets: [{{name: sim, protocol: openai, base_url: "{url}/v1", model: bench}}]
canaries: [{{name: c, prompt: "Tell me a story"}}]
"""


class LoopLag:
    """What else holds the prober's event loop: a task that sleeps LAG_TICK again and
    again and records how late each wake-up is, and the collector's passes (from
    `gc.callbacks`) with the CPU time each took (CPU, not wall-clock: on a shared machine
    a pass preempted halfway would read as long)."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._gc_started = 0.0
        self._task: asyncio.Task[None] | None = None

    def __enter__(self) -> LoopLag:
        gc.callbacks.append(self._gc)
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._gc)
        if self._task is not None:
            self._task.cancel()

    async def _tick(self) -> None:
        while True:
            due = time.perf_counter() + LAG_TICK
            await asyncio.sleep(LAG_TICK)
            self.lags.append(max(0.0, time.perf_counter() - due))

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.thread_time()
        else:
            self.pauses[info["generation"]].append(time.thread_time() - self._gc_started)

    def figures(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "loop_lag_p99_ms": round(quantile(self.lags, 0.99) * 1000, 3),
            "loop_lag_max_ms": round(max(self.lags, default=0.0) * 1000, 3),
        }
        for generation, pauses in self.pauses.items():
            out[f"gc{generation}_passes"] = len(pauses)
            out[f"gc{generation}_max_ms"] = round(max(pauses, default=0.0) * 1000, 3)
            out[f"gc{generation}_total_ms"] = round(sum(pauses) * 1000, 3)
        return out


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(url: str, simulator_pid: int, streams: int, rounds: int) -> dict[str, Any]:
    spec = next(iter(parse_config(CONFIG.format(url=url), "bench").plan().values()))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, trace_configs=[timing_trace()]) as s:
        ttft: list[float] = []
        gaps: list[float] = []
        total: list[float] = []

        async def worker(i: int) -> None:
            await asyncio.sleep(i * SCRIPTED_TOTAL / streams)
            for _ in range(rounds):
                # only the errors are kept, as floats: `run` keeps no run in memory
                # either, and a list of results would be young objects for the collector
                r = await run_canary(s, spec)
                assert r.error_class is None, r.error_detail
                assert r.ttft_seconds is not None
                ttft.append(abs(r.ttft_seconds - TTFT))
                gaps.extend(abs(gap - GAP) for gap in r.last.chunk_gaps)
                total.append(abs(r.last.duration_seconds - SCRIPTED_TOTAL))

        await asyncio.gather(*(run_canary(s, spec) for _ in range(streams)))  # warm-up
        freeze_heap()  # as `chatcanary run` does once it has started
        cpu0, sim0, t0 = own_cpu(), cpu_seconds(simulator_pid), time.monotonic()
        with LoopLag() as lag:
            await asyncio.gather(*(worker(i) for i in range(streams)))
        cpu1, sim1, t1 = own_cpu(), cpu_seconds(simulator_pid), time.monotonic()
    row: dict[str, Any] = {"streams": streams, "runs": len(ttft), "gaps": len(gaps)}
    for name, errors in (("ttft", ttft), ("gap", gaps), ("duration", total)):
        row[f"{name}_median_abs_error_ms"] = round(quantile(errors, 0.5) * 1000, 3)
        row[f"{name}_p99_abs_error_ms"] = round(quantile(errors, 0.99) * 1000, 3)
    row["prober_cpu_cores"] = round((cpu1 - cpu0) / (t1 - t0), 2)
    row["simulator_cpu_cores"] = round((sim1 - sim0) / (t1 - t0), 2)
    row.update(lag.figures())
    return row


async def reference(url: str, streams: int, rounds: int) -> dict[str, Any]:
    """The floor: TTFT error of a minimal client (raw asyncio socket per stream,
    keep-alive, no HTTP library, stamping each read) against the same simulator, with the
    same start pattern. What it sees is the loopback and the simulator, not a prober."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(
        {
            "model": "bench",
            "messages": [{"role": "user", "content": "Tell me a story"}],
            "max_tokens": 100,
            "stream": True,
        }
    ).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    errors: list[float] = []

    async def worker(i: int) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        await asyncio.sleep(i * SCRIPTED_TOTAL / streams)
        for _ in range(rounds):
            started = time.perf_counter()
            writer.write(request)
            await reader.readuntil(b"\r\n\r\n")
            first, text = None, b""
            while True:  # chunked transfer: size line, data, CRLF; a zero size ends it
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                data = await reader.readexactly(size + 2)
                if size == 0:
                    break
                text += data[:-2]
                if first is None and b'"content": "' in text.replace(b'"content": ""', b""):
                    first = time.perf_counter() - started
            assert first is not None
            errors.append(abs(first - TTFT))
        writer.close()

    await asyncio.gather(*(worker(i) for i in range(streams)))
    return {
        "streams": streams,
        "runs": len(errors),
        "ttft_median_abs_error_ms": round(quantile(errors, 0.5) * 1000, 3),
        "ttft_p99_abs_error_ms": round(quantile(errors, 0.99) * 1000, 3),
    }


def table(rows: list[dict[str, Any]], floors: list[dict[str, Any]]) -> str:
    def pair(row: dict[str, Any], name: str) -> str:
        median = row[f"{name}_median_abs_error_ms"]
        p99 = row[f"{name}_p99_abs_error_ms"]
        return f"{median:.2f} / {p99:.2f}"

    return markdown(
        [
            "concurrent streams",
            "runs",
            "TTFT error ms (median / p99)",
            "inter-token gap error ms",
            "duration error ms",
            "CPU cores: prober / simulator",
            "loop lag ms (p99 / max)",
            "GC passes (gen 0/1/2), longest / total CPU ms",
        ],
        [
            [
                row["streams"],
                row["runs"],
                pair(row, "ttft"),
                pair(row, "gap"),
                pair(row, "duration"),
                f"{row['prober_cpu_cores']:.2f} / {row['simulator_cpu_cores']:.2f}",
                f"{row['loop_lag_p99_ms']:.2f} / {row['loop_lag_max_ms']:.2f}",
                f"{row['gc0_passes']}/{row['gc1_passes']}/{row['gc2_passes']}, "
                f"{max(row[f'gc{g}_max_ms'] for g in range(3)):.2f} / "
                f"{sum(row[f'gc{g}_total_ms'] for g in range(3)):.1f}",
            ]
            for row in rows
        ]
        + [
            [
                f"{floor['streams']}, minimal raw-socket client (the floor)",
                floor["runs"],
                f"{floor['ttft_median_abs_error_ms']:.2f} / {floor['ttft_p99_abs_error_ms']:.2f}",
                "",
                "",
                "",
                "",
                "",
            ]
            for floor in floors
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, nargs="+", default=STREAMS)
    parser.add_argument(
        "--repeats",
        type=int,
        default=scale(3, 1),
        help="consecutive runs at 200 streams (the goal holds in three in a row)",
    )
    args = parser.parse_args()
    # one core each, so neither side's queue hides in the other's scheduling
    os.sched_setaffinity(0, {0})
    process, url = start_simulator(cpu=1)
    try:
        put_behaviour(url, "bench", {"ttft": TTFT, "token_interval": GAP, "answer_tokens": TOKENS})
        rows = [asyncio.run(measure(url, process.pid, n, ROUNDS.get(n, 4))) for n in args.streams]
        most = 200 if 200 in args.streams else max(args.streams)  # the goal is at 200
        repeats = [[row for row in rows if row["streams"] == most]]
        for _ in range(args.repeats - 1):  # the same measurement again, straight after
            repeats.append([asyncio.run(measure(url, process.pid, most, ROUNDS.get(most, 4)))])
        floors = [asyncio.run(reference(url, n, ROUNDS[n])) for n in FLOORS if n in args.streams]
    finally:
        stop(process)
    scripted = {"ttft_s": TTFT, "gap_s": GAP, "tokens": TOKENS}
    result = {
        "scripted": scripted,
        "rows": rows,
        "floors": floors,
        "repeats": [{"rows": run} for run in repeats],
    }
    write("timing", result, table(rows, floors))


if __name__ == "__main__":
    main()
