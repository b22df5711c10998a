"""Traces, exemplars and OTLP metrics end to end: the exporter runs canaries against the
simulator, a real OTLP/HTTP receiver decodes what it sends, and a real Prometheus with
exemplar storage links latency observations back to those traces."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from typing import Any

import aiohttp
import pytest

from exporter.simulator import Behaviour
from tests.integration.conftest import (
    CLI,
    Sim,
    config_for,
    free_port,
    start_exporter,
    stop_exporter,
    wait_for,
)
from tests.integration.otlp_receiver import OTLPReceiver, Span

CONFIG = """
defaults: {{interval: 400ms, jitter: 0, timeout: 3s, max_tokens: 32}}
opentelemetry:
  endpoint: {otlp}
  sample_ratio: {ratio}
  {extra}
targets:
  - {{name: good, protocol: openai, base_url: "{url}/v1", model: m}}
  - {{name: bad, protocol: anthropic, base_url: "{url}", model: broken}}
canaries:
  - name: memory
    turns:
      - user: "My name is Ada. My key is sk-live-abcdef123456."
      - user: "What is my name?"
        checks: [{{contains: Ada}}]
"""


# OTEL_EXPORTER_OTLP_* (compression, headers, timeout) would change what is sent.
pytestmark = pytest.mark.usefixtures("no_otel_environment")


def config(sim: Sim, otlp: str, ratio: float = 1.0, extra: str = "") -> Any:
    text = CONFIG.replace("{otlp}", otlp).replace("{ratio}", str(ratio))
    return config_for(sim.url, text.replace("{extra}", extra))


async def run_until(exporter: Any, runs: int) -> None:
    async def enough() -> bool:
        latest = exporter.service.latest.runs
        return all(latest.get((t, "memory"), 0) >= runs for t in ("good", "bad"))

    await wait_for(enough)


async def test_each_run_is_one_trace_with_genai_spans_and_events(
    simulator: Sim, receiver: OTLPReceiver
) -> None:
    simulator.sim.set_behaviour("broken", Behaviour(faults={"http_529": 1.0}))
    exporter = await start_exporter(config(simulator, receiver.url))
    try:
        await run_until(exporter, 1)
    finally:
        await stop_exporter(exporter)  # flushes the batch
    roots = receiver.spans_named("canary memory")
    assert roots, "root spans arrived"
    traces = receiver.traces()
    good = next(r for r in roots if r.attributes["chatcanary.target"] == "good")
    spans = traces[good.trace_id]
    children = [s for s in spans if s.parent_span_id == good.span_id]
    assert good.kind == "INTERNAL" and good.parent_span_id == ""
    assert good.status_code == "OK"
    assert good.resource["service.name"] == "chatcanary"
    assert [c.name for c in children] == ["chat m", "chat m"]
    first, second = sorted(children, key=lambda s: s.start_ns)
    assert first.kind == "CLIENT"
    assert first.start_ns >= good.start_ns and second.end_ns <= good.end_ns
    assert first.end_ns <= second.start_ns, "turns run one after the other"
    attributes = second.attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "m"
    assert attributes["gen_ai.response.model"] == "m"
    assert attributes["gen_ai.request.max_tokens"] == 32
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.input_tokens"] > 0
    assert attributes["gen_ai.usage.output_tokens"] > 0
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["server.port"] == int(simulator.url.rsplit(":", 1)[1])
    assert attributes["gen_ai.response.id"]
    # content is off by default
    assert "gen_ai.input.messages" not in attributes
    assert "gen_ai.output.messages" not in attributes
    first_token = [e for e in second.events if e.name == "gen_ai.first_token"]
    assert len(first_token) == 1
    ttft = first_token[0].attributes["gen_ai.response.time_to_first_chunk"]
    assert first_token[0].time_ns == pytest.approx(second.start_ns + ttft * 1e9, abs=1e3)
    evaluations = {
        e.attributes["gen_ai.evaluation.name"]: e.attributes
        for e in good.events
        if e.name == "gen_ai.evaluation.result"
    }
    assert evaluations["contains_turn2"]["gen_ai.evaluation.score.label"] == "pass"
    assert evaluations["refusal"]["gen_ai.evaluation.score.label"] == "pass"
    assert evaluations["refusal_detection"]["gen_ai.evaluation.score.label"] == "answered"

    bad = next(r for r in roots if r.attributes["chatcanary.target"] == "bad")
    (turn,) = [s for s in traces[bad.trace_id] if s.parent_span_id == bad.span_id]
    assert bad.status_code == "ERROR" and "http_5xx" in bad.status_message
    assert bad.attributes["error.type"] == "http_5xx"
    assert turn.status_code == "ERROR"
    assert turn.attributes["error.type"] == "http_5xx"
    assert turn.attributes["gen_ai.provider.name"] == "anthropic"
    assert turn.attributes["http.response.status_code"] == 529


async def test_failures_are_always_kept_and_successes_sampled(
    simulator: Sim, receiver: OTLPReceiver
) -> None:
    simulator.sim.set_behaviour("broken", Behaviour(faults={"http_500": 1.0}))
    exporter = await start_exporter(config(simulator, receiver.url, ratio=0.0))
    try:
        await run_until(exporter, 3)
        prometheus_text = (await exporter.get("/metrics"))[1]
    finally:
        await stop_exporter(exporter)
    targets = {r.attributes["chatcanary.target"] for r in receiver.spans_named("canary memory")}
    assert targets == {"bad"}
    assert len(receiver.spans_named("canary memory")) >= 3
    assert "chatcanary_otel_export_failures_total" in prometheus_text


async def test_content_is_recorded_only_when_asked_redacted_and_capped(
    simulator: Sim, receiver: OTLPReceiver
) -> None:
    simulator.sim.set_behaviour("m", Behaviour(answer_tokens=200))
    extra = "capture_content: true\n  redact_patterns: ['sk-[a-z]+-\\w+']\n  max_content_chars: 40"
    exporter = await start_exporter(config(simulator, receiver.url, extra=extra))
    try:
        await run_until(exporter, 1)
    finally:
        await stop_exporter(exporter)
    turns = [s for s in receiver.spans_named("chat m")]
    assert turns
    first = min(turns, key=lambda s: s.start_ns)
    (sent,) = json.loads(first.attributes["gen_ai.input.messages"])
    content = sent["parts"][0]["content"]
    assert sent["role"] == "user"
    assert "sk-live" not in content and "[redacted]" in content
    answers = [json.loads(s.attributes["gen_ai.output.messages"])[0] for s in turns]
    assert all(a["role"] == "assistant" for a in answers)
    assert all(len(a["parts"][0]["content"]) <= 40 + len("…[truncated]") for a in answers)


async def test_a_collector_that_is_down_costs_spans_not_runs(simulator: Sim) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    exporter = await start_exporter(config(simulator, down))
    try:
        await run_until(exporter, 2)
        results = list(exporter.service.latest.results.values())
    finally:
        await stop_exporter(exporter)
    good = [r for r in results if r.target == "good"]
    assert good and all(r.outcome == "success" for r in good)
    assert all(r.duration_seconds < 1.5 for r in good)
    failures = exporter.service.registry.get_sample_value(
        "chatcanary_otel_export_failures_total", {"signal": "traces"}
    )
    assert failures is not None and failures > 0, "dropped spans are counted"


async def test_one_environment_variable_turns_tracing_on(
    simulator: Sim, receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "canary-fleet")
    text = CONFIG.split("opentelemetry:")[0] + "targets:" + CONFIG.split("targets:")[1]
    exporter = await start_exporter(config_for(simulator.url, text))
    try:
        await run_until(exporter, 1)
    finally:
        await stop_exporter(exporter)
    spans = await receiver.wait_for_spans(lambda s: s.name == "canary memory")
    assert spans[0].resource["service.name"] == "canary-fleet"


async def test_demo_sends_traces_with_one_environment_variable(receiver: OTLPReceiver) -> None:
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
    process = await asyncio.create_subprocess_exec(
        *CLI,
        "demo",
        "--duration",
        "8",
        "--listen",
        f"127.0.0.1:{free_port()}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    try:
        await asyncio.wait_for(process.wait(), 40)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
            await process.wait()
    assert process.returncode == 0
    roots: list[Span] = [s for s in receiver.spans if s.name.startswith("canary ")]
    assert {r.attributes["chatcanary.target"] for r in roots} >= {"fast", "slow", "strict"}


async def test_otlp_genai_metrics(simulator: Sim, receiver: OTLPReceiver) -> None:
    extra = "traces: false\n  metrics: true\n  metrics_interval: 500ms"
    text = CONFIG.replace("{{interval: 400ms", "{{interval: 300ms").replace(
        "checks: [{{contains: Ada}}]", "checks: [{{contains: Ada}}, {{max_duration: 1.5s}}]"
    )
    exporter = await start_exporter(
        config_for(
            simulator.url,
            text.replace("{otlp}", receiver.url).replace("{ratio}", "1").replace("{extra}", extra),
        )
    )
    try:
        await run_until(exporter, 1)
        points = await receiver.wait_for_points(
            lambda p: (
                p.metric == "gen_ai.client.operation.duration"
                and p.attributes.get("gen_ai.provider.name") == "openai"
            )
        )
        tokens = await receiver.wait_for_points(lambda p: p.metric == "gen_ai.client.token.usage")
        first_chunk = await receiver.wait_for_points(
            lambda p: p.metric == "gen_ai.client.operation.time_to_first_chunk"
        )
    finally:
        await stop_exporter(exporter)
    assert receiver.spans == []
    duration = points[-1]
    assert duration.kind == "histogram" and duration.unit == "s"
    assert duration.attributes["gen_ai.operation.name"] == "chat"
    assert duration.attributes["gen_ai.request.model"] == "m"
    assert 0.01 in duration.explicit_bounds and 81.92 in duration.explicit_bounds
    assert 1.5 in duration.explicit_bounds, "the config's threshold is a bucket boundary"
    assert {p.attributes["gen_ai.token.type"] for p in tokens} <= {"input", "output"}
    assert first_chunk[-1].unit == "s"
    errors = [p for p in receiver.points if p.attributes.get("error.type") == "http_5xx"]
    assert all(p.metric == "gen_ai.client.operation.duration" for p in errors)


async def test_exemplars_link_prometheus_to_the_traces(
    simulator: Sim, receiver: OTLPReceiver, prometheus_factory: Any
) -> None:
    exporter = await start_exporter(config(simulator, receiver.url))
    try:
        prometheus = prometheus_factory(
            [exporter.url.removeprefix("http://")], flags=("--enable-feature=exemplar-storage",)
        )

        async def exemplars() -> list[str]:
            params = {
                "query": 'chatcanary_request_duration_seconds_bucket{target="good"}',
                "start": str(time.time() - 300),
                "end": str(time.time() + 60),
            }
            try:
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(prometheus.url + "/api/v1/query_exemplars", params=params) as r,
                ):
                    if r.status == 503:  # still starting: no answer yet, poll again
                        return []
                    body = await r.json()
            except aiohttp.ClientConnectionError:
                return []
            return [
                e["labels"]["trace_id"]
                for series in body.get("data") or []
                for e in series["exemplars"]
            ]

        trace_ids = await wait_for(exemplars, timeout=40)
        status, text = await exporter.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        assert status == 200
    finally:
        await stop_exporter(exporter)
    exported = {s.trace_id for s in receiver.spans_named("canary memory")}
    assert set(trace_ids) <= exported, "every exemplar names a trace that was exported"
    assert "# {trace_id=" in text, "OpenMetrics carries exemplars"


METRICS_ONLY = """
defaults: {{interval: 1h, timeout: 3s}}
opentelemetry: {{endpoint: "{otlp}", traces: false, metrics: true, metrics_interval: 200ms}}
targets:
  - {{name: good, protocol: openai, base_url: "{url}/v1", model: "{model}"}}
