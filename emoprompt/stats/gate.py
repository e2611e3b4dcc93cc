"""The decision statistics of `emoprompt gate`: is a candidate no worse than a reference by more than a margin
(non-inferiority), or better (superiority)?

A gate has an indifference zone (lo, hi) on the mean paired difference δ = candidate − reference:
non-inferiority with margin m has (−m, 0), superiority with margin m has (0, m). With L and U the one-sided
(1 − α) bounds of δ (the two bounds of one (1 − 2α) interval):

- ALLOW when L > lo: δ ≤ lo (a regression of the margin, or, for superiority, no gain) is excluded;
- REJECT when U < hi and not ALLOW: δ ≥ hi (no regression, or the gain of the margin) is excluded;
- INCONCLUSIVE otherwise.

So a false ALLOW (letting a regression of the margin through) and a false REJECT (failing a change that did no
harm) each happen with probability at most α. The fixed gate takes L and U from the contrast's own paired test
(the Dirichlet ∪ Tango interval of McNemar's design for one binary sample per item, paired t on item means
otherwise; the crossed items × wordings interval when wordings were crossed). The sequential gate takes them from
the anytime-valid confidence sequence of `stats.sequential` on the item differences in the order the items ran, so
it may be looked at after every round and stopped at the first verdict.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from emoprompt.stats.paired import floor_variance, paired_difference
from emoprompt.stats.power import n_for_effect
from emoprompt.stats.sequential import confidence_radius, confidence_sequence

ALLOW, REJECT, INCONCLUSIVE = "ALLOW", "REJECT", "INCONCLUSIVE"

TUNING = (1 / 3,)
"""The sequential gate's one confidence sequence is tuned for a third of the most items it may use (a gate's
decisions come well before its cap; one sequence at the full α, not the A/B ladder's three at α/3: seeded
simulations in benchmarks/gate_simulation.py)."""


@dataclass(frozen=True)
class GateRule:
    """What a gate asks: `margin` in the scores' unit (0.02 = 2 pp on 0–1 scores), non-inferiority unless
    `superiority`; `alpha` is the error rate of each verdict (one-sided); `power` sizes the designs it suggests."""

    margin: float
    superiority: bool = False
    alpha: float = 0.05
    power: float = 0.8

    @property
    def zone(self) -> tuple[float, float]:
        """(lo, hi): δ ≤ lo is what ALLOW excludes, δ ≥ hi what REJECT excludes."""
        return (0.0, self.margin) if self.superiority else (-self.margin, 0.0)

    def verdict(self, low: float, high: float) -> str:
        """The verdict of one-sided bounds (L, U)."""
        lo, hi = self.zone
        if low > lo:
            return ALLOW
        if high < hi:
            return REJECT
        return INCONCLUSIVE

    def with_alpha(self, alpha: float) -> GateRule:
        """The rule at another α (Bonferroni over several gated contrasts)."""
        return GateRule(self.margin, self.superiority, alpha, self.power)


@dataclass
class GateDecision:
    """One gated contrast's verdict and what it rests on."""

    verdict: str
    n_items: int
    estimate: float
    low: float
    high: float
    method: str
    reference_mean: float
    candidate_mean: float
    items_to_decide: int | None = None
    """INCONCLUSIVE: about how many items in all would decide it with probability `power`, if the effect and the
    variance stay as observed (None when no number of items is likely to: the estimate sits on the boundary)."""
    looks: list[dict[str, Any]] = field(default_factory=list)
    """Sequential gates: (items, estimate, low, high, verdict) at every look so far."""
    item_variance: float | None = None
    """Crossed gates: the variance of one item's mean difference that the crossed interval implies (se² × items)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return asdict(self)


def fixed_gate(candidate: np.ndarray, reference: np.ndarray, repeats: int, rule: GateRule) -> GateDecision:
    """The verdict of the contrast's own paired test on per-item (repeat-averaged) scores, all items at once."""
    t, c = np.asarray(candidate, float), np.asarray(reference, float)
    result = paired_difference(t, c, repeats, 2 * rule.alpha)
    decision = GateDecision(rule.verdict(result.ci_low, result.ci_high), len(t), result.diff, result.ci_low,
                            result.ci_high, result.method, result.mean_control, result.mean_treatment)
    if decision.verdict == INCONCLUSIVE:
        decision.items_to_decide = items_to_decide(result.diff, difference_variance(t, c), rule)
    return decision


def difference_variance(candidate: np.ndarray, reference: np.ndarray) -> float:
    """The per-item variance of the differences, floored (`stats.paired.floor_variance`) where none was observed:
    six items without a discordant pair do not make a difference certain."""
    t, c = np.asarray(candidate, float), np.asarray(reference, float)
    if len(t) < 2:
        return float("nan")
    variance = float(np.var(t - c, ddof=1))
    return variance if variance > 0 else floor_variance(t, c)


