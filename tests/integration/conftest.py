"""Real components for integration tests: the simulator on a loopback port, the exporter
served in-process, and the Debian Prometheus and promtool binaries started by the tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from exporter.config import Config, parse_config
from exporter.service import Service
from exporter.simulator import Simulator
from exporter.store import Location
from exporter.web import make_app
from tests.integration.otlp_receiver import OTLPReceiver
from tests.integration.postgres import Cluster
from tests.ports import free_port

CLI = [sys.executable, "-m", "exporter"]
MISSING = "{0} is not installed: run `make test` (installs it as root) or apt-get install {1}"


def binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(MISSING.format(name, package))
    return path


@dataclass
class Sim:
    sim: Simulator
    url: str


@pytest.fixture
async def simulator() -> AsyncIterator[Sim]:
    sim = Simulator(scenario="healthy", seed=7)
    url = await sim.start("127.0.0.1", 0)
    yield Sim(sim, url)
    await sim.stop()


def config_for(sim_url: str, body: str) -> Config:
    """A config (a `str.format` template) whose `{url}` points at the simulator."""
    return parse_config(body.format(url=sim_url), "test.yaml")


@dataclass
class Exporter:
    service: Service
    url: str
    runner: web.AppRunner

    async def get(self, path: str, **kwargs: Any) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.url + path, **kwargs) as resp,
        ):
            return resp.status, await resp.text()


async def start_exporter(
    config: Config, path: Path | None = None, store: Location | None = None
) -> Exporter:
    service = Service(config, path=path, store=store)
    await service.start()
    runner = web.AppRunner(make_app(service), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return Exporter(service, f"http://{host}:{port}", runner)


async def stop_exporter(exporter: Exporter) -> None:
    await exporter.service.stop(grace=1)
    await exporter.runner.cleanup()


async def wait_for(predicate: Any, timeout: float = 20.0, every: float = 0.1) -> Any:
    """Poll an async predicate until it returns something truthy, within `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(every)


def poll(
    what: str,
    probe: Callable[[], Any],
    done: Callable[[Any], bool] = bool,
    timeout: float = 30.0,
    every: float = 0.1,
) -> Any:
    """`wait_for` for blocking code: call `probe` until `done(its value)`, within `timeout`.
    An OSError (not listening yet, connection reset) counts as not yet."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except OSError as exc:
            last = exc
        else:
            if done(last):
                return last
        time.sleep(every)
    raise AssertionError(f"{what} not within {timeout}s; last: {last!r:.2000}")


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen[bytes]

    async def query(self, promql: str) -> list[dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.url + "/api/v1/query", params={"query": promql}) as resp,
        ):
            if resp.status == 503:  # still starting: no answer yet, poll again
                return []
            body = await resp.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Any]:
    """Start the real Prometheus scraping the given targets every second."""
    exe = binary("prometheus", "prometheus")
    started: list[subprocess.Popen[bytes]] = []

    def start(
        targets: list[str],
        flags: tuple[str, ...] = (),
        rule_files: tuple[Path, ...] = (),
        alertmanagers: tuple[str, ...] = (),
        retention: str = "1h",
    ) -> Prometheus:
        port = free_port()
        config = tmp_path / "prometheus.yml"
        text = (
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: chatcanary\n"
            f"    static_configs: [{{targets: {targets}}}]\n"
        )
        if rule_files:
            text += f"rule_files: {[str(f) for f in rule_files]}\n"
        if alertmanagers:
            text += (
                "alerting:\n  alertmanagers:\n"
                f"    - static_configs: [{{targets: {list(alertmanagers)}}}]\n"
            )
        config.write_text(text)
        log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [
                exe,
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--storage.tsdb.retention.time={retention}",
                *flags,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        return Prometheus(f"http://127.0.0.1:{port}", process)

    yield start
    _terminate(started)


def _terminate(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def alertmanager_factory(tmp_path: Path) -> Iterator[Any]:
    """Start the real Alertmanager on loopback with the given config text; returns its
    host:port."""
    exe = binary("prometheus-alertmanager", "prometheus-alertmanager")
    started: list[subprocess.Popen[bytes]] = []

    def start(config_text: str) -> str:
        port = free_port()
        config = tmp_path / "alertmanager.yml"
        config.write_text(config_text)
        log = open(tmp_path / "alertmanager.log", "wb")  # noqa: SIM115 - closed with the process
        started.append(
            subprocess.Popen(
                [
                    exe,
                    f"--config.file={config}",
                    f"--storage.path={tmp_path / 'am'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--cluster.listen-address=",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        return f"127.0.0.1:{port}"

    yield start
    _terminate(started)


@pytest.fixture
def no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clears OTEL_* variables, which would change what the SDK sends and where."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


@pytest.fixture
async def receiver() -> AsyncIterator[OTLPReceiver]:
    """A real OTLP/HTTP receiver on loopback."""
    otlp = OTLPReceiver()
    await otlp.start()
    yield otlp
    await otlp.stop()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """One throwaway PostgreSQL cluster per test worker, stopped and removed at the end.
    Its directory is outside pytest's (root-only) temporary tree: the `postgres` user
    must reach it."""
    root = Path(tempfile.mkdtemp(prefix="chatcanary-pg-"))
    cluster = Cluster(root, free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
        with contextlib.suppress(subprocess.CalledProcessError):
            cluster.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres(postgres_cluster: Cluster, request: pytest.FixtureRequest) -> str:
    """A fresh database on the worker's cluster, for one test: its URL."""
    name = "t_" + uuid.uuid4().hex[:12]
    postgres_cluster.create_database(name)
    return postgres_cluster.url(name)
