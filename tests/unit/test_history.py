"""The history sink: exporter/history.py, fed `ProbeResult`s built by hand."""

from __future__ import annotations

from typing import Any

from exporter.history import CUT, History
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
