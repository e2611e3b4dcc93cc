"""The distribution functions the analysis uses, called on `scipy.special`: the very routines `scipy.stats` calls for
them (stdtr, stdtrit, ndtri, ndtr, gammaincinv, fdtrc, the beta and binomial ufuncs), without importing `scipy.stats`,
which takes three times as long (a second on a small machine; the report's worker waits for it).

Each function accepts what its `scipy.stats` counterpart accepts at the call sites here (finite parameters) and
returns the same values; tests/stats/test_dist.py checks them against `scipy.stats` bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.special as sc
import scipy.special._ufuncs as scu  # scipy.stats.binom's own pmf and cdf


def t_sf(x: Any, df: Any) -> Any:
    """scipy.stats.t.sf(x, df)."""
    return sc.stdtr(df, -np.asarray(x, float))


def t_ppf(q: Any, df: Any) -> Any:
    """scipy.stats.t.ppf(q, df), for 0 ≤ q ≤ 1."""
    return sc.stdtrit(df, q)


def norm_ppf(q: Any) -> Any:
    """scipy.stats.norm.ppf(q)."""
    return sc.ndtri(q)


def norm_cdf(x: Any) -> Any:
    """scipy.stats.norm.cdf(x)."""
    return sc.ndtr(x)


def chi2_ppf(q: Any, df: Any) -> Any:
    """scipy.stats.chi2.ppf(q, df), for 0 ≤ q < 1."""
    return 2 * sc.gammaincinv(np.asarray(df, float) / 2, q)


def f_sf(x: Any, dfn: Any, dfd: Any) -> Any:
    """scipy.stats.f.sf(x, dfn, dfd), for x ≥ 0."""
    return sc.fdtrc(dfn, dfd, x)


def beta_ppf(q: Any, a: Any, b: Any) -> Any:
    """scipy.stats.beta.ppf(q, a, b)."""
    return scu._beta_ppf(q, a, b)


def binom_pmf(k: Any, n: Any, p: Any) -> Any:
    """scipy.stats.binom.pmf(k, n, p) for whole k (0 outside 0..n)."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    inside = (k >= 0) & (k <= n)
    return np.where(inside, scu._binom_pmf(np.where(inside, k, 0), n, p), 0.0)


def binom_cdf(k: Any, n: Any, p: Any) -> Any:
    """scipy.stats.binom.cdf(k, n, p) for whole k (0 below 0, 1 from n on)."""
    k, n = np.floor(np.asarray(k, float)), np.asarray(n, float)
    return np.where(k < 0, 0.0, np.where(k >= n, 1.0, scu._binom_cdf(np.clip(k, 0, None), n, p)))
