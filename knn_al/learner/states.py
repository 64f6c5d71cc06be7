"""Where each pool item stands: available, labeled, handed out, skipped or removed.

Statuses are plain integers, one byte per item (:attr:`ItemStates.status_`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from knn_al.errors import StateError, shown

__all__ = ["AVAILABLE", "HANDED_OUT", "LABELED", "REMOVED", "SKIPPED", "ItemStates"]

#: No label, not handed out: a candidate unless its duplicate group or its density rules it out.
AVAILABLE = 0
#: Labeled by a human. A member carrying its group's propagated label stays AVAILABLE.
LABELED = 1
#: Handed out to an annotator: not a candidate, and lowers its neighbours' diversity.
HANDED_OUT = 2
#: Skipped by an annotator (unclear, not applicable): not a candidate until unskipped, and,
#: unlike a handed-out item, no reason to keep picks away from its neighbours.
SKIPPED = 3
#: Removed from the pool for good: a tombstone keeping the row numbers of later items.
REMOVED = 4

_NAMES = {AVAILABLE: "available", LABELED: "labeled", HANDED_OUT: "already handed out", SKIPPED: "skipped"}


class ItemStates:
    """The status of every item of a pool, and the set of those handed out."""

    def __init__(self) -> None:
        #: Status code of each pool row.
        self.status_ = np.empty(0, dtype=np.int8)
        #: Rows handed out now.
        self.handed_out_: set[int] = set()
        #: How many rows are skipped, and removed.
        self.n_skipped_ = 0
        self.n_removed_ = 0

    def grow(self, n_new: int) -> None:
        """Take in ``n_new`` items just added to the pool, available."""
        self.status_ = np.concatenate([self.status_, np.zeros(n_new, dtype=np.int8)])

    def check_available(self, rows: np.ndarray, ids: Sequence[str]) -> None:
        """Raise :class:`StateError` for the first of ``rows`` (named ``ids``) that is not available."""
        busy = self.status_[rows] != AVAILABLE
        if busy.any():
            first = int(np.flatnonzero(busy)[0])
            raise StateError(f"item {shown(ids[first])} is {_NAMES[int(self.status_[rows[first]])]}")

    def check_handed_out(self, rows: np.ndarray, ids: Sequence[str]) -> None:
        """Raise :class:`StateError` for the first of ``rows`` (named ``ids``) that is not handed out."""
        not_out = self.status_[rows] != HANDED_OUT
        if not_out.any():
            raise StateError(f"item {shown(ids[int(np.flatnonzero(not_out)[0])])} is not handed out")

    def check_skipped(self, rows: np.ndarray, ids: Sequence[str]) -> None:
        """Raise :class:`StateError` for the first of ``rows`` (named ``ids``) that is not skipped."""
        not_skipped = self.status_[rows] != SKIPPED
        if not_skipped.any():
            raise StateError(f"item {shown(ids[int(np.flatnonzero(not_skipped)[0])])} is not skipped")

    def hand_out(self, rows: np.ndarray) -> None:
        """Mark available ``rows`` handed out."""
        self.status_[rows] = HANDED_OUT
        self.handed_out_.update(rows.tolist())

    def release(self, rows: np.ndarray) -> None:
        """Make handed-out ``rows`` available again."""
        self._set(rows, AVAILABLE)

    def labeled(self, rows: np.ndarray) -> None:
        """Mark ``rows`` labeled; those handed out are released, those skipped no longer are."""
        self._set(rows, LABELED)

    def unlabeled(self, rows: np.ndarray) -> None:
        """Make labeled ``rows`` available again."""
        self.status_[rows] = AVAILABLE

    def skip(self, rows: np.ndarray) -> None:
        """Mark unlabeled ``rows`` skipped (those handed out are released first)."""
        self._set(rows, SKIPPED)

    def unskip(self, rows: np.ndarray) -> None:
        """Make skipped ``rows`` available again."""
        self._set(rows, AVAILABLE)

    def remove(self, rows: np.ndarray) -> None:
        """Mark unlabeled ``rows`` removed, for good."""
        self._set(rows, REMOVED)

    def _set(self, rows: np.ndarray, status: int) -> None:
        """Give ``rows`` ``status``, keeping the handed-out set and the counts right."""
        old = self.status_[rows]
        self.n_skipped_ += int((status == SKIPPED) * len(rows)) - int((old == SKIPPED).sum())
        self.n_removed_ += int((status == REMOVED) * len(rows)) - int((old == REMOVED).sum())
        self.handed_out_.difference_update(rows[old == HANDED_OUT].tolist())
        self.status_[rows] = status

    def handed_out_rows(self) -> np.ndarray:
        """The rows handed out, ascending."""
        return np.fromiter(sorted(self.handed_out_), dtype=np.int64, count=len(self.handed_out_))
