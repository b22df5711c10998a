"""A hostile endpoint: answers built to be slow to judge or to crash a check, served by
the fault server at the 1 MiB answer cap, through the real runner, service and CLI.

Each answer must be judged (every check, the refusal classifier, redaction, the OTel
sink's patterns) within a generous deadline, the event loop must keep serving /metrics
meanwhile, and every run must end in a recorded, classified result. How the time grows
with the answer's size is measured in bench/adversarial.py, not here.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from exporter import netguard
from exporter.config import parse_config
from exporter.result import Outcome
from exporter.runner import http_client, run_canary
from exporter.sinks.otel import OTelSink
from tests.integration.conftest import CLI, start_exporter, stop_exporter, wait_for
from tests.integration.faultserver import HOSTILE, HOSTILE_CHARS, FaultServer

# seconds to fetch and judge one answer: generous, only a super-linear judge misses it
DEADLINE = 10.0
KEY = "sk-hostile-0123456789abcdef"
CONFIG = """
defaults:
  interval: 200ms
  jitter: 0
  timeout: 60s
  max_response_bytes: 16777216  # room for 1 Mi characters, escaped
  budget: {{tokens_per_day: 1000000000}}
opentelemetry:
  traces: false
  capture_content: true
  redact_patterns: ["sk-[A-Za-z0-9-]{{20,}}", "(a|aa)+b", "(?s)```.*```"]
targets:
  - {{name: hostile, protocol: openai, base_url: "{url}/v1", model: m, stream: {stream},
      api_key: {key}}}
canaries:
  - name: c
    prompt: "Answer in JSON."
    checks:
{checks}
"""
EVERY_CHECK = """\
      - {json: true, allow_fences: true, schema: {type: object, required: [answer]}}
      - {regex: "^(a+)+$"}
      - {regex: "(x+x+)+y", ignore_case: true, name: nested}
      - {contains: "42", ignore_case: true}
      - {not_contains: "sorry"}
      - {contains_all: ["4", "2"]}
      - {number: 42}
      - {equals: "42"}
      - {similarity: "The answer is 42."}
      - {length: {max_chars: 100}}
      - {not_refused: true}"""
JSON_CHECK = "      - {json: true}"


def config_text(url: str, checks: str = EVERY_CHECK, stream: bool = False) -> str:
    return CONFIG.format(url=url, stream=str(stream).lower(), key=KEY, checks=checks)


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_a_hostile_answer_is_judged_within_the_deadline(name: str) -> None:
    server = FaultServer(name)
    url = await server.start()
    config = parse_config(config_text(url), "hostile.yaml")
    spec = config.plan()[("hostile", "c")]
    failures = Counter("failures", "x", ["signal"], registry=CollectorRegistry())
    spans = InMemorySpanExporter()
    otel = OTelSink(config.opentelemetry, spans, failures)
    otel.retain(config.plan())
    try:
        async with http_client(netguard.Policy()) as session:
            started = time.monotonic()
            result = await run_canary(session, spec)
            otel.record(replace(result, trace_id="ab" * 16))
            elapsed = time.monotonic() - started
    finally:
        otel.shutdown()
        await server.close()
    assert result.error_class is None, result.error_detail
    assert len(result.last.text) == len(HOSTILE[name](HOSTILE_CHARS))  # the whole answer
    assert result.outcome is Outcome.CHECK_FAILED  # none of them is the JSON asked for
    assert "json" in result.failed_checks
    assert [c for c in result.checks if c.internal] == []
    assert result.refusal is not None
    assert elapsed < DEADLINE, f"{name}: {elapsed:.1f}s"
    assert len(spans.get_finished_spans()) == 2  # the run's and its turn's


async def test_probe_reports_a_deeply_nested_answer_as_a_failed_check(tmp_path: Path) -> None:
    server = FaultServer("deep_json")
    url = await server.start()
    config = tmp_path / "hostile.yaml"
    config.write_text(config_text(url, JSON_CHECK, stream=True))
    try:
        process = await asyncio.create_subprocess_exec(
            *CLI,
            "probe",
            "-c",
            str(config),
            "--json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
    finally:
        await server.close()
    assert "Traceback" not in err.decode()
    assert process.returncode == 1
    [run] = json.loads(out)
    assert run["outcome"] == "check_failed"
    assert run["error_class"] is None
    assert run["failed_checks"] == ["json"]
    [verdict] = [c for c in run["checks"] if c["name"] == "json"]
    assert verdict["reason"] == "not JSON this check reads: nested deeper than 128 levels"


def samples(text: str, name: str) -> dict[str, float]:
    """The values of one family's samples, by their `outcome` or `check` label."""
    return {
        s.labels.get("outcome") or s.labels.get("check") or "": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


async def test_scheduled_runs_of_a_deeply_nested_answer_are_recorded() -> None:
    server = FaultServer("deep_json")
    url = await server.start()
    exporter = await start_exporter(parse_config(config_text(url, JSON_CHECK), "hostile.yaml"))
    try:

        async def recorded() -> dict[str, float] | None:
            _, text = await exporter.get("/metrics")
            runs = samples(text, "chatcanary_probes_total")
            last = samples(text, "chatcanary_last_run_timestamp_seconds")
            failed = samples(text, "chatcanary_check_failures_total")
            if runs.get("check_failed", 0) >= 2 and last and failed.get("json", 0) >= 2:
                return runs
            return None

        runs = await wait_for(recorded, timeout=60)
    finally:
        await stop_exporter(exporter)
        await server.close()
    assert runs["success"] == 0
    assert runs["error"] == 0


async def test_metrics_answer_while_a_fence_bomb_is_judged() -> None:
    server = FaultServer("fence_bomb")
    url = await server.start()
    config = parse_config(config_text(url, EVERY_CHECK, stream=True), "hostile.yaml")
    exporter = await start_exporter(config)
    slowest = 0.0
    # a scrape that waits this long means the loop was held: generous, for a busy machine
    timeout = aiohttp.ClientTimeout(total=DEADLINE)
    try:

        async def judged_twice() -> bool:
            nonlocal slowest
            started = time.monotonic()
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(exporter.url + "/metrics") as resp,
            ):
                text = await resp.text()
            slowest = max(slowest, time.monotonic() - started)
            runs = samples(text, "chatcanary_probes_total")
            return runs.get("check_failed", 0) >= 2

        await wait_for(judged_twice, timeout=120, every=0.05)
    finally:
        await stop_exporter(exporter)
        await server.close()
    assert slowest < DEADLINE
