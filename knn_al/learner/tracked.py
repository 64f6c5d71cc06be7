"""Vectors outside the pool (a held-out set) whose predictions follow a learner's labels.

Predicting the same vectors after every few labels, as a replay simulation does, would
rebuild their neighbour tables against the whole labeled set each time: O(n·L·d) per
evaluation. A tracked set keeps its tables and each call offers them only the labels
that arrived since the last one, the way the learner keeps its pool's tables.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from knn_al.learner.neighbors import NeighborTables
from knn_al.learner.slots import LabeledSlots

__all__ = ["TrackedVectors"]


class TrackedVectors:
    """Neighbour tables of fixed unit ``vectors``, brought up to date with the labeled
    ``slots`` on each read; ``vote`` turns tables into class probabilities (a learner's
    :meth:`~knn_al.learner.Learner.vote`). Made by :meth:`knn_al.learner.Learner.track`."""

    def __init__(self, vectors: np.ndarray, *, slots: LabeledSlots, k: int,
                 vote: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
        self.vectors_ = vectors
        self._slots = slots
        self._vote = vote
        self.tables_ = NeighborTables(k=k)
        self.tables_.grow(len(self.vectors_))
        #: Per slot seen so far, whether it held a label then.
        self._was_active = np.zeros(0, dtype=bool)

    def __len__(self) -> int:
        return len(self.vectors_)

    def neighbor_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, slots) of every vector's k nearest labeled items, as of now."""
        self._sync()
        return self.tables_.sim_, self.tables_.slot_

    def predict_proba(self) -> np.ndarray:
        """Class probabilities of every vector, columns in the order of the learner's ``classes_``."""
        return self._vote(*self.neighbor_tables())

    def _sync(self) -> None:
        labeled, tables = self._slots, self.tables_
        active = labeled.classes >= 0
        seen = len(self._was_active)
        if seen == 0:
            # Nothing to keep: one selection over every label beats offering them one by one.
            slots = np.flatnonzero(active).astype(np.int32)
            tables.recompute(np.arange(len(self)), self.vectors_, labeled.vectors_of(slots), slots)
        else:
            # A slot only ever goes from labeled to removed (a new label takes a new slot),
            # and relabels need nothing here: votes read each slot's current class.
            removed = np.flatnonzero(self._was_active & ~active[:seen])
            if len(removed):
                slots = np.flatnonzero(active[:seen]).astype(np.int32)
                rows = tables.rows_referencing(removed)
                tables.recompute(rows, self.vectors_, labeled.vectors_of(slots), slots)
            new = (seen + np.flatnonzero(active[seen:])).astype(np.int32)
            if len(new):
                tables.insert(self.vectors_, labeled.vectors_of(new), new)
        self._was_active = active.copy()
