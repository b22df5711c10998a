"""Every dialect's probe against the real simulator: the same suite of error classes,
timings, tokens and identity for OpenAI, Azure OpenAI, Anthropic and Ollama. No client is
mocked; faults come over real sockets from the simulator, which writes each wire format
on its own."""

from __future__ import annotations

import itertools
import socket
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from exporter.config import RunSpec, parse_config
from exporter.errors import ErrorClass
from exporter.result import Outcome, ProbeResult
from exporter.runner import run_canary
from exporter.simulator import Behaviour
from tests.integration.conftest import Sim, free_port
from tests.pacing import LATE, assert_paced

CONFIG = """
defaults: {{timeout: {timeout}, max_response_bytes: {limit}}}
targets:
  - name: sim
    protocol: {protocol}
    base_url: {url}{suffix}
    model: {model}
    stream: {stream}
    {extra}
canaries:
  - name: c
    prompt: "What is 17+25? Answer with the number only."
    checks: [{{contains: "42"}}]
"""


# protocol -> the base_url suffix its official SDK takes
DIALECTS = {"openai": "/v1", "azure_openai": "", "anthropic": "", "ollama": ""}


@pytest.fixture(params=list(DIALECTS))
def protocol(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def spec_for(
    url: str,
    model: str = "m",
    stream: bool = True,
    timeout: str = "5s",
    limit: int = 1 << 20,
    extra: str = "",
    protocol: str = "openai",
) -> RunSpec:
    text = CONFIG.format(
        protocol=protocol,
        suffix=DIALECTS[protocol],
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
    session: aiohttp.ClientSession,
    simulator: Sim,
    fault: str,
    stream: bool,
    protocol: str,
    **spec: object,
) -> ProbeResult:
    simulator.sim.set_behaviour(
        "m", Behaviour(faults={fault: 1.0}, hang_seconds=30, large_bytes=256 * 1024)
    )
    spec_ = spec_for(simulator.url, stream=stream, protocol=protocol, **spec)  # type: ignore[arg-type]
    return await run_canary(session, spec_)


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
    protocol: str,
) -> None:
    result = await probe_fault(session, simulator, fault, stream, protocol, limit=64 * 1024)
    assert result.outcome is Outcome.ERROR
    assert result.error_class is expected, result.error_detail
    assert result.error_detail


async def test_retry_after_is_captured(
    session: aiohttp.ClientSession, simulator: Sim, protocol: str
) -> None:
    simulator.sim.set_behaviour("m", Behaviour(faults={"http_429": 1.0}, retry_after=7))
    result = await run_canary(session, spec_for(simulator.url, protocol=protocol))
    assert result.last.retry_after == 7


async def test_hang_before_headers_is_a_first_token_timeout(
    session: aiohttp.ClientSession, simulator: Sim, protocol: str
) -> None:
    result = await probe_fault(
        session, simulator, "hang_before_headers", True, protocol, timeout="300ms"
    )
    assert result.error_class is ErrorClass.FIRST_TOKEN_TIMEOUT
    assert_paced([result.duration_seconds], [0.3])  # ends at its deadline


async def test_hang_mid_stream_after_first_token_is_a_timeout(
    session: aiohttp.ClientSession, simulator: Sim, protocol: str
) -> None:
    result = await probe_fault(
        session, simulator, "hang_mid_stream", True, protocol, timeout="400ms"
    )
    assert result.error_class is ErrorClass.TIMEOUT
    assert result.ttft_seconds is not None
    assert_paced([result.duration_seconds], [0.4])


async def test_first_token_timeout_is_tighter_than_the_run_timeout(
    session: aiohttp.ClientSession, simulator: Sim, protocol: str
) -> None:
    simulator.sim.set_behaviour("m", Behaviour(ttft=0.5))
    spec = spec_for(simulator.url, extra="first_token_timeout: 200ms", protocol=protocol)
    result = await run_canary(session, spec)
    assert result.error_class is ErrorClass.FIRST_TOKEN_TIMEOUT  # not waiting for the token
    assert_paced([result.duration_seconds], [0.2])


# protocol -> how its structured refusal signal reads
FILTERED = {"openai": "content_filter", "azure_openai": "content_filter", "anthropic": "refusal"}


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
@pytest.mark.parametrize("filtered", list(FILTERED))  # Ollama has no content filter
async def test_content_filter_is_a_refusal_not_an_error(
    session: aiohttp.ClientSession, simulator: Sim, filtered: str, stream: bool
) -> None:
    protocol = filtered
    result = await probe_fault(session, simulator, "content_filter", stream, protocol)
    assert result.error_class is None, result.error_detail
    assert result.refused is True
    assert result.last.finish_reason == FILTERED[protocol]
    assert result.refusal is not None
    assert result.refusal.detector in {"content_filter", "stop_reason"}


