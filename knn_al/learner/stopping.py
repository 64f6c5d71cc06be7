"""Knowing when to stop labeling: a live accuracy estimate and the project's goals.

The estimate is leave-one-out accuracy over the labeled set: each labeled item is
predicted from its k nearest *other* labeled items, exactly as the classifier would
predict it had it not been labeled. For a kNN classifier that costs nothing extra (the
learner keeps every labeled item's k + 1 nearest labeled items up to date), where other
models would need k refits. It is an estimate on the items active learning chose, which
are harder than typical ones, so it tends to be pessimistic.
"""
from __future__ import annotations

import math

from knn_al.learner.types import AccuracyEstimate

__all__ = ["BUDGET_REACHED", "NOT_STOPPED", "POOL_EXHAUSTED", "TARGET_REACHED", "Z_95", "budget_left",
           "estimate_accuracy", "stop_reason"]

#: z for a two-sided 95% interval.
Z_95 = 1.959964

NOT_STOPPED, BUDGET_REACHED, TARGET_REACHED, POOL_EXHAUSTED = "", "budget_reached", "target_reached", "pool_exhausted"


def estimate_accuracy(correct: int, labeled: int, *, z: float = Z_95) -> AccuracyEstimate:
    """``correct`` of ``labeled`` leave-one-out predictions right, with a Wilson interval
    (unlike the normal approximation it stays inside [0, 1] and is honest for small n)."""
    if labeled == 0:
        return AccuracyEstimate(accuracy=math.nan, low=0.0, high=1.0, labeled=0)
    p = correct / labeled
    denom = 1 + z * z / labeled
    centre = (p + z * z / (2 * labeled)) / denom
    half = z * math.sqrt(p * (1 - p) / labeled + z * z / (4 * labeled * labeled)) / denom
    # Mathematically low ≤ p ≤ high; the clamps keep float rounding from breaking that at p = 0 or 1.
    return AccuracyEstimate(accuracy=p, low=max(0.0, min(p, centre - half)), high=min(1.0, max(p, centre + half)),
                            labeled=labeled)


def budget_left(label_budget: int, labeled: int, leased: int) -> int | None:
    """Labels the budget still allows; leased items count as spent, since each is about
    to become a label. ``None``: no budget (``label_budget`` 0)."""
    if label_budget <= 0:
        return None
    return max(0, label_budget - labeled - leased)


def stop_reason(*, estimate: AccuracyEstimate, target_accuracy: float, budget_left: int | None,
                unlabeled: int | None = None) -> str:
    """Why labeling can stop, or :data:`NOT_STOPPED`.

    The target counts as reached when the *lower* end of the interval reaches it, so a
    handful of lucky labels does not end a project: with every prediction right, a 0.9
    target needs 35 labels. ``unlabeled`` 0 (every item labeled, by a human or by
    propagation from a duplicate) is :data:`POOL_EXHAUSTED`: a normal end, not an error.
    """
    if budget_left == 0:
        return BUDGET_REACHED
    if target_accuracy > 0 and estimate.labeled and estimate.low >= target_accuracy:
        return TARGET_REACHED
    if unlabeled == 0:
        return POOL_EXHAUSTED
    return NOT_STOPPED
