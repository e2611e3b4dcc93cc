"""Peeking-safe A/B: anytime-valid confidence sequences and e-values for arms on live traffic.

A fixed-n test checked every day stops falsely several times more often than α. A confidence sequence is valid at
every moment at once, so `emoprompt ab status` may be asked any time. This module uses the asymptotic confidence
sequence of Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas ("Time-uniform central limit theory and asymptotic
confidence sequences", arXiv 2103.06476, Theorem 2.2; the method of GrowthBook's sequential engine) on the
augmented inverse-propensity-weighted (AIPW) difference of an arm and the control, with each arm's running mean
as a predictable outcome model (Waudby-Smith et al., §4 on randomized experiments):

    ψ_i = m1 − m0 + T_i (Y_i − m1) / π − (1 − T_i)(Y_i − m0) / (1 − π),

with π the arm's share of the two (known from the design) and m1, m0 the arm's and the control's mean outcome over
the calls before call i (fixed before call i is assigned, hence predictable). Since the assignment of call i is
independent of the past, E[ψ_i | past] = μ_arm − μ_control whatever m1 and m0 are, so the sequence stays valid;
and because the outcomes are centred, its width depends on their spread only, not on their level (plain IPW,
Y/π − Y/(1 − π), has a variance that grows with the level: adding 10 to every outcome widened it twelvefold).
One sequence is mean_t ± sqrt( 2 (t σ̂²ρ² + 1) / (t²ρ²) · log( sqrt(t σ̂²ρ² + 1) / α ) ), tightest near
the t that ρ is tuned for; emoprompt takes the narrowest of three, tuned for a tenth of n_planned, 0.4 and 1.6 times
it, each at α/3 (a union bound). The matching e-value — exp(ρ²S_t² / (2(t σ̂²ρ² + 1))) / sqrt(t σ̂²ρ² + 1), the
largest of the three divided by 3 — feeds e-BH (Wang & Ramdas 2022) within a family of hypotheses (the outcome
across arms; the guardrails across arms, separately), which controls the false discovery rate under any
dependence.
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


LADDER = (0.1, 0.4, 1.6)
"""Where the sequence is tuned, as multiples of n_planned: the union bound of three sequences at α/3 each, so it
is tight from about a tenth of the plan to past it (an effect that shows after 1,000 calls of a 10,000-call plan is
found then, not at 2,000), at the price of α/3 in each."""


def confidence_sequence(psi: np.ndarray, alpha: float = 0.05, n_planned: int = 10_000,
                        ladder: tuple[float, ...] = LADDER) -> tuple[np.ndarray, np.ndarray]:
    """(running mean, radius) after each observation of ψ: the (1 − α) asymptotic confidence sequence, the
    narrowest at each moment of the `ladder`'s sequences (tuned at those multiples of n_planned) at α/len(ladder)
    each (valid by the union bound)."""
    psi = np.asarray(psi, float)
    t = np.arange(1, len(psi) + 1, dtype=float)
    mean = np.cumsum(psi) / t
    variance = np.maximum(np.cumsum(psi**2) / t - mean**2, 0.0)
    return mean, confidence_radius(t, variance, alpha, n_planned, ladder)


def confidence_radius(t: Any, variance: Any, alpha: float = 0.05, n_planned: int = 10_000,
                      ladder: tuple[float, ...] = LADDER) -> Any:
    """The radius of `confidence_sequence` after `t` observations of variance `variance` (numbers or arrays)."""
    level = alpha / len(ladder)
    t, variance = np.asarray(t, float), np.asarray(variance, float)
    radius = np.full(np.broadcast(t, variance).shape, np.inf)
    for rho2 in _rungs(n_planned, level, ladder):
        inner = t * variance * rho2 + 1
        radius = np.minimum(radius, np.sqrt(2 * inner / (t**2 * rho2) * np.log(np.sqrt(inner) / level)))
    return radius if radius.ndim else float(radius)


def e_value(psi: np.ndarray, alpha: float = 0.05, n_planned: int = 10_000) -> float:
    """The (asymptotic) e-value against a zero mean of ψ after all observations so far: the largest of the
    LADDER's e-values divided by their number (at most their mean, so an e-value), which reaches 1/α exactly when
    `confidence_sequence` excludes 0."""
    psi = np.asarray(psi, float)
    if len(psi) == 0:
        return 1.0
    t = len(psi)
    total = float(psi.sum())
    variance = max(float(np.mean(psi**2) - (total / t) ** 2), 0.0)
    values = []
    for rho2 in _rungs(n_planned, alpha / len(LADDER)):
        inner = t * variance * rho2 + 1
        values.append(math.exp(min(rho2 * total**2 / (2 * inner), 700)) / math.sqrt(inner))
    return float(max(values) / len(LADDER))


def _rungs(n_planned: int, level: float, ladder: tuple[float, ...] = LADDER) -> list[float]:
    return [rho_squared(max(1, round(share * n_planned)), level) for share in ladder]


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


def aipw(values: np.ndarray, treated: np.ndarray, share: float) -> np.ndarray:
    """ψ for each call of the two arms, in order (see the module docstring): each call's outcome centred by its
    arm's mean over the earlier calls (before an arm's first call, the mean of all earlier calls). The very first
    call has nothing to be centred by: its ψ is NaN and the sequence starts at the second."""
    values, treated = np.asarray(values, float), np.asarray(treated, bool)
    m1, m0 = _earlier_means(values, treated), _earlier_means(values, ~treated)
    pooled = _earlier_means(values, np.ones(len(values), bool))
    m1, m0 = np.where(np.isnan(m1), pooled, m1), np.where(np.isnan(m0), pooled, m0)
    return np.where(treated, m1 - m0 + (values - m1) / share, m1 - m0 - (values - m0) / (1 - share))


def _earlier_means(values: np.ndarray, members: np.ndarray) -> np.ndarray:
    """For each call, the mean of `values` over the earlier calls in `members` (NaN when there were none)."""
    sums = np.concatenate([[0.0], np.cumsum(np.where(members, values, 0.0))[:-1]])
    counts = np.concatenate([[0], np.cumsum(members)[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


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
    psi = aipw(values, treated, share)
    psi = psi[np.isfinite(psi)]
    mean, radius = confidence_sequence(psi, alpha, n_planned)
    points = np.unique(np.linspace(1, len(psi), num=min(60, len(psi))).astype(int))
    skipped = len(values) - len(psi)
    path = [(int(p) + skipped, float(mean[p - 1]), float(mean[p - 1] - radius[p - 1]),
             float(mean[p - 1] + radius[p - 1])) for p in points]
    return SequentialContrast(arm, metric, len(values), float(mean[-1]), float(mean[-1] - radius[-1]),
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
