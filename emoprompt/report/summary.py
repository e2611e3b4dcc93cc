"""The per-condition summary printed at the end of a run: what each condition scored and its paired differences.

The differences are those of the run's analysis (`analysis.json`, `models.<model>.summary`): the report's
estimator on the report's items, so the terminal, the report and analysis.json give one number for one contrast.
A run without a report has no analysis; its summary says what each condition scored (`stats.tally`) and no more.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from emoprompt.schema import Record
from emoprompt.stats.scale import Scale
from emoprompt.stats.tally import TallyCell, as_number, tally


@dataclass(frozen=True)
class ConditionSummary:
    """One condition of one model; `vs_baseline` and `vs_control` hold diff, ci_low, ci_high, p, method and n_items
    (None when there is no analysis, or nothing to pair)."""

    model: str
    condition: str
    cells: int
    errors: int
    accuracy: float
    parse_failure_rate: float
    vs_baseline: dict[str, Any] | None = None
    vs_control: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConditionSummary:
        """Inverse of `summary_dicts` for one row (null back to NaN)."""
        nan = float("nan")
        return cls(data["model"], data["condition"], data["cells"], data["errors"],
                   nan if data["accuracy"] is None else data["accuracy"],
                   nan if data["parse_failure_rate"] is None else data["parse_failure_rate"],
                   data.get("vs_baseline"), data.get("vs_control"))


def summary_of_analysis(analysis: dict[str, Any]) -> list[ConditionSummary]:
    """The summary rows of an analysis (`stats.analysis.analyze`): every model × condition."""
    rows = []
    for model, result in analysis["models"].items():
        contrasts = {row["condition"]: row for row in result.get("summary") or []}
        for entry in result.get("conditions") or []:
            paired = contrasts.get(entry["condition"], {})
            rows.append(ConditionSummary(model, entry["condition"], entry["cells"], entry["errors"],
                                         _number(entry["accuracy"]), _number(entry["parse_failure_rate"]),
                                         paired.get("vs_baseline"), paired.get("vs_control")))
    return rows


def summary_of_cells(cells: Iterable[tuple[str, TallyCell]], conditions: Sequence[str]) -> list[ConditionSummary]:
    """What each model × condition scored, without differences (a run that writes no report), from (model, tally
    cell) pairs."""
    by_model: dict[str, list[TallyCell]] = {}
    for model, cell in cells:
        by_model.setdefault(model, []).append(cell)
    return [ConditionSummary(model, row.condition, row.cells, row.errors, row.accuracy, row.parse_failure_rate)
            for model, of_model in by_model.items() for row in tally(of_model, conditions)]


def summary_of_records(records: Iterable[Record], conditions: Sequence[str]) -> list[ConditionSummary]:
    """`summary_of_cells` of records."""
    return summary_of_cells(((r.model, (r.condition, as_number(r.score), r.parsed,
                                        r.error.kind if r.error is not None else None, r.tokens_out))
                             for r in records), conditions)


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


def format_summary(rows: list[ConditionSummary], baseline: str, control: str, alpha: float = 0.05,
                   scale: Scale | None = None) -> str:
    """A plain-text table for the terminal; `scale` is that of the scores themselves (percentage points for 0–1
    scores, else points)."""
    scale = scale or Scale()
    confidence = f"{100 * (1 - alpha):g}%"
    compared = any(r.vs_baseline or r.vs_control for r in rows)

    def diff(d: dict[str, Any] | None) -> str:
        if d is None:
            return "—"
        p = d.get("p")
        p_shown = "—" if p is None or p != p else ("<0.001" if p < 0.001 else f"{p:.3f}")
        return f"{scale.diff(d.get('diff')):>6} {scale.interval(d.get('ci_low'), d.get('ci_high'))} p={p_shown}"

    against = ([baseline] if control == baseline else [baseline, control]) if compared else []
    header = ["model", "condition", "cells", "err", "acc" if scale.proportions else "mean score", "parse-fail",
              *(f"Δ vs {name} {scale.unit} [{confidence} CI]" for name in against)]
    table: list[list[str]] = [header]
    for r in rows:
        columns = [diff(r.vs_baseline), *([diff(r.vs_control)] if control != baseline else [])] if compared else []
        table.append([r.model, r.condition, str(r.cells), str(r.errors), scale.score(r.accuracy),
                      Scale().score(r.parse_failure_rate), *columns])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)
