"""The pure-Python distribution functions of the end-of-run summary against SciPy, on seeded grids."""

from __future__ import annotations

import math
import random

import pytest
from scipy import stats

from emoprompt.stats.distributions import (
    binomial_cdf_half,
    binomial_pmf_half,
    incomplete_beta,
    normal_ppf,
    t_ppf,
    t_sf,
)

DEGREES = (1, 2, 3, 4, 7, 10, 29, 30, 99, 500, 2_499, 10_000, 100_000)


def test_student_t_tail_equals_scipy_to_1e_9():
    rng = random.Random(7)
    for df in DEGREES:
        for _ in range(60):
            t = rng.uniform(-15, 15) if rng.random() < 0.7 else rng.uniform(-1e-3, 1e-3)
            assert t_sf(t, df) == pytest.approx(float(stats.t.sf(t, df)), rel=1e-8, abs=1e-9), (t, df)


def test_student_t_quantile_equals_scipy_to_1e_9():
    for df in DEGREES:
        for q in (0.5, 0.6, 0.9, 0.95, 0.975, 0.99, 0.995, 0.9995, 0.999995, 0.025, 0.001):
            assert t_ppf(q, df) == pytest.approx(float(stats.t.ppf(q, df)), rel=1e-9, abs=1e-12), (q, df)


def test_known_values_by_hand():
    assert t_ppf(0.975, 1) == pytest.approx(12.706204736174698, rel=1e-12)  # tan(0.475·π)
    assert t_sf(1.0, 1) == pytest.approx(0.25, rel=1e-12)  # ½ − atan(1)/π
    assert t_sf(math.sqrt(2), 2) == pytest.approx(0.5 - math.sqrt(2) / (2 * math.sqrt(4)), rel=1e-12)
    assert normal_ppf(0.975) == pytest.approx(1.959963984540054, rel=1e-12)
    assert incomplete_beta(2, 3, 0.4) == pytest.approx(0.5248, rel=1e-12)  # 1 − Σ_{j<2} C(4,j)·.4^j·.6^(4−j)
    assert binomial_cdf_half(2, 5) == pytest.approx(0.5, rel=1e-14)
    assert binomial_pmf_half(0, 3) == pytest.approx(0.125, rel=1e-14)
    assert (t_sf(math.inf, 3), t_sf(-math.inf, 3), math.isnan(t_sf(math.nan, 3))) == (0.0, 1.0, True)


def test_binomial_half_tails_equal_scipy():
    rng = random.Random(3)
    for _ in range(400):
        m = rng.choice([1, 2, 5, 17, 60, 301, 2_000, 20_000])
        k = rng.randint(0, m)
        assert binomial_cdf_half(k, m) == pytest.approx(float(stats.binom.cdf(k, m, 0.5)), rel=1e-9, abs=1e-12)
        assert binomial_pmf_half(k, m) == pytest.approx(float(stats.binom.pmf(k, m, 0.5)), rel=1e-9, abs=1e-12)
