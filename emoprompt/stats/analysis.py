"""The full analysis of a tidy frame: the hierarchy of STATS.md §3, pooled effects, power and diagnostics."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from emoprompt.stats.contrast import contrast
from emoprompt.stats.frame import item_means
from emoprompt.stats.multiplicity import benjamini_hochberg, holm
from emoprompt.stats.paired import paired_difference, paired_t
from emoprompt.stats.pooled import gee_log_odds, random_effects, suite_effect
from emoprompt.stats.power import mde_paired
from emoprompt.usage import usage

STIMULUS_FAMILIES = ("emotionprompt", "negativeprompt", "user", "heart")


@dataclass(frozen=True)
class AnalysisSpec:
    """What to compare and at which thresholds; taken from the run's analysis plan."""

    baseline: str = "baseline"
    control: str = "baseline"
    alpha: float = 0.05
    sesoi: float = 0.03
    families: dict[str, str] = field(default_factory=dict)
    """condition → family (emotionprompt, negativeprompt, placebo, control, user, baseline)."""
    conditions: tuple[str, ...] = ()
    """Report order; default: the order of first appearance."""
    task_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per task: BIG-Bench preferred_score and random_baseline, for the normalized preferred score."""


def analyze(frame: pd.DataFrame, spec: AnalysisSpec) -> dict[str, Any]:
    """Every number the report shows, as plain data."""
    valid = frame[frame["error"].isna()].copy()
    conditions = list(spec.conditions) or list(dict.fromkeys(frame["condition"]))
    repeats = int(valid.groupby(["model", "task", "item", "condition"]).size().max()) if len(valid) else 0
    binary = bool(len(valid)) and bool(valid["score"].isin([0.0, 1.0]).all())
    treatments = [c for c in conditions if c not in (spec.control, spec.baseline)]
    warnings: list[str] = []
    errors = int(frame["error"].notna().sum())
    if errors:
        warnings.append(f"{errors} error cells are left out of the statistics (see the error table).")
    if spec.control not in conditions:
        warnings.append(f"control {spec.control!r} has no records; contrasts against it are empty.")
    valid["parse_fail"] = (valid["parsed"] == False).astype(float)  # noqa: E712
    means = item_means(valid)
    parse_means = item_means(valid, "parse_fail")
    models: dict[str, Any] = {}
    for model in list(dict.fromkeys(frame["model"])):
        models[model] = _analyze_model(model, frame, valid, means, parse_means, conditions, treatments, repeats,
                                       spec)
        models[model]["usage"] = [row.to_dict() for row in usage(frame[frame["model"] == model], conditions)]
    _adjust_families(models, spec.alpha)
    result = {
        "spec": {**asdict(spec), "conditions": conditions, "treatments": treatments},
        "data": {"records": len(frame), "errors": errors, "models": list(models), "K": repeats,
                 "binary_scores": binary, "tasks": sorted(frame["task"].unique().tolist()),
                 "error_kinds": frame["error"].value_counts().to_dict()},
        "warnings": warnings,
        "models": models,
    }
    return _clean(result)


def _analyze_model(model: str, frame: pd.DataFrame, valid: pd.DataFrame, means: pd.DataFrame,
                   parse_means: pd.DataFrame, conditions: list[str], treatments: list[str], repeats: int,
                   spec: AnalysisSpec) -> dict[str, Any]:
    model_means = _model_slice(means, model)
    model_parse = _model_slice(parse_means, model)
    tasks = sorted(model_means.index.get_level_values("task").unique()) if len(model_means) else []
    per_task_family = max(1, len(treatments) * len(tasks))
    per_task = [
        {"task": task, "condition": condition, "control": spec.control, "family": spec.families.get(condition, ""),
         **contrast(pairs[condition].to_numpy(), pairs[spec.control].to_numpy(), repeats, spec.alpha, spec.sesoi,
                    per_task_family)}
        for condition in treatments for task in tasks
        if len(pairs := _pairs(_task_rows(model_means, task, "task"), condition, spec.control)) >= 2
    ]
    pooled = [_pooled_row(model_means, valid[valid["model"] == model], c, spec, repeats, max(1, len(treatments)))
              for c in treatments]
    return {
        "conditions": _condition_table(frame[frame["model"] == model], model_means, model_parse, conditions,
                                       spec, repeats),
        "primary": _primary(model_means, treatments, spec, repeats),
        "generic": _pooled_row(model_means, valid[valid["model"] == model], spec.control,
                               AnalysisSpec(**{**asdict(spec), "control": spec.baseline}), repeats, 1)
        if spec.control != spec.baseline and {spec.control, spec.baseline} <= set(model_means.columns) else None,
        "pooled": [row for row in pooled if row is not None],
        "per_task": per_task,
        "heatmap": {task: {c: _mean(_task_rows(model_means, task, "task"), c) for c in conditions} for task in tasks},
        "aggregate": _aggregate(model_means, tasks, conditions, spec),
    }


def _aggregate(means: pd.DataFrame, tasks: list[str], conditions: list[str], spec: AnalysisSpec
               ) -> list[dict[str, Any]]:
    """Paper-style aggregation: the average over tasks of per-task scores (BIG-Bench: normalized preferred
    scores too), with the papers' relative improvement beside the absolute difference and its CI.

    The CI of a difference of task averages uses the per-task paired variances: Var = Σ_t Var(Δ_t) / T².
    """
    from emoprompt.suites.bigbench import normalized_score

    rows = []
    for condition in conditions:
        scores, normalized, diffs, variances = [], [], [], []
        for task in tasks:
            task_means = _task_rows(means, task, "task")
            if condition not in task_means.columns:
                continue
            score = float(task_means[condition].mean())
            scores.append(score)
            info = spec.task_info.get(task)
            if info and "random_baseline" in info:
                normalized.append(normalized_score(score, float(info["random_baseline"])))
            pairs = _pairs(task_means, condition, spec.control)
            if condition != spec.control and len(pairs) >= 2:
                d = (pairs[condition] - pairs[spec.control]).to_numpy()
                diffs.append(float(d.mean()))
                variances.append(max(float(d.var(ddof=1)) / len(d), 1.0 / (len(d) + 2) ** 2))
        if not scores:
            continue
        row: dict[str, Any] = {"condition": condition, "tasks": len(scores), "mean_score": float(np.mean(scores)),
                               "mean_normalized": float(np.mean(normalized)) if normalized else None}
        if diffs:
            diff, se = float(np.mean(diffs)), math.sqrt(sum(variances)) / len(variances)
            row.update(diff=diff, ci_low=diff - 1.959964 * se, ci_high=diff + 1.959964 * se)
        rows.append(row)
    by_name = {row["condition"]: row for row in rows}
    for row in rows:
        for reference, key in ((spec.control, "relative_vs_control"), (spec.baseline, "relative_vs_baseline")):
            base = by_name.get(reference, {}).get("mean_score")
            row[key] = (row["mean_score"] / base - 1) if base else None
    return rows


def _model_slice(means: pd.DataFrame, model: str) -> pd.DataFrame:
    if model not in means.index.get_level_values("model"):
        return pd.DataFrame(index=pd.MultiIndex.from_tuples([], names=["task", "item"]))
    return _task_rows(means, model, "model")


def _task_rows(means: pd.DataFrame, key: str, level: str) -> pd.DataFrame:
    """The rows of one index value as a DataFrame (never a Series)."""
    selected = means.xs(key, level=level)
    return selected if isinstance(selected, pd.DataFrame) else selected.to_frame().T


def _pairs(means: pd.DataFrame, treatment: str, control: str) -> pd.DataFrame:
    if treatment not in means.columns or control not in means.columns:
        return pd.DataFrame(columns=[treatment, control])
    return means[[treatment, control]].dropna()


def _mean(means: pd.DataFrame, condition: str) -> float:
    return float(means[condition].mean()) if condition in means.columns else float("nan")


def _condition_table(rows: pd.DataFrame, means: pd.DataFrame, parse_means: pd.DataFrame, conditions: list[str],
                     spec: AnalysisSpec, repeats: int) -> list[dict[str, Any]]:
    table = []
    for condition in conditions:
        cells = rows[rows["condition"] == condition]
        valid = cells[cells["error"].isna()]
        entry: dict[str, Any] = {
            "condition": condition, "family": spec.families.get(condition, ""), "cells": len(cells),
            "errors": int(cells["error"].notna().sum()),
            "accuracy": float(valid["score"].mean()) if len(valid) else float("nan"),
            "parse_failure_rate": float((valid["parsed"] == False).mean()) if len(valid) else float("nan"),  # noqa: E712
            "mean_tokens_out": float(pd.to_numeric(valid["tokens_out"], errors="coerce").mean()) if len(valid)
            else float("nan"),
            "parse_fail_vs_control": None,
        }
        if condition != spec.control:
            pairs = _pairs(parse_means, condition, spec.control)
            if len(pairs) >= 2:
                entry["parse_fail_vs_control"] = paired_difference(
                    pairs[condition].to_numpy(), pairs[spec.control].to_numpy(), repeats, spec.alpha).to_dict()
        table.append(entry)
    return table


def _primary(means: pd.DataFrame, treatments: list[str], spec: AnalysisSpec, repeats: int) -> dict[str, Any] | None:
    """Level 1 (one test): per item, the mean over all stimuli minus the control (STATS.md §3)."""
    stimuli = [c for c in treatments if spec.families.get(c, "user") in STIMULUS_FAMILIES and c in means.columns]
    if not stimuli or spec.control not in means.columns:
        return None
    data = means[[*stimuli, spec.control]].dropna()
    if len(data) < 2:
        return None
    pooled_stimuli = data[stimuli].mean(axis=1).to_numpy()
    result = paired_t(pooled_stimuli, data[spec.control].to_numpy(), spec.alpha)
    d = pooled_stimuli - data[spec.control].to_numpy()
    return {"stimuli": stimuli, "control": spec.control, **result.to_dict(),
            "mde_80": mde_paired(float(d.var(ddof=1)), len(d), spec.alpha)}


def _pooled_row(means: pd.DataFrame, rows: pd.DataFrame, condition: str, spec: AnalysisSpec, repeats: int,
                family: int) -> dict[str, Any] | None:
    """Level 2: one stimulus vs control over all tasks: suite-level fixed effect and random-effects meta."""
    pairs = _pairs(means, condition, spec.control)
    if len(pairs) < 2:
        return None
    long = _long(pairs, condition, spec.control)
    fixed = suite_effect(long, spec.alpha)
    by_task = (pairs[condition] - pairs[spec.control]).groupby(level="task")
    random = random_effects(by_task.mean().to_numpy(), task_variances(by_task), spec.alpha)
    d = (pairs[condition] - pairs[spec.control]).to_numpy()
    raw = rows[rows["condition"].isin([condition, spec.control])].copy()
    raw["treat"] = (raw["condition"] == condition).astype(int)
    raw["item_key"] = raw["task"].astype(str) + "\x1f" + raw["item"].astype(str)
    mde = mde_paired(float(d.var(ddof=1)), len(d), spec.alpha, 0.8, family)
    return {
        "condition": condition, "control": spec.control, "family": spec.families.get(condition, ""),
        "n_items": len(pairs), "n_tasks": int(pairs.index.get_level_values("task").nunique()),
        "acc_ctrl": float(pairs[spec.control].mean()), "acc_treat": float(pairs[condition].mean()),
        "fixed": fixed.to_dict() if fixed else None,
        "random": random.to_dict() if random else None,
        "gee": gee_log_odds(raw) if repeats >= 1 else None,
        "relative": _pooled_relative(pairs, condition, spec.control, spec.alpha),
        "mde_80": mde, "underpowered": bool(mde > spec.sesoi),
        "p_tost": None,
    }


def task_variances(by_task: Any) -> np.ndarray:
    """Var of each task's mean difference, floored at 1/(n+2)².

    Deviation from STATS.md §4 (which uses var/n as is): a task with no discordant pair has var = 0 and
    would take all the inverse-variance weight; the floor is the Agresti–Min variance at zero discordance.
    """
    counts = by_task.count().to_numpy().astype(float)
    observed = (by_task.var(ddof=1).fillna(0.0).to_numpy()) / counts
    return np.maximum(observed, 1.0 / (counts + 2) ** 2)


def _long(pairs: pd.DataFrame, treatment: str, control: str) -> pd.DataFrame:
    frame = pairs.reset_index()
    frame["item_key"] = frame["task"].astype(str) + "\x1f" + frame["item"].astype(str)
    treated = frame[["task", "item_key", treatment]].rename(columns={treatment: "score"}).assign(treat=1)
    untreated = frame[["task", "item_key", control]].rename(columns={control: "score"}).assign(treat=0)
    return pd.concat([treated, untreated], ignore_index=True)


def _pooled_relative(pairs: pd.DataFrame, treatment: str, control: str, alpha: float, resamples: int = 1000
                     ) -> dict[str, Any]:
    """Ratio of pooled means − 1 (never a mean of per-task ratios), with a task-stratified paired bootstrap CI."""
    mean_t, mean_c = float(pairs[treatment].mean()), float(pairs[control].mean())
    if mean_c <= 0:
        return {"value": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"),
                "flag": "undefined: the control rate is 0"}
    rng = np.random.default_rng(0)
    sums_t = np.zeros(resamples)
    sums_c = np.zeros(resamples)
    for _, group in pairs.groupby(level="task"):
        t, c = group[treatment].to_numpy(), group[control].to_numpy()
        picks = rng.integers(0, len(t), size=(resamples, len(t)))
        sums_t += t[picks].sum(axis=1)
        sums_c += c[picks].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = sums_t / sums_c - 1
    ratios = ratios[np.isfinite(ratios)]
    low, high = (np.quantile(ratios, [alpha / 2, 1 - alpha / 2]) if len(ratios) else (math.nan, math.nan))
    flag = f"control rate {mean_c:.0%} < 20%" if mean_c < 0.2 else None
    return {"value": mean_t / mean_c - 1, "ci_low": float(low), "ci_high": float(high), "flag": flag}


def _adjust_families(models: dict[str, Any], alpha: float) -> None:
    """Holm over each declared family across models; BH as the exploratory column of per-task rows."""
    per_task = [row for m in models.values() for row in m["per_task"]]
    for row, p_holm, p_bh in zip(per_task, holm([r["p"] for r in per_task]),
                                 benjamini_hochberg([r["p"] for r in per_task]), strict=True):
        row["p_holm"], row["p_bh"] = p_holm, p_bh
        row["significant_holm"] = bool(p_holm < alpha)
    pooled = [row for m in models.values() for row in m["pooled"]]
    for key in ("fixed", "random"):
        ps = [row[key]["p_value"] if row[key] else float("nan") for row in pooled]
        for row, p_holm in zip(pooled, holm(ps), strict=True):
            row[f"p_holm_{key}"] = p_holm
    primaries = [m["primary"] for m in models.values() if m["primary"]]
    for primary, p_holm in zip(primaries, holm([p["p_value"] for p in primaries]), strict=True):
        primary["p_holm"] = p_holm
        primary["rejects"] = bool(p_holm < alpha)
    for model in models.values():
        gate = model["primary"]["rejects"] if model["primary"] else True
        model["gate_open"] = gate
        for row in model["pooled"]:
            row["confirmed"] = bool(gate and row.get("p_holm_fixed", 1.0) < alpha)


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf → None, numpy scalars → Python, tuples → lists."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
