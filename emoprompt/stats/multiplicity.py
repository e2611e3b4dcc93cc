"""Multiplicity: Holm over the declared family (confirmatory), BH as an exploratory screen (STATS.md §3).

Both are a few lines of numpy, checked against statsmodels' `multipletests` in the tests: statsmodels runs a full
garbage collection on every call (about 70 ms), which a report with many families and the "can this row still
reach significance" check would pay dozens of times.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (FWER under any dependence); NaNs stay NaN and are not counted."""
    p = np.asarray(p_values, float)
    adjusted = np.full(len(p), np.nan)
    finite = np.flatnonzero(~np.isnan(p))
    if len(finite):
        values = p[finite]
        order = np.argsort(values, kind="mergesort")
        m = len(values)
        stepped = np.maximum.accumulate((m - np.arange(m)) * values[order])
        adjusted[finite[order]] = np.minimum(stepped, 1.0)
    return adjusted.tolist()


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (FDR; exploratory); NaNs stay NaN and are not counted."""
    p = np.asarray(p_values, float)
    adjusted = np.full(len(p), np.nan)
    finite = np.flatnonzero(~np.isnan(p))
    if len(finite):
        values = p[finite]
        order = np.argsort(values, kind="mergesort")
        m = len(values)
        scaled = values[order] * m / np.arange(1, m + 1)
        stepped = np.minimum.accumulate(scaled[::-1])[::-1]
        adjusted[finite[order]] = np.minimum(stepped, 1.0)
    return adjusted.tolist()
