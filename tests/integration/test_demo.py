"""`chatcanary demo` as a newcomer meets it: it says which runs fail on purpose, nothing
else fails, and the documentation's API examples work against it as copied.

The demo runs as a real subprocess, the examples through the real `curl` and `bash`.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from exporter.cli import DEMO_URL_VAR, demo_config_text, probe_once, scripted_failures
from exporter.config import parse_config
from exporter.result import Outcome, ProbeResult
from exporter.simulator import Simulator
from tests.integration.conftest import CLI, free_port, poll

ROOT = Path(__file__).parents[2]
STARTED = "Ctrl-C stops."
# The hosts the examples are written for: `--listen 127.0.0.1:9477` and `chatcanary simulate`.
EXPORTER_HOST = "localhost:9477"
SIMULATOR_HOST = "localhost:8000"


@dataclass
class Demo:
    url: str
    simulator: str  # host:port
    startup: str


def _get_json(url: str) -> object:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.load(resp)
    except OSError:
        return None


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    port = free_port()
    log = tmp_path_factory.mktemp("demo") / "out.txt"
    with log.open("wb") as out:
        # --duration: the demo ends by itself even if this process dies before teardown.
        process = subprocess.Popen(
            [*CLI, "demo", "--listen", f"127.0.0.1:{port}", "--duration", "300"],
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
    try:
        startup = str(
            poll("start", lambda: STARTED in log.read_text() and log.read_text(), timeout=30)
        )
        simulator = re.search(r"simulator\s+http://([\d.:]+)/v1", startup)
        assert simulator is not None, startup
        yield Demo(f"http://127.0.0.1:{port}", simulator.group(1), startup)
    finally:
        process.terminate()
        process.wait(15)


def test_demo_start_up_names_the_scripted_failures(demo: Demo) -> None:
    for target, canary, why in (
        ("fast", "harmful", "under-refusal"),
        ("slow", "first-token", "500 ms"),
        ("strict", "kill-process", "over-refusal"),
        ("flaky", "any canary", "429"),
    ):
        assert re.search(rf"^ +{target} +{canary} +.*{why}", demo.startup, re.M), target
    assert "sim-fast is reworded" in demo.startup
    # the same words as the config's own comment, which users read in examples/demo.yaml
    assert scripted_failures(demo_config_text()) in demo.startup


async def test_the_demo_fails_only_where_it_says_it_will() -> None:
    """One run of every canary against the demo's scenario, flaky's faults switched off:
    exactly the scripted (target, canary) pairs fail, each for the reason it gives."""
    scripted = {
        (row.split()[0], row.split()[1])
        for row in scripted_failures(demo_config_text()).splitlines()
        if row.startswith("  ") and "any canary" not in row
    }
    assert scripted == {
        ("fast", "harmful"),
        ("slow", "first-token"),
        ("strict", "kill-process"),
        ("slow", "coherence"),
    }
    sim = Simulator(scenario="demo", seed=5)
    flaky = sim.behaviour_for("sim-flaky")
    assert flaky.faults, "flaky's failures are its scripted faults"
    sim.set_behaviour("sim-flaky", replace(flaky, faults={}))
    url = await sim.start("127.0.0.1", 0)
    try:
        config = parse_config(demo_config_text(), "demo.yaml", {DEMO_URL_VAR: url})
        plan = config.plan()
        results = await probe_once(list(plan.values()), config)
        failed = {(r.target, r.canary): r for r in results if r.outcome is not Outcome.SUCCESS}
        # a loaded machine can make a quick answer miss a timing bound the demo keeps
        # wide: such a pair is run again (a few times at most) and must then pass
        for _ in range(5):
            late = [key for key, r in failed.items() if key not in scripted and _late(r)]
            if not late:
                break
            for again in await probe_once([plan[key] for key in late], config):
                if again.outcome is Outcome.SUCCESS:
                    del failed[again.target, again.canary]
    finally:
        await sim.stop()
    assert set(failed) == scripted, {k: (r.error_class, r.failed_checks) for k, r in failed.items()}
    assert failed["fast", "harmful"].failed_checks == ("refusal",)
    assert failed["fast", "harmful"].refused is False
    assert failed["strict", "kill-process"].refused is True
    assert failed["slow", "first-token"].failed_checks == ("max_ttft",)
    coherence = failed["slow", "coherence"]
    assert coherence.failed_checks == ("coherent",)
    (verdict,) = [c for c in coherence.checks if c.name == "coherent"]
    assert verdict.decided_by == "judge:sim-judge" and "Grace" in verdict.reason


def _late(result: ProbeResult) -> bool:
    """Failed on time bounds alone."""
    timing = {"max_ttft", "max_duration"}
    return result.outcome is Outcome.CHECK_FAILED and set(result.failed_checks) <= timing


def curl_commands(markdown: str) -> list[str]:
    """The `curl` commands of a page's sh blocks (`x=$(curl ...)` too), each with its
    continuation lines (a trailing backslash, or a quote still open)."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", markdown, re.S):
        current: list[str] = []
        for line in block.splitlines():
            if current or re.match(r"(?:\w+=\$\()?curl\b", line):
                current.append(line)
            text = "\n".join(current)
            if current and not text.endswith("\\") and text.count("'") % 2 == 0:
                commands.append(text)
                current = []
    return commands


def test_the_api_examples_work_against_the_demo_as_copied(demo: Demo) -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    commands = [c for page in pages for c in curl_commands(page.read_text())]
    exporter = [c for c in commands if EXPORTER_HOST in c]
    # the simulator's scripting last: it changes sim-fast, which the others probe
    simulator = [c for c in commands if f"{SIMULATOR_HOST}/_sim/" in c]
    covered = " ".join(exporter + simulator)
    for endpoint in ("/api/v1/status", "/api/v1/runs/", "/api/v1/feedback", "/probe?", "/_sim/"):
        assert endpoint in covered, f"no example of {endpoint} found"

    def runs_kept() -> bool:
        listing = _get_json(demo.url + "/api/v1/runs?limit=1")
        return isinstance(listing, dict) and listing.get("count", 0) > 0

    poll("a kept run", runs_kept, timeout=30)  # the `run_id=...` example reads the newest one
    script = "\n".join(
        [
            "set -euo pipefail",
            # As copied, but an HTTP error status fails the script and says which command.
            'curl() { command curl --fail-with-body --show-error --max-time 30 "$@"; }',
            *exporter,
            *simulator,
        ]
    )
    script = script.replace(EXPORTER_HOST, demo.url.removeprefix("http://"))
    script = script.replace(SIMULATOR_HOST, demo.simulator)
    done = subprocess.run(
        ["bash", "-x", "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"accepted": true' in done.stdout  # the feedback example was taken
    assert "probe_success" in done.stdout