async def test_azure_filtered_prompt_is_a_refusal(
    session: aiohttp.ClientSession, simulator: Sim
) -> None:
    result = await probe_fault(session, simulator, "prompt_filtered", True, "azure_openai")
    assert result.error_class is None, result.error_detail
    assert result.last.status == 400
    assert result.refused is True
    assert result.refusal is not None
    assert result.refusal.detector == "content_filter"


async def test_auth_with_the_right_key_passes_and_the_key_never_leaks(protocol: str) -> None:
    from exporter.simulator import Simulator

    guarded = Simulator(scenario="healthy", api_key="sk-test-secret-123")
    url = await guarded.start("127.0.0.1", 0)
    right, wrong = "api_key: sk-test-secret-123", "api_key: sk-wrong-key-456"
    try:
        async with aiohttp.ClientSession() as session:
            good = await run_canary(session, spec_for(url, extra=right, protocol=protocol))
            bad = await run_canary(session, spec_for(url, extra=wrong, protocol=protocol))
    finally:
        await guarded.stop()
    assert good.outcome is Outcome.SUCCESS
    assert bad.error_class is ErrorClass.AUTH
    assert "sk-wrong-key-456" not in repr(bad)


# protocol -> (finish reason of a complete answer, has a system fingerprint, has rate limits)
COMPLETE = {
    "openai": ("stop", True, True),
    "azure_openai": ("stop", True, True),
    "anthropic": ("end_turn", False, True),
    "ollama": ("stop", False, False),
}


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
async def test_success_records_identity_tokens_and_ratelimits(
    session: aiohttp.ClientSession, simulator: Sim, stream: bool, protocol: str
) -> None:
    result = await run_canary(session, spec_for(simulator.url, stream=stream, protocol=protocol))
    assert result.outcome is Outcome.SUCCESS, result
    finish, fingerprinted, limited = COMPLETE[protocol]
    last = result.last
    assert last.text.strip() == "42"
    assert last.finish_reason == finish
    assert last.response_model == "m"
    assert bool(last.system_fingerprint) is fingerprinted
    assert result.input_tokens and result.input_tokens > 0
    assert result.output_tokens == 1
    assert not last.tokens_estimated
    assert (last.ratelimit.remaining_ratio("requests") is not None) is limited
    assert (result.ttft_seconds is not None) is stream
    assert result.refused is False


async def test_stream_timings_follow_the_script(
    session: aiohttp.ClientSession, simulator: Sim, protocol: str
) -> None:
    # The first token a whole LATE in, so that headers stamped with it would show.
    simulator.sim.set_behaviour(
        "m", Behaviour(ttft=LATE, token_interval=0.03, answer="one two three four five")
    )
    result = await run_canary(session, spec_for(simulator.url, protocol=protocol))
    last = result.last
    assert last.headers_seconds is not None and result.ttft_seconds is not None
    # when each content chunk came, from the request's start: the first, then the gaps
    chunks_at = list(itertools.accumulate(last.chunk_gaps, initial=result.ttft_seconds))
    assert_paced([last.headers_seconds, *chunks_at], [0.0, *(LATE + 0.03 * k for k in range(5))])
    assert chunks_at[-1] <= result.duration_seconds  # the run ends after its last chunk


async def test_missing_usage_is_counted_and_marked_estimated(
    session: aiohttp.ClientSession, simulator: Sim
) -> None:
    simulator.sim.set_behaviour("m", Behaviour(usage=False, answer="a b c"))
    result = await run_canary(session, spec_for(simulator.url))
    assert result.output_tokens == 3
    assert result.last.tokens_estimated


async def test_connection_refused(session: aiohttp.ClientSession) -> None:
    port = free_port()  # nothing listens there: no other test is handed it
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
    assert_paced([result.duration_seconds], [0.3])


CONVERSATION = """
targets:
  - {{name: sim, protocol: {protocol}, base_url: "{url}{suffix}", model: m}}
canaries:
  - name: memory
    system: You are terse.
    turns:
      - user: "My name is Ada. Please remember it."
      - user: "What is my name?"
        checks: [{{contains: Ada}}]
"""


