"""One treatment-vs-control contrast on paired items, with every figure the report shows for it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

from emoprompt.stats.effects import (
    cohens_h,
    conditional_odds_ratio,
    exact_binomial_ci,
    relative_change_means,
    relative_change_paired,
)
from emoprompt.stats.paired import (
    bca_ci,
    floor_variance,
    is_binary,
    paired_binary,
    paired_t,
    sign_flip_p,
    tost_paired,
    wilcoxon_p,
)
from emoprompt.stats.power import mde_paired, smallest_p
from emoprompt.stats.result import Contrast, PooledEffect

C = TypeVar("C", bound=Contrast)


def contrast(treatment: np.ndarray, comparator: np.ndarray, repeats: int, alpha: float, sesoi: float,
             robust: bool = True, into: type[C] = Contrast, **labels: Any) -> C:  # type: ignore[assignment]
    """Paired contrast of per-item (K-averaged) scores, STATS.md §2 and §10: the one estimator of a contrast, used
    by the terminal summary, every table of the report and analysis.json alike (`into`: Contrast, or a subclass
    that also carries `labels`, such as a per-task row).

    K = 1 binary: McNemar mid-p (and exact p) with the Dirichlet ∪ Tango CI (`paired_binary`); otherwise
    a paired t on item means with a sign-flip permutation p and a BCa bootstrap CI (and Wilcoxon for non-binary
    scores) as robustness checks.
    What depends on the contrast's multiplicity family (the MDE, "underpowered", "cannot reach significance") is
    added by `finish_family` once the family is known; `smallest_p` is the least p the row's test could give.
    """
    from scipy import stats

    t, c = np.asarray(treatment, float), np.asarray(comparator, float)
    n = len(t)
    binary = repeats == 1 and is_binary(t) and is_binary(c)
    result = paired_binary(t, c, alpha) if binary else paired_t(t, c, alpha)
    d = t - c
    var_d = float(d.var(ddof=1)) if n > 1 else float("nan")
    z = float(stats.norm.ppf(1 - alpha / 2))
    extra: dict[str, Any] = {}
    if binary:
        n10, n01 = result.n10 or 0, result.n01 or 0
        n11 = int(np.sum((t == 1) & (c == 1)))
        ratio, low, high = conditional_odds_ratio(n10, n01, alpha)
        extra.update(n10=n10, n01=n01, discordance=(n10 + n01) / n if n else float("nan"),
                     acc_ctrl_ci=exact_binomial_ci(int(c.sum()), n, alpha),
                     acc_treat_ci=exact_binomial_ci(int(t.sum()), n, alpha),
                     relative=relative_change_paired(n11, n10, n01, n, z).to_dict(),
                     odds_ratio={"value": ratio, "ci_low": low, "ci_high": high},
                     smallest_p=smallest_p(n10 + n01, mid_p=True))
    else:
        extra.update(relative=relative_change_means(t, c, z).to_dict(),
                     smallest_p=1.0 if bool(np.all(d == 0)) else 0.0)
        if robust:
            extra.update(p_sign_flip=sign_flip_p(d), bca_ci=bca_ci(t, c, alpha))
            if not (is_binary(t) and is_binary(c)) and repeats == 1:
                extra["p_wilcoxon"] = wilcoxon_p(t, c)
    if not result.p_value < alpha:
        extra.update(equivalence(t, c, repeats, binary, alpha, sesoi))
    return into(
        n_items=n, K=repeats, acc_ctrl=result.mean_control, acc_treat=result.mean_treatment, diff=result.diff,
        ci_low=result.ci_low, ci_high=result.ci_high, se=float(np.sqrt(var_d / n)) if n > 1 else float("nan"),
        p=result.p_value, method=result.method, p_exact=result.p_exact, corr_items=_correlation(t, c),
        improved=int(np.sum(d > 0)), worsened=int(np.sum(d < 0)),
        var_d=var_d if var_d > 0 or n < 2 else floor_variance(t, c), binary=binary,
        cohens_h=cohens_h(float(t.mean()), float(c.mean())) if n and _in_unit(t, c) else float("nan"),
        **extra, **labels)


def finish_family(rows: Sequence[Contrast | PooledEffect], alpha: float, sesoi: float, p_key: str = "p",
                  holm_key: str = "p_holm") -> None:
    """Adjust one multiplicity family in place: Holm, and what depends on the family's size — the MDE at
    α/family, `underpowered` (MDE above the smallest effect of interest) and `cannot_reach_significance`.

    The last is decided with the row's own test and the same Holm procedure as ★: a row cannot reach significance
    when even the smallest p its discordant pairs allow would not pass Holm among the family's other p-values.
    So a row is never both significant (★) and unable to reach significance (∅).
    """
    from emoprompt.stats.multiplicity import holm

    p_values = [getattr(row, p_key) if getattr(row, p_key) is not None else float("nan") for row in rows]
    family = max(1, sum(1 for p in p_values if p == p))
    for row, adjusted in zip(rows, holm(p_values), strict=True):
        setattr(row, holm_key, adjusted)
        row.family_size = family
        row.mde_80 = mde_paired(row.var_d, row.n_items, alpha, 0.8, family)
        row.underpowered = bool(row.mde_80 > sesoi) if row.mde_80 == row.mde_80 else True
    for index, row in enumerate(rows):
        best = row.smallest_p
        if best <= 0 or getattr(row, p_key) is None:
            row.cannot_reach_significance = getattr(row, p_key) is None
            continue
        trial = [*p_values[:index], best, *p_values[index + 1:]]
        row.cannot_reach_significance = bool(holm(trial)[index] >= alpha)


def equivalence(t: np.ndarray, c: np.ndarray, repeats: int, binary: bool, alpha: float, sesoi: float
                ) -> dict[str, Any]:
    """TOST at ±sesoi, decided by the (1 − 2α) interval of the row's own method lying inside the margins.

    Deviation from STATS.md §6.2 (which calls `ttost_paired` alone): with no discordant pairs the t statistic
    has zero variance and would declare 0/25 vs 0/25 "equivalent"; the interval of the binary path does not.
    """
    result = paired_binary(t, c, 2 * alpha) if binary else paired_t(t, c, 2 * alpha)
    inside = bool(-sesoi < result.ci_low and result.ci_high < sesoi)
    d = t - c
    p_tost = tost_paired(t, c, sesoi) if len(d) > 1 and np.var(d) > 0 else None
    return {"p_tost": p_tost, "equivalent": inside, "equivalence_ci": (result.ci_low, result.ci_high)}


def _correlation(t: np.ndarray, c: np.ndarray) -> float:
    if len(t) < 3 or t.std() == 0 or c.std() == 0:
        return float("nan")
    return float(np.corrcoef(t, c)[0, 1])


def _in_unit(t: np.ndarray, c: np.ndarray) -> bool:
    return bool(t.min() >= 0 and c.min() >= 0 and t.max() <= 1 and c.max() <= 1)
