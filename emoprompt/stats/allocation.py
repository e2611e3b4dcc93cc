"""Plan items × wordings × repeats from a pilot (`emoprompt plan --pilot RUN_DIR`).

From a pilot run that crossed wordings, the variance of a stimulus−control difference is split, within tasks, into
item (σ²_item), wording (σ²_wording: stimulus × wording), item × wording (σ²_cell) and repeat (σ²_repeat) parts
(the ANOVA estimators of `emoprompt.stats.wording`, averaged over contrasts and tasks). A design with n items per
task, K wordings and R repeats over T tasks then has

    Var(Δ̂) = (σ²_item/n + σ²_wording/K + (σ²_cell + σ²_repeat/R)/(nK)) / T

with a Satterthwaite df from the expected mean squares, and a minimum detectable effect at the Holm family size of
(t_{1−α/(2m)} + t_{power}) · √Var. Adding items cannot shrink σ²_wording/K: only more wordings can (Messing 2026).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from emoprompt.errors import UsageError
from emoprompt.schema import AnalysisPlan
from emoprompt.stats.wording import CrossedTask, score_components

ITEMS = (10, 25, 50, 100, 200, 400, 800)
WORDINGS = (1, 2, 3, 5, 8, 12)
REPEATS = (1, 2, 3, 5)


@dataclass(frozen=True)
class PilotComponents:
    """Variance components of a stimulus−control difference, and the pilot's shape."""

    item: float
    wording: float
    cell: float
    repeat: float | None
    """None when the pilot had one repeat (repeat noise is then inside `cell`)."""
    tasks: int
    conditions: int
    stimuli: int
    calls_per_cell: float
    pilot_items: int
    pilot_wordings: int
    pilot_repeats: int


@dataclass(frozen=True)
class Design:
    """One candidate allocation and what it buys."""

    items: int
    wordings: int
    repeats: int
    calls: int
    mde: float
    df: float


def pilot_components(frame: pd.DataFrame, spec: AnalysisPlan, run_dir: Path | str) -> PilotComponents:
    """Estimate the components from the records frame of a finished pilot run (`run_dir` names it in errors; it must
    cross two or more wordings)."""
    from emoprompt.stats.frame import wording_count

    if wording_count(frame) < 2:
        raise UsageError(f"{run_dir} did not cross wordings; run the pilot with --paraphrases 3 (or more) so the "
                         "wording variance can be estimated")
    valid = frame[frame["error"].isna()]
    stimuli = [c for c in valid["condition"].unique().tolist() if c not in (spec.comparator, spec.baseline)]
    if spec.comparator not in set(valid["condition"]) or not stimuli:
        raise UsageError(f"{run_dir} has no stimulus and control {spec.comparator!r} to compare; pilot at least one "
                         "stimulus against it")
    cells = valid.groupby(["model", "task", "item", "paraphrase", "repeat", "condition"])["score"].mean().unstack()
    differences = []
    for stimulus in stimuli:
        if stimulus not in cells:
            continue
        rows = (cells[stimulus] - cells[spec.comparator]).dropna().rename("score").reset_index()
        rows["task"] = rows["model"] + "\x1f" + rows["task"] + "\x1f" + stimulus  # each contrast × task apart
        differences.append(rows)
    components = score_components(pd.concat(differences)) if differences else {}
    if not components:
        raise UsageError(f"{run_dir}: no task has two or more items scored in every wording; the pilot is too small")
    calls = float(frame["n_calls"].fillna(1).sum()) / max(len(frame), 1)
    return PilotComponents(components["item"], components["wording"], components["item_x_wording"],
                           components["repeat"], int(valid["task"].nunique()), int(valid["condition"].nunique()),
                           len(stimuli), calls, int(valid.groupby("task")["item"].nunique().min()),
                           wording_count(valid), int(valid["repeat"].nunique()))


def design_mde(components: PilotComponents, items: int, wordings: int, repeats: int, alpha: float, power: float,
               family: int) -> Design:
    """The expected minimum detectable effect of one allocation (see the module docstring)."""
    from scipy import stats

    repeat = components.repeat or 0.0
    noise = components.cell + repeat / repeats
    n, k, t = items, wordings, components.tasks
    variance = (components.item / n + components.wording / k + noise / (n * k)) / t
    if k == 1:
        df = float(t * (n - 1))
    else:  # the analysis's own terms at their expected mean squares (a zero component's term is left out)
        expected = CrossedTask(n, k, 0.0, k * components.item + noise, n * components.wording + noise, noise)
        terms = [(value, degrees) for value, degrees in expected.variance_terms()]
        spread = sum(value**2 / degrees for value, degrees in terms)
        df = t * sum(value for value, _ in terms) ** 2 / spread if spread > 0 else float(t * (n - 1))
    quantile = float(stats.t.ppf(1 - alpha / (2 * family), df) + stats.t.ppf(power, df))
    calls = round(t * n * k * repeats * components.conditions * components.calls_per_cell)
    return Design(n, k, repeats, calls, quantile * math.sqrt(max(variance, 0.0)), df)


def recommend(components: PilotComponents, target: float, alpha: float, power: float, family: int
              ) -> tuple[Design | None, list[Design]]:
    """The cheapest allocation whose expected MDE is at most `target`, and the best of each number of wordings."""
    designs = [design_mde(components, n, k, r, alpha, power, family) for n in ITEMS for k in WORDINGS
               for r in REPEATS]
    meeting = sorted((d for d in designs if d.mde <= target), key=lambda d: (d.calls, d.mde))
    alternatives = []
    for k in WORDINGS:
        same_k = [d for d in designs if d.wordings == k]
        meets = sorted((d for d in same_k if d.mde <= target), key=lambda d: (d.calls, d.mde))
        alternatives.append(meets[0] if meets else min(same_k, key=lambda d: (d.mde, d.calls)))
    return (meeting[0] if meeting else None), alternatives


def describe(components: PilotComponents) -> list[str]:
    """The pilot's components, as lines for the terminal."""
    def pp(value: float | None) -> str:
        return "—" if value is None else f"{100 * math.sqrt(max(value, 0.0)):.1f} pp"

    repeat = pp(components.repeat) if components.repeat is not None else "— (one repeat: inside item × wording)"
    return [f"pilot: {components.tasks} tasks, {components.pilot_items}+ items per task, {components.pilot_wordings} "
            f"wordings, {components.pilot_repeats} repeat(s), {components.stimuli} stimuli vs the control",
            f"SD of a stimulus−control difference: item {pp(components.item)}, wording {pp(components.wording)}, "
            f"item × wording {pp(components.cell)}, repeat {repeat}"]


def pilot_summary(components: PilotComponents) -> dict[str, Any]:
    """The components as plain data."""
    return {name: getattr(components, name) for name in components.__dataclass_fields__}