async def test_a_conversation_carries_the_real_answers(
    session: aiohttp.ClientSession, simulator: Sim, protocol: str
) -> None:
    text = CONVERSATION.format(protocol=protocol, url=simulator.url, suffix=DIALECTS[protocol])
    spec = next(iter(parse_config(text, "test.yaml").plan().values()))
    result = await run_canary(session, spec)
    assert result.outcome is Outcome.SUCCESS, result.checks
    assert len(result.turns) == 2
    assert "Ada" in result.turns[1].text
    assert [c.name for c in result.checks] == ["contains_turn2", "refusal"]
    # the second request carried the first exchange: more input tokens than the first
    first, second = (t.input_tokens or 0 for t in result.turns)
    assert second > first


async def test_ollama_reports_server_side_timings(
    session: aiohttp.ClientSession, simulator: Sim
) -> None:
    simulator.sim.set_behaviour("m", Behaviour(ttft=0.15, token_interval=0.02))
    result = await run_canary(session, spec_for(simulator.url, protocol="ollama"))
    timings = result.last.server_timings
    assert result.outcome is Outcome.SUCCESS
    assert {"prompt_eval", "eval", "total"} <= set(timings)
    assert timings["prompt_eval"] == pytest.approx(0.15, abs=0.05)
    assert timings["total"] >= timings["prompt_eval"]


async def test_configured_headers_are_sent(session: aiohttp.ClientSession) -> None:
    from exporter.simulator import Simulator

    guarded = Simulator(scenario="healthy", api_key="sk-header-123")
    url = await guarded.start("127.0.0.1", 0)
    try:
        header = "headers: {Authorization: Bearer sk-header-123}"
        result = await run_canary(session, spec_for(url, extra=header))
    finally:
        await guarded.stop()
    assert result.outcome is Outcome.SUCCESS, result.error_detail


def verdicts(result: ProbeResult) -> dict[str, object]:
    """What a run concluded, without its timings and random ids. Of a run that failed, not
    what it had read before: that depends on where the network split the reads (Ollama's
    decoder drops the lines read together with a malformed one)."""
    last = result.last
    concluded: dict[str, object] = {
        "outcome": result.outcome,
        "error_class": result.error_class,
        "error_detail": result.error_detail,
        "status": last.status,
    }
    if result.error_class is not None:
        return concluded
    return concluded | {
        "checks": result.checks,
        "refusal": result.refusal,
        "text": last.text,
        "refused_text": last.refusal,
        "finish_reason": last.finish_reason,
        "response_model": last.response_model,
        "system_fingerprint": last.system_fingerprint,
        "tokens": (last.input_tokens, last.output_tokens, last.tokens_estimated),
        "chunks": last.chunks,
    }


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
@pytest.mark.parametrize("fault", [None, "content_filter", "stream_error", "malformed", "empty"])
async def test_orjson_and_the_standard_library_give_the_same_results(
    session: aiohttp.ClientSession,
    simulator: Sim,
    protocol: str,
    stream: bool,
    fault: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same bytes, decoded by exporter.jsontext (orjson where it agrees) and by `json`
    alone: the same verdicts, texts, tokens and identity."""
    import json

    from exporter import jsontext

    faults = {} if fault is None else {fault: 1.0}
    behaviour = Behaviour(answer="The answer is 42, as asked.", faults=faults, retry_after=3)
    simulator.sim.set_behaviour("m", behaviour)
    spec = spec_for(simulator.url, stream=stream, protocol=protocol)
    fast = await run_canary(session, spec)
    monkeypatch.setattr(jsontext, "loads", json.loads)
    plain = await run_canary(session, spec)
    assert verdicts(fast) == verdicts(plain)
    assert fast.error_class is None or fault is not None, fast.error_detail


@pytest.mark.parametrize("dialect", ["openai", "anthropic", "ollama"])
async def test_the_answer_before_a_bad_line_in_the_same_read_counts(
    session: aiohttp.ClientSession, dialect: str
) -> None:
    from tests.integration.faultserver import FaultServer

    server = FaultServer("bad_line_after_content")
    url = await server.start()
    try:
        result = await run_canary(session, spec_for(url, protocol=dialect))
    finally:
        await server.close()
    assert result.error_class is ErrorClass.MALFORMED
    assert "UTF-8" in (result.error_detail or "")
    assert result.last.text == "42"  # came in the read that brought the bad line
    assert result.ttft_seconds is not None
