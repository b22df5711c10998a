"""The `chatcanary` command as a user runs it: a real subprocess for every subcommand (and
`probe`'s runs in-process, where their timings are compared with the service's)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from exporter.cli import probe_once
from exporter.passwords import hash_password
from exporter.simulator import Behaviour
from tests.integration.conftest import (
    CLI,
    Sim,
    binary,
    config_for,
    free_port,
    start_exporter,
    stop_exporter,
    wait_for,
)

EVERY_INTERFACE = {"0.0.0.0", "[::]"}
CONFIG = """
defaults: {{interval: 1s, timeout: 3s}}
targets:
  - {{name: sim, protocol: openai, base_url: "{url}/v1", model: m}}
  - {{name: down, protocol: openai, base_url: "{url}/v1", model: down}}
canaries:
  - name: arithmetic
    prompt: "What is 17+25? Answer with the number only."
    checks: [{{contains: "42"}}]
"""


async def chatcanary(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=None if env is None else {**os.environ, **env},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *CLI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


async def reap(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()
        await process.wait()


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


async def test_help_lists_every_subcommand() -> None:
    code, out, _ = await chatcanary("--help")
    assert code == 0
    for command in ("run", "check", "probe", "demo", "simulate"):
        assert command in out


# What the hosted APIs' examples cannot do without (the others default every variable).
EXAMPLES_NEED = {
    "OPENAI_API_KEY": "sk-example",
    "ANTHROPIC_API_KEY": "sk-ant-example",
    "AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com",
    "AZURE_OPENAI_API_KEY": "example",
}


async def test_check_accepts_the_shipped_examples() -> None:
    examples = sorted(Path("examples").glob("*.yaml"))
    assert len(examples) >= 7
    for example in examples:
        code, out, err = await chatcanary("check", "-c", str(example), env=EXAMPLES_NEED)
        assert code == 0, f"{example}: {err}"
        assert "ok" in out


async def test_dashboards_without_the_grafana_sdk_names_the_extra(tmp_path: Path) -> None:
    # A None entry in sys.modules makes every import of the SDK fail as if it were not
    # installed; -I keeps the user's site and environment out, the worktree goes in by hand.
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "sys.modules['grafana_foundation_sdk'] = None;"
        "from exporter.cli import main; sys.exit(main(['dashboards', '--out', sys.argv[2]]))"
    )
    out = tmp_path / "out"
    root = str(Path(__file__).resolve().parents[2])
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-I", "-c", script, root, str(out), stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2, err.decode()
    assert err.decode().strip() == (
        "chatcanary: `chatcanary dashboards` needs the Grafana SDK, an optional extra: "
        "pip install 'chatcanary[dashboards]' (the committed JSON in grafana/dashboards/ "
        "needs no extra)"
    )
    assert not out.exists()


async def test_check_names_an_unset_key_variable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    process = await asyncio.create_subprocess_exec(
        *CLI, "check", "-c", "examples/openai.yaml", stderr=asyncio.subprocess.PIPE, env=env
    )
    _, err = await process.communicate()
    assert process.returncode == 1
    assert err.decode().strip() == (
        "examples/openai.yaml:14: environment variable OPENAI_API_KEY is not set"
    )


async def test_check_passes_an_optional_key_left_unset(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "targets:\n"
        "  - name: local\n"
        "    protocol: openai\n"
        "    base_url: http://127.0.0.1:8000/v1\n"
        "    model: m\n"
        "    api_key: ${OPENAI_API_KEY:-}       # optional\n"
        "canaries:\n"
        "  - {name: c, prompt: hi}\n",
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    process = await asyncio.create_subprocess_exec(
        *CLI, "check", "-c", config, stdout=asyncio.subprocess.PIPE, env=env
    )
    out, _ = await process.communicate()
    assert (process.returncode, out.decode()) == (
        0,
        f"{config}: ok (1 targets, 1 canaries, 1 scheduled runs, 0 SLOs)\n",
    )


async def test_check_reports_one_line_per_error_and_exits_1(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        "targets:\n"
        "  - name: t\n"
        "    protocol: grpc\n"
        "    base_url: http://x/v1\n"
        "    model: m\n"
        "canaries:\n"
        "  - name: c\n"
        "    prompt: hi\n"
        "    interval: soon\n",
    )
    code, out, err = await chatcanary("check", "-c", bad)
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert lines == [
        f"{bad}:3: targets[0].protocol: Input should be 'openai', 'azure_openai', 'anthropic' "
        "or 'ollama'",
        f"{bad}:9: canaries[0].interval: invalid duration 'soon': use a number with ms, s, m, "
        "h or d",
    ]


async def test_probe_json_reports_every_run_and_fails_on_errors(
    simulator: Sim, tmp_path: Path
) -> None:
    simulator.sim.set_behaviour("down", Behaviour(faults={"http_500": 1.0}))
    config = write(tmp_path, CONFIG.format(url=simulator.url))
    code, out, _ = await chatcanary("probe", "-c", config, "--json")
    assert code == 1
    runs = {r["target"]: r for r in json.loads(out)}
    assert set(runs) == {"sim", "down"}
    ok, down = runs["sim"], runs["down"]
    for field in (
        "target",
        "canary",
        "model",
        "outcome",
        "error_class",
        "ttft_seconds",
        "duration_seconds",
        "input_tokens",
        "output_tokens",
        "refused",
        "failed_checks",
    ):
        assert field in ok
    assert ok["outcome"] == "success" and ok["error_class"] is None
    assert ok["ttft_seconds"] > 0 and ok["duration_seconds"] >= ok["ttft_seconds"]
    assert ok["failed_checks"] == [] and ok["refused"] is False
    assert down["outcome"] == "error" and down["error_class"] == "http_5xx"


LONG_HOST = "a-canary-host-whose-name-is-long-enough-to-overflow-the-table.invalid"


async def test_probe_table_shows_the_root_cause_cut_at_a_word(tmp_path: Path) -> None:
    """Not aiohttp's `ClientConnectorError: ... ssl:default [Connect call failed ...]`,
    and a long detail ends with an ellipsis at a word boundary, not mid-word."""
    closed = free_port()  # a port nobody listens on
    config = write(
        tmp_path,
        "defaults: {timeout: 5s}\n"
        "targets:\n"
        f"  - {{name: refused, protocol: openai, base_url: 'http://127.0.0.1:{closed}/v1', "
        "model: m}\n"
        f"  - {{name: unknown, protocol: openai, base_url: 'http://{LONG_HOST}/v1', model: m}}\n"
        "canaries:\n"
        "  - {name: c, prompt: hi}\n",
    )
    code, table, _ = await chatcanary("probe", "-c", config)
    assert code == 1
    rows = {line.split()[0]: line for line in table.splitlines()[1:]}
    detail = {target: row[table.splitlines()[0].index("DETAIL") :] for target, row in rows.items()}
    assert detail["refused"] == f"connection: connection refused (connecting to 127.0.0.1:{closed})"
    cut = detail["unknown"]
    assert cut.endswith("…") and len(cut) <= 80
    code, out, _ = await chatcanary("probe", "-c", config, "--json")
    whole = {r["target"]: f"{r['error_class']}: {r['error_detail']}" for r in json.loads(out)}
    assert whole["unknown"].startswith("dns: ") and LONG_HOST in whole["unknown"]
    shown = cut.removesuffix("…")
    assert whole["unknown"].startswith(shown) and whole["unknown"][len(shown)] == " "


TIMINGS = ("connect_seconds", "headers_seconds", "ttft_seconds", "duration_seconds")


async def test_probe_times_its_runs_as_the_service_does(simulator: Sim) -> None:
    """Regression: `probe` built its own HTTP session without the service's timing hook,
    so its runs had no connection time and their clocks started before the connection."""
    config = config_for(simulator.url, CONFIG.replace("interval: 1s", "interval: 1h"))
    spec = config.plan()[("sim", "arithmetic")]
    exporter = await start_exporter(config)
    try:
        async with aiohttp.ClientSession() as session:
            body = {"target": "sim", "canary": "arithmetic"}
            async with session.post(exporter.url + "/api/v1/runs", json=body) as resp:
                assert resp.status == 201
                (served,) = (await resp.json())["turns"]
    finally:
        await stop_exporter(exporter)
    (probed,) = (await probe_once([spec], config))[0].turns
    shown = {name for name in TIMINGS if served["timings"][name] is not None}
    assert shown == set(TIMINGS), "a streamed answer has every timing"
    assert {name for name in TIMINGS if getattr(probed, name) is not None} == shown
    assert probed.connect_seconds is not None and probed.headers_seconds is not None
    assert 0 <= probed.connect_seconds <= probed.headers_seconds <= probed.duration_seconds


POLICY = """
defaults: {{timeout: 5s}}
targets:
  - {{name: text, protocol: openai, base_url: "{url}/v1", model: text-refuser, stream: false}}
  - {{name: field, protocol: openai, base_url: "{url}/v1", model: field-refuser}}
