"""Where each pool item stands: available, labeled or handed out.

Statuses are plain integers, one byte per item (:attr:`ItemStates.status_`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from knn_al.errors import StateError, shown

__all__ = ["AVAILABLE", "HANDED_OUT", "LABELED", "ItemStates"]

#: No label, not handed out: a candidate unless its duplicate group or its density rules it out.
AVAILABLE = 0
#: Labeled by a human. A member carrying its group's propagated label stays AVAILABLE.
LABELED = 1
#: Handed out to an annotator: not a candidate, and lowers its neighbours' diversity.
HANDED_OUT = 2


class ItemStates:
    """The status of every item of a pool, and the set of those handed out."""

    def __init__(self) -> None:
        #: Status code of each pool row.
        self.status_ = np.empty(0, dtype=np.int8)
        #: Rows handed out now.
        self.handed_out_: set[int] = set()

    def grow(self, n_new: int) -> None:
        """Take in ``n_new`` items just added to the pool, available."""
        self.status_ = np.concatenate([self.status_, np.zeros(n_new, dtype=np.int8)])

    def check_available(self, rows: np.ndarray, ids: Sequence[str]) -> None:
        """Raise :class:`StateError` for the first of ``rows`` (named ``ids``) that is not available."""
        busy = self.status_[rows] != AVAILABLE
        if busy.any():
            first = int(np.flatnonzero(busy)[0])
            state = "labeled" if self.status_[rows[first]] == LABELED else "already handed out"
            raise StateError(f"item {shown(ids[first])} is {state}")

    def check_handed_out(self, rows: np.ndarray, ids: Sequence[str]) -> None:
        """Raise :class:`StateError` for the first of ``rows`` (named ``ids``) that is not handed out."""
        not_out = self.status_[rows] != HANDED_OUT
        if not_out.any():
            raise StateError(f"item {shown(ids[int(np.flatnonzero(not_out)[0])])} is not handed out")

    def hand_out(self, rows: np.ndarray) -> None:
        """Mark available ``rows`` handed out."""
        self.status_[rows] = HANDED_OUT
        self.handed_out_.update(rows.tolist())

    def release(self, rows: np.ndarray) -> None:
        """Make handed-out ``rows`` available again."""
        self.status_[rows] = AVAILABLE
        self.handed_out_.difference_update(rows.tolist())

    def labeled(self, rows: np.ndarray) -> None:
        """Mark ``rows`` labeled; those handed out are released."""
        self.handed_out_.difference_update(rows.tolist())
        self.status_[rows] = LABELED

    def unlabeled(self, rows: np.ndarray) -> None:
        """Make labeled ``rows`` available again."""
        self.status_[rows] = AVAILABLE

    def handed_out_rows(self) -> np.ndarray:
        """The rows handed out, ascending."""
        return np.fromiter(sorted(self.handed_out_), dtype=np.int64, count=len(self.handed_out_))
