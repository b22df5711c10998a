"""The proxy over real sockets: the simulator and the raw fault server upstream, a TCP tap
recording what the upstream wrote and received, a raw-socket client recording what it
sent and read. Bytes are compared after the framing alone is removed (`wire.parse`).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from exporter.config import Metrics, Proxy, parse_config
from exporter.errors import ErrorClass
from exporter.proxy import Proxies, TrafficMetrics
from exporter.proxy.observe import Observer
from exporter.result import TrafficOutcome, TrafficRecord
from exporter.service import Service
from exporter.simulator import Simulator
from exporter.store import locate
from exporter.web import make_app
from tests.integration.conftest import CLI, free_port, wait_for
from tests.integration.faultserver import FaultServer, sockets_to
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
        assert not r.proxies.listeners["p"].web_server.connections
    finally:
        await server.close()


async def _true(value: bool) -> bool:
    return value


class Broken(Observer):
    """An observer that fails on the first piece of the answer."""

    def chunk(self, data: bytes) -> None:
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
