"""Soak: many canaries against the simulator with random faults at a high rate, for a
bounded time, watching what must stay flat: RSS, open file descriptors, asyncio tasks.

Run: `python -m bench.soak [--duration 600] [--canaries 50] [--fault-rate 0.5]`.

The exporter's service (scheduler, runner, every dialect, the sinks and the run history)
runs in this process, so its tasks can be counted; the simulator runs in its own process, so
its memory is not ours. Every `--sample` seconds the registry is scraped the way
Prometheus would, and RSS, descriptors and tasks are recorded. Growth is judged by
halves: what RSS gained in the second half of the run against the first half, since a
leak keeps growing while warm-up (allocator pools, caches) levels off.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import statistics
import subprocess
import sys
import time
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bench.common import free_port, put_behaviour, scale, wait_http, write
from bench.memory import rss_mb
from exporter.cli import freeze_heap
from exporter.config import parse_config
from exporter.service import Service
from exporter.simulator import Simulator
from exporter.simulator.behaviour import FAULTS as SIM_FAULTS

# Every simulator fault but the ones that are answers, not failures (content filters).
FAULTS = tuple(f for f in SIM_FAULTS if f not in ("content_filter", "prompt_filtered"))
# protocol -> base_url suffix its SDK takes
DIALECTS = {"openai": "/v1", "azure_openai": "", "anthropic": "", "ollama": ""}

CONFIG = """
defaults:
  interval: {interval}s
  timeout: {timeout}s
  max_tokens: 16
  concurrency: {concurrency}
  max_response_bytes: 32768
