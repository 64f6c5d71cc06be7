"""gRPC and HTTP overhead on top of the learner: NextSample and SubmitLabel in-process, through the gRPC client, and through the HTTP/JSON API.

    python bench/bench_service.py [--items 100000] [--dimension 512] [--iterations 200]

Builds a project of random unit vectors in a temporary data dir (through AddItems), then
alternates rounds of the annotator loop (NextSample of one item, then SubmitLabel of it):
in-process on the project store, then against a `knn-al serve --http-port` process on
loopback serving the same data dir (it replays the project, density included), through the
Python gRPC client and through the HTTP API (`POST .../next`, `POST .../labels`, one
keep-alive connection, as a browser holds). Every side includes the SQLite commit of every
lease and label (an fsync per label).

Prints p50/p99 latencies. A transport's overhead (target ≤ 2 ms p50) is measured per call:
the client's latency minus the time the server spent in the library for that same call
(gRPC's ``knn-al-compute-ms`` trailer, HTTP's ``Server-Timing: compute``), which keeps the
fsync and CPU-contention noise of a shared machine out of it; the plain difference of the
p50s against in-process is printed too (Δp50).
"""
from __future__ import annotations

import argparse
import http.client
import json
import re
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


class HttpAnnotator:
    """The annotator loop over the HTTP API, on one keep-alive connection."""

    def __init__(self, url: str, project: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self._connection = http.client.HTTPConnection(host, int(port))
        self._base = f"/api/v1/projects/{project}"
        self.last_compute_ms: float | None = None

    def _post(self, path: str, body: dict) -> dict:
        self._connection.request("POST", self._base + path, json.dumps(body),
                                 {"Content-Type": "application/json"})
        response = self._connection.getresponse()
        payload = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {payload}")
        timing = re.search(r"compute;dur=([0-9.]+)", response.getheader("Server-Timing") or "")
        self.last_compute_ms = float(timing.group(1)) if timing else None
        return payload

    def next_sample(self) -> str:
        return self._post("/next", {"count": 1, "annotator": "bench"})["samples"][0]["id"]

    def submit(self, item: str, label: str) -> None:
        self._post("/labels", {"labels": {item: label}, "annotator": "bench"})

    def close(self) -> None:
        self._connection.close()


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
        local, remote, over_http = np.empty((4, 0)), np.empty((4, 0)), np.empty((4, 0))
        per_round = max(1, args.iterations // args.rounds)
        for _ in range(args.rounds):
            store = ProjectStore(data)
            project = store.get("bench")
            loop = (lambda: project.next_sample(1)[0].id, lambda i, lab: project.label([i], [lab]))
            annotate(*loop, 5)
            local = np.hstack([local, annotate(*loop, per_round)])
            store.close()
            server = ServerProcess(data, "--http-port", "0")
            try:
                with server.client() as client:
                    loop = (lambda: client.next_sample("bench", 1)[0].id,
                            lambda i, lab: client.submit_label("bench", i, lab))
                    annotate(*loop, 5)
                    remote = np.hstack([remote, annotate(*loop, per_round, lambda: client.last_compute_ms)])
                browser = HttpAnnotator(server.http_url, "bench")
                annotate(browser.next_sample, browser.submit, 5)
                over_http = np.hstack([over_http, annotate(browser.next_sample, browser.submit, per_round,
                                                           lambda: browser.last_compute_ms)])
                browser.close()
            finally:
                server.stop()

    n = local.shape[1]
    print(f"\n{args.items} items × {args.dimension}, {n} calls each, ms "
          "(overhead: per call, client latency − server compute)")
    print(f"{'call':<12} {'via':<11} {'p50':>7} {'p99':>7} {'compute':>8} {'overhead':>9} {'p99':>6} {'Δp50':>6}")
    for name, row in (("NextSample", 0), ("SubmitLabel", 1)):
        base = np.percentile(local[row], 50)
        print(f"{name:<12} {'in-process':<11} {base:>7.2f} {np.percentile(local[row], 99):>7.2f}")
        for via, times in (("gRPC", remote), ("HTTP/JSON", over_http)):
            p = np.percentile(times[row], [50, 99])
            over = np.percentile(times[row] - times[row + 2], [50, 99])
            print(f"{'':<12} {via:<11} {p[0]:>7.2f} {p[1]:>7.2f} {np.median(times[row + 2]):>8.2f} "
                  f"{over[0]:>9.2f} {over[1]:>6.2f} {p[0] - base:>6.2f}")


if __name__ == "__main__":
    main()
