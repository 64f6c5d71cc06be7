"""Scores of a held-out fold, and the label count at which a learning curve reaches a target.

Plain numpy: the library does not depend on scikit-learn.
"""
from __future__ import annotations

import numpy as np

from knn_al.errors import InvalidInputError


def accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Fraction of items whose predicted class code equals the true one."""
    if len(truth) == 0:
        raise InvalidInputError("accuracy of an empty set is undefined")
    return float(np.mean(np.asarray(truth) == np.asarray(predicted)))


def macro_f1(truth: np.ndarray, predicted: np.ndarray, *, n_classes: int) -> float:
    """Unweighted mean over the classes present in ``truth`` or ``predicted`` of each class's F1.

    Class codes are integers in ``[0, n_classes)``. A class that is neither present nor
    predicted is left out (as scikit-learn does with the labels it sees), so a fold
    lacking a rare class is not penalised for it.
    """
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    pairs = np.bincount(truth * n_classes + predicted, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    tp = np.diag(pairs).astype(np.float64)
    support, guessed = pairs.sum(axis=1), pairs.sum(axis=0)
    seen = (support + guessed) > 0
    f1 = np.divide(2 * tp, support + guessed, out=np.zeros(n_classes), where=seen)
    return float(f1[seen].mean())


def labels_to_reach(labels: np.ndarray, scores: np.ndarray, target: float) -> int | None:
    """The first measured label count whose score is at least ``target``; None if none is."""
    reached = np.flatnonzero(np.asarray(scores) >= target)
    return int(labels[reached[0]]) if len(reached) else None
