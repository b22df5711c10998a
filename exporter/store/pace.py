"""The writer thread's pauses. While the writer works, the event loop's thread that wakes
waits: for the GIL while the writer turns runs into rows, and for a CPU while SQLite
steps a statement (the GIL let go): Linux places a thread woken by the writer on the
writer's CPU and, here (250 Hz, no kernel preemption), runs it at the next tick, up to
4 ms later. Letting go alone (`sleep(0)`) rarely hands over: the writer takes the GIL back
before the woken thread runs. So the writer sleeps for real after every WORK seconds of
work, between rows and between statements (bench/notes.md, Store), unless it is behind:
then it writes at full speed until it has caught up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

WORK = 0.0003  # seconds of work between two pauses
PAUSE = 0.0003  # seconds a pause (0.2 ms was not enough for the woken thread to run)


def never() -> bool:
    return False


class Pace:
    """Call after each piece of work: sleeps `pause` once `work` seconds have passed
    since the last pause (or since it was made), unless `behind()` says to hurry."""

    def __init__(
        self,
        work: float = WORK,
        pause: float = PAUSE,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
        behind: Callable[[], bool] = never,
    ) -> None:
        self.work, self.pause, self.behind = work, pause, behind
        self._clock, self._sleep = clock, sleep
        self._since = clock()

    def __call__(self) -> None:
        if self._clock() - self._since >= self.work:
            if not self.behind():
                self._sleep(self.pause)
            self._since = self._clock()


RELEASE = 25  # objects freed between two calls of the pace


def release(items: list[Any], pace: Callable[[], None]) -> None:
    """Empty `items` a few at a time, calling `pace` in between. Freeing a batch's runs
    (or rows) at once is one C call that holds the GIL for all of it, about 1 ms for 500
    runs, while the event loop's thread may be waiting for it."""
    while items:
        del items[-RELEASE:]
        pace()
