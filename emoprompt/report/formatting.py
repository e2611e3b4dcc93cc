"""The report's number formatting and its table type: a leaf module, so the prose (`text`), the tables (`tables`)
and the wording section (`wording`) share it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emoprompt.stats.scale import Scale


@dataclass
class Table:
    """A titled table with an optional note; `collapsed` tables are secondary columns shown on demand."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""
    flagged_rows: set[int] = field(default_factory=set)
    collapsed: bool = False


def scale_of(analysis: dict[str, Any]) -> Scale:
    """The scores' unit in an analysis."""
    return Scale.from_dict(analysis["data"].get("scale"))


def pp(value: float | None, signed: bool = True) -> str:
    """A proportion as percentage points."""
    return Scale().diff(value, signed)


def interval(low: float | None, high: float | None) -> str:
    """A CI in percentage points."""
    return Scale().interval(low, high)


def p_text(p: float | None) -> str:
    """A p-value for a table cell, never printed as 0."""
    if p is None:
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def p_phrase(p: float | None) -> str:
    """A p-value in a sentence: `p = 0.012`, `p < 0.001`."""
    if p is None:
        return "p not estimable"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 stimulus`, `3 stimuli`."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def confidence(analysis: dict[str, Any]) -> str:
    """The confidence level of every interval, from α (`95%`)."""
    return f"{100 * (1 - analysis['spec']['alpha']):g}%"
