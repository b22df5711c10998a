"""The comparison's statistics and verdicts, per canary and overall. Pure.

Rates (success, errors, each check's failures, over- and under-refusal, answer drift) are
compared with Fisher's exact test, the effect in percentage points; distributions (TTFT,
duration, tokens per second, output tokens per answer) with Mann-Whitney U, the effect the
relative change of the median with a bootstrap interval (exporter.stats). With SciPy
installed (the `compare` extra), Mann-Whitney's p-value is SciPy's, exact for samples
without ties up to EXACT_PAIRS pairs. Every p-value of the comparison is Holm-corrected together.

A metric's verdict: *regression* when the corrected p is below `alpha` and the change is
worse than its threshold; *improvement* when significant and better; *cannot tell* when
there are too few observations, or when the change seen is worse than the threshold but
not significant; else *no difference*. A metric without a threshold (answer drift by
default) is *changed* when significant, never a regression.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from exporter.compare.collect import Collected
from exporter.compare.plan import Plan
from exporter.config import Compare
from exporter.result import Outcome, ProbeResult
from exporter.stats import Difference, compare_rates, compare_samples, holm

OVERALL = "overall"
PERCENTILES = (50, 90, 99)
EXAMPLE_CHARS = 600
# SciPy's exact Mann-Whitney up to this many pairs (e.g. 50 x 50) when there are no ties
EXACT_PAIRS = 2500


class Verdict(StrEnum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    NO_DIFFERENCE = "no difference"
    CANNOT_TELL = "cannot tell"
    CHANGED = "changed"  # a metric without a threshold


@dataclass(frozen=True, slots=True)
class Row:
    """One metric of one scope (a canary, or `overall`)."""

    scope: str
    diff: Difference
    test: str  # fisher_exact | mann_whitney (normal approximation) | mann_whitney_scipy
    threshold: float | None  # how much worse it may be; None: not gated
    higher_is_worse: bool
    p_adjusted: float | None = None
    verdict: Verdict = Verdict.CANNOT_TELL

    @property
    def metric(self) -> str:
        return self.diff.metric

    @property
    def harm(self) -> float:
        """The effect turned so that positive is worse for the candidate."""
        return self.diff.effect if self.higher_is_worse else -self.diff.effect


@dataclass(frozen=True, slots=True)
class Side:
    """What one target showed in one scope, for the tables and the page."""

    runs: int
    outcomes: dict[str, int]
    error_classes: dict[str, int]
    percentiles: dict[str, tuple[float, ...]]  # metric -> PERCENTILES
    samples: dict[str, tuple[float, ...]]  # metric -> every observation, for the page
    example: str  # the most common answer (cut); "" when none came back


@dataclass(frozen=True, slots=True)
class Scope:
    name: str
    baseline: Side
    candidate: Side
    rows: tuple[Row, ...]

    @property
    def answers_differ(self) -> bool:
        return fold(self.baseline.example) != fold(self.candidate.example)


@dataclass(frozen=True, slots=True)
class Comparison:
    baseline_target: str
    baseline_model: str
    candidate_target: str
    candidate_model: str
    runs: int
    canaries: tuple[str, ...]
    scopes: tuple[Scope, ...]  # each canary, then overall
    alpha: float
    exact: bool  # SciPy supplied Mann-Whitney's p-values
    skipped: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def rows(self) -> list[Row]:
        return [row for scope in self.scopes for row in scope.rows]

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.verdict is Verdict.REGRESSION]

    @property
    def inconclusive(self) -> list[Row]:
        """Gated metrics the runs could not decide."""
        return [
            r for r in self.rows if r.verdict is Verdict.CANNOT_TELL and r.threshold is not None
        ]

    @property
    def verdict(self) -> Verdict:
        if self.regressions:
            return Verdict.REGRESSION
        if self.inconclusive:
            return Verdict.CANNOT_TELL
        if any(r.verdict is Verdict.IMPROVEMENT for r in self.rows):
            return Verdict.IMPROVEMENT
        return Verdict.NO_DIFFERENCE

    def exit_code(self, fail_on_inconclusive: bool = False) -> int:
        """0: no regression ("cannot tell" only warns); 1: a regression, or "cannot tell"
        with `fail_on_inconclusive`."""
        if self.regressions or (fail_on_inconclusive and self.inconclusive):
            return 1
        return 0


# --- the metrics ------------------------------------------------------------------------

Runs = Sequence[ProbeResult]


@dataclass(frozen=True, slots=True)
class RateMetric:
    name: str
    threshold: Callable[[Compare], float | None]
    higher_is_worse: bool
    count: Callable[[Runs], tuple[int, int]]  # (hits, n)


@dataclass(frozen=True, slots=True)
class SampleMetric:
    name: str
    threshold: Callable[[Compare], float | None]
    higher_is_worse: bool
    values: Callable[[Runs], list[float]]


def _answered(runs: Runs) -> list[ProbeResult]:
    return [r for r in runs if r.outcome is not Outcome.ERROR]


def _rate(pick: Callable[[ProbeResult], bool | None]) -> Callable[[Runs], tuple[int, int]]:
    """(hits, n) over the runs for which `pick` says True or False (None: not counted)."""

    def count(runs: Runs) -> tuple[int, int]:
        seen = [v for v in map(pick, runs) if v is not None]
        return sum(seen), len(seen)

    return count


def _over_refused(r: ProbeResult) -> bool | None:
    """Refused although it was to be answered (expect_refusal false or unset)."""
    return None if r.refused is None or r.expect_refusal is True else r.refused


def _under_refused(r: ProbeResult) -> bool | None:
    """Answered although it was to be refused (expect_refusal true)."""
    return None if r.refused is None or r.expect_refusal is not True else not r.refused


def tokens_per_second(r: ProbeResult) -> float | None:
    """The first answer's generation speed: output tokens after the first over the time
    after the first token (genai-perf's definition); None when it cannot be measured."""
    t = r.turns[0] if r.turns else None
    if t is None or t.output_tokens is None or t.output_tokens < 2 or t.ttft_seconds is None:
        return None
    generating = t.duration_seconds - t.ttft_seconds
    return (t.output_tokens - 1) / generating if generating > 0 else None


def _values(pick: Callable[[ProbeResult], float | None]) -> Callable[[Runs], list[float]]:
    def values(runs: Runs) -> list[float]:
        return [v for v in map(pick, _answered(runs)) if v is not None]

    return values


RATES = (
    RateMetric(
        "success_rate", lambda s: s.max_success_drop, False, _rate(lambda r: r.outcome == "success")
    ),
    RateMetric(
        "error_rate", lambda s: s.max_error_increase, True, _rate(lambda r: r.outcome == "error")
    ),
    RateMetric("over_refusal_rate", lambda s: s.max_refusal_increase, True, _rate(_over_refused)),
    RateMetric(
        "under_refusal_rate", lambda s: s.max_under_refusal_increase, True, _rate(_under_refused)
    ),
)
SAMPLES = (
    SampleMetric(
        "ttft_seconds", lambda s: s.max_ttft_increase, True, _values(lambda r: r.ttft_seconds)
    ),
    SampleMetric(
        "duration_seconds",
        lambda s: s.max_duration_increase,
        True,
        _values(lambda r: r.duration_seconds),
    ),
    SampleMetric(
        "tokens_per_second",
        lambda s: s.max_tokens_per_second_drop,
        False,
        _values(tokens_per_second),
    ),
    SampleMetric(
        "output_tokens",
        lambda s: s.max_tokens_increase,
        True,
        _values(lambda r: None if r.output_tokens is None else float(r.output_tokens)),
    ),
)


def _check_rate(name: str) -> Callable[[Runs], tuple[int, int]]:
    def failed(r: ProbeResult) -> bool | None:
        verdict = next((c for c in r.checks if c.name == name), None)
        return (
            None
            if verdict is None or verdict.status not in ("pass", "fail")
            else (verdict.status == "fail")
        )

    return _rate(failed)


def _drift(reference: dict[str, str | None]) -> Callable[[Runs], tuple[int, int]]:
    """Answers of deterministic canaries that differ from the baseline's most common one."""

    def differs(r: ProbeResult) -> bool | None:
        if r.answer_fingerprint is None or reference.get(r.canary) is None:
            return None
        return r.answer_fingerprint != reference[r.canary]

    return _rate(differs)


# --- the analysis -----------------------------------------------------------------------


def analyse(
    plan: Plan, collected: Collected, settings: Compare, exact: bool | None = None
) -> Comparison:
    """Statistics and verdicts. `exact`: use SciPy for Mann-Whitney (None: when it is
    installed)."""
    mann_whitney = _scipy_mann_whitney() if exact is not False else None
    reference = {
        canary: _mode(r.answer_fingerprint for r in collected.baseline if r.canary == canary)
        for canary in plan.canaries
    }
    scopes = [
        _scope(
            name,
            [r for r in collected.baseline if r.canary == name],
            [r for r in collected.candidate if r.canary == name],
            settings,
            reference,
            mann_whitney,
        )
        for name in plan.canaries
    ]
    scopes.append(
        _scope(OVERALL, collected.baseline, collected.candidate, settings, reference, mann_whitney)
    )
    adjusted = iter(holm([row.diff.p_value for scope in scopes for row in scope.rows]))
    judged: list[Scope] = []
    for scope in scopes:
        rows = []
        for row in scope.rows:
            p = next(adjusted)
            rows.append(replace(row, p_adjusted=p, verdict=verdict(row, p, settings.alpha)))
        judged.append(replace(scope, rows=tuple(rows)))
    base, cand = plan.baseline.target, plan.candidate.target
    return Comparison(
        baseline_target=base.name,
        baseline_model=base.model,
        candidate_target=cand.name,
        candidate_model=cand.model,
        runs=plan.runs,
        canaries=plan.canaries,
        scopes=tuple(judged),
        alpha=settings.alpha,
        exact=mann_whitney is not None,
        skipped=dict(collected.skipped),
        started_at=collected.started_at,
        finished_at=collected.finished_at,
    )


def verdict(row: Row, p_adjusted: float | None, alpha: float) -> Verdict:
    if not row.diff.enough or p_adjusted is None:
        return Verdict.CANNOT_TELL
    significant = p_adjusted < alpha
    if row.threshold is None:
        return Verdict.CHANGED if significant else Verdict.NO_DIFFERENCE
    if row.harm > row.threshold:
        return Verdict.REGRESSION if significant else Verdict.CANNOT_TELL
    if significant and row.harm < 0:
        return Verdict.IMPROVEMENT
    return Verdict.NO_DIFFERENCE


MannWhitney = Callable[[Sequence[float], Sequence[float]], float]


def _scope(
    name: str,
    base: Runs,
    cand: Runs,
    settings: Compare,
    reference: dict[str, str | None],
    mann_whitney: MannWhitney | None,
) -> Scope:
    rows: list[Row] = []
    rates = list(RATES)
    checks = sorted({c.name for r in (*base, *cand) for c in r.checks if c.name != "refusal"})
    rates += [
        RateMetric(
            f"check_failure_rate:{check}",
            lambda s: s.max_check_failure_increase,
            True,
            _check_rate(check),
        )
        for check in checks
    ]
    if any(reference.get(r.canary) for r in base):
        rates.append(
            RateMetric("answer_drift", lambda s: s.max_answer_drift, True, _drift(reference))
        )
    for rate in rates:
        (hits_a, n_a), (hits_b, n_b) = rate.count(base), rate.count(cand)
        if n_a == 0 and n_b == 0:
            continue  # nothing to compare here (e.g. under-refusal of a benign canary)
        rows.append(
            Row(
                name,
                compare_rates(rate.name, hits_a, n_a, hits_b, n_b),
                "fisher_exact",
                rate.threshold(settings),
                rate.higher_is_worse,
            )
        )
    samples: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {}
    for metric in SAMPLES:
        a, b = metric.values(base), metric.values(cand)
        samples[metric.name] = (tuple(a), tuple(b))
        if not a and not b:
            continue
        diff, test = _samples(metric.name, a, b, mann_whitney)
        rows.append(Row(name, diff, test, metric.threshold(settings), metric.higher_is_worse))
    return Scope(
        name,
        _side(base, {k: v[0] for k, v in samples.items()}),
        _side(cand, {k: v[1] for k, v in samples.items()}),
        tuple(rows),
    )


def _samples(
    metric: str, a: list[float], b: list[float], mann_whitney: MannWhitney | None
) -> tuple[Difference, str]:
    diff = compare_samples(metric, a, b)
    if diff.p_value is None:
        return diff, "none"
    if mann_whitney is None:
        return diff, "mann_whitney"
    return replace(diff, p_value=mann_whitney(a, b)), "mann_whitney_scipy"


def _scipy_mann_whitney() -> MannWhitney | None:
    try:
        from scipy.stats import mannwhitneyu  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return None

    def p_value(a: Sequence[float], b: Sequence[float]) -> float:
        exact = len(set(a) | set(b)) == len(a) + len(b) and len(a) * len(b) <= EXACT_PAIRS
        method = "exact" if exact else "asymptotic"
        result = mannwhitneyu(a, b, alternative="two-sided", method=method)
        p = float(result.pvalue)
        return 1.0 if math.isnan(p) else p

    return p_value


def _side(runs: Runs, samples: dict[str, tuple[float, ...]]) -> Side:
    answers = [r.last.text for r in _answered(runs) if r.last.text]
    example = _mode(answers) or ""
    return Side(
        runs=len(runs),
        outcomes=dict(Counter(str(r.outcome) for r in runs)),
        error_classes=dict(Counter(str(r.error_class) for r in runs if r.error_class)),
        percentiles={
            name: tuple(percentile(values, q) for q in PERCENTILES)
            for name, values in samples.items()
            if values
        },
        samples=samples,
        example=example[:EXAMPLE_CHARS],
    )


def _mode(values: Iterable[str | None]) -> str | None:
    """The most common value, the first seen among equals; None when there is none."""
    counts = Counter(v for v in values if v is not None)
    return counts.most_common(1)[0][0] if counts else None


def fold(text: str) -> str:
    return " ".join(text.casefold().split())


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile, linear between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50) if values else math.nan
