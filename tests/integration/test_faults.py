"""The fault matrix: every fault a chat endpoint can throw at the exporter, over real
sockets, through the real service (scheduler, runner, dialects, Prometheus sink, web app).

For each fault and dialect the canary runs on its schedule at least twice, and:
- every run ends with the expected `error_class` (or succeeds, where the fault is
  harmless), counted on /metrics, and the detail says what happened;
- every run ends by its deadline plus a slack (a histogram bucket at that bound holds
  them all), and runs that should wait for the deadline did;
- /metrics answers while a faulty run is in flight, and after;
- nothing leaks: at each new connection the exporter holds exactly one socket to the
  faulty server, and once everything stopped no task and no file descriptor is left.

Faults come from `faultserver.FaultServer`, a raw asyncio server, except connection
refused (a closed port), DNS failure (a reserved `.invalid` name, or a name too long to
look up) and the simulator's own faults (`test_simulated_fault`).
"""

from __future__ import annotations

import asyncio
import re
import tracemalloc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.config import parse_config
from exporter.errors import ErrorClass
from exporter.result import ProbeResult
from exporter.simulator import Behaviour, Simulator
from tests.integration.conftest import free_port, start_exporter, stop_exporter, wait_for
from tests.integration.faultserver import FaultServer, open_fds, self_signed
from tests.pacing import LATE

# protocol -> the base_url suffix its official SDK takes
SUFFIX = {"openai": "/v1", "anthropic": "", "ollama": ""}
RUNS = 2  # the second run shows what the first one left behind
MEMORY_BOUND = 16 << 20  # bytes allocated at the peak of a run, exporter and server together
PROMPT = "What is 17+25? Answer with the number only."
# the budget is far from spent: it is there to show what the runs spent
CONFIG = """
defaults:
  interval: 50ms
  jitter: 0
  timeout: {deadline}s{first_token}
  max_response_bytes: 65536
  budget: {{tokens_per_day: 1000000000}}
metrics: {{duration_buckets: [{bound}]}}
targets:
  - {{name: faulty, protocol: {protocol}, base_url: "{url}{suffix}", model: m, stream: {stream}}}
canaries:
  - {{name: c, prompt: "{prompt}", checks: [{{contains: "42"}}]}}
"""

ALL = ("openai", "anthropic", "ollama")


@dataclass(frozen=True)
class Row:
    fault: str
    expected: ErrorClass | None  # None: the run succeeds
    detail: str = ""  # a piece of the error detail
    dialects: tuple[str, ...] = ("openai",)
    modes: tuple[bool, ...] = (True,)  # streamed, JSON body
    # rows that end at once get a generous deadline: on a loaded machine a second was
    # not always enough to classify a bad body, and the run ended as a timeout instead
    deadline: float = 5.0
    first_token_timeout: float | None = None  # set by the user, when not None
    waits: bool = False  # ends at its deadline, not before
    bounded: bool = False  # memory stays far below what the server sends
    refused: bool = False  # a refusal to judge, not an error

    @property
    def ends(self) -> float:
        """When a run that waits for its deadline ends."""
        return self.first_token_timeout or self.deadline


