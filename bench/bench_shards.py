"""Sharded vs unsharded: NextSample and SubmitLabel latency with the pool on 1, 2 and 4
Ray actors (:mod:`knn_al.learner.sharded`), all on this machine.

Run:  .venv/bin/python bench/bench_shards.py                         (1M × 512; ~6 min)
      .venv/bin/python bench/bench_shards.py --size 200000           (quicker)

One clustered pool (bench_learner.py's); its survey is computed once and given to every
learner (the distributed survey is exact, O(N²·d / S) per shard: not a 1M ingest, see
docs/scale.md). Each learner gets the same 20 starting labels, then each of ``--steps``
rounds times a pick (``select(1)`` and its hand-out: NextSample's learner work) and
labeling it (``label``: SubmitLabel's). Same seeds: every configuration makes the same
picks, which the run checks. Also printed: the bytes per item the coordinator keeps
(the shards' are the pool's vectors and tables), and the network bytes a label and a
pick move (from the arrays sent and received, not measured on a wire).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from bench_learner import clustered_pool
from knn_al.learner import Learner
from knn_al.learner.sharded import ShardedLearner
from knn_al.sharding.ray_shards import connect


def _percentiles(times: list[float]) -> tuple[float, float]:
    ms = np.array(times) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--dimension", type=int, default=512)
    parser.add_argument("--shards", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    x, classes = clustered_pool(args.size, args.dimension, seed=0)
    ids = [f"i{i}" for i in range(args.size)]
    started = time.perf_counter()
    survey = Learner(dimension=args.dimension).survey(x)
    print(f"pool {args.size:,} x {args.dimension}; survey {time.perf_counter() - started:.1f} s (given to every learner)")
    factory = connect(None)
    rows = []
    reference: list[str] | None = None
    for shards in [1, *args.shards]:
        started = time.perf_counter()
        if shards == 1:
            learner: Learner = Learner(dimension=args.dimension, seed=0)
        else:
            learner = ShardedLearner(dimension=args.dimension, seed=0, shards=shards, shard_factory=factory)
        learner.add_items(ids, x, survey=survey)
        build = time.perf_counter() - started
        learner.label(ids[:20], list(classes[:20]))
        picks_t, labels_t, picked = [], [], []
        for step in range(args.steps):
            t0 = time.perf_counter()
            pick = learner.select(1, seed=step)[0]
            learner.hand_out([pick.id])
            t1 = time.perf_counter()
            learner.label([pick.id], [classes[int(pick.id[1:])]])
            t2 = time.perf_counter()
            picks_t.append(t1 - t0)
            labels_t.append(t2 - t1)
            picked.append(pick.id)
        if reference is None:
            reference = picked
        same = "yes" if picked == reference else "NO"
        coordinator = learner.coordinator_nbytes if isinstance(learner, ShardedLearner) else learner.pool_nbytes
        rows.append((shards, build, *_percentiles(picks_t), *_percentiles(labels_t), coordinator / args.size, same))
        del learner
    print(f"\n{'shards':>6} {'build s':>8} {'pick p50':>9} {'pick p99':>9} {'label p50':>10} {'label p99':>10} "
          f"{'coord B/item':>13} {'same picks':>10}")
    for shards, build, p50, p99, l50, l99, per_item, same in rows:
        print(f"{shards:>6} {build:>8.1f} {p50:>8.1f}ms {p99:>8.1f}ms {l50:>9.1f}ms {l99:>9.1f}ms {per_item:>13.0f} "
              f"{same:>10}")
    d, candidates = args.dimension, 20_000
    print(f"\nbytes moved (d = {d}, max_candidates = {candidates:,}): a label sends its vector to every shard, "
          f"{4 * d:,} B x S; a pick sends {candidates:,} rows (8 B) twice and receives 4 B x2 each: "
          f"~{candidates * 24 / 1e6:.2f} MB in all, whatever S")


if __name__ == "__main__":
    main()
