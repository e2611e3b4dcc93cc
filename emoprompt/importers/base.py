"""What every importer shares: the columns of a table, what an importer may be told, and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emoprompt.schema import Record


@dataclass(frozen=True)
class ColumnMap:
    """Which columns of an external file hold what; only item, condition and score are required."""

    item: str = "item"
    condition: str = "condition"
    score: str = "score"
    task: str | None = "task"
    model: str | None = "model"
    repeat: str | None = "repeat"
    parsed: str | None = "parsed"


@dataclass(frozen=True)
class ImportOptions:
    """What an importer may be told: the columns of a table, condition renames, the baseline and the control."""

    columns: ColumnMap = field(default_factory=ColumnMap)
    rename: dict[str, str] = field(default_factory=dict)
    """Condition names as the source has them → as the report should show them."""
    baseline: str | None = None
    control: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    """Anything else a plugin importer understands."""


@dataclass
class Imported:
    """What an importer returns: records in emoprompt's schema, where they came from, and (optionally) which
    condition is the baseline and which the control."""

    records: list[Record]
    source: str
    baseline: str | None = None
    control: str | None = None
