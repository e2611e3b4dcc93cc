"""What an analysis compares (`AnalysisSpec`), and its results made JSON-safe; pure Python, so a report that needs
no pandas (`emoprompt.stats.describe`) can use them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AnalysisSpec:
    """What to compare and at which thresholds; taken from the run's analysis plan."""

    baseline: str = "baseline"
    control: str = "baseline"
    alpha: float = 0.05
    sesoi: float = 0.03
    """Smallest effect of interest, in the scores' unit (a proportion for 0–1 scores: 0.03 = 3 pp)."""
    families: dict[str, str] = field(default_factory=dict)
    """condition → family (emotionprompt, negativeprompt, placebo, control, user, baseline)."""
    conditions: tuple[str, ...] = ()
    """Report order; default: the order of first appearance."""
    task_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per task: BIG-Bench preferred_score and random_baseline, for the normalized preferred score."""
    repeats: int | None = None
    """K as the run declared it; None: the number of distinct repeats found per cell."""


def json_safe(value: Any) -> Any:
    """JSON-safe: NaN/inf → None, NumPy scalars → Python, tuples → lists."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def data_warnings(errors: int, control: str, conditions: list[str]) -> list[str]:
    """What the analysis of any run says first: error cells left out, a control without records."""
    warnings = []
    if errors:
        warnings.append(f"{errors} error cells are left out of the statistics (see the error table).")
    if control not in conditions:
        warnings.append(f"control {control!r} has no records; contrasts against it are empty.")
    return warnings


def missing_control_warning(model: str, control: str, missing: list[str]) -> str:
    """A model's tasks in which the control has no scores."""
    return (f"{model}: the control {control!r} has no scores in task{'s' * (len(missing) != 1)} {', '.join(missing)}; "
            f"{'it is' if len(missing) == 1 else 'they are'} left out of every comparison.")