def crossed_gate(crossed: dict[str, Any], reference_mean: float, candidate_mean: float, rule: GateRule
                 ) -> GateDecision:
    """The verdict of the crossed items × wordings interval (`stats.wording.crossed_contrast` at 2α)."""
    verdict = rule.verdict(crossed["ci_low"], crossed["ci_high"])
    decision = GateDecision(verdict, int(crossed["n_items"]), crossed["diff"], crossed["ci_low"],
                            crossed["ci_high"], "crossed items × wordings (Satterthwaite t)", reference_mean,
                            candidate_mean, item_variance=crossed["se"] ** 2 * crossed["n_items"])
    if verdict == INCONCLUSIVE:
        decision.items_to_decide = items_to_decide(crossed["diff"], decision.item_variance or 0.0, rule)
    return decision


def sequential_gate(differences: np.ndarray, looks: list[int], rule: GateRule, n_planned: int,
                    reference_mean: float, candidate_mean: float) -> GateDecision:
    """The verdict at the first look (a number of items, in the order they ran) at which the anytime-valid
    (1 − 2α) confidence sequence of the item differences decides, else at the last look (INCONCLUSIVE)."""
    d = np.asarray(differences, float)
    mean, radius = confidence_sequence(d, 2 * rule.alpha, n_planned, TUNING)
    path: list[dict[str, Any]] = []  # items, estimate, low, high, verdict
    for look in sorted({n for n in looks if 2 <= n <= len(d)}):
        estimate, low, high = float(mean[look - 1]), float(mean[look - 1] - radius[look - 1]), \
            float(mean[look - 1] + radius[look - 1])
        verdict = rule.verdict(low, high)
        path.append({"items": look, "estimate": estimate, "low": low, "high": high, "verdict": verdict})
        if verdict != INCONCLUSIVE:
            break
    last: dict[str, Any] = path[-1] if path else {
        "items": len(d), "estimate": float(d.mean()) if len(d) else float("nan"), "low": -math.inf,
        "high": math.inf, "verdict": INCONCLUSIVE}
    decision = GateDecision(last["verdict"], last["items"], last["estimate"], last["low"], last["high"],
                            "anytime-valid confidence sequence (asymptotic, Waudby-Smith et al. 2021)",
                            reference_mean, candidate_mean, looks=path)
    if decision.verdict == INCONCLUSIVE and len(d) > 1:
        variance = difference_variance(d, np.zeros(len(d)))
        decision.items_to_decide = items_to_decide(decision.estimate, variance, rule, sequential_plan=n_planned)
    return decision


def items_to_decide(estimate: float, variance: float, rule: GateRule, sequential_plan: int | None = None
                    ) -> int | None:
    """About how many items in all would decide a gate with probability `rule.power` if the effect and the
    per-item variance of the differences stay as observed: the nearer verdict's boundary is max(δ̂ − lo, hi − δ̂)
    away; a fixed gate needs (z₁₋α + z_power)² σ² / distance² items, a sequential one the first n at which its
    radius, widened by the same power term, is below the distance. None when nothing finite is likely to decide."""
    lo, hi = rule.zone
    distance = max(estimate - lo, hi - estimate)
    if not (distance > 0 and math.isfinite(distance) and variance == variance):
        return None
    if variance <= 0:
        return 2
    if sequential_plan is None:
        needed = n_for_effect(variance, distance, 2 * rule.alpha, rule.power)
        return int(needed) if math.isfinite(needed) else None
    from emoprompt.stats.power import z

    extra = z(rule.power) * math.sqrt(variance)
    n = 2
    while n < 10**9:
        if confidence_radius(n, variance, 2 * rule.alpha, sequential_plan, TUNING) + extra / math.sqrt(n) \
                < distance:
            return n
        n = math.ceil(n * 1.05)
    return None


def fixed_items(variance: float, rule: GateRule) -> int | float:
    """Items a fixed gate needs to reach the right verdict with probability `power` when δ lies on a boundary of
    its zone: (z₁₋α + z_power)² σ² / margin². The fixed gate the sequential one's savings are measured against."""
    return n_for_effect(variance, rule.margin, 2 * rule.alpha, rule.power)


def design_power(variance: float, n: int, rule: GateRule, sequential_plan: int | None = None) -> float:
    """The probability that a gate of `n` items reaches the verdict the truth calls for when δ lies on a boundary
    of its zone (REJECT at δ = lo for non-inferiority, ALLOW at δ = hi, and the mirror for superiority), for a
    per-item variance of the differences `variance`: Φ((margin − half-width) / se), with the fixed interval's
    one-sided half-width or the sequence's radius at n (earlier looks only add to a sequential gate's power)."""
    from scipy import stats

    if not (variance == variance and n >= 2):
        return float("nan")
    if variance <= 0:
        return 1.0
    se = math.sqrt(variance / n)
    if sequential_plan is None:
        half = float(stats.norm.ppf(1 - rule.alpha)) * se
    else:
        half = confidence_radius(n, variance, 2 * rule.alpha, sequential_plan, TUNING)
    return float(stats.norm.cdf((rule.margin - half) / se))


def sequential_items(variance: float, rule: GateRule) -> int | None:
    """The fewest items a sequential gate may use (its cap, tuned for it) whose `design_power` reaches
    `rule.power`: the cap to plan for; None when the margin is 0."""
    if not (rule.margin > 0 and variance > 0):
        return None
    n = max(2, int(fixed_items(variance, rule)))
    while design_power(variance, n, rule, sequential_plan=n) < rule.power:
        n = math.ceil(n * 1.02)
    return n
