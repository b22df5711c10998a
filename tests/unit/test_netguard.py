"""The SSRF guard's policy and resolver (no network beyond the local resolver)."""

from __future__ import annotations

import ipaddress

import pytest
from yarl import URL

from exporter.config import ConfigError, parse_config
from exporter.errors import ErrorClass
from exporter.netguard import GuardedResolver, NetworkBlocked, Policy

PRIVATE = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]


def test_no_list_allows_everything() -> None:
    assert Policy(None).allows("169.254.169.254")


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("10.1.2.3", True),
        ("11.0.0.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("::ffff:10.0.0.1", True),  # IPv4-mapped IPv6 is the IPv4 address
        ("::ffff:127.0.0.1", False),
        ("fd12::1", True),
        ("fe80::1%eth0", False),
    ],
)
def test_addresses_are_checked_against_the_networks(address: str, allowed: bool) -> None:
    assert Policy(PRIVATE).allows(address) is allowed


def test_address_literals_in_urls_are_blocked_with_a_clear_error() -> None:
    policy = Policy(PRIVATE)
    policy.check_url(URL("http://10.0.0.5:8000/v1"))
    policy.check_url(URL("http://example.invalid/v1"))  # a name: the resolver's job
    with pytest.raises(NetworkBlocked) as caught:
        policy.check_url(URL("http://[::1]:8000/v1"))
    assert caught.value.error_class is ErrorClass.CONNECTION
    assert "outside security.allowed_networks" in caught.value.detail


async def test_the_resolver_drops_addresses_outside_the_list() -> None:
    blocked = GuardedResolver(Policy(PRIVATE))
    with pytest.raises(NetworkBlocked, match=r"localhost is at 127\.0\.0\.1"):
        await blocked.resolve("localhost", 80)
    allowed = GuardedResolver(Policy([ipaddress.ip_network("127.0.0.0/8")]))
    (found,) = await allowed.resolve("localhost", 80)
    assert found["host"] == "127.0.0.1"
    await blocked.close()
    await allowed.close()


def test_a_policy_updates_in_place_on_reload() -> None:
    policy = Policy(PRIVATE)
    assert not policy.allows("127.0.0.1")
    policy.update([ipaddress.ip_network("127.0.0.0/8")])
    assert policy.allows("127.0.0.1")
    policy.update(None)
    assert policy.allows("8.8.8.8")


def test_config_takes_networks_and_names_a_bad_one() -> None:
    base = "targets: [{name: t, protocol: openai, base_url: 'http://x/v1', model: m}]\n"
    base += "canaries: [{name: c, prompt: hi}]\n"
    good = parse_config(base + "security: {allowed_networks: [10.0.0.0/8, 'fd00::/8']}", "t")
    assert good.security.allowed_networks == PRIVATE
    with pytest.raises(ConfigError) as caught:
        parse_config(base + "security:\n  allowed_networks: [10.0.0.300/8]\n", "t.yaml")
    assert caught.value.messages[0].startswith("t.yaml:4: security.allowed_networks[0]")
