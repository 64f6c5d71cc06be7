"""gRPC overhead on top of the learner: NextSample and SubmitLabel through the client vs in-process.

    python bench/bench_service.py [--items 100000] [--dimension 512] [--iterations 200]

Builds a project of random unit vectors in a temporary data dir, then alternates rounds of
the annotator loop (NextSample of one item, then SubmitLabel of it): in-process on the
project store, then through the Python client against a `knn-al serve` process on loopback
serving the same data dir (it replays the project, density included). Prints p50/p99 latencies of both and the difference (target ≤ 2 ms p50).
Both include the SQLite commit (fsync) every label and lease costs.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knn_al.project import ProjectSettings  # noqa: E402
from knn_al.store import ProjectStore  # noqa: E402
from tests.service_helpers import ServerProcess  # noqa: E402


def annotate(next_sample: Callable[[], str], submit: Callable[[str, str], object], iterations: int,
             ) -> np.ndarray:
    """Run the annotator loop; return (2, iterations) NextSample and SubmitLabel latencies in ms."""
    sample_ms, label_ms = [], []
    for i in range(iterations):
        t0 = time.perf_counter()
        item = next_sample()
        t1 = time.perf_counter()
        submit(item, f"class-{i % 5}")
        t2 = time.perf_counter()
        sample_ms.append((t1 - t0) * 1e3)
        label_ms.append((t2 - t1) * 1e3)
    return np.array([sample_ms, label_ms])


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
        store = ProjectStore(data)
        project = store.create(ProjectSettings(name="bench", dimension=args.dimension))
        t0 = time.perf_counter()
        project.add_items(ids, vectors)
        print(f"added {args.items} × {args.dimension} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        store.close()
        # Alternate in-process and gRPC rounds, each on a freshly opened (replayed) store, so
        # both sides share the same history and any background load on the machine.
        local, remote = (np.empty((2, 0)), np.empty((2, 0)))
        per_round = max(1, args.iterations // args.rounds)
        for _ in range(args.rounds):
            store = ProjectStore(data)
            project = store.get("bench")
            annotate(lambda: project.next_sample(1)[0].id, lambda i, lab: project.label([i], [lab]), 5)
            local = np.hstack([local, annotate(lambda: project.next_sample(1)[0].id,
                                               lambda i, lab: project.label([i], [lab]), per_round)])
            store.close()
            server = ServerProcess(data)
            try:
                with server.client() as client:
                    next_sample = lambda: client.next_sample("bench", 1)[0].id  # noqa: E731
                    submit = lambda i, lab: client.submit_label("bench", i, lab)  # noqa: E731
                    annotate(next_sample, submit, 5)
                    remote = np.hstack([remote, annotate(next_sample, submit, per_round)])
            finally:
                server.stop()

    print(f"\n{args.items} items × {args.dimension}, {args.iterations} calls each (ms)")
    print(f"{'call':<12} {'in-process p50':>15} {'p99':>8} {'gRPC p50':>10} {'p99':>8} {'overhead p50':>13}")
    for name, a, b in (("NextSample", local[0], remote[0]), ("SubmitLabel", local[1], remote[1])):
        pa, pb = np.percentile(a, [50, 99]), np.percentile(b, [50, 99])
        print(f"{name:<12} {pa[0]:>15.2f} {pa[1]:>8.2f} {pb[0]:>10.2f} {pb[1]:>8.2f} {pb[0] - pa[0]:>13.2f}")


if __name__ == "__main__":
    main()
