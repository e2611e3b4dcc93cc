"""A paired comparison of two runs on the cells they share (two models, two dates, two temperatures)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from emoprompt.errors import UsageError
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
