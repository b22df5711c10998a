"""Per-target figures over the window: SLO attainment, rates, percentiles by day, error
classes, refusal rates (canaries' and real traffic's) and the worst canaries.

Days are UTC calendar days. A day's figures come from the store's run summaries when it
holds runs of that day, else from Prometheus when it was asked and holds the series, else
the day is marked `none`: nothing is guessed.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from exporter.config import SLO, Config
from exporter.report.gather import Facts, RunPoint
from exporter.report.prom import DAY, DayCounts

STORE, PROMETHEUS, NONE = "store", "prometheus", "none"
WORST_SHOWN = 5
EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class Ratio:
    hits: int
    n: int

    @property
    def rate(self) -> float | None:
        return self.hits / self.n if self.n else None


@dataclass(frozen=True, slots=True)
class Day:
    start: float
    source: str  # store | prometheus | none
    runs: int
    error_rate: float | None
    over_refusal: float | None
    ttft_p50: float | None
    ttft_p95: float | None
    duration_p95: float | None


@dataclass(frozen=True, slots=True)
class SLOStatus:
    name: str
    sli: str
    objective: float  # percent
    good: int
    total: int
    attainment: float | None  # percent of good events
    budget_left: float | None  # fraction of the error budget left; negative: overspent
    note: str = ""


@dataclass(frozen=True, slots=True)
class CanaryRow:
    canary: str
    runs: int
    failures: int
    failure_rate: float
    examples: tuple[str, ...]  # failed run ids, newest first


@dataclass(frozen=True, slots=True)
class TargetSummary:
    target: str
    runs: int
    errors: Ratio
    check_failures: Ratio  # among runs that got an answer
    over_refusal: Ratio  # refused, of answers to canaries that expect an answer
    under_refusal: Ratio  # answered, of canaries that expect a refusal
    ttft_p50: float | None
    ttft_p95: float | None
    duration_p95: float | None
    error_classes: tuple[tuple[str, int], ...]  # most frequent first
    slos: tuple[SLOStatus, ...]
    days: tuple[Day, ...]
    worst: tuple[CanaryRow, ...]


@dataclass(frozen=True, slots=True)
class Traffic:
    """One proxy's real traffic over the window: answers refused of those judged."""

    proxy: str
    refusals: Ratio
    source: str  # store (captured exchanges) | prometheus (chatcanary_traffic_* counters)


def traffic(
    facts: Facts, prometheus: dict[str, tuple[float, float]] | None = None
) -> list[Traffic]:
    """Each proxy's refusal rate: from the captured exchanges, else from Prometheus."""
    out = {p: Traffic(p, Ratio(*counts), STORE) for p, counts in facts.traffic.items()}
    for proxy, (refused, judged) in (prometheus or {}).items():
        if proxy not in out and judged >= 1:
            out[proxy] = Traffic(proxy, Ratio(round(refused), round(judged)), PROMETHEUS)
    return [out[p] for p in sorted(out)]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of the values; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def day_starts(start: float, end: float) -> list[float]:
    first = math.floor(start / DAY) * DAY
    return [first + i * DAY for i in range(math.ceil((end - first) / DAY))]


def day_ranges(days: Sequence[float]) -> str:
    """Day starts as dates, consecutive days joined: "2026-11-03 to 2026-11-25, 2026-12-03"."""
    spans: list[list[float]] = []
    for day in sorted(days):
        if spans and day - spans[-1][1] == DAY:
            spans[-1][1] = day
        else:
            spans.append([day, day])

    def show(day: float) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(day))

    return ", ".join(show(a) if a == b else f"{show(a)} to {show(b)}" for a, b in spans)


def rates(runs: Iterable[RunPoint]) -> dict[str, Ratio]:
    """The rate counts of a set of runs: errors, check failures, over- and under-refusal."""
    n = errors = answered = check_failed = 0
    over = over_n = under = under_n = 0
    for r in runs:
        n += 1
        if r.outcome == "error":
            errors += 1
            continue
        answered += 1
        check_failed += r.outcome == "check_failed"
        if r.refused is None:
            continue
        if r.expect_refusal is False:
            over_n += 1
            over += r.refused
        elif r.expect_refusal is True:
            under_n += 1
            under += not r.refused
    return {
        "error_rate": Ratio(errors, n),
        "check_failure_rate": Ratio(check_failed, answered),
        "over_refusal_rate": Ratio(over, over_n),
        "under_refusal_rate": Ratio(under, under_n),
    }


def summarise(
    config: Config, facts: Facts, prometheus: dict[tuple[str, float], DayCounts] | None = None
) -> list[TargetSummary]:
    names = [t.name for t in config.targets]
    names += sorted({r.target for r in facts.runs} - set(names))
    return [_target(config, facts, name, prometheus or {}) for name in names]


