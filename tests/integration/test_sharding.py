"""A sharded fleet for real: three `chatcanary run` processes, one per shard, against the
simulator, scraped by a real Prometheus that evaluates the generated SLO rules."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter import rules
from exporter.config import parse_config
from exporter.sharding import bucket
from exporter.simulator import Behaviour
from tests.integration.conftest import CLI, Sim, free_port, wait_for

SHARDS = 3
TARGETS = ("alpha", "beta", "gamma")
CANARIES = ("c0", "c1", "c2", "c3", "c4")
ALL = {(t, c) for t in TARGETS for c in CANARIES}

CONFIG = (
    "defaults: {{interval: 1s, timeout: 5s, max_tokens: 8}}\n"
    "targets:\n"
    + "".join(
        f'  - {{{{name: {t}, protocol: openai, base_url: "{{url}}/v1", model: m-{t}}}}}\n'
        for t in TARGETS
    )
    + "canaries:\n"
    + "".join(f'  - {{{{name: {c}, prompt: "Say hello"}}}}\n' for c in CANARIES)
    + "slos:\n  - {{name: availability, sli: availability, objective: 99}}\n"
)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def start_shard(
    processes: list[subprocess.Popen[bytes]],
    config_file: Path,
    flags: list[str],
    env: dict[str, str],
    tmp_path: Path,
) -> str:
    """Start one `chatcanary run` process; returns its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CHATCANARY"))}
    with shard_log(tmp_path, url).open("wb") as log:  # the child keeps its own copy
        processes.append(
            subprocess.Popen(
                [*CLI, "run", "-c", str(config_file), "--listen", f"127.0.0.1:{port}", *flags],
                stdout=log,
                stderr=subprocess.STDOUT,
                # each process its own store; the suite's data dir is dropped with CHATCANARY*
                env={**environ, "CHATCANARY_DATA_DIR": str(tmp_path / f"data-{port}"), **env},
            )
        )
    return url


def shard_log(tmp_path: Path, url: str) -> Path:
    """Where the shard serving at `url` writes its output."""
    return tmp_path / f"shard-{url.rsplit(':', 1)[1]}.log"


async def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Metric family name → samples (labels, value) of one exporter's /metrics."""
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as resp:
        text = await resp.text()
    return {
        family.name: [(s.labels, s.value) for s in family.samples]
        for family in text_string_to_metric_families(text)
    }


def runs(metrics: dict[str, list[tuple[dict[str, str], float]]]) -> dict[tuple[str, str], float]:
    """How many runs each (target, canary) pair finished in this process, all outcomes."""
    counts: dict[tuple[str, str], float] = {}
    for labels, value in metrics.get("chatcanary_probes", []):
        key = (labels["target"], labels["canary"])
        counts[key] = counts.get(key, 0.0) + value
    return counts


def ran(metrics: dict[str, list[tuple[dict[str, str], float]]]) -> set[tuple[str, str]]:
    """The (target, canary) pairs that finished at least one run in this process."""
    return {key for key, count in runs(metrics).items() if count > 0}


