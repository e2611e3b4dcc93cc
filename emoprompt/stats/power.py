"""Power and minimum detectable effects (STATS.md §1 R5 and §6)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def z(p: float) -> float:
    """The standard normal quantile."""
    return float(stats.norm.ppf(p))


def mde_paired(var_d: float, n: int, alpha: float = 0.05, power: float = 0.8, family: int = 1) -> float:
    """Minimum detectable paired difference (Miller 2024, Eq. 10) at α/family, two-sided.

    `var_d` is Var(d_i) of the per-item differences of K-averaged scores: ω² + σ²_A/K_A + σ²_B/K_B.
    """
    if n < 1 or var_d != var_d:
        return float("nan")
    return (z(1 - alpha / (2 * family)) + z(power)) * math.sqrt(max(var_d, 0.0) / n)


def n_for_effect(var_d: float, delta: float, alpha: float = 0.05, power: float = 0.8, family: int = 1
                 ) -> int | float:
    """Items needed to detect `delta` (Miller 2024, Eq. 9) at α/family; infinite for a zero effect."""
    if delta == 0:
        return math.inf
    return math.ceil((z(1 - alpha / (2 * family)) + z(power)) ** 2 * var_d / delta**2)


def connor_n(p10: float, p01: float, alpha: float = 0.05, power: float = 0.8, family: int = 1) -> int | float:
    """Connor (1987) items for the paired binary design: [z_a√ψ + z_b√(ψ − δ²)]² / δ²; infinite if δ = 0."""
    psi, delta = p10 + p01, p10 - p01
    if delta == 0:
        return math.inf
    za, zb = z(1 - alpha / (2 * family)), z(power)
    return math.ceil((za * math.sqrt(psi) + zb * math.sqrt(psi - delta**2)) ** 2 / delta**2)


def connor_power(n: int, p10: float, p01: float, alpha: float = 0.05, family: int = 1) -> float:
    """Connor's approximate power of McNemar's test."""
    psi, delta = p10 + p01, abs(p10 - p01)
    if psi - delta**2 <= 0:
        return 1.0
    za = z(1 - alpha / (2 * family))
    return float(stats.norm.cdf((math.sqrt(n) * delta - za * math.sqrt(psi)) / math.sqrt(psi - delta**2)))


def power_exact_mcnemar(n: int, p10: float, p01: float, alpha: float = 0.05, mid_p: bool = True) -> float:
    """Exact unconditional power by enumeration: m ~ Bin(n, ψ), n10 | m ~ Bin(m, p10/ψ)."""
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


def min_discordant_for_significance(alpha: float = 0.05, family: int = 1) -> int:
    """⌈log2(2·family/α)⌉: with fewer discordant pairs even a unanimous split cannot reach α/family."""
    return math.ceil(math.log2(2 * family / alpha))
