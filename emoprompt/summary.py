"""The per-condition summary printed at the end of a run: accuracy, parse failures, paired differences."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from emoprompt.stats.frame import item_means
from emoprompt.stats.paired import PairedDifference, paired_difference


@dataclass(frozen=True)
class ConditionSummary:
    """One condition of one model."""

    model: str
    condition: str
    cells: int
    errors: int
    accuracy: float
    parse_failure_rate: float
    vs_baseline: PairedDifference | None
    vs_control: PairedDifference | None


def summarize(frame: pd.DataFrame, conditions: list[str], baseline: str, control: str, alpha: float = 0.05
              ) -> list[ConditionSummary]:
    """Summaries for every model × condition; differences pool all tasks' items (items are the unit)."""
    rows = []
    repeats = int(frame["repeat"].nunique()) if len(frame) else 1
    means = item_means(frame)
    for model in frame["model"].unique():
        model_rows = frame[frame["model"] == model]
        model_means = means.loc[model] if model in means.index.get_level_values(0) else pd.DataFrame()
        for condition in conditions:
            cells = model_rows[model_rows["condition"] == condition]
            valid = cells[cells["error"].isna()]
            rows.append(ConditionSummary(
                model, condition, len(cells), int(cells["error"].notna().sum()),
                float(valid["score"].mean()) if len(valid) else float("nan"),
                float((valid["parsed"] == False).mean()) if len(valid) else float("nan"),  # noqa: E712
                _contrast(model_means, condition, baseline, repeats, alpha),
                _contrast(model_means, condition, control, repeats, alpha),
            ))
    return rows


def _contrast(means: pd.DataFrame, treatment: str, control: str, repeats: int, alpha: float
              ) -> PairedDifference | None:
    if treatment == control or treatment not in means or control not in means:
        return None
    pairs = means[[treatment, control]].dropna()
    if len(pairs) < 2:
        return None
    return paired_difference(pairs[treatment].to_numpy(), pairs[control].to_numpy(), repeats, alpha)


def format_summary(rows: list[ConditionSummary], baseline: str, control: str) -> str:
    """A plain-text table for the terminal."""
    def diff(d: PairedDifference | None) -> str:
        if d is None:
            return "—"
        return f"{100 * d.diff:+5.1f} [{100 * d.ci_low:+5.1f}, {100 * d.ci_high:+5.1f}] p={d.p_value:.3f}"

    header = ["model", "condition", "cells", "err", "acc", "parse-fail",
              f"Δ vs {baseline} pp [95% CI]", f"Δ vs {control} pp [95% CI]"]
    table: list[list[str]] = [header]
    for r in rows:
        table.append([r.model, r.condition, str(r.cells), str(r.errors), _pct(r.accuracy),
                      _pct(r.parse_failure_rate), diff(r.vs_baseline),
                      diff(r.vs_control) if control != baseline else "—"])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _pct(value: float) -> str:
    return "—" if value != value else f"{100 * value:5.1f}%"


def summary_dicts(rows: list[ConditionSummary]) -> list[dict[str, Any]]:
    """Plain data for the manifest."""
    return [{
        "model": r.model, "condition": r.condition, "cells": r.cells, "errors": r.errors,
        "accuracy": r.accuracy, "parse_failure_rate": r.parse_failure_rate,
        "vs_baseline": r.vs_baseline.to_dict() if r.vs_baseline else None,
        "vs_control": r.vs_control.to_dict() if r.vs_control else None,
    } for r in rows]
