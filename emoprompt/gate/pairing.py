"""What a gate compares: the reference's and the candidate's per-item scores, paired on the items both have.

A side is the records of one run folder (or of another harness's results, imported) and the condition and model
that stand for it there. Items are (task, item) — and wording, where wordings were crossed; the model is part of
the key only when both sides hold more than one model. Each item's repeats are averaged; an item with an error cell
on either side is left out and counted (an error is not a wrong answer).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from emoprompt.errors import UsageError
from emoprompt.stats.frame import design_repeats, records_frame, wording_count


@dataclasses.dataclass
class Side:
    """The records of one side of a gate, and where they came from."""

    label: str
    frame: pd.DataFrame

    @classmethod
    def of_folder(cls, folder: Path) -> Side:
        """A run folder's records (the folder must hold a manifest and records)."""
        from emoprompt.runner.store import iter_records, read_manifest

        read_manifest(folder)
        return cls(str(folder), records_frame(iter_records(folder)))

    def conditions(self) -> list[str]:
        return list(dict.fromkeys(self.frame["condition"]))

    def models(self) -> list[str]:
        return list(dict.fromkeys(self.frame["model"]))


@dataclasses.dataclass
class PairedItems:
    """One gated contrast: per-item means of the reference and the candidate."""

    name: str
    """What the contrast is called in every output, e.g. `openai/gpt-4o-mini: EP02 vs baseline`."""
    reference: str
    candidate: str
    table: pd.DataFrame
    """Index (task, item) or (task, item, paraphrase); columns `reference` and `candidate` (repeat means)."""
    repeats: int
    wordings: int
    left_out: int
    """Items of either side that could not be paired: an error cell, or the item missing on the other side."""


def contrasts_in_folder(side: Side, reference: str | None, candidates: list[str]) -> list[PairedItems]:
    """The contrasts inside one run folder: each candidate condition against the reference condition for every
    model, or — one condition, several models — each candidate model against the reference model."""
    conditions, models = side.conditions(), side.models()
    _refuse_empty(side)
    if len(conditions) >= 2:
        ref = _pick(reference, conditions, "condition", side.label, default=_default_reference(conditions))
        chosen = candidates or [c for c in conditions if c != ref]
        for name in chosen:
            _pick(name, conditions, "condition", side.label)
        return [pair(side, side, ref, name, model, model) for model in models for name in chosen if name != ref]
    if len(models) >= 2:
        ref = _pick(reference, models, "model", side.label, default=models[0])
        chosen = candidates or [m for m in models if m != ref]
        return [pair(side, side, conditions[0], conditions[0], ref, name) for name in chosen if name != ref]
    raise UsageError(f"{side.label} holds one condition ({conditions[0]}) of one model: nothing to gate; give the "
                     "reference's and the candidate's run folders (emoprompt gate REFERENCE CANDIDATE)")


def contrasts_across(reference_side: Side, candidate_side: Side, reference: str | None, candidate: str | None
                     ) -> list[PairedItems]:
    """The reference folder against the candidate folder, paired on the items they share whatever their
    condition names: one condition of each (named with --reference / --candidate when a folder holds several);
    per model when both hold the same several models, else the one model of each."""
    _refuse_empty(reference_side)
    _refuse_empty(candidate_side)
    ref = _one(reference, reference_side.conditions(), "--reference", reference_side.label)
    cand = _one(candidate, candidate_side.conditions(), "--candidate", candidate_side.label)
    ref_models, cand_models = reference_side.models(), candidate_side.models()
    if len(ref_models) == 1 and len(cand_models) == 1:
        return [pair(reference_side, candidate_side, ref, cand, ref_models[0], cand_models[0])]
    shared = [m for m in ref_models if m in cand_models]
    if not shared:
        raise UsageError(f"{reference_side.label} and {candidate_side.label} hold several models and share none "
                         f"({', '.join(ref_models)} vs {', '.join(cand_models)}); gate one model of each")
    return [pair(reference_side, candidate_side, ref, cand, model, model) for model in shared]


