"""Wording as a random factor: stimulus effects that must survive rewording (`--paraphrases K`).

Design: within a task, every item is asked in every wording (items × wordings crossed); wording p of one task has
nothing to do with wording p of another, so wordings are nested in tasks. For a contrast (treatment − control) let
D[i, w] be the per-item, per-wording difference (repeats averaged). Within a task the two-way random-effects model

    D[i, w] = μ_t + a_i + b_w + e_iw,   a ~ (0, σ²_item), b ~ (0, σ²_wording), e ~ (0, σ²_resid)

has Var(D̄_t) = σ²_item/n + σ²_wording/K + σ²_resid/(nK). σ²_wording here is the stimulus × wording interaction:
how much the stimulus effect itself moves with the wording. The ANOVA (method-of-moments) estimates — REML's for
balanced data — give Var(D̄_t) = (MS_item + MS_wording − MS_resid)/(nK) with components truncated at zero, and a
Satterthwaite df. Tasks are fixed strata weighted by their items, as in the pooled "these tasks" tables: the
estimate is the same item-weighted mean, only its uncertainty now includes the wording. Items without a score in
every wording of a task are left out of that task's wording analysis (and counted).

Alongside: the same estimate with items as the only random factor (what the pooled tables show), the estimate on
the task as written (p0) alone, per-wording effects, an F test of the stimulus × wording interaction, the spread of
each condition across wordings (range, SD; MaxP, AvgP and CPS of Mizrahi et al., TACL 2024), and the variance
components of the scores (item, wording, item × wording, repeat).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class CrossedTask:
    """One task's items × wordings table of differences, summarised by two-way ANOVA."""

    n: int
    k: int
    mean: float
    ms_item: float
    ms_wording: float
    ms_resid: float

    @classmethod
    def of(cls, table: np.ndarray) -> CrossedTask:
        """From an n × K table (no missing values; n ≥ 2, K ≥ 2)."""
        n, k = table.shape
        grand = float(table.mean())
        rows, columns = table.mean(axis=1), table.mean(axis=0)
        residual = table - rows[:, None] - columns[None, :] + grand
        return cls(n, k, grand, k * float(((rows - grand) ** 2).sum()) / (n - 1),
                   n * float(((columns - grand) ** 2).sum()) / (k - 1),
                   float((residual**2).sum()) / ((n - 1) * (k - 1)))

    @property
    def components(self) -> dict[str, float]:
        """σ²_item, σ²_wording, σ²_resid (ANOVA estimates, negative ones set to 0)."""
        return {"item": max((self.ms_item - self.ms_resid) / self.k, 0.0),
                "wording": max((self.ms_wording - self.ms_resid) / self.n, 0.0),
                "resid": self.ms_resid}

    def variance_terms(self) -> list[tuple[float, float]]:
        """Var(mean) as a sum of (coefficient × mean square, its df) terms, truncation applied."""
        nk = self.n * self.k
        item, wording = self.ms_item > self.ms_resid, self.ms_wording > self.ms_resid
        terms: list[tuple[float, float]] = []
        if item:
            terms.append((self.ms_item / nk, self.n - 1))
        if wording:
            terms.append((self.ms_wording / nk, self.k - 1))
        if item and wording:
            terms.append((-self.ms_resid / nk, (self.n - 1) * (self.k - 1)))
        elif not item and not wording:
            terms.append((self.ms_resid / nk, (self.n - 1) * (self.k - 1)))
        return terms


def crossed_contrast(tables: dict[str, np.ndarray], alpha: float) -> dict[str, Any] | None:
    """The item-weighted mean difference over tasks with items and wordings random (see the module docstring)."""
    from scipy import stats

    tasks = {task: CrossedTask.of(table) for task, table in tables.items() if table.shape[0] >= 2
             and table.shape[1] >= 2}
    if not tasks:
        return None
    total = sum(t.n for t in tasks.values())
    estimate = sum(t.n * t.mean for t in tasks.values()) / total
    terms = [((t.n / total) ** 2 * value, df) for t in tasks.values() for value, df in t.variance_terms()]
    variance = sum(value for value, _ in terms)
    denominator = sum(value**2 / df for value, df in terms if df > 0)
    df = variance**2 / denominator if denominator > 0 else float("nan")
    result = _interval(estimate, variance, df, alpha)
    between = sum(t.ms_wording * (t.k - 1) for t in tasks.values())
    within = sum(t.ms_resid * (t.n - 1) * (t.k - 1) for t in tasks.values())
    df_between = sum(t.k - 1 for t in tasks.values())
    df_within = sum((t.n - 1) * (t.k - 1) for t in tasks.values())
    if within > 0:
        f_value = (between / df_between) / (within / df_within)
        result["interaction_f"], result["interaction_p"] = f_value, float(stats.f.sf(f_value, df_between, df_within))
        result["interaction_df"] = [df_between, df_within]
    weights = {task: t.n / total for task, t in tasks.items()}
    result["components"] = {name: sum(weights[task] * t.components[name] for task, t in tasks.items())
                            for name in ("item", "wording", "resid")}
    result["n_items"], result["n_wordings"], result["n_tasks"] = total, max(t.k for t in tasks.values()), len(tasks)
    return result


