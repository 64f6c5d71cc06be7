"""A learner whose pool is split over shards, with the same picks and predictions.

What grows with the pool's size *and* its dimension lives on the shards
(:mod:`knn_al.learner.shard`): the vectors, each item's k nearest labeled items and its
uncertainty. The coordinator, a :class:`~knn_al.learner.Learner` whose pool and kNN model
are the sharded ones below, keeps what a pick and a label must see whole and is small per
item: ids, states, duplicate groups, density (~20 bytes an item plus the id), and the
labeled set (its vectors: the leave-one-out estimate and predictions of new vectors are
computed here).

- **A label** is checked and applied here first (the log that commits it is the
  project's), then broadcast with its vector; every shard updates its own rows' tables.
- **A pick** draws candidates here exactly as an unsharded learner does, gathers their
  uncertainty and similarity to the labeled set from their shards (bounded by
  ``max_candidates``, not by the pool), ranks them here with the same strategy, and
  fetches only the vectors a greedy batch compares.
- **Predictions** of pool items are routed to the items' shards.
- **The survey** is distributed: each shard searches its own items and the new ones
  against every other shard's (sent shard to shard), so density and duplicate groups are
  the whole pool's. It is exact, at O(N²·d / S) per shard: see ``docs/scale.md``.
- **A lost shard** (its process died) is rebuilt in the background from the labeled set
  kept here and the pool's vectors read back by ``vector_source`` (a project's pool
  files); calls that need it raise :class:`~knn_al.learner.shards.ShardUnavailableError`
  meanwhile, changing nothing.

Only ``model="knn"``: the graph model's propagation walks the whole pool's graph.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from knn_al.errors import InvalidInputError, StateError
from knn_al.learner.classifier import KnnClassifier
from knn_al.learner.density import density_of
from knn_al.learner.duplicates import duplicate_groups
from knn_al.learner.learner import Learner
from knn_al.learner.pool import Pool
from knn_al.learner.shards import ShardFactory, ShardGroup, everyone, gather, shard_for
from knn_al.learner.survey import PoolSurvey
from knn_al.learner.uncertainty import DEFAULT_MEASURE
from knn_al.learner.uncertainty_cache import UncertaintyCache
from knn_al.learner.vectors import as_unit_vectors

__all__ = ["ShardedLearner"]

log = logging.getLogger(__name__)

#: Rows of vectors a rebuilt shard is sent at a time (32 MB at d = 512).
_REBUILD_ROWS = 16_384


class RemoteVectors:
    """The pool's vectors, read from the shards a set of rows at a time (float32)."""

    def __init__(self, pool: ShardedPool) -> None:
        self._pool = pool
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return len(self._pool)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self._pool), self._pool.dimension

    def __getitem__(self, rows: Any) -> np.ndarray:
        if not (isinstance(rows, np.ndarray) and np.issubdtype(rows.dtype, np.integer) and rows.ndim == 1):
            raise StateError("this reads the whole pool's vectors, which a sharded project keeps on its shards: "
                             "it is not available for sharded projects")
        return self._pool.gather("vectors", rows)[0]


class ShardedPool(Pool):
    """The pool's items with their vectors on ``shards``: ids, density and outliers here."""

    def __init__(self, *, shards: ShardGroup, **params: Any) -> None:
        super().__init__(**params)
        self.shards = shards
        #: The shard of each row.
        self.shard_of_ = np.empty(0, dtype=np.int16)

    @property
    def vectors(self) -> np.ndarray:
        return RemoteVectors(self)  # type: ignore[return-value]  # indexable by rows like the array

    @property
    def nbytes(self) -> int:
        return super().nbytes + self.shard_of_.nbytes

    def _store(self, encoded: np.ndarray, x: np.ndarray) -> None:
        owner = shard_for(encoded, len(self.shards))
        rows = np.arange(len(self), len(self) + len(x))
        self.shards.run("add", {i: (rows[owner == i], x[owner == i]) for i in range(len(self.shards))})
        self.shard_of_ = np.concatenate([self.shard_of_, owner])

    def gather(self, method: str, rows: np.ndarray, *args: Any) -> Sequence[np.ndarray]:
        """Shard ``method`` of pool ``rows`` (and ``args``), answered by each row's shard, in row order."""
        return gather(self.shards, method, rows, self.shard_of_[rows], *args)

    def remove(self, rows: np.ndarray) -> None:
        owner = self.shard_of_[rows]
        self.shards.run("remove", {i: (rows[owner == i],) for i in np.unique(owner).tolist()})
        super().remove(rows)


