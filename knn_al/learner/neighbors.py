"""Per pool item: its k most similar labeled items, kept up to date label by label.

This table is what makes picks and predictions cheap. Column 0 holds each item's
highest similarity to any labeled item, which is also what diversity needs, so one
table serves the classifier and the diversity term.

Rows are sorted by similarity, descending; ties keep the lower slot first (slots are
numbered in the order labels arrive, so a new slot goes after equal older ones).
Empty cells hold similarity -inf and slot -1.
"""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

from knn_al.learner.top_lists import empty_lists, merge_lists, offer_block_rows
from knn_al.learner.vectors import float32_blocks, float32_rows

__all__ = ["BLOCK_ROWS", "FAISS_BASE", "FAISS_PAIRS", "HALF_FUSED_VECTORS", "NeighborTables", "drop_own",
           "search_pool", "top_k"]

#: Rows per block in a pass over the pool: keeps the similarity block in cache-sized pieces.
BLOCK_ROWS = 65_536
#: When a row's k best come from at least FAISS_BASE labeled vectors and there are at least
#: FAISS_PAIRS (row, labeled) pairs, a FAISS kNN search (blocked GEMM + heap in C++) picks
#: them; otherwise numpy does (one GEMM, then argpartition, or offering new labels one
#: column at a time). Measured on a 100k × 512 pool, per label: 64 new labels 1.9 ms with
#: numpy against 3.6 with FAISS, 256 labels 1.7 against 1.3, 1,024 labels 1.8 against 0.8;
#: on a 20k pool 256 labels cost the same either way. Labeling a whole 20k pool at once:
#: 22 s with numpy, 5.6 s with FAISS.
FAISS_BASE = 256
FAISS_PAIRS = 1 << 24
#: Up to this many new labels, a half-precision pool's similarities come from one fused
#: pass over its 16-bit values (:func:`knn_al.learner.half.half_dots`); more reuse each
#: converted block in a GEMM instead.
HALF_FUSED_VECTORS = 8
#: Rows per GEMM of a bulk insert: 4,096 × 1,024 new labels is a 16 MB block.
_BULK_TILE_ROWS = 4_096


def _faiss_pays(n_queries: int, n_base: int) -> bool:
    return n_base >= FAISS_BASE and n_queries * n_base >= FAISS_PAIRS


