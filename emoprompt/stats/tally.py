"""What each condition's cells came to: cells, error cells, mean score, parse failures, output length.

Plain counting, in pure Python: the report's condition table and the terminal summary of a run without a report
both come from `tally`, so a run that writes no report imports nothing of the analysis stack.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
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
    """One row per condition, in `conditions` order (a condition without cells gets a row of zeros and NaN); one
    pass over the cells, so a million of them take well under a second."""
    totals = {condition: _Totals() for condition in conditions}
    for condition, score, parsed, error, tokens_out in cells:
        total = totals.get(condition)
        if total is None:
            continue
        total.cells += 1
        if error:
            continue
        total.answered += 1
        if score == score:
            total.scores.append(score)
        if parsed is not None and parsed == False:  # noqa: E712  (NumPy's False and 0 too; None/NaN: unknown)
            total.parse_failures += 1
        if tokens_out is not None:
            length = as_number(tokens_out)
            if length == length:
                total.lengths.append(length)
    return [ConditionTally(condition, (families or {}).get(condition, ""), total.cells,
                           total.cells - total.answered, _mean(total.scores),
                           total.parse_failures / total.answered if total.answered else math.nan,
                           _mean(total.lengths))
            for condition, total in totals.items()]


@dataclass
class _Totals:
    cells: int = 0
    answered: int = 0
    parse_failures: int = 0
    scores: list[float] = field(default_factory=list)
    lengths: list[float] = field(default_factory=list)


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan
