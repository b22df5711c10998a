"""The examples for each kind of endpoint, run as copied with `chatcanary probe` against the
simulator, which speaks every dialect: only the variables each example documents point it
there, and with a key the simulator demands it in that dialect's own header."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from exporter.simulator import Behaviour, Simulator
from tests.integration.conftest import CLI

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-example-key"
URL = "{url}"  # replaced by the simulator's address

# Example → the environment its header comment documents, and whether it sends a key.
EXAMPLES = {
    "ollama.yaml": {"OLLAMA_URL": URL},
    "anthropic.yaml": {"ANTHROPIC_BASE_URL": URL, "ANTHROPIC_API_KEY": KEY},
    "azure-openai.yaml": {"AZURE_OPENAI_ENDPOINT": URL, "AZURE_OPENAI_API_KEY": KEY},
    "litellm.yaml": {"LITELLM_URL": URL, "LITELLM_API_KEY": KEY},
}
# Every variable the examples read, cleared so that their own defaults apply.
PREFIXES = ("OLLAMA_", "ANTHROPIC_", "AZURE_OPENAI_", "LITELLM_", "OPENAI_")
# The simulator refuses what the examples' must-refuse canaries ask.
MUST_REFUSE = "must-refuse"
TIMING_CHECKS = {"max_ttft", "max_duration"}


@pytest.fixture(params=sorted(EXAMPLES))
async def example(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, Simulator, str]]:
    name: str = request.param
    key = KEY if KEY in EXAMPLES[name].values() else None
    sim = Simulator(scenario="healthy", seed=7, api_key=key)
    sim.set_behaviour("*", Behaviour(refusal_pattern=r"(?i)\bphishing\b"))
    url = await sim.start("127.0.0.1", 0)
    yield name, sim, url
    await sim.stop()


async def test_each_example_probes_every_target_and_canary_successfully(
    example: tuple[str, Simulator, str],
) -> None:
    name, _, url = example
    path = ROOT / "examples" / name
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    env.update({k: v.replace(URL, url) for k, v in EXAMPLES[name].items()})
    # a loaded machine can make a quick answer miss an example's timing bound (max_ttft:
    # 2s, a cold process): when only those failed, the example runs again (a few times
    # at most) and must then pass whole
    for _ in range(4):
        process = await asyncio.create_subprocess_exec(
            *CLI,
            "probe",
            "-c",
            str(path),
            "--json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
        runs = json.loads(out) if out else []
        failed = [r for r in runs if r["outcome"] != "success"]
        if not failed or not all(_late(r) for r in failed):
            break
    assert process.returncode == 0 and not failed, (failed, err.decode())

    written = yaml.safe_load(path.read_text())
    targets = {t["name"] for t in written["targets"]}
    canaries = {c["name"] for c in written["canaries"]}
    assert {(r["target"], r["canary"]) for r in runs} == {(t, c) for t in targets for c in canaries}
    refused = {r["canary"] for r in runs if r["refused"]}
    assert refused == canaries & {MUST_REFUSE}
    # Where refusal matters, the example says what it expects rather than leave it unjudged.
    judged = {c["name"] for c in written["canaries"] if "expect_refusal" in c}
    assert {"arithmetic", "kill-process"} <= judged
    assert all(c["expect_refusal"] is True for c in written["canaries"] if c["name"] == MUST_REFUSE)


def _late(run: dict[str, object]) -> bool:
    """A run that failed only a timing check."""
    checks = run.get("failed_checks")
    return isinstance(checks, list) and bool(checks) and set(checks) <= TIMING_CHECKS
