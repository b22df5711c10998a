"""Lifecycle guarantees: reloads keep what did not change and serialise, SIGTERM lets
runs in flight finish and flushes traces, a broken sink stops nothing else."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

import aiohttp

from exporter.result import ProbeResult
from exporter.simulator import Behaviour
from tests.integration.conftest import (
    Sim,
    free_port,
    start_exporter,
    stop_exporter,
    wait_for,
)
from tests.integration.otlp_receiver import OTLPReceiver

BASE = """
defaults: {interval: 200ms, jitter: 0, timeout: 3s}
targets: [{name: t, protocol: openai, base_url: "URL/v1", model: m}]
canaries:
"""
KEPT = '  - {name: kept, prompt: "Say hello"}\n'
GONE = '  - {name: gone, prompt: "Say hi"}\n'
NEW = '  - {name: new, prompt: "Say hey"}\n'


def write(path: Path, url: str, *canaries: str) -> None:
    path.write_text(BASE.replace("URL", url) + "".join(canaries))


def probes(text: str, canary: str) -> float:
    """The canary's finished runs, of every outcome."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("chatcanary_probes_total{") and f'canary="{canary}"' in line
    )


async def test_a_reload_keeps_unchanged_canaries_and_drops_removed_ones(
    simulator: Sim, tmp_path: Path
) -> None:
    from exporter.config import load_config

    path = tmp_path / "config.yaml"
    write(path, simulator.url, KEPT, GONE)
    exporter = await start_exporter(load_config(path), path)
    scheduler = exporter.service.scheduler
    try:

        async def both_ran() -> str | None:
            _, text = await exporter.get("/metrics")
            return text if probes(text, "kept") >= 2 and probes(text, "gone") >= 1 else None

        before = await wait_for(both_ran)
        task = scheduler._tasks[("t", "kept")]
        write(path, simulator.url, KEPT, NEW)
        async with (
            aiohttp.ClientSession() as session,
            session.post(exporter.url + "/-/reload") as resp,
        ):
            assert resp.status == 200, await resp.text()

        async def new_ran() -> str | None:
            _, text = await exporter.get("/metrics")
            return text if probes(text, "new") >= 1 else None

        after = await wait_for(new_ran)
        assert scheduler._tasks[("t", "kept")] is task, "an unchanged canary keeps its loop"
        assert probes(after, "kept") >= probes(before, "kept"), "and its counters"
        assert 'canary="gone"' not in after, "a removed canary leaves /metrics"
        assert scheduler.keys == {("t", "kept"), ("t", "new")}
    finally:
        await stop_exporter(exporter)


# interval 1h: the scheduled first runs fall half an hour on or later (spread by a hash of
# the key), so only the runs the test starts are counted
THRESHOLDS = """
defaults: {interval: 1h, timeout: 3s}
targets: [{name: t, protocol: openai, base_url: "URL/v1", model: m}]
canaries:
  - {name: steady, prompt: "Say hello", checks: [{max_duration: 7s}]}
  - {name: tuned, prompt: "Say hi", checks: [{max_duration: BOUND}]}
"""


def series(text: str, canary: str) -> list[str]:
    return [line for line in text.splitlines() if f'canary="{canary}"' in line]


async def test_a_reload_that_changes_one_threshold_restarts_only_that_histogram(
    simulator: Sim, tmp_path: Path
) -> None:
    """Regression: one canary's new latency threshold reset every canary's series,
    counters included."""
    from exporter.config import load_config

    path = tmp_path / "config.yaml"
    path.write_text(THRESHOLDS.replace("URL", simulator.url).replace("BOUND", "8s"))
    exporter = await start_exporter(load_config(path), path)
    service = exporter.service

    async def run(canary: str) -> None:
        spec = service.spec("t", canary)
        assert spec is not None
        await service.run_now(spec)

    try:
        for canary in ("steady", "tuned", "tuned"):
            await run(canary)
        _, before = await exporter.get("/metrics")
        path.write_text(THRESHOLDS.replace("URL", simulator.url).replace("BOUND", "9s"))
        async with (
            aiohttp.ClientSession() as session,
            session.post(exporter.url + "/-/reload") as resp,
        ):
            assert resp.status == 200, await resp.text()
        _, reloaded = await exporter.get("/metrics")
        await run("tuned")
        _, after = await exporter.get("/metrics")
    finally:
        await stop_exporter(exporter)

    duration = "chatcanary_request_duration_seconds"
    steady = series(before, "steady")
    assert any(f"{duration}_bucket" in line and 'le="7.0"' in line for line in steady)
    assert not any('le="8.0"' in line for line in steady), "each canary has its own bounds"
    assert series(reloaded, "steady") == steady, "the other canary is untouched"
    tuned = series(reloaded, "tuned")
    assert probes(reloaded, "tuned") == 2, "the changed canary keeps its counters"
    assert not any(line.startswith(duration) for line in tuned), "its histogram restarts"
    assert probes(after, "tuned") == 3
    tuned = series(after, "tuned")
    assert any(line.startswith(f"{duration}_bucket") and 'le="9.0"' in line for line in tuned)
    assert not any('le="8.0"' in line for line in tuned)
    counts = [line.rsplit(" ", 1)[1] for line in tuned if line.startswith(f"{duration}_count")]
    assert counts == ["1.0"]