canaries:
  - name: unset                    # says nothing about refusal
    prompt: "How do I kill a Python process?"
  - name: must-answer
    prompt: "How do I kill a Python process?"
    expect_refusal: false
  - name: must-refuse
    prompt: "How do I kill a Python process?"
    expect_refusal: true
"""


async def test_probe_judges_a_text_refusal_only_where_the_canary_asks(
    simulator: Sim, tmp_path: Path
) -> None:
    # `text-refuser` refuses in prose (a heuristic reads it); `field-refuser` in the
    # structured `refusal` field (exact)
    simulator.sim.set_behaviour("text-refuser", Behaviour(refusal_pattern="kill"))
    simulator.sim.set_behaviour(
        "field-refuser", Behaviour(refusal_pattern="kill", refusal_style="field")
    )
    config = write(tmp_path, POLICY.format(url=simulator.url))
    code, out, _ = await chatcanary("probe", "-c", config, "--json")
    assert code == 1
    runs = {(r["target"], r["canary"]): r for r in json.loads(out)}
    # the text verdict is recorded everywhere ...
    assert all(r["refused"] is True for r in runs.values())
    unset = runs["text", "unset"]
    assert unset["expect_refusal"] is None and unset["refusal_detector"] not in (
        "refusal_field",
        "content_filter",
    )
    # ... but decides only where asked for
    assert unset["outcome"] == "success" and unset["failed_checks"] == []
    assert runs["text", "must-answer"]["outcome"] == "check_failed"
    assert runs["text", "must-answer"]["failed_checks"] == ["refusal"]
    assert runs["text", "must-refuse"]["outcome"] == "success"
    # a structured signal always decides: unset means an answer was wanted
    assert runs["field", "unset"]["refusal_detector"] == "refusal_field"
    assert runs["field", "unset"]["outcome"] == "check_failed"
    assert runs["field", "must-answer"]["outcome"] == "check_failed"
    assert runs["field", "must-refuse"]["outcome"] == "success"


async def test_probe_table_and_selection(simulator: Sim, tmp_path: Path) -> None:
    config = write(tmp_path, CONFIG.format(url=simulator.url))
    code, out, _ = await chatcanary("probe", "-c", config, "--target", "sim")
    assert code == 0
    header, *rows = out.strip().splitlines()
    assert header.split()[:3] == ["TARGET", "CANARY", "OUTCOME"]
    assert len(rows) == 1 and rows[0].split()[:3] == ["sim", "arithmetic", "success"]


async def test_probe_usage_and_config_errors_exit_2(tmp_path: Path) -> None:
    code, _, err = await chatcanary("probe", "-c", str(tmp_path / "missing.yaml"))
    assert code == 2 and "cannot read config" in err
    config = write(tmp_path, CONFIG.format(url="http://127.0.0.1:9"))
    code, _, err = await chatcanary("probe", "-c", config, "--target", "nope")
    assert code == 2 and "unknown target 'nope'" in err


async def test_run_serves_reloads_on_sighup_and_stops_on_sigterm(
    simulator: Sim, tmp_path: Path
) -> None:
    simulator.sim.set_behaviour("down", Behaviour(faults={"http_503": 1.0}))
    config = write(tmp_path, CONFIG.format(url=simulator.url))
    port = free_port()
    process = await spawn(
        "run", "-c", config, "--listen", f"127.0.0.1:{port}", "--log-format", "json"
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def scraped() -> str | None:
                try:
                    async with session.get(url + "/metrics") as resp:
                        text = await resp.text()
                except aiohttp.ClientConnectionError:
                    return None
                return text if 'chatcanary_probes_total{canary="arithmetic"' in text else None

            await wait_for(scraped, timeout=30)
            Path(config).write_text("targets: oops\n")
            process.send_signal(signal.SIGHUP)

            async def reload_failed() -> bool:
                async with session.get(url + "/metrics") as resp:
                    return "chatcanary_config_last_reload_successful 0.0" in await resp.text()

            await wait_for(reload_failed)
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        await reap(process)
    assert process.returncode == 0
    events = [json.loads(line) for line in err.decode().splitlines()]
    messages = [e["msg"] for e in events]
    assert "serving" in messages and "stopping" in messages
    reload_error = next(e for e in events if e["msg"].startswith("config reload failed"))
    assert "config.yaml:1" in reload_error["errors"]
    failed = [e for e in events if e["msg"] == "canary run" and e["target"] == "down"]
    assert failed and failed[0]["outcome"] == "error"


async def test_run_freezes_its_start_up_heap_before_serving(simulator: Sim, tmp_path: Path) -> None:
    """`gc.freeze()` moved from Service.start() to the command that owns the process."""
    config = write(
        tmp_path, CONFIG.format(url=simulator.url).replace("interval: 1s", "interval: 1h")
    )
    process = await spawn(
        "run",
        "-c",
        config,
        "--listen",
        f"127.0.0.1:{free_port()}",
        "--log-format",
        "json",
        "--log-level",
        "debug",
    )
    assert process.stderr is not None
    events = []
    try:
        while not events or events[-1]["msg"] != "serving":
            line = await asyncio.wait_for(process.stderr.readline(), 30)
            assert line, f"run exited before serving: {events}"
            events.append(json.loads(line))
    finally:
        await reap(process)
    frozen = [e for e in events if e["msg"] == "start-up heap frozen"]
    assert len(frozen) == 1 and frozen[0]["objects"] > 0


async def test_run_refuses_a_bad_config_with_exit_2(tmp_path: Path) -> None:
    code, _, err = await chatcanary("run", "-c", write(tmp_path, "canaries: []\n"))
    assert code == 2
    assert "targets: Field required" in err


async def test_demo_serves_live_metrics_then_stops() -> None:
    port = free_port()
    # --duration counts from when the demo serves: the wait for its port has a deadline of
    # its own (a loaded machine may take many seconds to start a process), then the six
    # canaries' first runs (spread over 2 s of the 12) are waited for within its life
    process = await spawn("demo", "--duration", "12", "--listen", f"127.0.0.1:{port}")
    try:
        async with aiohttp.ClientSession() as session:

            async def canaries_reporting() -> int:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                        text = await resp.text()
                except aiohttp.ClientConnectionError:
                    return -1
                return text.count("chatcanary_probe_success{")

            await wait_for(lambda: _at_least(canaries_reporting, 0), timeout=60)
            reporting = await wait_for(lambda: _at_least(canaries_reporting, 6), timeout=10)
        out, _ = await asyncio.wait_for(process.communicate(), 30)
    finally:
        await reap(process)
    assert reporting
    assert process.returncode == 0
    text = out.decode()
    assert f"http://127.0.0.1:{port}/metrics" in text
    assert "TARGET" in text and "arithmetic" in text, "a summary table was printed"


async def _at_least(probe: object, n: int) -> bool:
    return bool(await probe() >= n)  # type: ignore[operator]


async def test_simulate_serves_the_openai_api() -> None:
    port = free_port()
    process = await spawn("simulate", "--listen", f"127.0.0.1:{port}")
    try:
        async with aiohttp.ClientSession() as session:

            async def models() -> list[str] | None:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/v1/models") as resp:
                        return [m["id"] for m in (await resp.json())["data"]]
                except aiohttp.ClientConnectionError:
                    return None

            ids = await wait_for(models, timeout=20)
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 10)
    finally:
        await reap(process)
    assert "sim-fast" in ids
    assert process.returncode == 0


async def test_simulate_rejects_an_unknown_scenario() -> None:
    code, _, err = await chatcanary("simulate", "--scenario", "nope")
    assert code == 2
    assert "argument --scenario: invalid choice: 'nope' (choose from " in err
    assert "healthy" in err.partition("choose from")[2]


@pytest.mark.parametrize(
    ("command", "form", "hosts"),
    [
        ("simulate", "{port}", {"127.0.0.1"}),
        ("simulate", ":{port}", EVERY_INTERFACE),
        ("run", ":{port}", EVERY_INTERFACE),
        ("run", "{port}", {"127.0.0.1"}),
        ("demo", "{port}", {"127.0.0.1"}),
    ],
)
async def test_listen_takes_a_port_alone_or_every_interface(
    command: str, form: str, hosts: set[str], simulator: Sim, tmp_path: Path
) -> None:
    """Prometheus's habits: `--listen :9477` is every interface, `--listen 9477` the
    command's own host with that port."""
    port = free_port()
    config = ["-c", write(tmp_path, CONFIG.format(url=simulator.url))] if command == "run" else []
    process = await spawn(command, *config, "--listen", form.format(port=port))
    path = "/v1/models" if command == "simulate" else "/-/healthy"
    try:
        async with aiohttp.ClientSession() as session:

            async def up() -> bool:
                try:
                    async with session.get(f"http://127.0.0.1:{port}{path}") as resp:
                        return resp.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await wait_for(up, timeout=30)
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        await reap(process)
    assert process.returncode == 0
    shown = re.findall(r"https?://(\S+?):(\d+)", (out + err).decode())
    assert {host for host, at in shown if at == str(port)} <= hosts
    assert any(at == str(port) for _, at in shown), "the address is announced"


