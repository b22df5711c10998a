"""Before and after each model change: the target's runs from the previous change (or the
window's start) up to the change, against its runs from the change up to the next one (or
the window's end), compared with exporter.stats.

A difference is *beyond noise* when both sides have enough observations (the minimums of
exporter.stats) and its Holm-adjusted p-value, over every metric of that change, is below
`ALPHA`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from exporter import stats
from exporter.report.gather import APPROVAL_WINDOW, Facts, RunPoint
from exporter.report.summary import rates
from exporter.sinks.prometheus import label
from exporter.stats import Difference
from exporter.store.rows import ModelChange, StoredComparison, StoredFeedback

ALPHA = 0.05
# which way is worse for each metric: every one of them is worse when it rises
RATE_METRICS = ("error_rate", "check_failure_rate", "over_refusal_rate", "under_refusal_rate")
SAMPLE_METRICS = ("ttft_seconds", "duration_seconds")


@dataclass(frozen=True, slots=True)
class Moved:
    difference: Difference
    p_adjusted: float | None
    beyond_noise: bool

    @property
    def worse(self) -> bool:
        return self.difference.effect > 0


@dataclass(frozen=True, slots=True)
class ChangeImpact:
    change: ModelChange
    before: tuple[float, float]  # the compared periods (start, end)
    after: tuple[float, float]
    metrics: tuple[Moved, ...]
    feedback: tuple[Moved, ...]  # negative share by category ("negative:refused"), and overall
    approved_by: StoredComparison | None = None  # the comparison that cleared the new model

    def moved(self) -> list[Moved]:
        return [m for m in (*self.metrics, *self.feedback) if m.beyond_noise]


def impacts(facts: Facts) -> list[ChangeImpact]:
    out = []
    for target in sorted({c.target for c in facts.changes}):
        mine = [c for c in facts.changes if c.target == target]
        runs = [r for r in facts.runs if r.target == target]
        feedback = [f for f in facts.feedback if f.feedback.target == target]
        for i, change in enumerate(mine):
            start = mine[i - 1].at if i else facts.start
            end = mine[i + 1].at if i + 1 < len(mine) else facts.end
            impact = _impact(change, (start, change.at), (change.at, end), runs, feedback)
            out.append(replace(impact, approved_by=approval(change, facts.comparisons)))
    return out


def approval(
    change: ModelChange, comparisons: Sequence[StoredComparison]
) -> StoredComparison | None:
    """The newest comparison that finished in the `APPROVAL_WINDOW` before the change and
    whose candidate's model is the model the target reports after it (its baseline being
    the changed target, or any: the candidate is often a staging target)."""
    new_model = change.new[0]
    for comparison in comparisons:  # newest first
        if not change.at - APPROVAL_WINDOW <= comparison.finished_at <= change.at:
            continue
        if label(comparison.candidate[1]) == new_model:
            return comparison
    return None


def _impact(
    change: ModelChange,
    before: tuple[float, float],
    after: tuple[float, float],
    runs: Sequence[RunPoint],
    feedback: Sequence[StoredFeedback],
) -> ChangeImpact:
    a = [r for r in runs if before[0] <= r.started_at < before[1]]
    b = [r for r in runs if after[0] <= r.started_at < after[1]]
    rate_a, rate_b = rates(a), rates(b)
    diffs = [
        stats.compare_rates(m, rate_a[m].hits, rate_a[m].n, rate_b[m].hits, rate_b[m].n)
        for m in RATE_METRICS
    ]
    diffs.append(
        stats.compare_samples(
            "ttft_seconds",
            [r.ttft for r in a if r.ttft is not None],
            [r.ttft for r in b if r.ttft is not None],
        )
    )
    diffs.append(
        stats.compare_samples(
            "duration_seconds",
            [r.duration for r in a if r.outcome != "error"],
            [r.duration for r in b if r.outcome != "error"],
        )
    )
    fa = [f.feedback for f in feedback if before[0] <= f.feedback.received_at < before[1]]
    fb = [f.feedback for f in feedback if after[0] <= f.feedback.received_at < after[1]]
    categories = sorted({f.category for f in (*fa, *fb) if f.rating == "negative"})
    feedback_diffs = [
        stats.compare_rates(
            "negative_share",
            sum(f.rating == "negative" for f in fa),
            len(fa),
            sum(f.rating == "negative" for f in fb),
            len(fb),
        )
    ]
    for category in categories:
        feedback_diffs.append(
            stats.compare_rates(
                f"negative:{category}",
                sum(f.rating == "negative" and f.category == category for f in fa),
                len(fa),
                sum(f.rating == "negative" and f.category == category for f in fb),
                len(fb),
            )
        )
    adjusted = stats.holm([d.p_value for d in (*diffs, *feedback_diffs)])
    moved = [
        Moved(d, p, d.enough and p is not None and p < ALPHA)
        for d, p in zip((*diffs, *feedback_diffs), adjusted, strict=True)
    ]
    return ChangeImpact(
        change, before, after, tuple(moved[: len(diffs)]), tuple(moved[len(diffs) :])
    )
