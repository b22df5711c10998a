"""What memory keeps of the runs, for the operator page and the APIs: two sinks.

`Recent`, kept by every service: per (target, canary) the latest run (its answer texts
cut to `text_chars` per turn) and a `Ring` of the last SPARK_RUNS run summaries for the
grid's sparkline, held as columns (typed arrays, no ProbeResult, no text). Its size is
bounded by the number of canaries, whatever the history: the store keeps the runs.

`History`, kept only by a service without a store (memory is its only history then):
each (target, canary)'s last `size` runs in full and, apart from those, its last
`failures` failed runs, so a failure stays visible after healthy runs push it out of the
recent window (blackbox_exporter's habit).
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from exporter.result import Outcome, ProbeResult

Key = tuple[str, str]
CUT = " […]"
SPARK_RUNS = 30  # the recent runs the grid's sparkline draws
OUTCOMES = tuple(Outcome)  # a ring stores an outcome as its index here


@dataclass(frozen=True, slots=True)
class Spark:
    """One run as the sparkline draws it."""

    run_id: str
    started_at: float
    duration_seconds: float
    outcome: Outcome


class Ring:
    """The summaries of one canary's last `size` runs, oldest first, as columns. Run ids
    as the runner makes them (16 hex digits) are kept as 8-byte integers, a quarter of a
    string's size; a ring given an id of another form keeps strings from then on."""

    __slots__ = ("_durations", "_ids", "_outcomes", "_started", "size")

    def __init__(self, size: int = SPARK_RUNS) -> None:
        self.size = size
        self._ids: array[int] | list[str] = array("Q")
        self._started = array("d")
        self._durations = array("d")
        self._outcomes = array("B")

    def add(self, result: ProbeResult) -> None:
        self._add_id(result.run_id)
        self._started.append(result.started_at)
        self._durations.append(result.duration_seconds)
        self._outcomes.append(OUTCOMES.index(result.outcome))
        if len(self._ids) > self.size:
            del self._ids[0], self._started[0], self._durations[0], self._outcomes[0]

    def _add_id(self, run_id: str) -> None:
        if isinstance(self._ids, array):
            packed = _packed(run_id)
            if packed is not None:
                self._ids.append(packed)
                return
            self._ids = list(self._run_ids())
        self._ids.append(run_id)

    def _run_ids(self) -> Iterator[str]:
        if isinstance(self._ids, array):
            return (f"{n:016x}" for n in self._ids)
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[Spark]:
        for run_id, started, duration, outcome in zip(
            self._run_ids(), self._started, self._durations, self._outcomes, strict=True
        ):
            yield Spark(run_id, started, duration, OUTCOMES[outcome])


def _packed(run_id: str) -> int | None:
    """The id as an integer when it reads back the same: 16 lowercase hex digits."""
    if len(run_id) != 16:
        return None
    try:
        packed = int(run_id, 16)
    except ValueError:
        return None
    return packed if f"{packed:016x}" == run_id else None


class Recent:
    """The latest run and the sparkline ring of every (target, canary)."""

    def __init__(self, text_chars: int = 4096, spark: int = SPARK_RUNS) -> None:
        self.text_chars = text_chars
        self.spark_runs = spark
        self._latest: dict[Key, ProbeResult] = {}
        self._rings: dict[Key, Ring] = {}

    def record(self, result: ProbeResult) -> None:
        key = (result.target, result.canary)
        self._latest[key] = trim(result, self.text_chars)
        ring = self._rings.get(key)
        if ring is None:
            ring = self._rings[key] = Ring(self.spark_runs)
        ring.add(result)

    def latest(self, key: Key) -> ProbeResult | None:
        return self._latest.get(key)

    def spark(self, key: Key) -> list[Spark]:
        """The sparkline's runs, oldest first."""
        ring = self._rings.get(key)
        return [] if ring is None else list(ring)

    def latest_runs(self) -> list[ProbeResult]:
        """The latest run of every canary."""
        return list(self._latest.values())

    def retain(self, keys: Iterable[Key]) -> None:
        """Forget canaries no longer configured."""
        wanted = set(keys)
        for key in set(self._latest) - wanted:
            del self._latest[key], self._rings[key]

    def resize(self, text_chars: int) -> None:
        """A reload's answer text bound: it applies to the runs recorded from now."""
        self.text_chars = text_chars


class History:
    def __init__(self, size: int = 50, failures: int = 10, text_chars: int = 4096) -> None:
        self.size = size
        self.failures = failures
        self.text_chars = text_chars
        self._recent: dict[Key, deque[ProbeResult]] = {}
        self._failed: dict[Key, deque[ProbeResult]] = {}
        self._index: dict[str, ProbeResult] = {}

    def record(self, result: ProbeResult) -> None:
        result = self._trimmed(result)
        key = (result.target, result.canary)
        recent = self._recent.setdefault(key, deque())
        recent.append(result)
        self._index[result.run_id] = result
        if len(recent) > self.size:
            old = recent.popleft()
            if old.outcome is not Outcome.SUCCESS and self.failures:
                self._keep_failure(key, old)
            else:
                self._index.pop(old.run_id, None)

    def _keep_failure(self, key: Key, result: ProbeResult) -> None:
        failed = self._failed.setdefault(key, deque())
        failed.append(result)
        if len(failed) > self.failures:
            self._index.pop(failed.popleft().run_id, None)

    def _trimmed(self, result: ProbeResult) -> ProbeResult:
        return trim(result, self.text_chars)

    def get(self, run_id: str) -> ProbeResult | None:
        return self._index.get(run_id)

    def latest(self, key: Key) -> ProbeResult | None:
        recent = self._recent.get(key)
        return recent[-1] if recent else None

    def recent(self, key: Key) -> tuple[ProbeResult, ...]:
        """The recent window, oldest first (without the aged-out failures)."""
        return tuple(self._recent.get(key, ()))

    def runs(self, key: Key) -> list[ProbeResult]:
        """Every kept run of one canary, newest first, aged-out failures included."""
        kept = [*self._failed.get(key, ()), *self._recent.get(key, ())]
        return sorted(kept, key=lambda r: r.started_at, reverse=True)

    def aged_out(self, result: ProbeResult) -> bool:
        """Whether this is a failure kept after leaving the recent window."""
        recent = self._recent.get((result.target, result.canary), ())
        return not any(r is result for r in recent)

    def canaries(self) -> list[Key]:
        """The (target, canary) pairs with kept runs."""
        return list(self._recent)

    def retain(self, keys: Iterable[Key]) -> None:
        """Forget canaries no longer configured."""
        wanted = set(keys)
        for key in set(self._recent) - wanted:
            for result in (*self._recent.pop(key), *self._failed.pop(key, ())):
                self._index.pop(result.run_id, None)

    def resize(self, size: int, failures: int, text_chars: int) -> None:
        """Apply new bounds (a reload); runs beyond them are dropped, oldest first."""
        self.size, self.failures, self.text_chars = size, failures, text_chars
        for key, recent in self._recent.items():
            while len(recent) > size:
                self._index.pop(recent.popleft().run_id, None)
            failed = self._failed.get(key, deque())
            while len(failed) > failures:
                self._index.pop(failed.popleft().run_id, None)

    def __len__(self) -> int:
        return len(self._index)


def trim(result: ProbeResult, limit: int) -> ProbeResult:
    """The run with each turn's answer text cut to `limit` characters (marked with CUT)."""
    if all(len(t.text) <= limit for t in result.turns):
        return result
    turns = tuple(
        replace(t, text=t.text[:limit] + CUT) if len(t.text) > limit else t for t in result.turns
    )
    return replace(result, turns=turns)