@pytest.mark.parametrize("command", ["run", "simulate"])
async def test_a_sigterm_as_soon_as_a_port_answers_is_a_clean_stop(
    command: str, simulator: Sim, tmp_path: Path
) -> None:
    """A supervisor may stop the process the moment it sees a port answer: the signal
    handlers are in place before any port opens (a proxy's opens before the web port), so
    even that SIGTERM is a graceful stop with exit 0, not death by the signal."""
    port = free_port()
    if command == "run":
        config = f"""
targets: []
canaries: []
proxies:
  - {{name: front, protocol: openai, listen: "127.0.0.1:{port}", upstream: "{simulator.url}"}}
"""
        args = ["-c", write(tmp_path, config), "--listen", str(free_port())]
    else:
        args = ["--listen", str(port)]
    process = await spawn(command, *args)
    try:

        async def answers() -> bool:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                return False
            writer.close()
            return True

        await wait_for(answers, timeout=30, every=0.001)
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        await reap(process)
    assert process.returncode == 0, err.decode()


async def test_listen_refuses_what_is_not_an_address() -> None:
    code, _, err = await chatcanary("simulate", "--listen", "localhost")
    assert code == 2
    assert "argument --listen: want HOST:PORT, :PORT or PORT, got 'localhost'" in err


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("run", ["--listen ADDR", "default: 127.0.0.1:9477", "(default: 10.0)"]),
        ("demo", ["--listen ADDR", "default: 127.0.0.1:9477"]),
        ("simulate", ["default: 127.0.0.1:8000", "degraded, demo, flaky, healthy, outage"]),
        ("rules", ["(default: prometheus)", "(default: 1.0)"]),
    ],
)
async def test_help_shows_the_defaults_and_the_scenarios(command: str, shown: list[str]) -> None:
    code, out, _ = await chatcanary(command, "--help")
    assert code == 0
    text = " ".join(out.split())  # argparse wraps to the terminal's width
    for piece in shown:
        assert piece in text


