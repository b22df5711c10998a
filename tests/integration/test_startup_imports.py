"""What `chatcanary --version`, `check`, `probe` and `run` import: only what they use.

Each command runs in a real subprocess through the same entry point as `python -m
exporter`; an exit hook writes the names in `sys.modules` to a file. A top-level import of
a heavy library anywhere on a command's path fails here (an import check, not a timing:
the timings live in bench/startup.py).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.integration.conftest import Sim, free_port, wait_for

ROOT = str(Path(__file__).resolve().parents[2])

# Run as `python -m exporter ARGS`, the worktree first on the path; at exit, the names of
# the modules imported go to the file named by the first argument.
WRAPPER = """\
import atexit, json, runpy, sys
out = sys.argv[1]
sys.path.insert(0, sys.argv[2])
sys.argv = ["chatcanary", *sys.argv[3:]]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
runpy.run_module("exporter", run_name="__main__", alter_sys=True)
"""

# Never on the path of --version, check or probe unless the config asks for them.
HEAVY = (
    "opentelemetry.sdk",
    "opentelemetry.exporter",
    "exporter.simulator",
    "exporter.dashboards",
    "grafana_foundation_sdk",
    "jsonschema",
    "rapidfuzz",
)
STORE = ("sqlalchemy", "alembic", "asyncpg", "aiosqlite")
# `run` with a plain config (no proxy, no report due, no config error, OpenAI-compatible
# targets) needs none of these: the report itself (its schedule only), the proxy's
# forwarding, "did you mean", the other dialects, the page renderers (until a page is
# viewed), the API's handlers, reads and views (until a request of theirs), the web
# config's models (without a web config file).
RUN_UNUSED = (
    "exporter.web.pages",
    "exporter.web.assets",
    "exporter.web.api",
    "exporter.web.reads",
    "exporter.web.probe",
    "exporter.web.views",
    "exporter.web.traffic",
    "exporter.webconfig",
    "exporter.protocols.anthropic",
    "exporter.protocols.ollama",
    "exporter.ndjson",
    "exporter.report.build",
    "exporter.report.render",
    "exporter.stats",
    "exporter.compare",
    "exporter.proxy.forward",
    "exporter.proxy.upstream",
    "exporter.proxy.observe",
    "exporter.proxy.hooks",
    "httptools",
    "exporter.suggest",
    "difflib",
)
# The embedded store (SQLite) is SQLAlchemy Core over sqlite3: not SQLAlchemy's asyncio
# extension, which brings its ORM and greenlet (about 6.6 MB), nor either async driver.
SQLITE_UNUSED = ("sqlalchemy.ext.asyncio", "sqlalchemy.orm", "greenlet", "aiosqlite", "asyncpg")
# `check` reads and validates; it opens no connection.
NETWORK = ("aiohttp", "exporter.runner", "exporter.service", "exporter.web", "prometheus_client")


async def imported(tmp_path: Path, *args: str) -> tuple[int, str, set[str]]:
    """(exit code, stdout, modules imported) of `chatcanary ARGS`."""
    out = tmp_path / "modules.json"
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-c", WRAPPER, str(out), ROOT, *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=100)
    assert process.returncode is not None
    assert out.exists(), stderr.decode()
    return process.returncode, stdout.decode(), set(json.loads(out.read_text()))


def among(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """The modules that are one of `names` or inside one of them."""
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


async def test_version_imports_nothing_but_the_command_line(tmp_path: Path) -> None:
    code, out, modules = await imported(tmp_path, "--version")
    assert (code, out.strip()) == (0, "chatcanary 0.1.0")
    assert among(modules, ("exporter",)) == ["exporter", "exporter.cli"]
    assert among(modules, (*HEAVY, *STORE, *NETWORK, "pydantic", "yaml", "asyncio")) == []


async def test_help_builds_no_subcommand_options(tmp_path: Path) -> None:
    code, out, modules = await imported(tmp_path, "--help")
    assert code == 0 and "simulate" in out and "dashboards" in out
    assert among(modules, ("exporter",)) == ["exporter", "exporter.cli"]


async def test_check_imports_no_heavy_module(tmp_path: Path) -> None:
    code, out, modules = await imported(tmp_path, "check", "-c", f"{ROOT}/examples/demo.yaml")
    assert code == 0, out
    assert "exporter.config" in modules  # it did validate
    assert among(modules, (*HEAVY, *STORE, *NETWORK)) == []
    # pydantic's plugin discovery (package metadata) is skipped: every plugin is disabled
    assert among(modules, ("importlib.metadata", "email")) == []


async def test_check_discovers_pydantic_plugins_when_they_are_enabled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "")  # the documented way to load them
    code, out, modules = await imported(tmp_path, "check", "-c", f"{ROOT}/examples/demo.yaml")
    assert code == 0, out
    assert "importlib.metadata" in modules


async def test_check_imports_jsonschema_only_for_a_schema(tmp_path: Path) -> None:
    config = tmp_path / "schema.yaml"
    config.write_text(
        "targets: [{name: t, protocol: openai, base_url: 'http://127.0.0.1:9/v1', model: m}]\n"
        "canaries:\n"
        "  - name: c\n"
        "    prompt: hi\n"
        "    checks: [{json: true, schema: {type: object, required: [status]}}]\n"
    )
    code, out, modules = await imported(tmp_path, "check", "-c", str(config))
    assert code == 0, out
    assert among(modules, ("jsonschema",)) != []  # the schema was checked
    assert among(modules, ("rapidfuzz", "exporter.simulator", "aiohttp")) == []


@pytest.mark.usefixtures("no_otel_environment")
async def test_probe_imports_no_heavy_module(tmp_path: Path, simulator: Sim) -> None:
    config = tmp_path / "probe.yaml"
    config.write_text(
        f"targets: [{{name: sim, protocol: openai, base_url: '{simulator.url}/v1', model: m}}]\n"
        "canaries:\n"
        "  - name: arithmetic\n"
        "    prompt: What is 17+25? Answer with the number only.\n"
        "    checks: [{contains: '42'}]\n"
        f"store: {{url: 'sqlite:///{tmp_path / 'never.db'}'}}\n"
    )
    code, out, modules = await imported(tmp_path, "probe", "-c", str(config), "--json")
    runs = json.loads(out)
    assert [(r["canary"], r["outcome"]) for r in runs] == [("arithmetic", "success")]
    assert code == 0
    assert "aiohttp" in modules  # it did probe, over HTTP
    assert among(modules, (*HEAVY, *STORE)) == []
    assert not (tmp_path / "never.db").exists()


@pytest.mark.usefixtures("no_otel_environment")
async def test_run_without_tracing_loads_no_tracing_sdk(tmp_path: Path, simulator: Sim) -> None:
    """`run` loads what serving needs (aiohttp, prometheus_client, the store) but not the
    OpenTelemetry SDK when tracing is off, nor the simulator, the dashboards, Alembic for
    a new database, the async database layers SQLite does not use (SQLITE_UNUSED), or the
    parts a plain config does not use (RUN_UNUSED)."""
    config = tmp_path / "run.yaml"
    config.write_text(
        f"targets: [{{name: sim, protocol: openai, base_url: '{simulator.url}/v1', model: m}}]\n"
        "canaries:\n"
        "  - {name: arithmetic, prompt: 'What is 17+25?', interval: 1s,\n"
        "     checks: [{contains: '42'}]}\n"
    )
    port = free_port()
    out = tmp_path / "modules.json"
    args = ["run", "-c", str(config), "--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path)]
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-c", WRAPPER, str(out), ROOT, *args),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with aiohttp.ClientSession() as session:

            async def probed() -> bool:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                        text = await response.text()
                except aiohttp.ClientError:
                    return False  # not listening yet
                return 'chatcanary_probes_total{canary="arithmetic"' in text

            await wait_for(probed, timeout=60)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert out.exists(), stderr.decode()
    modules = set(json.loads(out.read_text()))
    assert "aiohttp" in modules and "prometheus_client" in modules and "sqlalchemy" in modules
    assert among(modules, (*HEAVY, "opentelemetry.sdk", "alembic", "mako")) == []
    assert "exporter.report.schedule" in modules and "exporter.proxy" in modules
    assert "exporter.protocols.openai" in modules  # the dialect the target uses
    assert among(modules, RUN_UNUSED) == []
    assert "sqlalchemy.dialects.sqlite.pysqlite" in modules
    assert among(modules, SQLITE_UNUSED) == []
