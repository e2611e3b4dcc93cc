"""Effects pooled over tasks (STATS.md §4): suite-level fixed effect, random-effects meta-analysis, GEE check."""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class SuiteEffect:
    """Tasks fixed, items random: a linear probability model with task fixed effects, item-clustered SEs."""

    diff: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    n_items: int
    n_tasks: int

    def to_dict(self) -> dict[str, object]:
        """Plain data."""
        return asdict(self)


@dataclass(frozen=True)
class RandomEffects:
    """Tasks random: Paule–Mandel τ², HKSJ t-interval, I², and a prediction interval for a new task."""

    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    tau2: float
    tau: float
    i2: float
    q_p_value: float
    pred_low: float
    pred_high: float
    k: int

    def to_dict(self) -> dict[str, object]:
        """Plain data."""
        return asdict(self)


def suite_effect(long: pd.DataFrame, alpha: float = 0.05) -> SuiteEffect | None:
    """`long` has columns task, item, treat (0/1), score (per-item means). Returns None if not estimable.

    Items are the clusters (the pairing unit); with few tasks, clustering on task would be unreliable.
    """
    import statsmodels.formula.api as smf

    data = long.dropna(subset=["score"])
    if data["treat"].nunique() < 2 or data["item_key"].nunique() < 3:
        return None
    formula = "score ~ treat + C(task)" if data["task"].nunique() > 1 else "score ~ treat"
    groups = pd.factorize(data["item_key"])[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.ols(formula, data).fit(cov_type="cluster", cov_kwds={"groups": groups})
        diff, se = float(fit.params["treat"]), float(fit.bse["treat"])  # bse is computed lazily, here
        p_value = float(fit.pvalues["treat"])
    if not math.isfinite(se) or se < 1e-12:  # every item moved by the same amount (often: not at all)
        diff = 0.0 if abs(diff) < 1e-12 else diff
        p = 1.0 if diff == 0 else 0.0
        return SuiteEffect(diff, 0.0, diff, diff, p, data["item_key"].nunique(), data["task"].nunique())
    crit = stats.norm.ppf(1 - alpha / 2)
    return SuiteEffect(diff, se, diff - crit * se, diff + crit * se, p_value,
                       data["item_key"].nunique(), data["task"].nunique())


def random_effects(effects: np.ndarray, variances: np.ndarray, alpha: float = 0.05) -> RandomEffects | None:
    """Random-effects meta-analysis of per-task differences (statsmodels combine_effects, PM, HKSJ)."""
    from statsmodels.stats.meta_analysis import combine_effects

    effects, variances = np.asarray(effects, float), np.asarray(variances, float)
    keep = np.isfinite(effects) & np.isfinite(variances)
    effects, variances = effects[keep], np.maximum(variances[keep], 1e-12)
    k = len(effects)
    if k < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = combine_effects(effects, variances, method_re="pm", use_t=True)
        low, high = result.conf_int(alpha=alpha, use_t=True)[3]
    mean, se = float(result.mean_effect_re), float(np.sqrt(result.var_hksj_re))
    p = float(2 * stats.t.sf(abs(mean / se), k - 1)) if se > 0 else (1.0 if mean == 0 else 0.0)
    tau2 = float(result.tau2)
    pred_low = pred_high = float("nan")
    if k >= 3:
        spread = stats.t.ppf(1 - alpha / 2, k - 2) * math.sqrt(tau2 + se**2)
        pred_low, pred_high = mean - spread, mean + spread
    q_p = float(result.test_homogeneity().pvalue)
    return RandomEffects(mean, float(low), float(high), p, tau2, math.sqrt(tau2), max(0.0, float(result.i2)), q_p,
                         pred_low, pred_high, k)


GEE_MAX_ITEMS = 2000


def gee_log_odds(rows: pd.DataFrame) -> dict[str, Any] | None:
    """Population-averaged log-odds ratio of treat on binary long rows, clustered on item.

    GEE with an exchangeable working correlation up to GEE_MAX_ITEMS items; above that, a logit with
    item-clustered sandwich errors (STATS.md §4 found the same coefficient and SE on its demo, at a fraction
    of GEE's cost, whose per-cluster loops dominate report time on large runs).
    """
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    data = rows.dropna(subset=["score"])
    if data["treat"].nunique() < 2 or not np.isin(data["score"].unique(), [0.0, 1.0]).all():
        return None
    if data["score"].nunique() < 2:
        return None
    formula = "score ~ treat + C(task)" if data["task"].nunique() > 1 else "score ~ treat"
    small = data["item_key"].nunique() <= GEE_MAX_ITEMS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if small:
                fit = smf.gee(formula, groups="item_key", data=data, family=sm.families.Binomial(),
                              cov_struct=sm.cov_struct.Exchangeable()).fit()
            else:
                groups = pd.factorize(data["item_key"])[0]
                fit = smf.logit(formula, data).fit(disp=0, cov_type="cluster", cov_kwds={"groups": groups})
            coefficient, se = float(fit.params["treat"]), float(fit.bse["treat"])
            p_value = float(fit.pvalues["treat"])
        except Exception:  # separation or a singular design: the cross-check is optional
            return None
    if not (math.isfinite(coefficient) and math.isfinite(se)):
        return None
    return {"log_or": coefficient, "se": se, "odds_ratio": math.exp(coefficient),
            "p_value": p_value, "method": "gee-exchangeable" if small else "logit-item-clustered"}
