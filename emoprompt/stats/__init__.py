"""Statistics over tidy frames of records: pure functions, no I/O.

The names below are imported on first use, so that importing one light module of this package (`stats.scale`)
does not import pandas and SciPy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emoprompt.stats.frame import item_means, records_frame
    from emoprompt.stats.paired import (
        PairedDifference,
        agresti_min_ci,
        mcnemar_exact,
        mcnemar_midp,
        paired_binary,
        paired_difference,
        paired_t,
    )

_HOMES = {"item_means": "frame", "records_frame": "frame", "PairedDifference": "paired", "agresti_min_ci": "paired",
          "mcnemar_exact": "paired", "mcnemar_midp": "paired", "paired_binary": "paired",
          "paired_difference": "paired", "paired_t": "paired"}

__all__ = [
    "PairedDifference", "agresti_min_ci", "item_means", "mcnemar_exact", "mcnemar_midp", "paired_binary",
    "paired_difference", "paired_t", "records_frame",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'emoprompt.stats' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"emoprompt.stats.{_HOMES[name]}"), name)
    globals()[name] = value
    return value
