"""The survey's neighbour search (knn_al.learner.pool_knn) and its list kernels."""
from __future__ import annotations

import faiss
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knn_al.learner.pool_knn import TILE_ROWS, pool_neighbors
from knn_al.learner.top_lists import empty_lists, merge_lists, offer_block, offer_block_rows


def unit(n: int, d: int, *, seed: int = 0, clusters: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    if clusters:
        x += 2.0 * rng.standard_normal((clusters, d)).astype(np.float32)[rng.integers(0, clusters, n)]
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact(x: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    sims, idx = faiss.knn(x, x, m + 1, metric=faiss.METRIC_INNER_PRODUCT)
    return sims[:, 1:], idx[:, 1:]


def test_a_pool_within_the_exact_limit_gets_its_exact_neighbours():
    # More rows than a tile, so the symmetric tiles above the diagonal are exercised.
    x = unit(TILE_ROWS * 2 + 300, 24, seed=1)
    sims, idx = pool_neighbors(x, neighbors=7, exact_limit=len(x))
    want_sims, want_idx = exact(x, 7)
    assert idx.dtype == np.int64 and sims.dtype == np.float32
    np.testing.assert_allclose(sims, want_sims, atol=1e-5)
    assert (idx == want_idx).mean() > 0.999  # ties within float rounding may swap
    assert not (idx == np.arange(len(x))[:, None]).any()


def test_the_approximate_search_finds_nearly_all_neighbours_and_never_invents_one():
    x = unit(20_000, 32, seed=2, clusters=50)
    sims, idx = pool_neighbors(x, neighbors=10, exact_limit=0, seed=3)
    want_sims, want_idx = exact(x, 10)
    found = idx >= 0
    recall = np.mean([len(set(a[a >= 0]) & set(b)) / 10 for a, b in zip(idx, want_idx)])
    assert recall >= 0.95
    # Every similarity reported is the true one of that pair, and lists are sorted.
    rows = np.nonzero(found)[0]
    np.testing.assert_allclose(sims[found], np.einsum("ij,ij->i", x[rows], x[idx[found]]), atol=1e-5)
    assert (np.diff(np.where(found, sims, -2.0), axis=1) <= 1e-7).all()
    assert not (idx == np.arange(len(x))[:, None]).any()
    # No neighbour twice in a list.
    assert all(len(set(r[r >= 0])) == np.count_nonzero(r >= 0) for r in idx)


def test_the_same_pool_and_seed_give_the_same_lists():
    x = unit(6_000, 16, seed=4, clusters=20)
    first = pool_neighbors(x, neighbors=5, exact_limit=0, seed=7)
    again = pool_neighbors(x.copy(), neighbors=5, exact_limit=0, seed=7)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])


@pytest.mark.parametrize("n", [1, 2, 3])
def test_tiny_pools(n):
    sims, idx = pool_neighbors(unit(n, 4), neighbors=10, exact_limit=0)
    assert sims.shape == idx.shape == (n, n - 1)
    if n > 1:
        assert (idx >= 0).all()


def brute_lists(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k largest (value, column), ties by column: what the offers should keep."""
    order = np.lexsort((np.broadcast_to(np.arange(values.shape[1]), values.shape), -values), axis=1)[:, :k]
    return np.take_along_axis(values, order, axis=1), order


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 9), st.integers(1, 30), st.integers(0, 2**32 - 1), st.booleans())
def test_offers_keep_each_rows_k_best(k, n, seed, coarse):
    rng = np.random.default_rng(seed)
    # Coarse values make ties: an equal value must go after the one offered first.
    values = (rng.integers(0, 5, (n, n)) if coarse else rng.standard_normal((n, n))).astype(np.float32)
    values = np.triu(values) + np.triu(values, 1).T  # symmetric, like similarities
    sims, idx = empty_lists(n, k)
    rows = np.arange(n, dtype=np.int32)
    half = n // 2
    # Offered as a symmetric search does: the two diagonal blocks one way, the block between both ways.
    offer_block_rows(values[:half, :half].copy(), rows[:half], rows[:half], sims, idx)
    offer_block_rows(values[half:, half:].copy(), rows[half:], rows[half:], sims, idx)
    offer_block(values[:half, half:].copy(), rows[:half], rows[half:], sims, idx)
    want_sims, _ = brute_lists(values, min(k, n))
    np.testing.assert_array_equal(sims[:, : min(k, n)], want_sims)
    assert (idx[:, min(k, n):] == -1).all()
    # Each index holds its own value, and none twice.
    for r in range(n):
        kept = idx[r][idx[r] >= 0]
        assert len(set(kept)) == len(kept)
        np.testing.assert_array_equal(values[r, kept], sims[r, : len(kept)])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_merged_lists_hold_the_best_of_both(k, seed):
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((5, 20)).astype(np.float32)
    lists = []
    for cols in (np.arange(0, 20, 2), np.arange(1, 20, 2)):
        sims, idx = empty_lists(5, k)
        offer_block_rows(values[:, cols].copy(), np.arange(5, dtype=np.int32), cols.astype(np.int32), sims, idx)
        lists.append((sims, idx))
    merge_lists(*lists[0], *lists[1])
    want_sims, want_idx = brute_lists(values, k)
    np.testing.assert_array_equal(lists[0][0], want_sims)
    np.testing.assert_array_equal(lists[0][1], want_idx)
