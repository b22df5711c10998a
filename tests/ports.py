"""Loopback ports for the processes and servers tests start: every test that starts one
on a port it names takes the port from `free_port`."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import bench.common


def _ephemeral_low() -> int:
    """The first port the kernel hands out for port 0 and outgoing connections."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _port_slice(high: int | None = None) -> Iterator[int]:
    """This worker's own ports: a slice of those below the kernel's ephemeral range, split
    between pytest-xdist's workers. A port taken with port 0 and closed again can come back
    from the next bind to port 0 (two `run` processes of one test once got the same one), or
    from another worker's; these come back from neither. Where the ephemeral range leaves
    too few below it (`high`: where it starts), ports from binds to port 0, each handed out
    once."""
    low, high = 10000, _ephemeral_low() if high is None else high
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    size = (high - low) // max(count, 1)
    if size >= 1000:
        start = low + index * size
        yield from range(start, start + size)
    else:  # the benchmarks' picker: binds to port 0, each port handed out once
        yield from iter(bench.common.free_port, None)


_PORTS = _port_slice()


def free_port() -> int:
    """A loopback port no socket holds now and this worker has not handed out before."""
    for port in _PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:  # held by something, or lingering: skip it
                continue
            return port
    raise RuntimeError("this worker has used all of its ports")
