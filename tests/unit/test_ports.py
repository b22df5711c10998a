"""tests/ports.py: the suite's own port picker, which every test that starts a process on
a port relies on."""

from __future__ import annotations

import itertools
import socket
from pathlib import Path

import pytest

from tests.ports import _port_slice, free_port


def first_ephemeral_port() -> int:
    """The kernel's, read here rather than taken from the code under test."""
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def test_free_port_never_hands_out_a_port_twice() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    with socket.socket() as sock:  # and what it hands out is free to bind
        sock.bind(("127.0.0.1", ports[-1]))


def test_free_port_stays_out_of_the_range_the_kernel_picks_port_0_from() -> None:
    low = first_ephemeral_port()
    if low < 12000:
        pytest.skip(f"ephemeral ports start at {low}: free_port binds to port 0 here")
    assert all(10000 <= free_port() < low for _ in range(50))


def test_free_port_skips_a_port_that_is_held() -> None:
    with socket.socket() as held:
        nxt = free_port() + 1
        held.bind(("127.0.0.1", nxt))
        held.listen()
        assert free_port() != nxt


def test_with_too_few_ports_below_the_ephemeral_range_it_binds_to_port_0_once_each() -> None:
    low = first_ephemeral_port()
    ports = list(itertools.islice(_port_slice(high=10500), 20))
    assert len(set(ports)) == len(ports)
    assert all(port >= low for port in ports), ports  # the kernel's, not a slice's
