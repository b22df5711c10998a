"""The proxy over real sockets: the simulator and the raw fault server upstream, a TCP tap
recording what the upstream wrote and received, a raw-socket client recording what it
sent and read. Bytes are compared after the framing alone is removed (`wire.parse`).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from exporter.config import Metrics, Proxy, parse_config
from exporter.errors import ErrorClass
from exporter.feedback import Feedback, Rating
from exporter.proxy import Proxies, TrafficMetrics
from exporter.proxy.forward import Guard
from exporter.proxy.observe import Observer
from exporter.result import TrafficOutcome, TrafficRecord
from exporter.service import Service
from exporter.simulator import Simulator
from exporter.store import locate
from exporter.web import make_app
from tests.integration.conftest import CLI, free_port, wait_for
from tests.integration.faultserver import (
    FaultServer,
    content_type,
    self_signed,
    sockets_to,
    stream_frames,
    whole_body,
)
from tests.integration.otlp_receiver import OTLPReceiver
from tests.integration.wire import Message, Tap, exchange, parse

PROMPT = "What is 17+25? Answer with the number only."
PATHS = {
    "openai": "/v1/chat/completions",
    "azure_openai": "/openai/deployments/gpt/chat/completions?api-version=2024-10-21",
    "anthropic": "/v1/messages",
    "ollama": "/api/chat",
}


def chat_request(
    protocol: str, stream: bool, extra: list[tuple[str, str]] | None = None, path: str = ""
) -> bytes:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": PROMPT}], "stream": stream}
    if protocol != "azure_openai":
        body["model"] = "m1"
    if protocol == "anthropic":
        body["max_tokens"] = 32
        extra = [("anthropic-version", "2023-06-01"), *(extra or [])]
    raw = json.dumps(body).encode()
    headers = [
        ("Host", "proxy.example"),
        ("User-Agent", "client/1.0"),
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer sk-test-123456"),
        ("X-Custom", "first"),
        ("x-custom", "second"),  # a repeated field keeps its place and its case
        ("Accept-Encoding", "gzip"),
        *(extra or []),
        ("Content-Length", str(len(raw))),
        ("Connection", "close"),
    ]
    head = f"POST {path or PATHS[protocol]} HTTP/1.1\r\n"
    head += "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n"
    return head.encode("latin-1") + raw


@dataclass
class Rig:
    tap: Tap
    proxies: Proxies
    records: list[TrafficRecord]
    metrics: TrafficMetrics

    @property
    def port(self) -> int:
        return next(iter(self.proxies.listeners.values())).port

    async def record(self) -> TrafficRecord:
        return await wait_for(lambda: _first(self.records))

    def upstream(self) -> tuple[Message, Message]:
        """What the upstream received and what it wrote, on the first connection."""
        sent, received = self.tap.connections[0]
        request, _ = parse(bytes(sent), response=False)
        response, _ = parse(bytes(received))
        return request, response


async def _first(records: list[TrafficRecord]) -> TrafficRecord | None:
    return records[0] if records else None


Make = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def rig() -> AsyncIterator[Make]:
    made: list[Rig] = []

    async def make(upstream_port: int, protocol: str, **settings: Any) -> Rig:
        observe = settings.pop("observe", Observer)
        tap = Tap(upstream_port)
        url = await tap.start()
        proxy = Proxy(name="p", protocol=protocol, listen="127.0.0.1:0", upstream=url, **settings)
        metrics = TrafficMetrics(Metrics())
        metrics.configure([proxy], Metrics())
        records: list[TrafficRecord] = []
        proxies = Proxies(metrics, records.append, observe=observe)
        await proxies.apply([proxy])
        made.append(Rig(tap, proxies, records, metrics))
        return made[-1]

    yield make
    for one in made:
        await one.proxies.close(0)
        await one.tap.close()


@pytest.fixture
async def simulator() -> AsyncIterator[int]:
    sim = Simulator(scenario="healthy", seed=7)
    url = await sim.start("127.0.0.1", 0)
    yield int(url.rsplit(":", 1)[1])
    await sim.stop()


def assert_same(client_sent: bytes, client_read: bytes, r: Rig, added: list[str] = ()) -> Message:
    """The request the upstream received is the one the client sent, and the response the
    client read is the one the upstream wrote, but for framing, `Host` and `added`."""
    up_request, up_response = r.upstream()
    request, _ = parse(client_sent, response=False)
    response, _ = parse(client_read)
    assert up_request.start == request.start
    assert up_request.fields("host", *added) == request.fields("host")
    assert up_request.header("host") == f"127.0.0.1:{r.tap.server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    assert up_request.body == request.body
    assert response.start == up_response.start
    assert response.fields(*added) == up_response.fields()
    assert response.body == up_response.body
    assert response.complete == up_response.complete
    return response


DIALECTS = ["openai", "azure_openai", "anthropic", "ollama"]


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
@pytest.mark.parametrize("protocol", DIALECTS)
async def test_simulator_exchange_is_byte_exact(
    rig: Make, simulator: int, protocol: str, stream: bool
) -> None:
    r = await rig(simulator, protocol)
    sent = chat_request(protocol, stream)
    read = await exchange(r.port, sent)
    response = assert_same(sent, read, r)
    assert response.start == "HTTP/1.1 200 OK"
    assert b"42" in response.body
    record = await r.record()
    assert record.outcome is TrafficOutcome.SUCCESS, record.exchange.error_detail
    assert record.route == "chat"
    assert record.model == ("gpt" if protocol == "azure_openai" else "m1")
    assert record.exchange.output_tokens
    assert record.exchange.finish_reason
    assert (record.exchange.ttft_seconds is not None) == stream
    assert record.refusal is not None and not record.refusal.refused


async def test_request_split_anywhere_arrives_the_same(rig: Make, simulator: int) -> None:
    sent = chat_request("openai", True)
    for split in ([1], [17, 18, 19], [len(sent) - 5], list(range(100, len(sent), 7))):
        r = await rig(simulator, "openai")
        read = await exchange(r.port, sent, split)
        assert_same(sent, read, r)


async def test_non_chat_routes_pass_through_counted_by_route(rig: Make, simulator: int) -> None:
    r = await rig(simulator, "openai")
    sent = b"GET /v1/models?limit=5 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    read = await exchange(r.port, sent)
    assert_same(sent, read, r)
    record = await r.record()
    assert (record.route, record.method, record.path) == ("models", "GET", "/v1/models")
    assert record.outcome is TrafficOutcome.SUCCESS


async def test_capture_adds_only_the_conversation_header(rig: Make, simulator: int) -> None:
    r = await rig(simulator, "openai", capture=True)
    sent = chat_request("openai", True)
    read = await exchange(r.port, sent)
    response = assert_same(sent, read, r, added=["x-chatcanary-conversation"])
    given = response.header("x-chatcanary-conversation")
    assert given is not None and re.fullmatch(r"[0-9a-f]{32}", given)
    assert (await r.record()).conversation_id == given


async def test_a_conversation_header_from_the_client_adds_nothing(
    rig: Make, simulator: int
) -> None:
    r = await rig(simulator, "openai", capture=True, conversation_header="x-session")
    sent = chat_request("openai", False, [("X-Session", "abc-1")])
    read = await exchange(r.port, sent)
    assert_same(sent, read, r)
    assert (await r.record()).conversation_id == "abc-1"


async def test_propagate_trace_adds_only_traceparent(rig: Make, simulator: int) -> None:
    r = await rig(simulator, "openai", propagate_trace=True)
    sent = chat_request("openai", True)
    read = await exchange(r.port, sent)
    assert_same(sent, read, r, added=["traceparent"])
    up_request, _ = r.upstream()
    assert re.fullmatch(
        r"00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]", up_request.header("traceparent") or ""
    )


async def test_propagate_trace_continues_the_clients_trace(rig: Make, simulator: int) -> None:
    r = await rig(simulator, "openai", propagate_trace=True)
    theirs = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    sent = chat_request("openai", False, [("traceparent", theirs)])
    await exchange(r.port, sent)
    up_request, _ = r.upstream()
    ours = up_request.header("traceparent") or ""
    assert ours.startswith("00-0af7651916cd43dd8448eb211c80319c-")
    assert ours.endswith("-01") and "b7ad6b7169203331" not in ours


async def test_a_host_from_the_request_is_never_used(rig: Make, simulator: int) -> None:
    r = await rig(simulator, "openai")
    for target in ("http://169.254.169.254/latest", "//evil.example/v1/models"):
        sent = f"GET {target} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
        read = await exchange(r.port, sent.encode())
        assert read.startswith(b"HTTP/1.1 400 ")
    assert r.tap.connections == []


@dataclass(frozen=True)
class Fault:
    name: str
    protocol: str
    stream: bool
    expected: ErrorClass | None


FAULTS = [
    *(
        Fault("healthy", p, s, None)
        for p in ("openai", "anthropic", "ollama")
        for s in (True, False)
    ),
    Fault("no_usage", "openai", True, None),
    Fault("gzip", "openai", False, None),
    Fault("gzip", "anthropic", True, None),
    Fault("finish_without_end_marker", "anthropic", True, None),
    Fault("http_429_retry_after", "openai", True, ErrorClass.RATE_LIMITED),
    Fault("http_500", "openai", False, ErrorClass.HTTP_5XX),
    Fault("http_502", "anthropic", True, ErrorClass.HTTP_5XX),
    Fault("http_503", "ollama", True, ErrorClass.HTTP_5XX),
    Fault("http_529", "anthropic", True, ErrorClass.HTTP_5XX),
    Fault("reset_mid_stream", "openai", True, ErrorClass.TRUNCATED),
    Fault("reset_mid_stream", "ollama", True, ErrorClass.TRUNCATED),
    Fault("close_mid_chunk", "anthropic", True, ErrorClass.TRUNCATED),
    Fault("missing_end", "openai", True, ErrorClass.TRUNCATED),
    Fault("missing_end", "ollama", True, ErrorClass.TRUNCATED),
    Fault("interrupted", "openai", True, ErrorClass.TRUNCATED),
    Fault("invalid_json_chunk", "anthropic", True, ErrorClass.MALFORMED),
    Fault("invalid_json_chunk", "ollama", True, ErrorClass.MALFORMED),
    Fault("invalid_utf8", "openai", True, ErrorClass.MALFORMED),
    Fault("bad_line_after_content", "anthropic", True, ErrorClass.MALFORMED),
    Fault("bad_line_after_content", "ollama", True, ErrorClass.MALFORMED),
    Fault("html_200", "openai", False, ErrorClass.MALFORMED),
    Fault("redirect", "openai", False, None),  # passed on as is: the client follows or not
]


@pytest.mark.parametrize(
    "fault",
    FAULTS,
    ids=[f"{f.name}-{f.protocol}-{'stream' if f.stream else 'json'}" for f in FAULTS],
)
async def test_every_fault_reaches_the_client_as_sent_and_is_classified(
    rig: Make, fault: Fault
) -> None:
    server = FaultServer(fault.name)
    await server.start()
    try:
        r = await rig(server.port, fault.protocol)
        sent = chat_request(fault.protocol, fault.stream)
        read = await exchange(r.port, sent)
        assert_same(sent, read, r)
        record = await r.record()
        assert record.error_class == fault.expected, record.exchange.error_detail
        assert r.metrics.in_flight["p"] == 0
    finally:
        await server.close()


@pytest.mark.parametrize("protocol", ["openai", "ollama"])
async def test_the_answer_before_a_bad_line_in_the_same_read_is_observed(
    rig: Make, protocol: str
) -> None:
    server = FaultServer("bad_line_after_content")
    await server.start()
    try:
        r = await rig(server.port, protocol)
        sent = chat_request(protocol, True)
        assert_same(sent, await exchange(r.port, sent), r)
        record = await r.record()
    finally:
        await server.close()
    assert record.error_class is ErrorClass.MALFORMED
    assert record.exchange.ttft_seconds is not None  # its first token came before the fault


async def test_content_filter_reaches_the_client_and_reads_as_a_refusal(rig: Make) -> None:
    server = FaultServer("content_filter_in_two_writes")
    await server.start()
    try:
        r = await rig(server.port, "azure_openai")
        sent = chat_request("azure_openai", False)
        read = await exchange(r.port, sent)
        response = assert_same(sent, read, r)
        assert response.start.startswith("HTTP/1.1 400")
        record = await r.record()
        assert record.error_class is None
        assert record.refusal is not None and record.refusal.detector == "content_filter"
    finally:
        await server.close()


async def test_an_idle_upstream_is_cut_at_idle_timeout(rig: Make) -> None:
    server = FaultServer("headers_then_silence")
    await server.start()
    try:
        r = await rig(server.port, "openai", idle_timeout=0.3)
        sent = chat_request("openai", True)
        read = await exchange(r.port, sent)
        response = assert_same(sent, read, r)
        assert not response.complete
        assert (await r.record()).error_class is ErrorClass.TIMEOUT
    finally:
        await server.close()


async def test_an_unreachable_upstream_is_a_502_of_the_proxys_own(rig: Make) -> None:
    r = await rig(9, "openai")  # the tap's upstream: a port nothing listens on
    read = await exchange(r.port, chat_request("openai", True))
    assert read.startswith(b"HTTP/1.1 502 ")
    assert (await r.record()).error_class is ErrorClass.CONNECTION


async def test_client_going_away_frees_the_upstream_connection(rig: Make) -> None:
    server = FaultServer("endless_stream")
    await server.start()
    try:
        r = await rig(server.port, "openai")
        reader, writer = await asyncio.open_connection("127.0.0.1", r.port)
        writer.write(chat_request("openai", True))
        await reader.readuntil(b"data: ")  # the stream is flowing
        writer.transport.abort()
        record = await r.record()
        assert record.outcome is TrafficOutcome.CANCELLED
        # the proxy's connection to the upstream closes; no socket of ours is left to it
        await wait_for(lambda: _true(r.tap.open == 0))
        await wait_for(lambda: _true(not sockets_to(r.tap.server.sockets[0].getsockname()[1])))  # type: ignore[union-attr]
        assert r.metrics.in_flight["p"] == 0
        assert not r.proxies.listeners["p"].connections
    finally:
        await server.close()


async def _true(value: bool) -> bool:
    return value


class Broken(Observer):
    """An observer that fails on the first piece of the answer."""

    def chunk(self, data: bytes, at: float | None = None) -> None:
        raise RuntimeError("observer bug")


@pytest.mark.parametrize("protocol", ["openai", "ollama"])
async def test_a_failing_observer_leaves_the_bytes_alone(
    rig: Make, simulator: int, protocol: str
) -> None:
    r = await rig(simulator, protocol, observe=Broken)
    sent = chat_request(protocol, True)
    read = await exchange(r.port, sent)
    assert_same(sent, read, r)
    assert r.metrics.observer_failures["p"] == 1
    assert r.records == []  # nothing half-observed is recorded


class Calls:
    """Stands in for an observer: records its calls; `fail` raises on that method."""

    def __init__(self, fail: str = "") -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.fail = fail

    def __getattr__(self, method: str) -> Callable[..., str]:
        def call(*args: Any) -> str:
            self.calls.append((method, args))
            if method == self.fail:
                raise RuntimeError("observer bug")
            return f"{method} done"

        return call


async def test_the_observer_is_called_in_order_after_the_loops_ready_callbacks() -> None:
    observer, failures, results = Calls(), [], []
    guard = Guard(observer, lambda: failures.append(1))  # type: ignore[arg-type]
    later: list[str] = []
    asyncio.get_running_loop().call_soon(later.append, "a callback already ready")
    guard("response", 200, "text/event-stream", "", 1.0)
    guard("chunk", b"data: 1\n\n", 2.0)
    guard("finish", None, False, 3.0, then=results.append)
    assert observer.calls == []  # nothing observed inside the callback that forwards
    await wait_for(lambda: _true(len(observer.calls) == 3))
    assert later == ["a callback already ready"]
    assert [method for method, _ in observer.calls] == ["response", "chunk", "finish"]
    assert observer.calls[1] == ("chunk", (b"data: 1\n\n", 2.0))
    assert results == ["finish done"] and failures == []


async def test_after_an_observer_failure_nothing_more_is_observed() -> None:
    observer, failures, results = Calls(fail="chunk"), [], []
    guard = Guard(observer, lambda: failures.append(1))  # type: ignore[arg-type]
    guard("chunk", b"x", 1.0)
    guard("chunk", b"y", 2.0)
    guard("finish", None, False, 3.0, then=results.append)
    await wait_for(lambda: _true(failures == [1]))
    guard("chunk", b"z", 4.0)  # after the failure: dropped at once
    # a callback scheduled after it runs after anything it could have scheduled
    marker: list[str] = []
    asyncio.get_running_loop().call_soon(marker.append, "ran")
    await wait_for(lambda: _true(marker == ["ran"]))
    assert [args for _, args in observer.calls] == [(b"x", 1.0)]
    assert results == [] and guard.observer is None


async def test_fifty_concurrent_streams(rig: Make, simulator: int) -> None:
    r = await rig(simulator, "openai")
    reads = await asyncio.gather(
        *(exchange(r.port, chat_request("openai", True)) for _ in range(50))
    )
    for read in reads:
        response, _ = parse(read)
        assert response.complete and response.body.endswith(b"data: [DONE]\n\n")
    await wait_for(lambda: _true(len(r.records) == 50))
    assert all(rec.outcome is TrafficOutcome.SUCCESS for rec in r.records)
    assert r.metrics.in_flight["p"] == 0


# --- through the service: capture, feedback, the page, /metrics, traces --------------------


@dataclass
class Served:
    service: Service
    url: str
    proxy_url: str
    runner: web.AppRunner


@pytest.fixture
async def served(
    tmp_path: Path, simulator: int
) -> AsyncIterator[Callable[[str], Awaitable[Served]]]:
    made: list[Served] = []

    async def start(extra: str = "") -> Served:
        port = free_port()
        text = (
            "targets: []\ncanaries: []\n"
            f'store: {{url: "sqlite:///{tmp_path}/cc.db"}}\n'
            "proxies:\n"
            f"  - name: edge\n    protocol: openai\n    listen: 127.0.0.1:{port}\n"
            f"    upstream: http://127.0.0.1:{simulator}\n" + extra
        )
        config = parse_config(text, "proxy.yaml")
        service = Service(config, store=locate(config.store, tmp_path))
        await service.start()
        runner = web.AppRunner(make_app(service), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, web_port = runner.addresses[0][:2]
        made.append(
            Served(service, f"http://{host}:{web_port}", f"http://127.0.0.1:{port}", runner)
        )
        return made[-1]

    yield start
    for one in made:
        await one.service.stop(grace=1)
        await one.runner.cleanup()


async def test_feedback_links_to_a_captured_exchange(
    served: Callable[..., Awaitable[Served]],
) -> None:
    s = await served("    capture: true\n    redact_patterns: ['order-[0-9]+']\n")
    prompt = "My key is sk-abcdefghijklmnopqrstuvwx and order-12345. What is 17+25?"
    body = {"model": "m1", "stream": True, "messages": [{"role": "user", "content": prompt}]}
    async with aiohttp.ClientSession() as session:
        async with session.post(s.proxy_url + "/v1/chat/completions", json=body) as resp:
            assert resp.status == 200
            answer = await resp.read()
            conversation = resp.headers["x-chatcanary-conversation"]
        complaint = {
            "target": "edge",
            "rating": "negative",
            "category": "incorrect",
            "comment": "the sum is wrong",
            "conversation_id": conversation,
        }
        async with session.post(s.url + "/api/v1/feedback", json=complaint) as resp:
            assert resp.status == 202, await resp.text()

        async def listed() -> list[dict[str, Any]]:
            async with session.get(
                s.url + "/api/v1/traffic", params={"conversation_id": conversation}
            ) as resp:
                return list((await resp.json())["exchanges"])

        (row,) = await wait_for(listed)
        async with session.get(s.url + f"/api/v1/traffic/{row['exchange_id']}") as resp:
            kept = await resp.json()
        async with session.get(s.url + "/traffic") as resp:
            page = await resp.text()
        async with session.get(s.url + "/metrics") as resp:
            metrics = await resp.text()
    assert b"42" in answer
    assert "sk-abcdefghijklmnopqrstuvwx" not in kept["prompt"]
    assert "order-12345" not in kept["prompt"]
    assert "What is 17+25?" in kept["prompt"]
    assert "42" in kept["answer"]
    assert [f["comment"] for f in kept["feedback"]] == ["the sum is wrong"]
    assert conversation in page
    assert re.search(r'chatcanary_traffic_requests_total\{[^}]*proxy="edge"[^}]*\} 1\.0', metrics)
    assert (
        'chatcanary_feedback_total{category="incorrect",rating="negative",target="edge"}' in metrics
    )


async def test_nothing_is_kept_without_capture(served: Callable[..., Awaitable[Served]]) -> None:
    s = await served()
    body = {"model": "m1", "messages": [{"role": "user", "content": "What is 17+25?"}]}
    async with aiohttp.ClientSession() as session:
        async with session.post(s.proxy_url + "/v1/chat/completions", json=body) as resp:
            assert "x-chatcanary-conversation" not in resp.headers
            await resp.read()

        async def counted() -> bool:
            async with session.get(s.url + "/metrics") as resp:
                return 'proxy="edge"' in await resp.text()

        await wait_for(counted)
        async with session.get(s.url + "/api/v1/traffic") as resp:
            assert (await resp.json())["exchanges"] == []


@pytest.mark.usefixtures("no_otel_environment")
async def test_a_server_span_per_chat_request_continues_the_upstream_trace(
    served: Callable[..., Awaitable[Served]], receiver: OTLPReceiver
) -> None:
    s = await served(f"    propagate_trace: true\nopentelemetry: {{endpoint: {receiver.url}}}\n")
    theirs = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    body = {"model": "m1", "stream": True, "messages": [{"role": "user", "content": "17+25?"}]}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            s.proxy_url + "/v1/chat/completions", json=body, headers={"traceparent": theirs}
        ) as resp,
    ):
        await resp.read()
    await s.service.stop(grace=1)  # flushes the batch
    (span,) = await receiver.wait_for_spans(lambda sp: sp.kind == "SERVER")
    assert span.name == "chat m1"
    assert (span.trace_id, span.parent_span_id) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
    )
    assert span.attributes["gen_ai.operation.name"] == "chat"
    assert span.attributes["gen_ai.provider.name"] == "openai"
    assert span.attributes["gen_ai.request.model"] == "m1"
    assert span.attributes["gen_ai.usage.output_tokens"] > 0
    assert span.attributes["chatcanary.proxy"] == "edge"
    assert "gen_ai.first_token" in [e.name for e in span.events]
    assert not any("17+25" in str(v) for v in span.attributes.values())  # no content


async def test_the_proxy_command_serves_the_proxy_and_metrics(simulator: int) -> None:
    listen, metrics = free_port(), free_port()
    process = await asyncio.create_subprocess_exec(
        *CLI, "proxy", "--protocol", "ollama", "--upstream", f"http://127.0.0.1:{simulator}",
        "--listen", str(listen), "--metrics-listen", f"127.0.0.1:{metrics}", "--name", "side",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        body = {"model": "llama", "messages": [{"role": "user", "content": "17+25?"}]}
        async with aiohttp.ClientSession() as session:

            async def answered() -> bytes | None:
                try:
                    async with session.post(f"http://127.0.0.1:{listen}/api/chat", json=body) as r:
                        return await r.read()
                except aiohttp.ClientConnectionError:
                    return None

            assert b'"done": true' in await wait_for(answered)

            async def counted() -> bool:
                async with session.get(f"http://127.0.0.1:{metrics}/metrics") as r:
                    text = await r.text()
                return "chatcanary_traffic_requests_total{" in text and 'proxy="side"' in text

            await wait_for(counted)
    finally:
        process.terminate()
        await process.wait()
    assert process.returncode == 0


async def test_a_reload_opens_and_closes_proxies(tmp_path: Path, simulator: int) -> None:
    first, second = free_port(), free_port()

    def text(port: int, name: str) -> str:
        return (
            "targets: []\ncanaries: []\nproxies:\n"
            f"  - {{name: {name}, protocol: openai, listen: '127.0.0.1:{port}', "
            f"upstream: 'http://127.0.0.1:{simulator}'}}\n"
        )

    path = tmp_path / "config.yaml"
    path.write_text(text(first, "one"))
    service = Service(parse_config(path.read_text(), str(path)), path=path)
    await service.start()
    try:
        path.write_text(text(second, "two"))
        assert service.reload() is None

        async def moved() -> bool:
            return set(service.proxies.listeners) == {"two"}

        await wait_for(moved)
        read = await exchange(second, chat_request("openai", False))
        assert read.startswith(b"HTTP/1.1 200 OK")
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", first)
    finally:
        await service.stop(grace=1)


async def test_a_reload_keeps_the_feedback_that_names_a_proxy(
    tmp_path: Path, simulator: int
) -> None:
    port = free_port()
    text = (
        "targets: []\ncanaries: []\nproxies:\n"
        f"  - {{name: edge, protocol: openai, listen: '127.0.0.1:{port}', "
        f"upstream: 'http://127.0.0.1:{simulator}'}}\n"
    )
    path = tmp_path / "config.yaml"
    path.write_text(text)
    service = Service(parse_config(path.read_text(), str(path)), path=path)
    await service.start()
    try:
        service.record_feedback(
            Feedback("edge", Rating.NEGATIVE, "slow", "", "", received_at=time.time())
        )
        path.write_text(text + "# touched\n")
        assert service.reload() is None
        metrics = service.prometheus.render(False)
    finally:
        await service.stop(grace=1)
    assert 'chatcanary_feedback_total{category="slow",rating="negative",target="edge"} 1.0' in (
        metrics
    )


# --- TLS both sides, streaming as it arrives, backpressure, hop-by-hop ---------------------


@dataclass
class Scripted:
    """A raw upstream whose answer is the test's own `script`; it keeps what it read and
    what it wrote on each connection."""

    script: Callable[[Scripted, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
    tls: ssl.SSLContext | None = None
    received: bytearray = field(default_factory=bytearray)
    written: bytearray = field(default_factory=bytearray)
    server: asyncio.Server | None = None
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"

    async def send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        self.written += data
        writer.write(data)
        await writer.drain()

    async def request(self, reader: asyncio.StreamReader) -> Message:
        """Read one request with a Content-Length body."""
        head = await reader.readuntil(b"\r\n\r\n")
        message, _ = parse(head, response=False)
        body = await reader.readexactly(int(message.header("content-length") or 0))
        self.received += head + body
        return parse(head + body, response=False)[0]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            await self.script(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the proxy went away first
        finally:
            writer.close()


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[..., Awaitable[Scripted]]]:
    made: list[Scripted] = []

    async def start(script: Any, tls: ssl.SSLContext | None = None) -> Scripted:
        upstream = Scripted(script, tls)
        upstream.server = await asyncio.start_server(upstream._serve, "127.0.0.1", 0, ssl=tls)
        made.append(upstream)
        return upstream

    yield start
    for one in made:
        assert one.server is not None
        one.server.close()
        for writer in one.writers:
            if not writer.transport.is_closing():  # aborting a closed one can raise
                writer.transport.abort()
        await one.server.wait_closed()


async def open_proxy(upstream: str, protocol: str = "openai", **settings: Any) -> Proxies:
    proxy = Proxy(name="p", protocol=protocol, listen="127.0.0.1:0", upstream=upstream, **settings)
    metrics = TrafficMetrics(Metrics())
    metrics.configure([proxy], Metrics())
    proxies = Proxies(metrics, lambda record: None)
    await proxies.apply([proxy])
    return proxies


ANSWER_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Up: 1\r\n"


async def answer_once(up: Scripted, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    await up.request(reader)
    body = whole_body("openai")
    await up.send(w, ANSWER_HEAD + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


async def test_tls_to_a_self_signed_upstream_trusted_by_upstream_ca_file(
    tmp_path: Path, scripted: Callable[..., Awaitable[Scripted]]
) -> None:
    up = await scripted(answer_once, self_signed(tmp_path))
    proxies = await open_proxy(up.url, upstream_ca_file=tmp_path / "cert.pem")
    try:
        sent = chat_request("openai", False)
        read = await exchange(proxies.listeners["p"].port, sent)
        request, _ = parse(bytes(up.received), response=False)
        client_request, _ = parse(sent, response=False)
        assert request.start == client_request.start
        assert request.fields("host") == client_request.fields("host")
        assert request.body == client_request.body
        response, _ = parse(read)
        written, _ = parse(bytes(up.written))
        assert (response.start, response.fields(), response.body) == (
            written.start,
            written.fields(),
            written.body,
        )
        assert response.complete
    finally:
        await proxies.close(0)


async def test_an_untrusted_upstream_certificate_is_a_502_classified_tls(
    tmp_path: Path, scripted: Callable[..., Awaitable[Scripted]]
) -> None:
    up = await scripted(answer_once, self_signed(tmp_path))
    records: list[TrafficRecord] = []
    proxy = Proxy(name="p", protocol="openai", listen="127.0.0.1:0", upstream=up.url)
    metrics = TrafficMetrics(Metrics())
    metrics.configure([proxy], Metrics())
    proxies = Proxies(metrics, records.append)
    await proxies.apply([proxy])
    try:
        read = await exchange(proxies.listeners["p"].port, chat_request("openai", False))
        response, _ = parse(read)
        assert response.start.startswith("HTTP/1.1 502 ")
        assert response.body.startswith(b"chatcanary proxy: upstream tls: ")
        assert up.received == b""  # no request went over the untrusted connection
        record = await wait_for(lambda: _first(records))
        assert record.error_class is ErrorClass.TLS
    finally:
        await proxies.close(0)


async def test_tls_on_the_listener_gives_the_same_bytes(
    tmp_path: Path, rig: Make, simulator: int
) -> None:
    self_signed(tmp_path)
    tls = {"cert_file": tmp_path / "cert.pem", "key_file": tmp_path / "key.pem"}
    client = ssl.create_default_context(cafile=tmp_path / "cert.pem")
    for stream in (True, False):
        r = await rig(simulator, "openai", tls=tls)
        assert next(iter(r.proxies.listeners.values())).url.startswith("https://")
        sent = chat_request("openai", stream)
        read = await exchange(r.port, sent, tls=client)
        response = assert_same(sent, read, r)
        assert response.start == "HTTP/1.1 200 OK" and response.complete
    # plain HTTP to the TLS listener is no way around it
    assert not (await exchange(r.port, chat_request("openai", False))).startswith(b"HTTP/1.1 200")


async def read_until(reader: asyncio.StreamReader, data: bytearray, wanted: bytes) -> Message:
    """Read the response into `data` until its body (framing removed) holds `wanted`."""
    async with asyncio.timeout(20):
        while True:
            if b"\r\n\r\n" in data:
                response, _ = parse(bytes(data))
                if wanted in response.body:
                    return response
            chunk = await reader.read(65536)
            assert chunk, f"closed before {wanted!r} came: {bytes(data)!r}"
            data += chunk


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "ollama"])
async def test_each_event_reaches_the_client_before_the_upstream_sends_the_next(
    scripted: Callable[..., Awaitable[Scripted]], protocol: str
) -> None:
    frames = stream_frames(protocol)
    first = frames[0]
    go = asyncio.Event()

    async def script(up: Scripted, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await up.request(reader)
        kind = content_type(protocol)
        await up.send(w, f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\n".encode() + b"\r\n")
        await up.send(w, first)
        await go.wait()  # until the client has read the first event
        for frame in frames[1:]:
            await up.send(w, frame)
        w.close()

    up = await scripted(script)
    proxies = await open_proxy(up.url, protocol)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxies.listeners["p"].port)
        writer.write(chat_request(protocol, True))
        data = bytearray()
        response = await read_until(reader, data, first)
        assert response.body == first  # the first event alone: the rest is not yet sent
        assert not go.is_set()
        go.set()
        response = await read_until(reader, data, frames[-1])
        assert response.body == b"".join(frames)
        writer.close()
    finally:
        await proxies.close(0)


async def test_a_request_body_reaches_the_upstream_as_the_client_sends_it(
    scripted: Callable[..., Awaitable[Scripted]],
) -> None:
    first, rest = b'{"model": "m1", "messages": [', b'{"role": "user", "content": "hi"}]}'
    arrived = asyncio.Event()

    async def script(up: Scripted, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        up.received += await reader.readuntil(b"\r\n\r\n")
        while first not in parse(bytes(up.received), response=False)[0].body:
            up.received += await reader.read(65536)
        arrived.set()
        while not parse(bytes(up.received), response=False)[0].complete:
            up.received += await reader.read(65536)
        body = whole_body("openai")
        await up.send(w, ANSWER_HEAD + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    up = await scripted(script)
    proxies = await open_proxy(up.url)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxies.listeners["p"].port)
        head = (
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + f"{len(first):x}\r\n".encode() + first + b"\r\n")
        async with asyncio.timeout(20):
            await arrived.wait()  # before the client sent the rest
        writer.write(f"{len(rest):x}\r\n".encode() + rest + b"\r\n0\r\n\r\n")
        async with asyncio.timeout(20):
            read = await reader.read()
        assert parse(read)[0].body == whole_body("openai")
        assert parse(bytes(up.received), response=False)[0].body == first + rest
        writer.close()
    finally:
        await proxies.close(0)


STREAM_SIZE = 64 << 20  # 64 MiB: buffers on the way hold a few MiB at most
PIECE = b"data: " + b"x" * (64 * 1024 - 8) + b"\n\n"


async def _quiet(counter: Callable[[], int], polls: int = 5, every: float = 0.2) -> int:
    """The counter once it has stopped moving for `polls` polls in a row (within 60 s)."""
    last, still = -1, 0
    async with asyncio.timeout(60):
        while still < polls:
            now = counter()
            still = still + 1 if now == last else 0
            last = now
            await asyncio.sleep(every)
    return last


async def test_a_client_that_stops_reading_holds_the_upstream_back(
    scripted: Callable[..., Awaitable[Scripted]],
) -> None:
    sent = 0

    async def script(up: Scripted, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal sent
        await up.request(reader)
        w.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        await up.send(w, b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
        while sent < STREAM_SIZE:
            w.write(PIECE)  # not kept in up.written: the count is enough
            await w.drain()
            sent += len(PIECE)
        w.close()

    up = await scripted(script)
    proxies = await open_proxy(up.url)
    try:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.connect(("127.0.0.1", proxies.listeners["p"].port))
        sock.setblocking(False)
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(chat_request("openai", True))
        data = bytearray()
        await read_until(reader, data, b"data: ")  # the stream flows; now stop reading
        # the upstream's writes block once the buffers on the way are full: what it sent
        # is those buffers (a few MiB), not the stream (a proxy that buffered the whole
        # stream in memory would let it write all of it)
        held = await _quiet(lambda: sent)
        assert held < STREAM_SIZE // 2, f"the upstream wrote {held} of {STREAM_SIZE} bytes"
        # reading again, the rest comes through whole
        received = len(data)
        async with asyncio.timeout(60):
            while chunk := await reader.read(1 << 20):
                received += len(chunk)
        assert sent == STREAM_SIZE
        assert received > STREAM_SIZE
        writer.close()
    finally:
        await proxies.close(0)


async def test_hop_by_hop_fields_named_by_connection_stay_on_their_hop(
    scripted: Callable[..., Awaitable[Scripted]],
) -> None:
    body = whole_body("openai")

    async def script(up: Scripted, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await up.request(reader)
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: X-Back, close\r\n"
            "X-Back: hop\r\nKeep-Alive: timeout=5\r\nX-End: kept\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        await up.send(w, head.encode() + body)

    up = await scripted(script)
    proxies = await open_proxy(up.url)
    try:
        sent = chat_request(
            "openai",
            False,
            [
                ("Connection", "x-foo"),  # a second Connection field: its names are hop-by-hop
                ("X-Foo", "hop"),
                ("Keep-Alive", "timeout=5"),
                ("TE", "trailers"),
                ("Proxy-Connection", "keep-alive"),
                ("X-Bar", "kept"),
            ],
        )
        read = await exchange(proxies.listeners["p"].port, sent)
        request, _ = parse(bytes(up.received), response=False)
        names = {n.lower() for n, _ in request.headers}
        assert not names & {"x-foo", "keep-alive", "te", "proxy-connection"}
        assert request.header("x-bar") == "kept"
        client_request, _ = parse(sent, response=False)
        hop = {"host", "x-foo"}
        assert request.fields(*hop) == client_request.fields(*hop)
        response, _ = parse(read)
        assert response.header("x-back") is None and response.header("keep-alive") is None
        assert response.fields() == [
            ("Content-Type", "application/json"),
            ("X-End", "kept"),
            ("Content-Length", str(len(body))),
        ]
        assert response.body == body
    finally:
        await proxies.close(0)


async def test_a_gzip_request_body_reaches_the_upstream_gzip(
    scripted: Callable[..., Awaitable[Scripted]],
) -> None:
    up = await scripted(answer_once)
    proxies = await open_proxy(up.url)
    try:
        packed = gzip.compress(json.dumps({"model": "m1", "messages": []}).encode())
        head = (
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Encoding: gzip\r\nContent-Length: {len(packed)}\r\nConnection: close\r\n\r\n"
        )
        await exchange(proxies.listeners["p"].port, head.encode() + packed)
        request, _ = parse(bytes(up.received), response=False)
        assert request.header("content-encoding") == "gzip"
        assert request.body == packed
    finally:
        await proxies.close(0)


async def test_an_upstream_that_stops_reading_holds_the_client_back(
    scripted: Callable[..., Awaitable[Scripted]],
) -> None:
    go = asyncio.Event()
    got = 0

    async def script(up: Scripted, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal got
        await reader.readuntil(b"\r\n\r\n")
        await go.wait()  # not reading the body until the test says so
        while got < STREAM_SIZE and (data := await reader.read(1 << 20)):
            got += len(data)
        await up.send(w, b"HTTP/1.1 204 No Content\r\n\r\n")

    up = await scripted(script)
    proxies = await open_proxy(up.url)
    try:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        sock.connect(("127.0.0.1", proxies.listeners["p"].port))
        sock.setblocking(False)
        reader, writer = await asyncio.open_connection(sock=sock)
        head = (
            "POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {STREAM_SIZE}\r\nConnection: close\r\n\r\n"
        )
        sent = 0

        async def upload() -> None:
            nonlocal sent
            writer.write(head.encode())
            while sent < STREAM_SIZE:
                writer.write(b"x" * (64 * 1024))
                await writer.drain()
                sent += 64 * 1024

        uploading = asyncio.create_task(upload())
        try:
            held = await _quiet(lambda: sent)
            assert held < STREAM_SIZE // 2, f"the client wrote {held} of {STREAM_SIZE} bytes"
            go.set()
            async with asyncio.timeout(60):
                await uploading
                read = await reader.read()
        finally:
            uploading.cancel()
        assert read.startswith(b"HTTP/1.1 204 ")
        assert got == STREAM_SIZE
        writer.close()
    finally:
        await proxies.close(0)


# --- keep-alive both ways, pipelining, requests that cannot be read -----------------------


def kept_alive(request: bytes) -> bytes:
    """The request without its `Connection: close`: the client keeps the connection."""
    return request.replace(b"Connection: close\r\n", b"")


async def read_messages(reader: asyncio.StreamReader, count: int) -> list[Message]:
    """`count` whole responses from one connection, in order (each framed by its
    Content-Length or chunked, as the proxy frames them for an HTTP/1.1 client)."""
    data, messages = b"", []
    async with asyncio.timeout(20):
        while len(messages) < count:
            if b"\r\n\r\n" in data:
                message, rest = parse(data)
                framed = message.header("content-length") is not None or _chunked(message)
                if framed and message.complete:
                    messages.append(message)
                    data = rest
                    continue
            chunk = await reader.read(65536)
            assert chunk, f"closed after {len(messages)} of {count} answers: {data!r}"
            data += chunk
    return messages


def _chunked(message: Message) -> bool:
    return "chunked" in (message.header("transfer-encoding") or "").lower()


async def test_one_client_connection_carries_requests_over_one_upstream_connection(
    rig: Make, simulator: int
) -> None:
    r = await rig(simulator, "openai")
    reader, writer = await asyncio.open_connection("127.0.0.1", r.port)
    try:
        for stream in (True, False, True):
            writer.write(kept_alive(chat_request("openai", stream)))
            (response,) = await read_messages(reader, 1)
            assert response.start == "HTTP/1.1 200 OK"
            assert b"42" in response.body
        await wait_for(lambda: _true(len(r.records) == 3))
        assert len(r.tap.connections) == 1  # the upstream connection was reused
        sent, received = r.tap.connections[0]
        assert bytes(sent).count(b"POST /v1/chat/completions HTTP/1.1\r\n") == 3
        answers, rest = [], bytes(received)
        while rest:
            answer, rest = parse(rest)
            answers.append(answer.body)
        assert len(answers) == 3
        assert all(rec.outcome is TrafficOutcome.SUCCESS for rec in r.records)
    finally:
        writer.close()


async def test_pipelined_requests_are_answered_in_order(rig: Make, simulator: int) -> None:
    r = await rig(simulator, "openai")
    models = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
    sent = kept_alive(chat_request("openai", True)) + models + chat_request("openai", False)
    read = await exchange(r.port, sent)
    first, rest = parse(read)
    second, rest = parse(rest)
    third, rest = parse(rest)
    assert rest == b""
    assert (first.header("content-type") or "").startswith("text/event-stream")
    assert first.body.endswith(b"data: [DONE]\n\n")
    assert b'"object": "list"' in second.body or b'"object":"list"' in second.body
    assert json.loads(third.body)["object"] == "chat.completion"
    await wait_for(lambda: _true(len(r.records) == 3))
    assert [rec.route for rec in r.records] == ["chat", "models", "chat"]


@pytest.mark.parametrize(
    "sent",
    [
        b"POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # TLS to a plain listener
        b"POST /v1/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["two-lengths", "space-in-name", "tls-hello", "bad-chunk-size"],
)
async def test_a_malformed_request_is_a_400_and_never_reaches_the_upstream(
    rig: Make, simulator: int, sent: bytes
) -> None:
    r = await rig(simulator, "openai")
    read = await exchange(r.port, sent)
    if sent.endswith(b"zz\r\n"):
        # the head was good and went on; the body cannot be read: both connections drop
        assert not read.startswith(b"HTTP/1.1 200")
    else:
        response, _ = parse(read)
        assert response.start == "HTTP/1.1 400 Bad Request"
        assert response.body.startswith(b"chatcanary proxy: malformed request")
        assert r.tap.connections == []
    assert r.records == [] or r.records[0].outcome is TrafficOutcome.CANCELLED
    await wait_for(lambda: _true(r.tap.open == 0))


async def test_a_request_head_over_the_limit_is_a_431(rig: Make, simulator: int) -> None:
    r = await rig(simulator, "openai")
    sent = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    response, _ = parse(await exchange(r.port, sent))
    assert response.start == "HTTP/1.1 431 Request Header Fields Too Large"
    assert r.tap.connections == []


async def test_a_bad_request_after_good_ones_is_answered_after_them(
    rig: Make, simulator: int
) -> None:
    r = await rig(simulator, "openai")
    good = kept_alive(chat_request("openai", False))
    read = await exchange(r.port, good + b"NOT HTTP AT ALL\r\n\r\n")
    first, rest = parse(read)
    second, rest = parse(rest)
    assert first.start == "HTTP/1.1 200 OK" and b"42" in first.body
    assert second.start == "HTTP/1.1 400 Bad Request"
    assert rest == b""


async def test_a_closed_idle_upstream_connection_is_not_reused(
    scripted: Callable[..., Awaitable[Scripted]],
) -> None:
    async def script(up: Scripted, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await up.request(reader)
        body = whole_body("openai")
        # keep-alive as far as HTTP says, then gone: as a server at its idle limit
        await up.send(w, ANSWER_HEAD + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    up = await scripted(script)
    proxies = await open_proxy(up.url)
    pool = proxies.listeners["p"].forwarder.pool
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxies.listeners["p"].port)
        writer.write(kept_alive(chat_request("openai", False)))
        (first,) = await read_messages(reader, 1)
        await wait_for(lambda: _true(not pool.idle))  # the proxy saw it close
        writer.write(kept_alive(chat_request("openai", False)))
        (second,) = await read_messages(reader, 1)
        assert first.body == second.body == whole_body("openai")
        assert len(up.writers) == 2
        writer.close()
    finally:
        await proxies.close(0)


async def test_head_and_http10_clients_get_the_framing_they_understand(
    scripted: Callable[..., Awaitable[Scripted]],
) -> None:
    frames = stream_frames("openai")

    async def script(up: Scripted, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while True:
            request = await up.request(reader)
            if request.start.startswith("HEAD"):
                await up.send(w, b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-Up: 1\r\n\r\n")
                continue
            await up.send(w, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Up: 1\r\n\r\n")
            for frame in frames:
                await up.send(w, b"%x\r\n%s\r\n" % (len(frame), frame))
            await up.send(w, b"0\r\n\r\n")

    up = await scripted(script)
    proxies = await open_proxy(up.url)
    port = proxies.listeners["p"].port
    try:
        head = await exchange(
            port, b"HEAD /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert (
            head
            == b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-Up: 1\r\nConnection: close\r\n\r\n"
        )
        old = await exchange(port, b"GET /v1/models HTTP/1.0\r\nHost: x\r\n\r\n")
        start, _, body = old.partition(b"\r\n\r\n")
        assert b"transfer-encoding" not in start.lower()  # HTTP/1.0 knows no chunks
        assert body == b"".join(frames)  # the body ends where the connection does
    finally:
        await proxies.close(0)


async def test_trailer_fields_go_through_both_ways(
    scripted: Callable[..., Awaitable[Scripted]],
) -> None:
    """The trailer fields after a chunked body's last chunk, as each side sent them."""
    trailers_up = b"X-Sum: 42\r\nX-Two: 2\r\n\r\n"
    trailers_down = b"X-Checksum: abc\r\n\r\n"
    kept: list[bytes] = []

    async def script(up: Scripted, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        up.received += await reader.readuntil(b"\r\n0\r\n")  # the body, to its last chunk
        section = b""  # the trailer section: field lines, then an empty line
        while not section.endswith(b"\r\n\r\n") and section != b"\r\n":
            section += await reader.readuntil(b"\r\n")
        kept.append(section)
        await up.send(
            w, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
        )
        await up.send(w, b"2\r\nok\r\n0\r\n" + trailers_down)

    up = await scripted(script)
    proxies = await open_proxy(up.url)
    try:
        read = await exchange(
            proxies.listeners["p"].port,
            b"POST /v1/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Trailer: X-Sum, X-Two\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n" + trailers_up,
        )
    finally:
        await proxies.close(0)
    assert kept == [trailers_up]
    assert read.endswith(b"\r\n2\r\nok\r\n0\r\n" + trailers_down)


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_kept_alive_connection_closed_under_a_request_retries_only_idempotent_ones(
    scripted: Callable[..., Awaitable[Scripted]], method: str
) -> None:
    body = whole_body("openai")
    answer = ANSWER_HEAD + f"Content-Length: {len(body)}\r\n\r\n".encode() + body

    async def script(up: Scripted, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await up.request(reader)
        await up.send(w, answer)
        if len(up.writers) == 1:
            await up.request(reader)  # the next request on this connection: closed unanswered
            return
        while True:
            await up.request(reader)
            await up.send(w, answer)

    up = await scripted(script)
    proxies = await open_proxy(up.url)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxies.listeners["p"].port)
        request = f"{method} /v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        for _ in range(2):
            writer.write(request.encode())
            (response,) = await read_messages(reader, 1)
        if method == "GET":  # sent again on a new connection: the client sees the answer
            assert response.start == "HTTP/1.1 200 OK" and response.body == body
            assert len(up.writers) == 2
        else:  # a POST is never sent twice: the proxy's own 502
            assert response.start == "HTTP/1.1 502 Bad Gateway"
            assert response.body.startswith(b"chatcanary proxy: upstream connection: ")
            assert len(up.writers) == 1
        writer.close()
    finally:
        await proxies.close(0)


@pytest.mark.parametrize("every", [1, 7, 61, 1000])
async def test_an_answer_split_anywhere_arrives_the_same(
    scripted: Callable[..., Awaitable[Scripted]], every: int
) -> None:
    frames = stream_frames("openai")
    body = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(f), f) for f in frames) + b"0\r\n\r\n"
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
    answer += b"\r\n" + body

    async def script(up: Scripted, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await up.request(reader)
        for start in range(0, len(answer), every):  # cut inside sizes, CRLFs, the head
            await up.send(w, answer[start : start + every])

    up = await scripted(script)
    proxies = await open_proxy(up.url)
    try:
        read = await exchange(proxies.listeners["p"].port, chat_request("openai", True))
        response, _ = parse(read)
        written, _ = parse(bytes(up.written))
        assert response.start == written.start == "HTTP/1.1 200 OK"
        assert response.fields() == written.fields()
        assert response.body == b"".join(frames) and response.complete
    finally:
        await proxies.close(0)


async def test_a_client_connection_idle_or_slow_with_its_head_is_closed(
    rig: Make, simulator: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exporter.proxy import forward

    monkeypatch.setattr(forward, "CLIENT_IDLE", 0.5)
    r = await rig(simulator, "openai")
    idle = await asyncio.open_connection("127.0.0.1", r.port)
    slow = await asyncio.open_connection("127.0.0.1", r.port)
    kept = await asyncio.open_connection("127.0.0.1", r.port)
    slow[1].write(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n")  # and never the rest
    kept[1].write(kept_alive(chat_request("openai", False)))
    (answer,) = await read_messages(kept[0], 1)
    assert answer.start == "HTTP/1.1 200 OK"
    async with asyncio.timeout(20):
        for reader, _ in (idle, slow, kept):  # kept: idle after its answer
            assert await reader.read() == b""
    assert r.tap.connections and len(r.tap.connections) == 1  # only the kept one's request
    for _, writer in (idle, slow, kept):
        writer.close()
