"""The pool's kNN graph, the ground that labels propagate over (:mod:`knn_al.learner.propagation`).

The survey already finds every item's m nearest pool neighbours (:mod:`knn_al.learner.density`);
the graph is those lists made undirected, W = A + Aᵀ, where A[u, v] is the similarity of v
to u when v is among u's neighbours. Mutual neighbours get both weights, a stronger bond
than a one-way one. Similarities are clipped at 0 (an anti-correlated "neighbour" carries
no label) and self-loops dropped. Kept as CSR arrays, the layout a push walks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["PoolGraph"]


@dataclass(frozen=True)
class PoolGraph:
    """Undirected weighted graph over pool rows: row u's edges are ``indices[indptr[u] :
    indptr[u + 1]]`` with ``weights`` alike; ``degree[u]`` is the sum of u's weights."""

    indptr: np.ndarray  # int64, n + 1
    indices: np.ndarray  # int32
    weights: np.ndarray  # float64
    degree: np.ndarray  # float64, n

    def __len__(self) -> int:
        return len(self.degree)

    @property
    def nbytes(self) -> int:
        return self.indptr.nbytes + self.indices.nbytes + self.weights.nbytes + self.degree.nbytes

    @classmethod
    def from_neighbors(cls, idx: np.ndarray, sims: np.ndarray) -> PoolGraph:
        """The graph of neighbour lists ``idx`` (n × m pool rows, -1 for none) with their
        similarities ``sims``."""
        n, m = idx.shape
        rows = np.repeat(np.arange(n, dtype=np.int64), m)
        cols = idx.ravel().astype(np.int64)
        w = np.clip(np.nan_to_num(sims.ravel().astype(np.float64), neginf=0.0), 0.0, None)
        keep = (cols >= 0) & (cols != rows) & (w > 0)
        a = sp.coo_matrix((w[keep], (rows[keep], cols[keep])), shape=(n, n))
        both = (a + a.T).tocsr()
        both.sum_duplicates()
        both.sort_indices()
        return cls(indptr=both.indptr.astype(np.int64), indices=both.indices.astype(np.int32),
                   weights=both.data.astype(np.float64), degree=np.asarray(both.sum(axis=1), dtype=np.float64).ravel())

    def matrix(self) -> sp.csr_matrix:
        """W as a scipy CSR matrix (n × n)."""
        n = len(self)
        return sp.csr_matrix((self.weights, self.indices, self.indptr), shape=(n, n))
