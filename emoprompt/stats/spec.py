"""An analysis's results made JSON-safe, and the warnings every analysis gives first."""

from __future__ import annotations

import math
from typing import Any


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