class RemoteUncertainty(UncertaintyCache):
    """The rows' uncertainty, kept by each shard for its own rows."""

    def __init__(self, pool: ShardedPool, measure: str) -> None:
        super().__init__(lambda rows: (np.empty(0), None), measure=measure)
        self._pool = pool

    def of(self, rows: np.ndarray, measure: str) -> np.ndarray:
        return self._pool.gather("uncertainty", rows, measure)[0]


class ShardedKnn(KnnClassifier):
    """The kNN model with its tables on the shards; the labeled set (slots) also here."""

    def __init__(self, *, pool: ShardedPool, **params: Any) -> None:
        super().__init__(**params)
        self._pool = pool
        self.uncertainty = RemoteUncertainty(pool, params["measure"])

    def add_rows(self, pool: np.ndarray) -> None:
        # The shards built the new rows' tables when they took the rows in.
        n_new = len(pool) - len(self.row_slot_)
        self.row_slot_ = np.concatenate([self.row_slot_, np.full(n_new, -1, dtype=np.int32)])

    def apply_labels(self, old_slots: np.ndarray, old_codes: np.ndarray, rows: np.ndarray, codes: np.ndarray,
                     vectors: np.ndarray, pool: np.ndarray, *, n_classes: int) -> np.ndarray:
        self._pool.shards.check_ready()
        self.slots.set_classes(old_slots, old_codes)
        slots = self.slots.append(rows, codes, vectors) if len(rows) else np.empty(0, dtype=np.int32)
        everyone(self._pool.shards, "label", list(self.classes.names_), old_slots, old_codes, rows, codes,
                 self.slots.vectors_of(slots))
        return slots

    def remove_slots(self, slots: np.ndarray, pool: np.ndarray) -> None:
        self._pool.shards.check_ready()
        self.slots.set_classes(slots, -1)
        everyone(self._pool.shards, "unlabel", slots)

    def table_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sims, slots = self._pool.gather("table_rows", rows)
        return sims, slots

    def nearest_similarity(self, rows: np.ndarray) -> np.ndarray:
        return self._pool.gather("nearest_similarity", rows)[0]

    def proba(self, rows: np.ndarray) -> np.ndarray:
        return self._pool.gather("proba", rows)[0]

    def predictions(self) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.row_slot_) if len(self.classes) else 0
        codes, confidence = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.float64)
        for rows, c, p in everyone(self._pool.shards, "predictions").values():
            codes[rows], confidence[rows] = c, p
        return codes, confidence


