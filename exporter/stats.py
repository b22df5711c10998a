"""Before/after statistics shared by the operator report and the rollout gate.

Pure Python (no SciPy or NumPy: it ships in the sidecar), deterministic (the bootstrap is
seeded). Two kinds of comparison, each returning a `Difference`:

- rates (error rate, refusal rate, check failures): Fisher's exact test, and the Newcombe
  hybrid-score (Wilson) 95 % interval of the absolute difference;
- distributions (TTFT, duration): the Mann-Whitney U test (normal approximation with tie
  and continuity correction) and a percentile-bootstrap 95 % interval of the ratio of medians.

Minimums (below them `enough` is False and the caller says "cannot tell"): `MIN_RATE_N`
runs on each side for rates, `MIN_SAMPLES` observations on each side for distributions.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MIN_RATE_N = 20
MIN_SAMPLES = 10
_Z95 = statistics.NormalDist().inv_cdf(0.975)


@dataclass(frozen=True, slots=True)
class Difference:
    """One metric compared between a baseline and a candidate period (or model)."""

    metric: str  # e.g. "error_rate", "ttft_seconds"
    kind: str  # "rate" | "distribution"
    baseline: float  # rate (0..1) or the median
    candidate: float
    # rates: candidate - baseline (absolute, 0.02 = 2 pp);
    # distributions: candidate/baseline - 1 (relative, 0.2 = +20 %)
    effect: float
    ci_low: float | None  # 95 % interval of `effect`
    ci_high: float | None
    p_value: float | None  # two-sided; None when it cannot be computed
    n_baseline: int
    n_candidate: int
    enough: bool  # False: too few observations to tell


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact(hits_a: int, n_a: int, hits_b: int, n_b: int) -> float:
    """Two-sided p-value of Fisher's exact test on the table [[hits_a, n_a - hits_a],
    [hits_b, n_b - hits_b]]: the probability of every table with the same margins that is
    no more likely than the observed one."""
    total, hits = n_a + n_b, hits_a + hits_b
    lo, hi = max(0, hits - n_b), min(hits, n_a)
    log_denominator = _log_comb(total, n_a)

    def prob(x: int) -> float:
        return math.exp(_log_comb(hits, x) + _log_comb(total - hits, n_a - x) - log_denominator)

    observed = prob(hits_a)
    # the same relative tolerance as SciPy, so that tables as likely as the observed one
    # are not lost to rounding
    p = sum(q for q in (prob(x) for x in range(lo, hi + 1)) if q <= observed * (1 + 1e-7))
    return min(1.0, p)


def wilson(hits: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion (95 % by default)."""
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def compare_rates(metric: str, hits_a: int, n_a: int, hits_b: int, n_b: int) -> Difference:
    """Compare a rate: `hits_a` of `n_a` (baseline) against `hits_b` of `n_b` (candidate)."""
    if not (0 <= hits_a <= n_a and 0 <= hits_b <= n_b):
        raise ValueError(
            f"{metric}: hits must lie between 0 and n ({hits_a}/{n_a}, {hits_b}/{n_b})"
        )
    p_a = hits_a / n_a if n_a else 0.0
    p_b = hits_b / n_b if n_b else 0.0
    if n_a == 0 or n_b == 0:
        return Difference(metric, "rate", p_a, p_b, p_b - p_a, None, None, None, n_a, n_b, False)
    low_a, high_a = wilson(hits_a, n_a)
    low_b, high_b = wilson(hits_b, n_b)
    effect = p_b - p_a
    # Newcombe (1998), method 10: the two Wilson intervals combined
    ci_low = effect - math.sqrt((p_b - low_b) ** 2 + (high_a - p_a) ** 2)
    ci_high = effect + math.sqrt((high_b - p_b) ** 2 + (p_a - low_a) ** 2)
    return Difference(
        metric,
        "rate",
        p_a,
        p_b,
        effect,
        ci_low,
        ci_high,
        fisher_exact(hits_a, n_a, hits_b, n_b),
        n_a,
        n_b,
        n_a >= MIN_RATE_N and n_b >= MIN_RATE_N,
    )


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation, tie- and
    continuity-corrected, as SciPy's `method="asymptotic"`). None for an empty sample;
    1.0 when every value is the same (no evidence of a difference)."""
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return None
    pooled = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    n = n1 + n2
    rank_sum_a = 0.0
    tie_term = 0
    i = 0
    while i < n:
        j = i
        while j + 1 < n and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        mid_rank = (i + j) / 2 + 1  # ranks start at 1; tied values share the mean rank
        rank_sum_a += mid_rank * sum(1 for k in range(i, j + 1) if pooled[k][1] == 0)
        t = j - i + 1
        tie_term += t**3 - t
        i = j + 1
    u_a = rank_sum_a - n1 * (n1 + 1) / 2
    u = max(u_a, n1 * n2 - u_a)
    mean = n1 * n2 / 2
    variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:
        return 1.0
    z = (u - mean - 0.5) / math.sqrt(variance)
    return min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2)))


def _ratio(a: float, b: float) -> float | None:
    """b/a - 1, or None when the baseline median is zero."""
    return b / a - 1 if a else None


def compare_samples(
    metric: str, a: Sequence[float], b: Sequence[float], seed: int = 0, resamples: int = 2000
) -> Difference:
    """Compare a distribution: the medians of `a` (baseline) and `b` (candidate)."""
    if not a or not b:
        med_a = statistics.median(a) if a else 0.0
        med_b = statistics.median(b) if b else 0.0
        return Difference(
            metric, "distribution", med_a, med_b, 0.0, None, None, None, len(a), len(b), False
        )
    med_a, med_b = statistics.median(a), statistics.median(b)
    effect = _ratio(med_a, med_b)
    rng = random.Random(seed)
    ratios: list[float] = []
    for _ in range(resamples):
        r = _ratio(
            statistics.median(rng.choices(a, k=len(a))), statistics.median(rng.choices(b, k=len(b)))
        )
        if r is not None:
            ratios.append(r)
    ci_low = ci_high = None
    # an interval only when (almost) every resample had a nonzero baseline median
    if effect is not None and ratios and len(ratios) >= 0.99 * resamples:
        ratios.sort()
        ci_low = ratios[int(0.025 * (len(ratios) - 1))]
        ci_high = ratios[math.ceil(0.975 * (len(ratios) - 1))]
    return Difference(
        metric,
        "distribution",
        med_a,
        med_b,
        effect if effect is not None else (0.0 if med_b == 0 else math.inf),
        ci_low,
        ci_high,
        mann_whitney(a, b),
        len(a),
        len(b),
        len(a) >= MIN_SAMPLES and len(b) >= MIN_SAMPLES,
    )


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values, in the same order; None stays None."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(present)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def detectable_rate_change(
    n: int, base_rate: float, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest absolute increase of a rate from `base_rate` that `n` runs on each side
    detect with a two-sided test at `alpha` with `power` (normal approximation, Fleiss
    without continuity correction). `math.inf` when no increase up to a rate of 1 is."""
    if n <= 0:
        return math.inf
    if not 0 <= base_rate < 1:
        raise ValueError(f"base_rate must lie in [0, 1): {base_rate}")
    normal = statistics.NormalDist()
    z_alpha, z_power = normal.inv_cdf(1 - alpha / 2), normal.inv_cdf(power)

    def shortfall(delta: float) -> float:
        p2 = base_rate + delta
        pooled = (base_rate + p2) / 2
        needed = z_alpha * math.sqrt(2 * pooled * (1 - pooled) / n) + z_power * math.sqrt(
            (base_rate * (1 - base_rate) + p2 * (1 - p2)) / n
        )
        return needed - delta

    high = 1 - base_rate
    if shortfall(high) > 0:
        return math.inf
    low = 0.0
    for _ in range(60):  # bisection to well below any rate anyone reads
        middle = (low + high) / 2
        if shortfall(middle) > 0:
            low = middle
        else:
            high = middle
    return high
