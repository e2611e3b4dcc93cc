"""The per-condition summary printed at the end of a run: accuracy, parse failures, paired differences.

The differences are the report's pooled contrasts ("on these tasks"): the same estimator (`stats.contrast`) on the
same items with the same K, so the terminal, the report and analysis.json give one number for one contrast. It is
written here again in pure Python (tested equal to `stats.contrast`), so that a run's summary needs neither pandas
nor SciPy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from emoprompt.stats.distributions import binomial_cdf_half, binomial_pmf_half, normal_ppf, t_ppf, t_sf
from emoprompt.stats.scale import Scale

if TYPE_CHECKING:
    import pandas as pd

    from emoprompt.schema import Record
    from emoprompt.usage import UsageCell

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


def run_summary(run_dir: Path, conditions: list[str], baseline: str, control: str, alpha: float,
                repeats: int) -> dict[str, Any]:
    """What the end of a run reports, as plain data: per-condition summary and usage, records and error cells."""
    from emoprompt.runner.store import iter_records

    digests = [digest(record) for record in iter_records(run_dir)]
    return summary_of_digests(digests, conditions, baseline, control, alpha, repeats)


Digest = tuple["SummaryCell", "UsageCell"]
"""What the summary and the usage table read of one record (a run keeps one per record, not the record)."""


def digest(record: Record) -> Digest:
    """The summary's and the usage table's view of one record."""
    return ((record.model, record.task, record.sample_id, record.condition, record.repeat, as_number(record.score),
             record.parsed, record.error is not None),
            (record.model, record.condition, record.n_calls, record.cached, record.tokens_in, record.tokens_out,
             record.cost_usd))


def summary_of_digests(digests: list[Digest], conditions: list[str], baseline: str, control: str, alpha: float,
                       repeats: int) -> dict[str, Any]:
    """`run_summary` of the digests of a run's records."""
    from emoprompt.usage import usage_of_cells

    cells = [cell for cell, _ in digests]
    return {"summary": summary_dicts(summarize_cells(cells, conditions, baseline, control, alpha, repeats)),
            "usage": [row.to_dict() for row in usage_of_cells([spent for _, spent in digests], conditions)],
            "records": len(digests), "errors": sum(1 for cell in cells if cell[7])}


SummaryCell = tuple[str, str, str, str, int, float, Any, bool]
"""(model, task, item, condition, repeat, score (NaN when none), parsed, is an error cell)."""


def summarize(data: pd.DataFrame | Iterable[Record], conditions: list[str], baseline: str, control: str,
              alpha: float = 0.05, repeats: int | None = None) -> list[ConditionSummary]:
    """Summaries for every model × condition, from records or their tidy frame; differences pool all tasks' items
    (items are the unit). Pure Python: a run prints this without importing pandas or SciPy."""
    return summarize_cells(list(summary_cells(data)), conditions, baseline, control, alpha, repeats)


def summarize_cells(cells: list[SummaryCell], conditions: list[str], baseline: str, control: str,
                    alpha: float = 0.05, repeats: int | None = None) -> list[ConditionSummary]:
    """`summarize` of cells already reduced to what it reads."""
    repeats = repeats or max(1, len({cell[4] for cell in cells if not cell[7]}))
    grouped: dict[str, dict[str, list[SummaryCell]]] = {}
    for cell in cells:
        grouped.setdefault(cell[0], {}).setdefault(cell[3], []).append(cell)
    rows = []
    for model, by_condition in grouped.items():
        means = _item_means([cell for of_condition in by_condition.values() for cell in of_condition])
        for condition in conditions:
            of_condition = by_condition.get(condition, [])
            valid = [cell for cell in of_condition if not cell[7]]
            scores = [cell[5] for cell in valid if cell[5] == cell[5]]
            rows.append(ConditionSummary(
                model, condition, len(of_condition), len(of_condition) - len(valid),
                math.fsum(scores) / len(scores) if scores else math.nan,
                sum(1 for cell in valid if cell[6] is False) / len(valid) if valid else math.nan,
                _contrast(means, condition, baseline, repeats, alpha),
                _contrast(means, condition, control, repeats, alpha),
            ))
    return rows


