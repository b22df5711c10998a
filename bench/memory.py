"""Memory: RSS of `chatcanary run` beside the import floor, measured in the same run, with
the default store (a SQLite file in a fresh temporary data directory). Run:
`python -m bench.memory [--limit 120]`.

1. The import floor: a process that imports only what `run` needs (FLOOR) and sleeps.
2. `run` with 24 canaries (interval 1 s) after 15 s.
3. `run` with 1,000 canaries until every canary has run enough times to fill its
   sparkline ring (SPARK_RUNS) and the store holds that many runs of each, or `--limit`
   seconds; the table says how many runs each canary had, and how many were still queued
   for the store. If the store fell behind, RSS is read again once it caught up.

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
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import (
    canary_config,
    fetch,
    markdown,
    metric_sum,
    pinned,
    rss_mb,
    rss_parts_mb,
    scale,
    served,
    start_canned,
    start_chatcanary,
    stop,
    write,
)
from exporter.history import SPARK_RUNS

# the libraries `chatcanary run` needs with its default store, and nothing of chatcanary
# (pydantic and aiohttp import their parts lazily: name the ones `run` uses; SQLAlchemy's
# sqlite3 dialect imports sqlite3 only when it first connects, so it is named too)
FLOOR = (
    "aiohttp",
    "aiohttp.web",
    "pydantic.main",
    "pydantic.types",
    "pydantic.fields",
    "yaml",
    "orjson",
    "prometheus_client",
    "sqlalchemy",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "sqlite3",
)
RATE = 400.0  # offered runs per second for the large set
PROBER_CPU, ENDPOINT_CPU = 0, 1
SMALL, LARGE = scale(24, 4), scale(1000, 50)
SETTLE = float(scale(15, 2))  # seconds the small set runs before its RSS is read


def floor_mb() -> dict[str, float]:
    """RSS of a process that has imported FLOOR (and then sleeps), with its parts."""
    code = f"import {', '.join(FLOOR)}, sys, time; print('ready', flush=True); time.sleep(600)"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, preexec_fn=pinned(PROBER_CPU)
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"ready\n"
        return rss_parts_mb(process.pid)
    finally:
        process.kill()
        process.wait()


def measure(
    canaries: int, interval: float, runs_each: int, limit: float, settle: float = 0.0
) -> dict[str, Any]:
    """`run` with this many canaries until each has run `runs_each` times or `limit`
    seconds passed: RSS at ready and then, and the store's figures. With `settle`, when
    the store is behind (more than one run per canary queued), the canaries are then
    reloaded with a 1 h interval and RSS read again once the store's queue is empty (or
    `settle` seconds passed): the history without a backlog (plus what the reload cost)."""
    canned, endpoint = start_canned(cpu=ENDPOINT_CPU)
    options = {"targets": max(1, canaries // 100), "concurrency": 16}
    data = Path(tempfile.mkdtemp(prefix="chatcanary-memory-"))
    try:
        config = canary_config(endpoint, canaries, interval, **options)
        process, url = start_chatcanary(config, cpu=PROBER_CPU, data_dir=data)
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
            row: dict[str, Any] = {
                "canaries": canaries,
                "interval_s": interval,
                "seconds": round(elapsed, 1),
                "runs": runs,
                "runs_per_canary": round(runs / canaries, 1),
                "rss_mb_at_ready": round(ready, 1),
                **rounded(rss_parts_mb(process.pid)),
                "store": store_figures(url, data),
            }
            if settle and row["store"]["queued"] > canaries:  # a backlog: let it drain
                (data / "config.yaml").write_text(
                    canary_config(endpoint, canaries, 3600, **options)
                )
                urllib.request.urlopen(
                    urllib.request.Request(url + "/-/reload", method="POST"), timeout=30
                ).close()
                deadline = time.monotonic() + settle
                while store_figures(url, data)["queued"] and time.monotonic() < deadline:
                    time.sleep(0.5)
                row["settled"] = {
                    **rounded(rss_parts_mb(process.pid)),
                    "store": store_figures(url, data),
                }
        finally:
            stop(process)
    finally:
        stop(canned)
    return row


def store_figures(url: str, data: Path) -> dict[str, Any]:
    """Runs written and dropped, runs queued (finished but not committed yet: held in
    memory in full until they are), and the SQLite files' size (with the WAL)."""
    metrics = fetch(url + "/metrics")
    files = (data / "chatcanary.db", data / "chatcanary.db-wal")
    return {
        "written": int(metric_sum(metrics, "chatcanary_store_writes_total", result="written")),
        "dropped": int(metric_sum(metrics, "chatcanary_store_writes_total", result="dropped")),
        "queued": int(metric_sum(metrics, "chatcanary_store_queue_length")),
        "file_mb": round(sum(f.stat().st_size for f in files if f.exists()) / 2**20, 1),
    }


