"""The durable store under load. Run: `python -m bench.store [--duration 20]` (as root or
with PostgreSQL 15's binaries installed: a throwaway cluster is started for the run).

1. Write rate: finished runs handed to `Store.record` from the event loop at a fixed
   offered rate (5,000 runs/s, then 20,000 to find the ceiling), as the scheduler's sinks
   hand them; reports the runs committed per second while feeding, the drops, what was
   still queued at the end, the writer's CPU, and the event loop's lateness (a 10 ms
   timer) against the same feed with the store off; the heap frozen as in every case.
   At 5,000 runs/s a third case measures the machine rather than the store: the store
   off beside a separate process that spends the SQLite writer's share of a CPU in that
   round (0.3 ms bursts, sharing nothing with the loop): what any writer that spends that
   CPU on this machine costs the loop, whatever it shares.
2. Scheduler lag: the real `Service` (scheduler, runner, every sink) running 3,000
   canaries at a 10 s interval against the canned endpoint, with the store off, on SQLite
   and on PostgreSQL, its start-up heap frozen as `chatcanary run` freezes it
   (`freeze_heap`): the scheduler's lag and the process's RSS. The lag of runs that
   come in the first second is start-up (every canary's task made at once), the same
   with the store on or off: it is reported apart, the goal judges the rest.

Every case runs in its own process, so that RSS and the loop are its own. The cases a goal
compares run in rounds, each engine in turn within a round (the feed at 5,000 runs/s
three, the scheduler lag six), and each engine's p50 and p99 are those of its samples
pooled over the rounds: a p99 of one 20 s run moves more between runs than the store
moves it. Every RSS is reported beside the import floor (bench/memory.py) measured in
the same run. The quick profile (CHATCANARY_BENCH_QUICK=1) runs one round of short
cases, 200 canaries, SQLite and no store only.
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

from bench.common import (
    QUICK,
    canary_config,
    markdown,
    quantile,
    rss_mb,
    scale,
    start_canned,
    stop,
    write,
)
from exporter.cli import freeze_heap
from exporter.config import Store as StoreSettings
from exporter.config import parse_config
from exporter.result import CheckVerdict, Exchange, Outcome, ProbeResult, Verdict

OFFERED = 5000  # runs/s handed to the store in the write-rate case: the goal
CEILING = 20_000  # a rate above what the writer can take: what it commits is its ceiling
RATES = (OFFERED,) if QUICK else (OFFERED, CEILING)
TICK = 0.01  # seconds between the feeder's hand-overs and the lateness probe's wakes
CANARIES, INTERVAL, DELAY_MS = scale(3000, 200), 10.0, 50.0
DURATION = float(scale(20, 1))  # seconds per case
CONTENDERS_RUNS = scale(20_000, 1_000)
ENGINES = ("off", "sqlite") if QUICK else ("off", "sqlite", "postgresql")
GOAL_RATE = 5000  # runs/s committed into SQLite
# Rounds of the cases a goal compares (the feed at the goal's rate, the service), each round
# every engine in turn: a p99 of one 20 s run moves between runs more than the store moves
# it, so each engine's figures are those of its samples pooled over the rounds
ROUNDS = scale(3, 1)
# The service case's rounds: its p99 moved by more than the goal's 10% between runs of
# three rounds of the same code (+15%, +10.8% and -4.7% over the store off), so it pools
# twice as many samples
SERVICE_ROUNDS = scale(6, 1)
# seconds of the service case whose runs' lag is start-up, reported apart (runs due in
# the first 0.3 s come up to 110 ms late, store on or off)
START_UP = 0.2 if QUICK else 1.0
SAMPLES = "samples_ms"
NEIGHBOUR = "off beside a neighbour"  # the feed's engine name for the machine's case
BURST = 0.0003  # seconds of each of the neighbour's bursts of work
GOAL_LAG = 1.10  # scheduler lag p99 with SQLite at most 110% of the store off


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

    # the default queue (10,000 runs), as in production: past it runs are dropped. A
    # longer one only holds more runs for the garbage collector to walk (seconds-long
    # pauses of the loop with 300,000 queued)
    settings = StoreSettings.model_validate({"url": url})
    registry = CollectorRegistry()
    return Store(locate(settings, directory), settings, "0/1", registry), registry


async def lateness(stop_at: float, into: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < stop_at:
        before = loop.time()
        await asyncio.sleep(TICK)
        into.append(loop.time() - before - TICK)


async def feed_case(
    url: str | None, duration: float, directory: Path, offered: int
) -> dict[str, Any]:
    store, registry = (None, None) if url is None else open_store(url, directory)
    if store is not None:
        await store.open(background=False)
    loop = asyncio.get_running_loop()
    freeze_heap()  # as `chatcanary run` does once it serves
    late: list[float] = []
    template = sample(time.time())
    start = loop.time()
    stop_at = start + duration
    probe = asyncio.create_task(lateness(stop_at, late))
    fed = 0
    cpu, loop_cpu = time.process_time(), time.thread_time()
    while loop.time() < stop_at:
        due = int((loop.time() - start) * offered)
        while fed < due:
            result = replace(template, run_id=uuid.uuid4().hex, started_at=time.time())
            if store is not None:
                store.record(result)
            fed += 1
        await asyncio.sleep(TICK)
    await probe
    cpu, loop_cpu = time.process_time() - cpu, time.thread_time() - loop_cpu
    out: dict[str, Any] = {
        "offered_per_s": offered,
        "fed": fed,
        "cpu_s": round(cpu, 2),
        "loop_thread_cpu_s": round(loop_cpu, 2),
        "loop_late_p50_ms": round(quantile(late, 0.5) * 1000, 3),
        "loop_late_p99_ms": round(quantile(late, 0.99) * 1000, 3),
        "rss_mb": round(rss_mb_self(), 1),
        SAMPLES: [round(x * 1000, 4) for x in late],  # pooled over the rounds, then dropped
    }
    if store is not None and registry is not None:
        written = registry.get_sample_value("chatcanary_store_writes_total", {"result": "written"})
        dropped = registry.get_sample_value("chatcanary_store_writes_total", {"result": "dropped"})
        out["written_per_s"] = round((written or 0) / duration, 1)
        out["dropped"] = int(dropped or 0)
        out["queued_at_end"] = len(store.writer)
        out["writer_cpu_s"] = round(cpu - loop_cpu, 2)  # the other threads: the writer
        out["writer_cpu_us_per_run"] = round((cpu - loop_cpu) / max(written or 0, 1) * 1e6, 1)
        await store.close(grace=0)
    return out


async def contenders_case(directory: Path) -> dict[str, Any]:
    """The SQLite write path three ways, CPU per run (rows built from the same runs, 500 a
    transaction): SQLAlchemy Core per batch through the async engine (the path before),
    the same through the sync engine, and the writer thread's compiled statements with
    sqlite3's multi-row INSERTs (exporter/store/bulk.py)."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    from exporter.store import bulk, locate, migrate, rows
    from exporter.store import engine as engines
    from exporter.store.schema import run_content, runs

    count, batch = CONTENDERS_RUNS, 500
    template = sample(time.time())
    results = [replace(template, run_id=uuid.uuid4().hex) for _ in range(count)]
    chunks = [results[i : i + batch] for i in range(0, count, batch)]
    insert_runs = sqlite_dialect.insert(runs).on_conflict_do_nothing()
    insert_content = sqlite_dialect.insert(run_content).on_conflict_do_nothing()

    async def fresh(name: str) -> str:
        settings = StoreSettings.model_validate({"url": f"sqlite:///{directory}/{name}.db"})
        db = engines.Database(locate(settings, directory))
        await db.run(migrate.upgrade, name)
        await db.dispose()
        return f"{directory}/{name}.db"

    out: dict[str, Any] = {"runs": count, "batch": batch}
    path = await fresh("async")
    StoreSettings.model_validate({"url": f"sqlite:///{path}"})
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    event.listen(engine.sync_engine, "connect", engines._sqlite_pragmas)
    cpu = time.process_time()
    for chunk in chunks:
        async with engine.connect() as conn:
            await conn.execute(insert_runs, [rows.run_row(r, "0/1") for r in chunk])
            await conn.execute(insert_content, [rows.content_row(r, 4096) for r in chunk])
            await conn.commit()
    out["sqlalchemy_async_us_per_run"] = round((time.process_time() - cpu) / count * 1e6, 1)
    await engine.dispose()

    path = await fresh("sync")
    sync = create_engine(f"sqlite:///{path}")
    event.listen(sync, "connect", engines._sqlite_pragmas)
    cpu = time.process_time()
    for chunk in chunks:
        with sync.begin() as conn:
            conn.execute(insert_runs, [rows.run_row(r, "0/1") for r in chunk])
            conn.execute(insert_content, [rows.content_row(r, 4096) for r in chunk])
    out["sqlalchemy_sync_us_per_run"] = round((time.process_time() - cpu) / count * 1e6, 1)
    sync.dispose()

    path = await fresh("compiled")
    writer = bulk.SQLiteBulk(path)
    st = writer.statements
    cpu = time.process_time()
    for chunk in chunks:
        writer.write(
            [st["runs"].params(rows.run_row(r, "0/1")) for r in chunk],
            [st["run_content"].params(rows.content_row(r, 4096)) for r in chunk],
            [],
            lambda: None,  # no pauses: the path's own CPU, as the other two
        )
    out["compiled_multirow_us_per_run"] = round((time.process_time() - cpu) / count * 1e6, 1)
    writer.close()
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
    stamps: list[float] = []  # when each lag came, seconds from the start
    observe = service.metrics.lag.observe
    loop = asyncio.get_running_loop()
    start = loop.time()

    def on_lag(lag: float) -> None:
        lags.append(lag)
        stamps.append(loop.time() - start)
        observe(lag)

    service.scheduler._on_lag = on_lag  # the bench's tap (the histogram still gets it)
    await service.start()
    freeze_heap()  # as `chatcanary run` does once it serves
    await asyncio.sleep(duration)
    rss = rss_mb_self()
    runs = service.latest.runs
    await service.stop(grace=10)
    steady = [lag for lag, at in zip(lags, stamps, strict=True) if at >= START_UP]
    out: dict[str, Any] = {
        "canaries": CANARIES,
        "interval_s": INTERVAL,
        "runs": sum(runs.values()),
        "lag_p50_ms": round(quantile(steady, 0.5) * 1000, 3),
        "lag_p99_ms": round(quantile(steady, 0.99) * 1000, 3),
        "start_up_runs": len(lags) - len(steady),
        "lag_p99_ms_with_start_up": round(quantile(lags, 0.99) * 1000, 3),
        "rss_mb": round(rss, 1),
        SAMPLES: [round(x * 1000, 4) for x in steady],
    }
    if service.store is not None:
        registry = service.registry
        written = registry.get_sample_value("chatcanary_store_writes_total", {"result": "written"})
        out["written"] = int(written or 0)
    return out


