"""Timing checks that hold on a loaded machine.

Load only ever delays: a token the script sends at t arrives no earlier than t (the
client starts its clock before the server starts the script's), and later by however long
the machine keeps the event loop waiting. So a scripted time is a hard lower bound, and the
upper bound allows `LATE` seconds more, far above the tens of milliseconds a busy two-core
machine delays a loop. How close to the script the times land is bench.timing's to
measure (docs/BENCHMARKS.md), not the tests'.
"""

from __future__ import annotations

from collections.abc import Sequence

LATE = 1.0


def assert_paced(seen: Sequence[float], due: Sequence[float]) -> None:
    """Each of `seen` (seconds since the request) is in [its `due` time, due + LATE)."""
    assert len(seen) == len(due), (seen, due)
    for at, scripted in zip(seen, due, strict=True):
        assert scripted <= at < scripted + LATE, f"{at:.3f} s, scripted {scripted} s: {seen}"
