"""Sinks consume `ProbeResult`s. A sink's `record` must be quick and must not raise:
it runs on the scheduler's loop after every canary run."""

from __future__ import annotations

from typing import Protocol

from exporter.result import ProbeResult


class Sink(Protocol):
    def record(self, result: ProbeResult) -> None: ...
