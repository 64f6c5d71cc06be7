"""A pool's items: their ids, unit vectors, and how typical each is (density, outliers).

Items are only ever appended, each batch validated whole before any of it is kept. A
removed item stays as a tombstone (its row numbers every later row), its id forgotten so
that it can be added again, and it counts no more in the outlier threshold; surveys leave
it out (:meth:`knn_al.learner.Learner.survey`). The density comes from the pool survey
(:mod:`knn_al.learner.survey`), which the learner runs.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from knn_al.errors import InvalidInputError
from knn_al.learner.ids import IdIndex
from knn_al.learner.vectors import RowBuffer, item_vectors

__all__ = ["Pool"]


class Pool:
    """The items of one pool of ``dimension``-long unit vectors, stored as ``vector_dtype``
    (float32 or float16); items whose density is below the ``outlier_quantile`` quantile of
    the pool's are outliers (0: none)."""

    def __init__(self, *, dimension: int, outlier_quantile: float, vector_dtype: str = "float32") -> None:
        self.dimension = dimension
        self.outlier_quantile = outlier_quantile
        self.dtype = np.dtype(vector_dtype)
        self.ids_ = IdIndex()
        self._vectors = RowBuffer(dimension=dimension, dtype=self.dtype)
        #: Per item, the mean similarity to its nearest other items.
        self.density_ = np.empty(0, dtype=np.float32)
        self.outlier_threshold_ = -np.inf
        #: Per row, whether its item was removed.
        self.removed_ = np.empty(0, dtype=bool)

    def __len__(self) -> int:
        return len(self.ids_)

    @property
    def vectors(self) -> np.ndarray:
        """Unit vectors of the pool, one row per item, as stored (a view; float16 in a
        half-precision pool: see :func:`knn_al.learner.vectors.float32_blocks`)."""
        return self._vectors.view

    @property
    def nbytes(self) -> int:
        """Bytes of the pool's arrays, spare vector rows included."""
        return self._vectors.nbytes + self.density_.nbytes + self.ids_.nbytes + self.removed_.nbytes

    def live_rows(self, *, without: np.ndarray | None = None) -> np.ndarray:
        """The rows of items not removed (nor among ``without``), ascending."""
        live = ~self.removed_
        if without is not None:
            live[without] = False
        return np.flatnonzero(live)

    def checked(self, ids: Sequence[str], vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``ids`` encoded and ``vectors`` as fresh unit rows in the pool's dtype, ready for
        :meth:`append`; raises if they cannot be added."""
        ids = list(ids)
        x = item_vectors(ids, vectors, dimension=self.dimension, dtype=self.dtype)
        return self.ids_.check_new(ids), x

    def append(self, encoded: np.ndarray, x: np.ndarray, density: np.ndarray) -> None:
        """Append items :meth:`checked` gave, with the ``density`` of the whole pool after
        them (from its survey; refused, changing nothing, if it does not cover them all)."""
        if len(density) != len(self) + len(x):
            raise InvalidInputError(f"the survey must cover the pool after this addition ({len(self) + len(x)} "
                                    f"items), it covers {len(density)}")
        self._store(encoded, x)
        self.ids_.extend(encoded)
        self.removed_ = np.concatenate([self.removed_, np.zeros(len(x), dtype=bool)])
        self.density_ = np.asarray(density, dtype=np.float32)
        self._set_threshold()

    def _store(self, encoded: np.ndarray, x: np.ndarray) -> None:
        """Keep the vectors ``x`` of new items (ids ``encoded``)."""
        self._vectors.append(x)

    def remove(self, rows: np.ndarray) -> None:
        """Remove the items of ``rows`` (unique, not removed yet)."""
        self.removed_[rows] = True
        self.ids_.forget(rows)
        self._set_threshold()

    def _set_threshold(self) -> None:
        live = self.density_[~self.removed_]
        self.outlier_threshold_ = (float(np.quantile(live, self.outlier_quantile, method="lower"))
                                   if self.outlier_quantile > 0 and len(live) else -np.inf)

    def outlier_mask(self, rows: np.ndarray | slice) -> np.ndarray:
        """Which of ``rows`` are outliers (removed items are none)."""
        return (self.density_[rows] < self.outlier_threshold_) & ~self.removed_[rows]

    def outliers(self) -> np.ndarray:
        """Rows of the outliers, least dense first."""
        rows = np.flatnonzero(self.outlier_mask(slice(None)))
        return rows[np.argsort(self.density_[rows], kind="stable")]