canaries:
  - {{name: hello, prompt: "Say hello."}}
"""


def metrics_only(sim: Sim, otlp: str, model: str = "m") -> Any:
    text = METRICS_ONLY.replace("{otlp}", otlp).replace("{model}", model)
    return config_for(sim.url, text)


async def test_otlp_metrics_bound_the_model_a_server_reports(
    simulator: Sim, receiver: OTLPReceiver
) -> None:
    """Regression: `gen_ai.response.model` took whatever the server said, unbounded. The
    simulator reports the model asked for; this one is long and not printable ASCII."""
    exporter = await start_exporter(metrics_only(simulator, receiver.url, "modèle-" + "x" * 90))
    try:
        result = await exporter.service.run_now(exporter.service.plan[("good", "hello")])
        assert result.last.response_model == "modèle-" + "x" * 90
        (point, *_) = await receiver.wait_for_points(
            lambda p: p.metric == "gen_ai.client.operation.duration"
        )
    finally:
        await stop_exporter(exporter)
    assert point.attributes["gen_ai.response.model"] == "mod_le-" + "x" * 57  # 64 characters


@pytest.mark.parametrize(("preference", "most"), [("delta", 1), ("lowmemory", 1), ("", 2)])
async def test_otlp_metrics_take_their_temporality_from_the_environment(
    simulator: Sim,
    receiver: OTLPReceiver,
    monkeypatch: pytest.MonkeyPatch,
    preference: str,
    most: int,
) -> None:
    """Two runs, each exported before the next: delta points count one run each, and
    cumulative ones (OTLP's default) count both by the end."""
    if preference:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", preference)
    exporter = await start_exporter(metrics_only(simulator, receiver.url))
    spec = exporter.service.plan[("good", "hello")]
    try:
        await exporter.service.run_now(spec)
        await receiver.wait_for_points(lambda p: p.metric == "gen_ai.client.operation.duration")
        await exporter.service.run_now(spec)
    finally:
        await stop_exporter(exporter)  # the last collection is exported at shutdown
    counts = [p.count for p in receiver.points if p.metric == "gen_ai.client.operation.duration"]
    assert max(counts) == most
    if most == 1:
        assert sum(counts) == 2, "each run is exported once"