def top_k(queries: np.ndarray, base: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each query row's ``k`` (≤ len(base)) most similar ``base`` rows by inner product:
    (similarities, base indices), most similar first, equal similarities by lower index.

    An exact tie at the k-th place may keep either index; only a duplicate vector makes one.
    """
    if _faiss_pays(len(queries), len(base)):
        sims, idx = faiss.knn(np.ascontiguousarray(queries), np.ascontiguousarray(base), k,
                              metric=faiss.METRIC_INNER_PRODUCT)
        # FAISS orders equal similarities arbitrarily: put lower indices first.
        order = np.lexsort((idx, -sims), axis=-1)
        return np.take_along_axis(sims, order, axis=1), np.take_along_axis(idx, order, axis=1)
    sims = queries @ base.T
    if k < len(base):
        # Select the k best first (linear), then order only those.
        top = np.sort(np.argpartition(-sims, k - 1, axis=1)[:, :k], axis=1)
    else:
        top = np.broadcast_to(np.arange(k), sims.shape)
    best = np.take_along_axis(sims, top, axis=1)
    # Stable sort on -sim over ascending columns: equal similarities keep index order.
    order = np.argsort(-best, axis=1, kind="stable")
    return np.take_along_axis(best, order, axis=1), np.take_along_axis(top, order, axis=1)


def search_pool(queries: np.ndarray, pool: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Each query's ``m`` (≤ len(pool)) most similar ``pool`` rows by inner product, best
    first: (similarities float32, rows int64). A float16 pool is read a block at a time,
    never converted whole (that would be a float32 copy of the pool per search)."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if pool.dtype == np.float32:
        sims, rows = faiss.knn(q, np.ascontiguousarray(pool), m, metric=faiss.METRIC_INNER_PRODUCT)
        return sims, rows.astype(np.int64)
    best, best_rows = empty_lists(len(q), m)
    for start, block in float32_blocks(pool, BLOCK_ROWS):
        sims, rows = faiss.knn(q, block, min(m, len(block)), metric=faiss.METRIC_INNER_PRODUCT)
        merge_lists(best, best_rows, sims, (rows + start).astype(np.int32))  # earlier rows first among equals
    return best, best_rows.astype(np.int64)


class NeighborTables:
    """The k nearest labeled slots of every pool row."""

    def __init__(self, *, k: int) -> None:
        self.k = k
        self.sim_ = np.empty((0, k), dtype=np.float32)
        self.slot_ = np.empty((0, k), dtype=np.int32)

    def __len__(self) -> int:
        return len(self.sim_)

    def grow(self, n_new: int) -> None:
        """Append ``n_new`` empty rows (for items just added to the pool)."""
        self.sim_ = np.concatenate([self.sim_, np.full((n_new, self.k), -np.inf, dtype=np.float32)])
        self.slot_ = np.concatenate([self.slot_, np.full((n_new, self.k), -1, dtype=np.int32)])

    def insert(self, pool: np.ndarray, vectors: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Offer new labeled ``vectors`` (numbered ``slots``, ascending) to every pool row
        (``pool``: float32 or float16 rows).

        One pass over the pool: a GEMM of each row block against the batch; only rows
        whose k-th best some new vector beats are touched after that. Returns those rows.
        """
        if _faiss_pays(len(pool), len(slots)):
            return self._insert_many(pool, vectors, slots)
        vt = np.ascontiguousarray(vectors.T)
        touched = []
        for start, block_sims in self._similarity_blocks(pool, vectors, vt):
            kth = self.sim_[start : start + len(block_sims), -1]
            if len(slots) == 1:
                # Every hit row takes the one new slot: no need to recheck it column by column.
                hit = np.flatnonzero(block_sims[:, 0] > kth)
                self._place(hit + start, block_sims[hit, 0], int(slots[0]))
            else:
                hit = np.flatnonzero(block_sims.max(axis=1) > kth)
                self.insert_rows(hit + start, block_sims[hit], slots)
            touched.append(hit + start)
        return np.concatenate(touched) if touched else np.empty(0, dtype=np.int64)

    @staticmethod
    def _similarity_blocks(pool: np.ndarray, vectors: np.ndarray, vt: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, rows × new similarities) over the pool, a block at a time."""
        if pool.dtype == np.float16 and len(vectors) <= HALF_FUSED_VECTORS:
            from knn_al.learner.half import half_dots  # compiled: the server extra

            sims = half_dots(pool, vectors)  # one pass over the whole pool: it splits across two threads
            for start in range(0, len(pool), BLOCK_ROWS):
                yield start, sims[start : start + BLOCK_ROWS]
            return
        for start, block in float32_blocks(pool, BLOCK_ROWS):
            yield start, block @ vt

    def _insert_many(self, pool: np.ndarray, vectors: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """:meth:`insert` for a bulk of labels: a GEMM per tile of rows, its similarities
        offered to the rows' tables by a compiled kernel (:mod:`knn_al.learner.top_lists`);
        two workers, each with one BLAS thread, on the two halves of the pool.

        Measured at 1M × 512, 1,024 labels at a time (``bench/bench_learner.py``): 127 labels/s,
        0.68x the compute floor of SGEMM in the same run, with a FAISS kNN search per block and
        a sort of the merged tables; 175 labels/s, 0.94x, with this."""
        touched = np.zeros(len(pool), dtype=bool)
        vt = np.ascontiguousarray(vectors.T)
        codes = slots.astype(np.int32)

        def offer(first: int, stop: int) -> None:
            for start, block in float32_blocks(pool[first:stop], _BULK_TILE_ROWS):
                sims = block @ vt
                rows = np.arange(first + start, first + start + len(sims), dtype=np.int32)
                touched[rows] = sims.max(axis=1) > self.sim_[rows, -1]
                # Slots ascend along a row and a new one goes after equal older ones: the
                # same ties as one label at a time.
                offer_block_rows(sims, rows, codes, self.sim_, self.slot_)

        half = len(pool) // 2
        with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(2) as workers:
            for done in [workers.submit(offer, 0, half), workers.submit(offer, half, len(pool))]:
                done.result()
        return np.flatnonzero(touched)

    def insert_rows(self, rows: np.ndarray, sims: np.ndarray, slots: np.ndarray) -> None:
        """Offer labeled ``slots`` to selected ``rows`` given their similarities (rows × slots)."""
        # Which cells could enter a table, judged once against the current k-th bests.
        # Those only grow as columns are placed, so this is a superset: recheck each column.
        maybe = sims > self.sim_[rows, -1][:, None]
        for column, slot in enumerate(slots):
            cand = np.flatnonzero(maybe[:, column])
            if len(cand) == 0:
                continue
            s = sims[cand, column]
            beats = s > self.sim_[rows[cand], -1]
            if beats.any():
                self._place(rows[cand[beats]], s[beats], int(slot))

    def _place(self, rows: np.ndarray, sims: np.ndarray, slot: int) -> None:
        old_sim = self.sim_[rows]
        old_slot = self.slot_[rows]
        # Insert after every entry at least as similar: ties keep older slots first.
        pos = (old_sim >= sims[:, None]).sum(axis=1)
        # Cells after the insertion point take their left neighbour; the last entry falls off.
        move = np.arange(1, self.k) > pos[:, None]
        new_sim, new_slot = old_sim.copy(), old_slot.copy()
        np.copyto(new_sim[:, 1:], old_sim[:, :-1], where=move)
        np.copyto(new_slot[:, 1:], old_slot[:, :-1], where=move)
        # Callers pass only rows whose k-th entry is beaten, so pos < k.
        every = np.arange(len(rows))
        new_sim[every, pos] = sims
        new_slot[every, pos] = slot
        self.sim_[rows] = new_sim
        self.slot_[rows] = new_slot

    def rows_referencing(self, slots: np.ndarray) -> np.ndarray:
        """Rows whose table holds any of ``slots``."""
        hits = np.zeros(len(self.slot_), dtype=bool)
        for start in range(0, len(self.slot_), BLOCK_ROWS):
            block = self.slot_[start : start + BLOCK_ROWS]
            hits[start : start + len(block)] = np.isin(block, slots).any(axis=1)
        return np.flatnonzero(hits)

    def recompute(self, rows: np.ndarray, pool: np.ndarray, labeled: np.ndarray, slots: np.ndarray) -> None:
        """Rebuild ``rows`` from scratch against the ``labeled`` vectors numbered ``slots`` (ascending)."""
        self.sim_[rows] = -np.inf
        self.slot_[rows] = -1
        if len(slots) == 0:
            return
        take = min(self.k, len(slots))
        for start in range(0, len(rows), BLOCK_ROWS):
            chunk = rows[start : start + BLOCK_ROWS]
            sims, idx = top_k(float32_rows(pool, chunk), labeled, take)
            self.sim_[chunk, :take] = sims
            self.slot_[chunk, :take] = slots[idx]


def drop_own(sims: np.ndarray, idx: np.ndarray, own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour lists (``n × w``) without each row's own entry (``own[i]`` in row i): one column fewer.

    The row itself is normally the first hit, but an exact duplicate can outrank it;
    where it was not found at all, the last (least similar) column goes instead.
    """
    n, width = sims.shape
    is_own = idx == np.asarray(own)[:, None]
    drop = np.where(is_own.any(axis=1), is_own.argmax(axis=1), width - 1)
    keep = np.ones(sims.shape, dtype=bool)
    keep[np.arange(n), drop] = False
    return sims[keep].reshape(n, width - 1), idx[keep].reshape(n, width - 1)
