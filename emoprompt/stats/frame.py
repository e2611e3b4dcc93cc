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


def design_repeats(frame: pd.DataFrame, stated: int | None = None) -> tuple[int, pd.DataFrame, list[str]]:
    """K, the frame the contrasts use, and what is worth saying about the design.

    K is the run's stated repeats, or else the most common number of repeats of a cell (model, task, item,
    condition and wording; error rows count as planned repeats) — never the number of distinct repeat numbers,
    which one stray row would raise for the whole file. Cells with another count are named (an unbalanced design).
    With K = 1 a cell's surplus repeats are set aside, its first kept, so that one stray row does not turn every
    McNemar test into a t test.
    """
    if frame.empty:
        return stated or 1, frame, []
    keys = ["model", "task", "item", "condition"] + (["paraphrase"] if "paraphrase" in frame.columns else [])
    counts = frame.groupby(keys, dropna=False, sort=False)["repeat"].nunique()
    common = counts.value_counts()
    k = int(stated or common[common == common.max()].index.max())
    off = counts[counts != k]
    if off.empty:
        return k, frame, []
    ranges = f"{int(counts.min())}–{int(counts.max())}" if counts.min() != counts.max() else str(int(counts.min()))
    note = (f"unbalanced repeats: {len(off):,} of {len(counts):,} cells have other than K = {k} repeats "
            f"({ranges}; for example item {str(off.index[0][2])!r}, condition {str(off.index[0][3])!r})")
    if k > 1:
        return k, frame, [note + "; each item's mean uses the repeats it has"]
    first = frame.groupby(keys, dropna=False, sort=False)["repeat"].transform("min")
    kept = frame[frame["repeat"] == first]
    return k, kept, [note + f"; the design has one repeat, so only the first of each is analysed "
                            f"({len(frame) - len(kept):,} rows set aside)"]


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
