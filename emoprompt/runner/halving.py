"""Budgeted search over the stimulus library: successive halving (the TRIPLE idea, arXiv 2402.09723), then an honest
estimate of the winner on held-out items that the search never saw.

The items are split once, by a seeded hash: a held-out share for the final estimate, the rest for the search. Each
round runs the surviving stimuli and the control on more search items (the same items as before plus new ones, so
earlier cells are reused) and keeps the better half; the budget is spread evenly over the rounds. Everything runs in
one ordinary run folder, so `emoprompt report` and `emoprompt select` read it like any run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from emoprompt.backends import Backend, BackendOptions
from emoprompt.errors import UsageError
from emoprompt.runner.experiment import Experiment
from emoprompt.runner.plan import RunPlan, build_plan
from emoprompt.runner.store import read_records
from emoprompt.runner.subsets import item_order, run_items
from emoprompt.stats.analysis import STIMULUS_FAMILIES
from emoprompt.stats.paired import paired_difference


def successive_halving(experiment: Experiment, budget: int, out: Path, holdout: float = 0.3, seed: int = 0,
                       backends: dict[str, Backend] | None = None, options: BackendOptions | None = None,
                       data_dir: Path | None = None, progress: bool = False) -> dict[str, Any]:
    """Search the experiment's stimuli for the best one against its control within `budget` cells; returns the
    rounds, the winner and its estimate on the held-out items."""
    if experiment.paraphrases > 1:
        raise UsageError("the budgeted search does not cross wordings; drop paraphrases, then check the winner in a "
                         "run with --paraphrases")
    plan = build_plan(experiment, backends, options, data_dir)
    if len(plan.backends) != 1:
        raise UsageError("the budgeted search runs one model at a time; give one --model")
    candidates = [c.name for c in plan.conditions if c.family in STIMULUS_FAMILIES and c.name != plan.control]
    if len(candidates) < 2:
        raise UsageError("the search needs at least two stimuli among the conditions (e.g. --condition emotionprompt)")
    items = item_order(plan, seed)
    held_out = items[: max(2, round(holdout * len(items)))]
    search = items[len(held_out):]
    repeats = experiment.repeats
    final_cost = 2 * len(held_out) * repeats
    rounds = math.ceil(math.log2(len(candidates)))
    per_round = (budget - final_cost) / rounds
    if per_round < (len(candidates) + 1) * 2 * repeats:
        needed = final_cost + rounds * (len(candidates) + 1) * 2 * repeats
        raise UsageError(f"a budget of {budget:,} cells cannot search {len(candidates)} stimuli and hold out "
                         f"{len(held_out)} items; give --budget {needed:,} or more, or fewer items (--limit)")
    alive, history, spent = list(candidates), [], 0
    for number in range(1, rounds + 1):
        size = min(len(search), int(per_round // ((len(alive) + 1) * repeats)))
        chosen = search[:size]
        spent += _run_cells(plan, out, [*alive, plan.control], chosen, progress)
        means = _mean_differences(out, plan.control, alive, chosen)
        ranked = sorted(alive, key=lambda name: -means[name])
        history.append({"round": number, "items": size, "candidates": list(alive),
                        "mean_differences": {name: means[name] for name in ranked}})
        alive = ranked[: max(1, math.ceil(len(alive) / 2))]
        if len(alive) == 1:
            break
    winner = alive[0]
    spent += _run_cells(plan, out, [winner, plan.control], held_out, progress)
    treated, control = _paired(out, winner, plan.control, held_out)
    honest = paired_difference(treated, control, repeats, experiment.analysis.alpha)
    return {"winner": winner, "control": plan.control, "rounds": history, "held_out_items": len(held_out),
            "search_items": len(search), "cells_run": spent, "budget": budget, "estimate": honest.to_dict(),
            "note": "estimated on held-out items the search never saw"}


def _run_cells(plan: RunPlan, out: Path, conditions: list[str], items: list[tuple[str, str]], progress: bool
               ) -> int:
    return run_items(plan, out, conditions, items, progress).counters.ran


def _mean_differences(out: Path, control: str, names: list[str], items: list[tuple[str, str]]) -> dict[str, float]:
    means = {}
    for name in names:
        treated, untreated = _paired(out, name, control, items)
        means[name] = float(np.mean(treated - untreated)) if len(treated) else float("-inf")
    return means


def _paired(out: Path, treatment: str, control: str, items: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-item mean scores (over repeats) of two conditions on `items`, paired."""
    wanted = set(items)
    scores: dict[tuple[str, str, str], list[float]] = {}
    for record in read_records(out):
        key = (record.task, record.sample_id)
        if record.condition in (treatment, control) and key in wanted and record.error is None and \
                record.score is not None:
            scores.setdefault((record.condition, *key), []).append(record.score)
    common = [key for key in items if (treatment, *key) in scores and (control, *key) in scores]
    treated = np.array([np.mean(scores[(treatment, *key)]) for key in common])
    untreated = np.array([np.mean(scores[(control, *key)]) for key in common])
    return treated, untreated
