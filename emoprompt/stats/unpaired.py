"""Unpaired comparisons for A/B tests on live traffic, where each input saw one condition only."""

from __future__ import annotations

import math
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import pandas as pd

from emoprompt.schema import AnalysisPlan
from emoprompt.stats.multiplicity import holm
from emoprompt.stats.power import z
from emoprompt.stats.scale import Scale
from emoprompt.stats.spec import json_safe


def welch(treatment: np.ndarray, control: np.ndarray, alpha: float = 0.05) -> dict[str, Any]:
    """Difference of means with a Welch–Satterthwaite t interval and p."""
    from scipy import stats

    t, c = np.asarray(treatment, float), np.asarray(control, float)
    diff = float(t.mean() - c.mean())
    var_t, var_c = t.var(ddof=1) / len(t), c.var(ddof=1) / len(c)
    se = math.sqrt(var_t + var_c)
    if se == 0:  # every call scored the same within each arm: no t test, an exact permutation p instead
        if diff == 0:
            return {"diff": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p_value": 1.0, "se": 0.0}
        arrangements = math.comb(len(t) + len(c), len(t))
        return {"diff": diff, "ci_low": float("nan"), "ci_high": float("nan"), "se": 0.0,
                "p_value": min(1.0, 2 / arrangements)}
    df = (var_t + var_c) ** 2 / (var_t**2 / (len(t) - 1) + var_c**2 / (len(c) - 1))
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    return {"diff": diff, "ci_low": diff - crit * se, "ci_high": diff + crit * se, "se": se,
            "p_value": float(2 * stats.t.sf(abs(diff / se), df))}


def analyze_unpaired(frame: pd.DataFrame, spec: AnalysisPlan) -> dict[str, Any]:
    """Each condition against the control on independent calls (Welch t, Holm); same layout as `analyze`."""
    spec = replace(spec, control=spec.comparator)
    valid = frame[frame["error"].isna() & frame["score"].notna()]
    conditions = list(spec.conditions) or frame["condition"].unique().tolist()
    models: dict[str, Any] = {}
    for model in frame["model"].unique().tolist():
        rows = valid[valid["model"] == model]
        control = rows[rows["condition"] == spec.comparator]["score"].to_numpy()
        table, pooled, p_values = [], [], []
        for condition in conditions:
            cells = frame[(frame["model"] == model) & (frame["condition"] == condition)]
            scores = rows[rows["condition"] == condition]["score"].to_numpy()
            table.append({"condition": condition, "family": spec.families.get(condition, ""), "cells": len(cells),
                          "errors": int(cells["error"].notna().sum()),
                          "accuracy": float(scores.mean()) if len(scores) else float("nan"),
                          "parse_failure_rate": float("nan"), "mean_tokens_out": float("nan"),
                          "scored": len(scores)})
            if condition == spec.comparator or len(scores) < 2 or len(control) < 2:
                continue
            result = welch(scores, control, spec.alpha)
            p_values.append(result["p_value"])
            mde = (z(1 - spec.alpha / 2) + z(0.8)) * math.sqrt(scores.var(ddof=1) / len(scores)
                                                               + control.var(ddof=1) / len(control))
            result["method"] = "welch"
            pooled.append({"condition": condition, "control": spec.comparator, "family": "user",
                           "n_items": len(scores), "n_control": len(control), "acc_ctrl": float(control.mean()),
                           "acc_treat": float(scores.mean()), "fixed": result, "random": None, "gee": None,
                           "relative": {"value": result["diff"] / control.mean() if control.mean() else None,
                                        "ci_low": None, "ci_high": None, "flag": "unpaired"},
                           "mde_80": mde, "underpowered": bool(mde > spec.sesoi)})
        for row, p_holm in zip(pooled, holm(p_values), strict=True):
            row.update(p_holm_fixed=p_holm, p_holm_random=None, confirmed=bool(p_holm < spec.alpha))
        models[model] = {"conditions": table, "confounds": [], "primary": None, "generic": None, "pooled": pooled,
                         "per_task": [], "heatmap": {}, "aggregate": [], "gate_open": True}
    unscored = int((frame["error"].isna() & frame["score"].isna()).sum())
    warnings = ["Unpaired comparison: each call saw one condition, so differences between inputs add noise that "
                "paired experiments remove."]
    if unscored:
        warnings.append(f"{unscored} calls have no outcome yet (record_outcome) and are left out.")
    return json_safe({
        "spec": {**asdict(spec), "conditions": conditions, "treatments": conditions[1:]},
        "data": {"records": len(frame), "errors": int(frame["error"].notna().sum()), "models": list(models), "K": 1,
                 "binary_scores": bool(valid["score"].isin([0.0, 1.0]).all()), "tasks": ["app"],
                 "scale": Scale.of(valid["score"]).to_dict(), "confidence": 1 - spec.alpha,
                 "error_kinds": frame["error"].value_counts().to_dict(), "unpaired": True},
        "warnings": warnings, "models": models})
