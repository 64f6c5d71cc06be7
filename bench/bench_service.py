"""gRPC overhead on top of the learner: NextSample and SubmitLabel through the client vs in-process.

    python bench/bench_service.py [--items 100000] [--dimension 512] [--iterations 200]

Builds a project of random unit vectors in a temporary data dir (through AddItems), then
alternates rounds of the annotator loop (NextSample of one item, then SubmitLabel of it):
in-process on the project store, then through the Python client against a `knn-al serve` process on loopback
serving the same data dir (it replays the project, density included). Both sides include
the SQLite commit of every lease and label (an fsync per label).

Prints p50/p99 latencies of both. The gRPC overhead (target ≤ 2 ms p50) is measured per
call: the client's latency minus the time the server spent in the library for that same
call (the ``knn-al-compute-ms`` trailer), which keeps the fsync and CPU-contention noise of
a shared machine out of it; the plain difference of the two p50s is printed too (Δp50).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from knn_al.projects.store import ProjectStore
from knn_al.simulation.server_process import ServerProcess


def annotate(next_sample: Callable[[], str], submit: Callable[[str, str], object], iterations: int,
             compute_ms: Callable[[], float | None] = lambda: None) -> np.ndarray:
    """Run the annotator loop. Returns a (4, iterations) array in ms: NextSample and
    SubmitLabel latencies, then the server compute time of each (NaN in-process)."""
    out = np.full((4, iterations), np.nan)
    for i in range(iterations):
        t0 = time.perf_counter()
        item = next_sample()
        t1 = time.perf_counter()
        out[2, i] = compute_ms() or np.nan
        submit(item, f"class-{i % 5}")
        out[3, i] = compute_ms() or np.nan
        out[0, i], out[1, i] = (t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dimension", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=8, help="alternating in-process / gRPC rounds")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        rng = np.random.default_rng(0)
        vectors = rng.normal(size=(args.items, args.dimension)).astype(np.float32)
        ids = [f"item-{i}" for i in range(args.items)]
        # Build through the service (the real ingestion path), so the FAISS density search
        # runs in a server process and this process starts as clean as every later server.
        server = ServerProcess(data)
        try:
            with server.client(timeout=600) as client:
                client.create_project("bench", args.dimension)
                t0 = time.perf_counter()
                client.add_items("bench", ids, vectors)
                print(f"added {args.items} × {args.dimension} through AddItems in {time.perf_counter() - t0:.1f} s",
                      file=sys.stderr)
        finally:
            server.stop()
        # Alternate in-process and gRPC rounds, each on a freshly opened (replayed) store, so
        # both sides share the same history and any background load on the machine.
        local, remote = np.empty((4, 0)), np.empty((4, 0))
        per_round = max(1, args.iterations // args.rounds)
        for _ in range(args.rounds):
            store = ProjectStore(data)
            project = store.get("bench")
            loop = (lambda: project.next_sample(1)[0].id, lambda i, lab: project.label([i], [lab]))
            annotate(*loop, 5)
            local = np.hstack([local, annotate(*loop, per_round)])
            store.close()
            server = ServerProcess(data)
            try:
                with server.client() as client:
                    loop = (lambda: client.next_sample("bench", 1)[0].id,
                            lambda i, lab: client.submit_label("bench", i, lab))
                    annotate(*loop, 5)
                    remote = np.hstack([remote, annotate(*loop, per_round, lambda: client.last_compute_ms)])
            finally:
                server.stop()

    n = local.shape[1]
    print(f"\n{args.items} items × {args.dimension}, {n} calls each, ms "
          "(overhead: per call, client latency − server compute)")
    print(f"{'call':<12} {'in-process':>11} {'p99':>7} {'gRPC':>7} {'p99':>7} {'compute':>8} "
          f"{'overhead':>9} {'p99':>6} {'Δp50':>6}")
    for name, row in (("NextSample", 0), ("SubmitLabel", 1)):
        pa, pb = np.percentile(local[row], [50, 99]), np.percentile(remote[row], [50, 99])
        over = np.percentile(remote[row] - remote[row + 2], [50, 99])
        print(f"{name:<12} {pa[0]:>11.2f} {pa[1]:>7.2f} {pb[0]:>7.2f} {pb[1]:>7.2f} "
              f"{np.median(remote[row + 2]):>8.2f} {over[0]:>9.2f} {over[1]:>6.2f} {pb[0] - pa[0]:>6.2f}")


if __name__ == "__main__":
    main()