async def test_every_canary_runs_on_exactly_one_shard_and_rules_sum_across_them(
    simulator: Sim,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
    prometheus_factory: Any,
) -> None:
    for target in TARGETS:  # half the runs fail: both outcomes exist on every target
        simulator.sim.set_behaviour(f"m-{target}", Behaviour(faults={"http_500": 0.5}))
    config_text = CONFIG.format(url=simulator.url)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(config_text)
    # The three spellings of a shard: the flag, the variable, and the StatefulSet ordinal.
    spellings: list[tuple[list[str], dict[str, str]]] = [
        (["--shard", "0/3"], {}),
        ([], {"CHATCANARY_SHARD": "1/3"}),
        (["--shard", "auto"], {"HOSTNAME": "chatcanary-2", "CHATCANARY_SHARDS": "3"}),
    ]
    urls = [start_shard(processes, config_file, flags, env, tmp_path) for flags, env in spellings]

    async def every_pair_ran() -> list[set[tuple[str, str]]] | None:
        for process, url in zip(processes, urls, strict=True):  # a shard that died says why
            assert process.poll() is None, shard_log(tmp_path, url).read_text()
        try:
            seen = [ran(await scrape(url)) for url in urls]
        except aiohttp.ClientError:  # not listening yet
            return None
        return seen if set().union(*seen) == ALL else None

    await wait_for(every_pair_ran, timeout=30, every=0.25)

    async def three_rounds() -> list[set[tuple[str, str]]] | None:
        # A shard has then been scheduling for two whole intervals: a pair it should not
        # own, spread over the same interval, would have run on it by now.
        counts = [runs(await scrape(url)) for url in urls]
        if all(count >= 3 for c in counts for count in c.values() if count > 0):
            return [{key for key, count in c.items() if count > 0} for c in counts]
        return None

    per_shard = await wait_for(three_rounds, timeout=30, every=0.25)
    for index, keys in enumerate(per_shard):
        assert keys == {k for k in ALL if bucket(k, SHARDS) == index}, index
        assert keys, f"shard {index} owns nothing: the test shows nothing"
    assert sum(len(keys) for keys in per_shard) == len(ALL)
    for target in TARGETS:  # so that a per-target rule has to sum across processes
        assert sum(any(t == target for t, _ in keys) for keys in per_shard) >= 2, target
    for index, url in enumerate(urls):
        metrics = await scrape(url)
        assert metrics["chatcanary_shard_info"] == [({"shard": str(index), "shards": "3"}, 1.0)]
        ((_, configured),) = metrics["chatcanary_canaries_configured"]
        assert configured == len(per_shard[index])

    # Prometheus scrapes the three; the SLO rules sum by target across the shards.
    rule_file = tmp_path / "slo.yml"
    config = parse_config(config_text, "config.yaml")
    rule_file.write_text(rules.dump(rules.generate(config, time_scale=0.01)))
    prometheus = prometheus_factory(
        [u.removeprefix("http://") for u in urls], rule_files=(rule_file,)
    )

    async def answer(promql: str, size: int) -> list[dict[str, Any]] | None:
        try:
            result = await prometheus.query(promql)
        except aiohttp.ClientError:  # not listening yet
            return None
        return result if len(result) == size else None

    async def pairs_scraped() -> list[dict[str, Any]] | None:
        promql = 'count by (target, canary) (chatcanary_probes_total{outcome="success"})'
        return await answer(promql, len(ALL))

    counted = await wait_for(pairs_scraped, timeout=30, every=0.5)
    assert {r["value"][1] for r in counted} == {"1"}  # one shard's series per pair

    async def every_shard_up() -> list[dict[str, Any]] | None:
        # one instant of `up` may catch a loaded shard's scrape timing out (1 s interval)
        return await answer("up == 1", SHARDS)

    up = await wait_for(every_shard_up, timeout=30, every=0.5)
    assert {r["metric"]["instance"] for r in up} == {u.removeprefix("http://") for u in urls}

    async def sli_per_target() -> list[dict[str, Any]] | None:
        return await answer("slo:chatcanary_sli_error:ratio_rate5m", len(TARGETS))

    recorded = await wait_for(sli_per_target, timeout=30, every=0.5)
    assert {r["metric"]["target"] for r in recorded} == set(TARGETS)
    assert all("instance" not in r["metric"] for r in recorded)
    assert all(0 <= float(r["value"][1]) <= 1 for r in recorded)


async def test_a_bad_shard_stops_run_with_a_clear_message(tmp_path: Path, simulator: Sim) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(CONFIG.format(url=simulator.url))
    for flags, env, message in [
        (["--shard", "3/3"], {}, "chatcanary: shard index must be in 0..2 for 3 shards, got 3"),
        (
            ["--shard", "auto"],
            {"HOSTNAME": "web-7"},
            "chatcanary: --shard auto needs CHATCANARY_SHARDS",
        ),
        ([], {"CHATCANARY_SHARD": "two"}, "chatcanary: shard wants INDEX/COUNT"),
    ]:
        process = await asyncio.create_subprocess_exec(
            *CLI,
            "run",
            "-c",
            str(config_file),
            "--listen",
            f"127.0.0.1:{free_port()}",
            *flags,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **env},
        )
        _, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 2
        assert err.decode().startswith(message), err.decode()
