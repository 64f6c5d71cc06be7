"""Uncertainty measures over class probabilities.

Each maps n items' class probabilities to n values where larger means less certain.
Probabilities come as an (n, w) matrix, optionally with ``counts``: how many classes
share each column's probability. That lets a pick score 20,000 candidates from their k
neighbours' classes alone (the classes no neighbour voted for all share one smoothed
probability), at a cost that does not grow with the number of classes. A plain
probability matrix is the case where every count is 1.

With no known class every item is equally, maximally uncertain.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from knn_al.errors import InvalidInputError

__all__ = ["DEFAULT_MEASURE", "MEASURES", "Measure", "entropy", "get_measure", "least_confidence", "margin"]


def _masked(proba: np.ndarray, counts: np.ndarray | None) -> np.ndarray:
    return proba if counts is None else np.where(counts > 0, proba, -np.inf)


def least_confidence(proba: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """1 − p1."""
    if proba.shape[1] == 0:
        return np.ones(len(proba), dtype=np.float32)
    return (1.0 - _masked(proba, counts).max(axis=1)).astype(np.float32)


def margin(proba: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """1 − (p1 − p2); with a single class p2 = 0."""
    if proba.shape[1] == 0:
        return np.ones(len(proba), dtype=np.float32)
    p = _masked(proba, counts)
    p1 = p.max(axis=1)
    at_max = p == p1[:, None]
    # Two classes sharing the top probability (two columns, or one column several classes
    # share) make p2 = p1; otherwise p2 is the best of the other columns.
    sharing = at_max.sum(axis=1) if counts is None else (counts * at_max).sum(axis=1)
    p2 = np.where(sharing >= 2, p1, np.maximum(np.where(at_max, -np.inf, p).max(axis=1), 0.0))
    return (1.0 - (p1 - p2)).astype(np.float32)


def entropy(proba: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """−Σ p log p (natural log)."""
    if proba.shape[1] == 0:
        return np.ones(len(proba), dtype=np.float32)
    terms = proba * np.log(np.clip(proba, 1e-12, 1.0))
    if counts is not None:
        terms = terms * counts
    return (-terms.sum(axis=1)).astype(np.float32)


Measure = Callable[..., np.ndarray]

#: The measure picks use unless told otherwise; the learner caches it for every row from the start.
DEFAULT_MEASURE = "margin"

MEASURES: dict[str, Measure] = {
    "least_confidence": least_confidence,
    "margin": margin,
    "entropy": entropy,
}


def get_measure(name: str) -> Measure:
    try:
        return MEASURES[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown uncertainty measure {name!r}; choose one of {', '.join(MEASURES)}"
        ) from None
