"""Multiplicity: Holm over the declared family (confirmatory), BH as an exploratory screen (STATS.md §3)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from statsmodels.stats.multitest import multipletests


def _adjust(p_values: Sequence[float], method: str) -> list[float]:
    p = np.asarray(p_values, float)
    adjusted = np.full(len(p), np.nan)
    finite = ~np.isnan(p)
    if finite.any():
        adjusted[finite] = multipletests(p[finite], method=method)[1]
    return adjusted.tolist()


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (FWER under any dependence); NaNs stay NaN and are not counted."""
    return _adjust(p_values, "holm")


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (FDR; exploratory); NaNs stay NaN and are not counted."""
    return _adjust(p_values, "fdr_bh")