def pair(reference_side: Side, candidate_side: Side, reference: str, candidate: str, reference_model: str,
         candidate_model: str) -> PairedItems:
    """The paired per-item means of one contrast."""
    ref_rows = _rows(reference_side.frame, reference, reference_model)
    cand_rows = _rows(candidate_side.frame, candidate, candidate_model)
    wordings = min(wording_count(ref_rows), wording_count(cand_rows))
    keys = ["task", "item"] + (["paraphrase"] if wordings > 1 else [])
    ref_means, ref_bad = _item_means(ref_rows, keys)
    cand_means, cand_bad = _item_means(cand_rows, keys)
    table = pd.concat({"reference": ref_means, "candidate": cand_means}, axis=1, join="inner")
    table = table.drop(index=ref_bad.union(cand_bad), errors="ignore")
    if table.empty:
        raise UsageError(_no_shared_items(reference_side, candidate_side, ref_means, cand_means))
    repeats = max(design_repeats(ref_rows)[0], design_repeats(cand_rows)[0])
    left_out = len(ref_means.index.union(cand_means.index)) - len(table)
    if reference_model == candidate_model:
        name = f"{reference_model}: {candidate} vs {reference}"
    elif reference == candidate:
        name, reference, candidate = f"{candidate_model} vs {reference_model}", reference_model, candidate_model
    else:
        name = f"{candidate_model} {candidate} vs {reference_model} {reference}"
    return PairedItems(name, reference, candidate, table, repeats, wordings, left_out)


def _rows(frame: pd.DataFrame, condition: str, model: str) -> pd.DataFrame:
    return frame[(frame["condition"] == condition) & (frame["model"] == model)]


def _item_means(rows: pd.DataFrame, keys: list[str]) -> tuple[pd.Series, pd.Index]:
    """Each item's mean score over its repeats (in the order the items first appear), and the items that hold an
    error cell."""
    failed = (rows["error"].notna() | rows["score"].isna()).groupby([rows[k] for k in keys], sort=False).any()
    return rows.groupby(keys, sort=False)["score"].mean(), failed.index[failed.to_numpy()]


def _pick(name: str | None, names: list[str], what: str, label: str, default: str | None = None) -> str:
    if name is None:
        if default is None:
            raise UsageError(f"{label}: say which {what} to gate")
        return default
    if name not in names:
        raise UsageError(f"{label} has no {what} {name!r}; it has {', '.join(names)}")
    return name


def _one(name: str | None, names: list[str], flag: str, label: str) -> str:
    if name is None:
        if len(names) > 1:
            raise UsageError(f"{label} holds the conditions {', '.join(names)}; say which with {flag} NAME")
        return names[0]
    return _pick(name, names, "condition", label)


def _default_reference(conditions: list[str]) -> str:
    return "baseline" if "baseline" in conditions else conditions[0]


def _refuse_empty(side: Side) -> None:
    if side.frame.empty:
        raise UsageError(f"{side.label} holds no records: an empty run has nothing to gate (run it first)")
    if side.frame["score"].isna().all():
        raise UsageError(f"every cell of {side.label} failed: nothing to gate (run them again with emoprompt run "
                         "--resume FOLDER --retry-errors)")


def _no_shared_items(reference_side: Side, candidate_side: Side, ref: pd.Series, cand: pd.Series) -> str:
    def examples(index: pd.Index) -> str:
        return ", ".join("/".join(str(part) for part in (key if isinstance(key, tuple) else (key,)))
                         for key in list(index[:2]))

    return (f"the reference ({reference_side.label}) and the candidate ({candidate_side.label}) share no items "
            f"without an error: {examples(ref.index) or 'none'} … vs {examples(cand.index) or 'none'} …; gate runs "
            "of the same tasks and items (the same suite, --limit and --seed)")
