"""The `Report` and `build`: the store's rows (and Prometheus's) in, a report out."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from exporter import __version__
from exporter.config import Config
from exporter.report import changes, findings, gather, prom, summary, themes
from exporter.report.changes import ChangeImpact
from exporter.report.findings import Finding
from exporter.report.summary import TargetSummary, Traffic
from exporter.report.themes import Theme
from exporter.store.rows import StoredFeedback

if TYPE_CHECKING:
    from exporter.store import Store

__all__ = ["Report", "build"]


@dataclass(frozen=True, slots=True)
class Report:
    generated_at: float
    start: float
    end: float
    version: str
    targets: tuple[TargetSummary, ...]
    traffic: tuple[Traffic, ...]  # real traffic per proxy
    changes: tuple[ChangeImpact, ...]
    feedback: tuple[StoredFeedback, ...]
    themes: tuple[Theme, ...]
    findings: tuple[Finding, ...]
    notices: tuple[str, ...]  # what the report could not read, and why


async def build(
    store: Store,
    config: Config,
    since: float,
    prometheus: str | None = None,
    now: float | None = None,
) -> Report:
    """Raises exporter.store.StoreError when the store cannot be read. Prometheus failing
    is a notice in the report, not an error."""
    end = time.time() if now is None else now
    start = end - since
    facts = await gather.gather(store, start, end)
    notices = []
    if facts.runs_truncated_before is not None:
        notices.append(
            f"only the newest {len(facts.runs)} runs were read; runs before "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(facts.runs_truncated_before))} "
            "are not counted"
        )
    counts = None
    traffic_totals = None
    if prometheus is not None:
        covered = {(r.target, r.started_at // prom.DAY * prom.DAY) for r in facts.runs}
        wanted = [
            d
            for d in summary.day_starts(start, end)
            if any((t.name, d) not in covered for t in config.targets)
        ]
        try:
            counts = await prom.daily(prometheus, wanted)
            if {p.name for p in config.proxies} - set(facts.traffic):
                traffic_totals = await prom.traffic(prometheus, start, end)
        except prom.PrometheusError as exc:
            notices.append(str(exc))
    targets = summary.summarise(config, facts, counts)
    proxies = summary.traffic(facts, traffic_totals)
    impacts = changes.impacts(facts)
    found = themes.themes(facts.feedback)
    ranked = findings.rank(
        findings.from_changes(impacts)
        + findings.from_summaries(targets)
        + findings.from_traffic(targets, proxies)
        + findings.from_themes(found)
    )
    return Report(
        time.time() if now is None else now,
        start,
        end,
        __version__,
        tuple(targets),
        tuple(proxies),
        tuple(impacts),
        facts.feedback,
        tuple(found),
        tuple(ranked),
        tuple(notices),
    )
