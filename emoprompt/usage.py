"""Tokens and cost per model × condition, and for the whole run, from the records."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import pandas as pd

    from emoprompt.schema import Record

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
    tokens_in: int | None
    """None when no cell recorded a count (imports from harnesses that log none): unknown, not zero."""
    tokens_out: int | None
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


UsageCell = tuple[str, str, Any, Any, Any, Any, Any]
"""(model, condition, n_calls, cached, tokens_in, tokens_out, cost_usd); a missing number is None or NaN."""


def usage(data: pd.DataFrame | Iterable[Record], conditions: list[str] | None = None) -> list[Usage]:
    """One row per model × condition (in `conditions` order when given), then a TOTAL row per model; from records
    or their tidy frame, in pure Python."""
    return usage_of_cells(list(usage_cells(data)), conditions)


def usage_of_cells(cells: list[UsageCell], conditions: list[str] | None = None) -> list[Usage]:
    """`usage` of cells already reduced to what it reads."""
    grouped: dict[str, dict[str, list[UsageCell]]] = {}
    for cell in cells:
        grouped.setdefault(cell[0], {}).setdefault(cell[1], []).append(cell)
    rows: list[Usage] = []
    for model, by_condition in grouped.items():
        for condition in conditions or list(by_condition):
            rows.append(_usage(model, condition, by_condition.get(condition, [])))
        rows.append(_usage(model, TOTAL, [cell for of_condition in by_condition.values() for cell in of_condition]))
    return rows


def usage_cells(data: pd.DataFrame | Iterable[Record]) -> Iterator[UsageCell]:
    """The cells `usage` reads, from records or from a frame (columns it lacks count as missing)."""
    if hasattr(data, "itertuples"):
        frame = cast("pd.DataFrame", data)
        names = ("model", "condition", "n_calls", "cached", "tokens_in", "tokens_out", "cost_usd")
        missing = [None] * len(frame)
        columns = [frame[name].tolist() if name in frame.columns else missing for name in names]
        for model, condition, calls, cached, tokens_in, tokens_out, cost in zip(*columns, strict=True):
            yield str(model), str(condition), calls, cached, tokens_in, tokens_out, cost
        return
    for record in cast("Iterable[Record]", data):
        yield usage_cell(record)


def usage_cell(record: Record) -> UsageCell:
    """What the usage table reads of one record."""
    return (record.model, record.condition, record.n_calls, record.cached, record.tokens_in, record.tokens_out,
            record.cost_usd)


def _usage(model: str, condition: str, cells: list[UsageCell]) -> Usage:
    costs = [cost for cost in (_number(cell[6]) for cell in cells) if cost is not None]
    return Usage(model, condition, len(cells), _total([cell[2] for cell in cells], default=len(cells)),
                 sum(1 for cell in cells if cell[3] == True),  # noqa: E712  (numpy's True too)
                 _known_total([cell[4] for cell in cells]), _known_total([cell[5] for cell in cells]),
                 math.fsum(costs) if costs else None, len(costs))


def _number(value: Any) -> float | None:
    """A finite or infinite number, or None for a missing one (None, NaN, text)."""
    if value is None or isinstance(value, str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number


def _total(values: list[Any], default: int = 0) -> int:
    numbers = [number for number in (_number(value) for value in values) if number is not None]
    return int(math.fsum(numbers)) if numbers else default


def _known_total(values: list[Any]) -> int | None:
    """The sum of the numbers among `values`; None when there are none (unknown, which is not 0)."""
    return _total(values) if any(_number(value) is not None for value in values) else None


def count_text(value: int | None) -> str:
    """A count with thousands separators, or — when unknown."""
    return "—" if value is None else f"{value:,}"


def format_usage(rows: list[Usage]) -> str:
    """A plain-text table for the terminal."""
    header = ["model", "condition", "calls", "tokens in", "tokens out", "cost (USD)", "cached cells"]
    table = [header] + [[r.model, r.condition, f"{r.calls:,}", count_text(r.tokens_in), count_text(r.tokens_out),
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
