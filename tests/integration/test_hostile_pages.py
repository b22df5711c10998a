"""Answers built to break pages, fill memory or leak secrets (issue 17, items 3-6), from
hostile endpoints of the fault server through the real service: scheduler, runner, sinks,
the web app's pages and API, `/probe?debug=true`, and `chatcanary probe --json`.

- lone surrogates (JSON's `"\\ud800"`) in the model, ids, content and an error message,
  bytes that are not UTF-8 in `x-request-id`, and in a feedback submission: every page
  answers 200 and shows U+FFFD where they were;
- huge identity fields, a huge finish reason and refusal, a header as long as aiohttp
  reads, 100,000 one-character chunks: each field is kept at its documented length, and
  the memory a kept run holds is measured (tracemalloc);
- a key echoed after 255 characters of error, a key the server cut short itself, and the
  base URL's `user:password@`: no eight characters of either show anywhere.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import sys
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from exporter import netguard
from exporter.config import parse_config
from exporter.history import History
from exporter.result import FIELD_LIMITS, GAPS_KEPT, HEADER_LIMIT
from exporter.runner import http_client, run_canary
from tests.integration.conftest import start_exporter, stop_exporter, wait_for
from tests.integration.faultserver import TINY_CHUNKS, FaultServer

KEY = "sk-HOSTILE-key-4c8e1f27d9"
USER, PASSWORD = "ops", "pw-HOSTILE-93ab71"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
# target -> the fault it meets
FAULTS = {
    "surrogates": "lone_surrogates",
    "surrogate_error": "lone_surrogate_error",
    "huge": "huge_fields_many_chunks",
    "echo255": "key_echo_after_255",
    "prefix": "key_prefix_echo",
    "userinfo": "key_echo_after_255",
}
# a run of the huge target takes about a second: it runs less often
CONFIG = """
defaults: {{interval: 300ms, jitter: 0, timeout: 30s, max_response_bytes: 16777216}}
targets:
  - {{name: surrogates, protocol: openai, base_url: "{surrogates}/v1", model: m,
     api_key: "{key}"}}
  - {{name: surrogate_error, protocol: openai, base_url: "{surrogate_error}/v1", model: m,
     api_key: "{key}"}}
  - {{name: huge, protocol: openai, base_url: "{huge}/v1", model: m, api_key: "{key}",
     interval: 3s}}
  - {{name: echo255, protocol: openai, base_url: "{echo255}/v1", model: m, api_key: "{key}"}}
  - {{name: prefix, protocol: openai, base_url: "{prefix}/v1", model: m, api_key: "{key}"}}
  - {{name: userinfo, protocol: openai, base_url: "{userinfo}/v1", model: m}}
canaries:
  - {{name: c, prompt: "What is 17+25?", checks: [{{contains: "42"}}]}}
