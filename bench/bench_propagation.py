"""Speed and memory of label propagation over the pool graph (knn_al.learner.propagation).

Run:  .venv/bin/python bench/bench_propagation.py                  (N = 100k and 1M, d = 512)
      .venv/bin/python bench/bench_propagation.py --sizes 100000   (quicker)

Per pool size: the survey's neighbour lists (the pool's m = 10 nearest items, as a
project's ingestion finds them; approximate above 50k items, and the bulk of the set-up
time), the graph built from them, then labels given one at a time on random items of a
clustered pool (bench_learner.py's pools: 200 clusters, 20 classes). Printed: a label's
p50 and p99 (its push, and the push that measures its own share for leave-one-out), the
score vectors it touched, and bytes per item of the graph and of the scores.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from bench_learner import clustered_pool
from knn_al.learner.pool_knn import pool_neighbors
from knn_al.learner.graph import PoolGraph
from knn_al.learner.pages import PAGE_SHIFT
from knn_al.learner.propagation import DEFAULT_TOLERANCE, Propagation


def run(n: int, d: int, labels: int, tolerance: float, *, classes: int, page_shift: int,
        grouped: bool) -> dict[str, float]:
    x, y = clustered_pool(n, d, classes=classes)
    if grouped:  # rows in class order, as an image folder per class embeds
        order = np.argsort(y, kind="stable")
        x, y = x[order], y[order]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    start = time.perf_counter()
    sims, idx = pool_neighbors(x, neighbors=10, seed=0)
    survey = time.perf_counter() - start
    start = time.perf_counter()
    graph = PoolGraph.from_neighbors(idx, sims)
    build = time.perf_counter() - start
    classes = {c: i for i, c in enumerate(sorted(set(y)))}
    prop = Propagation(graph, tolerance=tolerance, page_shift=page_shift)
    rows = np.random.default_rng(1).choice(n, size=labels + 20, replace=False)
    for row in rows[:20]:  # warm-up: compiles the push, fills the class rows
        prop.add(int(row), classes[y[row]])
    times, reached = [], []
    for row in rows[20:]:
        before = np.count_nonzero(prop.scores(classes[y[row]]))
        t = time.perf_counter()
        prop.add(int(row), classes[y[row]])
        times.append(time.perf_counter() - t)
        reached.append(np.count_nonzero(prop.scores(classes[y[row]])) - before)
    ms = 1000 * np.asarray(times)
    return {"survey_s": survey, "graph_s": build, "p50": float(np.median(ms)), "p99": float(np.percentile(ms, 99)),
            "reached": float(np.median(reached)), "graph_b": graph.nbytes / n,
            "scores_b": prop.nbytes / n, "classes": prop.n_classes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dimension", type=int, default=512)
    parser.add_argument("--labels", type=int, default=200, help="labels timed per size (default 200)")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    parser.add_argument("--classes", type=int, default=20, help="classes of the pool's clusters (default 20)")
    parser.add_argument("--page-shift", type=int, default=PAGE_SHIFT,
                        help=f"rows per page of the scores, as a power of 2 (default {PAGE_SHIFT})")
    parser.add_argument("--grouped", action="store_true",
                        help="rows in class order (as an embedded image folder per class), not at random")
    args = parser.parse_args()
    print(f"{'items':>9} {'survey s':>9} {'graph s':>8} {'label p50 ms':>13} {'p99 ms':>7} {'new nodes p50':>14} "
          f"{'graph B/item':>13} {'scores B/item':>14}")
    for n in args.sizes:
        r = run(n, args.dimension, args.labels, args.tolerance, classes=args.classes, page_shift=args.page_shift,
                grouped=args.grouped)
        print(f"{n:>9} {r['survey_s']:>9.1f} {r['graph_s']:>8.1f} {r['p50']:>13.2f} {r['p99']:>7.2f} "
              f"{r['reached']:>14.0f} {r['graph_b']:>13.0f} {r['scores_b']:>14.0f}  ({r['classes']:.0f} classes)",
              flush=True)


if __name__ == "__main__":
    main()
