"""The distribution functions the analysis uses, called on `scipy.special`: the very routines `scipy.stats` calls for
them (stdtr, stdtrit, ndtri, ndtr, gammaincinv, fdtrc, the beta and binomial ufuncs), without importing `scipy.stats`,
which takes three times as long (a second on a small machine; the report's worker waits for it). `scipy.special`
itself is imported on first use.

Each function accepts what its `scipy.stats` counterpart accepts at the call sites here (finite parameters) and
returns the same values; tests/stats/test_special.py checks them against `scipy.stats` (to 1e-14).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from emoprompt.stats.distributions import normal_ppf


@functools.cache
def _special() -> tuple[Any, Any]:
    """scipy.special and its ufuncs module (scipy.stats.binom's and beta's own pmf, cdf and ppf), imported on first
    use: a report without contrasts needs none of it."""
    import scipy.special
    import scipy.special._ufuncs

    return scipy.special, scipy.special._ufuncs


def t_sf(x: Any, df: Any) -> Any:
    """scipy.stats.t.sf(x, df)."""
    return _special()[0].stdtr(df, -np.asarray(x, float))


def t_ppf(q: Any, df: Any) -> Any:
    """scipy.stats.t.ppf(q, df), for 0 ≤ q ≤ 1."""
    return _special()[0].stdtrit(df, q)


def norm_ppf(q: Any) -> Any:
    """scipy.stats.norm.ppf(q); a single number goes through the standard library (equal to 1e-15), so the usual
    critical value costs no SciPy import."""
    if isinstance(q, float | int) and 0 < q < 1:
        return normal_ppf(float(q))
    return _special()[0].ndtri(q)


def norm_cdf(x: Any) -> Any:
    """scipy.stats.norm.cdf(x)."""
    return _special()[0].ndtr(x)


def chi2_ppf(q: Any, df: Any) -> Any:
    """scipy.stats.chi2.ppf(q, df), for 0 ≤ q < 1."""
    return 2 * _special()[0].gammaincinv(np.asarray(df, float) / 2, q)


def f_sf(x: Any, dfn: Any, dfd: Any) -> Any:
    """scipy.stats.f.sf(x, dfn, dfd), for x ≥ 0."""
    return _special()[0].fdtrc(dfn, dfd, x)


def beta_ppf(q: Any, a: Any, b: Any) -> Any:
    """scipy.stats.beta.ppf(q, a, b)."""
    return _special()[1]._beta_ppf(q, a, b)


def binom_pmf(k: Any, n: Any, p: Any) -> Any:
    """scipy.stats.binom.pmf(k, n, p) for whole k (0 outside 0..n)."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    inside = (k >= 0) & (k <= n)
    return np.where(inside, _special()[1]._binom_pmf(np.where(inside, k, 0), n, p), 0.0)


def binom_cdf(k: Any, n: Any, p: Any) -> Any:
    """scipy.stats.binom.cdf(k, n, p) for whole k (0 below 0, 1 from n on)."""
    k, n = np.floor(np.asarray(k, float)), np.asarray(n, float)
    return np.where(k < 0, 0.0, np.where(k >= n, 1.0, _special()[1]._binom_cdf(np.clip(k, 0, None), n, p)))