def _target(
    config: Config, facts: Facts, target: str, prom: dict[tuple[str, float], DayCounts]
) -> TargetSummary:
    runs = [r for r in facts.runs if r.target == target]
    by_day: dict[float, list[RunPoint]] = {}
    for r in runs:
        by_day.setdefault(math.floor(r.started_at / DAY) * DAY, []).append(r)
    days = []
    prom_days: list[DayCounts] = []
    for start in day_starts(facts.start, facts.end):
        own = by_day.get(start)
        if own:
            days.append(_store_day(start, own))
        elif (target, start) in prom:
            counts = prom[target, start]
            prom_days.append(counts)
            days.append(_prom_day(start, counts))
        else:
            days.append(Day(start, NONE, 0, None, None, None, None, None))
    counted = rates(runs)
    ttfts = [r.ttft for r in runs if r.ttft is not None]
    classes = Counter(r.error_class or "unknown" for r in runs if r.outcome == "error")
    for counts in prom_days:
        for cls, value in counts.error_classes.items():
            classes[cls] += round(value)
    return TargetSummary(
        target=target,
        runs=len(runs) + sum(round(c.runs) for c in prom_days),
        errors=_plus(counted["error_rate"], prom_days, "errors", "runs"),
        check_failures=counted["check_failure_rate"],
        over_refusal=_plus(
            counted["over_refusal_rate"], prom_days, "answer_refused", "answer_judged"
        ),
        under_refusal=counted["under_refusal_rate"],
        ttft_p50=percentile(ttfts, 50),
        ttft_p95=percentile(ttfts, 95),
        duration_p95=percentile([r.duration for r in runs], 95),
        error_classes=tuple(sorted(classes.items(), key=lambda kv: (-kv[1], kv[0]))),
        slos=tuple(
            _slo(slo, runs, prom_days)
            for slo in config.slos
            if not slo.targets or target in slo.targets
        ),
        days=tuple(days),
        worst=_worst(runs),
    )


def _plus(ratio: Ratio, days: list[DayCounts], hits: str, n: str) -> Ratio:
    return Ratio(
        ratio.hits + sum(round(getattr(d, hits)) for d in days),
        ratio.n + sum(round(getattr(d, n)) for d in days),
    )


def _store_day(start: float, runs: list[RunPoint]) -> Day:
    counted = rates(runs)
    ttfts = [r.ttft for r in runs if r.ttft is not None]
    return Day(
        start,
        STORE,
        len(runs),
        counted["error_rate"].rate,
        counted["over_refusal_rate"].rate,
        percentile(ttfts, 50),
        percentile(ttfts, 95),
        percentile([r.duration for r in runs], 95),
    )


def _prom_day(start: float, c: DayCounts) -> Day:
    return Day(
        start,
        PROMETHEUS,
        round(c.runs),
        c.errors / c.runs if c.runs else None,
        c.answer_refused / c.answer_judged if c.answer_judged else None,
        None,
        c.ttft_p95,
        None,
    )


def _slo(slo: SLO, runs: list[RunPoint], prom_days: list[DayCounts]) -> SLOStatus:
    """Good and total events as the generated recording rules count them."""
    chosen = [r for r in runs if slo.selects(r.target, r.canary)]
    note = ""
    if slo.sli == "availability":
        total = len(chosen) + sum(round(d.runs) for d in prom_days)
        bad = sum(r.outcome == "error" for r in chosen) + sum(round(d.errors) for d in prom_days)
    elif slo.sli == "quality":
        answered = [r for r in chosen if r.outcome != "error"]
        total = len(answered) + sum(round(d.runs - d.errors) for d in prom_days)
        bad = sum(r.outcome == "check_failed" for r in answered)
        bad += sum(round(d.check_failed) for d in prom_days)
    elif slo.sli == "refusal":
        ratio = rates(chosen)["over_refusal_rate"]
        total = ratio.n + sum(round(d.answer_judged) for d in prom_days)
        bad = ratio.hits + sum(round(d.answer_refused) for d in prom_days)
    else:
        assert slo.threshold is not None
        if slo.latency_of == "ttft":
            values = [r.ttft for r in chosen if r.ttft is not None]
        else:
            values = [r.duration for r in chosen if r.outcome != "error"]
        total = len(values)
        bad = sum(v > slo.threshold for v in values)
        if prom_days:
            note = "latency from the store's runs only"
    if total == 0:
        return SLOStatus(slo.name, slo.sli, slo.objective, 0, 0, None, None, note)
    budget = 1 - slo.objective / 100
    bad_share = bad / total
    return SLOStatus(
        slo.name,
        slo.sli,
        slo.objective,
        total - bad,
        total,
        100 * (1 - bad_share),
        1 - bad_share / budget,
        note,
    )


def _worst(runs: list[RunPoint]) -> tuple[CanaryRow, ...]:
    by_canary: dict[str, list[RunPoint]] = {}
    for r in runs:
        by_canary.setdefault(r.canary, []).append(r)
    rows = []
    for canary, own in by_canary.items():
        failed = [r for r in own if r.outcome != "success"]
        if not failed:
            continue
        examples = tuple(r.run_id for r in sorted(failed, key=lambda r: -r.started_at)[:EXAMPLES])
        rows.append(CanaryRow(canary, len(own), len(failed), len(failed) / len(own), examples))
    rows.sort(key=lambda c: (-c.failure_rate, -c.failures, c.canary))
    return tuple(rows[:WORST_SHOWN])
