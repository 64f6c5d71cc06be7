"""Ingest: the pool survey's neighbour search, and a whole ``Learner.add_items``.

Run:  .venv/bin/python bench/bench_ingest.py                      (100k and 1M; ~10 min)
      .venv/bin/python bench/bench_ingest.py --sizes 100000       (quicker)
      .venv/bin/python bench/bench_ingest.py --sizes 100000 --methods survey previous ivf hnsw

Pools (d = 512, unit rows): ``clustered`` is bench_learner.py's (200 Gaussian clusters,
noise 0.9); ``hard`` has 1,000 smaller, wider clusters (noise 1.5), where cells cut through
clusters. Methods, each timed on its own:

- ``survey``: :func:`knn_al.learner.pool_knn.pool_neighbors`, what a project runs;
- ``previous``: the search it replaced (each k-means cell's items against the members of
  the 8 cells nearest its centroid, numpy selection), kept here as the baseline;
- ``ivf`` / ``hnsw``: FAISS IndexIVFFlat (4·sqrt(N) lists, nprobe 16) and IndexHNSWFlat
  (M 32, efSearch 64), built over the pool and searched with every item.

Recall@10: of 1,000 sampled items' 10 nearest others (exact, FAISS brute force), the share
each method found. Then ``add_items`` of the whole pool into a fresh learner (the survey
plus everything else), its seconds, the learner's bytes per item at rest and the peak RSS
growth per item while it ran.
"""
from __future__ import annotations

import argparse
import math
import resource
import time

import faiss
import numpy as np

from bench_learner import clustered_pool, reset_peak_rss
from knn_al.learner import Learner
from knn_al.learner.neighbors import drop_own
from knn_al.learner.pool_knn import pool_neighbors

M = 10
POOLS = {"clustered": {"clusters": 200, "spread": 0.9}, "hard": {"clusters": 1_000, "spread": 1.5}}


def previous(x: np.ndarray, *, seed: int = 0, probe: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The survey search before this one (knn_al/learner/density.py until 2026-12), as it was."""
    n, d = x.shape
    k = M + 1
    nlist = int(2 ** round(math.log2(2 * math.sqrt(n))))
    kmeans = faiss.Kmeans(d, nlist, niter=10, seed=seed, spherical=True,
                          min_points_per_centroid=16, max_points_per_centroid=32, verbose=False)
    kmeans.train(x[np.sort(np.random.default_rng(seed).choice(n, size=min(n, 32 * nlist), replace=False))])
    cell = kmeans.index.search(x, 1)[1][:, 0]
    _, near_cells = faiss.knn(kmeans.centroids, kmeans.centroids, min(probe, nlist), metric=faiss.METRIC_INNER_PRODUCT)
    by_cell = np.argsort(cell, kind="stable")
    bounds = np.searchsorted(cell[by_cell], np.arange(nlist + 1))
    sims = np.full((n, k), -np.inf, dtype=np.float32)
    idx = np.full((n, k), -1, dtype=np.int64)
    for c in range(nlist):
        members = by_cell[bounds[c] : bounds[c + 1]]
        if len(members) == 0:
            continue
        base = np.concatenate([by_cell[bounds[o] : bounds[o + 1]] for o in near_cells[c]])
        kk = min(k, len(base))
        for start in range(0, len(members), 2048):
            queries = members[start : start + 2048]
            block = x[queries] @ x[base].T
            top = np.argpartition(-block, kk - 1, axis=1)[:, :kk]
            top_sims = np.take_along_axis(block, top, axis=1)
            order = np.argsort(-top_sims, axis=1)
            sims[queries, :kk] = np.take_along_axis(top_sims, order, axis=1)
            idx[queries, :kk] = base[np.take_along_axis(top, order, axis=1)]
    return drop_own(sims, idx, np.arange(n))


def faiss_index(x: np.ndarray, index: faiss.Index) -> tuple[np.ndarray, np.ndarray]:
    if not index.is_trained:
        index.train(x[np.random.default_rng(0).choice(len(x), size=min(len(x), 256 * 1024), replace=False)])
    index.add(x)
    sims, idx = index.search(x, M + 1)
    return drop_own(sims, idx, np.arange(len(x)))


def ivf(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nlist = int(4 * math.sqrt(len(x)))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(x.shape[1]), x.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    index.nprobe = 16
    return faiss_index(x, index)


def hnsw(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    index = faiss.IndexHNSWFlat(x.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efSearch = 64
    return faiss_index(x, index)


METHODS = {"survey": lambda x: pool_neighbors(x, neighbors=M, seed=0), "previous": previous, "ivf": ivf, "hnsw": hnsw}


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[f >= 0]) & set(t)) / len(t) for f, t in zip(found, truth)]))


def run(pool: str, n: int, d: int, methods: list[str], queries: int) -> dict[str, float]:
    x, _ = clustered_pool(n, d, seed=0, **POOLS[pool])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sample = np.sort(np.random.default_rng(1).choice(n, size=queries, replace=False))
    _, exact = faiss.knn(x[sample], x, M + 1, metric=faiss.METRIC_INNER_PRODUCT)
    truth = drop_own(np.zeros(exact.shape, dtype=np.float32), exact, sample)[1]
    out: dict[str, float] = {}
    for method in methods:
        start = time.perf_counter()
        _, idx = METHODS[method](x)
        out[f"{method}_s"] = time.perf_counter() - start
        out[f"{method}_recall"] = recall(idx[sample], truth)
        print(f"  {method}: {out[f'{method}_s']:.1f} s, recall@{M} {out[f'{method}_recall']:.4f}", flush=True)
    ids = [f"item-{i:07d}" for i in range(n)]
    reset_peak_rss()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    learner = Learner(dimension=d, seed=0)
    start = time.perf_counter()
    learner.add_items(ids, x)
    out["add_s"] = time.perf_counter() - start
    out["peak_b"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024 / n
    out["rest_b"] = learner.pool_nbytes / n
    print(f"  add_items: {out['add_s']:.1f} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--pools", nargs="+", choices=sorted(POOLS), default=["clustered", "hard"])
    parser.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=["survey", "previous"])
    parser.add_argument("--dimension", type=int, default=512)
    parser.add_argument("--queries", type=int, default=1_000, help="sampled items whose recall is measured")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        for pool in args.pools:
            print(f"{pool} pool N={n:,} d={args.dimension} ...", flush=True)
            rows.append((pool, n, run(pool, n, args.dimension, args.methods, args.queries)))
    print(f"\nd = {args.dimension}, m = {M} neighbours; seconds and recall@{M} on {args.queries:,} sampled items")
    header = f"{'pool':>10} {'N':>10}" + "".join(f"{m + ' s':>12}{'recall':>8}" for m in args.methods)
    print(header + f"{'add_items s':>13}{'B/item rest':>13}{'B/item peak':>13}")
    for pool, n, r in rows:
        cells = "".join(f"{r[m + '_s']:12.1f}{r[m + '_recall']:8.3f}" for m in args.methods)
        print(f"{pool:>10} {n:>10,}" + cells + f"{r['add_s']:13.1f}{r['rest_b']:13.0f}{r['peak_b']:13.0f}")


if __name__ == "__main__":
    main()
