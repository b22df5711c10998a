"""Scheduling under load: 10,000 canaries at a realistic 30 s interval, run by the real
`Service` (scheduler, runner, every sink, history), against a canned endpoint that
answers after a fixed delay. Run: `python -m bench.scheduling [--duration 40]`.

Reports the scheduler lag (due time → run start: timer lateness plus any wait for the
target's concurrency slot, i.e. queueing) apart from the error of the measured request
duration against the endpoint's fixed delay. A second scenario makes the per-target
concurrency limit queue runs on purpose, to show that queueing lands in the lag and not
in the measured latency.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import time
from typing import Any

from bench.common import canary_config, markdown, quantile, scale, start_canned, stop, write
from exporter.cli import freeze_heap
from exporter.config import parse_config
from exporter.service import Service

# the quick profile: 200 canaries at 2 s, so a 2 s scenario still runs each about once
CANARIES, TARGETS, INTERVAL = scale(10_000, 200), scale(100, 10), scale(30, 2)
PROBER_CPU, ENDPOINT_CPU = 0, 1
# name -> (per-target concurrency, endpoint delay ms)
SCENARIOS = {
    "realistic (concurrency 4, 50 ms answers)": (4, 50.0),
    "queueing (concurrency 1, 250 ms answers)": (1, 250.0),
}


async def scenario(concurrency: int, delay_ms: float, duration: float) -> dict[str, Any]:
    canned, endpoint = start_canned(delay_ms=delay_ms, cpu=ENDPOINT_CPU)
    try:
        text = canary_config(endpoint, CANARIES, INTERVAL, targets=TARGETS, concurrency=concurrency)
        service = Service(parse_config(text, "bench"))
        lags: list[float] = []
        durations: list[float] = []
        observe = service.metrics.lag.observe

        def on_lag(lag: float) -> None:
            lags.append(lag)
            observe(lag)

        # the bench's tap on the scheduler's lag callback (the histogram still gets it)
        service.scheduler._on_lag = on_lag
        record = service.prometheus.record

        def on_result(result: Any) -> None:
            durations.append(result.last.duration_seconds)
            record(result)

        service.prometheus.record = on_result  # type: ignore[method-assign]
        pauses = GCPauses()
        gc.callbacks.append(pauses.callback)
        usage0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        await service.start()
        freeze_heap()  # as `chatcanary run` does once it serves
        await asyncio.sleep(duration)
        await service.stop(grace=5)
        usage1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        gc.callbacks.remove(pauses.callback)
    finally:
        stop(canned)
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    delay = delay_ms / 1000
    errors = [d - delay for d in durations]
    return {
        "canaries": CANARIES,
        "targets": TARGETS,
        "interval_s": INTERVAL,
        "concurrency_per_target": concurrency,
        "endpoint_delay_ms": delay_ms,
        "runs": len(durations),
        "runs_per_s": round(len(durations) / (t1 - t0), 1),
        "lag_p50_ms": round(quantile(lags, 0.5) * 1000, 3),
        "lag_p99_ms": round(quantile(lags, 0.99) * 1000, 3),
        "lag_max_ms": round(max(lags) * 1000, 3),
        "duration_error_p50_ms": round(quantile(errors, 0.5) * 1000, 3),
        "duration_error_p99_ms": round(quantile(errors, 0.99) * 1000, 3),
        "prober_cpu_cores": round(cpu / (t1 - t0), 3),
        "gc_full_collections": len(pauses.full),
        "gc_full_pause_max_ms": round(max(pauses.full, default=0) * 1000, 1),
        "gc_pause_total_ms": round(pauses.total * 1000, 1),
    }


class GCPauses:
    """The stop-the-world pauses of Python's cyclic garbage collector: while one runs,
    nothing on the event loop moves, so every run in flight measures it as latency."""

    def __init__(self) -> None:
        self.full: list[float] = []
        self.total = 0.0
        self._started = 0.0

    def callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        self.total += pause
        if info["generation"] == 2:
            self.full.append(pause)


def table(rows: dict[str, dict[str, Any]]) -> str:
    return markdown(
        [
            "scenario",
            "runs (per s)",
            "scheduler lag p50 / p99 / max ms (queueing)",
            "measured duration minus true delay, p50 / p99 ms",
            "prober CPU (cores)",
            "full GC pauses (max ms)",
        ],
        [
            [
                name,
                f"{r['runs']} ({r['runs_per_s']}/s)",
                f"{r['lag_p50_ms']:.2f} / {r['lag_p99_ms']:.2f} / {r['lag_max_ms']:.0f}",
                f"{r['duration_error_p50_ms']:.2f} / {r['duration_error_p99_ms']:.2f}",
                f"{r['prober_cpu_cores']:.2f}",
                f"{r['gc_full_collections']} ({r['gc_full_pause_max_ms']:.0f})",
            ]
            for name, r in rows.items()
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=scale(40, 2), help="seconds per scenario")
    args = parser.parse_args()
    os.sched_setaffinity(0, {PROBER_CPU})
    rows = {
        name: asyncio.run(scenario(concurrency, delay, args.duration))
        for name, (concurrency, delay) in SCENARIOS.items()
    }
    write("scheduling", {"scenarios": rows}, table(rows))


if __name__ == "__main__":
    main()
