"""Recent runs per canary, for the operator page and the runs API: a sink.

Each (target, canary) keeps its last `size` runs and, apart from those, its last
`failures` failed runs, so a failure stays visible after healthy runs push it out of
the recent window (blackbox_exporter's habit). Answer texts are cut to `text_chars`
per turn, so memory stays bounded by the number of canaries times these sizes. Beside a
store, which keeps every run, it holds only the last SPARK_RUNS runs per canary.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import replace

from exporter.result import Outcome, ProbeResult

Key = tuple[str, str]
CUT = " […]"
SPARK_RUNS = 30  # the recent runs the grid's sparkline draws: all memory keeps beside a store


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
