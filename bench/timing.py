"""Timing accuracy: measured TTFT and duration against the simulator's scripted values,
at N concurrent streams. Run: `python -m bench.timing [--streams 1 50] [--rounds 5]`.

Two start patterns at the same concurrency:
- staggered: N workers, starts spread evenly over one stream's length, then back to back,
  so about N streams are always in flight. This is how the scheduler runs canaries.
- burst: N requests started in the same instant. The simulator then parses N requests
  in a row before its clock for each starts, so the queue shows up as error here.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

import aiohttp

from bench.common import put_behaviour, start_simulator, write
from exporter.config import parse_config
from exporter.result import ProbeResult
from exporter.runner import run_canary

TTFT, GAP, TOKENS = 0.2, 0.02, 20

CONFIG = """
defaults: {{timeout: 10s, max_tokens: 100}}
targets: [{{name: sim, protocol: openai, base_url: "{url}/v1", model: bench}}]
canaries: [{{name: c, prompt: "Tell me a story"}}]
"""


async def measure(url: str, streams: int, rounds: int, pattern: str) -> dict[str, object]:
    spec = next(iter(parse_config(CONFIG.format(url=url), "bench").plan().values()))
    scripted_total = TTFT + (TOKENS - 1) * GAP
    ttft_err: list[float] = []
    total_err: list[float] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(i: int) -> list[ProbeResult]:
            if pattern == "staggered":
                await asyncio.sleep(i * scripted_total / streams)
            return [await run_canary(session, spec) for _ in range(rounds)]

        await asyncio.gather(*(run_canary(session, spec) for _ in range(streams)))  # warm-up
        if pattern == "burst":
            batches = [
                await asyncio.gather(*(run_canary(session, spec) for _ in range(streams)))
                for _ in range(rounds)
            ]
        else:
            batches = await asyncio.gather(*(worker(i) for i in range(streams)))
        for r in (r for batch in batches for r in batch):
            assert r.error_class is None, r.error_detail
            assert r.ttft_seconds is not None
            ttft_err.append(abs(r.ttft_seconds - TTFT))
            total_err.append(abs(r.last.duration_seconds - scripted_total))
    q = lambda xs, p: statistics.quantiles(xs, n=100)[p - 1] * 1000  # noqa: E731
    return {
        "pattern": pattern,
        "streams": streams,
        "samples": len(ttft_err),
        "ttft_median_abs_error_ms": round(statistics.median(ttft_err) * 1000, 3),
        "ttft_p99_abs_error_ms": round(q(ttft_err, 99), 3),
        "duration_median_abs_error_ms": round(statistics.median(total_err) * 1000, 3),
        "duration_p99_abs_error_ms": round(q(total_err, 99), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    process, url = start_simulator()
    try:
        put_behaviour(url, "bench", {"ttft": TTFT, "token_interval": GAP, "answer_tokens": TOKENS})
        rows = [
            asyncio.run(measure(url, n, args.rounds, pattern))
            for n in args.streams
            for pattern in ("staggered", "burst")
        ]
    finally:
        process.terminate()
        process.wait()
    write("timing", {"scripted": {"ttft_s": TTFT, "gap_s": GAP, "tokens": TOKENS}, "rows": rows})


if __name__ == "__main__":
    main()