"""


def fragments(text: str) -> list[str]:
    """The eight-character pieces of a secret found in `text`."""
    found = []
    for secret in (KEY, PASSWORD, BASIC):
        found += [secret[i : i + 8] for i in range(len(secret) - 7) if secret[i : i + 8] in text]
    return found


@pytest.fixture
async def endpoints() -> AsyncIterator[dict[str, str]]:
    servers = {target: FaultServer(fault) for target, fault in FAULTS.items()}
    urls = {target: await server.start() for target, server in servers.items()}
    urls["userinfo"] = urls["userinfo"].replace("://", f"://{USER}:{PASSWORD}@")
    yield urls
    for server in servers.values():
        await server.close()


def config_text(urls: dict[str, str]) -> str:
    return CONFIG.format(key=KEY, **urls)


@pytest.mark.usefixtures("no_otel_environment")
async def test_hostile_answers_break_no_page_and_leak_no_secret(
    endpoints: dict[str, str],
) -> None:
    exporter = await start_exporter(parse_config(config_text(endpoints), "hostile.yaml"))
    latest = exporter.service.latest
    try:

        async def all_ran() -> bool:
            return all((target, "c") in latest.results for target in FAULTS)

        await wait_for(all_ran, timeout=60)
        feedback = (
            '{"target": "surrogates", "rating": "negative", "conversation_id": "\\ud800",'
            ' "comment": "cut \\udcff emoji"}'
        )
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                exporter.url + "/api/v1/feedback",
                data=feedback,
                headers={"Content-Type": "application/json"},
            ) as resp,
        ):
            assert resp.status == 202, await resp.text()

        runs = {target: latest.results[target, "c"] for target in FAULTS}
        paths = ["/", "/runs", "/config", "/metrics", "/api/v1/status", "/api/v1/runs"]
        for target, result in runs.items():
            paths += [f"/runs/{result.run_id}", f"/api/v1/runs/{result.run_id}"]
            paths += [f"/probe?target={target}&canary=c&debug=true"]
            paths += [f"/probe?target={target}&canary=c"]
        pages = {}
        leaks = []
        for path in paths:
            status, text = await exporter.get(path)
            assert status == 200, f"{path}: HTTP {status} {text[:300]}"
            pages[path] = text
            leaks += [f"{path}: {piece}" for piece in fragments(text)]
        assert leaks == [], "secret fragments shown:\n" + "\n".join(leaks)
    finally:
        await stop_exporter(exporter)

    # what was there is shown as U+FFFD, not dropped
    assert "cut \ufffd emoji" in pages["/"]
    surrogates = runs["surrogates"].last
    assert surrogates.response_model == "m\ufffd" and surrogates.text == "4\ufffd42"
    assert surrogates.headers["x-request-id"] == "req-\ufffd\ufffd"
    assert "m\ufffd" in pages[f"/runs/{runs['surrogates'].run_id}"]
    assert "boom \ufffd at \ufffd" in runs["surrogate_error"].error_detail
    # every huge field at its documented length, the gaps bounded, the count exact
    huge = json.loads(pages[f"/api/v1/runs/{runs['huge'].run_id}"])["turns"][0]
    assert len(huge["response_model"]) == FIELD_LIMITS["response_model"]
    assert len(huge["response_id"]) == FIELD_LIMITS["response_id"]
    assert len(huge["system_fingerprint"]) == FIELD_LIMITS["system_fingerprint"]
    assert len(huge["finish_reason"]) == FIELD_LIMITS["finish_reason"]
    assert len(huge["refusal"]) == FIELD_LIMITS["refusal"]
    assert len(huge["headers"]["x-request-id"]) == HEADER_LIMIT
    assert huge["chunks"] == TINY_CHUNKS + 1  # and the refusal's
    assert len(runs["huge"].last.chunk_gaps) == GAPS_KEPT
    # the echoed credentials were there, and went
    assert "Incorrect API key provided: [redacted]" in runs["prefix"].error_detail
    for target in ("echo255", "userinfo"):
        assert len(runs[target].error_detail) == FIELD_LIMITS["error_detail"]
        assert "Incorrect API key provided: [reda" in runs[target].error_detail
    assert "**********@127.0.0.1" in pages["/config"]


@pytest.mark.usefixtures("no_otel_environment")
async def test_probe_json_survives_hostile_answers_and_leaks_no_secret(
    endpoints: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "hostile.yaml"
    config.write_text(config_text(endpoints))
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "exporter", "probe", "-c", str(config), "--json"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 1, err.decode()  # the error endpoints fail their runs
    runs = {run["target"]: run for run in json.loads(out)}
    assert set(runs) == set(FAULTS)
    assert runs["surrogates"]["outcome"] == "success"
    assert runs["surrogates"]["response_model"] == "m\ufffd"
    assert len(runs["huge"]["response_model"]) == FIELD_LIMITS["response_model"]
    assert runs["echo255"]["error_class"] == "auth"
    leaks = fragments(out.decode() + err.decode())
    assert leaks == [], f"secret fragments in probe --json: {leaks}"


async def test_a_kept_hostile_run_holds_bounded_memory(endpoints: dict[str, str]) -> None:
    """Each run of the endpoint sends 600,000 characters of identity, a 200,000-character
    refusal and finish reason, and 100,000 chunks; the history keeps what the page shows.
    Unbounded, a kept run held about 4.2 MB (3.2 of them the gaps)."""
    spec = parse_config(config_text(endpoints), "hostile.yaml").plan()[("huge", "c")]
    history = History()
    async with http_client(netguard.Policy()) as session:
        history.record(await run_canary(session, spec))  # warm: pools, caches, imports
        gc.collect()
        tracemalloc.start()  # slows each allocation: one run is measured
        try:
            before = tracemalloc.get_traced_memory()[0]
            history.record(await run_canary(session, spec))
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    kept_runs = history.recent(("huge", "c"))
    assert len(kept_runs) == 2 and kept_runs[-1].last.chunks == TINY_CHUNKS + 1  # all read
    # the caps (about 6 KB), 1,024 gaps (33 KB), 4 KB of answer, and the rest of a run
    bound = 128 * 1024
    assert kept < bound, f"{kept:,} bytes kept by one run"
