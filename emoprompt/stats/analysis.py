"""The full analysis of a tidy frame: the hierarchy of STATS.md §3, pooled effects, power and diagnostics."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from emoprompt.errors import UsageError
from emoprompt.schema import AnalysisPlan
from emoprompt.stats.contrast import contrast, finish_family
from emoprompt.stats.effects import relative_change_means
from emoprompt.stats.frame import design_repeats, fold_wordings, item_means, wording_count
from emoprompt.stats.multiplicity import benjamini_hochberg, holm
from emoprompt.stats.pooled import gee_log_odds, random_effects
from emoprompt.stats.power import mde_paired
from emoprompt.stats.result import (
    Analysis,
    Brief,
    Confound,
    Contrast,
    DataFacts,
    FixedEffect,
    ModelAnalysis,
    PooledEffect,
    Primary,
    SummaryRow,
    TaskContrast,
)
from emoprompt.stats.scale import Scale
from emoprompt.stats.spec import data_warnings, json_safe, missing_control_warning
from emoprompt.stats.tally import tally
from emoprompt.stats.wording import crossed_equivalence, crossed_of, wording_analysis
from emoprompt.usage import usage

STIMULUS_FAMILIES = ("emotionprompt", "negativeprompt", "anand", "tone", "threat", "tip", "persona", "rewrite", "user",
                     "heart")
CELL = ["model", "task", "item", "condition", "repeat"]


def analyze(frame: pd.DataFrame, spec: AnalysisPlan) -> Analysis:
    """Every number the report shows (`Analysis.to_dict()` is analysis.json's form)."""
    spec = replace(spec, control=spec.comparator)
    wordings = wording_count(frame)
    check_no_duplicates(frame, ["paraphrase"] if wordings > 1 else [])
    declared, frame, design_notes = design_repeats(frame, spec.repeats)
    unfolded = frame[frame["error"].isna()] if wordings > 1 else None
    frame = fold_wordings(frame)
    valid = frame[frame["error"].isna()].copy()
    conditions = list(spec.conditions) or frame["condition"].unique().tolist()
    repeats = declared * wordings
    scale = Scale.of(valid["score"])
    binary = bool(len(valid)) and bool(valid["score"].isin([0.0, 1.0]).all())
    treatments = [c for c in conditions if c not in (spec.comparator, spec.baseline)]
    errors = int(frame["error"].notna().sum())
    warnings = data_warnings(errors, spec.comparator, conditions) + design_notes
    valid["parse_fail"] = (valid["parsed"] == False).astype(float)  # noqa: E712
    valid["length"] = pd.to_numeric(valid["tokens_out"], errors="coerce")
    means = item_means(valid)
    diagnostics = {"parse": item_means(valid, "parse_fail"), "length": item_means(valid, "length")}
    models: dict[str, ModelAnalysis] = {}
    # records of another harness often carry no tokens, calls or costs: then there is no usage table to build
    counted = [c for c in ("tokens_in", "tokens_out", "n_calls", "cost_usd") if c in frame.columns]
    has_usage = bool(frame[counted].notna().to_numpy().any()
                     or ("cached" in frame.columns and (frame["cached"] == True).any()))  # noqa: E712
    for model in frame["model"].unique().tolist():
        models[model] = _analyze_model(model, frame, valid, means, diagnostics, conditions, treatments, repeats,
                                       spec, warnings)
        if has_usage:
            models[model].usage = [row.to_dict() for row in usage(frame[frame["model"] == model], conditions)]
        if unfolded is not None:
            rows = unfolded[unfolded["model"] == model]
            models[model].wording = json_safe(wording_analysis(rows, conditions, treatments, spec.comparator,
                                                               spec.baseline, spec.alpha))
            _cross_wordings(models[model], rows, spec)
        elif declared >= 2 and scale.proportions:
            from emoprompt.stats.per_question import question_view

            models[model].per_question = question_view(valid[valid["model"] == model], treatments,
                                                       spec.comparator, declared, spec.alpha)
    _adjust_families(models, spec)
    data = DataFacts(len(frame), errors, list(models), repeats, wordings, declared, binary, scale.to_dict(),
                     1 - spec.alpha, sorted(frame["task"].unique().tolist()),
                     {str(k): int(v) for k, v in frame["error"].value_counts().items()})
    return Analysis(spec, conditions, treatments, repeats, data, warnings, models)


CROSSED = "crossed items × wordings (Satterthwaite t)"


def _cross_wordings(result: ModelAnalysis, rows: pd.DataFrame, spec: AnalysisPlan) -> None:
    """With more than one wording the confirmatory numbers — the primary test, the pooled contrasts that Holm
    corrects and the gate opens, their MDEs and equivalence — are the crossed analysis's (items and wordings both
    random; `stats.wording`), because a stimulus effect that moves with the wording is not settled by more items.
    The items-only estimate (wordings folded into repeats) stays beside each as `items_only`, labelled. A contrast
    whose crossed interval cannot be formed (no variation at all) keeps the items-only numbers."""
    for effect in [*result.pooled, *([result.generic] if result.generic else [])]:
        crossed = crossed_of(rows, [effect.condition], effect.control, spec.alpha)
        if crossed is None or not math.isfinite(crossed["ci_low"]):
            continue
        effect.items_only = effect.fixed
        effect.fixed = FixedEffect(crossed["diff"], crossed["ci_low"], crossed["ci_high"], crossed["se"], CROSSED,
                                   crossed["n_items"], crossed["p"], crossed["n_tasks"])
        effect.p, effect.smallest_p = crossed["p"], 0.0
        effect.var_d = crossed["se"] ** 2 * crossed["n_items"]
        effect.equivalent, effect.p_tost = crossed_equivalence(crossed, spec.alpha, spec.sesoi), None
    primary = result.primary
    crossed = crossed_of(rows, primary.stimuli, primary.control, spec.alpha) if primary else None
    if primary is None or crossed is None or not math.isfinite(crossed["ci_low"]):
        return
    primary.items_only = {"diff": primary.diff, "ci_low": primary.ci_low, "ci_high": primary.ci_high,
                          "p_value": primary.p_value, "method": primary.method, "mde_80": primary.mde_80}
    primary.diff, primary.ci_low, primary.ci_high = crossed["diff"], crossed["ci_low"], crossed["ci_high"]
    primary.p_value, primary.method = crossed["p"], CROSSED
    primary.mde_80 = mde_paired(crossed["se"] ** 2 * crossed["n_items"], crossed["n_items"], spec.alpha)
    primary.n10 = primary.n01 = primary.p_exact = None


def check_no_duplicates(frame: pd.DataFrame, also: list[str] | None = None) -> None:
    """One row per (model, task, item, condition, repeat) (and the columns `also` names, such as the wording): a
    duplicate is an error that names the cell."""
    duplicated = frame.duplicated(subset=CELL + (also or []), keep=False)
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        count = int(duplicated.sum())
        raise UsageError(f"{count} rows share one (model, task, item, condition, repeat), for example model "
                         f"{str(first['model'])!r}, task {str(first['task'])!r}, item {str(first['item'])!r}, "
                         f"condition {str(first['condition'])!r}, repeat {first['repeat']}; remove the duplicates or "
                         "give --dedupe first|last|mean")


def _analyze_model(model: str, frame: pd.DataFrame, valid: pd.DataFrame, means: pd.DataFrame,
                   diagnostics: dict[str, pd.DataFrame], conditions: list[str], treatments: list[str], repeats: int,
                   spec: AnalysisPlan, warnings: list[str]) -> ModelAnalysis:
    model_means = _model_slice(means, model)
    tasks = sorted(model_means.index.get_level_values("task").unique()) if len(model_means) else []
    compared = [t for t in tasks if spec.comparator in _task_rows(model_means, t, "task").dropna(how="all", axis=1)]
    missing = [t for t in tasks if t not in compared]
    if missing and spec.comparator in conditions:
        warnings.append(missing_control_warning(model, spec.comparator, missing))
    per_task = [
        contrast(pairs[condition].to_numpy(), pairs[spec.comparator].to_numpy(), repeats, spec.alpha, spec.sesoi,
                 into=TaskContrast, task=task, condition=condition, control=spec.comparator,
                 family=spec.families.get(condition, ""))
        for condition in treatments for task in compared
        if len(pairs := _pairs(_task_rows(model_means, task, "task"), condition, spec.comparator)) >= 2
    ]
    model_rows = valid[valid["model"] == model]
    pooled = [_pooled_row(model_means, model_rows, c, spec.comparator, spec, repeats) for c in treatments]
    generic = (_pooled_row(model_means, model_rows, spec.comparator, spec.baseline, spec, repeats)
               if spec.comparator != spec.baseline and {spec.comparator, spec.baseline} <= set(model_means.columns)
               else None)
    return ModelAnalysis(
        conditions=json_safe(_condition_table(frame[frame["model"] == model], conditions, spec)),
        summary=_summary_contrasts(model_means, conditions, spec, repeats),
        confounds=_confounds(model, diagnostics, conditions, spec, repeats),
        pooled=[row for row in pooled if row is not None], per_task=per_task, tasks_compared=compared,
        heatmap={task: {c: _mean(_task_rows(model_means, task, "task"), c) for c in conditions} for task in tasks},
        aggregate=json_safe(_aggregate(model_means, compared, conditions, spec)),
        primary=_primary(model_means, treatments, spec, repeats), generic=generic)


def _confounds(model: str, diagnostics: dict[str, pd.DataFrame], conditions: list[str], spec: AnalysisPlan,
               repeats: int) -> list[Confound]:
    """Each condition against the control on what is not the score: the parse-failure rate and the output length
    (paired, per item), a separately labelled family (STATS.md §3), Holm-adjusted in `_adjust_families`."""
    rows = []
    for measure, frame in diagnostics.items():
        means = _model_slice(frame, model)
        for condition in conditions:
            if condition == spec.comparator:
                continue
            pairs = _pairs(means, condition, spec.comparator)
            if len(pairs) < 2:
                continue
            result: Contrast = contrast(pairs[condition].to_numpy(), pairs[spec.comparator].to_numpy(),
                              repeats if measure == "parse" else 2, spec.alpha, spec.sesoi, robust=False)
            rows.append(Confound(measure, condition, spec.comparator, result.diff, result.ci_low, result.ci_high,
                                 result.p, result.method, result.n_items, result.acc_ctrl, result.acc_treat))
    return rows


def _aggregate(means: pd.DataFrame, tasks: list[str], conditions: list[str], spec: AnalysisPlan
               ) -> list[dict[str, Any]]:
    """Paper-style aggregation: the average over tasks of per-task scores (BIG-Bench: normalized preferred
    scores too), with the papers' relative improvement beside the absolute difference of the task averages and
    its interval, against the control and against the baseline.

    Estimand: every task weighs the same (the papers' average), unlike the pooled tables, where every item does.
    The interval of a difference of task averages uses the per-task paired variances: Var = Σ_t Var(Δ_t) / T².
    """
    from emoprompt.suites.bigbench import normalized_score

    rows = []
    for condition in conditions:
        scores, normalized = [], []
        for task in tasks:
            task_means = _task_rows(means, task, "task")
            if condition not in task_means.columns:
                continue
            score = float(task_means[condition].mean())
            scores.append(score)
            info = spec.task_info.get(task)
            if info and "random_baseline" in info:
                normalized.append(normalized_score(score, float(info["random_baseline"])))
        if not scores:
            continue
        row: dict[str, Any] = {"condition": condition, "tasks": len(scores), "mean_score": float(np.mean(scores)),
                               "mean_normalized": float(np.mean(normalized)) if normalized else None}
        for reference, side in ((spec.comparator, "control"), (spec.baseline, "baseline")):
            if condition != reference:
                row[f"vs_{side}"] = _task_average_difference(means, tasks, condition, reference, spec.alpha)
        rows.append(row)
    by_name = {row["condition"]: row for row in rows}
    for row in rows:
        for reference, side in ((spec.comparator, "control"), (spec.baseline, "baseline")):
            base = by_name.get(reference, {}).get("mean_score")
            if row["condition"] != reference and f"vs_{side}" in row:
                row[f"vs_{side}"]["relative"] = (row["mean_score"] / base - 1) if base else None
    return rows


def _task_average_difference(means: pd.DataFrame, tasks: list[str], treatment: str, control: str, alpha: float
                             ) -> dict[str, Any]:
    diffs, variances = [], []
    for task in tasks:
        pairs = _pairs(_task_rows(means, task, "task"), treatment, control)
        if len(pairs) >= 2:
            d = (pairs[treatment] - pairs[control]).to_numpy()
            diffs.append(float(d.mean()))
            variances.append(max(float(d.var(ddof=1)) / len(d), 1.0 / (len(d) + 2) ** 2))
    if not diffs:
        return {"diff": None, "ci_low": None, "ci_high": None}
    from scipy import stats

    z = float(stats.norm.ppf(1 - alpha / 2))
    diff, se = float(np.mean(diffs)), math.sqrt(sum(variances)) / len(variances)
    return {"diff": diff, "ci_low": diff - z * se, "ci_high": diff + z * se, "tasks": len(diffs)}


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


def _condition_table(rows: pd.DataFrame, conditions: list[str], spec: AnalysisPlan) -> list[dict[str, Any]]:
    failed = rows["error"].notna().tolist()
    cells = zip(rows["condition"].tolist(), rows["score"].tolist(), rows["parsed"].tolist(), failed,
                rows["tokens_out"].tolist(), strict=True)
    return [row.to_dict() for row in tally(cells, conditions, spec.families)]


def _summary_contrasts(means: pd.DataFrame, conditions: list[str], spec: AnalysisPlan, repeats: int
                       ) -> list[SummaryRow]:
    """Per condition, its pooled contrast against the baseline and against the control (over every item of every
    task: the estimator of the pooled table), as the terminal summary prints them."""
    def against(condition: str, reference: str) -> Brief | None:
        pairs = _pairs(means, condition, reference)
        if condition == reference or len(pairs) < 2:
            return None
        return contrast(pairs[condition].to_numpy(), pairs[reference].to_numpy(), repeats, spec.alpha, spec.sesoi,
                        robust=False).brief()

    return [SummaryRow(condition, against(condition, spec.baseline), against(condition, spec.comparator))
            for condition in conditions]


def _primary(means: pd.DataFrame, treatments: list[str], spec: AnalysisPlan, repeats: int) -> Primary | None:
    """Level 1 (one test): per item, the mean over all stimuli minus the control (STATS.md §3), by the contrast's
    one estimator (`contrast`): with one stimulus it is that stimulus's pooled row, test and all."""
    stimuli = [c for c in treatments if spec.families.get(c, "user") in STIMULUS_FAMILIES and c in means.columns]
    if not stimuli or spec.comparator not in means.columns:
        return None
    data = means[[*stimuli, spec.comparator]].dropna()
    if len(data) < 2:
        return None
    pooled_stimuli = data[stimuli].mean(axis=1).to_numpy()
    result: Contrast = contrast(pooled_stimuli, data[spec.comparator].to_numpy(), repeats, spec.alpha, spec.sesoi,
                                robust=False)
    n_tasks = int(data.index.get_level_values("task").nunique())
    return Primary(stimuli, spec.comparator, result.n_items, result.acc_treat, result.acc_ctrl, result.diff,
                   result.ci_low, result.ci_high, result.p, result.method, n_tasks,
                   mde_paired(result.var_d, result.n_items, spec.alpha), result.n10, result.n01, result.p_exact)


def _pooled_row(means: pd.DataFrame, rows: pd.DataFrame, condition: str, control: str, spec: AnalysisPlan,
                repeats: int) -> PooledEffect | None:
    """Level 2: one condition vs the control over all tasks.

    "fixed" (on these tasks) is the paired contrast over every item of every task — the same estimator as the
    per-task rows and the terminal summary, so every table gives one number for one contrast. (STATS.md §4 suggests
    a linear probability model with task fixed effects and item-clustered errors: its coefficient is this same mean
    of per-item differences, because each item is its own pair; the paired test's interval is used instead, so the
    McNemar/Dirichlet path of K = 1 binary scores holds here too.) "random" (on a new task like these) is the
    random-effects meta-analysis of per-task differences.
    """
    pairs = _pairs(means, condition, control)
    if len(pairs) < 2:
        return None
    item_level: Contrast = contrast(pairs[condition].to_numpy(), pairs[control].to_numpy(), repeats, spec.alpha,
                                    spec.sesoi)
    by_task = (pairs[condition] - pairs[control]).groupby(level="task")
    random = random_effects(by_task.mean().to_numpy(), task_variances(by_task), spec.alpha)
    raw = rows[rows["condition"].isin([condition, control])].copy()
    raw["treat"] = (raw["condition"] == condition).astype(int)
    raw["item_key"] = raw["task"].astype(str) + "\x1f" + raw["item"].astype(str)
    n_tasks = int(pairs.index.get_level_values("task").nunique())
    fixed = FixedEffect(item_level.diff, item_level.ci_low, item_level.ci_high, item_level.se, item_level.method,
                        item_level.n_items, item_level.p, n_tasks)
    return PooledEffect(
        condition, control, spec.families.get(condition, ""), len(pairs), n_tasks, item_level.acc_ctrl,
        item_level.acc_treat, fixed, random=json_safe(random.to_dict()) if random else None,
        gee=json_safe(gee_log_odds(raw)), relative=json_safe(_pooled_relative(pairs, condition, control, spec.alpha)),
        var_d=item_level.var_d, smallest_p=item_level.smallest_p, p=item_level.p, equivalent=item_level.equivalent,
        p_tost=item_level.p_tost, n10=item_level.n10, n01=item_level.n01)


def task_variances(by_task: Any) -> np.ndarray:
    """Var of each task's mean difference, floored at 1/(n+2)².

    Deviation from STATS.md §4 (which uses var/n as is): a task with no discordant pair has var = 0 and
    would take all the inverse-variance weight; the floor is the Agresti–Min variance at zero discordance.
    """
    counts = by_task.count().to_numpy().astype(float)
    observed = (by_task.var(ddof=1).fillna(0.0).to_numpy()) / counts
    return np.maximum(observed, 1.0 / (counts + 2) ** 2)


def _pooled_relative(pairs: pd.DataFrame, treatment: str, control: str, alpha: float) -> dict[str, Any]:
    """Ratio of pooled means − 1 (never a mean of per-task ratios) over every item of every task, with the delta
    method interval of `relative_change_means`. A task-stratified percentile bootstrap covered 0.91 at 15 items and
    0.935 at 30 (K = 3, 1,500 seeded simulations); this one at least 0.95."""
    from scipy import stats

    if float(pairs[control].mean()) <= 0:
        return {"value": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"),
                "flag": "undefined: the control rate is 0"}
    relative = relative_change_means(pairs[treatment].to_numpy(float), pairs[control].to_numpy(float),
                                     float(stats.norm.ppf(1 - alpha / 2)))
    mean_c = float(pairs[control].mean())
    return {"value": relative.value, "ci_low": relative.ci_low, "ci_high": relative.ci_high,
            "flag": f"control rate {mean_c:.0%} < 20%" if mean_c < 0.2 else None}


def _adjust_families(models: dict[str, ModelAnalysis], spec: AnalysisPlan) -> None:
    """Holm over each declared family across models (the MDE uses the same family); BH as the exploratory column
    of per-task rows; the gate of the hierarchy; the confound family."""
    alpha, sesoi = spec.alpha, spec.sesoi
    per_task = [row for m in models.values() for row in m.per_task]
    finish_family(per_task, alpha, sesoi)
    for row, p_bh in zip(per_task, benjamini_hochberg([r.p for r in per_task]), strict=True):
        row.p_bh = p_bh
        row.significant_holm = bool(row.p_holm is not None and row.p_holm < alpha)
    pooled = [effect for m in models.values() for effect in m.pooled]
    finish_family(pooled, alpha, sesoi, holm_key="p_holm_fixed")
    random_p = [effect.random["p_value"] if effect.random else float("nan") for effect in pooled]
    for effect, p_holm in zip(pooled, holm(random_p), strict=True):
        effect.p_holm_random = p_holm
    generics = [m.generic for m in models.values() if m.generic]
    finish_family(generics, alpha, sesoi, holm_key="p_holm_fixed")
    primaries = [m.primary for m in models.values() if m.primary]
    for primary, p_holm in zip(primaries, holm([p.p_value for p in primaries]), strict=True):
        primary.p_holm = p_holm
        primary.rejects = bool(p_holm < alpha)
    for model in models.values():
        gate = model.primary.rejects if model.primary else True
        model.gate_open = gate
        for effect in model.pooled:
            effect.confirmed = bool(gate and effect.p_holm_fixed is not None and effect.p_holm_fixed < alpha)
    confounds = [confound for m in models.values() for confound in m.confounds]
    for confound, p_holm in zip(confounds, holm([c.p for c in confounds]), strict=True):
        confound.p_holm = p_holm
        confound.significant = bool(p_holm < alpha)
