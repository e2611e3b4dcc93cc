"""A paired comparison of two runs on the cells they share (two models, two dates, two temperatures)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from emoprompt.errors import UsageError
from emoprompt.schema import Manifest
from emoprompt.stats.multiplicity import holm
from emoprompt.stats.paired import paired_difference, paired_t

PAIR_KEYS = ["task", "item", "condition", "repeat"]


def compare_frames(first: pd.DataFrame, second: pd.DataFrame, alpha: float = 0.05) -> dict[str, Any]:
    """Second minus first, per condition and overall, pairing cells by (task, item, condition, repeat)."""
    a, b = (f[f["error"].isna()] for f in (first, second))
    joined = a.merge(b, on=PAIR_KEYS, suffixes=("_a", "_b"))
    if joined.empty:
        raise UsageError("the two runs share no cells (same task, item, condition and repeat); "
                         "compare runs of the same suite, tasks and conditions")
    repeats = int(joined["repeat"].nunique())
    item_level = joined.groupby(["task", "item", "condition"])[["score_a", "score_b"]].mean()
    rows, p_values = [], []
    for condition, group in item_level.groupby(level="condition"):
        result = paired_difference(group["score_b"].to_numpy(), group["score_a"].to_numpy(), repeats, alpha)
        rows.append({"condition": condition, **result.to_dict()})
        p_values.append(result.p_value)
    for row, p_holm in zip(rows, holm(p_values), strict=True):
        row["p_holm"] = p_holm
    overall_items = item_level.groupby(level=["task", "item"]).mean()
    overall = (paired_t(overall_items["score_b"].to_numpy(), overall_items["score_a"].to_numpy(), alpha)
               if len(overall_items) >= 2 else None)
    return {"shared_cells": len(joined), "only_first": len(a) - len(joined), "only_second": len(b) - len(joined),
            "conditions": rows, "overall": overall.to_dict() if overall else None}


COMPARED_SETTINGS = ("suite", "tasks", "conditions", "placement", "separator", "limit", "repeats", "seed", "shots",
                     "generation", "api_base", "engine_args", "heart")


def run_differences(first: Manifest, second: Manifest) -> list[str]:
    """What differs between two runs, one line each: the models (and their identities), the experiment's
    settings, the package versions and the dates."""
    lines = []
    models_a, models_b = first.identity.get("models") or {}, second.identity.get("models") or {}
    if models_a != models_b:
        lines.append(f"models: A {_models(models_a)}; B {_models(models_b)}")
    for setting in COMPARED_SETTINGS:
        value_a, value_b = first.experiment.get(setting), second.experiment.get(setting)
        if value_a != value_b:
            lines.append(f"{setting}: A {_short(value_a)}; B {_short(value_b)}")
    for package in sorted(set(first.versions) | set(second.versions)):
        if first.versions.get(package) != second.versions.get(package):
            lines.append(f"{package}: A {first.versions.get(package, '—')}; B {second.versions.get(package, '—')}")
    if first.started != second.started:
        lines.append(f"started: A {first.started or '—'}; B {second.started or '—'}")
    return lines


def _models(models: dict[str, Any]) -> str:
    return ", ".join(f"{name} ({json.dumps(identity, sort_keys=True)[:80]})" for name, identity in models.items()) \
        or "—"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 100 else text[:97] + "..."