async def test_concurrent_reloads_are_serialised(simulator: Sim, tmp_path: Path) -> None:
    from exporter.config import load_config

    path = tmp_path / "config.yaml"
    write(path, simulator.url, KEPT)
    exporter = await start_exporter(load_config(path), path)
    try:
        write(path, simulator.url, KEPT, NEW)
        async with aiohttp.ClientSession() as session:

            async def reload() -> int:
                async with session.post(exporter.url + "/-/reload") as resp:
                    return resp.status

            started = time.monotonic()
            statuses = await asyncio.gather(*(reload() for _ in range(20)))
            took = time.monotonic() - started
            exporter.service.reload()  # and a SIGHUP's reload on top (not rate limited)
        # over HTTP a burst of three, then one reload a second: of twenty at once the first
        # three apply, the rest are told to wait (a slow machine lets one more through for
        # each second the twenty took)
        assert 3 <= statuses.count(200) <= 3 + math.ceil(took), (statuses, took)
        assert set(statuses) == {200, 429}
        loops = [t for t in asyncio.all_tasks() if t.get_name().startswith("canary (")]
        assert sorted(t.get_name() for t in loops) == [
            "canary ('t', 'kept')",
            "canary ('t', 'new')",
        ], "one loop per canary after twenty reloads at once"
    finally:
        await stop_exporter(exporter)


class BrokenSink:
    def record(self, result: ProbeResult) -> None:
        raise RuntimeError("this sink is broken")


async def test_a_crashing_sink_stops_neither_probing_nor_the_other_sinks(
    simulator: Sim, tmp_path: Path
) -> None:
    from exporter.config import load_config

    path = tmp_path / "config.yaml"
    write(path, simulator.url, KEPT)
    exporter = await start_exporter(load_config(path), path)
    exporter.service.sinks.insert(0, BrokenSink())  # first: the others come after it
    try:

        async def going_on() -> str | None:
            _, text = await exporter.get("/metrics")
            failures = 'chatcanary_sink_failures_total{sink="BrokenSink"}'
            counted = any(
                line.startswith(failures) and float(line.split()[-1]) >= 3
                for line in text.splitlines()
            )
            return text if counted and probes(text, "kept") >= 3 else None

        await wait_for(going_on)
        assert exporter.service.recent.latest(("t", "kept")), "the page's sink too"
    finally:
        await stop_exporter(exporter)


async def test_sigterm_finishes_runs_in_flight_flushes_traces_and_exits_0(
    simulator: Sim, receiver: OTLPReceiver, tmp_path: Path
) -> None:
    simulator.sim.set_behaviour("slow", Behaviour(ttft=1.5, answer_tokens=3))
    path = tmp_path / "config.yaml"
    path.write_text(
        f"opentelemetry: {{endpoint: '{receiver.url}', sample_ratio: 1}}\n"
        + BASE.replace("URL", simulator.url).replace("model: m", "model: slow")
        + KEPT
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    process = await asyncio.create_subprocess_exec(
        *(
            sys.executable,
            "-m",
            "exporter",
            "--log-format",
            "json",
            "--log-level",
            "debug",
            "run",
            "-c",
            str(path),
        ),
        *("--listen", f"127.0.0.1:{port}", "--grace", "10"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:

        async def in_flight() -> bool:
            return simulator.sim.in_flight > 0

        await wait_for(in_flight, timeout=30, every=0.05)
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()[-2000:]
    events = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    order = [e["msg"] for e in events]
    assert "stopping" in order, err.decode()[-2000:]
    stopping = order.index("stopping")
    finished = [
        e for e in events[stopping:] if e["msg"] == "canary run" and e.get("outcome") == "success"
    ]
    assert finished, "the run in flight at SIGTERM finished: " + repr(order[-5:])
    assert receiver.spans_named("canary kept"), "its trace was flushed before exit"
