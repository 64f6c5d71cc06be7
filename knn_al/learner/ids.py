"""A compact id → row index for pools of millions of items.

A Python dict of a million string ids costs ~150 bytes an item, more than every other
per-item table together. Ids are kept instead as one fixed-width bytes array plus its
sort order (``len(id) + 4`` bytes an item), and looked up by binary search.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from knn_al.errors import DuplicateItemError, InvalidInputError, UnknownItemError, shown
from knn_al.learner.limits import MAX_ID_BYTES

__all__ = ["IdIndex", "encode_ids"]


def encode_ids(ids: Sequence[str]) -> np.ndarray:
    """``ids`` as a fixed-width bytes array; :class:`InvalidInputError` names the first id that is
    empty, not a string, holds a NUL or is longer than :data:`MAX_ID_BYTES`."""
    encoded = []
    for position, item_id in enumerate(ids):
        if not isinstance(item_id, str) or not item_id:
            raise InvalidInputError(f"item id at position {position} must be a non-empty string, got {shown(item_id)}")
        raw = item_id.encode("utf-8")
        if b"\x00" in raw:
            raise InvalidInputError(f"item id {shown(item_id)} contains a NUL character")
        if len(raw) > MAX_ID_BYTES:
            raise InvalidInputError(f"item id {shown(item_id)} is {len(raw)} bytes long; ids are at most "
                                    f"{MAX_ID_BYTES} bytes (UTF-8)")
        encoded.append(raw)
    return np.array(encoded, dtype=bytes) if encoded else np.empty(0, dtype="S1")


class IdIndex:
    """Maps string ids to consecutive row numbers in insertion order."""

    def __init__(self) -> None:
        self.ids_ = np.empty(0, dtype="S1")
        self.order_ = np.empty(0, dtype=np.int32)
        self._sorted = np.empty(0, dtype="S1")

    def __len__(self) -> int:
        return len(self.ids_)

    @property
    def nbytes(self) -> int:
        """Bytes of the index's arrays."""
        return self.ids_.nbytes + self.order_.nbytes + self._sorted.nbytes

    def check_new(self, ids: Sequence[str]) -> np.ndarray:
        """Validate ``ids`` as additions (unique, not present yet); return them encoded."""
        encoded = encode_ids(ids)
        present = self._present(encoded)
        if present.any():
            dup = encoded[present][0].decode()
            raise DuplicateItemError(f"item id {shown(dup)} is already in the pool")
        return encoded

    def present(self, ids: Sequence[str]) -> np.ndarray:
        """Which of ``ids`` (valid, none twice: else raises) are in the index."""
        return self._present(encode_ids(ids))

    def _present(self, encoded: np.ndarray) -> np.ndarray:
        if len(encoded) == 0:
            return np.zeros(0, dtype=bool)
        uniq, counts = np.unique(encoded, return_counts=True)
        if (counts > 1).any():
            dup = uniq[counts > 1][0].decode()
            raise DuplicateItemError(f"item id {shown(dup)} appears more than once in the batch")
        return self._find(encoded) >= 0

    def forget(self, rows: np.ndarray) -> None:
        """Stop finding the ids of ``rows`` (removed items), so they can be added again.
        Their rows keep their ids: row numbers never change."""
        drop = np.isin(self.order_, rows)
        self._sorted, self.order_ = self._sorted[~drop], self.order_[~drop]

    def extend(self, encoded: np.ndarray) -> None:
        """Append ids already validated by :meth:`check_new`.

        The new ids are sorted on their own and merged in, O(N + B log B): a stream that
        adds items one at a time to a pool of millions must not re-sort it each time.
        """
        start = len(self.ids_)
        self.ids_ = np.concatenate([self.ids_, encoded])
        width = self.ids_.dtype
        new_order = np.argsort(encoded, kind="stable")
        new_sorted = encoded[new_order].astype(width, copy=False)
        # Kept sorted beside the order so a lookup is a binary search, not a gather of all ids.
        at = np.searchsorted(self._sorted.astype(width, copy=False), new_sorted)
        self._sorted = np.insert(self._sorted.astype(width, copy=False), at, new_sorted)
        self.order_ = np.insert(self.order_, at, (start + new_order).astype(np.int32))

    def _find(self, encoded: np.ndarray) -> np.ndarray:
        if len(self._sorted) == 0:  # empty, or every item removed
            return np.full(len(encoded), -1, dtype=np.int64)
        sorted_ids = self._sorted
        pos = np.searchsorted(sorted_ids, encoded)
        pos_clipped = np.minimum(pos, len(sorted_ids) - 1)
        hit = sorted_ids[pos_clipped] == encoded
        return np.where(hit, self.order_[pos_clipped], -1).astype(np.int64)

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        """Rows of ``ids``; :class:`UnknownItemError` names the first unknown id."""
        encoded = encode_ids(ids)
        rows = self._find(encoded)
        if (rows < 0).any():
            missing = encoded[rows < 0][0].decode()
            raise UnknownItemError(f"unknown item id {shown(missing)}")
        return rows

    def unique_rows(self, ids: Sequence[str]) -> np.ndarray:
        """:meth:`rows`, refusing a batch that names an item twice."""
        rows = self.rows(ids)
        if len(rows) >= 2:
            uniq, counts = np.unique(rows, return_counts=True)
            if (counts > 1).any():
                raise InvalidInputError(f"item {self.ids([uniq[counts > 1][0]])[0]!r} appears more than once "
                                        "in the batch")
        return rows

    def ids(self, rows: np.ndarray | Sequence[int]) -> list[str]:
        return [raw.decode("utf-8") for raw in self.ids_[np.asarray(rows, dtype=np.int64)]]
