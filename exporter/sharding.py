"""Sharding: N replicas split the (target, canary) runs so that each runs on exactly one.

A run's shard is a pure function of its key and N — every replica computes the same
partition on its own, and nothing coordinates them. The key is hashed with SHA-256 (stable
across processes and Python versions, unlike `hash()`), then placed with the jump
consistent hash (Lamping & Veach, 2014): when N grows to N+1, only about 1/(N+1) of the
runs move, and they all move to the new shard.

A replica learns its shard from `--shard i/N`, or with `--shard auto` from its hostname's
ordinal suffix (`chatcanary-2` in a StatefulSet is shard 2) and `CHATCANARY_SHARDS`.
"""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import CollectorRegistry, Gauge

SHARDS_VAR = "CHATCANARY_SHARDS"
AUTO = "auto"

_SPEC = re.compile(r"(\d+)/(\d+)")
_ORDINAL = re.compile(r"-(\d+)$")
_MASK = (1 << 64) - 1

V = TypeVar("V")


class ShardError(ValueError):
    """A shard that cannot be parsed or derived; the message says what was wrong."""


def bucket(key: tuple[str, str], shards: int) -> int:
    """The shard in [0, shards) that owns this (target, canary) key."""
    digest = hashlib.sha256("\x00".join(key).encode()).digest()
    return _jump(int.from_bytes(digest[:8], "big"), shards)


def _jump(key: int, buckets: int) -> int:
    # Lamping & Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm", figure 1.
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & _MASK
        j = int((b + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return b


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` of `count` (0-based); `Shard(0, 1)` is the whole plan."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ShardError(f"shard count must be at least 1, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ShardError(
                f"shard index must be in 0..{self.count - 1} for {self.count} shards, "
                f"got {self.index}"
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`i/N`: shard i (0-based) of N."""
        match = _SPEC.fullmatch(text.strip())
        if match is None:
            raise ShardError(f"shard wants INDEX/COUNT such as 0/3 (0-based), got {text!r}")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def from_hostname(cls, hostname: str, count: str | None) -> Shard:
        """The StatefulSet way: the ordinal suffix of the pod's hostname, of `count`."""
        if not count:
            raise ShardError(f"--shard auto needs {SHARDS_VAR} (the number of replicas)")
        if not count.strip().isdigit():
            raise ShardError(f"{SHARDS_VAR} must be a whole number, got {count!r}")
        match = _ORDINAL.search(hostname)
        if match is None:
            raise ShardError(
                f"--shard auto needs a hostname ending in -ORDINAL "
                f"(a StatefulSet pod such as chatcanary-0), got {hostname!r}"
            )
        return cls(int(match[1]), int(count))

    def owns(self, key: tuple[str, str]) -> bool:
        return self.count == 1 or bucket(key, self.count) == self.index

    def select(self, plan: Mapping[tuple[str, str], V]) -> dict[tuple[str, str], V]:
        """The part of the plan this shard runs."""
        return {key: value for key, value in plan.items() if self.owns(key)}

    def export(self, registry: CollectorRegistry) -> None:
        """`chatcanary_shard_info{shard, shards} 1` — which part of the fleet this is — and
        `chatcanary_shards`, the count as a value, so that an alert can compare how many
        shards report with how many there should be."""
        info = Gauge(
            "chatcanary_shard_info",
            "The shard of the canary runs this exporter owns (0-based) and the shard count.",
            ["shard", "shards"],
            registry=registry,
        )
        info.labels(str(self.index), str(self.count)).set(1)
        Gauge(
            "chatcanary_shards",
            "The number of shards the canary runs are split into (1: not sharded).",
            registry=registry,
        ).set(self.count)


WHOLE = Shard(0, 1)


def resolve(value: str | None, environ: Mapping[str, str]) -> Shard:
    """The shard of `--shard VALUE`: absent for the whole plan, `i/N`, or `auto`."""
    if value is None or not value.strip():
        return WHOLE
    if value.strip() == AUTO:
        hostname = environ.get("HOSTNAME") or socket.gethostname()
        return Shard.from_hostname(hostname, environ.get(SHARDS_VAR))
    return Shard.parse(value)
