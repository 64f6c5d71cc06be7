"""Each pool item's nearest other items: the one search of a pool survey.

Its lists give density (:mod:`knn_al.learner.density`), near-duplicates
(:mod:`knn_al.learner.duplicates`) and the graph (:mod:`knn_al.learner.graph`). Never an
N × N matrix: the pool is cut into spherical k-means cells, each cell is paired with the
``probe`` cells nearest its centroid, and each unordered pair's similarity block is computed
once, a tile at a time, and offered to both sides' lists (a cell paired with itself: only
the tiles on and above its diagonal). A pool of at most ``exact_limit`` items is one cell:
an exact search, at half the work of a query-by-query one.

Two workers share the tiles, each with one BLAS thread and lists of its own, merged at the
end: OpenBLAS's own two threads spin between calls and starve the selection kernels.

Measured at 1M × 512 (``bench/bench_ingest.py``, 2 cores): the search this replaced (each
cell's rows against its 8 nearest cells, numpy selection) took 121-126 s, recall@10 0.996;
this one 27.6-29.0 s, 0.990 on the clustered pool (24.0-26.1 s, 0.996 on the hard one). FAISS's own indexes
were slower at equal recall: IVFFlat and IVF-SQ8 190-260 s at 1M, HNSW 17-22 s already at
100k. Most of the time (~22 s) is the GEMM of the cell pairs: on the clustered pool an
item's neighbours may be anywhere in its cluster of ~5,000, so the blocks cannot shrink
much; k-means assignment takes ~6 s.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

from knn_al.learner.neighbors import drop_own
from knn_al.learner.top_lists import empty_lists, merge_lists, offer_block, offer_block_rows
from knn_al.learner.vectors import float32_blocks, float32_rows

__all__ = ["DEFAULT_PROBE", "WIDE_PROBE", "WIDE_PROBE_LIMIT", "pool_neighbors"]

#: Cells each cell is paired with, itself included. Above WIDE_PROBE_LIMIT items: 3 (1M ×
#: 512 clustered pool: ~29 s, recall 0.99; probe 4: +3 s for 0.999). Below it the search
#: takes seconds at most, so it pairs more cells, for clusters that cells cut through
#: (20k × 32 in tests: recall 0.86 with 3, 1.00 with 8, at 0.12 s either way). Searching
#: each row also against its second-nearest cell was tried and dropped: 0.86 → 0.93 on
#: that set, nothing at 1M, +4 s on the hard pool.
DEFAULT_PROBE = 3
WIDE_PROBE = 8
WIDE_PROBE_LIMIT = 200_000
#: Rows per tile: a 1,024 × 1,024 block is 4 MB, and a cell's self-pair at this size
#: wastes little work below its diagonal (1M pool: 2.97e12 flops against 3.37e12 at 2,048).
TILE_ROWS = 1_024
#: Rows assigned to cells per FAISS search (a float16 pool: converted a block at a time).
_ASSIGN_ROWS = 1 << 16
#: Workers sharing the tiles. Fixed, not the core count, so that the same pool gives the
#: same lists (equal similarities keep the order of their offers) on any machine.
WORKERS = 2
#: Most cells: assigning 1M items to 2,048 cells took 12 s against 6 s for 1,024. (Assigning
#: each item among the centroids of its nearest group of centroids only, ~1 s, dropped
#: recall on bench_ingest.py's hard 1M pool to 0.56.)
MAX_CELLS = 1_024
#: k-means training points: 64 per cell at 100k, 32 at 1M. Centroids from 8 points per cell
#: fragmented the small clusters of bench_ingest.py's hard pool (recall 0.44 at 100k; 32 per
#: cell 0.87, 64 0.96); training costs points × cells (64 per cell at 1M: +2 s).
_TRAIN_POINTS = 1 << 15


def pool_neighbors(vectors: np.ndarray, *, neighbors: int = 10, exact_limit: int = 50_000, seed: int = 0,
                   probe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``neighbors`` nearest *other* rows of every row of unit ``vectors`` (float32, or
    float16 read as float32 a block at a time):
    (similarities float32, row indices int64), each ``n × m`` with m = min(neighbors, n − 1),
    most similar first. A neighbour the approximate search did not find has index -1
    (similarity -inf). ``probe``: cells paired with each cell (default by pool size, see
    DEFAULT_PROBE)."""
    n = len(vectors)
    m = min(neighbors, n - 1)
    if m <= 0:
        return np.empty((n, 0), dtype=np.float32), np.empty((n, 0), dtype=np.int64)
    x = vectors if vectors.dtype in (np.float32, np.float16) else vectors.astype(np.float32)
    if probe is None:
        probe = WIDE_PROBE if n <= WIDE_PROBE_LIMIT else DEFAULT_PROBE
    cells = _Cells.whole(n) if n <= exact_limit else _Cells.kmeans(x, seed=seed, probe=probe)
    sims, idx = _search(x, cells, k=m + 1)
    return drop_own(sims, idx.astype(np.int64), np.arange(n))


