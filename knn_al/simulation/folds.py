"""Stratified, seeded K-fold splits."""
from __future__ import annotations

import numpy as np

from knn_al.errors import InvalidInputError


def stratified_folds(codes: np.ndarray, *, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``folds`` (train rows, test rows) pairs; every row is tested exactly once.

    Each class's rows are shuffled (seeded) and dealt to the folds in turn, continuing
    where the previous class stopped, so every fold gets each class in proportion and the
    fold sizes differ by at most one.
    """
    codes = np.asarray(codes)
    if folds < 2:
        raise InvalidInputError(f"cross-validation needs at least 2 folds, got {folds}")
    if len(codes) < folds:
        raise InvalidInputError(f"{len(codes)} labeled items cannot be split into {folds} folds")
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(codes), dtype=np.int64)
    dealt = 0
    for code in np.unique(codes):
        rows = rng.permutation(np.flatnonzero(codes == code))
        assignment[rows] = (dealt + np.arange(len(rows))) % folds
        dealt += len(rows)
    everything = np.arange(len(codes))
    return [(everything[assignment != f], everything[assignment == f]) for f in range(folds)]
