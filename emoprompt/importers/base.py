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
    """What the built-in importers understand: `metric` (lm-eval `NAME[,FILTER]`, an inspect scorer, promptfoo
    `pass` or `score`), `reducer` (inspect epochs), `conditions_from` (`task` or `model`) and `pairs` (see
    `emoprompt.importers.mapping`); anything else a plugin importer understands."""


@dataclass(frozen=True)
class HarnessAggregate:
    """The harness's own summary of one condition (on one task, or on all of them when `task` is None), which the
    imported per-sample scores must reproduce."""

    condition: str
    value: float
    name: str
    """What the harness calls it, e.g. `exact_match,flexible-extract` or `accuracy (max of 3 epochs)`."""
    model: str | None = None
    task: str | None = None


@dataclass
class Imported:
    """What an importer returns: records in emoprompt's schema, where they came from, (optionally) which condition
    is the baseline and which the control, what was read (`notes`: metric, filter, scorer, reducer, pairing key),
    what needs a reader's attention (`warnings`) and the harness's own aggregates to check the records against."""

    records: list[Record]
    source: str
    baseline: str | None = None
    control: str | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    aggregates: list[HarnessAggregate] = field(default_factory=list)
