"""Speed and memory of the learner on synthetic clustered pools, beside a modAL step.

Run:  .venv/bin/python bench/bench_learner.py            (N = 100k and 1M, d = 512; ~10 min)
      .venv/bin/python bench/bench_learner.py --sizes 100000 --no-modal   (quicker)
      .venv/bin/python bench/bench_learner.py --sizes 100000 1000000 --models knn graph --no-modal
                                                         (the graph model beside kNN)
      .venv/bin/python bench/bench_learner.py --sizes 1000000 --vector-dtypes float32 float16 --no-modal
                                                         (half-precision vectors beside float32)

Prints one table column per pool size, model (``--models``, default knn only) and vector
dtype (``--vector-dtypes``, default float32 only), each on a fresh pool. Latencies are wall-clock p50/p99 over repeated calls
after a warm-up of labels, so the numbers describe a project in use, not a cold one.
"""
from __future__ import annotations

import argparse
import resource
import time
import warnings

import numpy as np

from knn_al.learner import Learner


def clustered_pool(n: int, d: int, *, clusters: int = 200, classes: int = 20, seed: int = 0, spread: float = 0.9):
    """Gaussian clusters on the sphere (noise ``spread`` × a centre's scale); each cluster
    belongs to one of ``classes``."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, d)).astype(np.float32)
    assign = rng.integers(0, clusters, n)
    x = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        x[start:stop] = centers[assign[start:stop]] + spread * rng.standard_normal((stop - start, d), dtype=np.float32)
    return x, (assign % classes).astype(str)


def timed(fn, repeat: int) -> np.ndarray:
    out = []
    for i in range(repeat):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
    return np.array(out) * 1000


def reset_peak_rss() -> None:
    """Restart the peak RSS (ru_maxrss) from the current RSS where Linux allows it, so a
    column's peak growth is its own and not an earlier column's peak."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def bench_size(n: int, d: int, *, warm_labels: int, seed: int, model: str = "knn",
               vector_dtype: str = "float32") -> dict:
    x, truth = clustered_pool(n, d, seed=seed)
    ids = [f"item-{i:07d}" for i in range(n)]
    reset_peak_rss()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    learner = Learner(dimension=d, seed=seed, model=model, vector_dtype=vector_dtype)
    t = time.perf_counter()
    learner.add_items(ids, x)
    ingest_s = time.perf_counter() - t
    del x
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    cursor = 0

    def next_rows(count: int) -> np.ndarray:
        nonlocal cursor
        rows = order[cursor : cursor + count]
        cursor += count
        return rows

    warm = next_rows(warm_labels)
    learner.label([ids[r] for r in warm], list(truth[warm]))

    def label_one(_):
        (r,) = next_rows(1)
        learner.label([ids[r]], [truth[r]])

    def label_batch(size: int):
        rows = next_rows(size)
        learner.label([ids[r] for r in rows], list(truth[rows]))

    def step(_):  # one active-learning step: the annotator's label, then the next pick
        pick = learner.select(1)[0]
        learner.label([pick.id], [truth[pick.row]])

    one_label = timed(label_one, 30)
    batch = timed(lambda _: label_batch(64), 5) / 64
    # A bulk import: the rows' best new labels come from a FAISS kNN search (knn_al.learner.neighbors).
    bulk = timed(lambda _: label_batch(1024), 2) / 1024
    gflops = sgemm_gflops(d)
    pick1 = timed(lambda i: learner.select(1, seed=i), 50)
    pick100 = timed(lambda i: learner.select(100, seed=i), 20)
    learner.hand_out([p.id for p in learner.select(50, seed=99)])  # annotators at work
    pick1_leased = timed(lambda i: learner.select(1, seed=i), 30)
    probe = [ids[r] for r in order[-1:]]
    predict_id = timed(lambda i: learner.predict_proba(probe), 50)
    query = np.random.default_rng(1).standard_normal((1, d)).astype(np.float32)
    predict_vec = timed(lambda i: learner.predict_proba_vectors(query), 50)
    al_step = timed(step, 20)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "n": n, "model": model, "dtype": vector_dtype, "ingest_s": ingest_s, "labeled": learner.n_labeled,
        "pick1": pick1, "pick100": pick100, "pick1_leased": pick1_leased,
        "label1": one_label, "label_batch": batch, "label_bulk": bulk, "gflops": gflops,
        "predict_id": predict_id, "predict_vec": predict_vec,
        "al_step": al_step, "bytes_per_item": learner.pool_nbytes / learner.n_items,
        "rss_per_item": (rss_after - rss_before) * 1024 / n,
    }


