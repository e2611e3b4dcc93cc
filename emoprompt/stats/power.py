"""Power and minimum detectable effects (STATS.md §1 R5 and §6)."""

from __future__ import annotations

import functools
import math

import numpy as np


def z(p: float) -> float:
    """The standard normal quantile."""
    from scipy import stats

    return float(stats.norm.ppf(p))


T_POWER_BELOW = 1000
"""Below this many items the MDE comes from the noncentral t (statsmodels); above, the normal approximation."""


def mde_paired(var_d: float, n: int, alpha: float = 0.05, power: float = 0.8, family: int = 1) -> float:
    """Minimum detectable paired difference at α/family, two-sided (the family is the Holm family the contrast is
    corrected in). Miller (2024) Eq. 10 for large n; below T_POWER_BELOW items, the paired t test's power from
    the noncentral t distribution (statsmodels `TTestPower`), which the normal formula overstates at small n.

    `var_d` is Var(d_i) of the per-item differences of K-averaged scores: ω² + σ²_A/K_A + σ²_B/K_B.
    """
    if n < 2 or var_d != var_d:
        return float("nan")
    sd = math.sqrt(max(var_d, 0.0))
    level = alpha / family
    if n < T_POWER_BELOW:
        return _t_effect_size(n, level, power) * sd
    return mde_normal(var_d, n, alpha, power, family)


def mde_normal(var_d: float, n: int, alpha: float = 0.05, power: float = 0.8, family: int = 1) -> float:
    """Miller (2024) Eq. 10: (z_{1−α/2f} + z_power)·√(Var(d)/n), the large-sample MDE."""
    return (z(1 - alpha / (2 * family)) + z(power)) * math.sqrt(max(var_d, 0.0) / n)


@functools.lru_cache(maxsize=4096)
def _t_effect_size(n: int, level: float, power: float) -> float:
    """The standardised effect (Cohen's d of the differences) a paired t test on n items detects with `power`."""
    import warnings

    from statsmodels.stats.power import TTestPower

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        effect = TTestPower().solve_power(effect_size=None, nobs=n, alpha=level, power=power,
                                          alternative="two-sided")
    return float(np.asarray(effect).item())


def n_for_effect(var_d: float, delta: float, alpha: float = 0.05, power: float = 0.8, family: int = 1
                 ) -> int | float:
    """Items needed to detect `delta` (Miller 2024, Eq. 9) at α/family; infinite for a zero effect."""
    if delta == 0:
        return math.inf
    return math.ceil((z(1 - alpha / (2 * family)) + z(power)) ** 2 * var_d / delta**2)


def items_needed(var_d: float, delta: float, alpha: float = 0.05, power: float = 0.8, family: int = 1
                 ) -> int | float:
    """The fewest items whose `mde_paired` is at most `delta`: the test the report runs, so the plan's count and
    its own MDE agree (below T_POWER_BELOW items the noncentral t, whose count the normal Eq. 9 understates by a
    few items); infinite for a zero effect."""
    if delta <= 0 or var_d != var_d:
        return math.inf
    normal = n_for_effect(var_d, delta, alpha, power, family)
    if not math.isfinite(normal) or normal >= T_POWER_BELOW:
        return normal
    n = max(2, int(normal))
    while n < T_POWER_BELOW and mde_paired(var_d, n, alpha, power, family) > delta:
        n += max(1, (n // 50) if mde_paired(var_d, n + n // 50, alpha, power, family) > delta else 1)
    return n


def connor_n(p10: float, p01: float, alpha: float = 0.05, power: float = 0.8, family: int = 1) -> int | float:
    """Connor (1987) items for the paired binary design: [z_a√ψ + z_b√(ψ − δ²)]² / δ²; infinite if δ = 0."""
    psi, delta = p10 + p01, p10 - p01
    if delta == 0:
        return math.inf
    za, zb = z(1 - alpha / (2 * family)), z(power)
    return math.ceil((za * math.sqrt(psi) + zb * math.sqrt(psi - delta**2)) ** 2 / delta**2)


def connor_power(n: int, p10: float, p01: float, alpha: float = 0.05, family: int = 1) -> float:
    """Connor's approximate power of McNemar's test."""
    from scipy import stats

    psi, delta = p10 + p01, abs(p10 - p01)
    if psi - delta**2 <= 0:
        return 1.0
    za = z(1 - alpha / (2 * family))
    return float(stats.norm.cdf((math.sqrt(n) * delta - za * math.sqrt(psi)) / math.sqrt(psi - delta**2)))


def power_exact_mcnemar(n: int, p10: float, p01: float, alpha: float = 0.05, mid_p: bool = True) -> float:
    """Exact unconditional power by enumeration: m ~ Bin(n, ψ), n10 | m ~ Bin(m, p10/ψ)."""
    from scipy import stats

    from emoprompt.stats.paired import mcnemar_exact, mcnemar_midp

    psi = p10 + p01
    if psi == 0:
        return 0.0
    test = mcnemar_midp if mid_p else mcnemar_exact
    share = p10 / psi
    total = 0.0
    m_values = np.arange(n + 1)
    m_weights = stats.binom.pmf(m_values, n, psi)
    for m, weight in zip(m_values, m_weights, strict=True):
        if weight < 1e-12 or m == 0:
            continue
        k = np.arange(m + 1)
        rejects = np.array([test(int(a), int(m - a)) < alpha for a in k])
        total += weight * float(np.sum(stats.binom.pmf(k, m, share)[rejects]))
    return total


def min_discordant_for_significance(alpha: float = 0.05, family: int = 1, mid_p: bool = True) -> int:
    """The fewest discordant pairs m with which a unanimous split can reach p < α/family: the smallest possible
    two-sided p is 0.5^m for the mid-p test (one pair fewer than the exact test) and 2·0.5^m for the exact one."""
    level = alpha / family
    return math.floor(math.log2((1 if mid_p else 2) / level)) + 1


def smallest_p(discordant: int, mid_p: bool = True) -> float:
    """The smallest two-sided McNemar p that `discordant` pairs can give (all of them one way)."""
    return min(1.0, (1 if mid_p else 2) * 0.5**discordant)
