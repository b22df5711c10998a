"""The web port against slow and many clients (exporter/web/server.py), with real sockets:
connections that dribble their headers are closed after the header timeout, and past the
connection cap the one idle longest is closed, so /metrics stays served. Scaled down here
(60 slow connections, a cap of 50); bench/slowloris.py runs the full 500."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from exporter.config import parse_config
from exporter.service import Service
from exporter.web import make_app, server

CONFIG = """
targets: [{name: t, protocol: openai, base_url: "http://127.0.0.1:9/v1", model: m}]
canaries: [{name: c, prompt: "hi", interval: 1h}]
web: {header_timeout: 1s, max_connections: 50}
"""
SLOW = 60
DEADLINE = 30.0  # generous: a busy machine is slow, not wrong


@pytest.fixture
async def port() -> AsyncIterator[tuple[int, server.CappedRunner]]:
    service = Service(parse_config(CONFIG, "c.yaml"))  # not started: nothing is probed
    settings = service.config.web
    runner = await server.start(
        make_app(service), "127.0.0.1", 0, settings.header_timeout, settings.max_connections
    )
    yield runner.addresses[0][1], runner
    await runner.cleanup()


async def slow_client(port: int, opened: asyncio.Event) -> float:
    """Sends a request's headers a line at a time, never finishing; the seconds until the
    server closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.monotonic()
    opened.set()
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    try:
        for n in range(int(DEADLINE * 5)):
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(reader.read(100), 0.2) == b"":
                    break
            writer.write(b"X-Slow-%d: y\r\n" % n)  # a byte now and then keeps nothing open
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
    return time.monotonic() - start


async def test_slow_clients_are_cut_off_and_metrics_stay_served(
    port: tuple[int, server.CappedRunner],
) -> None:
    number, runner = port
    opened = [asyncio.Event() for _ in range(SLOW)]
    slow = [asyncio.create_task(slow_client(number, e)) for e in opened]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in opened)), DEADLINE)
    assert runner.server is not None
    assert len(runner.server.connections) <= 50  # the cap holds
    timeout = aiohttp.ClientTimeout(total=DEADLINE)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(f"http://127.0.0.1:{number}/metrics") as resp,
    ):
        assert resp.status == 200
        assert "chatcanary_" in await resp.text()
    held = await asyncio.wait_for(asyncio.gather(*slow), DEADLINE + 5)
    assert all(seconds < DEADLINE for seconds in held)  # every one closed by the server
    assert max(held) >= 0.9  # the ones not shed waited out the 1s header timeout


async def test_past_the_cap_the_longest_idle_connection_goes(
    port: tuple[int, server.CappedRunner],
) -> None:
    number, runner = port
    first = await asyncio.open_connection("127.0.0.1", number)
    others = [await asyncio.open_connection("127.0.0.1", number) for _ in range(49)]
    extra = await asyncio.open_connection("127.0.0.1", number)  # the 51st
    assert await asyncio.wait_for(first[0].read(), DEADLINE) == b""  # closed: idle longest
    assert runner.server is not None and len(runner.server.connections) <= 50
    extra[1].write(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = await asyncio.wait_for(extra[0].read(), DEADLINE)
    assert answer.startswith(b"HTTP/1.1 200 ") and b"healthy" in answer
    for _, writer in (first, *others, extra):
        writer.close()
