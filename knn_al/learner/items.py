"""What each pool item is, as a user sees it: its state and its label, read from a learner.

An item's state is one of :data:`ITEM_STATES`: "labeled" (by a human), "propagated" (it
carries the label of a labeled duplicate), "leased" (handed out), "skipped", "unlabeled",
or "removed" (a tombstone, never shown). A label wins over a lease: a handed-out group
root whose duplicate got labeled meanwhile is "propagated".
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from knn_al.learner.states import HANDED_OUT, LABELED, REMOVED, SKIPPED

if TYPE_CHECKING:
    from knn_al.learner.learner import Learner

__all__ = ["ITEM_STATES", "group_label_codes", "labels_of", "state_codes"]

#: The states of an item; :func:`state_codes` gives each row's index into this tuple.
ITEM_STATES = ("unlabeled", "labeled", "propagated", "leased", "skipped", "removed")
_UNLABELED, _LABELED, _PROPAGATED, _LEASED, _SKIPPED, _REMOVED = range(len(ITEM_STATES))


def state_codes(learner: Learner) -> np.ndarray:
    """Every pool row's state, as an index into :data:`ITEM_STATES`."""
    status = learner.status_
    codes = np.full(len(status), _UNLABELED, dtype=np.int8)
    codes[status == HANDED_OUT] = _LEASED
    codes[status == SKIPPED] = _SKIPPED
    codes[learner.propagated_] = _PROPAGATED
    codes[status == LABELED] = _LABELED
    codes[status == REMOVED] = _REMOVED
    return codes


def group_label_codes(learner: Learner) -> dict[int, int]:
    """The class code of each duplicate group with a labeled member, by root row: the
    label of its earliest labeled member, which is what the group's others carry."""
    active = learner.slot_class_ >= 0
    rows, codes = learner.slot_row_[active], learner.slot_class_[active]
    roots, first = np.unique(learner.groups_[rows], return_index=True)
    return dict(zip(roots.tolist(), codes[first].tolist()))


def labels_of(learner: Learner, rows: np.ndarray) -> list[str]:
    """The label each of ``rows`` carries, human or propagated; "" for none."""
    classes, row_slot, slot_class, groups = learner.classes_, learner.row_slot_, learner.slot_class_, learner.groups_
    by_group = group_label_codes(learner)
    labels = []
    for row in np.asarray(rows, dtype=np.int64).tolist():
        slot = int(row_slot[row])
        code = int(slot_class[slot]) if slot >= 0 else by_group.get(int(groups[row]), -1)
        labels.append(classes[code] if code >= 0 else "")
    return labels
