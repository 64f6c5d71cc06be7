"""Cost of one replay-simulation step in-process: pick + label + periodic evaluation.

Run:  .venv/bin/python bench/bench_simulation.py                 (N = 20k, d = 512; ~1 min)
      .venv/bin/python bench/bench_simulation.py --sizes 5000 20000 --labels 300

A training fold of N pool items and a held-out fold of N/4 (the shape of a 5-fold split
of 1.25·N items) on synthetic clustered unit vectors. Each strategy labels ``--labels``
items one at a time, as `knn-al simulate` does, scoring the held-out fold every
``--every`` labels. The "step" column is wall time per label with the evaluation
amortised, the number behind "a 5-fold × 500-label × 5-strategy run on 20k items
finishes in minutes". Target: ≤ 5 ms at N = 20k.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from knn_al.simulation import LearnerDriver
from knn_al.simulation.metrics import accuracy
from knn_al.simulation.replay import pick_seed
from knn_al.learner.strategies import STRATEGY_NAMES

TARGET_MS = 5.0


def clustered(n: int, d: int, *, clusters: int = 100, classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters; each cluster belongs to one of ``classes``."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d)).astype(np.float32)
    assign = rng.integers(0, clusters, n)
    x = centres[assign] + 0.9 * rng.standard_normal((n, d), dtype=np.float32)
    return x, assign % classes


def bench(n: int, d: int, strategy: str, *, labels: int, every: int, seed: int) -> dict:
    x, y = clustered(n + n // 4, d, seed=seed)
    classes = [f"c{c}" for c in range(y.max() + 1)]
    ids = [f"item-{i:06d}" for i in range(n)]
    truth = dict(zip(ids, (classes[c] for c in y[:n])))
    test_x, test_y = x[n:], y[n:]
    session = LearnerDriver().open(name="bench", ids=ids, vectors=x[:n], classes=classes, held_out=test_x)
    pick_ms, label_ms, eval_ms = [], [], []
    started = time.perf_counter()
    for step in range(1, labels + 1):
        t0 = time.perf_counter()
        item = session.pick(strategy=strategy, seed=pick_seed(seed, 0, step))
        t1 = time.perf_counter()
        session.label([item], [truth[item]])
        t2 = time.perf_counter()
        pick_ms.append(t1 - t0)
        label_ms.append(t2 - t1)
        if step % every == 0:
            acc = accuracy(test_y, np.argmax(session.predict(), axis=1))
            eval_ms.append(time.perf_counter() - t2)
    step_ms = (time.perf_counter() - started) / labels * 1e3
    return {"n": n, "strategy": strategy, "pick": np.median(pick_ms) * 1e3, "label": np.median(label_ms) * 1e3,
            "eval": np.median(eval_ms) * 1e3, "step": step_ms, "accuracy": acc}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000])
    parser.add_argument("--dimension", type=int, default=512)
    parser.add_argument("--labels", type=int, default=300, help="labels per strategy")
    parser.add_argument("--every", type=int, default=10, help="score the held-out fold every N labels")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGY_NAMES), choices=STRATEGY_NAMES)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    threads = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"
    print(f"d = {args.dimension}, {args.labels} labels per strategy, held-out fold scored every {args.every} labels "
          f"(N/4 vectors); BLAS threads: {threads}; {os.cpu_count()} cores")
    print(f"{'N':>7}  {'strategy':<30} {'pick p50':>9} {'label p50':>10} {'eval p50':>9} {'step (amortised)':>17}"
          f"  {'target':>8}  {'acc at end':>10}")
    for n in args.sizes:
        for strategy in args.strategies:
            r = bench(n, args.dimension, strategy, labels=args.labels, every=args.every, seed=args.seed)
            verdict = "ok" if r["step"] <= TARGET_MS else "MISSED"
            print(f"{n:>7}  {strategy:<30} {r['pick']:>7.2f}ms {r['label']:>8.2f}ms {r['eval']:>7.2f}ms "
                  f"{r['step']:>15.2f}ms  {verdict:>8}  {r['accuracy']:>10.3f}", flush=True)


if __name__ == "__main__":
    main()
