"""Statistics over tidy frames of records: pure functions, no I/O."""

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

__all__ = [
    "PairedDifference", "agresti_min_ci", "item_means", "mcnemar_exact", "mcnemar_midp", "paired_binary",
    "paired_difference", "paired_t", "records_frame",
]
