"""Honest "best stimulus" claims: select on some items, estimate on others (STATS.md §3, winner's curse).

Choosing the best of S stimuli and reporting its effect on the same items is optimistic: the winner is partly the
luckiest. Three honest answers, side by side with the naive one:

- **split**: choose on a tuning half of the items (stratified by task), estimate on the held-out half;
- **cross-fit**: K folds; each fold's items are scored with the stimulus chosen on the other folds (every item
  used for estimation, never by its own selection). It is given as a point estimate only: when stimuli are near
  ties the selection is unstable and no simple interval around a cross-fitted winner covers (a seeded simulation
  with 11 null stimuli put an item-level t at 0.09 and a fold-level t at 0.085 false exclusions);
- **simultaneous interval**: the winner's interval from max-|t| simultaneous intervals over all S contrasts
  (multivariate t with the contrasts' estimated correlation, which carries the shared control's; Hothorn, Bretz &
  Westfall 2008). It covers the winner's true effect whatever
  rule picked it — the idea of Berk et al. 2013 (post-selection inference by simultaneity); the zoom correction
  (arXiv 2411.18569) is a tighter refinement.

A routing policy (the best stimulus per task, or per input-length band) is one treatment too: learned on the tuning
items, evaluated on the held-out ones against the control.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from emoprompt.stats.paired import paired_difference

POLICIES = ("overall", "task", "length")


@dataclass(frozen=True)
class Estimate:
    """One estimate of the chosen stimulus (or policy) against the control."""

    label: str
    chosen: str | dict[str, str]
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    n_items: int
    method: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return asdict(self)


@dataclass
class SelectionResult:
    """The naive winner beside the honest estimates."""

    control: str
    candidates: list[str]
    naive: Estimate
    split: Estimate | None
    crossfit: Estimate | None
    simultaneous: Estimate | None
    routing: Estimate | None = None
    per_candidate: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for analysis.json."""
        return {"control": self.control, "candidates": self.candidates, "naive": self.naive.to_dict(),
                "split": self.split.to_dict() if self.split else None,
                "crossfit": self.crossfit.to_dict() if self.crossfit else None,
                "simultaneous": self.simultaneous.to_dict() if self.simultaneous else None,
                "routing": self.routing.to_dict() if self.routing else None, "per_candidate": self.per_candidate}


def split_ranks(items: pd.Index, seed: int) -> np.ndarray:
    """Each (task, item)'s rank within its task in a seeded hash order (stable across runs): `ranks % folds` is a
    fold assignment balanced within each task."""
    frame = items.to_frame(index=False)
    frame["order"] = [hashlib.sha256(f"{seed}:{task}:{item}".encode()).hexdigest() for task, item in zip(
        frame["task"], frame["item"], strict=True)]
    ranks = np.zeros(len(frame), dtype=int)
    for _, group in frame.groupby("task", sort=False):
        ranked = group.sort_values("order").index.to_numpy()
        ranks[ranked] = np.arange(len(ranked))
    return ranks


def select_and_estimate(means: pd.DataFrame, candidates: list[str], control: str, repeats: int = 1,
                        alpha: float = 0.05, folds: int = 5, seed: int = 0, policy: str = "overall",
                        lengths: pd.Series | None = None, draws: int = 20_000) -> SelectionResult:
    """`means`: per-item means, rows (task, item), a column per condition. Returns the naive winner and the
    honest estimates (split, cross-fit, simultaneous interval) and, for `policy` task or length, a routing policy
    evaluated as one treatment on held-out items."""
    data = means[[*candidates, control]].dropna()
    if len(data) < 4 or not candidates:
        raise ValueError("selection needs at least 4 items with every candidate and the control")
    differences = data[candidates].sub(data[control], axis=0)
    naive_choice = str(differences.mean().idxmax())
    naive = _estimate("naive: best on the same items (optimistic)", naive_choice, data[naive_choice],
                      data[control], repeats, alpha)
    ranks = split_ranks(data.index, seed)
    fold_of = ranks % 2
    tune, hold = fold_of == 0, fold_of == 1
    split_choice = str(differences[tune].mean().idxmax())
    split = _estimate("split: chosen on half the items, estimated on the other half", split_choice,
                      data[split_choice][hold], data[control][hold], repeats, alpha)
    crossfit = _crossfit(data, differences, candidates, control, folds, ranks, repeats, alpha)
    simultaneous = _simultaneous(differences, naive_choice, alpha, draws, seed)
    routing = None
    if policy != "overall":
        groups = _groups(data.index, policy, lengths)
        routing = _routing(data, differences, control, groups, tune, hold, repeats, alpha)
    best = probability_best(differences, seed=seed)
    per_candidate = [{"condition": name, "diff": float(differences[name].mean()),
                      "tune_diff": float(differences[name][tune].mean()),
                      "holdout_diff": float(differences[name][hold].mean()), "p_best": best[name]}
                     for name in candidates]
    return SelectionResult(control, list(candidates), naive, split, crossfit, simultaneous, routing, per_candidate)


