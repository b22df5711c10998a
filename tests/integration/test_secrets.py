"""Secrets never leave: marker secrets are planted in every place a secret can be
configured, the exporter runs for real (a subprocess at debug log level, tracing with
content capture on, behind a web config file) against endpoints that echo the key back,
and every output is scanned: logs, /metrics, traces, every page, every API answer,
/probe?debug=true, reload errors, the `check`, `probe --json` and `export` commands, and
the store's files."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.integration.conftest import free_port, wait_for
from tests.integration.otlp_receiver import OTLPReceiver

KEY = "sk-MARKER-key-7f3a9c41"  # a target's api_key
HEADER = "MARKER-header-55d1e0"  # a secret request header
TOKEN = "MARKER-token-a8e2b7"  # the web config's bearer token
MARKERS = (KEY, HEADER, TOKEN, "MARKER")
CLI = [sys.executable, "-m", "exporter"]

CONFIG = """
opentelemetry: {{endpoint: "{otlp}", capture_content: true, sample_ratio: 1}}
defaults: {{interval: 300ms, jitter: 0, timeout: 2s, stream: false}}
targets:
  - name: echo
    protocol: openai
    base_url: "{echo}/v1"
    model: m
    api_key: "{key}"
    headers: {{X-Team-Secret: "{header}"}}
  - name: denied
    protocol: openai
    base_url: "{echo}/deny/v1"
    model: m
    api_key: "{key}"
canaries:
  - name: c
    prompt: "Repeat my key please"
"""


async def echo_app() -> web.Application:
    """An endpoint that puts the credentials it got into its answers, as some do."""

    async def chat(request: web.Request) -> web.Response:
        got = f"{request.headers.get('Authorization')} {request.headers.get('X-Team-Secret')}"
        if request.path.startswith("/deny"):
            error = {"message": f"Incorrect API key provided: {got}", "code": "invalid_api_key"}
            return web.json_response({"error": error}, status=401)
        answer = {
            "id": "x",
            "object": "chat.completion",
            "model": f"m-{got}",  # even the reported identity
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"Your key is {got}."},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
        }
        return web.json_response(answer, headers={"x-request-id": got})

    app = web.Application()
    app.router.add_post("/{tail:.*}", chat)
    return app


@pytest.fixture
async def echo() -> AsyncIterator[str]:
    runner = web.AppRunner(await echo_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


def leaks(where: str, text: str) -> list[str]:
    return [f"{where}: {m}" for m in MARKERS if m in text]


async def run_cli(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *CLI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode()


@pytest.mark.integration
async def test_planted_secrets_appear_in_no_output(
    echo: str, receiver: OTLPReceiver, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(otlp=receiver.url, echo=echo, key=KEY, header=HEADER))
    web_config = tmp_path / "web.yaml"
    web_config.write_text(f'bearer_tokens: ["{TOKEN}"]\n')
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    process = await asyncio.create_subprocess_exec(
        *CLI,
        "--log-level",
        "debug",
        "run",
        "-c",
        str(config),
        "--listen",
        f"127.0.0.1:{port}",
        "--web.config.file",
        str(web_config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    found: list[str] = []
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with aiohttp.ClientSession(headers=auth) as session:

            async def get(path: str) -> str:
                async with session.get(base + path) as resp:
                    text = await resp.text()
                    assert resp.status == 200, f"{path}: {resp.status} {text[:200]}"
                    return text

            async def runs() -> list[dict[str, object]]:
                try:
                    listed = json.loads(await get("/api/v1/runs"))
                except (aiohttp.ClientError, AssertionError):
                    return []
                items = listed["runs"] if isinstance(listed, dict) else listed
                return items if len(items) >= 4 else []

            listed = await wait_for(runs, timeout=30, every=0.3)
            paths = ["/", "/runs", "/config", "/metrics", "/api/v1/status", "/api/v1/runs"]
            paths += [f"/runs/{r['run_id']}" for r in listed]
            paths += [f"/api/v1/runs/{r['run_id']}" for r in listed]
            for target in ("echo", "denied"):
                paths.append(f"/probe?target={target}&canary=c&debug=true")
                paths.append(f"/probe?target={target}&canary=c")
            for path in paths:
                found += leaks(path, await get(path))
            # A reload with a broken file whose error is next to a secret.
            config.write_text(
                CONFIG.format(otlp=receiver.url, echo=echo, key=KEY, header=HEADER).replace(
                    f'api_key: "{KEY}"', f"api_key: [{KEY}]", 1
                )
            )
            async with session.post(base + "/-/reload") as resp:
                answer = await resp.text()
                assert resp.status == 400 and "api_key" in answer, answer
                found += leaks("POST /-/reload (bad file)", answer)
    finally:
        process.send_signal(signal.SIGTERM)
        logs, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    text = logs.decode()
    assert "canary run" in text and "Incorrect API key provided" in text, text[-2000:]
    found += leaks("logs (debug)", text)

    spans = list(receiver.spans)
    assert spans, "traces were exported"
    found += leaks("traces", json.dumps([repr(s) for s in spans]))

    code, out = await run_cli("check", "-c", str(config))
    assert code == 1 and "api_key" in out
    found += leaks("chatcanary check", out)
    config.write_text(CONFIG.format(otlp=receiver.url, echo=echo, key=KEY, header=HEADER))
    code, out = await run_cli("probe", "-c", str(config), "--json")
    assert code == 1 and "Incorrect API key provided" in out
    found += leaks("chatcanary probe --json", out)
    # what the store kept: its files (the exchanges, echoed keys and all, redacted before
    # they were written) and what `export` writes from them (the runs' summaries)
    stored = b"".join(p.read_bytes() for p in sorted((tmp_path / "data").glob("chatcanary.db*")))
    assert b"Repeat my key please" in stored
    found += leaks("the store's files", stored.decode("latin-1"))
    code, out = await run_cli("export", "-c", str(config), "runs")
    assert code == 0 and '"run_id"' in out and '"target": "echo"' in out, out[-500:]
    found += leaks("chatcanary export runs", out)
    assert found == [], "secrets leaked:\n" + "\n".join(found)