def rounded(parts: dict[str, float]) -> dict[str, float]:
    return {name: round(mb, 1) for name, mb in parts.items()}


def split(row: dict[str, Any]) -> str:
    return f"{row['anon_mb']:.1f} / {row['file_mb']:.1f} MB" if "anon_mb" in row else ""


def table(
    floor: float, floor_parts: dict[str, float], small: dict[str, Any], large: dict[str, Any]
) -> str:
    lines = [
        [
            "import floor (" + ", ".join(FLOOR) + ")",
            "",
            f"{floor:.1f} MB",
            split(floor_parts),
            "",
            "",
            "",
        ]
    ]
    large_settled = {**large, **large.get("settled", {})}
    for name, row, over, cap in (
        (f"{small['runs_per_canary']:g} runs each ({small['seconds']:g} s)", small, 10.0, 70.0),
        (f"{large['runs_per_canary']:g} runs each", large, 40.0, None),
        ("then reloaded with a 1 h interval, the store caught up", large_settled, 40.0, None),
    ):
        if row is large_settled and "settled" not in large:
            continue
        goal = f"≤ floor + {over:g} MB" + ("" if cap is None else f" and ≤ {cap:g} MB")
        met = row["rss_mb"] <= floor + over and (cap is None or row["rss_mb"] <= cap)
        store = row["store"]
        lines.append(
            [
                f"`run`, {row['canaries']:,} canaries: {name}",
                f"{row['rss_mb_at_ready']:.1f} MB",
                f"{row['rss_mb']:.1f} MB",
                split(row),
                f"{row['rss_mb'] - floor:+.1f} MB",
                f"{store['written']:,} / {store['queued']:,} / {store['file_mb']:g} MB",
                f"{goal}: {'met' if met else 'not met'}",
            ]
        )
    header = ["process", "RSS at ready", "RSS", "anonymous / file-backed", "over the floor"]
    return markdown([*header, "store: written / queued / file", "goal"], lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--limit", type=float, default=scale(120, 3), help="seconds for the large set at most"
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {ENDPOINT_CPU})
    floor_parts = floor_mb()
    floor = floor_parts["rss_mb"]
    small = measure(SMALL, 1.0, 10**9, SETTLE)  # runs for SETTLE seconds, whatever it ran
    interval = max(0.05, LARGE / RATE)
    large = measure(LARGE, interval, SPARK_RUNS, args.limit, settle=args.limit)
    result = {
        "floor_mb": round(floor, 1),
        "floor_modules": list(FLOOR),
        "import_process_split_mb": {k: v for k, v in rounded(floor_parts).items() if k != "rss_mb"},
        "spark_runs": SPARK_RUNS,
        "small": small,
        "large": large,
        "goals": {
            "small": small["rss_mb"] <= min(floor + 10, 70),
            "large": large.get("settled", large)["rss_mb"] <= floor + 40,
        },
    }
    write("memory", result, table(floor, floor_parts, small, large))


if __name__ == "__main__":
    main()