BOOTSTRAP_MAX_DISTINCT = 20_000


def probability_best(differences: pd.DataFrame, resamples: int = 2000, seed: int = 0) -> dict[str, float]:
    """For each candidate, the share of item-bootstrap resamples in which its mean difference is the largest (ties
    shared): P(best) as evalstats reports it. A resample is drawn as multinomial counts of the distinct rows of
    per-item differences (few for scores on a grid), in chunks, so no resample needs an n-wide array of indices.
    Above BOOTSTRAP_MAX_DISTINCT distinct rows (continuous scores on very many items) the resampled means are drawn
    from their large-sample limit instead, the normal with the differences' covariance / n."""
    values = differences.to_numpy(float)
    distinct, counts = np.unique(values, axis=0, return_counts=True)
    rng = np.random.default_rng(seed)
    wins = np.zeros(distinct.shape[1])
    large = len(distinct) > BOOTSTRAP_MAX_DISTINCT
    chunk = resamples if large else max(1, 2_000_000 // len(distinct))
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        if large:
            covariance = np.atleast_2d(np.cov(values, rowvar=False)) / len(values)
            sums = rng.multivariate_normal(values.mean(axis=0), covariance, size=size, method="eigh")
        else:
            sums = rng.multinomial(counts.sum(), counts / counts.sum(), size=size) @ distinct
        leaders = np.isclose(sums, sums.max(axis=1, keepdims=True), rtol=0, atol=1e-9)
        wins += (leaders / leaders.sum(axis=1, keepdims=True)).sum(axis=0)
    return {str(name): float(share) for name, share in zip(differences.columns, wins / resamples, strict=True)}


def _estimate(label: str, chosen: str | dict[str, str], treated: pd.Series | np.ndarray,
              control: pd.Series | np.ndarray, repeats: int, alpha: float, note: str = "") -> Estimate:
    result = paired_difference(np.asarray(treated, float), np.asarray(control, float), repeats, alpha)
    return Estimate(label, chosen, result.diff, result.ci_low, result.ci_high, result.p_value, result.n_items,
                    result.method, note)


def _crossfit(data: pd.DataFrame, differences: pd.DataFrame, candidates: list[str], control: str, folds: int,
              ranks: np.ndarray, repeats: int, alpha: float) -> Estimate | None:
    folds = max(2, min(folds, len(data) // 2))
    fold_of = ranks % folds
    fold_means = []
    chosen: dict[str, str] = {}
    for fold in range(folds):
        inside = fold_of == fold
        if not inside.any() or inside.all():
            return None
        pick = str(differences[~inside].mean().idxmax())
        chosen[f"fold {fold + 1}"] = pick
        fold_means.append(float(differences[pick].to_numpy()[inside].mean()))
    nan = float("nan")
    return Estimate(f"cross-fit over {folds} folds: each fold scored with the stimulus chosen on the others", chosen,
                    float(np.mean(fold_means)), nan, nan, nan, len(data), "point estimate",
                    "no interval: near-tied stimuli make the cross-fitted winner non-regular; use the split or the "
                    "simultaneous interval")


def _simultaneous(differences: pd.DataFrame, winner: str, alpha: float, draws: int, seed: int) -> Estimate:
    """The winner's interval from single-step max-|t| simultaneous intervals over all candidates: the critical
    value is the (1 − α) quantile of max |T_j| for T multivariate t with n − 1 df and the candidates' estimated
    correlation (Hothorn, Bretz & Westfall 2008, the multcomp method), drawn `draws` times (seeded). Candidates
    that never differ from the control have no t statistic and are left out of the maximum."""
    values = differences.to_numpy(float)
    n = len(values)
    means = values.mean(axis=0)
    sds = values.std(axis=0, ddof=1)
    varying = sds > 0
    ses = np.where(varying, sds / np.sqrt(n), np.inf)
    rng = np.random.default_rng(seed)
    if varying.any():
        correlation = np.atleast_2d(np.corrcoef(values[:, varying], rowvar=False))
        normal = rng.multivariate_normal(np.zeros(int(varying.sum())), correlation, size=draws, method="eigh")
        scale = np.sqrt(rng.chisquare(n - 1, size=draws) / (n - 1))
        stats_max = np.abs(normal / scale[:, None]).max(axis=1)
        critical = float(np.quantile(stats_max, 1 - alpha))
    else:
        stats_max, critical = np.zeros(draws), float("nan")
    index = list(differences.columns).index(winner)
    se = float(ses[index]) if np.isfinite(ses[index]) else 0.0
    low, high = (float(means[index] - critical * se), float(means[index] + critical * se)) if se > 0 else (
        float(means[index]), float(means[index]))
    p_adjusted = float(np.mean(stats_max >= abs(means[index]) / se)) if se > 0 else float(means[index] == 0)
    return Estimate(f"simultaneous max-|t| interval over {values.shape[1]} candidates (covers the winner)", winner,
                    float(means[index]), low, high, p_adjusted, n, "max-t (multivariate t)",
                    f"critical value {critical:.2f} instead of 1.96")


def _groups(index: pd.Index, policy: str, lengths: pd.Series | None) -> np.ndarray:
    """The routing group of each item: its task, or its input-length band (terciles)."""
    if policy == "task":
        return index.get_level_values("task").to_numpy()
    if policy == "length":
        if lengths is None:
            raise ValueError("the length policy needs the input lengths")
        values = lengths.reindex(index).to_numpy(float)
        edges = np.nanquantile(values, [1 / 3, 2 / 3])
        return np.array(["short", "medium", "long"])[np.searchsorted(edges, values, side="right")]
    raise ValueError(f"unknown routing policy {policy!r}; choose from {', '.join(POLICIES)}")


def _routing(data: pd.DataFrame, differences: pd.DataFrame, control: str, groups: np.ndarray, tune: np.ndarray,
             hold: np.ndarray, repeats: int, alpha: float) -> Estimate:
    """The per-group best stimulus, learned on the tuning items, evaluated as one treatment on held-out items."""
    overall = str(differences[tune].mean().idxmax())
    policy: dict[str, str] = {}
    for group in np.unique(groups):
        rows = tune & (groups == group)
        policy[str(group)] = str(differences[rows].mean().idxmax()) if rows.sum() >= 2 else overall
    treated = np.array([data[policy[str(g)]].iloc[i] for i, g in enumerate(groups)])[hold]
    return _estimate("routing: the best stimulus per group, learned on half the items, evaluated on the others",
                     policy, treated, data[control].to_numpy()[hold], repeats, alpha)


def selection_by_model(frame: pd.DataFrame, control: str, families: dict[str, str], repeats: int, alpha: float,
                       policy: str = "overall", seed: int = 0) -> dict[str, dict[str, Any]]:
    """For every model with at least two stimuli besides the control: `select_and_estimate` on the run's items
    (stimuli: the conditions of a stimulus family). The length policy bands items by the control's tokens in."""
    from emoprompt.stats.analysis import STIMULUS_FAMILIES
    from emoprompt.stats.frame import item_means

    valid = frame[frame["error"].isna()]
    means = item_means(valid)
    results: dict[str, dict[str, Any]] = {}
    for model in valid["model"].unique().tolist():
        selected = means.xs(model, level="model")
        model_means = selected if isinstance(selected, pd.DataFrame) else selected.to_frame().T
        candidates = [c for c in model_means.columns if c != control
                      and families.get(c, "user") in STIMULUS_FAMILIES]
        if len(candidates) < 2 or control not in model_means.columns:
            continue
        lengths = None
        if policy == "length":
            rows = valid[(valid["model"] == model) & (valid["condition"] == control)]
            lengths = pd.to_numeric(rows["tokens_in"], errors="coerce").groupby(
                [rows["task"], rows["item"]]).mean().rename_axis(["task", "item"])
        try:
            result = select_and_estimate(model_means, candidates, control, repeats, alpha, policy=policy,
                                         lengths=lengths, seed=seed)
        except ValueError:
            continue
        results[model] = result.to_dict()
    return results
