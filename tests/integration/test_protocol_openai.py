"""The OpenAI probe against the real simulator: every error class it can be made to produce,
timings, tokens and identity. No client is mocked; faults come over real sockets."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from exporter.config import RunSpec, parse_config
from exporter.errors import ErrorClass
from exporter.result import Outcome, ProbeResult
from exporter.runner import run_canary
from exporter.simulator import Behaviour
from tests.integration.conftest import Sim

CONFIG = """
defaults: {{timeout: {timeout}, max_response_bytes: {limit}}}
targets:
  - name: sim
    protocol: openai
    base_url: {url}/v1
    model: {model}
    stream: {stream}
    {extra}
canaries:
  - name: c
    prompt: "What is 17+25? Answer with the number only."
    checks: [{{contains: "42"}}]
"""


def spec_for(
    url: str,
    model: str = "m",
    stream: bool = True,
    timeout: str = "5s",
    limit: int = 1 << 20,
    extra: str = "",
) -> RunSpec:
    text = CONFIG.format(
        url=url,
        model=model,
        stream=str(stream).lower(),
        timeout=timeout,
        limit=limit,
        extra=extra,
    )
    return next(iter(parse_config(text, "test.yaml").plan().values()))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def probe_fault(
    session: aiohttp.ClientSession, simulator: Sim, fault: str, stream: bool, **spec: object
) -> ProbeResult:
    simulator.sim.set_behaviour(
        "m", Behaviour(faults={fault: 1.0}, hang_seconds=30, large_bytes=256 * 1024)
    )
    return await run_canary(session, spec_for(simulator.url, stream=stream, **spec))  # type: ignore[arg-type]


FAULTS = [
    ("http_401", ErrorClass.AUTH),
    ("http_400", ErrorClass.HTTP_4XX),
    ("http_429", ErrorClass.RATE_LIMITED),
    ("http_429_no_retry_after", ErrorClass.RATE_LIMITED),
    ("http_500", ErrorClass.HTTP_5XX),
    ("http_503", ErrorClass.HTTP_5XX),
    ("stream_error", ErrorClass.STREAM_ERROR),
    ("truncate", ErrorClass.TRUNCATED),
    ("malformed", ErrorClass.MALFORMED),
    ("empty", ErrorClass.EMPTY_ANSWER),
    ("too_large", ErrorClass.TOO_LARGE),
]


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
@pytest.mark.parametrize(("fault", "expected"), FAULTS, ids=[f for f, _ in FAULTS])
async def test_fault_becomes_its_error_class(
    session: aiohttp.ClientSession,
    simulator: Sim,
    fault: str,
    expected: ErrorClass,
    stream: bool,
) -> None:
    result = await probe_fault(session, simulator, fault, stream, limit=64 * 1024)
    assert result.outcome is Outcome.ERROR
    assert result.error_class is expected, result.error_detail
    assert result.error_detail


async def test_retry_after_is_captured(session: aiohttp.ClientSession, simulator: Sim) -> None:
    simulator.sim.set_behaviour("m", Behaviour(faults={"http_429": 1.0}, retry_after=7))
    result = await run_canary(session, spec_for(simulator.url))
    assert result.last.retry_after == 7


async def test_hang_before_headers_is_a_first_token_timeout(
    session: aiohttp.ClientSession, simulator: Sim
) -> None:
    result = await probe_fault(session, simulator, "hang_before_headers", True, timeout="300ms")
    assert result.error_class is ErrorClass.FIRST_TOKEN_TIMEOUT
    assert 0.3 <= result.duration_seconds < 1.0


async def test_hang_mid_stream_after_first_token_is_a_timeout(
    session: aiohttp.ClientSession, simulator: Sim
) -> None:
    result = await probe_fault(session, simulator, "hang_mid_stream", True, timeout="400ms")
    assert result.error_class is ErrorClass.TIMEOUT
    assert result.ttft_seconds is not None
    assert 0.4 <= result.duration_seconds < 1.1


async def test_first_token_timeout_is_tighter_than_the_run_timeout(
    session: aiohttp.ClientSession, simulator: Sim
) -> None:
    simulator.sim.set_behaviour("m", Behaviour(ttft=0.5))
    spec = spec_for(simulator.url, extra="first_token_timeout: 200ms")
    result = await run_canary(session, spec)
    assert result.error_class is ErrorClass.FIRST_TOKEN_TIMEOUT
    assert result.duration_seconds < 0.45


async def test_content_filter_is_a_refusal_not_an_error(
    session: aiohttp.ClientSession, simulator: Sim
) -> None:
    result = await probe_fault(session, simulator, "content_filter", True)
    assert result.error_class is None
    assert result.refused is True
    assert result.last.finish_reason == "content_filter"


async def test_auth_with_the_right_key_passes_and_the_key_never_leaks(simulator: Sim) -> None:
    from exporter.simulator import Simulator

    guarded = Simulator(scenario="healthy", api_key="sk-test-secret-123")
    url = await guarded.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            good = await run_canary(session, spec_for(url, extra="api_key: sk-test-secret-123"))
            bad = await run_canary(session, spec_for(url, extra="api_key: sk-wrong-key-456"))
    finally:
        await guarded.stop()
    assert good.outcome is Outcome.SUCCESS
    assert bad.error_class is ErrorClass.AUTH
    assert "sk-wrong-key-456" not in repr(bad)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
async def test_success_records_identity_tokens_and_ratelimits(
    session: aiohttp.ClientSession, simulator: Sim, stream: bool
) -> None:
    result = await run_canary(session, spec_for(simulator.url, stream=stream))
    assert result.outcome is Outcome.SUCCESS, result
    last = result.last
    assert last.text.strip() == "42"
    assert last.finish_reason == "stop"
    assert last.response_model == "m"
    assert last.system_fingerprint
    assert last.request_id
    assert result.input_tokens and result.input_tokens > 0
    assert result.output_tokens == 1
    assert not last.tokens_estimated
    assert last.ratelimit.remaining_ratio("requests") is not None
    assert (result.ttft_seconds is not None) is stream


async def test_stream_timings_follow_the_script(
    session: aiohttp.ClientSession, simulator: Sim
) -> None:
    simulator.sim.set_behaviour(
        "m", Behaviour(ttft=0.2, token_interval=0.03, answer="one two three four five")
    )
    result = await run_canary(session, spec_for(simulator.url))
    last = result.last
    assert last.headers_seconds is not None and last.headers_seconds < 0.1
    assert result.ttft_seconds == pytest.approx(0.2, abs=0.02)
    assert len(last.chunk_gaps) == 4
    assert all(g == pytest.approx(0.03, abs=0.015) for g in last.chunk_gaps)
    assert result.duration_seconds == pytest.approx(0.2 + 4 * 0.03, abs=0.03)


async def test_missing_usage_is_counted_and_marked_estimated(
    session: aiohttp.ClientSession, simulator: Sim
) -> None:
    simulator.sim.set_behaviour("m", Behaviour(usage=False, answer="a b c"))
    result = await run_canary(session, spec_for(simulator.url))
    assert result.output_tokens == 3
    assert result.last.tokens_estimated


async def test_connection_refused(session: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await run_canary(session, spec_for(f"http://127.0.0.1:{port}"))
    assert result.error_class is ErrorClass.CONNECTION


async def test_dns_failure(session: aiohttp.ClientSession) -> None:
    result = await run_canary(session, spec_for("http://no-such-host.invalid"))
    assert result.error_class is ErrorClass.DNS


async def test_tls_failure(session: aiohttp.ClientSession, simulator: Sim) -> None:
    plain = simulator.url.replace("http://", "https://")
    result = await run_canary(session, spec_for(plain))
    assert result.error_class is ErrorClass.TLS, result.error_detail


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A listening port whose accept queue is full, so new connects hang."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    yield port
    for s in [*fillers, server]:
        s.close()


async def test_connect_timeout(session: aiohttp.ClientSession, full_backlog: int) -> None:
    spec = spec_for(f"http://127.0.0.1:{full_backlog}", extra="connect_timeout: 300ms")
    result = await run_canary(session, spec)
    assert result.error_class is ErrorClass.CONNECT_TIMEOUT
    assert result.duration_seconds < 1.5
