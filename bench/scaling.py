"""Scaling out: N `chatcanary run --shard i/N` processes share one canary set.
Run: `python -m bench.scaling [--processes 1 2 4]`.

The same config (2,000 canaries, each run back to back: more work than the processes can
do) goes to N processes, each given `--shard i/N`, against the canned endpoint. Reported
per N: the canaries each process owns (from its `chatcanary_canaries_configured`) and the
runs each completed in the measured window (from its `chatcanary_probes_total`), as
max/min ratios, and the total runs per second. The endpoint runs in its own process on
the same machine, unpinned, and takes its share of the cores.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from bench.common import (
    QUICK,
    canary_config,
    cpu_seconds,
    fetch,
    markdown,
    metric_sum,
    scale,
    start_canned,
    start_chatcanary,
    stop,
    write,
)
from exporter.config import parse_config
from exporter.sharding import Shard

CANARIES, TARGETS = scale(2000, 20), scale(20, 4)
WARMUP, WINDOW = scale(5, 1), scale(8, 1)
# back to back in `make bench`; the quick profile runs each canary twice a second
INTERVAL = scale(10, 500) / 1000


def probes(url: str) -> float:
    return metric_sum(fetch(url + "/metrics"), "chatcanary_probes_total")


def measure(endpoint: str, count: int) -> dict[str, Any]:
    config = canary_config(endpoint, CANARIES, INTERVAL, targets=TARGETS, concurrency=16)
    processes = []
    try:
        for index in range(count):
            processes.append(start_chatcanary(config, shard=f"{index}/{count}"))
        time.sleep(WARMUP)
        before = [probes(url) for _, url in processes]
        cpu_before = [cpu_seconds(process.pid) for process, _ in processes]
        started = time.monotonic()
        time.sleep(WINDOW)
        after = [probes(url) for _, url in processes]
        cpu_after = [cpu_seconds(process.pid) for process, _ in processes]
        seconds = time.monotonic() - started
        owned = [
            metric_sum(fetch(url + "/metrics"), "chatcanary_canaries_configured")
            for _, url in processes
        ]
    finally:
        stop(*(process for process, _ in processes))
    runs = [b - a for a, b in zip(before, after, strict=True)]
    return {
        "processes": count,
        "canaries_per_process": [int(n) for n in owned],
        "canaries_max_min_ratio": round(max(owned) / min(owned), 3),
        "runs_per_s_per_process": [round(r / seconds, 1) for r in runs],
        "runs_max_min_ratio": round(max(runs) / min(runs), 3),
        "runs_per_s_total": round(sum(runs) / seconds, 1),
        "cpu_cores_total": round((sum(cpu_after) - sum(cpu_before)) / seconds, 2),
    }


def partition(shards: int, canaries: int = 10_000) -> float:
    """Max/min canaries per shard of a plan of `canaries` (pure: no processes)."""
    text = canary_config("http://127.0.0.1:1", canaries, 60, targets=100)
    plan = parse_config(text, "bench").plan()
    sizes = [len(Shard(i, shards).select(plan)) for i in range(shards)]
    return round(max(sizes) / min(sizes), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2] if QUICK else [1, 2, 4])
    args = parser.parse_args()
    canned, endpoint = start_canned()
    try:
        rows = [measure(endpoint, n) for n in args.processes]
    finally:
        stop(canned)
    base = rows[0]["runs_per_s_total"]
    planned = scale(10_000, 1000)
    partitions = {str(n): partition(n, planned) for n in (2, 4, 8, 16)}
    table = markdown(
        [
            "processes (`--shard i/N`)",
            "canaries per process",
            "max/min canaries",
            "max/min runs",
            "runs/s total",
            "vs 1 process",
            "CPU of the processes (cores)",
        ],
        [
            [
                r["processes"],
                ", ".join(str(n) for n in r["canaries_per_process"]),
                f"{r['canaries_max_min_ratio']:.3f}",
                f"{r['runs_max_min_ratio']:.3f}",
                f"{r['runs_per_s_total']:.0f}",
                f"{r['runs_per_s_total'] / base:.2f}x",
                f"{r['cpu_cores_total']:.2f}",
            ]
            for r in rows
        ],
    )
    table += "\n" + markdown(
        ["shards", *partitions], [[f"max/min canaries of {planned:,}", *partitions.values()]]
    )
    write(
        "scaling",
        {"cores": len(os.sched_getaffinity(0)), "rows": rows, "partition_10k": partitions},
        table,
    )


if __name__ == "__main__":
    main()
