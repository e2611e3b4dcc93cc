"""The few distribution functions the end-of-run summary needs, in pure Python.

`emoprompt run` prints its summary as soon as the last answer arrives; importing SciPy for two quantiles would cost
it a second on a small machine. These agree with `scipy.stats` to about 1e-12 (tests/stats/test_distributions.py):
the Student t tail through the regularized incomplete beta function (a Lentz continued fraction), its quantile by
safeguarded Newton steps, the normal quantile from the standard library, binomial tails summed in log space.
"""

from __future__ import annotations

import math
from statistics import NormalDist

_TINY = 1e-300
_EPS = 1e-15


def normal_ppf(q: float) -> float:
    """The standard normal quantile (scipy.stats.norm.ppf)."""
    if q <= 0.0:
        return -math.inf
    if q >= 1.0:
        return math.inf
    return NormalDist().inv_cdf(q)


def incomplete_beta(a: float, b: float, x: float, complement: float | None = None) -> float:
    """The regularized incomplete beta function I_x(a, b) (scipy.special.betainc); `complement` is 1 − x when the
    caller can compute it without cancellation."""
    y = 1.0 - x if complement is None else complement
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_front = (a * math.log(x) + b * math.log(y) + math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, y) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), by the modified Lentz method."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    value = d
    for m in range(1, 100_000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            value *= c * d
        if abs(c * d - 1.0) < _EPS:
            break
    return value


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with `df` degrees of freedom (scipy.stats.t.sf)."""
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t), t * t / (df + t * t))
    return tail if t > 0 else 1.0 - tail


def t_ppf(q: float, df: float) -> float:
    """The quantile of Student's t (scipy.stats.t.ppf), for 0 < q < 1."""
    if not 0.0 < q < 1.0:
        return -math.inf if q <= 0.0 else math.inf
    if q == 0.5:
        return 0.0
    if q < 0.5:
        return -t_ppf(1.0 - q, df)
    target = 1.0 - q
    low, high = 0.0, 1.0
    while t_sf(high, df) > target:
        low, high = high, high * 2.0
    x = min(max(normal_ppf(q), low), high)
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    for _ in range(200):
        gap = t_sf(x, df) - target
        if gap > 0:
            low = x
        else:
            high = x
        density = math.exp(log_norm - (df + 1) / 2 * math.log1p(x * x / df))
        step = gap / density if density > 0 else math.inf
        candidate = x + step
        if not low < candidate < high:
            candidate = (low + high) / 2
        if abs(candidate - x) <= 1e-15 * max(1.0, abs(x)):
            return candidate
        x = candidate
    return x


def binomial_cdf_half(k: int, m: int) -> float:
    """P(X ≤ k) for X ~ Bin(m, ½) (scipy.stats.binom.cdf(k, m, 0.5)), for 0 ≤ k ≤ m."""
    if k >= m:
        return 1.0
    if k < 0:
        return 0.0
    if k > m // 2:
        return 1.0 - binomial_cdf_half(m - k - 1, m)
    terms = [_log_binomial_half(i, m) for i in range(k + 1)]
    top = max(terms)
    return math.exp(top) * math.fsum(math.exp(term - top) for term in terms)


def binomial_pmf_half(k: int, m: int) -> float:
    """P(X = k) for X ~ Bin(m, ½) (scipy.stats.binom.pmf(k, m, 0.5))."""
    return math.exp(_log_binomial_half(k, m)) if 0 <= k <= m else 0.0


def _log_binomial_half(i: int, m: int) -> float:
    return math.lgamma(m + 1) - math.lgamma(i + 1) - math.lgamma(m - i + 1) - m * math.log(2.0)
