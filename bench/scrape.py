"""Scrape cost: `/metrics` of a running `chatcanary run` at about 1k, 10k and 50k series.
Run: `python -m bench.scrape [--series 1000 10000 50000]`.

Each size is a canary set (streaming canaries, so every histogram family is present) that
runs against the canned endpoint until every canary has a result; then `/metrics` is
scraped with Prometheus's own Accept header (OpenMetrics first) and as plain text, while
the canaries keep running on their interval. Reported: the median and worst wall time of
a scrape as the client sees it, the exporter's CPU per scrape, body size and series count.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import urllib.request
from dataclasses import replace
from typing import Any

import aiohttp
from prometheus_client import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from bench.common import (
    QUICK,
    canary_config,
    cpu_seconds,
    markdown,
    metric_sum,
    quantile,
    scale,
    start_canned,
    start_chatcanary,
    stop,
    write,
)
from exporter.config import parse_config
from exporter.result import ProbeResult
from exporter.runner import run_canary
from exporter.sinks.prometheus import PrometheusSink

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
FORMATS = {"openmetrics": PROMETHEUS_ACCEPT, "text": "text/plain"}
SCRAPES = scale(7, 2)
POLL = scale(1000, 250) / 1000  # seconds between checks that every canary has run
PROBER_CPU, ENDPOINT_CPU = 0, 1


def scrape(url: str, accept: str) -> tuple[float, bytes]:
    request = urllib.request.Request(url + "/metrics", headers={"Accept": accept})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body: bytes = response.read()
    return time.perf_counter() - started, body


def series(body: bytes) -> int:
    return sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))


def measure(url: str, pid: int) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name, accept in FORMATS.items():
        times, cpu = [], []
        for _ in range(SCRAPES):
            before = cpu_seconds(pid)
            seconds, body = scrape(url, accept)
            cpu.append(cpu_seconds(pid) - before)
            times.append(seconds)
        row[name] = {
            "series": series(body),
            "bytes": len(body),
            "median_ms": round(quantile(times, 0.5) * 1000, 1),
            "max_ms": round(max(times) * 1000, 1),
            "cpu_ms_per_scrape": round(1000 * sum(cpu) / len(cpu), 1),
        }
    return row


def series_per_canary(endpoint: str) -> float:
    """Measured on a small set: the series one streaming canary adds."""
    sizes = []
    small = scale(10, 2)
    for canaries in (small, 2 * small):
        process, url = start_chatcanary(canary_config(endpoint, canaries, 0.5, stream=True))
        try:
            wait_for_runs(url, canaries)
            sizes.append(series(scrape(url, "text/plain")[1]))
        finally:
            stop(process)
    return (sizes[1] - sizes[0]) / small


def wait_for_runs(url: str, canaries: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = scrape(url, "text/plain")[1].decode()
        if (
            metric_sum(text, "chatcanary_last_run_timestamp_seconds")
            and text.count("chatcanary_probe_success{") >= canaries
        ):
            return
        time.sleep(POLL)
    raise TimeoutError("the canaries did not all run")


def render_times(endpoint: str, canaries: int) -> dict[str, float]:
    """In this process, side by side: prometheus_client rendering the sink, and the
    sink's own rendering from scratch (every canary changed) and from its cache (none
    changed). Every canary holds a copy of one real streamed result."""
    config = parse_config(canary_config(endpoint, canaries, 1.0, stream=True), "bench")
    spec = next(iter(config.plan().values()))

    async def one() -> ProbeResult:
        async with aiohttp.ClientSession() as session:
            return await run_canary(session, spec)

    result = asyncio.run(one())
    sink = PrometheusSink(config.buckets())
    for target, canary in config.plan():
        sink.record(replace(result, target=target, canary=canary))
    out: dict[str, float] = {}
    for name, render in (
        ("prometheus_client_text_ms", lambda: generate_latest(sink)),
        ("prometheus_client_openmetrics_ms", lambda: generate_openmetrics(sink)),
        ("own_uncached_ms", lambda: sink.render(False)),
        ("own_cached_ms", lambda: sink.render(False)),
    ):
        started = time.perf_counter()
        render()
        out[name] = round((time.perf_counter() - started) * 1000, 1)
    return out


def speedup(render: dict[str, float]) -> float:
    return render["prometheus_client_text_ms"] / max(0.1, render["own_uncached_ms"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--series", type=int, nargs="+", default=[1000, 10_000, 50_000] if not QUICK else [300]
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {ENDPOINT_CPU})
    canned, endpoint = start_canned(chunks=5, cpu=ENDPOINT_CPU)
    rows = []
    try:
        per_canary = series_per_canary(endpoint)
        for wanted in args.series:
            canaries = max(1, round(wanted / per_canary))
            interval = max(1.0, canaries / 300)  # about 300 runs/s in the background
            config = canary_config(endpoint, canaries, interval, stream=True, concurrency=32)
            process, url = start_chatcanary(config, cpu=PROBER_CPU)
            try:
                wait_for_runs(url, canaries)
                row = {"canaries": canaries, "interval_s": interval}
                rows.append({**row, **measure(url, process.pid)})
                rows[-1]["render"] = render_times(endpoint, canaries)
            finally:
                stop(process)
            print(rows[-1], flush=True)
    finally:
        stop(canned)
    out = [
        [
            f"{row['text']['series']:,}",
            f"{row['canaries']:,}",
            f"{row[name]['median_ms']:.1f} / {row[name]['max_ms']:.1f}",
            f"{row[name]['cpu_ms_per_scrape']:.1f}",
            f"{row[name]['bytes'] / 1e6:.2f} MB",
            name,
        ]
        for row in rows
        for name in FORMATS
    ]
    table = markdown(
        ["series", "canaries", "scrape ms (median / max)", "exporter CPU ms", "size", "format"],
        out,
    )
    table += "\n" + markdown(
        [
            "series",
            "prometheus_client text / OpenMetrics ms",
            "chatcanary, every canary changed ms",
            "chatcanary, none changed ms",
            "speed-up (every canary changed)",
        ],
        [
            [
                f"{row['text']['series']:,}",
                f"{row['render']['prometheus_client_text_ms']:.1f} / "
                f"{row['render']['prometheus_client_openmetrics_ms']:.1f}",
                f"{row['render']['own_uncached_ms']:.1f}",
                f"{row['render']['own_cached_ms']:.1f}",
                f"{speedup(row['render']):.1f}x",
            ]
            for row in rows
        ],
    )
    result = {"scrapes_per_point": SCRAPES, "series_per_canary": per_canary, "rows": rows}
    write("scrape", result, table)


if __name__ == "__main__":
    main()
