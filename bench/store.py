"""The durable store under load. Run: `python -m bench.store [--duration 20]` (as root or
with PostgreSQL 15's binaries installed: a throwaway cluster is started for the run).

1. Write rate: finished runs handed to `Store.record` from the event loop at a fixed
   offered rate (5,000 runs/s), as the scheduler's sinks hand them; reports the runs
   committed per second while feeding, the drops, and the event loop's lateness (a 10 ms
   timer) against the same feed with the store off.
2. Scheduler lag: the real `Service` (scheduler, runner, every sink) running 3,000
   canaries at a 10 s interval against the canned endpoint, with the store off, on SQLite
   and on PostgreSQL: the scheduler's lag and the process's RSS.

Every case runs in its own process, so that RSS and the loop are its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from bench.common import canary_config, markdown, quantile, rss_mb, start_canned, stop, write
from exporter.config import Store as StoreSettings
from exporter.config import parse_config
from exporter.result import CheckVerdict, Exchange, Outcome, ProbeResult, Verdict

OFFERED = 5000  # runs/s handed to the store in the write-rate case
TICK = 0.01  # seconds between the feeder's hand-overs and the lateness probe's wakes
CANARIES, INTERVAL, DELAY_MS = 3000, 10.0, 50.0
ENGINES = ("off", "sqlite", "postgresql")


def sample(started_at: float) -> ProbeResult:
    """A run as a canary makes one: one turn, a short answer, headers, a check, a verdict."""
    turn = Exchange(
        status=200,
        ttft_seconds=0.05,
        duration_seconds=0.08,
        text="The answer is 42. " * 8,
        prompt="What is 17+25? Answer with the number only.",
        finish_reason="stop",
        response_model="gpt-4o-mini-2024-07-18",
        system_fingerprint="fp_bench",
        input_tokens=20,
        output_tokens=40,
        headers=(("x-request-id", "req-bench"), ("x-ratelimit-remaining-requests", "99")),
        started_at=started_at,
    )
    return ProbeResult(
        run_id=uuid.uuid4().hex,
        target="t0",
        canary="c0",
        model="gpt-4o-mini",
        started_at=started_at,
        outcome=Outcome.SUCCESS,
        duration_seconds=0.08,
        turns=(turn,),
        checks=(CheckVerdict("contains", True, "found '42'"),),
        refusal=Verdict(refused=False, detector="none", reason=""),
        trace_id="ab" * 16,
    )


def open_store(url: str, directory: Path) -> tuple[Any, CollectorRegistry]:
    from exporter.store import Store, locate

    settings = StoreSettings.model_validate({"url": url, "queue": 100_000})
    registry = CollectorRegistry()
    return Store(locate(settings, directory), settings, "0/1", registry), registry


async def lateness(stop_at: float, into: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < stop_at:
        before = loop.time()
        await asyncio.sleep(TICK)
        into.append(loop.time() - before - TICK)


async def feed_case(url: str | None, duration: float, directory: Path) -> dict[str, Any]:
    store, registry = (None, None) if url is None else open_store(url, directory)
    if store is not None:
        await store.open(background=False)
    loop = asyncio.get_running_loop()
    late: list[float] = []
    template = sample(time.time())
    start = loop.time()
    stop_at = start + duration
    probe = asyncio.create_task(lateness(stop_at, late))
    fed = 0
    while loop.time() < stop_at:
        due = int((loop.time() - start) * OFFERED)
        while fed < due:
            result = replace(template, run_id=uuid.uuid4().hex, started_at=time.time())
            if store is not None:
                store.record(result)
            fed += 1
        await asyncio.sleep(TICK)
    await probe
    out: dict[str, Any] = {
        "offered_per_s": OFFERED,
        "fed": fed,
        "loop_late_p50_ms": round(quantile(late, 0.5) * 1000, 3),
        "loop_late_p99_ms": round(quantile(late, 0.99) * 1000, 3),
        "rss_mb": round(rss_mb_self(), 1),
    }
    if store is not None and registry is not None:
        written = registry.get_sample_value("chatcanary_store_writes_total", {"result": "written"})
        dropped = registry.get_sample_value("chatcanary_store_writes_total", {"result": "dropped"})
        out["written_per_s"] = round((written or 0) / duration, 1)
        out["dropped"] = int(dropped or 0)
        out["queued_at_end"] = len(store.writer)
        await store.close(grace=60)
    return out


async def service_case(
    url: str | None, duration: float, directory: Path, endpoint: str
) -> dict[str, Any]:
    from exporter.service import Service

    text = canary_config(endpoint, CANARIES, INTERVAL, targets=30, concurrency=64)
    config = parse_config(text, "bench")
    location = None
    if url is not None:
        from exporter.store import locate

        config = config.model_copy(update={"store": StoreSettings.model_validate({"url": url})})
        location = locate(config.store, directory)
    service = Service(config, store=location)
    lags: list[float] = []
    observe = service.metrics.lag.observe

    def on_lag(lag: float) -> None:
        lags.append(lag)
        observe(lag)

    service.scheduler._on_lag = on_lag  # the bench's tap (the histogram still gets it)
    await service.start()
    await asyncio.sleep(duration)
    rss = rss_mb_self()
    runs = service.latest.runs
    await service.stop(grace=10)
    out: dict[str, Any] = {
        "canaries": CANARIES,
        "interval_s": INTERVAL,
        "runs": sum(runs.values()),
        "lag_p50_ms": round(quantile(lags, 0.5) * 1000, 3),
        "lag_p99_ms": round(quantile(lags, 0.99) * 1000, 3),
        "rss_mb": round(rss, 1),
    }
    if service.store is not None:
        registry = service.registry
        written = registry.get_sample_value("chatcanary_store_writes_total", {"result": "written"})
        out["written"] = int(written or 0)
    return out


def rss_mb_self() -> float:
    import os

    return rss_mb(os.getpid())


def child(case: str, engine: str, url: str | None, duration: float, endpoint: str) -> None:
    with tempfile.TemporaryDirectory(prefix="chatcanary-bench-store-") as directory:
        if engine == "sqlite":
            url = f"sqlite:///{directory}/chatcanary.db"
        if case == "feed":
            result = asyncio.run(feed_case(url, duration, Path(directory)))
        else:
            result = asyncio.run(service_case(url, duration, Path(directory), endpoint))
    print(json.dumps(result))


def run_child(case: str, engine: str, pg: str, duration: float, endpoint: str) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.store", "--child", case, "--engine", engine]
    args += ["--duration", str(duration), "--endpoint", endpoint, "--url", pg]
    done = subprocess.run(args, capture_output=True, text=True, timeout=duration * 10 + 300)
    if done.returncode:
        raise RuntimeError(f"{case}/{engine} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(case, engine, result, flush=True)
    return result


def tables(feed: dict[str, dict[str, Any]], service: dict[str, dict[str, Any]]) -> str:
    first = markdown(
        [
            "store",
            "offered runs/s",
            "committed runs/s",
            "dropped",
            "queued at end",
            "loop lateness p50 / p99 ms",
            "RSS MB",
        ],
        [
            [
                engine,
                r["offered_per_s"],
                r.get("written_per_s", "-"),
                r.get("dropped", "-"),
                r.get("queued_at_end", "-"),
                f"{r['loop_late_p50_ms']:.2f} / {r['loop_late_p99_ms']:.2f}",
                r["rss_mb"],
            ]
            for engine, r in feed.items()
        ],
    )
    second = markdown(
        ["store", "runs", "written", "scheduler lag p50 / p99 ms", "RSS MB"],
        [
            [
                engine,
                r["runs"],
                r.get("written", "-"),
                f"{r['lag_p50_ms']:.2f} / {r['lag_p99_ms']:.2f}",
                r["rss_mb"],
            ]
            for engine, r in service.items()
        ],
    )
    return (
        f"Write rate ({OFFERED:,} runs/s offered from the event loop):\n\n{first}\n"
        f"Scheduler lag ({CANARIES:,} canaries at {INTERVAL:g} s, {DELAY_MS:g} ms answers):"
        f"\n\n{second}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per case")
    parser.add_argument("--child", choices=("feed", "service"), help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url = args.url if args.engine == "postgresql" else None
        child(args.child, args.engine, url, args.duration, args.endpoint)
        return

    from tests.integration.postgres import Cluster  # the tests' throwaway cluster

    root = Path(tempfile.mkdtemp(prefix="chatcanary-bench-pg-", dir="/tmp"))
    cluster = Cluster(root, free_port_number())
    cluster.init()
    cluster.start()
    canned, endpoint = start_canned(delay_ms=DELAY_MS)
    try:
        cluster.create_database("feed")
        cluster.create_database("service")
        feed = {
            e: run_child("feed", e, cluster.url("feed"), args.duration, endpoint) for e in ENGINES
        }
        service = {
            e: run_child("service", e, cluster.url("service"), args.duration, endpoint)
            for e in ENGINES
        }
    finally:
        stop(canned)
        cluster.stop()
    sqlite, off = feed["sqlite"], service["off"]
    write(
        "store",
        {
            "feed": feed,
            "service": service,
            "sqlite_written_per_s": sqlite["written_per_s"],
            "lag_p99_off_ms": off["lag_p99_ms"],
            "lag_p99_sqlite_ms": service["sqlite"]["lag_p99_ms"],
        },
        tables(feed, service),
    )


def free_port_number() -> int:
    from bench.common import free_port

    return free_port()


if __name__ == "__main__":
    main()