def modal_comparison(n: int, d: int, *, label_counts: list[int], seed: int) -> list[dict]:
    """One AL step of knn-al against one modAL query step on the same pool, at each of
    ``label_counts`` labeled items.

    modAL (ActiveLearner + scikit-learn KNeighborsClassifier, uncertainty sampling)
    teaches the label by refitting and queries by predicting the whole pool, so its step
    grows with the labeled set; knn-al's is one pass over the pool plus a pick at any size.
    """
    from modAL.models import ActiveLearner
    from modAL.uncertainty import uncertainty_sampling
    from sklearn.neighbors import KNeighborsClassifier

    # modAL passes a scikit-learn argument that was renamed in 1.6; the warning is theirs.
    warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")
    x, truth = clustered_pool(n, d, seed=seed)
    ids = [f"item-{i:07d}" for i in range(n)]
    learner = Learner(dimension=d, seed=seed)
    learner.add_items(ids, x)
    x = learner.vectors_  # the same unit vectors for both
    order = np.random.default_rng(seed).permutation(n)
    results = []
    for count in sorted(label_counts):
        todo = [r for r in order[:count] if learner.status_[r] == 0]
        for start in range(0, len(todo), 256):
            rows = todo[start : start + 256]
            learner.label([ids[r] for r in rows], list(truth[rows]))

        def ours(_):  # the annotator's label of the last pick, then the next pick
            pick = learner.select(1)[0]
            learner.label([pick.id], [truth[pick.row]])

        seen = order[:count]
        al = ActiveLearner(estimator=KNeighborsClassifier(n_neighbors=10, weights="distance"),
                           query_strategy=uncertainty_sampling, X_training=x[seen], y_training=truth[seen])

        def theirs(_):
            idx, _ = al.query(x)
            al.teach(x[idx], truth[idx])

        print(f"  {count:,} labels ...", flush=True)
        results.append({"labels": count, "ours": timed(ours, 20), "modal": timed(theirs, 3)})
    return results


def sgemm_gflops(d: int) -> float:
    """SGEMM speed here and now: the shape of a bulk label pass's blocks (65,536 pool rows
    against 1,024 new labels), best of 3."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((65_536, d), dtype=np.float32)
    b = rng.standard_normal((d, 1_024), dtype=np.float32)
    best = min(timed(lambda _: a @ b, 3)) / 1000
    return 2 * a.shape[0] * d * b.shape[1] / best / 1e9


def floor_rate(r: dict, d: int) -> float:
    """Labels/s if every label cost only its exact update's flops (its similarity to every
    pool vector, 2·N·d) at this run's SGEMM speed."""
    return r["gflops"] * 1e9 / (2 * r["n"] * d)


