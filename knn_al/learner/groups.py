"""A pool's duplicate groups as labels and leases come and go.

:mod:`knn_al.learner.duplicates` finds the groups when the pool is surveyed; this keeps
them between surveys. Only a group's root (its lowest row) is ever a candidate, and only
while no other member is labeled or handed out; the label a human gives any member
propagates to the whole group. Removing a propagated label detaches its item instead: it
becomes a group of its own, through later surveys too.

Item states are the codes of :mod:`knn_al.learner.states`, passed in as the pool's
``status`` array.
"""
from __future__ import annotations

import numpy as np

from knn_al.learner.duplicates import detach
from knn_al.learner.states import AVAILABLE, LABELED

__all__ = ["DuplicateGroups"]


class DuplicateGroups:
    """The duplicate groups of one pool, and the rows they keep from being candidates."""

    def __init__(self) -> None:
        #: Root row of each row's duplicate group (itself for a singleton).
        self.groups_ = np.empty(0, dtype=np.int32)
        # The rows of groups of two or more, ascending: usually a small share of the pool,
        # so group bookkeeping after a label need not scan every row.
        self._grouped_rows = np.empty(0, dtype=np.int64)
        #: Rows a user took out of their group (by removing a propagated label).
        self.detached_: list[int] = []
        #: Rows that are never candidates because of their group: every member but the
        #: root, and the root of a group another member of which is labeled or handed out.
        self.blocked_ = np.empty(0, dtype=bool)

    def surveyed(self, groups: np.ndarray, status: np.ndarray) -> None:
        """Take the ``groups`` of a new pool survey, less the rows detached so far."""
        self._set(detach(np.asarray(groups, dtype=np.int32), np.array(self.detached_, dtype=np.int64)), status)

    def detach(self, rows: np.ndarray, status: np.ndarray) -> None:
        """Take ``rows`` out of their groups for good: each becomes a singleton."""
        self.detached_.extend(rows.tolist())
        self._set(detach(self.groups_, rows), status)

    def status_changed(self, rows: np.ndarray, status: np.ndarray) -> None:
        """Follow ``rows`` being handed out or released: only a member that is not its
        group's root blocks or frees the root that way."""
        if (self.groups_[rows] != rows).any():
            self.refresh_blocked(status)

    def refresh_blocked(self, status: np.ndarray) -> None:
        """Recompute :attr:`blocked_` after items of groups were labeled, unlabeled, handed
        out or released."""
        rows = self._grouped_rows
        roots = self.groups_[rows]
        member = rows != roots
        blocked = np.zeros(len(self.groups_), dtype=bool)
        blocked[rows[member]] = True
        blocked[roots[member & (status[rows] != AVAILABLE)]] = True
        self.blocked_ = blocked

    def propagated_mask(self, rows: np.ndarray | slice, status: np.ndarray) -> np.ndarray:
        """Which ``rows`` carry a propagated label: not labeled, in a group with a labeled member."""
        has_label = np.zeros(len(self.groups_), dtype=bool)
        has_label[self.groups_[status == LABELED]] = True
        return (status[rows] != LABELED) & has_label[self.groups_[rows]]

    def n_propagated(self, status: np.ndarray, *, excluding: int | None = None) -> int:
        """How many items carry a propagated label (but for those of status ``excluding``)."""
        rows = self._grouped_rows
        if not len(rows):
            return 0
        mask = self.propagated_mask(rows, status)
        if excluding is not None:
            mask &= status[rows] != excluding
        return int(mask.sum())

    def propagated(self, status: np.ndarray, labeled_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows that carry a propagated label, ascending, and the row each one's label
        comes from: the earliest labeled member of its group (``labeled_rows``, the rows
        with a label in the order they were labeled)."""
        rows = np.flatnonzero(self.propagated_mask(slice(None), status))
        if len(rows) == 0:
            return rows, rows
        source = np.full(len(self.groups_), -1, dtype=np.int64)
        groups, first = np.unique(self.groups_[labeled_rows], return_index=True)
        source[groups] = labeled_rows[first]
        return rows, source[self.groups_[rows]]

    def propagation_targets(self, rows: np.ndarray, status: np.ndarray) -> np.ndarray:
        """The rows that labels of ``rows`` propagate to: the unlabeled members of their
        groups, ascending."""
        grouped = self._grouped_rows
        return grouped[np.isin(self.groups_[grouped], self.groups_[rows]) & (status[grouped] != LABELED)]

    def counts(self) -> tuple[int, int]:
        """(duplicate groups of two or more items, items in them)."""
        return len(np.unique(self.groups_[self._grouped_rows])), len(self._grouped_rows)

    def _set(self, groups: np.ndarray, status: np.ndarray) -> None:
        self.groups_ = groups
        sizes = np.bincount(groups, minlength=len(groups))
        self._grouped_rows = np.flatnonzero(sizes[groups] > 1)
        self.refresh_blocked(status)
