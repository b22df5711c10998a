"""The writer's pauses (exporter.store.pace) on a clock the test moves."""

from __future__ import annotations

import weakref

from exporter.store.pace import RELEASE, Pace, release


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_it_pauses_once_each_time_the_work_reaches_its_length() -> None:
    clock = Clock()
    pace = Pace(work=0.003, pause=0.001, clock=clock, sleep=clock.sleep)
    for _ in range(10):  # ten pieces of 1 ms: a pause after the 3rd, 6th and 9th
        clock.now += 0.001
        pace()
    assert clock.slept == [0.001] * 3


def test_the_work_counts_from_when_it_was_made() -> None:
    clock = Clock()
    clock.now += 10.0  # before it was made: not work
    pace = Pace(work=0.003, pause=0.001, clock=clock, sleep=clock.sleep)
    clock.now += 0.002
    pace()
    assert clock.slept == []
    clock.now += 0.001
    pace()
    assert clock.slept == [0.001]


def test_it_does_not_pause_while_behind_and_counts_the_work_anew() -> None:
    clock = Clock()
    behind = [True]
    pace = Pace(work=0.003, pause=0.001, clock=clock, sleep=clock.sleep, behind=lambda: behind[0])
    for _ in range(6):  # behind: no pause at the 3rd and 6th
        clock.now += 0.001
        pace()
    assert clock.slept == []
    behind[0] = False
    for _ in range(3):  # caught up: 3 ms of work, then a pause
        clock.now += 0.001
        pace()
    assert clock.slept == [0.001]


class Item:
    pass


def test_release_frees_a_few_items_between_paces_and_empties_the_list() -> None:
    items = [Item() for _ in range(2 * RELEASE + 10)]
    alive = [weakref.ref(i) for i in items]
    seen: list[int] = []
    release(items, lambda: seen.append(sum(r() is not None for r in alive)))
    assert items == []
    # freed from the end, RELEASE at a time: the pace sees fewer left each call
    assert seen == [RELEASE + 10, 10, 0]


def test_release_of_nothing_never_paces() -> None:
    calls: list[None] = []
    release([], lambda: calls.append(None))
    assert calls == []