@dataclass(frozen=True)
class _Cells:
    """Rows grouped by cell (``order``, cell c being ``order[bounds[c]:bounds[c + 1]]``) and
    the unordered cell pairs whose blocks are searched (c ≤ o)."""

    order: np.ndarray
    bounds: np.ndarray
    pairs: list[tuple[int, int]]

    @classmethod
    def whole(cls, n: int) -> _Cells:
        return cls(order=np.arange(n), bounds=np.array([0, n]), pairs=[(0, 0)])

    @classmethod
    def kmeans(cls, x: np.ndarray, *, seed: int, probe: int) -> _Cells:
        n, d = x.shape
        # ~2·sqrt(n) cells: fewer, larger cells mix small clusters (hard pool at 100k, 256
        # cells: recall 0.78; 512: 0.96).
        nlist = min(MAX_CELLS, n, int(2 ** round(math.log2(2 * math.sqrt(n)))))
        train = min(n, _TRAIN_POINTS)
        kmeans = faiss.Kmeans(d, nlist, niter=10, seed=seed, spherical=True, min_points_per_centroid=1,
                              max_points_per_centroid=-(-train // nlist), verbose=False)
        sample = np.sort(np.random.default_rng(seed).choice(n, size=train, replace=False))
        kmeans.train(float32_rows(x, sample))
        cell = np.concatenate([kmeans.index.search(block, 1)[1][:, 0] for _, block in float32_blocks(x, _ASSIGN_ROWS)])
        _, near = faiss.knn(kmeans.centroids, kmeans.centroids, min(probe, nlist), metric=faiss.METRIC_INNER_PRODUCT)
        order = np.argsort(cell, kind="stable")
        bounds = np.searchsorted(cell[order], np.arange(nlist + 1))
        pairs = {(c, c) for c in range(nlist)}
        pairs.update((min(c, int(o)), max(c, int(o))) for c in range(nlist) for o in near[c])
        return cls(order=order, bounds=bounds, pairs=sorted(pairs))

    def members(self, c: int) -> np.ndarray:
        return self.order[self.bounds[c] : self.bounds[c + 1]]


def _search(x: np.ndarray, cells: _Cells, *, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` most similar rows among its cell pairs' (itself included)."""
    # A task is one tile of a cell's rows against the whole other cell (or, paired with
    # itself, against its rows from the tile on). Largest first, each to the less loaded
    # worker: the split depends only on the cells.
    tasks = []
    for c, o in cells.pairs:
        size_a, size_b = len(cells.members(c)), len(cells.members(o))
        for start in range(0, size_a if size_b else 0, TILE_ROWS):
            rows = min(TILE_ROWS, size_a - start)
            tasks.append((rows * (size_b - start if c == o else size_b), c, o, start))
    tasks.sort(key=lambda task: (-task[0], task[1:]))
    shares: list[list[tuple[int, int, int]]] = [[] for _ in range(WORKERS)]
    loads = [0] * WORKERS
    for work, c, o, start in tasks:
        w = loads.index(min(loads))
        loads[w] += work
        shares[w].append((c, o, start))

    def run(share: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
        sims, idx = empty_lists(len(x), k)
        block = np.empty((TILE_ROWS, TILE_ROWS), dtype=np.float32)
        gathered: tuple[tuple[int, int], np.ndarray, np.ndarray] | None = None
        for c, o, start in sorted(share):
            # A worker's tasks of one pair are consecutive: the other side is gathered once.
            if gathered is None or gathered[0] != (c, o):
                rows_b = cells.members(o).astype(np.int32)
                gathered = (c, o), rows_b, float32_rows(x, rows_b)
            _offer_task(x, cells, c, o, start, gathered[1], gathered[2], block, sims, idx)
        return sims, idx

    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(run, shares))
    sims, idx = results[0]
    for other_sims, other_idx in results[1:]:
        merge_lists(sims, idx, other_sims, other_idx)
    return sims, idx


def _offer_task(x: np.ndarray, cells: _Cells, c: int, o: int, start: int, rows_b: np.ndarray, xb: np.ndarray,
                block: np.ndarray, sims: np.ndarray, idx: np.ndarray) -> None:
    """Offer the blocks of one task: a tile of cell ``c``'s rows from ``start`` against
    ``rows_b``, cell ``o``'s rows (gathered in ``xb``)."""
    if c == o:
        rows_b, xb = rows_b[start:], xb[start:]
        rows_a, xa = rows_b[:TILE_ROWS], xb[:TILE_ROWS]
    else:
        rows_a = cells.members(c)[start : start + TILE_ROWS].astype(np.int32)
        xa = float32_rows(x, rows_a)
    for b in range(0, len(rows_b), TILE_ROWS):
        tile = xb[b : b + TILE_ROWS]
        out = _scratch(block, len(xa), len(tile))
        np.matmul(xa, tile.T, out=out)
        if c == o and b == 0:
            # The diagonal tile: rows_a against themselves, each pair seen from both sides.
            # (Halving it into two diagonals and a block offered both ways, to compute it
            # once rather than twice, was slower: smaller GEMMs, 23.8 s of search against 21.8.)
            offer_block_rows(out, rows_a, rows_b[: len(tile)], sims, idx)
        else:
            offer_block(out, rows_a, rows_b[b : b + TILE_ROWS], sims, idx)


def _scratch(block: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """A C-contiguous ``rows × columns`` view of the start of ``block``: the compiled
    kernels vectorise only over contiguous rows."""
    return block.reshape(-1)[: rows * columns].reshape(rows, columns)
