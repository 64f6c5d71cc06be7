"""Label propagation (knn_al.learner.propagation) against a dense solve of the same model.

After any sequence of labels, unlabels, relabels and pool growth, the pushed scores equal
F = S · alpha (I − (1 − alpha) P)⁻¹ on the current graph within the push's guarantee
(|error| ≤ tolerance · degree per entry), and the kept self-scores equal π_i(i).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knn_al.learner.pool_knn import pool_neighbors
from knn_al.learner.graph import PoolGraph
from knn_al.learner.propagation import Propagation

ALPHA, TOLERANCE = 0.1, 1e-5


def unit(rng: np.random.Generator, n: int, d: int = 8) -> np.ndarray:
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def graph_of(vectors: np.ndarray, m: int = 4) -> PoolGraph:
    sims, idx = pool_neighbors(vectors, neighbors=m)
    return PoolGraph.from_neighbors(idx, sims)


def dense_ppr(graph: PoolGraph) -> np.ndarray:
    """Π with row i = π_i, an isolated item walking back to itself."""
    n = len(graph)
    w = graph.matrix().toarray()
    walk = np.divide(w, graph.degree[:, None], out=np.zeros_like(w), where=graph.degree[:, None] > 0)
    walk[graph.degree <= 0, graph.degree <= 0] = 1.0
    return ALPHA * np.linalg.inv(np.eye(n) - (1 - ALPHA) * walk)


def check(prop: Propagation, labels: dict[int, int]) -> None:
    ppr = dense_ppr(prop.graph)
    expected = np.zeros((max(prop.n_classes, 1), len(prop)))
    for row, code in labels.items():
        expected[code] += ppr[row]
    bound = TOLERANCE * np.maximum(prop.graph.degree, 1.0) + 1e-12
    scores = np.array([prop.scores(c) for c in range(prop.n_classes)]).reshape(prop.n_classes, len(prop))
    assert np.all(np.abs(scores - expected[: prop.n_classes]) <= bound)
    assert set(prop.self_scores_) == set(labels)
    for row in labels:
        assert abs(prop.self_scores_[row] - ppr[row, row]) <= bound[row]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), ops=st.lists(st.tuples(st.sampled_from("label unlabel relabel add".split()),
                                                               st.integers(0, 10**6)), min_size=1, max_size=25),
       page_shift=st.sampled_from([1, 2, 12]))
def test_incremental_scores_equal_a_dense_solve_after_any_operations(seed: int, ops: list[tuple[str, int]],
                                                                     page_shift: int) -> None:
    # Pages of 2 and 4 rows make pushes run out of pages and grow them midway.
    rng = np.random.default_rng(seed)
    vectors = unit(rng, 30)
    prop = Propagation(graph_of(vectors), alpha=ALPHA, tolerance=TOLERANCE, page_shift=page_shift)
    labels: dict[int, int] = {}

    def changing(step) -> None:
        """Run ``step``: the rows it says changed must hold every row whose scores did."""
        before = prop.class_scores(np.arange(len(prop)), 3)
        said = step()
        moved = np.flatnonzero((prop.class_scores(np.arange(len(prop)), 3) != before).any(axis=1))
        assert said is None or set(moved.tolist()) <= set(np.asarray(said).tolist())

    for op, pick in ops:
        n = len(prop)
        if op == "label" or (op in ("unlabel", "relabel") and not labels):
            row = pick % n
            code = pick % 3
            if row in labels:
                changing(lambda: prop.withdraw([row], labels[row]))
            changing(lambda: prop.add(row, code))
            labels[row] = code
        elif op == "unlabel":
            row = sorted(labels)[pick % len(labels)]
            changing(lambda: prop.withdraw([row], labels.pop(row)))
        elif op == "relabel":
            row = sorted(labels)[pick % len(labels)]
            changing(lambda: prop.withdraw([row], labels[row]))
            labels[row] = (labels[row] + 1) % 3
            changing(lambda: prop.add(row, labels[row]))
        else:
            vectors = np.concatenate([vectors, unit(rng, 1 + pick % 5)])
            rows = np.array(sorted(labels), dtype=np.int64)
            prop.regraph(graph_of(vectors), rows, np.array([labels[r] for r in rows], dtype=np.int64))
        check(prop, labels)


def test_a_label_reaches_its_neighbourhood_and_isolated_items_keep_their_own() -> None:
    rng = np.random.default_rng(0)
    clusters = np.concatenate([unit(rng, 1, 16) + 0.05 * rng.normal(size=(40, 16)) for _ in range(2)])
    vectors = (clusters / np.linalg.norm(clusters, axis=1, keepdims=True)).astype(np.float32)
    prop = Propagation(graph_of(vectors, 6), alpha=ALPHA, tolerance=TOLERANCE)
    prop.add(0, 0)
    prop.add(40, 1)
    predicted = prop.class_scores(np.arange(80), 2).argmax(axis=1)
    assert (predicted == np.repeat([0, 1], 40)).all()
    # Withdrawing a class's last label leaves nothing behind.
    prop.withdraw([40], 1)
    assert not prop.scores(1).any()


@pytest.mark.parametrize("n", [200, 2000])
def test_a_label_costs_work_bounded_by_the_tolerance_not_the_pool(n: int) -> None:
    rng = np.random.default_rng(1)
    prop = Propagation(graph_of(unit(rng, n, 16), 10), alpha=ALPHA, tolerance=1e-4)
    prop.add(0, 0)
    reached = np.count_nonzero(prop.scores(0))
    assert reached <= 1 / (ALPHA * 1e-4 * prop.graph.degree.min())


def test_a_class_holds_pages_only_where_its_labels_reach() -> None:
    """Two clusters with no edge between them, a class in each: each class's scores take
    pages of its own cluster's rows only, so memory follows the reach, not classes × pool."""
    rng = np.random.default_rng(0)
    far = np.zeros(8, dtype=np.float32)
    far[0] = 10.0
    vectors = np.concatenate([unit(rng, 40) * 0.1 + far, unit(rng, 40) * 0.1 - far])
    prop = Propagation(graph_of(vectors / np.linalg.norm(vectors, axis=1, keepdims=True)), alpha=ALPHA,
                       tolerance=TOLERANCE, page_shift=2)
    prop.add(3, 0)
    prop.add(50, 1)
    table = prop.pages_.table_
    assert (table[0, :10] >= 0).all() and (table[0, 10:] < 0).all()  # rows 0-39 are pages 0-9
    assert (table[1, :10] < 0).all() and (table[1, 10:] >= 0).all()
    assert prop.pages_.used_[0] == 20
    assert np.count_nonzero(prop.scores(0)[40:]) == 0 and np.count_nonzero(prop.scores(0)[:40]) == 40
