"""Class probabilities from neighbour tables: similarity-weighted votes with additive smoothing.

Pure functions of a table (``sims``, ``slots``: n × width, as :mod:`knn_al.learner.neighbors`
keeps them; empty cells hold similarity -inf and slot -1), the class code of every labeled
slot (-1 for a removed label, which no table holds), the number of known classes and the
smoothing. Smoothing spreads over the known classes, so weak, mixed evidence stays uncertain.
"""
from __future__ import annotations

import numpy as np

__all__ = ["candidate_proba", "compact_proba", "vote"]


def vote(sims: np.ndarray, slots: np.ndarray, slot_classes: np.ndarray, *, n_classes: int,
         smoothing: float) -> np.ndarray:
    """Class probabilities of every table row, columns by class code.

    An (n, classes) array in column-major (Fortran) order: see the comment below.
    """
    n = len(sims)
    if n_classes == 0:
        return np.empty((n, 0), dtype=np.float64)
    # Dissimilar neighbours are no evidence for their class, not evidence against it.
    # Empty cells (similarity -inf) get weight 0 too, and vote for class 0 by that weight.
    weights = np.maximum(sims, 0.0, dtype=np.float64)
    codes = _cell_classes(slot_classes, slots, empty=0)
    # Votes are summed class-major, (classes × n), and returned as its transpose: the
    # per-item reductions that follow (max, sums over classes) then run along
    # contiguous rows of n values instead of along n short rows (measured 0.84 → 0.06 ms
    # for least confidence over 20,000 items).
    flat = (codes * n + np.arange(n)[:, None]).ravel()
    # Weighted counts are float64 (numpy's stubs type every bincount as integers).
    votes: np.ndarray = np.bincount(flat, weights=weights.ravel(), minlength=n * n_classes).reshape(n_classes, n)
    total = votes.sum(axis=0) + smoothing * n_classes
    votes += smoothing
    votes /= total
    return votes.T


def candidate_proba(sims: np.ndarray, slots: np.ndarray, slot_classes: np.ndarray, *, n_classes: int,
                    smoothing: float, k: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Probabilities for scoring candidates, as (values, counts) for the uncertainty
    measures (:mod:`knn_al.learner.uncertainty`); ``k`` is the learner's.

    A dense (n, C) matrix is cheapest for a few classes; past 8·k classes the compact
    form, whose cost does not grow with the number of classes, wins (measured: 3 ms
    against 11 ms at 20 classes and 20,000 candidates, 48 ms against 37 ms at 200).
    """
    if n_classes <= 8 * k:
        return vote(sims, slots, slot_classes, n_classes=n_classes, smoothing=smoothing), None
    return compact_proba(sims, slots, slot_classes, n_classes=n_classes, smoothing=smoothing)


def compact_proba(sims: np.ndarray, slots: np.ndarray, slot_classes: np.ndarray, *, n_classes: int,
                  smoothing: float) -> tuple[np.ndarray, np.ndarray]:
    """The same probabilities as :func:`vote`, as (values, counts) of width w + 1 for a
    table of width w.

    Column j < w holds the probability of the j-th distinct class among an item's
    neighbours; column w the one probability shared by the classes no neighbour
    voted for. O(n·w) however many classes there are.
    """
    n, k = sims.shape
    if n_classes == 0:
        return np.empty((n, 0)), np.empty((n, 0))
    present = slots >= 0
    weights = np.where(present, np.maximum(sims, 0.0), 0.0).astype(np.float64)
    codes = np.where(present, _cell_classes(slot_classes, slots, empty=-1), n_classes)
    order = np.argsort(codes, axis=1, kind="stable")
    codes = np.take_along_axis(codes, order, axis=1)
    weights = np.take_along_axis(weights, order, axis=1)
    starts = np.ones((n, k), dtype=bool)
    starts[:, 1:] = codes[:, 1:] != codes[:, :-1]
    segment = np.cumsum(starts, axis=1) - 1
    rows = np.arange(n)[:, None]
    votes = np.bincount((rows * k + segment).ravel(), weights=weights.ravel(), minlength=n * k).reshape(n, k)
    segment_code = np.full((n, k), n_classes)
    segment_code[rows, segment] = codes
    is_class = segment_code < n_classes
    z = weights.sum(axis=1) + smoothing * n_classes
    values = np.empty((n, k + 1))
    values[:, :k] = (votes + smoothing) / z[:, None]
    values[:, k] = smoothing / z
    counts = np.empty((n, k + 1))
    counts[:, :k] = is_class
    counts[:, k] = n_classes - is_class.sum(axis=1)
    return values, counts


def _cell_classes(slot_classes: np.ndarray, slots: np.ndarray, *, empty: int) -> np.ndarray:
    """Class codes of table cells; empty cells (slot -1) read as ``empty``, even before any label."""
    return np.append(slot_classes, empty)[slots]
