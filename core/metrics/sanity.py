"""Counts of values that must never leave the pipeline: NaN and +/-Inf."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class NonFinite:
    nan: int
    inf: int

    @property
    def total(self) -> int:
        return self.nan + self.inf


def nonfinite_counts(values: np.ndarray) -> NonFinite:
    """How many elements of ``values`` (any shape) are NaN and how many are +/-Inf."""
    arr = np.asarray(values)
    if not np.issubdtype(arr.dtype, np.floating):
        return NonFinite(0, 0)
    return NonFinite(nan=int(np.count_nonzero(np.isnan(arr))), inf=int(np.count_nonzero(np.isinf(arr))))
