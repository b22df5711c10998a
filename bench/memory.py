"""Memory: RSS of `chatcanary run` beside the import floor, measured in the same run, with
the default store (a SQLite file in a fresh temporary data directory). Run:
`python -m bench.memory [--limit 120]`.

1. The import floor: a process that imports only what `run` needs (FLOOR) and sleeps.
2. `run` with 24 canaries (interval 1 s) after 15 s.
3. `run` with 1,000 canaries until every canary has run enough times to fill its
   sparkline ring (SPARK_RUNS) and the store holds that many runs of each, or `--limit`
   seconds; the table says how many runs each canary had.

Each canary set runs against the canned endpoint (its own process, on the other CPU); RSS
is read from /proc. Goals (issue 22): 24 canaries ≤ floor + 10 MB and ≤ 70 MB; 1,000
canaries with full history ≤ floor + 40 MB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    canary_config,
    markdown,
    pinned,
    rss_mb,
    scale,
    served,
    start_canned,
    start_chatcanary,
    stop,
    write,
)
from exporter.history import SPARK_RUNS

# the libraries `chatcanary run` needs with its default store, and nothing of chatcanary
FLOOR = (
    "aiohttp",
    "pydantic",
    "yaml",
    "prometheus_client",
    "sqlalchemy.ext.asyncio",
    "sqlalchemy.dialects.sqlite.aiosqlite",
    "aiosqlite",
)
RATE = 800.0  # offered runs per second: under what one core carries
PROBER_CPU, ENDPOINT_CPU = 0, 1
SMALL, LARGE = scale(24, 4), scale(1000, 50)
SETTLE = float(scale(15, 2))  # seconds the small set runs before its RSS is read


def floor_mb() -> float:
    """RSS of a process that has imported FLOOR (and then sleeps)."""
    code = f"import {', '.join(FLOOR)}, sys, time; print('ready', flush=True); time.sleep(600)"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, preexec_fn=pinned(PROBER_CPU)
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"ready\n"
        return rss_mb(process.pid)
    finally:
        process.kill()
        process.wait()


def measure(canaries: int, interval: float, runs_each: int, limit: float) -> dict[str, Any]:
    """`run` with this many canaries until each has run `runs_each` times or `limit`
    seconds passed; RSS at ready and at the end, and the store's file size."""
    canned, endpoint = start_canned(cpu=ENDPOINT_CPU)
    config = canary_config(
        endpoint, canaries, interval, targets=max(1, canaries // 100), concurrency=16
    )
    data = Path(tempfile.mkdtemp(prefix="chatcanary-memory-"))
    try:
        process, _ = start_chatcanary(config, cpu=PROBER_CPU, data_dir=data)
        try:
            ready = rss_mb(process.pid)
            base = served(endpoint)
            started = time.monotonic()
            while True:
                time.sleep(0.5)
                runs = served(endpoint) - base
                elapsed = time.monotonic() - started
                if runs >= runs_each * canaries or elapsed > limit:
                    break
            rss = rss_mb(process.pid)
        finally:
            stop(process)
    finally:
        stop(canned)
    store = data / "chatcanary.db"
    return {
        "canaries": canaries,
        "interval_s": interval,
        "seconds": round(elapsed, 1),
        "runs": runs,
        "runs_per_canary": round(runs / canaries, 1),
        "rss_mb_at_ready": round(ready, 1),
        "rss_mb": round(rss, 1),
        "store_mb": round(store.stat().st_size / 2**20, 1) if store.exists() else 0.0,
    }


def table(floor: float, small: dict[str, Any], large: dict[str, Any]) -> str:
    rows = []
    for row, over, cap in ((small, 10.0, 70.0), (large, 40.0, None)):
        goal = f"≤ floor + {over:g} MB" + ("" if cap is None else f" and ≤ {cap:g} MB")
        met = row["rss_mb"] <= floor + over and (cap is None or row["rss_mb"] <= cap)
        rows.append(
            [
                f"`run`, {row['canaries']:,} canaries, {row['runs_per_canary']:g} runs each "
                f"({row['seconds']:g} s)",
                f"{row['rss_mb_at_ready']:.1f} MB",
                f"{row['rss_mb']:.1f} MB",
                f"{row['rss_mb'] - floor:+.1f} MB",
                f"{goal}: {'met' if met else 'not met'}",
            ]
        )
    return markdown(
        ["process", "RSS at ready", "RSS", "over the floor", "goal"],
        [["import floor (" + ", ".join(FLOOR) + ")", "", f"{floor:.1f} MB", "", ""], *rows],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--limit", type=float, default=scale(120, 3), help="seconds for the large set at most"
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {ENDPOINT_CPU})
    floor = floor_mb()
    small = measure(SMALL, 1.0, 10**9, SETTLE)  # runs for SETTLE seconds, whatever it ran
    interval = max(0.05, LARGE / RATE)
    large = measure(LARGE, interval, SPARK_RUNS, args.limit)
    result = {
        "floor_mb": round(floor, 1),
        "floor_modules": list(FLOOR),
        "spark_runs": SPARK_RUNS,
        "small": small,
        "large": large,
        "goals": {
            "small": small["rss_mb"] <= min(floor + 10, 70),
            "large": large["rss_mb"] <= floor + 40,
        },
    }
    write("memory", result, table(floor, small, large))


if __name__ == "__main__":
    main()