web: {{history_size: {history}, failures_kept: {failures}}}
targets:
{targets}
canaries:
{canaries}
"""


def fault_mix(rate: float) -> dict[str, float]:
    """`rate` spread over FAULTS, 429s at a tenth of the share: a 429 pauses every canary
    of its target, and at full share the soak would mostly measure pauses."""
    weights = {name: 0.1 if name.startswith("http_429") else 1.0 for name in FAULTS}
    total = sum(weights.values())
    return {name: rate * weight / total for name, weight in weights.items()}


def config_text(args: argparse.Namespace, url: str) -> str:
    targets = "\n".join(
        f"  - {{name: {p}, protocol: {p}, base_url: '{url}{suffix}', model: soak,"
        f" stream: {str(i % 3 != 2).lower()}}}"  # one dialect in three also reads JSON bodies
        for i, (p, suffix) in enumerate(DIALECTS.items())
    )
    lines = [
        f"  - {{name: c{i:03d}, prompt: 'What is 17+25? Answer with the number only.',"
        " checks: [{contains: '42'}]}"
        for i in range(args.canaries)
    ]
    return CONFIG.format(
        interval=args.interval,
        timeout=args.timeout,
        concurrency=max(1, args.canaries // 4),
        history=args.history,
        failures=args.failures_kept,
        targets=targets,
        canaries="\n".join(lines),
    )


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def counters(text: str) -> tuple[float, dict[str, float]]:
    """Finished runs, and errored runs by error class, from an exposition."""
    runs, errors = 0.0, {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "chatcanary_probes_total":
                runs += sample.value
            elif sample.name == "chatcanary_probe_errors_total":
                cls = sample.labels["error_class"]
                errors[cls] = errors.get(cls, 0.0) + sample.value
    return runs, errors


async def soak(url: str, args: argparse.Namespace) -> dict[str, Any]:
    config = parse_config(config_text(args, url), "soak.yaml")
    service = Service(config)
    loops = len(config.plan())
    samples: list[dict[str, float]] = []
    before = {"fds": open_fds(), "tasks": len(asyncio.all_tasks())}
    started = time.monotonic()
    await service.start()
    freeze_heap()  # as `chatcanary run` does once it serves
    try:
        end = started + args.duration
        while True:
            runs, _ = counters(generate_latest(service.registry).decode())
            samples.append(
                {
                    "t": round(time.monotonic() - started, 1),
                    "rss_mb": round(rss_mb(os.getpid()), 2),
                    "fds": open_fds(),
                    "tasks": len(asyncio.all_tasks()),
                    "runs": runs,
                }
            )
            if time.monotonic() >= end:
                break
            await asyncio.sleep(min(args.sample, max(0.0, end - time.monotonic())))
        text = generate_latest(service.registry).decode()
    finally:
        await service.stop(grace=args.timeout + 1)
    await asyncio.sleep(0.5)  # let closed transports finish closing
    after = {"fds": open_fds(), "tasks": len(asyncio.all_tasks())}
    runs, errors = counters(text)
    elapsed = time.monotonic() - started
    return {
        "loops": loops,
        "elapsed_s": round(elapsed, 1),
        "runs": runs,
        "errors": errors,
        "before_start": before,
        "after_stop": after,
        "samples": samples,
    }


def summarise(raw: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    samples = raw["samples"]
    rss = [s["rss_mb"] for s in samples]
    half = len(rss) // 2
    first_growth = rss[half] - rss[0]
    second_growth = rss[-1] - rss[half]
    errors = {k: int(v) for k, v in sorted(raw["errors"].items())}
    return {
        "settings": {
            "duration_s": args.duration,
            "loops": raw["loops"],
            "interval_s": args.interval,
            "timeout_s": args.timeout,
            "fault_rate": args.fault_rate,
            "history_size": args.history,
            "failures_kept": args.failures_kept,
            "faults": list(FAULTS),
        },
        "elapsed_s": raw["elapsed_s"],
        "runs": int(raw["runs"]),
        "runs_per_s": round(raw["runs"] / raw["elapsed_s"], 2),
        "errored_runs": sum(errors.values()),
        "error_classes": errors,
        "rss_mb": {
            "start": rss[0],
            "middle": rss[half],
            "end": rss[-1],
            "max": max(rss),
            "growth_first_half": round(first_growth, 2),
            "growth_second_half": round(second_growth, 2),
        },
        "fds": {
            "start": samples[0]["fds"],
            "end": samples[-1]["fds"],
            "max": max(s["fds"] for s in samples),
            "median": statistics.median(s["fds"] for s in samples),
        },
        "tasks": {
            "start": samples[0]["tasks"],
            "end": samples[-1]["tasks"],
            "max": max(s["tasks"] for s in samples),
            "median": statistics.median(s["tasks"] for s in samples),
        },
        "before_start": raw["before_start"],
        "after_stop": raw["after_stop"],
        "samples": samples,
    }


def start_simulator() -> tuple[subprocess.Popen[bytes], str]:
    """The simulator in its own process (this module's `--serve` mode), so that it shares
    neither CPU time nor memory with the exporter being watched."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.soak", "--serve", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/v1/models")
    except OSError:
        process.kill()
        raise
    return process, url


async def serve(port: int) -> None:
    simulator = Simulator(scenario="healthy")
    await simulator.start("127.0.0.1", port)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await simulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=scale(600, 4), help="seconds (bounded)")
    parser.add_argument(
        "--canaries", type=int, default=scale(50, 5), help="canaries per dialect (4 dialects)"
    )
    parser.add_argument("--interval", type=float, default=scale(10, 1), help="seconds between runs")
    parser.add_argument("--timeout", type=float, default=1.5, help="run deadline, seconds")
    parser.add_argument("--fault-rate", type=float, default=0.5, help="share of faulty answers")
    parser.add_argument("--sample", type=float, default=scale(5, 1), help="seconds between samples")
    # Small, so that the bounded run history fills within the first minutes: growth after
    # that is a leak, not the history filling up (the default, 50 + 10 runs per canary,
    # takes 60 runs of every canary to fill, the whole soak at the default interval).
    parser.add_argument("--history", type=int, default=10, help="recent runs kept per canary")
    parser.add_argument("--failures-kept", type=int, default=5, help="aged-out failures kept")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the simulator process
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(serve(args.serve))
        return
    if not 0 < args.duration <= 24 * 3600:
        parser.error("--duration must be within (0, 86400] seconds")
    if not 0 <= args.fault_rate <= 1:
        parser.error("--fault-rate must be within [0, 1]")
    logging.basicConfig(level=logging.ERROR)  # a failing canary is the point, not news
    process, url = start_simulator()
    try:
        put_behaviour(
            url,
            "soak",
            {
                "ttft": 0.05,
                "ttft_jitter": 0.02,
                "token_interval": 0.01,
                "answer_tokens": 4,
                "faults": fault_mix(args.fault_rate),
                # longer than the deadline, so hangs end by the client's timeout
                "hang_seconds": args.timeout * 2,
                "large_bytes": 64 * 1024,
                "retry_after": 1,
            },
        )
        raw = asyncio.run(soak(url, args))
    finally:
        process.terminate()
        process.wait()
    write("soak", summarise(raw, args))


if __name__ == "__main__":
    main()
