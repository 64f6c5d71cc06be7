"""Vectors outside the pool (a held-out set) whose predictions follow a learner's labels.

Predicting the same vectors after every few labels, as a replay simulation does, would
rebuild their neighbour tables against the whole labeled set each time: O(n·L·d) per
evaluation. A tracked set keeps its tables and each call offers them only the labels
that arrived since the last one, the way the learner keeps its pool's tables.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from knn_al.learner.neighbors import NeighborTables
from knn_al.learner.vectors import as_unit_vectors

if TYPE_CHECKING:
    from knn_al.learner import Learner


class TrackedVectors:
    """Neighbour tables of fixed ``vectors``, brought up to date with ``learner`` on each read."""

    def __init__(self, learner: Learner, vectors: np.ndarray) -> None:
        self.learner = learner
        self.vectors_ = as_unit_vectors(vectors, dimension=learner.dimension)
        self.tables_ = NeighborTables(k=learner.k)
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
        """Class probabilities of every vector, columns in the order of ``learner.classes_``."""
        return self.learner.vote(*self.neighbor_tables())

    def _sync(self) -> None:
        learner, tables = self.learner, self.tables_
        active = learner.slot_class_[: learner.n_slots_] >= 0
        seen = len(self._was_active)
        if seen == 0:
            # Nothing to keep: one selection over every label beats offering them one by one.
            slots = np.flatnonzero(active).astype(np.int32)
            tables.recompute(np.arange(len(self)), self.vectors_, learner.vectors_of_slots(slots), slots)
        else:
            # A slot only ever goes from labeled to removed (a new label takes a new slot),
            # and relabels need nothing here: votes read each slot's current class.
            removed = np.flatnonzero(self._was_active & ~active[:seen])
            if len(removed):
                slots = np.flatnonzero(active[:seen]).astype(np.int32)
                rows = tables.rows_referencing(removed)
                tables.recompute(rows, self.vectors_, learner.vectors_of_slots(slots), slots)
            new = (seen + np.flatnonzero(active[seen:])).astype(np.int32)
            if len(new):
                tables.insert(self.vectors_, learner.vectors_of_slots(new), new)
        self._was_active = active.copy()
