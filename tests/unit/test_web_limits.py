"""The token bucket of exporter/web/limits.py, on a stepped clock."""

from __future__ import annotations

import pytest

from exporter.web.limits import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_a_wait_then_refilled() -> None:
    clock = Clock()
    bucket = TokenBucket(per_minute=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(20.0)  # one token every 20 s
    clock.now = 20.0
    assert bucket.take() == 0.0
    assert bucket.take() > 0
    clock.now = 1000.0  # a long pause refills up to the burst, not beyond
    assert [bucket.take() == 0.0 for _ in range(4)] == [True, True, True, False]


def test_a_new_rate_applies_at_once() -> None:
    clock = Clock()
    bucket = TokenBucket(per_minute=1, clock=clock)
    assert bucket.take() == 0.0
    bucket.per_minute = 60
    assert bucket.take() == pytest.approx(1.0)
