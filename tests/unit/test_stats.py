"""exporter/stats.py against values worked out by hand (and against SciPy where installed)."""

from __future__ import annotations

import math
import random

import pytest

from exporter.stats import (
    MIN_RATE_N,
    MIN_SAMPLES,
    compare_rates,
    compare_samples,
    detectable_rate_change,
    fisher_exact,
    holm,
    mann_whitney,
    wilson,
)

Z = 1.959963984540054  # the 97.5 % normal quantile


def test_fisher_exact_by_the_hypergeometric_formula() -> None:
    # 1 of 5 against 4 of 5: margins 5 hits of 10, 5 drawn. P(x) = C(5,x)·C(5,5-x)/C(10,5)
    # = 1, 25, 100, 100, 25, 1 (/252) for x = 0..5; the observed x = 1 has 25/252, and the
    # tables no more likely are x = 0, 1, 4, 5.
    assert fisher_exact(1, 5, 4, 5) == pytest.approx((1 + 25 + 25 + 1) / 252)
    # 0 of 3 against 3 of 3: P(x) = C(3,x)·C(3,3-x)/C(6,3) = 1, 9, 9, 1 (/20)
    assert fisher_exact(0, 3, 3, 3) == pytest.approx((1 + 1) / 20)
    # the same proportions on both sides: every table counts as no more likely
    assert fisher_exact(2, 4, 2, 4) == pytest.approx(1.0)


def test_wilson_interval_of_zero_hits() -> None:
    # p = 0: the centre and the half width are both (z²/2n)/(1 + z²/n)
    low, high = wilson(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12)
    assert high == pytest.approx(Z * Z / (10 + Z * Z))


def test_compare_rates_matches_newcombe_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80,
    # method 10 gives +0.0524 to +0.3339
    d = compare_rates("error_rate", 48, 80, 56, 70)
    assert d.kind == "rate"
    assert (d.baseline, d.candidate) == pytest.approx((0.6, 0.8))
    assert d.effect == pytest.approx(0.2)
    assert d.ci_low == pytest.approx(0.0524, abs=5e-5)
    assert d.ci_high == pytest.approx(0.3339, abs=5e-5)
    assert d.p_value is not None and 0 < d.p_value < 0.05
    assert (d.n_baseline, d.n_candidate, d.enough) == (80, 70, True)


def test_compare_rates_minimums_and_empty_sides() -> None:
    few = compare_rates("error_rate", 0, MIN_RATE_N - 1, 5, 100)
    assert not few.enough
    assert few.p_value is not None
    empty = compare_rates("error_rate", 0, 0, 3, 10)
    assert not empty.enough
    assert (empty.p_value, empty.ci_low, empty.ci_high) == (None, None, None)
    with pytest.raises(ValueError, match="error_rate"):
        compare_rates("error_rate", 5, 4, 0, 10)


def test_mann_whitney_without_ties() -> None:
    # a = 1,2,3 and b = 4,5,6: U_b = 9, U_a = 0; mean 3·3/2 = 4.5, variance 3·3·7/12
    z = (9 - 4.5 - 0.5) / math.sqrt(3 * 3 * 7 / 12)
    assert mann_whitney([1, 2, 3], [4, 5, 6]) == pytest.approx(math.erfc(z / math.sqrt(2)))
    # the test is symmetric in its two samples
    assert mann_whitney([4, 5, 6], [1, 2, 3]) == mann_whitney([1, 2, 3], [4, 5, 6])


def test_mann_whitney_with_ties() -> None:
    # pooled 1a 2a 2a 2b 3b 4b: ranks 1, 3, 3, 3, 5, 6; R_a = 7, U_a = 7 - 6 = 1, U_b = 8.
    # One tie of three values: sum(t³ - t) = 24; variance = 9/12·(7 - 24/(6·5)) = 4.65
    z = (8 - 4.5 - 0.5) / math.sqrt(4.65)
    assert mann_whitney([1, 2, 2], [2, 3, 4]) == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert mann_whitney([2, 2], [2, 2, 2]) == 1.0
    assert mann_whitney([], [1.0]) is None