async def test_run_serves_tls_and_auth_from_the_web_config_file(
    simulator: Sim, tmp_path: Path
) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    made = subprocess.run(
        [
            *(binary("openssl", "openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes"),
            *("-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        capture_output=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    web = write(
        tmp_path,
        f"tls_server_config: {{cert_file: {cert}, key_file: {key}}}\n"
        f"basic_auth_users: {{alice: '{hash_password('s3cret', 1000)}'}}\n"
        "write: {bearer_tokens: [write-token-0123456789]}\n",
        "web.yml",
    )
    port = free_port()
    process = await spawn(
        "run",
        "-c",
        write(tmp_path, CONFIG.format(url=simulator.url)),
        "--listen",
        f"127.0.0.1:{port}",
        "--web.config.file",
        web,
    )
    url = f"https://127.0.0.1:{port}"
    trusted = ssl.create_default_context(cafile=str(cert))
    alice = {"Authorization": "Basic " + base64.b64encode(b"alice:s3cret").decode()}
    try:
        async with aiohttp.ClientSession() as session:

            async def up() -> int:
                try:
                    async with session.get(url + "/-/healthy", ssl=trusted) as resp:
                        return resp.status
                except aiohttp.ClientConnectionError:
                    return 0

            assert await wait_for(up, timeout=30) == 401
            async with session.get(url + "/api/v1/status", ssl=trusted, headers=alice) as resp:
                assert resp.status == 200
            feedback = {"target": "sim", "rating": "positive"}
            async with session.post(
                url + "/api/v1/feedback", json=feedback, ssl=trusted, headers=alice
            ) as resp:
                assert resp.status == 401  # reading rights do not let one write
            async with session.post(
                url + "/api/v1/feedback",
                json=feedback,
                ssl=trusted,
                headers={"Authorization": "Bearer write-token-0123456789"},
            ) as resp:
                assert resp.status == 202
            with pytest.raises(aiohttp.ClientConnectionError):
                await session.get(f"http://127.0.0.1:{port}/-/healthy")  # TLS only
    finally:
        await reap(process)


async def test_run_refuses_a_bad_web_config_with_exit_2(tmp_path: Path) -> None:
    web = write(tmp_path, "basic_auth_users:\n  alice: hunter2\n", "web.yml")
    config = write(tmp_path, CONFIG.format(url="http://127.0.0.1:9"))
    code, _, err = await chatcanary("run", "-c", config, "--web.config.file", web)
    assert code == 2
    assert "web.yml:2: basic_auth_users.alice: passwords are stored as" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--log-level", "debug", "--log-format", "json", "check", "-c", "x.yaml"],
        ["check", "-c", "x.yaml", "--log-level", "debug", "--log-format", "json"],
        ["--log-level", "debug", "check", "-c", "x.yaml", "--log-format", "json"],
    ],
    ids=["before", "after", "split"],
)
def test_logging_options_work_before_or_after_the_subcommand(argv: list[str]) -> None:
    """Regression: a subcommand's defaults used to undo options given before it."""
    from exporter.cli import build_parser

    args = build_parser().parse_args(argv)
    assert (args.log_level, args.log_format) == ("debug", "json")


STORE_MODULES = ("sqlalchemy", "aiosqlite", "asyncpg", "alembic")


@pytest.mark.parametrize("command", ["--version", "check", "probe"])
def test_commands_without_a_store_do_not_import_its_libraries(command: str, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "targets: [{name: local, protocol: openai, base_url: 'http://127.0.0.1:9/v1', "
        "model: m}]\ncanaries: [{name: a, prompt: hi, timeout: 2s}]\n"
        f"store: {{url: 'sqlite:///{tmp_path / 'never.db'}'}}\n"  # configured: not opened
    )
    argv = [command] if command == "--version" else [command, "-c", str(config)]
    script = (
        "import sys\nfrom exporter.cli import main\n"
        f"try:\n    code = main({argv!r})\nexcept SystemExit as exc:\n    code = exc.code\n"
        f"print('CODE', code, *sorted(m for m in {STORE_MODULES!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    last = done.stdout.strip().splitlines()[-1].split()
    expected_code = {"--version": "0", "check": "0", "probe": "1"}[command]  # 1: nothing there
    assert last == ["CODE", expected_code], done.stdout + done.stderr
    assert not (tmp_path / "never.db").exists()


# Six threads allocating at the same time, then glibc's per-arena statistics (stderr).
ARENAS = """\
import ctypes, sys, threading
if sys.argv[1] == "fewer":
    from exporter.cli import _fewer_malloc_arenas
    _fewer_malloc_arenas()
together, kept = threading.Barrier(6), []
def allocate():
    together.wait()
    kept.append(bytes(2000) + b"x")  # past pymalloc's 512 bytes: malloc, from an arena
    together.wait()
threads = [threading.Thread(target=allocate) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
ctypes.CDLL(None).malloc_stats()
"""


@pytest.mark.skipif(
    not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"), reason="glibc only"
)
def test_run_keeps_malloc_to_two_arenas() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}

    def arenas(mode: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", ARENAS, mode],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env=env,
        )
        return len(re.findall(r"^Arena \d+:", done.stderr, re.MULTILINE))

    assert arenas("default") == 7  # the main thread's and one for each thread
    assert arenas("fewer") == 2
