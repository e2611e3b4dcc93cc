"""The per-condition summary printed at the end of a run: accuracy, parse failures, paired differences.

The differences are the report's pooled contrasts ("on these tasks"): the same estimator (`stats.contrast`) on the
same items with the same K, so the terminal, the report and analysis.json give one number for one contrast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emoprompt.stats.scale import Scale

if TYPE_CHECKING:
    import pandas as pd

SUMMARY_FIELDS = ("diff", "ci_low", "ci_high", "p", "method", "n_items")


@dataclass(frozen=True)
class ConditionSummary:
    """One condition of one model."""

    model: str
    condition: str
    cells: int
    errors: int
    accuracy: float
    parse_failure_rate: float
    vs_baseline: dict[str, Any] | None
    vs_control: dict[str, Any] | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConditionSummary:
        """Inverse of `summary_dicts` for one row (null back to NaN)."""
        nan = float("nan")
        return cls(data["model"], data["condition"], data["cells"], data["errors"],
                   nan if data["accuracy"] is None else data["accuracy"],
                   nan if data["parse_failure_rate"] is None else data["parse_failure_rate"],
                   data["vs_baseline"], data["vs_control"])


def summarize(frame: pd.DataFrame, conditions: list[str], baseline: str, control: str, alpha: float = 0.05,
              repeats: int | None = None) -> list[ConditionSummary]:
    """Summaries for every model × condition; differences pool all tasks' items (items are the unit)."""
    import pandas as pd

    from emoprompt.stats.analysis import declared_repeats
    from emoprompt.stats.frame import item_means

    rows = []
    valid_rows = frame[frame["error"].isna()]
    repeats = repeats or declared_repeats(valid_rows)
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
              ) -> dict[str, Any] | None:
    if treatment == control or treatment not in means or control not in means:
        return None
    pairs = means[[treatment, control]].dropna()
    if len(pairs) < 2:
        return None
    from emoprompt.stats.contrast import contrast

    row = contrast(pairs[treatment].to_numpy(), pairs[control].to_numpy(), repeats, alpha, 0.0, robust=False)
    return {key: row[key] for key in SUMMARY_FIELDS}


def format_summary(rows: list[ConditionSummary], baseline: str, control: str, alpha: float = 0.05,
                   scale: Scale | None = None) -> str:
    """A plain-text table for the terminal."""
    scale = scale or Scale()
    confidence = f"{100 * (1 - alpha):g}%"

    def diff(d: dict[str, Any] | None) -> str:
        if d is None:
            return "—"
        p = d["p"]
        p_shown = "—" if p is None or p != p else ("<0.001" if p < 0.001 else f"{p:.3f}")
        return f"{scale.diff(d['diff']):>6} {scale.interval(d['ci_low'], d['ci_high'])} p={p_shown}"

    header = ["model", "condition", "cells", "err", "acc" if scale.proportions else "mean score", "parse-fail",
              f"Δ vs {baseline} {scale.unit} [{confidence} CI]", f"Δ vs {control} {scale.unit} [{confidence} CI]"]
    table: list[list[str]] = [header]
    for r in rows:
        table.append([r.model, r.condition, str(r.cells), str(r.errors), scale.score(r.accuracy),
                      Scale().score(r.parse_failure_rate), diff(r.vs_baseline),
                      diff(r.vs_control) if control != baseline else "—"])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary_dicts(rows: list[ConditionSummary]) -> list[dict[str, Any]]:
    """Plain data for the manifest (NaN as null)."""
    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return None if isinstance(value, float) and value != value else value

    return [clean({
        "model": r.model, "condition": r.condition, "cells": r.cells, "errors": r.errors,
        "accuracy": r.accuracy, "parse_failure_rate": r.parse_failure_rate,
        "vs_baseline": r.vs_baseline, "vs_control": r.vs_control,
    }) for r in rows]
