"""Records as a tidy frame: one row per model × task × item × condition × repeat."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from emoprompt.schema import Record

COLUMNS = ["model", "task", "item", "condition", "repeat", "score", "parsed", "error", "tokens_out", "tokens_in",
           "n_calls", "cost_usd", "cached", "paraphrase"]


def records_frame(records: Iterable[Record]) -> pd.DataFrame:
    """The tidy frame of run records; error cells keep `score` NaN and a non-empty `error`."""
    rows = [(r.model, r.task, r.sample_id, r.condition, r.repeat, r.score, r.parsed,
             r.error.kind if r.error is not None else None, r.tokens_out, r.tokens_in, r.n_calls, r.cost_usd, r.cached,
             r.paraphrase) for r in records]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["score"] = pd.to_numeric(frame["score"], errors="coerce")
    return frame


def wording_count(frame: pd.DataFrame) -> int:
    """How many wordings the rows cross (1 when they carry none)."""
    if "paraphrase" not in frame.columns or frame["paraphrase"].isna().all():
        return 1
    return max(1, int(frame["paraphrase"].nunique()))


def fold_wordings(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows with each wording as further repeats of its item (wording w, repeat r → repeat w·R + r), for the
    analyses in which items are the only random factor; `emoprompt.stats.wording` keeps wordings apart."""
    if wording_count(frame) == 1:
        return frame
    folded = frame.copy()
    order = {w: i for i, w in enumerate(sorted(folded["paraphrase"].dropna().unique(), key=str))}
    width = int(folded["repeat"].max()) + 1
    folded["repeat"] = folded["paraphrase"].map(order).fillna(0).astype(int) * width + folded["repeat"]
    return folded


def item_means(frame: pd.DataFrame, value: str = "score") -> pd.DataFrame:
    """Per-item means over repeats: rows (model, task, item), columns condition. Repeats are never items."""
    valid = frame[frame["error"].isna()]
    return valid.groupby(["model", "task", "item", "condition"])[value].mean().unstack("condition")


DEDUPE_POLICIES = ("first", "last", "mean")


def dedupe(frame: pd.DataFrame, policy: str | None) -> pd.DataFrame:
    """Rows sharing one (model, task, item, condition, repeat) merged by `policy` (first, last, or the mean score);
    None leaves the frame as it is (the analysis then refuses duplicates, naming one)."""
    if policy is None:
        return frame
    keys = ["model", "task", "item", "condition", "repeat"]
    if policy == "first":
        return frame.drop_duplicates(subset=keys, keep="first").reset_index(drop=True)
    if policy == "last":
        return frame.drop_duplicates(subset=keys, keep="last").reset_index(drop=True)
    if policy == "mean":
        merged = frame.groupby(keys, sort=False, as_index=False).agg(
            {column: ("mean" if column == "score" else "first") for column in frame.columns if column not in keys})
        return merged[frame.columns]
    from emoprompt.errors import unknown_name

    raise unknown_name("dedupe policy", policy, DEDUPE_POLICIES)
