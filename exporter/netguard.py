"""SSRF guard: with `security.allowed_networks`, targets may only be reached in those networks.

Every address a request would connect to is checked, after DNS: names through the
session's resolver (so a name that resolves into a metadata or internal range is blocked,
and a DNS answer cannot swap the address between check and connect), address literals
and redirect targets through a request hook. A blocked request ends as a `connection`
error that says why; nothing is sent. Without an allow-list, nothing is filtered.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from exporter.errors import ErrorClass, ProbeError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class NetworkBlocked(ProbeError):
    def __init__(self, host: str, addresses: Sequence[str]) -> None:
        shown = ", ".join(addresses[:3]) or "nothing"
        super().__init__(
            ErrorClass.CONNECTION,
            f"blocked: {host} is at {shown}, outside security.allowed_networks",
        )


class Policy:
    """The allow-list in force; replaced in place when the config is reloaded."""

    def __init__(self, networks: Sequence[Network] | None = None) -> None:
        self.networks: tuple[Network, ...] | None = None
        self.update(networks)

    def update(self, networks: Sequence[Network] | None) -> None:
        self.networks = None if networks is None else tuple(networks)

    def allows(self, address: str) -> bool:
        if self.networks is None:
            return True
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone is not the address
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
        return any(ip.version == net.version and ip in net for net in self.networks)

    def check_url(self, url: URL) -> None:
        """Address literals never reach the resolver: check them here."""
        host = url.raw_host or ""
        try:
            ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        except ValueError:
            return  # a name: the resolver checks what it resolves to
        if not self.allows(host.strip("[]")):
            raise NetworkBlocked(host, [host])


class GuardedResolver(AbstractResolver):
    """The default resolver, keeping only addresses the policy allows."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        allowed = [r for r in found if self._policy.allows(r["host"])]
        if not allowed:
            raise NetworkBlocked(host, [r["host"] for r in found])
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def request_hook(policy: Policy) -> aiohttp.TraceConfig:
    """Checks each request's URL, and each redirect's, before anything connects."""

    async def start(_session: Any, _context: SimpleNamespace, params: Any) -> None:
        policy.check_url(params.url)

    async def redirect(_session: Any, _context: SimpleNamespace, params: Any) -> None:
        location = params.response.headers.get("Location", "")
        policy.check_url(params.url.join(URL(location)))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(start)
    trace.on_request_redirect.append(redirect)
    return trace


def session(policy: Policy, *traces: aiohttp.TraceConfig) -> aiohttp.ClientSession:
    """The probes' HTTP client: no global connection cap (per-target semaphores bound
    concurrency), DNS cached for a minute, every connection checked against `policy`."""
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=60, resolver=GuardedResolver(policy))
    return aiohttp.ClientSession(connector=connector, trace_configs=[request_hook(policy), *traces])
