"""What each condition's cells came to: cells, error cells, mean score, parse failures, output length.

Plain counting, in pure Python: the report's condition table and the terminal summary of a run without a report
both come from `tally`, so a run that writes no report imports nothing of the analysis stack.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

TallyCell = tuple[str, float, Any, Any, Any]
"""(condition, score (NaN when none), parsed, the error kind (None, or anything false, for an answered cell),
tokens out (None when unknown))."""


@dataclass(frozen=True)
class ConditionTally:
    """One condition's cells."""

    condition: str
    family: str
    cells: int
    errors: int
    accuracy: float
    """Mean score of the answered cells (NaN when none answered)."""
    parse_failure_rate: float
    mean_tokens_out: float

    def to_dict(self) -> dict[str, Any]:
        """Plain data (NaN stays NaN; analysis.json writes it as null)."""
        return asdict(self)


def as_number(value: Any) -> float:
    """A number as a float: NaN for None or anything that is not a number."""
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan


def tally(cells: Iterable[TallyCell], conditions: Sequence[str], families: dict[str, str] | None = None
          ) -> list[ConditionTally]:
    """One row per condition, in `conditions` order (a condition without cells gets a row of zeros and NaN)."""
    grouped: dict[str, list[TallyCell]] = {condition: [] for condition in conditions}
    for cell in cells:
        if cell[0] in grouped:
            grouped[cell[0]].append(cell)
    rows = []
    for condition in conditions:
        of_condition = grouped[condition]
        valid = [cell for cell in of_condition if not cell[3]]
        scores = [cell[1] for cell in valid if cell[1] == cell[1]]
        lengths = [length for length in (as_number(cell[4]) for cell in valid) if length == length]
        rows.append(ConditionTally(
            condition, (families or {}).get(condition, ""), len(of_condition), len(of_condition) - len(valid),
            math.fsum(scores) / len(scores) if scores else math.nan,
            sum(1 for cell in valid if _parse_failed(cell[2])) / len(valid) if valid else math.nan,
            math.fsum(lengths) / len(lengths) if lengths else math.nan))
    return rows


def _parse_failed(parsed: Any) -> bool:
    """False (or NumPy's False, or 0) only: an unknown parse (None, NaN) is no failure."""
    return parsed is not None and parsed == False  # noqa: E712
