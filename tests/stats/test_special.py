"""`emoprompt.stats.special` (scipy.special) gives what `scipy.stats` gives; the written-out intervals and the exact
McNemar p equal statsmodels' and SciPy's."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from emoprompt.stats import special
from emoprompt.stats.effects import clopper_pearson, wilson_ci
from emoprompt.stats.paired import mcnemar_exact

RNG = np.random.default_rng(5)
X = np.concatenate([RNG.uniform(-8, 8, 200), [0.0, 1e-9, -3.2, 40.0]])
Q = np.concatenate([RNG.uniform(0, 1, 200), [0.5, 0.975, 0.995, 1e-6, 0.999999]])
DF = np.array([1, 2, 3, 5, 9, 30, 120, 1000, 1e5])


def test_continuous_distributions_equal_scipy_stats():
    for df in DF:
        np.testing.assert_allclose(special.t_sf(X, df), stats.t.sf(X, df), rtol=1e-14, atol=0)
        np.testing.assert_allclose(special.t_ppf(Q, df), stats.t.ppf(Q, df), rtol=1e-14, atol=0)
        np.testing.assert_allclose(special.chi2_ppf(Q[Q < 1], df), stats.chi2.ppf(Q[Q < 1], df), rtol=1e-14, atol=0)
        np.testing.assert_allclose(special.f_sf(np.abs(X), df, 7), stats.f.sf(np.abs(X), df, 7), rtol=1e-14, atol=0)
    np.testing.assert_allclose(special.norm_ppf(Q), stats.norm.ppf(Q), rtol=1e-15, atol=0)
    np.testing.assert_allclose(special.norm_cdf(X), stats.norm.cdf(X), rtol=1e-15, atol=0)
    np.testing.assert_allclose(special.beta_ppf(Q, 3.0, 9.0), stats.beta.ppf(Q, 3.0, 9.0), rtol=1e-14, atol=0)


def test_binomial_equals_scipy_stats_inside_and_outside_the_support():
    for n, p in ((1, 0.5), (10, 0.5), (37, 0.2), (500, 0.73)):
        k = np.arange(-2, n + 3)
        np.testing.assert_allclose(special.binom_pmf(k, n, p), stats.binom.pmf(k, n, p), rtol=1e-14, atol=0)
        np.testing.assert_allclose(special.binom_cdf(k, n, p), stats.binom.cdf(k, n, p), rtol=1e-14, atol=0)
    m = np.arange(0, 40)
    np.testing.assert_allclose(special.binom_pmf(5, m, 0.3), stats.binom.pmf(5, m, 0.3), rtol=1e-14, atol=0)


@pytest.mark.parametrize("k, n", [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (17, 40), (250, 600)])
def test_exact_and_wilson_intervals_and_exact_mcnemar_equal_the_libraries(k, n):
    for alpha in (0.05, 0.01, 0.2):
        interval = stats.binomtest(k, n).proportion_ci(1 - alpha, method="exact")
        assert clopper_pearson(k, n, alpha) == pytest.approx((interval.low, interval.high), abs=1e-10)
        assert wilson_ci(k, n, alpha) == pytest.approx(proportion_confint(k, n, alpha, method="wilson"), abs=1e-14)
    assert mcnemar_exact(k, n - k) == pytest.approx(stats.binomtest(k, n, 0.5).pvalue, rel=1e-12)


def test_a_single_normal_quantile_needs_no_scipy_and_equals_it():
    for q in (0.5, 0.6, 0.9, 0.95, 0.975, 0.995, 0.9995, 1e-9, 0.025, 1 - 1e-12):
        assert special.norm_ppf(q) == pytest.approx(stats.norm.ppf(q), rel=1e-15, abs=1e-15)
