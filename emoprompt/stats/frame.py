"""Records as a tidy frame: one row per model × task × item × condition × repeat."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

COLUMNS = ["model", "task", "item", "condition", "repeat", "score", "parsed", "error", "tokens_out", "tokens_in",
           "n_calls", "cost_usd", "cached"]


def records_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The tidy frame of run records; error cells keep `score` NaN and a non-empty `error`."""
    rows = [{
        "model": r["model"], "task": r["task"], "item": r["sample_id"], "condition": r["condition"],
        "repeat": r.get("repeat", 0), "score": r.get("score"), "parsed": r.get("parsed"),
        "error": (r.get("error") or {}).get("kind"), "tokens_out": r.get("tokens_out"),
        "tokens_in": r.get("tokens_in"), "n_calls": r.get("n_calls"), "cost_usd": r.get("cost_usd"),
        "cached": r.get("cached"),
    } for r in records]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["score"] = pd.to_numeric(frame["score"], errors="coerce")
    return frame


def item_means(frame: pd.DataFrame, value: str = "score") -> pd.DataFrame:
    """Per-item means over repeats: rows (model, task, item), columns condition. Repeats are never items."""
    valid = frame[frame["error"].isna()]
    return valid.groupby(["model", "task", "item", "condition"])[value].mean().unstack("condition")