def summary_cells(data: pd.DataFrame | Iterable[Record]) -> Iterator[SummaryCell]:
    """The cells `summarize` reads, from records or from a frame of `stats.frame.COLUMNS`."""
    if hasattr(data, "itertuples"):
        frame = cast("pd.DataFrame", data)
        columns = [frame[name].tolist() for name in ("model", "task", "item", "condition", "repeat", "score", "parsed",
                                                     "error")]
        for model, task, item, condition, repeat, score, parsed, error in zip(*columns, strict=True):
            failed = error is not None and error == error
            yield (model, task, item, condition, int(repeat), as_number(score), parsed, failed)
        return
    for record in cast("Iterable[Record]", data):
        yield digest(record)[0]


def as_number(value: Any) -> float:
    """A score as a float: NaN for None or anything that is not a number."""
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan


def _item_means(cells: list[SummaryCell]) -> dict[str, dict[tuple[str, str], float]]:
    """condition → (task, item) → the item's mean score over its valid repeats (items without one left out)."""
    scores: dict[str, dict[tuple[str, str], list[float]]] = {}
    for _, task, item, condition, _, score, _, failed in cells:
        if not failed and score == score:
            scores.setdefault(condition, {}).setdefault((task, item), []).append(score)
    return {condition: {key: math.fsum(values) / len(values) for key, values in items.items()}
            for condition, items in scores.items()}


def _contrast(means: dict[str, dict[tuple[str, str], float]], treatment: str, control: str, repeats: int,
              alpha: float) -> dict[str, Any] | None:
    if treatment == control or treatment not in means or control not in means:
        return None
    treated, controlled = means[treatment], means[control]
    keys = sorted(key for key in treated if key in controlled)
    if len(keys) < 2:
        return None
    return summary_contrast([treated[key] for key in keys], [controlled[key] for key in keys], repeats, alpha)


def summary_contrast(treatment: list[float], control: list[float], repeats: int, alpha: float) -> dict[str, Any]:
    """The summary's fields (`SUMMARY_FIELDS`) of `stats.contrast.contrast` on paired item means, in pure Python:
    McNemar mid-p with the Agresti–Min interval for K = 1 binary scores, else a paired t (equal to 1e-9)."""
    n = len(treatment)
    binary = repeats == 1 and all(value in (0.0, 1.0) for value in (*treatment, *control))
    mean_t, mean_c = math.fsum(treatment) / n, math.fsum(control) / n
    if binary:
        n10 = sum(1 for t, c in zip(treatment, control, strict=True) if t == 1.0 and c == 0.0)
        n01 = sum(1 for t, c in zip(treatment, control, strict=True) if t == 0.0 and c == 1.0)
        z = normal_ppf(1 - alpha / 2)
        middle = (n10 - n01) / (n + 2)
        half = z * math.sqrt((n10 + n01 + 1) - (n10 - n01) ** 2 / (n + 2)) / (n + 2)
        m, k = n10 + n01, min(n10, n01)
        p = 1.0 if m == 0 else min(1.0, 2 * binomial_cdf_half(k, m) - binomial_pmf_half(k, m))
        return {"diff": mean_t - mean_c, "ci_low": max(-1.0, middle - half), "ci_high": min(1.0, middle + half),
                "p": p, "method": "mcnemar-midp/agresti-min", "n_items": n}
    d = [t - c for t, c in zip(treatment, control, strict=True)]
    mean = math.fsum(d) / n
    se = math.sqrt(math.fsum((x - mean) ** 2 for x in d) / (n - 1) / n)
    if se < 1e-12 * max(1.0, abs(mean)):
        if abs(mean) < 1e-12:
            return {"diff": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p": 1.0, "method": "no difference", "n_items": n}
        return {"diff": mean, "ci_low": math.nan, "ci_high": math.nan, "p": min(1.0, 2 * 0.5**n),
                "method": "sign-flip (every item moved alike)", "n_items": n}
    crit = t_ppf(1 - alpha / 2, n - 1)
    return {"diff": mean, "ci_low": mean - crit * se, "ci_high": mean + crit * se,
            "p": 2 * t_sf(abs(mean / se), n - 1), "method": "paired-t", "n_items": n}


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

    against = [baseline] if control == baseline else [baseline, control]
    header = ["model", "condition", "cells", "err", "acc" if scale.proportions else "mean score", "parse-fail",
              *(f"Δ vs {name} {scale.unit} [{confidence} CI]" for name in against)]
    table: list[list[str]] = [header]
    for r in rows:
        table.append([r.model, r.condition, str(r.cells), str(r.errors), scale.score(r.accuracy),
                      Scale().score(r.parse_failure_rate), diff(r.vs_baseline),
                      *([diff(r.vs_control)] if control != baseline else [])])
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