class ShardedLearner(Learner):
    """A :class:`~knn_al.learner.Learner` over ``shards`` shards made by ``shard_factory``;
    ``vector_source`` gives the unit vectors of pool rows to rebuild a lost shard (none:
    a lost shard stays lost). Other parameters: the learner's; ``model`` must be "knn"."""

    def __init__(self, *, shards: int, shard_factory: ShardFactory,
                 vector_source: Callable[[np.ndarray], np.ndarray] | None = None, **params: Any) -> None:
        if params.get("model", "knn") != "knn":
            raise InvalidInputError(f"a sharded project predicts with model 'knn' only, got {params['model']!r}: the "
                                    "graph model propagates labels over the whole pool's graph", field="model")
        if not isinstance(shards, int) or isinstance(shards, bool) or shards < 1:
            raise InvalidInputError(f"shards must be a positive integer, got {shards!r}", field="shards")
        self.n_shards = shards
        self._shard_factory = shard_factory
        self.vector_source = vector_source
        super().__init__(**params)

    def _new_pool(self) -> ShardedPool:
        # Called by Learner.__init__ once the parameters are checked and set.
        self._shards = self._shard_factory(self.n_shards, {"dimension": self.dimension, "k": self.k,
                                                           "smoothing": self.smoothing, "vector_dtype": self.vector_dtype,
                                                           "classes": self.classes})
        self._shards.on_lost = self._lost
        return ShardedPool(shards=self._shards, dimension=self.dimension, outlier_quantile=self.outlier_quantile,
                           vector_dtype=self.vector_dtype)

    def _new_classifier(self) -> ShardedKnn:
        assert isinstance(self._pool, ShardedPool)
        return ShardedKnn(pool=self._pool, dimension=self.dimension, k=self.k, smoothing=self.smoothing,
                          classes=self.classes, measure=DEFAULT_MEASURE)

    # ------------------------------------------------ refusals before commits
    def check_label(self, ids: Sequence[str], labels: Sequence[str]) -> np.ndarray:
        self._shards.check_ready()
        return super().check_label(ids, labels)

    def check_unlabel(self, ids: Sequence[str]) -> np.ndarray:
        self._shards.check_ready()
        return super().check_unlabel(ids)

    def check_remove(self, ids: Sequence[str]) -> np.ndarray:
        self._shards.check_ready()
        return super().check_remove(ids)

    @property
    def coordinator_nbytes(self) -> int:
        """Bytes of the arrays that grow with the pool kept here, not on the shards."""
        return self._pool.nbytes + sum(a.nbytes for a in (self.status_, self.row_slot_, self.groups_, self.blocked_))

    @property
    def pool_nbytes(self) -> int:
        """Bytes of the arrays that grow with the pool, here and on every shard."""
        return self.coordinator_nbytes + sum(everyone(self._shards, "nbytes").values())

    # ---------------------------------------------------------------- survey
    def _survey(self, x: np.ndarray, *, append: bool, without: np.ndarray | None = None) -> PoolSurvey:
        """The survey after adding unit rows ``x``, each shard searching against every other
        (see :func:`~knn_al.learner.survey.survey_addition` for ``append`` and ``without``)."""
        self._shards.check_ready()
        pool, count = self._pool, len(self._shards)
        n, n_new = len(pool), len(x)
        x = x.astype(pool.dtype, copy=False)  # surveyed as the shards will store them
        without = np.empty(0, dtype=np.int64) if without is None else np.asarray(without, dtype=np.int64)
        out = pool.removed_.copy()
        out[without] = True
        n_old = int((~out).sum())
        m = min(self.density_neighbors, n_old if append else n_old + n_new - 1)
        new_rows = np.arange(n, n + n_new)
        lives = everyone(self._shards, "live", without, keep=True)
        extra = () if append else ((x, new_rows),)
        answers = self._shards.run("survey", {
            i: (max(m, 0), not append, without, (x[i::count], new_rows[i::count]),
                *(lives[j] for j in range(count) if j != i), *extra)
            for i in range(count)})
        sims = np.full((n + n_new, max(m, 0)), -np.inf, dtype=np.float32)
        idx = np.full((n + n_new, max(m, 0)), -1, dtype=np.int64)
        for rows, s, r in answers.values():
            sims[rows], idx[rows] = s, r
        if append:
            return PoolSurvey(density=np.concatenate([self.density_, density_of(sims[n:], idx[n:])]),
                              groups=np.concatenate([self.groups_, new_rows.astype(np.int32)]))
        return PoolSurvey(density=density_of(sims, idx),
                          groups=duplicate_groups(sims, idx, threshold=self.duplicate_threshold), neighbors=(sims, idx))

    # -------------------------------------------------------------- recovery
    def _lost(self, shard: int) -> None:
        """Rebuild shard ``shard`` in the background (calls that need it fail meanwhile)."""
        log.warning("shard %d of a sharded pool was lost: rebuilding it", shard)
        threading.Thread(target=self._rebuild, args=(shard,), name=f"knn-al-rebuild-shard-{shard}",
                         daemon=True).start()

    def _rebuild(self, shard: int) -> None:
        """A new shard ``shard`` with its rows' vectors and every label: the same tables as
        the lost one had (the same slots in the same order)."""
        if self.vector_source is None:
            log.error("shard %d cannot be rebuilt: this learner has no vector source", shard)
            return
        try:
            self._shards.restart(shard)
            slots, pool = self._knn.slots, self._pool
            assert isinstance(pool, ShardedPool)
            self._shards.run("label", {shard: (list(self.classes_), np.empty(0, dtype=np.int32),
                                               np.empty(0, dtype=np.int32), slots.rows.copy(),
                                               slots.classes.copy(), slots.vectors.copy())}, rebuilding=True)
            rows = np.flatnonzero(pool.shard_of_ == shard)
            for start in range(0, len(rows), _REBUILD_ROWS):
                part = rows[start : start + _REBUILD_ROWS]
                vectors = as_unit_vectors(self.vector_source(part), dimension=self.dimension, dtype=pool.dtype)
                self._shards.run("add", {shard: (part, vectors)}, rebuilding=True)
            removed = rows[pool.removed_[rows]]
            if len(removed):
                self._shards.run("remove", {shard: (removed,)}, rebuilding=True)
            self._shards.ready(shard)
            log.warning("shard %d rebuilt: %d items, %d labels", shard, len(rows), slots.n_active())
        except Exception:
            log.exception("rebuilding shard %d failed; it stays unavailable", shard)

