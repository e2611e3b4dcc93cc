"""Tokens and cost per model × condition, and for the whole run, from the records."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

TOTAL = "all conditions"


@dataclass(frozen=True)
class Usage:
    """What one condition of one model consumed (all cells, error cells included)."""

    model: str
    condition: str
    cells: int
    calls: int
    """Model calls the cells made (a feedback loop makes several per cell), cached ones included."""
    cached_calls_cells: int
    """Cells served entirely from the response cache: their tokens and cost were paid by an earlier run."""
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    """From litellm's price map; None when no cell's price is known (local models, custom servers)."""
    priced_cells: int

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the manifest and analysis.json."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Usage:
        """Inverse of `to_dict`."""
        return cls(**{f.name: data[f.name] for f in fields(cls)})


def usage(frame: pd.DataFrame, conditions: list[str] | None = None) -> list[Usage]:
    """One row per model × condition (in `conditions` order when given), then a TOTAL row per model."""
    rows: list[Usage] = []
    for model in dict.fromkeys(frame["model"]):
        model_rows = frame[frame["model"] == model]
        order = conditions or list(dict.fromkeys(model_rows["condition"]))
        for condition in order:
            rows.append(_usage(model, condition, model_rows[model_rows["condition"] == condition]))
        rows.append(_usage(model, TOTAL, model_rows))
    return rows


def _usage(model: str, condition: str, cells: pd.DataFrame) -> Usage:
    import pandas as pd

    costs = pd.to_numeric(cells["cost_usd"], errors="coerce") if "cost_usd" in cells else pd.Series(dtype=float)
    priced = int(costs.notna().sum())
    return Usage(model, condition, len(cells), _total(cells, "n_calls", default=len(cells)),
                 int((cells["cached"] == True).sum()) if "cached" in cells else 0,  # noqa: E712
                 _total(cells, "tokens_in"), _total(cells, "tokens_out"),
                 float(costs.sum()) if priced else None, priced)


def _total(cells: pd.DataFrame, column: str, default: int = 0) -> int:
    import pandas as pd

    if column not in cells:
        return default
    values = pd.to_numeric(cells[column], errors="coerce")
    total = values.sum()
    return int(total) if values.notna().any() and not math.isnan(total) else default


def format_usage(rows: list[Usage]) -> str:
    """A plain-text table for the terminal."""
    header = ["model", "condition", "calls", "tokens in", "tokens out", "cost (USD)", "cached cells"]
    table = [header] + [[r.model, r.condition, f"{r.calls:,}", f"{r.tokens_in:,}", f"{r.tokens_out:,}",
                         cost_text(r.cost_usd), f"{r.cached_calls_cells:,}"] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(widths[i]) if i >= 2 else cell.ljust(widths[i]) for i, cell in enumerate(row))
             .rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cost_text(cost: float | None) -> str:
    """Dollars with enough digits to be useful for small runs; '—' when unknown."""
    if cost is None:
        return "—"
    return f"${cost:,.2f}" if cost >= 1 else f"${cost:.4f}"
