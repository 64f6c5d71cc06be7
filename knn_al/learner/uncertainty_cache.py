"""Every pool row's uncertainty under each measure asked for so far, kept up to date with
the neighbour tables, so a pick reads it instead of voting. 4 bytes per item per measure.

The cache is told which rows changed (their tables, or every row when the known classes
changed) and recomputes just those: one vote serves every measure it holds.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from knn_al.learner.neighbors import BLOCK_ROWS
from knn_al.learner.uncertainty import get_measure

__all__ = ["RowProba", "UncertaintyCache"]

#: Class probabilities of pool rows, as (values, counts) for the uncertainty measures.
RowProba = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]


class UncertaintyCache:
    """Per measure, the uncertainty of every pool row; ``proba`` gives rows' probabilities.
    Starts with ``measure``; a measure asked for later is filled on first use."""

    def __init__(self, proba: RowProba, *, measure: str) -> None:
        self._proba = proba
        self._n = 0
        #: Per measure name, one float32 value per pool row.
        self.values_: dict[str, np.ndarray] = {measure: np.empty(0, dtype=np.float32)}

    def grow(self, n_new: int) -> None:
        """Take in ``n_new`` rows just added to the pool (their tables built), and fill them."""
        for measure, cached in self.values_.items():
            self.values_[measure] = np.concatenate([cached, np.empty(n_new, dtype=np.float32)])
        self._n += n_new
        self.refresh(np.arange(self._n - n_new, self._n))

    def of(self, rows: np.ndarray, measure: str) -> np.ndarray:
        """Uncertainty of pool ``rows`` under ``measure`` (started on first use)."""
        if measure not in self.values_:
            get_measure(measure)  # an unknown name fails before the cache grows
            cache = {measure: np.empty(self._n, dtype=np.float32)}
            self.refresh(caches=cache)
            self.values_.update(cache)  # only once filled: an interrupted fill leaves nothing
        return self.values_[measure][rows]

    def refresh(self, rows: np.ndarray | None = None, *, caches: dict[str, np.ndarray] | None = None) -> None:
        """Recompute ``rows`` (None: every row) after their tables or the known classes
        changed, in every cache (default: all of this one's)."""
        rows = np.arange(self._n) if rows is None else rows
        caches = self.values_ if caches is None else caches
        for start in range(0, len(rows), BLOCK_ROWS):
            part = rows[start : start + BLOCK_ROWS]
            proba, counts = self._proba(part)
            for measure, cache in caches.items():
                cache[part] = get_measure(measure)(proba, counts)