def test_compare_samples_median_ratio_and_bootstrap() -> None:
    a = [1.0, 2.0, 3.0, 4.0, 5.0] * 3
    b = [x * 2 for x in a]
    d = compare_samples("ttft_seconds", a, b, seed=7)
    assert d.kind == "distribution"
    assert (d.baseline, d.candidate, d.effect) == (3.0, 6.0, 1.0)  # medians 3 and 6: +100 %
    assert d.ci_low is not None and d.ci_high is not None
    assert d.ci_low <= 1.0 <= d.ci_high
    assert d.p_value is not None and d.p_value < 0.01
    assert d.enough
    assert compare_samples("ttft_seconds", a, b, seed=7) == d  # seeded: the same every time
    few = compare_samples("ttft_seconds", a[: MIN_SAMPLES - 1], b)
    assert not few.enough
    empty = compare_samples("ttft_seconds", [], b)
    assert (empty.enough, empty.p_value, empty.ci_low) == (False, None, None)


def test_compare_samples_identical_distributions() -> None:
    rng = random.Random(3)
    a = [rng.uniform(0.1, 0.3) for _ in range(60)]
    d = compare_samples("ttft_seconds", a, list(reversed(a)))
    assert d.effect == 0.0
    assert d.p_value == pytest.approx(1.0, abs=0.02)
    assert d.ci_low is not None and d.ci_high is not None
    assert d.ci_low <= 0.0 <= d.ci_high


def test_holm_adjusts_in_place_and_keeps_none() -> None:
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 -> max so far 0.06
    assert holm([0.01, 0.04, 0.03, None, 0.005]) == pytest.approx([0.03, 0.06, 0.06, None, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    assert holm([]) == []


def test_detectable_rate_change_matches_the_sample_size_formula() -> None:
    # Fleiss without continuity correction, 0.10 against 0.20 at alpha 0.05, power 0.8:
    # n = (1.96·sqrt(2·0.15·0.85) + 0.8416·sqrt(0.1·0.9 + 0.2·0.8))² / 0.1² = 198.97
    n = (Z * math.sqrt(2 * 0.15 * 0.85) + 0.8416212 * math.sqrt(0.09 + 0.16)) ** 2 / 0.01
    assert n == pytest.approx(198.97, abs=0.01)
    assert detectable_rate_change(199, 0.1) == pytest.approx(0.1, abs=1e-3)
    assert detectable_rate_change(199, 0.1) <= 0.1
    # more runs detect smaller changes; from a zero base rate the change is still positive
    assert 0 < detectable_rate_change(1000, 0.0) < detectable_rate_change(100, 0.0)
    assert detectable_rate_change(0, 0.1) == math.inf
    assert detectable_rate_change(2, 0.9) == math.inf


def test_agrees_with_scipy() -> None:
    # SciPy is no dependency; where it happens to be installed, the two must agree
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(11)
    for _ in range(40):
        n_a, n_b = rng.randint(1, 60), rng.randint(1, 60)
        h_a, h_b = rng.randint(0, n_a), rng.randint(0, n_b)
        expected = stats.fisher_exact([[h_a, n_a - h_a], [h_b, n_b - h_b]]).pvalue
        assert fisher_exact(h_a, n_a, h_b, n_b) == pytest.approx(expected, rel=1e-6, abs=1e-12)
        low, high = stats.binomtest(h_a, n_a).proportion_ci(method="wilson")
        assert wilson(h_a, n_a) == pytest.approx((low, high), abs=1e-9)
    for _ in range(40):
        a = [round(rng.uniform(0, 3), 1) for _ in range(rng.randint(2, 40))]  # rounded: ties
        b = [round(rng.uniform(0.5, 3.5), 1) for _ in range(rng.randint(2, 40))]
        if len(set(a + b)) == 1:
            continue
        expected = stats.mannwhitneyu(a, b, method="asymptotic").pvalue
        assert mann_whitney(a, b) == pytest.approx(expected, rel=1e-9)
