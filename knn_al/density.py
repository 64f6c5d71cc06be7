"""Density: how typical an item is of the pool.

i(x) is the mean cosine similarity of x to its m nearest *other* pool items. It is found
once per ingestion with a FAISS kNN search, never an N×N matrix: exact brute force for
pools up to ``exact_limit`` items, an IVF index above (exact search is quadratic: about
25 s for 50k × 512 on 2 cores, 100 s for 100k).
"""
from __future__ import annotations

import math

import faiss
import numpy as np


def knn_density(
    vectors: np.ndarray,
    *,
    neighbors: int = 10,
    exact_limit: int = 50_000,
    seed: int = 0,
) -> np.ndarray:
    """Mean similarity of each row of ``vectors`` (unit rows) to its ``neighbors`` nearest other rows.

    Returns a float32 array of length ``len(vectors)``; a pool of one item has density 0.
    """
    n = len(vectors)
    m = min(neighbors, n - 1)
    if m <= 0:
        return np.zeros(n, dtype=np.float32)
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if n <= exact_limit:
        sims, idx = faiss.knn(x, x, m + 1, metric=faiss.METRIC_INNER_PRODUCT)
    else:
        sims, idx = _ivf_search(x, m + 1, seed=seed)
    return _mean_excluding_self(sims, idx, m)


def _mean_excluding_self(sims: np.ndarray, idx: np.ndarray, m: int) -> np.ndarray:
    # The item itself is normally the first hit, but an exact duplicate can outrank it:
    # drop the column holding the row's own index, or the last one if self was not found.
    rows = np.arange(len(sims))[:, None]
    is_self = idx == rows
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), sims.shape[1] - 1)
    keep = np.ones(sims.shape, dtype=bool)
    keep[np.arange(len(sims)), drop] = False
    # Missing hits (an approximate search may return fewer) come back as -1 indices.
    valid = keep & (idx >= 0)
    total = np.where(valid, sims, 0.0).sum(axis=1)
    count = np.maximum(valid.sum(axis=1), 1)
    return (total / count).astype(np.float32)


def _ivf_search(x: np.ndarray, k: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    n, d = x.shape
    nlist = int(min(4096, max(64, 2 ** round(math.log2(math.sqrt(n))))))
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    train_size = min(n, nlist * 64)
    sample = np.random.default_rng(seed).choice(n, size=train_size, replace=False)
    index.train(x[np.sort(sample)])
    index.add(x)
    index.nprobe = max(8, nlist // 64)
    return index.search(x, k)
