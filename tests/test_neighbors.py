"""Neighbour tables built in bulk: the FAISS path gives the tables the numpy path gives."""
from __future__ import annotations

import numpy as np
import pytest

import knn_al.learner.neighbors as neighbors
from knn_al.learner import Learner
from knn_al.learner.neighbors import top_k
from knn_al.learner.vectors import as_unit_vectors
from tests.reference import Reference, uncertainty


@pytest.mark.parametrize("via_faiss", [False, True])
def test_top_k_orders_by_similarity_then_lower_index(monkeypatch, via_faiss):
    rng = np.random.default_rng(0)
    base = as_unit_vectors(rng.standard_normal((300, 8)), dimension=8)
    base = np.concatenate([base, base[:40]])  # rows 300-339 repeat rows 0-39: exact ties
    queries = as_unit_vectors(rng.standard_normal((200, 8)), dimension=8)
    monkeypatch.setattr(neighbors, "FAISS_PAIRS", 0 if via_faiss else 1 << 62)
    sims, idx = top_k(queries, base, 6)
    exact = queries.astype(np.float64) @ base.T.astype(np.float64)
    np.testing.assert_allclose(sims, -np.sort(-exact, axis=1)[:, :6], atol=1e-5)
    np.testing.assert_allclose(sims, np.take_along_axis(exact, idx, axis=1), atol=1e-5)
    # Equal similarities (a row and its copy): the lower index first.
    tied = sims[:, 1:] == sims[:, :-1]
    assert tied.any()
    assert (idx[:, 1:][tied] > idx[:, :-1][tied]).all()


def test_labeling_half_a_pool_at_once_builds_the_tables_a_brute_force_gives():
    # 6,000 items, 3,000 labels in one call: 18M (item, label) pairs take the FAISS path.
    rng = np.random.default_rng(1)
    centers = rng.standard_normal((20, 16))
    truth = rng.integers(0, 20, 6000)
    x = as_unit_vectors(centers[truth] + 0.7 * rng.standard_normal((6000, 16)), dimension=16)
    assert 6000 * 3000 >= neighbors.FAISS_PAIRS
    learner = Learner(dimension=16, k=7, duplicate_threshold=1.0)
    ids = [f"x{i}" for i in range(6000)]
    learner.add_items(ids, x)
    learner.label(ids[:10], [f"c{t % 4}" for t in truth[:10]])  # tables partly full before the bulk
    learner.label(ids[10:3000], [f"c{t % 4}" for t in truth[10:3000]])
    ref = Reference(vectors=x, k=7, smoothing=learner.smoothing, m=10)
    for r in range(3000):
        ref.label(r, f"c{truth[r] % 4}")
    sims, _ = ref.neighbors(x)
    np.testing.assert_allclose(learner.tables_.sim_, sims, atol=1e-5)
    np.testing.assert_allclose(learner.predict_proba(ids), ref.proba(x), atol=1e-5)
    np.testing.assert_allclose(learner.uncertainty_["margin"], uncertainty(ref.proba(x), "margin"), atol=1e-5)


def test_a_bulk_smaller_than_k_fills_the_tables_without_inventing_neighbours(monkeypatch):
    # k = 300 labeled neighbours, 256 labels at once through the FAISS path.
    monkeypatch.setattr(neighbors, "FAISS_PAIRS", 0)
    rng = np.random.default_rng(2)
    x = as_unit_vectors(rng.standard_normal((1000, 8)), dimension=8)
    learner = Learner(dimension=8, k=300, duplicate_threshold=1.0)
    ids = [f"x{i}" for i in range(1000)]
    learner.add_items(ids, x)
    learner.label(ids[:256], ["a", "b"] * 128)
    assert (learner.tables_.slot_[:, :256] >= 0).all() and (learner.tables_.slot_[:, 256:] == -1).all()
    ref = Reference(vectors=x, k=300, smoothing=learner.smoothing, m=10)
    for r in range(256):
        ref.label(r, ["a", "b"][r % 2])
    np.testing.assert_allclose(learner.predict_proba(ids), ref.proba(x), atol=1e-5)
