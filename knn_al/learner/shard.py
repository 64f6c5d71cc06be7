"""One shard of a sharded pool: its items' vectors and the per-item tables over them.

A sharded learner (:mod:`knn_al.learner.sharded`) splits the pool's items over shards by
a hash of their ids. A shard keeps, for its own items only, what grows with the pool: the
vectors and each item's k nearest labeled items with its uncertainty. The labeled set is
every shard's: each label is broadcast, with its vector, and every shard updates the
tables of its own rows, so each holds the same slots in the same order as the coordinator
and an unsharded learner would.

Items are named by their row in the whole pool ("global rows"); a shard's rows are an
ascending subsequence of them. A shard knows nothing of ids, states, leases or picks.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from knn_al.errors import InvalidInputError
from knn_al.learner.classifier import KnnClassifier
from knn_al.learner.neighbors import search_pool
from knn_al.learner.uncertainty import DEFAULT_MEASURE
from knn_al.learner.vectors import RowBuffer, float32_rows

__all__ = ["Shard"]

#: A block of (vectors, global rows) that a survey searches.
Block = tuple[np.ndarray, np.ndarray]


class Shard:
    """The rows of one shard, ``dimension``-long unit vectors stored as ``vector_dtype``,
    with the kNN tables of a learner of parameters ``k``, ``smoothing`` and ``classes``."""

    def __init__(self, *, dimension: int, k: int, smoothing: float, vector_dtype: str,
                 classes: Sequence[str] | None = None) -> None:
        self._vectors = RowBuffer(dimension=dimension, dtype=np.dtype(vector_dtype))
        self._knn = KnnClassifier(dimension=dimension, k=k, smoothing=smoothing, classes=classes,
                                  measure=DEFAULT_MEASURE)
        #: Global row of each of this shard's rows, ascending.
        self.rows_ = np.empty(0, dtype=np.int64)
        #: Per row, whether its item was removed (it is then no neighbour in a survey).
        self.removed_ = np.empty(0, dtype=bool)

    def __len__(self) -> int:
        return len(self.rows_)

    def nbytes(self) -> int:
        """Bytes of the arrays that grow with the shard's rows."""
        tables = self._knn.tables_
        return (self._vectors.nbytes + self.rows_.nbytes + self.removed_.nbytes + tables.sim_.nbytes
                + tables.slot_.nbytes + sum(v.nbytes for v in self._knn.uncertainty.values_.values()))

    def _local(self, rows: np.ndarray) -> np.ndarray:
        local = np.searchsorted(self.rows_, rows)
        if len(rows) and (local.max() >= len(self.rows_) or (self.rows_[local] != rows).any()):
            raise InvalidInputError("rows asked of a shard that does not hold them")
        return local

    # ------------------------------------------------------------- changes
    def add(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Take in items at global ``rows`` (after every row held) with unit ``vectors``
        in the pool's dtype; their tables are searched among the labels so far."""
        if len(self.rows_) and len(rows) and rows[0] <= self.rows_[-1]:
            raise InvalidInputError("a shard's rows must ascend")
        self._vectors.append(np.array(vectors, dtype=self._vectors.view.dtype))  # a copy: arrays sent are read-only
        self.rows_ = np.concatenate([self.rows_, np.asarray(rows, dtype=np.int64)])
        self.removed_ = np.concatenate([self.removed_, np.zeros(len(rows), dtype=bool)])
        self._knn.add_rows(self._vectors.view)

    def label(self, classes: Sequence[str], old_slots: np.ndarray, old_codes: np.ndarray, rows: np.ndarray,
              codes: np.ndarray, vectors: np.ndarray) -> None:
        """Apply a batch of labels (:meth:`KnnClassifier.apply_labels`); ``classes``: every
        known class name in code order, the new ones last."""
        n_classes = len(self._knn.classes)
        for name in classes[n_classes:]:
            self._knn.classes.code(name)
        self._knn.apply_labels(np.asarray(old_slots, dtype=np.int32), old_codes, rows, codes, vectors,
                               self._vectors.view, n_classes=n_classes)

    def unlabel(self, slots: np.ndarray) -> None:
        """Withdraw the labels of ``slots``."""
        self._knn.remove_slots(np.asarray(slots, dtype=np.int32), self._vectors.view)

    def remove(self, rows: np.ndarray) -> None:
        """Mark the items of global ``rows`` removed."""
        self.removed_[self._local(rows)] = True

    # ------------------------------------------------------------- answers
    def uncertainty(self, rows: np.ndarray, measure: str) -> np.ndarray:
        """Uncertainty of global ``rows`` under ``measure``."""
        return self._knn.uncertainty.of(self._local(rows), measure)

    def nearest_similarity(self, rows: np.ndarray) -> np.ndarray:
        """Similarity of global ``rows`` to their nearest labeled item."""
        return self._knn.nearest_similarity(self._local(rows))

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """float32 unit vectors of global ``rows``."""
        return float32_rows(self._vectors.view, self._local(rows))

    def proba(self, rows: np.ndarray) -> np.ndarray:
        """Class probabilities of global ``rows``."""
        return self._knn.proba(self._local(rows))

    def table_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, slots) of the neighbour tables of global ``rows``."""
        return self._knn.table_rows(self._local(rows))

    def predictions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(global rows, predicted class codes, confidence) of every row."""
        codes, confidence = self._knn.predictions()
        return self.rows_[: len(codes)], codes, confidence

    def live(self, without: np.ndarray) -> Block:
        """(vectors, global rows) of the items not removed nor among global rows ``without``."""
        keep = ~self.removed_
        keep[np.isin(self.rows_, without)] = False
        return self._vectors.view[keep], self.rows_[keep]

    def survey(self, m: int, own: bool, without: np.ndarray, queries: Block,
               *others: Block) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``m`` nearest items of each query among this shard's live items and the
        ``others`` blocks (other shards' live items, the new ones): (query rows,
        similarities, neighbour rows), best first, -1 / -inf where fewer exist, a query
        never its own neighbour. Queries: ``queries`` and, if ``own``, this shard's live items."""
        mine = self.live(without)
        q_vectors, q_rows = queries
        if own:
            q_vectors = np.concatenate([mine[0].astype(np.float32), q_vectors.astype(np.float32)])
            q_rows = np.concatenate([mine[1], q_rows])
        sims = [np.full((len(q_rows), 0), -np.inf, dtype=np.float32)]
        found = [np.full((len(q_rows), 0), -1, dtype=np.int64)]
        for vectors, rows in (mine, *others):
            if len(rows) == 0 or len(q_rows) == 0:
                continue
            s, i = search_pool(q_vectors, vectors, min(m + 1, len(rows)))
            sims.append(s)
            found.append(np.where(i >= 0, rows[np.maximum(i, 0)], -1))
        all_sims, all_rows = np.concatenate(sims, axis=1), np.concatenate(found, axis=1)
        own_entry = all_rows == q_rows[:, None]
        all_sims[own_entry], all_rows[own_entry] = -np.inf, -1
        order = np.lexsort((all_rows, -all_sims), axis=-1)[:, :m]  # most similar first, then lower row
        best_sims, best_rows = np.take_along_axis(all_sims, order, 1), np.take_along_axis(all_rows, order, 1)
        if best_sims.shape[1] < m:
            pad = m - best_sims.shape[1]
            best_sims = np.pad(best_sims, ((0, 0), (0, pad)), constant_values=-np.inf)
            best_rows = np.pad(best_rows, ((0, 0), (0, pad)), constant_values=-1)
        best_rows[~np.isfinite(best_sims)] = -1
        return q_rows, best_sims, best_rows
