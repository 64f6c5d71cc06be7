"""Stream decisions and duplicate grouping at 1M items (issue 6 targets).

    python bench/bench_selective.py [--items 1000000] [--dimension 512] [--labels 2000] [--decisions 2000]

1. Surveys a synthetic clustered pool (bench_learner.clustered_pool, with ``--duplicates``
   of its items replaced by near-copies of others) and times the parts of ingestion
   separately: the kNN search (which density needs anyway), and the density and the
   duplicate grouping computed on its neighbour lists. Target: grouping ≤ the search.
2. Builds a project of that pool in a temporary data dir, labels ``--labels`` items, then
   streams ``--decisions`` new items from the same distribution through
   ``Project.decide`` (in-process) and through a `knn-al serve` process on loopback
   (StreamItems, one item in flight at a time). Target: a decision ≤ 2 ms p50 at 1M.
   Auto decisions (the common case) and queries (the item joins the pool) are timed apart.

Needs about 3 × 4·d bytes per item of memory (the pool, the project's copy, the server's).
"""
from __future__ import annotations

import argparse
import queue
import tempfile
import time
from pathlib import Path

import numpy as np

# The script's own folder is on sys.path when it runs as `python bench/bench_selective.py`.
from bench_learner import clustered_pool, fmt

from knn_al.learner.density import density_of
from knn_al.learner.pool_knn import pool_neighbors
from knn_al.learner.duplicates import duplicate_groups
from knn_al.learner.params import DEFAULT_DUPLICATE_THRESHOLD
from knn_al.projects.settings import ProjectSettings
from knn_al.projects.store import ProjectStore
from knn_al.simulation.server_process import ServerProcess


def survey_parts(x: np.ndarray) -> dict[str, float]:
    t0 = time.perf_counter()
    sims, idx = pool_neighbors(x, neighbors=10)
    t1 = time.perf_counter()
    density_of(sims, idx)
    t2 = time.perf_counter()
    groups = duplicate_groups(sims, idx, threshold=DEFAULT_DUPLICATE_THRESHOLD)
    t3 = time.perf_counter()
    sizes = np.bincount(groups)
    return {"search_s": t1 - t0, "density_s": t2 - t1, "group_s": t3 - t2, "groups": int((sizes > 1).sum())}


def print_survey(survey: dict[str, float]) -> None:
    print(f"{'kNN search of the survey (density needs it), s':52}{survey['search_s']:12.1f}")
    print(f"{'density from its neighbour lists, s':52}{survey['density_s']:12.2f}")
    print(f"{'duplicate grouping from its neighbour lists, s':52}{survey['group_s']:12.2f}"
          f"   ({survey['group_s'] / survey['search_s']:.2%} of the search; {survey['groups']:,} groups)", flush=True)


def lockstep_stream(client, project: str, items: list[tuple[str, np.ndarray]], threshold: float) -> list[float]:
    """Send one item, wait for its decision, send the next: per-decision round trips in ms."""
    turn: queue.Queue[None] = queue.Queue()
    sent: list[float] = []

    def requests():
        for item in items:
            sent.append(time.perf_counter())
            yield item
            turn.get()

    latencies = []
    for decision in client.stream(project, requests(), threshold=threshold):
        latencies.append((time.perf_counter() - sent[len(latencies)]) * 1e3)
        turn.put(None)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dimension", type=int, default=512)
    parser.add_argument("--labels", type=int, default=2_000, help="human labels before streaming")
    parser.add_argument("--decisions", type=int, default=2_000, help="stream items timed (half in-process, half gRPC)")
    parser.add_argument("--threshold", type=float, default=0.6, help="confidence threshold of the stream")
    parser.add_argument("--duplicates", type=float, default=0.05,
                        help="share of the pool replaced by near-copies (similarity ≈ 0.999) of other items")
    parser.add_argument("--survey-only", action="store_true", help="time the survey only (step 1)")
    args = parser.parse_args()
    n, d = args.items, args.dimension

    print(f"pool N={n:,} d={d}: survey ...", flush=True)
    x, truth = clustered_pool(n + args.decisions, d)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    stream_x, stream_truth = x[n:], truth[n:]
    x, truth = x[:n], truth[:n]
    rng = np.random.default_rng(1)
    copies = rng.choice(n, int(args.duplicates * n), replace=False)
    originals = rng.choice(np.setdiff1d(np.arange(n), copies), len(copies))
    x[copies] = x[originals] + 0.03 / np.sqrt(d) * rng.standard_normal((len(copies), d), dtype=np.float32)
    x[copies] /= np.linalg.norm(x[copies], axis=1, keepdims=True)
    truth[copies] = truth[originals]
    survey = survey_parts(x)
    print_survey(survey)
    if args.survey_only:
        return

    with tempfile.TemporaryDirectory(prefix="knn-al-bench-") as tmp:
        print("building the project (AddItems path, a second survey) ...", flush=True)
        store = ProjectStore(Path(tmp))
        project = store.create(ProjectSettings(name="bench", dimension=d))
        ids = [f"item-{i:07d}" for i in range(n)]
        project.add_items(ids, x)
        del x
        rows = np.random.default_rng(0).choice(n, args.labels, replace=False)
        for start in range(0, len(rows), 500):
            part = rows[start : start + 500]
            project.label([ids[r] for r in part], list(truth[part]))

        half = args.decisions // 2
        auto_ms, query_ms = [], []
        for i in range(half):
            t = time.perf_counter()
            decision = project.decide(f"stream-{i}", stream_x[i], threshold=args.threshold)
            (query_ms if decision.query else auto_ms).append((time.perf_counter() - t) * 1e3)
        store.close()

        print("the same through `knn-al serve` (StreamItems) ...", flush=True)
        server = ServerProcess(Path(tmp))
        try:
            client = server.client(timeout=600)
            items = [(f"stream-{i}", stream_x[i]) for i in range(half, args.decisions)]
            grpc_ms = lockstep_stream(client, "bench", items, args.threshold)
            stats = client.stats("bench")
            exported = {r.id: r.label for r in client.export("bench", include_predictions=True) if r.source == "auto"}
            correct = np.mean([exported[i] == stream_truth[int(i.split("-")[1])] for i in exported])
        finally:
            server.stop()

    print()
    print(f"N = {n:,}, d = {d}, {args.labels:,} labels, threshold {args.threshold}; latencies in ms as p50 / p99")
    print(f"{'stream decision in-process, auto (' + str(len(auto_ms)) + ')':52}{fmt(np.array(auto_ms)):>22}")
    if query_ms:
        print(f"{'stream decision in-process, query (' + str(len(query_ms)) + ')':52}{fmt(np.array(query_ms)):>22}")
    print(f"{'stream decision over gRPC, any (' + str(len(grpc_ms)) + ')':52}{fmt(np.array(grpc_ms)):>22}")
    print(f"auto labels {stats.auto_labeled:,}, queried {stats.pool_size - n:,}; "
          f"auto-label accuracy {correct:.3f}")


if __name__ == "__main__":
    main()
