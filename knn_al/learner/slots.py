"""The labeled set, as "slots": one per label event, in arrival order.

A slot holds the labeled item's pool row, its class code and a copy of its vector, so a
search of the labeled set reads one contiguous array. The neighbour tables
(:mod:`knn_al.learner.neighbors`) name labeled items by slot, and slot order breaks their
ties; a removed label therefore leaves its slot behind with class -1, so slot numbers
never change.
"""
from __future__ import annotations

import numpy as np

__all__ = ["LabeledSlots"]


class LabeledSlots:
    """The slots of one pool's labels. Arrays grow with spare capacity, so a single label
    never copies the labeled set."""

    def __init__(self, *, dimension: int) -> None:
        self._rows = np.empty(0, dtype=np.int32)
        self._classes = np.empty(0, dtype=np.int32)
        self._vectors = np.empty((0, dimension), dtype=np.float32)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def rows(self) -> np.ndarray:
        """Pool row of every slot (a view)."""
        return self._rows[: self._n]

    @property
    def classes(self) -> np.ndarray:
        """Class code of every slot, -1 where the label was removed (a view)."""
        return self._classes[: self._n]

    @property
    def vectors(self) -> np.ndarray:
        """Unit vector of every slot (a view)."""
        return self._vectors[: self._n]

    def active(self) -> np.ndarray:
        """The slots that still hold a label, ascending."""
        return np.flatnonzero(self.classes >= 0).astype(np.int32)

    def n_active(self) -> int:
        """How many slots still hold a label."""
        return int((self.classes >= 0).sum())

    def vectors_of(self, slots: np.ndarray) -> np.ndarray:
        """Vectors of ``slots`` (ascending, unique); a view, not a copy of the labeled
        set, when they are all the slots there are."""
        if len(slots) == self._n:
            return self.vectors
        return self._vectors[slots]

    def append(self, rows: np.ndarray, codes: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """New slots for pool ``rows`` labeled ``codes``, with their ``vectors``; returns the slots."""
        needed = self._n + len(rows)
        if needed > len(self._rows):
            # Amortised O(1) growth, so a single label never copies the labeled set.
            capacity = max(needed, 2 * len(self._rows), 64)
            self._rows = _grown(self._rows, capacity, -1)
            self._classes = _grown(self._classes, capacity, -1)
            self._vectors = _grown(self._vectors, capacity, 0.0)
        slots = np.arange(self._n, needed, dtype=np.int32)
        self._rows[slots] = rows
        self._classes[slots] = codes
        self._vectors[slots] = vectors
        self._n = needed
        return slots

    def set_classes(self, slots: np.ndarray, codes: np.ndarray | int) -> None:
        """Give ``slots`` new class ``codes`` (a relabel; -1: the label was removed)."""
        self._classes[slots] = codes


def _grown(array: np.ndarray, capacity: int, fill: float) -> np.ndarray:
    out = np.full((capacity,) + array.shape[1:], fill, dtype=array.dtype)
    out[: len(array)] = array
    return out
