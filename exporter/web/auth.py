"""Who may call the web port: the `Authorization` check of the web config's credentials,
with PBKDF2 password checks on a small bounded pool of their own."""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from exporter.passwords import DUMMY_HASH, verify_password
from exporter.web.limits import PerClient, QuietLog

if TYPE_CHECKING:
    from exporter.webconfig import Credentials

log = logging.getLogger(__name__)
_CACHE_LIMIT = 256


class TooBusy(Exception):
    """A password check refused before it began: 429 when this client asked too often,
    503 when the checking threads are all busy. Retry after `seconds`."""

    def __init__(self, status: int, seconds: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.seconds = seconds


class Hasher:
    """Runs PBKDF2 checks on `workers` threads of its own (never the default pool that
    DNS lookups share), at most `workers` at once: beyond that a check is refused at once
    (TooBusy 503) rather than queued, and each client address gets `per_minute` checks
    a minute in bursts of `burst` (TooBusy 429)."""

    def __init__(
        self,
        workers: int = 2,
        per_minute: int = 30,
        burst: int = 10,
        verify: Callable[[str, str], bool] = verify_password,
    ) -> None:
        self.workers = workers
        self.checks = 0  # password checks started
        self._verify = verify
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="chatcanary-pbkdf2")
        self._clients = PerClient(per_minute, burst)
        self._lock = threading.Lock()
        self._busy = 0  # submitted and not finished, even when the asker went away

    async def verify(self, password: str, encoded: str, client: str) -> bool:
        wait = self._clients.take(client)
        if wait > 0:
            seconds = max(1, round(wait + 0.5))
            raise TooBusy(429, seconds, f"too many password checks; retry in {seconds}s")
        with self._lock:
            if self._busy >= self.workers:
                raise TooBusy(503, 1, "password checks are busy; retry in 1s")
            self._busy += 1
        self.checks += 1
        future = self._pool.submit(self._verify, password, encoded)
        future.add_done_callback(self._done)
        return await asyncio.wrap_future(future)

    def _done(self, _future: Future[bool]) -> None:
        with self._lock:
            self._busy -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class Guard:
    """Checks an `Authorization` header against credentials. Verified basic-auth pairs
    are remembered (as keyed digests, not in clear), since PBKDF2 is slow on purpose.
    Raises TooBusy when a password check cannot run now."""

    def __init__(self, credentials: Credentials, hasher: Hasher | None = None) -> None:
        self.credentials = credentials
        self.hasher = hasher or Hasher()
        self._key = secrets.token_bytes(32)
        self._verified: set[bytes] = set()
        self._garbled = QuietLog(log)

    async def allows(self, authorization: str | None, client: str = "") -> bool:
        if not self.credentials.required:
            return True
        scheme, _, value = (authorization or "").partition(" ")
        value = value.strip()
        try:
            given = value.encode()
        except UnicodeEncodeError:  # aiohttp hands over bytes that are not UTF-8 this way
            self._garbled.warning(
                "refused an Authorization header that is not UTF-8", client=client
            )
            return False
        if scheme.lower() == "bearer" and value:
            return any(
                hmac.compare_digest(given, t.get_secret_value().encode())
                for t in self.credentials.bearer_tokens
            )
        if scheme.lower() == "basic" and value and self.credentials.basic_auth_users:
            return await self._basic(value, client)
        return False

    async def _basic(self, value: str, client: str) -> bool:
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        encoded = self.credentials.basic_auth_users.get(user)
        if not sep:
            return False
        if encoded is None:  # as slow as a known user, so timing does not tell who exists
            await self.hasher.verify(password, DUMMY_HASH, client)
            return False
        seen = hmac.new(self._key, f"{user}\0{password}".encode(), "sha256").digest()
        if seen in self._verified:
            return True
        # slow on purpose: off the event loop, so a guessing client stalls nothing else
        if not await self.hasher.verify(password, encoded, client):
            return False
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        self._verified.add(seen)
        return True
