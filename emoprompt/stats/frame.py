"""Records as a tidy frame: one row per model × task × item × condition × repeat."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from emoprompt.schema import Record

COLUMNS = ["model", "task", "item", "condition", "repeat", "score", "parsed", "error", "tokens_out", "tokens_in",
           "n_calls", "cost_usd", "cached"]


def records_frame(records: Iterable[Record]) -> pd.DataFrame:
    """The tidy frame of run records; error cells keep `score` NaN and a non-empty `error`."""
    rows = [(r.model, r.task, r.sample_id, r.condition, r.repeat, r.score, r.parsed,
             r.error.kind if r.error is not None else None, r.tokens_out, r.tokens_in, r.n_calls, r.cost_usd, r.cached)
            for r in records]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["score"] = pd.to_numeric(frame["score"], errors="coerce")
    return frame


def item_means(frame: pd.DataFrame, value: str = "score") -> pd.DataFrame:
    """Per-item means over repeats: rows (model, task, item), columns condition. Repeats are never items."""
    valid = frame[frame["error"].isna()]
    return valid.groupby(["model", "task", "item", "condition"])[value].mean().unstack("condition")