def rss_mb_self() -> float:
    import os

    return rss_mb(os.getpid())


NEIGHBOUR_CODE = """
import sys, time
busy, duty = float(sys.argv[1]), float(sys.argv[2])
rest = busy * (1 - duty) / duty
print("ready", flush=True)
while True:
    until = time.perf_counter() + busy
    while time.perf_counter() < until:
        pass
    time.sleep(rest)
"""


def neighbour(duty: float) -> subprocess.Popen[bytes]:
    """A process that works BURST seconds, then sleeps, so as to spend `duty` of a CPU."""
    process = subprocess.Popen(
        [sys.executable, "-c", NEIGHBOUR_CODE, str(BURST), str(duty)], stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    if process.stdout.readline() != b"ready\n":
        raise RuntimeError("the neighbour process did not start")
    return process


def child(
    case: str,
    engine: str,
    url: str | None,
    duration: float,
    endpoint: str,
    offered: int,
    duty: float = 0.0,
) -> None:
    with tempfile.TemporaryDirectory(prefix="chatcanary-bench-store-") as directory:
        if engine == "sqlite":
            url = f"sqlite:///{directory}/chatcanary.db"
        if case == "feed" and duty:  # the store off, beside a neighbour
            beside = neighbour(duty)
            try:
                result = asyncio.run(feed_case(None, duration, Path(directory), offered))
            finally:
                beside.kill()
                beside.wait()
            result["neighbour_duty"] = duty
        elif case == "feed":
            result = asyncio.run(feed_case(url, duration, Path(directory), offered))
        elif case == "contenders":
            result = asyncio.run(contenders_case(Path(directory)))
        else:
            result = asyncio.run(service_case(url, duration, Path(directory), endpoint))
    print(json.dumps(result))


def run_child(
    case: str,
    engine: str,
    pg: str,
    duration: float,
    endpoint: str,
    offered: int = OFFERED,
    duty: float = 0.0,
) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.store", "--child", case, "--engine", engine]
    args += ["--duration", str(duration), "--endpoint", endpoint, "--url", pg]
    args += ["--offered", str(offered), "--duty", str(duty)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=duration * 10 + 300)
    if done.returncode:
        raise RuntimeError(f"{case}/{engine} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(case, engine, {k: v for k, v in result.items() if k != SAMPLES}, flush=True)
    return result


def _by_round(p99s: list[float]) -> str:
    """Each round's own p99 beside the pooled figures, when there were several."""
    return f" (p99 by round: {', '.join(f'{x:.2f}' for x in p99s)})" if len(p99s) > 1 else ""


def tables(
    feed: dict[str, dict[str, dict[str, Any]]],
    service: dict[str, dict[str, Any]],
    goals: dict[str, dict[str, Any]],
    contenders: dict[str, Any],
    floor: float,
) -> str:
    def rss(r: dict[str, Any]) -> str:
        return f"{r['rss_mb']:.1f} ({r['rss_mb'] - floor:+.1f})"

    first = markdown(
        [
            "offered runs/s",
            "store",
            "committed runs/s",
            "dropped",
            "queued at end",
            "loop lateness p50 / p99 ms",
            "writer CPU µs/run",
            "RSS MB (over the floor)",
        ],
        [
            [
                f"{int(rate):,}",
                engine
                if engine != NEIGHBOUR
                else f"off, beside a process spending {r['neighbour_duty']:.0%} of a CPU",
                r.get("written_per_s", "-"),
                r.get("dropped", "-"),
                r.get("queued_at_end", "-"),
                f"{r['loop_late_p50_ms']:.2f} / {r['loop_late_p99_ms']:.2f}"
                + _by_round(r.get("loop_late_p99_ms_by_round", [])),
                r.get("writer_cpu_us_per_run", "-"),
                rss(r),
            ]
            for rate, engines in feed.items()
            for engine, r in engines.items()
        ],
    )
    second = markdown(
        [
            "store",
            "runs",
            "written",
            f"scheduler lag p50 / p99 ms, after the first {START_UP:g} s",
            "p99 ms with the start-up, by round",
            "RSS MB (over the floor)",
        ],
        [
            [
                engine,
                r["runs"],
                r.get("written", "-"),
                f"{r['lag_p50_ms']:.2f} / {r['lag_p99_ms']:.2f}"
                + _by_round(r.get("lag_p99_ms_by_round", [])),
                ", ".join(f"{x:.2f}" for x in r.get("lag_p99_ms_with_start_up_by_round", [])),
                rss(r),
            ]
            for engine, r in service.items()
        ],
    )
    third = markdown(
        ["goal", "measured", "met"],
        [[g["goal"], g["measured"], mark(name, g["met"])] for name, g in goals.items()],
    )
    fourth = markdown(
        ["SQLite write path", "CPU µs per run"],
        [
            [
                "SQLAlchemy Core per batch, async engine (aiosqlite; before)",
                contenders["sqlalchemy_async_us_per_run"],
            ],
            [
                "SQLAlchemy Core per batch, sync engine (sqlite3)",
                contenders["sqlalchemy_sync_us_per_run"],
            ],
            [
                "compiled multi-row INSERTs, sqlite3 (the writer thread)",
                contenders["compiled_multirow_us_per_run"],
            ],
        ],
    )
    return (
        f"RSS beside the import floor measured in the same run ({floor:.1f} MB: a process"
        " that has only imported what `run` needs, bench/memory.py); each case's RSS holds"
        " the bench's own runs and tables too.\n\n"
        f"Write rate (runs offered from the event loop for {DURATION:g} s):\n\n{first}\n"
        f"Scheduler lag ({CANARIES:,} canaries at {INTERVAL:g} s, {DELAY_MS:g} ms answers):"
        f"\n\n{second}\nThe SQLite write path, CPU per run ({contenders['runs']:,} runs, rows "
        f"built included, {contenders['batch']} a transaction):\n\n{fourth}\nGoals:\n\n{third}"
    )


def mark(name: str, met: bool) -> str:
    if name.startswith("postgresql"):  # reported beside SQLite: no goal of its own
        return "—"
    return "**met**" if met else "**not met**"


def judge(
    feed: dict[str, dict[str, dict[str, Any]]], service: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The goals of issue 18, measured: what each is, the figures, met or not."""
    at_goal = feed[str(OFFERED)]
    top = feed[str(max(RATES))]["sqlite"]
    # kept up: nothing dropped, and no more left than a batch gathering and one being written
    kept_up = at_goal["sqlite"]["dropped"] == 0 and at_goal["sqlite"]["queued_at_end"] <= 1000
    ceiling = top["written_per_s"]
    off, sqlite = service["off"]["lag_p99_ms"], service["sqlite"]["lag_p99_ms"]
    late_off, late_sqlite = (at_goal[e]["loop_late_p99_ms"] for e in ("off", "sqlite"))
    goals: dict[str, dict[str, Any]] = {
        "sqlite_write_rate": {
            "goal": f"at least {GOAL_RATE:,} runs/s committed into SQLite",
            "measured": f"{ceiling:,.0f} runs/s committed at {max(RATES):,} offered; "
            f"{'kept up' if kept_up else 'fell behind'} at {OFFERED:,}",
            "committed_per_s": ceiling,
            "met": kept_up and (ceiling >= GOAL_RATE or max(RATES) == OFFERED),
        },
        "scheduler_lag_p99": {
            "goal": "scheduler lag p99 with SQLite within 10% of the store off "
            f"(runs after the first {START_UP:g} s of start-up)",
            "measured": f"{sqlite:.1f} ms vs {off:.1f} ms",
            "off_ms": off,
            "sqlite_ms": sqlite,
            "met": sqlite <= off * GOAL_LAG,
        },
        "loop_lateness_p99_at_goal_rate": {
            "goal": f"event-loop lateness p99 while {OFFERED:,} runs/s go into SQLite "
            "within 10% of the store off",
            "measured": f"{late_sqlite:.2f} ms vs {late_off:.2f} ms",
            "off_ms": late_off,
            "sqlite_ms": late_sqlite,
            "met": late_sqlite <= late_off * GOAL_LAG,
        },
    }
    if NEIGHBOUR in at_goal:  # the machine's share of it
        beside = at_goal[NEIGHBOUR]
        late = goals["loop_lateness_p99_at_goal_rate"]
        late["neighbour_ms"] = beside["loop_late_p99_ms"]
        late["measured"] += (
            f" (the store off beside a process spending the writer's {beside['neighbour_duty']:.0%}"
            f" of a CPU: {beside['loop_late_p99_ms']:.2f} ms)"
        )
    if "postgresql" in at_goal:  # reported beside SQLite, no goal of its own
        goals["postgresql_write_rate"] = {
            "goal": "PostgreSQL, beside SQLite (no goal of its own)",
            "measured": f"{feed[str(max(RATES))]['postgresql']['written_per_s']:,.0f} runs/s "
            f"committed at {max(RATES):,} offered; lag p99 "
            f"{service['postgresql']['lag_p99_ms']:.1f} ms",
            "met": None,  # no goal: reported beside SQLite
        }
    return goals


def pooled(results: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """One engine's rounds as one result: `name`'s p50 and p99 over every round's samples
    (each round's p99 kept beside), the worst drops and backlog, the mean rates and CPU."""
    samples = [x for r in results for x in r[SAMPLES]]
    out = {k: v for k, v in results[-1].items() if k != SAMPLES}
    out["rounds"] = len(results)
    out[f"{name}_p50_ms"] = round(quantile(samples, 0.5), 3)
    out[f"{name}_p99_ms"] = round(quantile(samples, 0.99), 3)
    out[f"{name}_p99_ms_by_round"] = [r[f"{name}_p99_ms"] for r in results]
    if f"{name}_p99_ms_with_start_up" in out:  # not pooled: the samples are the rest's
        out[f"{name}_p99_ms_with_start_up_by_round"] = [
            r[f"{name}_p99_ms_with_start_up"] for r in results
        ]
        del out[f"{name}_p99_ms_with_start_up"]
    for key in ("dropped", "queued_at_end"):
        if key in out:
            out[key] = max(r[key] for r in results)
    for key in (
        "written_per_s",
        "writer_cpu_us_per_run",
        "cpu_s",
        "loop_thread_cpu_s",
        "neighbour_duty",
    ):
        if key in out:
            out[key] = round(sum(r[key] for r in results) / len(results), 1)
    for key in ("runs", "written", "start_up_runs"):
        if key in out:
            out[key] = sum(r[key] for r in results)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=DURATION, help="seconds per case")
    parser.add_argument(
        "--child", choices=("feed", "service", "contenders"), help=argparse.SUPPRESS
    )
    parser.add_argument("--engine", choices=("off", "sqlite", "postgresql"), help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", default="", help=argparse.SUPPRESS)
    parser.add_argument("--offered", type=int, default=OFFERED, help=argparse.SUPPRESS)
    parser.add_argument("--duty", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url = args.url if args.engine == "postgresql" else None
        child(args.child, args.engine, url, args.duration, args.endpoint, args.offered, args.duty)
        return

    cluster = None
    if "postgresql" in ENGINES:
        from tests.integration.postgres import Cluster  # the tests' throwaway cluster

        root = Path(tempfile.mkdtemp(prefix="chatcanary-bench-pg-", dir="/tmp"))
        cluster = Cluster(root, free_port_number())
        cluster.init()
        cluster.start()
        cluster.create_database("feed")
        cluster.create_database("service")
    canned, endpoint = start_canned(delay_ms=DELAY_MS)
    try:
        feed = {}
        for rate in RATES:
            rounds: dict[str, list[dict[str, Any]]] = {e: [] for e in ENGINES}
            for _ in range(ROUNDS if rate == OFFERED else 1):
                for e in ENGINES:
                    url = cluster.url("feed") if cluster else ""
                    rounds[e].append(run_child("feed", e, url, args.duration, endpoint, rate))
                if rate == OFFERED:  # the writer's share of a CPU, spent by a neighbour
                    writer = rounds["sqlite"][-1]
                    duty = min(0.9, max(0.01, writer["writer_cpu_s"] / args.duration))
                    case = run_child("feed", "off", "", args.duration, endpoint, rate, duty)
                    rounds.setdefault(NEIGHBOUR, []).append(case)
            feed[str(rate)] = {e: pooled(r, "loop_late") for e, r in rounds.items()}
        contenders = run_child("contenders", "sqlite", "", args.duration, endpoint)
        rounds = {e: [] for e in ENGINES}
        for _ in range(SERVICE_ROUNDS):
            for e in ENGINES:
                url = cluster.url("service") if cluster else ""
                rounds[e].append(run_child("service", e, url, args.duration, endpoint))
        service = {e: pooled(r, "lag") for e, r in rounds.items()}
    finally:
        stop(canned)
        if cluster is not None:
            cluster.stop()
    from bench.memory import floor_mb  # not in the cases' processes: their RSS is measured

    floor = floor_mb()["rss_mb"]  # the import floor, measured in the same run
    goals = judge(feed, service)
    write(
        "store",
        {
            "quick": QUICK,
            "floor_mb": round(floor, 1),
            "duration_s": args.duration,
            "feed": feed,
            "service": service,
            "sqlite_write_path_cpu": contenders,
            "goals": goals,
        },
        tables(feed, service, goals, contenders, floor),
    )


def free_port_number() -> int:
    from bench.common import free_port

    return free_port()


if __name__ == "__main__":
    main()