E = ErrorClass
ROWS = [
    # the network, before any HTTP
    Row("refused", E.CONNECTION, "connection refused (connecting to 127.0.0.1:"),
    Row("dns", E.DNS, "(connecting to no-such-host.invalid:80)"),
    # a label over 63 characters fails in the resolver's IDNA step, before any lookup
    Row("dns_bad_name", E.DNS, "host name cannot be resolved"),
    Row("tls_untrusted", E.TLS, "certificate verify failed: self-signed certificate"),
    Row("reset_mid_headers", E.CONNECTION),
    Row("garbage_status_line", E.MALFORMED, "status"),
    Row("oversized_header", E.MALFORMED, "got more than 8190 bytes"),
    Row("endless_headers", E.MALFORMED, "too many headers"),
    # waiting
    Row("hang_before_headers", E.FIRST_TOKEN_TIMEOUT, "no first token", ALL, deadline=0.2,
        waits=True),
    Row("slow_drip", E.FIRST_TOKEN_TIMEOUT, "no first token", deadline=0.2, waits=True),
    Row("headers_then_silence", E.FIRST_TOKEN_TIMEOUT, "no first token", ALL, deadline=0.2,
        waits=True),
    Row("endless_pings", E.FIRST_TOKEN_TIMEOUT, "no first token", ALL, deadline=0.2,
        waits=True),
    Row("silence_after_first_token", E.TIMEOUT, "did not finish", ALL, deadline=0.3,
        waits=True),
    Row("slow_drip_body", E.TIMEOUT, "did not finish", ALL, deadline=0.3, waits=True),
    # a JSON answer's first token is its end: only a first_token_timeout the user set
    # bounds it; else a slow answer is past `timeout`, which the timeout alerts select
    Row("hang_before_headers", E.TIMEOUT, "did not finish", ALL, modes=(False,),
        deadline=0.2, waits=True),
    Row("headers_then_silence", E.TIMEOUT, "did not finish", ALL, modes=(False,),
        deadline=0.2, waits=True),
    Row("hang_before_headers", E.FIRST_TOKEN_TIMEOUT, "no first token", ALL, modes=(False,),
        deadline=2.0, first_token_timeout=0.2, waits=True),
    # HTTP status
    Row("http_429_retry_after", E.RATE_LIMITED, "Rate limit reached"),
    Row("http_429", E.RATE_LIMITED, "Rate limit reached"),
    Row("http_500", E.HTTP_5XX, "boom"),
    Row("http_502", E.HTTP_5XX, "502 Bad Gateway"),
    Row("http_503", E.HTTP_5XX, "upstream connect error"),
    Row("http_529", E.HTTP_5XX, "HTTP 529"),
    Row("redirect", E.MALFORMED, "redirect to http://127.0.0.1:9/v1", modes=(True, False)),
    # an error body is read whole, up to its deadline
    Row("content_filter_in_two_writes", None, "", modes=(True, False), refused=True),
    Row("error_body_unfinished", E.HTTP_4XX, "body unfinished at the deadline",
        modes=(True, False), deadline=0.2, waits=True),
    # the body
    Row("reset_mid_stream", E.TRUNCATED, "", ALL),
    Row("close_mid_chunk", E.TRUNCATED, "", ALL),
    Row("bad_chunk_size", E.MALFORMED, "chunk size", ALL),
    # aiohttp 3.14 puts a framing error found after body bytes were read on the
    # connection, not on the body: the read waits, and the run ends at its deadline
    Row("bad_chunk_after_data", E.TIMEOUT, "did not finish", ALL, deadline=0.3, waits=True),
    Row("missing_end", E.TRUNCATED, "stream ended without", ALL),
    Row("interrupted", E.TRUNCATED, "no content and no finish reason: it was cut off",
        ("openai", "anthropic")),
    Row("no_usage", None, "", ("openai", "ollama"), modes=(True, False)),
    Row("finish_without_end_marker", None, "", ("openai", "anthropic")),
    Row("invalid_utf8", E.MALFORMED, "UTF-8", ALL, modes=(True, False)),
    Row("invalid_json_chunk", E.MALFORMED, "JSON", ALL, modes=(True, False)),
    Row("html_200", E.MALFORMED, "text/html", ALL, modes=(True, False)),
    Row("wrong_content_type", E.MALFORMED, "text/plain", ALL),
    # a JSON body under the wrong label still parses, as the official SDKs accept it
    Row("wrong_content_type", None, "", ALL, modes=(False,)),
    Row("json_instead_of_stream", E.MALFORMED, "application/json", ("openai", "anthropic")),
    # Ollama's stream type may be relabelled application/json by proxies: one whole
    # object with done: true is then a complete stream of one line
    Row("json_instead_of_stream", None, "", ("ollama",)),
    Row("oversized_body", E.TOO_LARGE, "larger than 65536 bytes", ALL, modes=(True, False)),
    Row("endless_stream", E.TOO_LARGE, "larger than 65536 bytes", ALL, bounded=True),
    Row("gzip", None, "", ALL, modes=(True, False)),
    Row("gzip_bomb", E.TOO_LARGE, "larger than 65536 bytes", modes=(True, False),
        bounded=True),
]  # fmt: skip


