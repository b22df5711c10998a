"""Cost guard: a token budget per target, per rolling hour and per rolling day.

Every finished run spends the tokens its answers reported (input + output), whoever started
it. Before a run starts, `blocked_until()` is asked: while a target has spent its budget,
its scheduled canaries wait until enough of the window's spending has aged out, and a run
asked for from the web is refused with `BudgetSpent`. A run already in flight finishes, so
a window can overshoot by the runs in flight (at most `concurrency` scheduled runs and one
web run per canary, of `max_tokens` each). Spending is kept in one-minute buckets: at most
1,440 per target.

Exposed on the registry as `chatcanary_budget_exhausted{target}` (1 while paused),
`chatcanary_budget_used_tokens{target,window}` and `chatcanary_budget_limit_tokens`.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.config import Budget

log = logging.getLogger(__name__)

BUCKET = 60.0  # seconds of spending per bucket
WINDOWS = (("hour", 3600.0, "tokens_per_hour"), ("day", 86400.0, "tokens_per_day"))


class BudgetSpent(Exception):
    """A run not started because its target's token budget is spent."""

    def __init__(self, target: str, wait: float) -> None:
        self.target = target
        self.wait = max(1, math.ceil(wait))  # whole seconds, as Retry-After takes them
        super().__init__(
            f"the token budget of target {target!r} is spent; its runs resume in {self.wait}s"
        )


class Ledger:
    """One target's spending in one-minute buckets, oldest first."""

    def __init__(self) -> None:
        self.buckets: deque[list[float]] = deque()  # [bucket start, tokens]

    def spend(self, tokens: int, now: float) -> None:
        start = now - now % BUCKET
        if self.buckets and self.buckets[-1][0] == start:
            self.buckets[-1][1] += tokens
        else:
            self.buckets.append([start, float(tokens)])
        while self.buckets and self.buckets[0][0] + BUCKET <= now - WINDOWS[-1][1]:
            self.buckets.popleft()

    def used(self, window: float, now: float) -> int:
        return int(sum(t for start, t in self.buckets if start + BUCKET > now - window))

    def free_at(self, window: float, limit: int, now: float) -> float | None:
        """When spending in the window falls below `limit` again; None if it already is."""
        live = [(start, t) for start, t in self.buckets if start + BUCKET > now - window]
        used = sum(t for _, t in live)
        if used < limit:
            return None
        for start, tokens in live:  # oldest first: each bucket leaves the window in turn
            used -= tokens
            if used < limit:
                return start + BUCKET + window
        return now  # not reached: a limit is positive, so an empty window is under it


class Budgets(Collector):
    """The budgets of every target that has one, and what each has spent."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._limits: dict[str, Budget] = {}
        self._ledgers: dict[str, Ledger] = {}
        self._blocked: set[str] = set()

    def configure(self, limits: Mapping[str, Budget]) -> None:
        """Apply a (re)loaded config: spending of targets that stay is kept."""
        self._limits = dict(limits)
        for gone in set(self._ledgers) - set(limits):
            del self._ledgers[gone]
        self._blocked &= set(limits)

    def spend(self, target: str, tokens: int) -> None:
        if target in self._limits and tokens > 0:
            self._ledgers.setdefault(target, Ledger()).spend(tokens, self._now())

    def blocked_until(self, target: str, now: float) -> float | None:
        """The time until which `target`'s canaries must wait, or None to run now."""
        budget, ledger = self._limits.get(target), self._ledgers.get(target)
        until = None
        if budget is not None and ledger is not None:
            for _, window, field in WINDOWS:
                limit = getattr(budget, field)
                if limit is not None:
                    free = ledger.free_at(window, limit, now)
                    if free is not None:
                        until = free if until is None else max(until, free)
        self._note(target, until)
        return until

    def _note(self, target: str, until: float | None) -> None:
        if until is not None and target not in self._blocked:
            self._blocked.add(target)
            log.warning(
                "token budget spent, pausing target",
                extra={"target": target, "pause_seconds": round(until - self._now(), 1)},
            )
        elif until is None and target in self._blocked:
            self._blocked.discard(target)
            log.info("token budget available again", extra={"target": target})

    def collect(self) -> Iterator[Metric]:
        exhausted = GaugeMetricFamily(
            "chatcanary_budget_exhausted",
            "Whether the target's token budget is spent and its canaries are paused.",
            labels=["target"],
        )
        used = GaugeMetricFamily(
            "chatcanary_budget_used_tokens",
            "Tokens spent by the target's canaries in the rolling window.",
            labels=["target", "window"],
        )
        limit = GaugeMetricFamily(
            "chatcanary_budget_limit_tokens",
            "The target's token budget for the rolling window.",
            labels=["target", "window"],
        )
        now = self._now()
        for target, budget in sorted(self._limits.items()):
            ledger = self._ledgers.get(target, Ledger())
            blocked = self.blocked_until(target, now) is not None
            exhausted.add_metric([target], 1.0 if blocked else 0.0)
            for name, window, field in WINDOWS:
                value = getattr(budget, field)
                if value is not None:
                    used.add_metric([target, name], ledger.used(window, now))
                    limit.add_metric([target, name], value)
        yield from (exhausted, used, limit)
