"""Scheduler tests on a fake clock: time advances only when the test says so."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections.abc import Callable

import pytest

from exporter.config import RunSpec, parse_config
from exporter.errors import ErrorClass
from exporter.result import Exchange, Outcome, ProbeResult
from exporter.scheduler import Scheduler

# Real seconds a stop may take: generous, as only a hang should fail it.
DEADLINE = 30.0


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.t + seconds, next(self._seq), future))
        await future

    async def advance(self, seconds: float) -> None:
        end = self.t + seconds
        await settle()
        while self._sleepers and self._sleepers[0][0] <= end:
            wake, _, future = heapq.heappop(self._sleepers)
            self.t = max(self.t, wake)
            if not future.done():
                future.set_result(None)
            await settle()
        self.t = end


async def settle() -> None:
    """Yield until no callback is ready: every task is then blocked on the fake clock or on
    something only the test releases. A fixed number of yields stops short of a long
    chain of wake-ups (a run that takes a semaphore, then sleeps) under a slow loop."""
    loop = asyncio.get_running_loop()
    for _ in range(100_000):
        await asyncio.sleep(0)
        # asyncio has no public "idle" test; `_ready` holds the callbacks due this turn.
        if not loop._ready:  # type: ignore[attr-defined]
            return
    raise AssertionError("the event loop never went idle: a task spins on sleep(0)")


def plan(yaml_text: str) -> tuple[dict[tuple[str, str], RunSpec], dict[str, int]]:
    config = parse_config(yaml_text, "test.yaml")
    limits = {t.name: t.concurrency or config.defaults.concurrency for t in config.targets}
    return config.plan(), limits


def fleet(targets: int = 1, canaries: int = 1, interval: str = "10s", **extra: str) -> str:
    lines = [f"defaults: {{interval: {interval}, jitter: 0}}", "targets:"]
    for t in range(targets):
        lines.append(
            f"  - {{name: t{t}, protocol: openai, base_url: 'http://127.0.0.1:9/v1', model: m"
            + "".join(f", {k}: {v}" for k, v in extra.items())
            + "}"
        )
    lines.append("canaries:")
    lines += [f"  - {{name: c{c}, prompt: hi}}" for c in range(canaries)]
    return "\n".join(lines)


def result(spec: RunSpec, error: ErrorClass | None = None, retry_after: float | None = None):
    return ProbeResult(
        run_id="r",
        target=spec.target.name,
        canary=spec.canary.name,
        model=spec.target.model,
        started_at=0.0,
        outcome=Outcome.SUCCESS if error is None else Outcome.ERROR,
        duration_seconds=0.0,
        error_class=error,
        turns=(Exchange(retry_after=retry_after, error_class=error),),
    )


class Recorder:
    """A run function that records start times and takes `duration` fake seconds."""

    def __init__(
        self,
        clock: FakeClock,
        duration: float = 0.0,
        outcome: Callable[[RunSpec], ProbeResult] | None = None,
    ) -> None:
        self.clock = clock
        self.duration = duration
        self.outcome = outcome or (lambda spec: result(spec))
        self.starts: list[tuple[float, tuple[str, str]]] = []
        self.active = 0
        self.peak = 0

    async def __call__(self, spec: RunSpec) -> ProbeResult:
        self.starts.append((self.clock.now(), spec.key))
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.duration:
                await self.clock.sleep(self.duration)
            return self.outcome(spec)
        finally:
            self.active -= 1

    def times(self, key: tuple[str, str]) -> list[float]:
        return [t for t, k in self.starts if k == key]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_first_runs_are_spread_over_the_interval(clock: FakeClock) -> None:
    run = Recorder(clock)
    scheduler = Scheduler(run, on_result=lambda r: None, clock=clock)
    scheduler.reconcile(*plan(fleet(canaries=20)))
    await clock.advance(9.999)
    firsts = sorted(t for t, _ in run.starts)
    assert len(firsts) == 20
    assert all(0 <= t < 10 for t in firsts)
    assert len(set(firsts)) == 20, "start offsets must differ"
    assert firsts[-1] - firsts[0] > 5, "starts should cover most of the interval"
    await scheduler.stop(0)


async def test_runs_repeat_on_the_interval_without_jitter(clock: FakeClock) -> None:
    run = Recorder(clock)
    scheduler = Scheduler(run, on_result=lambda r: None, clock=clock)
    scheduler.reconcile(*plan(fleet()))
    await clock.advance(45)
    times = run.times(("t0", "c0"))
    assert len(times) == 5
    assert [round(b - a, 6) for a, b in itertools.pairwise(times)] == [10.0] * 4
    await scheduler.stop(0)


async def test_jitter_delays_within_its_fraction_of_the_interval(clock: FakeClock) -> None:
    run = Recorder(clock)
    scheduler = Scheduler(run, on_result=lambda r: None, clock=clock, rng=random.Random(1))
    specs, limits = plan(fleet().replace("jitter: 0", "jitter: 0.5"))
    scheduler.reconcile(specs, limits)
    await clock.advance(200)
    times = run.times(("t0", "c0"))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(5 - 1e-9 <= g <= 15 + 1e-9 for g in gaps), gaps
    assert len({round(g, 6) for g in gaps}) > 3, "jitter should vary the gaps"
    await scheduler.stop(0)


def on_grid(t: float, grid: float) -> bool:
    return abs(t / grid - round(t / grid)) < 1e-6


async def test_jittered_runs_start_together_on_a_50ms_grid(clock: FakeClock) -> None:
    # 40 canaries at 1 s with 10% jitter: each run after the first starts on a multiple of
    # 50 ms, within its jitter window, so the 40 runs a second share at most 20 instants.
    run = Recorder(clock)
    scheduler = Scheduler(run, on_result=lambda r: None, clock=clock, rng=random.Random(7))
    specs, limits = plan(fleet(canaries=40, interval="1s").replace("jitter: 0", "jitter: 0.1"))
    scheduler.reconcile(specs, limits)
    await clock.advance(1.0)  # the first runs, at their spread offsets
    firsts = {k: t for t, k in run.starts}
    del run.starts[:]
    await clock.advance(5.0)
    later = [t for t, _ in run.starts]
    assert len(later) >= 40 * 4
    assert all(on_grid(t, 0.05) for t in later), later
    for key, first in firsts.items():
        for n, t in enumerate(run.times(key), start=1):
            assert first + n - 1e-9 <= t <= first + n + 0.1 + 1e-9, (key, n, t)
    # 5 s past t=1 hold at most 101 points of a 50 ms grid
    assert len({round(t, 6) for t in later}) <= 101
    await scheduler.stop(0)


async def test_a_jitter_window_under_the_grid_is_its_own_grid(clock: FakeClock) -> None:
    # 200 ms with 10% jitter: a 20 ms window, so runs land on 20 ms steps inside it.
    run = Recorder(clock)
    scheduler = Scheduler(run, on_result=lambda r: None, clock=clock, rng=random.Random(3))
    specs, limits = plan(fleet(interval="200ms").replace("jitter: 0", "jitter: 0.1"))
    scheduler.reconcile(specs, limits)
    await clock.advance(4.0)
    times = run.times(("t0", "c0"))
    assert len(times) >= 15
    assert all(on_grid(t, 0.02) for t in times[1:]), times
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0.18 - 1e-9 <= g <= 0.22 + 1e-9 for g in gaps), gaps
    await scheduler.stop(0)


async def test_per_target_concurrency_is_bounded_and_waiting_counts_as_lag(
    clock: FakeClock,
) -> None:
    run = Recorder(clock, duration=8.0)
    lags: list[float] = []
    scheduler = Scheduler(run, on_result=lambda r: None, on_lag=lags.append, clock=clock)
    scheduler.reconcile(*plan(fleet(canaries=6, concurrency="2")))
    await clock.advance(30)
    assert run.peak == 2
    assert max(lags) > 1.0, "runs that waited for a slot started late"
    await scheduler.stop(0)


async def test_retry_after_pauses_only_the_rate_limited_target(clock: FakeClock) -> None:
    def outcome(spec: RunSpec) -> ProbeResult:
        if spec.target.name == "t0":
            return result(spec, ErrorClass.RATE_LIMITED, retry_after=35.0)
        return result(spec)

    run = Recorder(clock, outcome=outcome)
    scheduler = Scheduler(run, on_result=lambda r: None, clock=clock)
    scheduler.reconcile(*plan(fleet(targets=2)))
    await clock.advance(100)
    limited = run.times(("t0", "c0"))
    healthy = run.times(("t1", "c0"))
    assert all(b - a >= 35 - 1e-9 for a, b in itertools.pairwise(limited)), limited
    assert len(healthy) == 10
    assert len(limited) == 3
    await scheduler.stop(0)


async def test_rate_limit_without_retry_after_backs_off_exponentially(clock: FakeClock) -> None:
    run = Recorder(clock, outcome=lambda spec: result(spec, ErrorClass.RATE_LIMITED))
    scheduler = Scheduler(run, on_result=lambda r: None, clock=clock)
    scheduler.reconcile(*plan(fleet()))
    await clock.advance(200)
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(run.times(("t0", "c0")))]
    assert gaps[:4] == [10.0, 20.0, 40.0, 80.0]
    await scheduler.stop(0)


async def test_overrunning_run_does_not_burst(clock: FakeClock) -> None:
    run = Recorder(clock, duration=25.0)
    scheduler = Scheduler(run, on_result=lambda r: None, clock=clock)
    scheduler.reconcile(*plan(fleet()))
    await clock.advance(100)
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(run.times(("t0", "c0")))]
    assert gaps and all(g == 25.0 for g in gaps), gaps
    await scheduler.stop(0)


async def test_reconcile_adds_removes_and_updates_by_key(clock: FakeClock) -> None:
    run = Recorder(clock)
    scheduler = Scheduler(run, on_result=lambda r: None, clock=clock)
    scheduler.reconcile(*plan(fleet(canaries=2)))
    await clock.advance(20)
    assert scheduler.keys == {("t0", "c0"), ("t0", "c1")}
    kept_before = len(run.times(("t0", "c0")))

    scheduler.reconcile(*plan(fleet(canaries=1, interval="5s").replace("c0", "c0")))
    await clock.advance(20)
    assert scheduler.keys == {("t0", "c0")}
    removed_runs = run.times(("t0", "c1"))
    assert all(t < 20 for t in removed_runs), "a removed canary must not run again"
    kept = run.times(("t0", "c0"))
    assert len(kept) - kept_before >= 3, "the kept loop picks up the new 5 s interval"
    await scheduler.stop(0)


async def test_stop_lets_in_flight_runs_finish_within_grace(clock: FakeClock) -> None:
    run = Recorder(clock, duration=3.0)
    seen: list[ProbeResult] = []
    scheduler = Scheduler(run, on_result=seen.append, clock=clock)
    scheduler.reconcile(*plan(fleet()))
    first = run_time = 0.0
    while not run.starts:
        await clock.advance(0.5)
    first = run.starts[0][0]
    assert not seen
    stopping = asyncio.create_task(scheduler.stop(grace=60))
    await clock.advance(3)
    await asyncio.wait_for(stopping, DEADLINE)
    assert len(seen) == 1, "the in-flight run completed and was recorded"
    run_time = clock.now() - first
    assert run_time >= 3
    assert scheduler.keys == frozenset()


async def test_stop_cancels_runs_that_outlast_the_grace(clock: FakeClock) -> None:
    run = Recorder(clock, duration=1000.0)
    seen: list[ProbeResult] = []
    scheduler = Scheduler(run, on_result=seen.append, clock=clock)
    scheduler.reconcile(*plan(fleet()))
    while not run.starts:
        await clock.advance(0.5)
    # The grace period is real time: a hung run is cancelled once it passes.
    await asyncio.wait_for(scheduler.stop(grace=0.05), DEADLINE)
    assert seen == []
    assert run.active == 0


async def test_a_failing_run_or_sink_does_not_stop_the_loop(clock: FakeClock) -> None:
    calls = 0

    async def flaky(spec: RunSpec) -> ProbeResult:
        nonlocal calls
        calls += 1
        if calls % 2:
            raise RuntimeError("boom")
        return result(spec)

    def bad_sink(r: ProbeResult) -> None:
        raise ValueError("sink broke")

    scheduler = Scheduler(flaky, on_result=bad_sink, clock=clock)
    scheduler.reconcile(*plan(fleet()))
    await clock.advance(50)
    assert calls == 5
    await scheduler.stop(0)


async def test_a_run_that_raises_is_recorded_as_an_internal_error(clock: FakeClock) -> None:
    seen: list[ProbeResult] = []

    async def crashing(spec: RunSpec) -> ProbeResult:
        raise RecursionError("maximum recursion depth exceeded")

    scheduler = Scheduler(crashing, on_result=seen.append, clock=clock)
    scheduler.reconcile(*plan(fleet()))
    await clock.advance(20)
    await scheduler.stop(0)
    assert len(seen) == 2
    assert {(r.target, r.canary, r.outcome, r.error_class) for r in seen} == {
        ("t0", "c0", Outcome.ERROR, ErrorClass.INTERNAL)
    }
    detail = "internal error: RecursionError: maximum recursion depth exceeded"
    assert seen[0].error_detail == detail


async def test_a_gate_holds_only_its_target_until_the_time_it_names(clock: FakeClock) -> None:
    """The cost guard's hook: a held target's canaries wait, without counting lag."""
    lags: list[float] = []

    def gate(target: str, now: float) -> float | None:
        return 50.0 if target == "t0" and now < 50.0 else None

    run = Recorder(clock)
    scheduler = Scheduler(run, lambda r: None, on_lag=lags.append, clock=clock, gate=gate)
    scheduler.reconcile(*plan(fleet(targets=2)))
    await clock.advance(75)
    held, free = run.times(("t0", "c0")), run.times(("t1", "c0"))
    assert held == [50.0, 60.0, 70.0], "held until 50, then on its interval, no double run"
    assert [round(b - a, 6) for a, b in itertools.pairwise(free)] == [10.0] * (len(free) - 1)
    assert free[0] < 10.0
    assert max(lags) == 0.0, "waiting for a budget is not scheduling lag"
    await scheduler.stop(0)


async def test_after_a_rate_limit_pause_the_cadence_resumes_without_a_double_run(
    clock: FakeClock,
) -> None:
    """Regression: the first run after a pause used to be followed at once by another."""
    limited = iter([True])

    def outcome(spec: RunSpec) -> ProbeResult:
        if next(limited, False):
            return result(spec, ErrorClass.RATE_LIMITED, retry_after=35.0)
        return result(spec)

    run = Recorder(clock, outcome=outcome)
    scheduler = Scheduler(run, on_result=lambda r: None, clock=clock)
    scheduler.reconcile(*plan(fleet()))
    await clock.advance(80)
    first, *rest = run.times(("t0", "c0"))
    assert [round(t - first, 6) for t in rest] == [35.0, 45.0, 55.0, 65.0, 75.0][: len(rest)]
    assert len(rest) >= 4
    await scheduler.stop(0)
