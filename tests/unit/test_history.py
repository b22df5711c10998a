"""The memory sinks of exporter/history.py (Recent and its Ring; History), fed
`ProbeResult`s built by hand."""

from __future__ import annotations

from array import array
from typing import Any

from exporter.history import CUT, SPARK_RUNS, History, Recent, Ring, Spark
from exporter.result import Exchange, Outcome, ProbeResult


def result(n: int, outcome: Outcome = Outcome.SUCCESS, **fields: Any) -> ProbeResult:
    values: dict[str, Any] = {
        "run_id": f"r{n}",
        "target": "t",
        "canary": "c",
        "model": "m",
        "started_at": 1000.0 + n,
        "outcome": outcome,
        "duration_seconds": 0.5,
    }
    values.update(fields)
    return ProbeResult(**values)


def ids(results: list[ProbeResult] | tuple[ProbeResult, ...]) -> list[str]:
    return [r.run_id for r in results]


def test_keeps_the_last_runs_per_canary_oldest_first() -> None:
    history = History(size=3, failures=0)
    for n in range(5):
        history.record(result(n))
    assert ids(history.recent(("t", "c"))) == ["r2", "r3", "r4"]
    assert history.latest(("t", "c")) == history.get("r4")
    assert history.get("r1") is None  # aged out and forgotten
    assert len(history) == 3


def test_failures_stay_after_aging_out_of_the_recent_window() -> None:
    history = History(size=2, failures=2)
    history.record(result(0, Outcome.ERROR))
    history.record(result(1, Outcome.CHECK_FAILED))
    history.record(result(2, Outcome.ERROR))
    for n in range(3, 6):
        history.record(result(n))
    # r0 was pushed out of the kept failures by the newer r1 and r2
    assert ids(history.runs(("t", "c"))) == ["r5", "r4", "r2", "r1"]
    assert history.get("r0") is None
    kept = history.get("r1")
    assert kept is not None and history.aged_out(kept)
    latest = history.get("r5")
    assert latest is not None and not history.aged_out(latest)
    assert len(history) == 4


def test_canaries_are_kept_apart() -> None:
    history = History(size=1)
    history.record(result(0))
    history.record(result(1, target="u"))
    assert ids(history.recent(("t", "c"))) == ["r0"]
    assert ids(history.recent(("u", "c"))) == ["r1"]
    assert history.canaries() == [("t", "c"), ("u", "c")]


def test_long_answers_are_cut_so_memory_stays_bounded() -> None:
    history = History(text_chars=100)
    short, long = Exchange(text="ok"), Exchange(text="x" * 5000)
    history.record(result(0, turns=(short, long)))
    kept = history.get("r0")
    assert kept is not None
    assert kept.turns[0] is short
    assert kept.turns[1].text == "x" * 100 + CUT


def test_retain_forgets_removed_canaries() -> None:
    history = History(size=1, failures=1)
    history.record(result(0, Outcome.ERROR))
    history.record(result(1))
    history.record(result(2, target="u"))
    history.retain([("u", "c")])
    assert history.get("r0") is None and history.get("r1") is None
    assert history.runs(("t", "c")) == []
    assert ids(history.recent(("u", "c"))) == ["r2"]


def test_resize_drops_the_oldest_beyond_the_new_bounds() -> None:
    history = History(size=5, failures=5)
    for n in range(3):
        history.record(result(n, Outcome.ERROR))
    for n in range(3, 8):
        history.record(result(n))
    history.resize(size=2, failures=1, text_chars=10)
    assert ids(history.runs(("t", "c"))) == ["r7", "r6", "r2"]
    assert len(history) == 3


def test_a_ring_keeps_the_last_runs_oldest_first_as_the_sparkline_draws_them() -> None:
    ring = Ring(size=3)
    outcomes = [Outcome.SUCCESS, Outcome.ERROR, Outcome.SUCCESS, Outcome.CHECK_FAILED]
    for n, outcome in enumerate(outcomes):
        ring.add(result(n, outcome, duration_seconds=n / 4))
    assert len(ring) == 3
    assert list(ring) == [
        Spark("r1", 1001.0, 0.25, Outcome.ERROR),
        Spark("r2", 1002.0, 0.5, Outcome.SUCCESS),
        Spark("r3", 1003.0, 0.75, Outcome.CHECK_FAILED),
    ]


def test_recent_keeps_the_latest_run_and_a_bounded_ring_per_canary() -> None:
    recent = Recent(text_chars=100)
    for n in range(SPARK_RUNS + 5):
        recent.record(result(n, turns=(Exchange(text="x" * 5000),)))
    recent.record(result(99, target="u"))
    latest = recent.latest(("t", "c"))
    assert latest is not None and latest.run_id == f"r{SPARK_RUNS + 4}"
    assert latest.turns[0].text == "x" * 100 + CUT  # cut as the store keeps it
    spark = recent.spark(("t", "c"))
    assert [s.run_id for s in spark] == [f"r{n}" for n in range(5, SPARK_RUNS + 5)]
    assert [s.run_id for s in recent.spark(("u", "c"))] == ["r99"]
    assert recent.spark(("t", "other")) == [] and recent.latest(("t", "other")) is None
    assert sorted(r.run_id for r in recent.latest_runs()) == [f"r{SPARK_RUNS + 4}", "r99"]


def test_a_ring_keeps_the_runners_ids_as_integers_and_any_other_id_as_given() -> None:
    ring = Ring(size=3)
    hex_ids = ["0123456789abcdef", "00000000000000ff", "ffffffffffffffff"]
    for n, run_id in enumerate(hex_ids):
        ring.add(result(n, run_id=run_id))
    assert isinstance(ring._ids, array)  # 8 bytes each
    assert [s.run_id for s in ring] == hex_ids  # leading zeros and all
    for n, run_id in enumerate(["0123456789ABCDEF", "0x23456789abcdef", "r5"], start=3):
        ring.add(result(n, run_id=run_id))  # none reads back the same from an integer
    assert [s.run_id for s in ring] == ["0123456789ABCDEF", "0x23456789abcdef", "r5"]
    ring.add(result(6, run_id="fedcba9876543210"))
    assert [s.run_id for s in ring] == ["0x23456789abcdef", "r5", "fedcba9876543210"]


def test_recent_holds_no_runs_in_full_beyond_the_latest() -> None:
    """Structure, not size: every run but each canary's latest is a few numbers and an
    id in typed columns, with no ProbeResult and no exchange text."""
    recent = Recent()
    for n in range(3 * SPARK_RUNS):
        recent.record(result(n, turns=(Exchange(prompt="secret prompt", text="an answer"),)))
    ring = recent._rings[("t", "c")]
    columns = [getattr(ring, name) for name in Ring.__slots__ if name != "size"]
    assert all(len(column) == SPARK_RUNS for column in columns)
    assert all(isinstance(c, array) or all(type(v) is str for v in c) for c in columns)
    assert not any("answer" in str(v) or "prompt" in str(v) for c in columns for v in c)
    assert not hasattr(ring, "__dict__")  # slots only: nothing else can hang on it


def test_recent_forgets_removed_canaries() -> None:
    recent = Recent()
    recent.record(result(0))
    recent.record(result(1, target="u"))
    recent.retain([("u", "c")])
    assert recent.latest(("t", "c")) is None and recent.spark(("t", "c")) == []
    assert [r.run_id for r in recent.latest_runs()] == ["r1"]
