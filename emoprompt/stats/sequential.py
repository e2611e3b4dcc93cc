"""Peeking-safe A/B: anytime-valid confidence sequences and e-values for arms on live traffic.

A fixed-n test checked every day stops falsely several times more often than α. A confidence sequence is valid at
every moment at once, so `emoprompt ab status` may be asked any time. This module uses the asymptotic confidence
sequence of Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas ("Time-uniform central limit theory and asymptotic
confidence sequences", arXiv 2103.06476, Theorem 2.2; the method of GrowthBook's sequential engine) on the
inverse-propensity-weighted difference of an arm and the control:

    ψ_i = Y_i / π   if call i went to the arm,   −Y_i / (1 − π)   if it went to the control,

with π the arm's share of the two (known from the design), so mean(ψ) estimates μ_arm − μ_control. The sequence
is mean_t ± sqrt( 2 (t σ̂²ρ² + 1) / (t²ρ²) · log( sqrt(t σ̂²ρ² + 1) / α ) ), tightest near t = n_planned (through
ρ). The matching e-value, exp(ρ²S_t² / (2(t σ̂²ρ² + 1))) / sqrt(t σ̂²ρ² + 1), feeds e-BH (Wang & Ramdas 2022)
across arms × metrics, which controls the false discovery rate under any dependence.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


def rho_squared(n_planned: int, alpha: float) -> float:
    """The ρ² that makes the sequence tightest after `n_planned` observations."""
    log_term = -2 * math.log(alpha)
    return (log_term + math.log(log_term + 1)) / n_planned


def confidence_sequence(psi: np.ndarray, alpha: float = 0.05, n_planned: int = 10_000
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(running mean, radius) after each observation of ψ: the (1 − α) asymptotic confidence sequence."""
    psi = np.asarray(psi, float)
    t = np.arange(1, len(psi) + 1, dtype=float)
    mean = np.cumsum(psi) / t
    variance = np.maximum(np.cumsum(psi**2) / t - mean**2, 0.0)
    rho2 = rho_squared(n_planned, alpha)
    inner = t * variance * rho2 + 1
    radius = np.sqrt(2 * inner / (t**2 * rho2) * np.log(np.sqrt(inner) / alpha))
    return mean, radius


def e_value(psi: np.ndarray, alpha: float = 0.05, n_planned: int = 10_000) -> float:
    """The (asymptotic) e-value against a zero mean of ψ after all observations so far."""
    psi = np.asarray(psi, float)
    if len(psi) == 0:
        return 1.0
    t = len(psi)
    total = float(psi.sum())
    variance = max(float(np.mean(psi**2) - (total / t) ** 2), 0.0)
    rho2 = rho_squared(n_planned, alpha)
    inner = t * variance * rho2 + 1
    return float(math.exp(min(rho2 * total**2 / (2 * inner), 700)) / math.sqrt(inner))


def e_bh(e_values: list[float], alpha: float = 0.05) -> list[bool]:
    """e-BH (Wang & Ramdas 2022): reject the k largest e-values, k the largest with e_(k) ≥ m / (α k)."""
    m = len(e_values)
    order = sorted(range(m), key=lambda i: -e_values[i])
    accepted = 0
    for rank, index in enumerate(order, start=1):
        if e_values[index] >= m / (alpha * rank):
            accepted = rank
    rejected = set(order[:accepted])
    return [i in rejected for i in range(m)]


def ipw(values: np.ndarray, treated: np.ndarray, share: float) -> np.ndarray:
    """ψ for each call of the two arms, in order: Y/π for the arm, −Y/(1 − π) for the control."""
    values, treated = np.asarray(values, float), np.asarray(treated, bool)
    return np.where(treated, values / share, -values / (1 - share))


@dataclass(frozen=True)
class SequentialContrast:
    """One arm against the control on one metric, at the latest observation, and the path so far."""

    arm: str
    metric: str
    n: int
    diff: float
    ci_low: float
    ci_high: float
    e_value: float
    path: list[tuple[int, float, float, float]]
    """(observations, estimate, low, high) at about 60 points along the way, for the plot."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return asdict(self)


def sequential_contrast(arm: str, metric: str, values: np.ndarray, treated: np.ndarray, share: float,
                        alpha: float, n_planned: int) -> SequentialContrast | None:
    """The confidence sequence and e-value of one arm vs the control on one metric."""
    keep = np.isfinite(np.asarray(values, float))
    values, treated = np.asarray(values, float)[keep], np.asarray(treated, bool)[keep]
    if len(values) < 2 or treated.all() or not treated.any():
        return None
    psi = ipw(values, treated, share)
    mean, radius = confidence_sequence(psi, alpha, n_planned)
    points = np.unique(np.linspace(1, len(psi), num=min(60, len(psi))).astype(int))
    path = [(int(p), float(mean[p - 1]), float(mean[p - 1] - radius[p - 1]), float(mean[p - 1] + radius[p - 1]))
            for p in points]
    return SequentialContrast(arm, metric, len(psi), float(mean[-1]), float(mean[-1] - radius[-1]),
                              float(mean[-1] + radius[-1]), e_value(psi, alpha, n_planned), path)


def sample_ratio_mismatch(counts: dict[str, int], weights: dict[str, float]) -> float:
    """The chi-square goodness-of-fit p of the assignment counts against the design's weights (small: broken
    assignment or logging)."""
    names = [name for name in weights if weights[name] > 0]
    observed = np.array([counts.get(name, 0) for name in names], float)
    if observed.sum() == 0 or len(names) < 2:
        return 1.0
    expected = np.array([weights[name] for name in names], float)
    expected = expected / expected.sum() * observed.sum()
    from scipy import stats

    return float(stats.chisquare(observed, expected).pvalue)
