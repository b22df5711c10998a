"""The scheduler: one loop per (target, canary), run on an interval with jitter.

- First runs are spread over the interval by a stable hash of the key, so a fleet of
  canaries does not fire at once after a restart.
- A per-target semaphore bounds concurrent runs against one endpoint.
- A 429 pauses every canary of that target: until `Retry-After` when the server gave
  one, else with exponential backoff. So does a `gate` that holds a target (the cost
  guard: a spent token budget).
- A run that overruns its slot is not followed by a burst of catch-up runs.
- The jitter is drawn on a grid of `WAKE_GRID` seconds (never coarser than the jitter
  window, so a run still starts within it): runs due at once wake the process once. At
  100 runs/s each wake-up of an idle process costs more CPU than a probe's own work.
- `reconcile()` diffs by key: unchanged loops keep their schedule.
- Time comes from an injected `Clock`, so tests advance time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import zlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from exporter.config import RunSpec
from exporter.errors import ErrorClass
from exporter.result import ProbeResult
from exporter.runner import guarded

log = logging.getLogger(__name__)

Key = tuple[str, str]
MAX_BACKOFF = 300.0
WAKE_GRID = 0.05  # seconds; see the module docstring


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The event loop's monotonic clock."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Scheduler:
    def __init__(
        self,
        run: Callable[[RunSpec], Awaitable[ProbeResult]],
        on_result: Callable[[ProbeResult], None],
        on_lag: Callable[[float], None] = lambda lag: None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        gate: Callable[[str, float], float | None] = lambda target, now: None,
    ) -> None:
        self._run = run
        self._gate = gate  # (target, now) -> hold the target's runs until then, or None
        self._on_result = on_result
        self._on_lag = on_lag
        self._clock = clock or LoopClock()
        self._rng = rng or random.Random()
        self._specs: dict[Key, RunSpec] = {}
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        self._running: set[Key] = set()
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._concurrency: dict[str, int] = {}
        self._paused_until: dict[str, float] = {}
        self._rate_limited: dict[str, int] = {}
        self._stopping = False

    @property
    def keys(self) -> frozenset[Key]:
        return frozenset(self._tasks)

    def paused_until(self, target: str) -> float | None:
        return self._paused_until.get(target)

    def reconcile(self, specs: Mapping[Key, RunSpec], concurrency: Mapping[str, int]) -> None:
        """Make the running loops match `specs`: stop removed ones, start new ones, and
        hand changed specs to their loops, which use them from their next run on."""
        for key in set(self._tasks) - set(specs):
            self._tasks.pop(key).cancel()
            self._specs.pop(key, None)
        for target, limit in concurrency.items():
            if self._concurrency.get(target) != limit:
                self._concurrency[target] = limit
                self._limits[target] = asyncio.Semaphore(limit)
        self._specs.update(specs)
        for key in specs:
            if key not in self._tasks:
                self._tasks[key] = asyncio.create_task(self._loop(key), name=f"canary {key}")

    async def stop(self, grace: float) -> None:
        """Stop scheduling; runs in flight get up to `grace` seconds to finish."""
        self._stopping = True
        busy = [task for key, task in self._tasks.items() if key in self._running]
        for key, task in self._tasks.items():
            if key not in self._running:
                task.cancel()
        if busy:
            _, late = await asyncio.wait(busy, timeout=grace)
            for task in late:
                task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()

    def _offset(self, key: Key, interval: float) -> float:
        fraction = zlib.crc32("\0".join(key).encode()) / 2**32
        return fraction * interval

    async def _loop(self, key: Key) -> None:
        base = self._clock.now() + self._offset(key, self._specs[key].interval)
        due = base
        while not self._stopping:
            await self._clock.sleep(max(0.0, due - self._clock.now()))
            spec = self._specs[key]
            target = spec.target.name
            paused = self._paused_until.get(target, 0.0)
            held = self._gate(target, self._clock.now())
            if paused > self._clock.now() or held is not None:
                # A backoff or a spent budget is not lag; the cadence resumes from there.
                base = due = max(paused, held or 0.0)
                continue
            self._running.add(key)
            try:
                async with self._limits[target]:
                    self._on_lag(max(0.0, self._clock.now() - due))
                    result = await guarded(self._run, spec)
                self._after(spec, result)
            except Exception:
                log.exception("after a run", extra={"target": target, "canary": key[1]})
            finally:
                self._running.discard(key)
            base += spec.interval
            now = self._clock.now()
            if base < now:
                base = now  # overran its slot: run again now, but never in a burst
            due = self._jittered(base, spec.jitter * spec.interval)

    def _jittered(self, base: float, window: float) -> float:
        """`base` plus a random delay of up to `window` seconds, on the wake grid."""
        due = base + self._rng.uniform(0.0, window)
        grid = min(WAKE_GRID, window)
        if grid <= 0.0:
            return due
        aligned = math.ceil(due / grid) * grid
        # The window holds a grid point, so one of the two points around `due` is in it.
        return aligned if aligned <= base + window else aligned - grid

    def _after(self, spec: RunSpec, result: ProbeResult) -> None:
        target = spec.target.name
        if result.error_class is ErrorClass.RATE_LIMITED:
            strikes = self._rate_limited.get(target, 0) + 1
            self._rate_limited[target] = strikes
            wait = result.last.retry_after
            if wait is None:
                wait = spec.interval * 2 ** (strikes - 1)
            wait = min(MAX_BACKOFF, wait)  # a bogus Retry-After must not silence a target
            self._paused_until[target] = self._clock.now() + wait
            log.warning(
                "rate limited, pausing target",
                extra={"target": target, "pause_seconds": round(wait, 3)},
            )
        else:
            self._rate_limited.pop(target, None)
        try:
            self._on_result(result)
        except Exception:
            log.exception("a sink failed", extra={"target": target})
