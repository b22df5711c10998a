"""The documentation as a newcomer follows it: docs/getting-started.md, block by block, with
the real simulator, exporter, Prometheus, promtool, Alertmanager and amtool; and every
complete config in README.md and docs/ through `chatcanary check`.

The guide marks the blocks it means to be run with an HTML comment just above them, which
the site does not show:

    <!-- test: file NAME -->       the block is a file: write it as NAME
    <!-- test: run -->             run the block; it must exit 0
    <!-- test: background -->      start the command (a server), wait until it listens
    <!-- test: until "TEXT" -->    run the block until it exits 0 and prints TEXT
    <!-- test: grafana -->         a `docker run` of Grafana: its mounted files must exist

Each block runs as written, in order, in an empty directory, except for the ports: each
documented port becomes a free one, so the test never meets a running `make demo` or
another test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import CLI, binary, free_port, poll

ROOT = Path(__file__).parents[2]
GUIDE = ROOT / "docs" / "getting-started.md"
# simulator, exporter, Prometheus, Alertmanager, the Alertmanager webhooks
PORTS = ("8000", "9477", "9090", "9093", "9095")
ADDRESS = re.compile(r"\b(127\.0\.0\.1|localhost):(" + "|".join(PORTS) + r")\b")
MARKED = re.compile(r'<!-- test: (\w+)(?: "?([^"\n]*?)"?)? -->\n```\w*\n(.*?)```', re.S)
LISTENS = re.compile(r"(?:--listen |--web\.listen-address=)[\w.]*:(\d+)")
# Generous: a scrape and an evaluation every 15 s, canaries every 15 s, a loaded machine.
PATIENCE = 180.0


@dataclass(frozen=True)
class Step:
    kind: str
    arg: str
    body: str


def guide_steps(markdown: str) -> list[Step]:
    return [Step(kind, arg or "", body) for kind, arg, body in MARKED.findall(markdown)]


class Pager:
    """The webhook receivers of the guide's alertmanager.yml: records what Alertmanager
    sends, by path (/pager, /ticket)."""

    def __init__(self, port: int) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self, path: str) -> set[str]:
        return {
            alert["labels"]["alertname"]
            for where, payload in list(self.received)
            if where == path
            for alert in payload["alerts"]
        }

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Guide:
    """A working directory, `chatcanary` on the PATH as this checkout's code, the documented
    ports mapped to free ones, and the servers the guide started."""

    def __init__(self, work: Path, bin_dir: Path) -> None:
        self.work = work
        self.ports = {port: str(free_port()) for port in PORTS}
        shim = bin_dir / "chatcanary"
        shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m exporter "$@"\n')
        shim.chmod(0o755)
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT),
        }
        self.servers: list[tuple[subprocess.Popen[bytes], Path]] = []

    def localise(self, text: str) -> str:
        return ADDRESS.sub(lambda m: f"{m[1]}:{self.ports[m[2]]}", text)

    def run(self, script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + script],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def start(self, command: str) -> None:
        log = self.work / f"server-{len(self.servers)}.log"
        with log.open("wb") as out:
            # A session of its own: the teardown stops the server and nothing else.
            process = subprocess.Popen(
                ["bash", "-c", "exec " + command.strip()],
                cwd=self.work,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.servers.append((process, log))
        port = LISTENS.search(command)
        assert port is not None, f"no listen address in {command!r}"

        def listening() -> bool:
            assert process.poll() is None, f"{command} exited:\n{log.read_text()[-3000:]}"
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", int(port[1]))) == 0

        poll(f"{command} listening", listening, timeout=60, every=0.5)

    def stop(self) -> None:
        for process, _log in self.servers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, _log in self.servers:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


@pytest.fixture
def guide(tmp_path: Path) -> Iterator[Guide]:
    for name, package in (
        ("prometheus", "prometheus"),
        ("promtool", "prometheus"),
        ("prometheus-alertmanager", "prometheus-alertmanager"),
        ("amtool", "prometheus-alertmanager"),
    ):
        binary(name, package)
    (tmp_path / "work").mkdir()
    (tmp_path / "bin").mkdir()
    started = Guide(tmp_path / "work", tmp_path / "bin")
    yield started
    started.stop()


def test_the_guide_marks_every_stage_of_the_path() -> None:
    steps = guide_steps(GUIDE.read_text())
    files = {s.arg for s in steps if s.kind == "file"}
    assert files == {
        "chatcanary.yaml",
        "prometheus.yml",
        "alertmanager.yml",
        "grafana-datasource.yml",
        "grafana-dashboards.yml",
    }
    servers = " ".join(s.body for s in steps if s.kind == "background")
    for server in ("chatcanary simulate", "chatcanary run", "prometheus ", "alertmanager "):
        assert server in servers, server
    scripts = " ".join(s.body for s in steps if s.kind in ("run", "until"))
    for command in (
        "chatcanary check",
        "chatcanary probe",
        "chatcanary rules -c",
        "chatcanary rules --operational",
        "promtool check rules",
        "promtool check config",
        "amtool check-config",
        "/_sim/behaviours/",
        "amtool alert query",
        "chatcanary dashboards",
    ):
        assert command in scripts, command
    assert [s.kind for s in steps].count("grafana") == 1
    assert all(s.kind in ("file", "run", "background", "until", "grafana") for s in steps)


# ~50 s idle, longer when its waits fall badly against the 15 s scrape, rule and group
# intervals; each wait has its own deadline (PATIENCE), so the suite's 120 s must not cut it
@pytest.mark.timeout(600)
def test_getting_started_works_as_written(guide: Guide) -> None:
    pager = Pager(int(guide.ports["9095"]))
    try:
        for step in guide_steps(GUIDE.read_text()):
            body = guide.localise(step.body)
            if step.kind == "file":
                (guide.work / step.arg).write_text(body)
            elif step.kind == "run":
                done = guide.run(body)
                assert done.returncode == 0, f"{body}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
            elif step.kind == "background":
                guide.start(body)
            elif step.kind == "until":
                expected = guide.localise(step.arg)

                def shows(script: str = body, text: str = expected) -> bool:
                    done = guide.run(script)
                    return done.returncode == 0 and text in done.stdout

                poll(f"{body!r} printing {expected!r}", shows, timeout=PATIENCE, every=0.5)
            else:
                _check_grafana(guide, body)
        # The page really went out, to the pager and not to the ticket queue.
        poll(
            "the pager webhook",
            lambda: "ChatCanaryUnderRefusal" in pager.alerts("/pager"),
            timeout=PATIENCE,
            every=0.5,
        )
        assert "ChatCanaryUnderRefusal" not in pager.alerts("/ticket")
    finally:
        pager.stop()
    # The dashboards written are the committed ones, which the dashboard tests check.
    committed = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
    assert len(committed) == 5  # overview, target, exporter, slo, traffic
    for path in committed:
        assert (guide.work / "dashboards" / path.name).read_text() == path.read_text()


def _check_grafana(guide: Guide, command: str) -> None:
    """What can be checked of Grafana without Docker: the files exist, the data source is
    the Prometheus the guide started, and the dashboards are mounted where the provider
    reads them."""
    mounts = dict(re.findall(r'-v "\$PWD/([^:"]+):([^:"]+):ro"', command))
    assert set(mounts) == {"grafana-datasource.yml", "grafana-dashboards.yml", "dashboards"}
    for name in mounts:
        assert (guide.work / name).exists(), name
    source = yaml.safe_load((guide.work / "grafana-datasource.yml").read_text())
    url = source["datasources"][0]["url"]
    with urllib.request.urlopen(f"{url}/api/v1/query?query=chatcanary_probe_success") as resp:
        assert json.load(resp)["data"]["result"], "the data source has no chatcanary series"
    provider = yaml.safe_load((guide.work / "grafana-dashboards.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == mounts["dashboards"]
    assert mounts["grafana-datasource.yml"].startswith("/etc/grafana/provisioning/datasources/")
    assert mounts["grafana-dashboards.yml"].startswith("/etc/grafana/provisioning/dashboards/")


def complete_configs(markdown: str) -> list[str]:
    """The YAML blocks of a page that are whole configs (they name targets)."""
    configs = []
    for block in re.findall(r"```yaml\n(.*?)```", markdown, re.S):
        parsed = yaml.safe_load(block)
        if isinstance(parsed, dict) and "targets" in parsed:
            configs.append(block)
    return configs


def test_every_config_in_the_docs_passes_check(tmp_path: Path) -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    checked = set()
    for page in pages:
        for number, config in enumerate(complete_configs(page.read_text())):
            path = tmp_path / f"{page.stem}-{number}.yaml"
            path.write_text(config)
            env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
            done = subprocess.run(
                [*CLI, "check", "-c", str(path)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, f"{page.name}:\n{config}\n{done.stderr}"
            checked.add(page.name)
    assert {"README.md", "configuration.md", "checks.md", "getting-started.md"} <= checked


def test_the_readme_is_a_landing_page() -> None:
    """The project's rule: README.md opens with `make demo` and `make test`; it stays short,
    and its links (which the strict site build does not see) point at files that exist."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 300
    first = re.search(r"```(\w*)\n(.*?)```", text, re.S)
    assert first is not None and first.start() < text.index("\n## ")
    assert [line.split()[:2] for line in first[2].splitlines()] == [
        ["make", "demo"],
        ["make", "test"],
    ]
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert "docs/getting-started.md" in local
    for link in local:
        assert (ROOT / link).exists(), link