def items_only_contrast(tables: dict[str, np.ndarray], alpha: float) -> dict[str, Any] | None:
    """The same estimate with items as the only random factor (each item averaged over its wordings)."""
    means = {task: table.mean(axis=1) for task, table in tables.items() if table.shape[0] >= 2}
    if not means:
        return None
    total = sum(len(m) for m in means.values())
    estimate = sum(float(m.sum()) for m in means.values()) / total
    variance = sum((len(m) / total) ** 2 * float(m.var(ddof=1)) / len(m) for m in means.values())
    return _interval(estimate, variance, total - len(means), alpha)


def single_wording_contrast(values: np.ndarray, alpha: float) -> dict[str, Any] | None:
    """A paired contrast on one wording's differences (items the only random factor)."""
    if len(values) < 2:
        return None
    return _interval(float(values.mean()), float(values.var(ddof=1)) / len(values), len(values) - 1, alpha)


def _interval(estimate: float, variance: float, df: float, alpha: float) -> dict[str, Any]:
    from scipy import stats

    se = math.sqrt(max(variance, 0.0))
    if se == 0 or not math.isfinite(df) or df <= 0:
        return {"diff": estimate, "se": se, "df": df, "ci_low": float("nan"), "ci_high": float("nan"),
                "p": 1.0 if estimate == 0 else float("nan")}
    quantile = float(stats.t.ppf(1 - alpha / 2, df))
    return {"diff": estimate, "se": se, "df": df, "ci_low": estimate - quantile * se,
            "ci_high": estimate + quantile * se, "p": float(2 * stats.t.sf(abs(estimate) / se, df))}


def wording_analysis(rows: pd.DataFrame, conditions: list[str], treatments: list[str], control: str, baseline: str,
                     alpha: float) -> dict[str, Any]:
    """Everything the report's wording section shows, for one model's valid rows (with a `paraphrase` column)."""
    by_condition, wordings = wording_cells(rows)
    contrasts = []
    comparisons = [(c, control) for c in treatments] + ([(control, baseline)] if control != baseline else [])
    for treatment, reference in comparisons:
        if treatment not in by_condition or reference not in by_condition:
            continue
        differences = (by_condition[treatment] - by_condition[reference]).unstack("paraphrase")
        tables, dropped = difference_tables(differences, wordings)
        crossed = crossed_contrast(tables, alpha)
        if crossed is None:
            continue
        original = differences["p0"].dropna().to_numpy(float) if "p0" in differences else np.array([])
        contrasts.append({
            "condition": treatment, "control": reference, "crossed": crossed,
            "items_only": items_only_contrast(tables, alpha), "original": single_wording_contrast(original, alpha),
            "per_wording": [{"paraphrase": w, **(single_wording_contrast(differences[w].dropna().to_numpy(float),
                                                                          alpha) or {})}
                            for w in wordings if w in differences],
            "items_left_out": dropped,
        })
    return {"wordings": wordings, "contrasts": contrasts,
            "spread": [_spread(by_condition, condition, wordings) for condition in conditions
                       if condition in by_condition],
            "components": [{"condition": c, **score_components(rows[rows["condition"] == c])} for c in conditions
                           if (rows["condition"] == c).any()]}