def cases(rows: list[Row]) -> list[object]:
    out = []
    for row in rows:
        for protocol in row.dialects:
            for stream in row.modes:
                mode = "stream" if stream else "json"
                out.append(pytest.param(row, protocol, stream, id=f"{row.fault}-{protocol}-{mode}"))
    return out


@pytest.fixture
def closed_port() -> int:
    return free_port()  # nothing listens there: no other test is handed it


@pytest.fixture
async def quiet() -> AsyncIterator[None]:
    """Fails the test when it leaves a task or a file descriptor behind."""
    fds = open_fds()
    yield

    def new_tasks() -> list[str]:
        # set-up and tear-down run as tasks of their own; every other task is new
        return [repr(t.get_coro()) for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    async def settled() -> bool:
        return not new_tasks() and not (open_fds() - fds)

    try:
        await wait_for(settled, timeout=10.0, every=0.05)
    except AssertionError:
        left = new_tasks(), sorted(open_fds() - fds)
        raise AssertionError(f"left behind (tasks, fds): {left}") from None


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


async def get(url: str) -> tuple[int, str]:
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as resp:
        return resp.status, await resp.text()


@dataclass
class Seen:
    """What one fault case left: the last result, and /metrics after RUNS runs."""

    result: ProbeResult
    metrics: str


async def observe(
    url: str, row: Row, protocol: str, stream: bool, busy: Callable[[], bool]
) -> Seen:
    """Serve the exporter with one canary against `url` until it ran RUNS times. /metrics
    is read once `busy()` says the endpoint has a request (a hanging fault holds the run
    then), and again at the end."""
    first_token = row.first_token_timeout
    text = CONFIG.format(
        deadline=row.deadline,
        first_token="" if first_token is None else f"\n  first_token_timeout: {first_token}s",
        prompt=PROMPT,
        bound=bound(row),
        protocol=protocol,
        url=url,
        suffix=SUFFIX[protocol],
        stream=str(stream).lower(),
    )
    exporter = await start_exporter(parse_config(text, "faults.yaml"))
    key = ("faulty", "c")
    runs = exporter.service.latest.runs
    try:
        await wait_for(lambda: _true(busy()), timeout=20.0, every=0.01)
        status, _ = await get(exporter.url + "/metrics")  # a run may be hanging right now
        assert status == 200
        await wait_for(lambda: _true(runs.get(key, 0) >= RUNS), timeout=30.0, every=0.02)
        status, metrics = await get(exporter.url + "/metrics")
        assert status == 200
        return Seen(exporter.service.latest.results[key], metrics)
    finally:
        await stop_exporter(exporter)


def bound(row: Row) -> float:
    return round(row.ends + LATE, 3)  # cancellation and clean-up, on a busy machine


def check(row: Row, seen: Seen) -> None:
    result, metrics = seen.result, seen.metrics
    assert result.error_class is row.expected, result.error_detail
    assert row.detail in result.error_detail
    # the root cause in words, not the HTTP client's class names or connection key
    assert not re.search(r"[A-Z]\w+Error\b|ssl:|\n", result.error_detail), result.error_detail
    total = metric(metrics, "chatcanary_probes_total")
    assert total >= RUNS
    if row.expected is None:
        assert metric(metrics, "chatcanary_probe_errors_total") == 0
    else:  # every run, not only the last, failed the same way
        assert metric(metrics, "chatcanary_probe_errors_total", error_class=row.expected) == total
    # every run ended by its deadline plus the slack; the waiting ones not before it
    hist = "chatcanary_request_duration_seconds_bucket"
    assert metric(metrics, hist, le=str(bound(row))) == total
    assert result.duration_seconds <= bound(row)
    if row.waits:
        assert result.duration_seconds >= row.ends


@pytest.mark.usefixtures("no_otel_environment", "quiet")
@pytest.mark.parametrize(("row", "protocol", "stream"), cases(ROWS))
async def test_fault(
    row: Row, protocol: str, stream: bool, closed_port: int, tmp_path: Path
) -> None:
    server: FaultServer | None = None
    if row.fault == "refused":
        url = f"http://127.0.0.1:{closed_port}"
    elif row.fault == "dns":
        url = "http://no-such-host.invalid"
    elif row.fault == "dns_bad_name":
        url = f"http://{'a' * 64}.invalid"
    elif row.fault == "tls_untrusted":
        server = FaultServer("healthy", tls=self_signed(tmp_path))
        url = await server.start()
    else:
        server = FaultServer(row.fault)
        url = await server.start()
    # with a server that sees requests, wait until one is being answered
    seen_requests = server is not None and row.fault != "tls_untrusted"
    if row.bounded:
        tracemalloc.start()
    try:
        seen = await observe(
            url, row, protocol, stream, lambda: not seen_requests or server.accepted > 0
        )
        if row.bounded:
            # 64 MiB inflated or 100 MB streamed if it were unbounded
            assert tracemalloc.get_traced_memory()[1] < MEMORY_BOUND
    finally:
        tracemalloc.stop()
        if server is not None:
            await server.close()

    check(row, seen)
    total = metric(seen.metrics, "chatcanary_probes_total")
    if row.refused:
        assert seen.result.refused is True
        assert seen.result.last.finish_reason == "content_filter"
    elif row.expected is None:  # harmless: every run passed its checks
        assert metric(seen.metrics, "chatcanary_probes_total", outcome="success") == total
        assert seen.result.last.text == "42"
    if row.fault == "no_usage":
        # the prompt's tokens, estimated at four characters each, count and are spent
        spent = metric(seen.metrics, "chatcanary_budget_used_tokens", window="day")
        counted = metric(seen.metrics, "chatcanary_tokens_total")
        prompt_tokens = 11  # PROMPT's 43 characters, four a token, rounded up
        assert (
            metric(seen.metrics, "chatcanary_tokens_total", type="input") == total * prompt_tokens
        )
        assert seen.result.last.tokens_estimated
        assert spent == counted
    if row.fault == "http_429_retry_after":
        assert seen.result.last.retry_after == 1.0
    if row.fault == "http_429":
        assert seen.result.last.retry_after is None
    if seen_requests:
        # one socket to the server at each new connection: none kept from earlier runs
        counts = {len(states) for states in server.client_sockets}
        assert counts == {1}, f"TCP states at each accept: {server.client_sockets}"


# The simulator's own faults through the same service: its bytes are a well-behaved
# server's (aiohttp), so these check the classes, deadlines, /metrics and leaks of the
# faults operators rehearse with.
SIMULATED = [
    Row("http_401", E.AUTH, "HTTP 401", ALL),
    Row("http_400", E.HTTP_4XX, "HTTP 400", ALL),
    Row("http_529", E.HTTP_5XX, "HTTP 529", ALL),
    Row("stream_error", E.STREAM_ERROR, "error", ALL, modes=(True, False)),
    Row("truncate", E.TRUNCATED, "", ALL, modes=(True, False)),
    Row("malformed", E.MALFORMED, "JSON", ALL, modes=(True, False)),
    Row("empty", E.EMPTY_ANSWER, "no content", ALL),
    Row("too_large", E.TOO_LARGE, "larger than 65536 bytes", ALL),
    Row("hang_before_headers", E.FIRST_TOKEN_TIMEOUT, "no first token", ALL, deadline=0.2,
        waits=True),
    Row("hang_mid_stream", E.TIMEOUT, "did not finish", ALL, deadline=0.3, waits=True),
    Row("content_filter", None, "", ("openai", "anthropic"), modes=(True, False), refused=True),
]  # fmt: skip


@pytest.mark.parametrize(("row", "protocol", "stream"), cases(SIMULATED))
async def test_simulated_fault(
    quiet: None, no_otel_environment: None, row: Row, protocol: str, stream: bool
) -> None:
    simulator = Simulator(scenario="healthy", seed=7)
    url = await simulator.start("127.0.0.1", 0)
    simulator.set_behaviour(
        "m", Behaviour(faults={row.fault: 1.0}, hang_seconds=10, large_bytes=256 * 1024)
    )
    try:
        seen = await observe(
            url, row, protocol, stream, lambda: bool(simulator.stats()["requests"])
        )
    finally:
        await simulator.stop()
    check(row, seen)
    if row.refused:
        assert seen.result.refused is True


async def _true(value: object) -> bool:
    return bool(value)
