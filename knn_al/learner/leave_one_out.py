"""Leave-one-out predictions of the labeled set, behind the accuracy estimate
(:mod:`knn_al.learner.stopping`).

Per labeled slot (:mod:`knn_al.learner.slots`), its k + 1 nearest labeled slots, itself
among them: dropping its own entry leaves the k neighbours its prediction would have if
it were not labeled. Slots labeled since the last estimate are taken in when the next
one is asked for, all at once.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from knn_al.learner.neighbors import NeighborTables, drop_own
from knn_al.learner.slots import LabeledSlots
from knn_al.learner.stopping import estimate_accuracy
from knn_al.learner.types import AccuracyEstimate

__all__ = ["LeaveOneOut"]


class LeaveOneOut:
    """The leave-one-out neighbour tables of a labeled set, ``k`` neighbours each."""

    def __init__(self, *, k: int) -> None:
        self.tables_ = NeighborTables(k=k + 1)

    def estimate(self, slots: LabeledSlots, vote: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> AccuracyEstimate:
        """Leave-one-out accuracy of the labeled ``slots``, each predicted by ``vote``
        (class probabilities of neighbour tables). An item whose leave-one-out vote has
        no neighbour at all counts as wrong."""
        active, proba, voted = self.predictions(slots, vote)
        if len(active) == 0:
            return estimate_accuracy(0, 0)
        correct = (proba.argmax(axis=1) == slots.classes[active]) & voted
        return estimate_accuracy(int(correct.sum()), len(active))

    def predictions(self, slots: LabeledSlots, vote: Callable[[np.ndarray, np.ndarray], np.ndarray],
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The leave-one-out predictions of the labeled ``slots``: (the slots that hold a
        label, their class probabilities, whether any neighbour voted at all)."""
        self.catch_up(slots)
        active = slots.active()
        if len(active) == 0:
            return active, np.empty((0, 0)), np.zeros(0, dtype=bool)
        sims, idx = drop_own(self.tables_.sim_[active], self.tables_.slot_[active], active)
        voted = np.asarray((idx >= 0).any(axis=1))
        return active, vote(sims, idx), voted

    def catch_up(self, slots: LabeledSlots) -> None:
        """Take the slots labeled since the last call into the tables: offer them to the
        older slots' tables, and build theirs against every labeled item (themselves
        included, dropped on use). They are all still labeled: a removal catches up first."""
        seen = len(self.tables_)
        if seen == len(slots):
            return
        new = np.arange(seen, len(slots), dtype=np.int32)
        self.tables_.insert(slots.vectors[:seen], slots.vectors_of(new), new)
        self.tables_.grow(len(new))
        active = slots.active()
        self.tables_.recompute(new, slots.vectors, slots.vectors_of(active), active)

    def removed(self, removed: np.ndarray, slots: LabeledSlots) -> None:
        """Rebuild the tables that held the ``removed`` slots (already marked in ``slots``)
        against the labels left. Call :meth:`catch_up` before the removal."""
        active = slots.active()
        self.tables_.recompute(self.tables_.rows_referencing(removed), slots.vectors, slots.vectors_of(active), active)