def wording_cells(rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Per (task, item, wording) mean scores, a column per condition, and the wordings in their order."""
    cells = rows.groupby(["task", "item", "paraphrase", "condition"])["score"].mean()
    return cells.unstack("condition"), sorted(rows["paraphrase"].dropna().unique(), key=_wording_order)


def difference_tables(differences: pd.DataFrame, wordings: list[str]) -> tuple[dict[str, np.ndarray], int]:
    """Each task's items × wordings table of differences (rows (task, item), a column per wording), keeping the
    items scored in every wording; and how many items were left out."""
    tables, dropped = {}, 0
    for task, table in differences.groupby(level="task"):
        complete = table.dropna()
        dropped += len(table) - len(complete)
        tables[str(task)] = complete[[w for w in wordings if w in complete.columns]].to_numpy(float)
    return tables, dropped


def crossed_of(rows: pd.DataFrame, treatments: list[str], control: str, alpha: float) -> dict[str, Any] | None:
    """The crossed (items and wordings random) contrast of the mean over `treatments` against `control`, for one
    model's valid rows; None when no task has two items and two wordings in common."""
    by_condition, wordings = wording_cells(rows)
    if control not in by_condition or any(t not in by_condition for t in treatments):
        return None
    treated = by_condition[treatments].mean(axis=1, skipna=False)
    tables, _ = difference_tables((treated - by_condition[control]).unstack("paraphrase"), wordings)
    return crossed_contrast(tables, alpha)


def crossed_equivalence(crossed: dict[str, Any], alpha: float, sesoi: float) -> bool:
    """TOST at ±sesoi on the crossed estimate: its (1 − 2α) interval lies inside the margins."""
    from scipy import stats

    if not (crossed["se"] > 0 and math.isfinite(crossed["df"]) and crossed["df"] > 0):
        return False
    half = float(stats.t.ppf(1 - alpha, crossed["df"])) * crossed["se"]
    return bool(-sesoi < crossed["diff"] - half and crossed["diff"] + half < sesoi)


def _spread(by_condition: pd.DataFrame, condition: str, wordings: list[str]) -> dict[str, Any]:
    """A condition's score in each wording (items of all tasks, each weighing the same), its range and SD across
    wordings, and MaxP / AvgP / CPS averaged over tasks (Mizrahi et al. 2024: CPS = (1 − (MaxP − AvgP)) · MaxP)."""
    scores = by_condition[condition].unstack("paraphrase")
    pooled = {w: float(scores[w].mean()) for w in wordings if w in scores}
    per_task = scores.groupby(level="task").mean()
    max_p, avg_p = per_task.max(axis=1), per_task.mean(axis=1)
    values = np.array(list(pooled.values()))
    return {"condition": condition, "by_wording": pooled, "range": float(values.max() - values.min()),
            "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "task_range": float((per_task.max(axis=1) - per_task.min(axis=1)).mean()),
            "max_p": float(max_p.mean()), "avg_p": float(avg_p.mean()),
            "cps": float(((1 - (max_p - avg_p)) * max_p).mean())}


def score_components(rows: pd.DataFrame) -> dict[str, Any]:
    """Variance components of one condition's scores within tasks — item, wording, item × wording and repeat —
    by the balanced three-factor ANOVA, averaged over tasks by their items; with one repeat the item × wording and
    repeat components cannot be told apart and are reported together as item × wording."""
    estimates: list[dict[str, float | None]] = []
    weights: list[int] = []
    for _, task_rows in rows.groupby("task"):
        cube = task_rows.pivot_table(index="item", columns=["paraphrase", "repeat"], values="score", aggfunc="mean")
        cube = cube.dropna()
        wordings = cube.columns.get_level_values("paraphrase").unique()
        repeats = cube.columns.get_level_values("repeat").unique()
        n, k, r = len(cube), len(wordings), len(repeats)
        if n < 2 or k < 2 or cube.shape[1] != k * r:
            continue
        y = cube.to_numpy(float).reshape(n, k, r)
        grand = y.mean()
        item, wording, cell = y.mean(axis=(1, 2)), y.mean(axis=(0, 2)), y.mean(axis=2)
        ms_item = k * r * float(((item - grand) ** 2).sum()) / (n - 1)
        ms_wording = n * r * float(((wording - grand) ** 2).sum()) / (k - 1)
        interaction = cell - item[:, None] - wording[None, :] + grand
        ms_cell = r * float((interaction**2).sum()) / ((n - 1) * (k - 1))
        ms_repeat = float(((y - cell[:, :, None]) ** 2).sum()) / (n * k * (r - 1)) if r > 1 else 0.0
        estimates.append({"item": max((ms_item - ms_cell) / (k * r), 0.0),
                          "wording": max((ms_wording - ms_cell) / (n * r), 0.0),
                          "item_x_wording": max((ms_cell - ms_repeat) / r, 0.0) if r > 1 else ms_cell,
                          "repeat": ms_repeat if r > 1 else None})
        weights.append(n)
    if not estimates:
        return {}
    total = sum(weights)
    result: dict[str, Any] = {}
    for name in ("item", "wording", "item_x_wording", "repeat"):
        values = [e[name] for e in estimates]
        known_values = [v for v in values if v is not None]
        result[name] = None if len(known_values) < len(values) else sum(
            w * v for w, v in zip(weights, known_values, strict=True)) / total
    known = sum(v for v in result.values() if v is not None)
    result["shares"] = {name: (v / known if known else 0.0) for name, v in result.items() if v is not None}
    return result


def _wording_order(wording: str) -> tuple[int, str]:
    digits = wording[1:]
    return (int(digits), wording) if wording.startswith("p") and digits.isdigit() else (10**9, wording)
