"""Reviews of the labeled set: labels that look wrong, and the duplicate groups.

**Suspicious labels** are human labels their item's leave-one-out prediction disagrees
with: what its k nearest *other* labeled items vote for (the tables behind the accuracy
estimate, :mod:`knn_al.learner.leave_one_out`, so this costs no search). The most
confident disagreements come first: an item labeled "cat" inside a tight cluster of
"dog" labels is the classic labeling mistake.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from knn_al.errors import InvalidInputError
from knn_al.learner.items import group_label_codes

if TYPE_CHECKING:
    from knn_al.learner.learner import Learner

__all__ = ["Disagreement", "check_limit", "duplicate_groups", "suspicious"]


@dataclass(frozen=True)
class Disagreement:
    """A human label (``label``) of the item at ``row`` that its leave-one-out prediction
    (``predicted``, with probability ``confidence``) disagrees with."""

    row: int
    label: str
    predicted: str
    confidence: float


def check_limit(limit: int, *, most: int = 10_000) -> None:
    """Raise unless ``limit`` is an integer in 1..``most``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= most:
        raise InvalidInputError(f"limit must be an integer between 1 and {most}, got {limit!r}")


def suspicious(learner: Learner, *, limit: int = 100) -> list[Disagreement]:
    """Up to ``limit`` human labels their leave-one-out prediction disagrees with, most
    confident first (equal ones in labeling order). Items no labeled neighbour votes for
    are not suspicious: there is nothing to disagree with."""
    check_limit(limit)
    rows, proba, voted = learner.leave_one_out()
    if len(rows) == 0:
        return []
    codes = learner.slot_class_[learner.row_slot_[rows]]
    predicted = proba.argmax(axis=1)
    confidence = proba.max(axis=1)
    wrong = np.flatnonzero((predicted != codes) & voted)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")][:limit]
    classes = learner.classes_
    return [Disagreement(row=int(rows[i]), label=classes[codes[i]], predicted=classes[predicted[i]],
                         confidence=float(confidence[i])) for i in wrong.tolist()]


def duplicate_groups(learner: Learner, *, limit: int = 100) -> list[tuple[np.ndarray, str]]:
    """Up to ``limit`` duplicate groups of two or more items, largest first (equal sizes
    by root): (rows, root first then ascending; the group's label or "")."""
    check_limit(limit)
    groups = learner.groups_
    sizes = np.bincount(groups, minlength=len(groups))
    grouped = np.flatnonzero(sizes[groups] > 1)  # removed items are in no group
    if len(grouped) == 0:
        return []
    roots = np.unique(groups[grouped])
    roots = roots[np.lexsort((roots, -sizes[roots]))][:limit]
    members = grouped[np.isin(groups[grouped], roots)]
    by_root = {int(root): members[groups[members] == root] for root in roots.tolist()}
    labels = group_label_codes(learner)
    classes = learner.classes_
    return [(rows, classes[labels[root]] if root in labels else "") for root, rows in by_root.items()]
