"""Who may call the web port (exporter/web/auth.py): the guard's checks, and password
checks bounded in a pool of their own, so a stranger's guesses cost little and delay
nothing else. The hostile cases go through the real web app."""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
from collections.abc import AsyncIterator

import pytest

from exporter.passwords import hash_password, verify_password
from exporter.web.app import HASHER
from exporter.web.auth import Guard, Hasher, TooBusy
from exporter.webconfig import Credentials, WebConfig
from tests.unit.test_web_api import Api, serve

FAST = 1000  # iterations: enough to test the scheme, quick enough for a unit test
TOKEN = "read-token-0123456789"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_the_guard_takes_basic_auth_and_bearer_tokens() -> None:
    creds = Credentials.model_validate(
        {"basic_auth_users": {"alice": hash_password("s3cret", FAST)}, "bearer_tokens": [TOKEN]}
    )
    guard = Guard(creds)
    assert await guard.allows(basic("alice", "s3cret"))
    assert await guard.allows(basic("alice", "s3cret"))  # the remembered path
    assert await guard.allows(f"Bearer {TOKEN}")
    for bad in (
        None,
        "",
        basic("alice", "wrong"),
        basic("bob", "s3cret"),
        "Basic !!!not-base64",
        "Bearer wrong-token-0123456789",
        f"Token {TOKEN}",
        "Bearer \udcff\udcfe",  # how aiohttp hands over header bytes that are not UTF-8
    ):
        assert not await guard.allows(bad), bad


async def test_no_credentials_means_open() -> None:
    assert await Guard(Credentials()).allows(None)


async def test_unknown_users_cost_a_check_like_known_ones() -> None:
    """The dummy hash keeps an unknown user as slow as a wrong password: both are one check
    in the bounded pool."""
    hasher = Hasher()
    creds = Credentials.model_validate({"basic_auth_users": {"alice": hash_password("pw", FAST)}})
    guard = Guard(creds, hasher)
    assert not await guard.allows(basic("mallory", "pw"), "192.0.2.1")
    assert not await guard.allows(basic("alice", "wrong"), "192.0.2.1")
    assert hasher.checks == 2


async def test_checks_beyond_the_pool_are_refused_at_once_not_queued() -> None:
    release = threading.Event()

    def slow(password: str, encoded: str) -> bool:
        release.wait(30)
        return verify_password(password, encoded)

    hasher = Hasher(workers=2, per_minute=1000, burst=1000, verify=slow)
    encoded = hash_password("pw", FAST)
    threads = threading.active_count()
    running = [asyncio.create_task(hasher.verify("pw", encoded, f"c{i}")) for i in range(2)]
    await asyncio.sleep(0)  # both submitted, both blocked in the pool
    for i in range(20):
        with pytest.raises(TooBusy) as refused:
            await hasher.verify("pw", encoded, f"other{i}")
        assert refused.value.status == 503 and refused.value.seconds >= 1
    assert threading.active_count() <= threads + 2  # no queue, no more threads
    # the default executor (DNS lookups, probes) is free all along
    assert await asyncio.get_running_loop().getaddrinfo("localhost", 80)
    release.set()
    assert await asyncio.gather(*running) == [True, True]
    assert await hasher.verify("pw", encoded, "later")  # slots given back
    hasher.close()


async def test_a_client_asking_too_often_is_told_to_wait() -> None:
    hasher = Hasher(per_minute=30, burst=10)
    encoded = hash_password("pw", FAST)

    async def guess_until_refused() -> list[bool]:
        results = []
        for _ in range(100):  # each attempt takes ~ms: the bucket empties long before
            results.append(await hasher.verify("wrong", encoded, "192.0.2.9"))
        return results

    with pytest.raises(TooBusy) as refused:
        await guess_until_refused()
    assert refused.value.status == 429 and refused.value.seconds >= 1
    assert hasher.checks >= 10
    assert await hasher.verify("pw", encoded, "192.0.2.10")  # another client is not held
    hasher.close()


# --- through the web app ----------------------------------------------------------------


@pytest.fixture
async def bearer_only() -> AsyncIterator[Api]:
    async for served in serve(WebConfig.model_validate({"bearer_tokens": [TOKEN]})):
        yield served


@pytest.fixture
async def with_users() -> AsyncIterator[Api]:
    users = {"alice": hash_password("s3cret", FAST)}
    async for served in serve(WebConfig.model_validate({"basic_auth_users": users})):
        yield served


def hashes(api: Api) -> int:
    return api.client.app[HASHER].checks  # type: ignore[index]


async def test_basic_auth_is_refused_outright_where_no_users_are_configured(
    bearer_only: Api,
) -> None:
    statuses = await asyncio.gather(
        *(
            bearer_only.client.get("/metrics", headers={"Authorization": basic(f"u{i}", "x")})
            for i in range(30)
        )
    )
    assert [r.status for r in statuses] == [401] * 30
    assert all(r.headers["WWW-Authenticate"].startswith("Bearer") for r in statuses)
    assert hashes(bearer_only) == 0  # no PBKDF2 for strangers
    ok = await bearer_only.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status == 200


async def test_a_guessing_client_is_told_to_wait_before_it_costs_much(
    with_users: Api,
) -> None:
    statuses = []
    for i in range(25):
        resp = await with_users.client.get("/", headers={"Authorization": basic("alice", f"g{i}")})
        statuses.append(resp.status)
        if resp.status == 429:
            assert int(resp.headers["Retry-After"]) >= 1
            break
    assert statuses[-1] == 429 and set(statuses[:-1]) == {401}
    assert hashes(with_users) == len(statuses) - 1  # each 401 one check, the 429 none


async def test_bearer_bytes_that_are_not_utf8_answer_401_with_few_log_lines(
    bearer_only: Api, caplog: pytest.LogCaptureFixture
) -> None:
    port = bearer_only.client.port
    caplog.set_level(logging.WARNING)
    for _ in range(20):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\x80abc\r\n"
            b"Connection: close\r\n\r\n"
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.read(200), 20)
        writer.close()
        assert head.startswith(b"HTTP/1.1 401 "), head
    lines = [r for r in caplog.records if "not UTF-8" in r.getMessage()]
    assert 1 <= len(lines) <= 6  # rate limited
    assert not any(r.exc_info for r in caplog.records)  # no traceback
    assert "\udcff" not in caplog.text and "\\xff" not in caplog.text  # nor the bytes
