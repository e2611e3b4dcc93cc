"""The unit of a score: proportions (0–1, shown in percentage points) or anything else (shown in points)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Scale:
    """How to show a score and a difference: `factor` multiplies raw values for display; `unit` names a
    difference (pp or points) and `level` a score (% or points)."""

    unit: str = "pp"
    factor: float = 100.0
    level: str = "%"
    low: float = 0.0
    high: float = 1.0

    @classmethod
    def of(cls, scores: pd.Series) -> Scale:
        """Percentage points when every score lies in [0, 1], else the scores' own points."""
        import pandas as pd

        return cls.of_values(pd.to_numeric(scores, errors="coerce").tolist())

    @classmethod
    def of_values(cls, scores: Iterable[float | None]) -> Scale:
        """`of` for plain numbers (None and NaN are left out)."""
        values = [float(value) for value in scores if value is not None and value == value]
        if not values or (min(values) >= 0 and max(values) <= 1):
            return cls()
        return cls("points", 1.0, " points", min(values), max(values))

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Scale:
        """Inverse of `to_dict` (analyses written before scales existed are proportions)."""
        return cls(**data) if data else cls()

    @property
    def proportions(self) -> bool:
        """True for 0–1 scores."""
        return self.unit == "pp"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for analysis.json."""
        return asdict(self)

    def diff(self, value: float | None, signed: bool = True) -> str:
        """A difference in the unit (`+1.8` pp or `+0.42` points)."""
        if value is None or value != value:
            return "—"
        shown = fixed(self.factor * value, 1 if self.proportions else 2)
        return ("+" if signed and not shown.startswith("-") else "") + shown

    def interval(self, low: float | None, high: float | None) -> str:
        """An interval in the unit."""
        if low is None or high is None or low != low or high != high:
            return "—"
        return f"[{self.diff(low)}, {self.diff(high)}]"

    def score(self, value: float | None) -> str:
        """A score level (`57.3%` or `6.42 points`)."""
        if value is None or value != value:
            return "—"
        return f"{fixed(100 * value, 1)}%" if self.proportions else fixed(value, 2)


def fixed(value: float, digits: int) -> str:
    """`value` with `digits` decimals, halves rounded away from zero after float noise is removed, so that one
    number reads the same wherever it is printed (11.25 is +11.3 whether it was computed as 11.2499999999 or
    11.2500000001); never "-0.0"."""
    from decimal import ROUND_HALF_UP, Decimal

    if value != value or value in (float("inf"), float("-inf")):
        return f"{value:.{digits}f}"
    text = str(Decimal(repr(round(float(value), 9))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text
