"""Effect sizes for paired comparisons (STATS.md §5): relative change, conditional odds ratio, Cohen's h."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from emoprompt.stats.paired import Z95


@dataclass(frozen=True)
class RelativeChange:
    """p_T / p_C − 1 with a paired log-ratio (delta-method) CI; `flag` says why it should not be trusted."""

    value: float
    ci_low: float
    ci_high: float
    flag: str | None

    def to_dict(self) -> dict[str, object]:
        """Plain data."""
        return asdict(self)


def relative_change_paired(n11: int, n10: int, n01: int, n: int, z: float = Z95) -> RelativeChange:
    """Relative change for K = 1 binary pairs; Var(log RR) = (n10 + n01) / ((n11 + n10)(n11 + n01)).

    Flagged when the control rate is below 0.2 or there are fewer than 10 discordant pairs (STATS.md §5):
    small baselines make relative changes explode.
    """
    treated, control = n11 + n10, n11 + n01
    flag = _flag(control / n if n else 0.0, n10 + n01)
    if treated == 0 or control == 0:
        return RelativeChange(float("nan"), float("nan"), float("nan"), flag or "undefined: a zero rate")
    log_rr = math.log(treated / control)
    if n10 + n01 == 0:
        return RelativeChange(0.0, float("nan"), float("nan"), flag)
    se = math.sqrt((n10 + n01) / (treated * control))
    return RelativeChange(math.exp(log_rr) - 1, math.exp(log_rr - z * se) - 1, math.exp(log_rr + z * se) - 1, flag)


def relative_change_means(treatment: np.ndarray, control: np.ndarray, z: float = Z95) -> RelativeChange:
    """Relative change of per-item means (K > 1 or continuous): delta method for the ratio of paired means, with
    Student's t (n − 1 df) at the level `z` stands for, as the paired t interval of the same items uses. With z
    itself the interval covered 0.928 at 15 items (K = 3, control rate about 0.6; 3,000 seeded simulations)."""
    from scipy import stats

    t, c = np.asarray(treatment, float), np.asarray(control, float)
    n = len(t)
    mean_t, mean_c = t.mean(), c.mean()
    discordant = int(np.sum(t != c))
    flag = _flag(float(mean_c), discordant)
    if mean_t <= 0 or mean_c <= 0 or n < 2:
        return RelativeChange(float("nan"), float("nan"), float("nan"), flag or "undefined: a zero rate")
    covariance = np.cov(t, c, ddof=1)
    var_log = (covariance[0, 0] / mean_t**2 + covariance[1, 1] / mean_c**2
               - 2 * covariance[0, 1] / (mean_t * mean_c)) / n
    se = math.sqrt(max(var_log, 0.0))
    log_rr = math.log(mean_t / mean_c)
    q = float(stats.t.ppf(stats.norm.cdf(z), n - 1))
    return RelativeChange(math.exp(log_rr) - 1, math.exp(log_rr - q * se) - 1, math.exp(log_rr + q * se) - 1, flag)


def _flag(control_rate: float, discordant: int) -> str | None:
    reasons = []
    if control_rate < 0.2:
        reasons.append(f"control rate {control_rate:.0%} < 20%")
    if discordant < 10:
        reasons.append(f"{discordant} discordant pairs < 10")
    return "; ".join(reasons) or None


def conditional_odds_ratio(n10: int, n01: int, alpha: float = 0.05) -> tuple[float, float, float]:
    """n10 / n01 with the exact (Clopper–Pearson) CI from π = n10 / (n10 + n01), OR = π / (1 − π)."""
    m = n10 + n01
    if m == 0:
        return float("nan"), float("nan"), float("nan")
    low, high = clopper_pearson(n10, m, alpha)

    def odds(p: float) -> float:
        return math.inf if p >= 1 else p / (1 - p)

    ratio = math.inf if n01 == 0 else n10 / n01
    return ratio, odds(low), odds(high)


def clopper_pearson(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """The exact (Clopper–Pearson) interval for one proportion, from beta quantiles (what
    `scipy.stats.binomtest(...).proportion_ci(method="exact")` finds by root search, to 1e-12)."""
    from scipy import stats

    low = 0.0 if successes == 0 else float(stats.beta.ppf(alpha / 2, successes, n - successes + 1))
    high = 1.0 if successes == n else float(stats.beta.ppf(1 - alpha / 2, successes + 1, n - successes))
    return low, high


def cohens_h(p_treatment: float, p_control: float) -> float:
    """2·asin√p_T − 2·asin√p_C: variance-stabilised, descriptive, not paired-aware."""
    return 2 * math.asin(math.sqrt(min(max(p_treatment, 0), 1))) - 2 * math.asin(math.sqrt(min(max(p_control, 0), 1)))


def exact_binomial_ci(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Clopper–Pearson (exact) interval for one proportion: covers at least 1 − α for every true rate and n
    (statsmodels' `proportion_confint(method="beta")`). Deviation from the Wilson interval used before: by exact
    enumeration Wilson covered 0.86 at 15 items (rate 1%) and 0.93 at 30 and 60."""
    from scipy import stats

    if n == 0:
        return float("nan"), float("nan")
    low = float(stats.beta.ppf(alpha / 2, successes, n - successes + 1)) if successes > 0 else 0.0
    high = float(stats.beta.ppf(1 - alpha / 2, successes + 1, n - successes)) if successes < n else 1.0
    return low, high
