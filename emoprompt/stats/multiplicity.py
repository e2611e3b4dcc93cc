"""Multiplicity: Holm over the declared family (confirmatory), BH as an exploratory screen (STATS.md §3).

Both are a few lines of numpy, checked against statsmodels' `multipletests` in the tests: statsmodels runs a full
garbage collection on every call (about 70 ms), which a report with many families and the "can this row still
reach significance" check would pay dozens of times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (FWER under any dependence); NaNs stay NaN and are not counted."""
    return _adjusted(p_values, lambda ordered: np.maximum.accumulate((len(ordered) - np.arange(len(ordered)))
                                                                     * ordered))


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (FDR; exploratory); NaNs stay NaN and are not counted."""
    return _adjusted(p_values, lambda ordered: np.minimum.accumulate(
        (ordered * len(ordered) / np.arange(1, len(ordered) + 1))[::-1])[::-1])


def _adjusted(p_values: Sequence[float], step: Callable[[np.ndarray], np.ndarray]) -> list[float]:
    """`step` applied to the finite p-values in ascending order, capped at 1, returned in the input's order."""
    p = np.asarray(p_values, float)
    adjusted = np.full(len(p), np.nan)
    finite = np.flatnonzero(~np.isnan(p))
    if len(finite):
        order = np.argsort(p[finite], kind="mergesort")
        adjusted[finite[order]] = np.minimum(step(p[finite][order]), 1.0)
    return adjusted.tolist()
