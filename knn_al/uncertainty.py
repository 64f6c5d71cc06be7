"""Uncertainty measures over rows of class probabilities.

Each maps an (n, C) probability matrix to n values where larger means less certain.
With no known class (C = 0) every item is equally, maximally uncertain.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from knn_al.errors import InvalidInputError


def least_confidence(proba: np.ndarray) -> np.ndarray:
    """1 − p1."""
    if proba.shape[1] == 0:
        return np.ones(len(proba), dtype=np.float32)
    return (1.0 - proba.max(axis=1)).astype(np.float32)


def margin(proba: np.ndarray) -> np.ndarray:
    """1 − (p1 − p2); a single known class has p2 = 0."""
    if proba.shape[1] == 0:
        return np.ones(len(proba), dtype=np.float32)
    if proba.shape[1] == 1:
        return (1.0 - proba[:, 0]).astype(np.float32)
    top2 = -np.partition(-proba, 1, axis=1)[:, :2]
    return (1.0 - (top2[:, 0] - top2[:, 1])).astype(np.float32)


def entropy(proba: np.ndarray) -> np.ndarray:
    """−Σ p log p (natural log)."""
    if proba.shape[1] == 0:
        return np.ones(len(proba), dtype=np.float32)
    p = np.clip(proba, 1e-12, 1.0)
    return (-(proba * np.log(p)).sum(axis=1)).astype(np.float32)


MEASURES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "least_confidence": least_confidence,
    "margin": margin,
    "entropy": entropy,
}


def get_measure(name: str) -> Callable[[np.ndarray], np.ndarray]:
    try:
        return MEASURES[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown uncertainty measure {name!r}; choose one of {', '.join(MEASURES)}"
        ) from None
