"""Two small sinks: a structured log line per run, and the latest result per canary."""

from __future__ import annotations

import logging

from exporter.result import Outcome, ProbeResult

log = logging.getLogger("exporter.runs")


class LogSink:
    """Failures at info, successes at debug: the log shows trouble, not the heartbeat."""

    def record(self, result: ProbeResult) -> None:
        level = logging.DEBUG if result.outcome is Outcome.SUCCESS else logging.INFO
        if not log.isEnabledFor(level):
            return
        fields: dict[str, object] = {
            "target": result.target,
            "canary": result.canary,
            "outcome": str(result.outcome),
            "duration_seconds": round(result.duration_seconds, 4),
        }
        if result.ttft_seconds is not None:
            fields["ttft_seconds"] = round(result.ttft_seconds, 4)
        if result.error_class is not None:
            fields["error_class"] = str(result.error_class)
            fields["detail"] = result.error_detail
        if result.failed_checks:
            fields["failed_checks"] = ",".join(result.failed_checks)
        log.log(level, "canary run", extra=fields)


class LatestSink:
    """The last result of every (target, canary), for summaries."""

    def __init__(self) -> None:
        self.results: dict[tuple[str, str], ProbeResult] = {}
        self.runs: dict[tuple[str, str], int] = {}

    def record(self, result: ProbeResult) -> None:
        key = (result.target, result.canary)
        self.results[key] = result
        self.runs[key] = self.runs.get(key, 0) + 1
