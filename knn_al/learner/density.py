"""Density: how typical an item is of the pool.

i(x) is the mean cosine similarity of x to its m nearest *other* pool items, read off the
survey's neighbour lists (:func:`knn_al.learner.pool_knn.pool_neighbors`). The same lists
find near-duplicates (:mod:`knn_al.learner.duplicates`), so grouping them costs no second
search.
"""
from __future__ import annotations

import numpy as np

__all__ = ["density_of"]


def density_of(sims: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Mean of the found similarities per row (0 for a row with none), as float32."""
    valid = idx >= 0
    total = np.where(valid, sims, 0.0).sum(axis=1)
    return (total / np.maximum(valid.sum(axis=1), 1)).astype(np.float32)