def fmt(ms: np.ndarray) -> str:
    return f"{np.percentile(ms, 50):8.2f} / {np.percentile(ms, 99):8.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="pool sizes")
    parser.add_argument("--dim", type=int, default=512, help="vector dimension")
    parser.add_argument("--warm-labels", type=int, default=500, help="labels before timing starts")
    parser.add_argument("--no-modal", action="store_true", help="skip the modAL comparison")
    parser.add_argument("--modal-labels", type=int, nargs="+", default=[500, 1_000, 2_000, 5_000],
                        help="labeled-set sizes at which to compare with modAL (on the smallest pool)")
    parser.add_argument("--models", nargs="+", default=["knn"], choices=["knn", "graph", "auto"],
                        help="Learner models to time, each on a fresh pool of every size (default: knn)")
    parser.add_argument("--vector-dtypes", nargs="+", default=["float32"], choices=["float32", "float16"],
                        help="how the pool stores vectors; each on a fresh pool of every size (default: float32)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    d = args.dim
    # Name the model and dtype in progress lines and column heads when there is a choice.
    named = args.models != ["knn"] or args.vector_dtypes != ["float32"]
    rows = []
    for n in args.sizes:
        for model in args.models:
            for dtype in args.vector_dtypes:
                print(f"building pool N={n:,} d={d}{f' model={model} {dtype}' if named else ''} ...", flush=True)
                rows.append(bench_size(n, d, warm_labels=args.warm_labels, seed=args.seed, model=model,
                                       vector_dtype=dtype))
    comparison = []
    if not args.no_modal:
        n = min(args.sizes)
        print(f"knn-al and modAL steps on a fresh pool N={n:,} ...", flush=True)
        comparison = modal_comparison(n, d, label_counts=args.modal_labels, seed=args.seed)

    print()
    print(f"d = {d}, k = 10, max_candidates = 20,000; latencies in ms as p50 / p99")
    print(f"{'':34}" + "".join(f"{'N = ' + format(r['n'], ',') + (' ' + r['model'] + ' f' + r['dtype'][-2:] if named else ''):>22}"
                               for r in rows))
    lines = [
        ("ingest (add + density), s", lambda r: f"{r['ingest_s']:22.1f}"),
        ("pick 1", lambda r: f"{fmt(r['pick1']):>22}"),
        ("pick 100 (one batch)", lambda r: f"{fmt(r['pick100']):>22}"),
        ("pick 1, 50 items handed out", lambda r: f"{fmt(r['pick1_leased']):>22}"),
        ("label 1", lambda r: f"{fmt(r['label1']):>22}"),
        ("label, per label in batches of 64", lambda r: f"{fmt(r['label_batch']):>22}"),
        ("labels/s in batches of 64", lambda r: f"{1000 / np.percentile(r['label_batch'], 50):22.0f}"),
        ("labels/s in batches of 1,024", lambda r: f"{1000 / np.percentile(r['label_bulk'], 50):22.0f}"),
        ("SGEMM GFLOP/s (this run)", lambda r: f"{r['gflops']:22.0f}"),
        ("compute floor labels/s (2·N·d flops)", lambda r: f"{floor_rate(r, d):22.0f}"),
        ("batches of 1,024 / floor", lambda r: f"{1000 / np.percentile(r['label_bulk'], 50) / floor_rate(r, d):22.2f}"),
        ("predict 1 pool item", lambda r: f"{fmt(r['predict_id']):>22}"),
        ("predict 1 new vector", lambda r: f"{fmt(r['predict_vec']):>22}"),
        ("AL step (pick + label)", lambda r: f"{fmt(r['al_step']):>22}"),
        ("learner bytes/item (4d+128 = " + str(4 * d + 128) + ")", lambda r: f"{r['bytes_per_item']:22.0f}"),
        ("peak RSS growth bytes/item", lambda r: f"{r['rss_per_item']:22.0f}"),
    ]
    for name, cell in lines:
        print(f"{name:34}" + "".join(cell(r) for r in rows))
    if comparison:
        print(f"\nOne AL step at N = {min(args.sizes):,}, ms p50: knn-al (label + next pick) against modAL "
              f"(teach + query, KNeighborsClassifier k=10)")
        print(f"{'labeled':>9} {'knn-al':>9} {'modAL':>10} {'faster':>8}")
        for c in comparison:
            ours, theirs = np.percentile(c["ours"], 50), np.percentile(c["modal"], 50)
            print(f"{c['labels']:>9,} {ours:9.2f} {theirs:10,.0f} {theirs / ours:7,.0f}x")


if __name__ == "__main__":
    main()
