"""Arrival times of a body's pieces over a real connection: an aiohttp server sends two
pieces a second apart; the client reads them only once both are in, in one chunk, and
each piece keeps the time its read came."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from exporter.protocols.arrivals import Arrivals
from tests.integration.conftest import free_port, wait_for

FIRST, SECOND = b"data: first\n\n", b"data: second\n\n"
PAUSE = 1.0  # seconds the server waits between the pieces


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(FIRST)
        await asyncio.sleep(PAUSE)
        await resp.write(SECOND)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/", stream)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/"
    await runner.cleanup()


async def test_a_chunk_that_joins_two_reads_keeps_each_reads_time(server: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(server) as resp:
        assert resp.connection is not None
        protocol = resp.connection.protocol
        made = time.perf_counter()
        arrivals = Arrivals(resp)
        assert "data_received" in vars(protocol)  # wrapped for this response
        whole = len(FIRST) + len(SECOND)

        async def both_in() -> bool:
            return resp.content.total_bytes >= whole

        await wait_for(both_in)  # the task reads nothing meanwhile
        read_at = time.perf_counter()
        chunk = await resp.content.readany()
        pieces = arrivals.split(chunk)
        assert chunk == FIRST + SECOND
        assert b"".join(piece for _, piece in pieces) == chunk
        stamps = {piece: at for at, piece in pieces}
        assert set(stamps) == {FIRST, SECOND}
        # the first came before (or with) the head; the second a pause later, and both
        # before the task read them
        assert stamps[SECOND] - max(stamps[FIRST], made) >= PAUSE / 2
        assert stamps[SECOND] <= read_at
        assert await resp.content.read() == b""
        # the body is whole: the connection's own read callback is back
        assert "data_received" not in vars(protocol)


async def test_reads_split_at_the_pieces_the_server_sent(server: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(server) as resp:
        arrivals = Arrivals(resp)
        got: list[tuple[float, bytes]] = []
        async for chunk in resp.content.iter_any():
            got += arrivals.split(chunk)
        assert b"".join(piece for _, piece in got) == FIRST + SECOND
        times = [at for at, _ in got]
        assert times == sorted(times)
        assert times[-1] - times[0] >= PAUSE / 2
        arrivals.close()
        arrivals.close()  # twice is harmless
