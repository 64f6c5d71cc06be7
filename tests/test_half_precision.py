"""A pool that stores its vectors in half precision (vector_dtype="float16")."""
from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest

from knn_al.client import Client, ServiceError
from knn_al.errors import InvalidInputError
from knn_al.learner import Learner
from knn_al.learner.search import search
import knn_al.learner.neighbors as neighbors


def exact_in_half(n: int, d: int, *, seed: int) -> np.ndarray:
    """Unit vectors that float16 holds exactly (four entries of ±0.5), with every
    similarity a multiple of 0.25: both precisions compute the same numbers."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, d), dtype=np.float32)
    for row in x:
        row[rng.choice(d, 4, replace=False)] = rng.choice([-0.5, 0.5], 4)
    return x


def clustered(n: int, d: int, *, seed: int, clusters: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, d)).astype(np.float32)
    y = rng.integers(0, clusters, n)
    return centers[y] + 0.8 * rng.standard_normal((n, d)).astype(np.float32), y


def session(learner: Learner, ids: list[str], truth: np.ndarray, *, steps: int) -> list[list[str]]:
    """An annotator's session: batches of picks, each labeled with the truth. Returns the picks."""
    picked = []
    for step in range(steps):
        batch = [p.id for p in learner.select(5, seed=step)]
        picked.append(batch)
        learner.label(batch, [f"c{truth[ids.index(i)]}" for i in batch])
    return picked


def pair(x: np.ndarray, **params) -> tuple[Learner, Learner, list[str]]:
    ids = [f"i{r}" for r in range(len(x))]
    learners = []
    for dtype in ("float32", "float16"):
        learner = Learner(dimension=x.shape[1], seed=3, vector_dtype=dtype, **params)
        learner.add_items(ids, x)
        learners.append(learner)
    return learners[0], learners[1], ids


@pytest.mark.parametrize("model", ["knn", "graph"])
def test_a_half_precision_pool_picks_and_predicts_as_float32_where_both_hold_the_same_vectors(model, monkeypatch):
    # Passes over the pool in blocks of 1,000 rows: several blocks and a partial one.
    monkeypatch.setattr(neighbors, "BLOCK_ROWS", 1_000)
    x = exact_in_half(3_100, 32, seed=1)
    truth = np.argmax(x[:, :4], axis=1)
    full, half, ids = pair(x, model=model, exact_density_limit=1_000)
    assert half.vectors_.dtype == np.float16
    np.testing.assert_array_equal(full.density_, half.density_)
    assert session(full, ids, truth, steps=8) == session(half, ids, truth, steps=8)
    np.testing.assert_array_equal(full.predict_proba(ids), half.predict_proba(ids))
    # A bulk of labels (over 8 at once: the pool converted block by block, then GEMMs).
    bulk = ids[-300:]
    for learner in (full, half):
        learner.label(bulk, [f"c{truth[ids.index(i)]}" for i in bulk])
    np.testing.assert_array_equal(full.tables_.slot_, half.tables_.slot_)
    np.testing.assert_array_equal(full.predict_proba(ids), half.predict_proba(ids))
    new = exact_in_half(20, 32, seed=2)
    # A new vector's nearest pool items under the graph model come from a FAISS search of the
    # whole pool, or of one block after another: equally similar items may come in another
    # order, and their weights summed in another order.
    np.testing.assert_allclose(full.predict_proba_vectors(new), half.predict_proba_vectors(new), rtol=0, atol=1e-12)
    for query in ({"vector": new[0]}, {"item_id": ids[7]}):
        for a, b in zip(search(full, limit=20, **query), search(half, limit=20, **query)):
            np.testing.assert_array_equal(a, b)


def test_half_precision_changes_only_predictions_whose_vote_is_a_near_tie():
    x, y = clustered(4_000, 48, seed=4)
    full, half, ids = pair(x)
    labeled = [ids[r] for r in range(0, 4_000, 40)]
    for learner in (full, half):
        learner.label(labeled, [f"c{y[int(i[1:])]}" for i in labeled])
    p_full, p_half = full.predict_proba(ids), half.predict_proba(ids)
    differ = np.flatnonzero(p_full.argmax(axis=1) != p_half.argmax(axis=1))
    top2 = np.sort(p_full, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    # Similarities move by at most ~2^-11 each: a changed winner needs a vote that was
    # within about that of a tie.
    assert (margin[differ] < 0.01).all(), margin[differ]
    assert len(differ) <= 0.01 * len(ids)
    assert np.abs(p_full - p_half).max() < 0.01


def test_half_precision_halves_the_vectors_memory():
    x, _ = clustered(5_000, 256, seed=5)
    full, half, _ = pair(x)
    d = x.shape[1]
    assert full.pool_nbytes / 5_000 <= 4 * d + 128
    assert half.pool_nbytes / 5_000 <= 2 * d + 128


def test_a_learner_saved_in_half_precision_loads_in_half_precision(tmp_path):
    x, y = clustered(500, 16, seed=6)
    _, half, ids = pair(x)
    half.label(ids[:30], [f"c{v}" for v in y[:30]])
    half.save(tmp_path / "saved")
    loaded = Learner.load(tmp_path / "saved")
    assert loaded.vector_dtype == "float16" and loaded.vectors_.dtype == np.float16
    # Loading normalises the saved (rounded) vectors again, and rounds them again: a value
    # may move by one half-precision step.
    np.testing.assert_allclose(loaded.vectors_.astype(np.float32), half.vectors_.astype(np.float32), atol=2 ** -11)
    np.testing.assert_allclose(loaded.predict_proba(ids), half.predict_proba(ids), atol=1e-3)
    assert (loaded.predict_proba(ids).argmax(axis=1) == half.predict_proba(ids).argmax(axis=1)).all()


def test_an_unknown_vector_dtype_is_refused_with_the_choices():
    with pytest.raises(InvalidInputError, match="vector_dtype must be float32, or float16"):
        Learner(dimension=4, vector_dtype="bfloat16")


def test_a_project_created_in_half_precision_keeps_it_over_grpc_http_and_a_restart(serve, tmp_path):
    x = exact_in_half(600, 16, seed=7)
    ids = [f"i{r}" for r in range(len(x))]
    labels = {ids[r]: f"c{np.argmax(x[r, :4])}" for r in range(0, 600, 15)}
    reference = Learner(dimension=16, vector_dtype="float16")
    reference.add_items(ids, x)
    reference.label(list(labels), list(labels.values()))
    want = [p.id for p in reference.select(5, seed=7)]
    server = serve(tmp_path / "data", "--http-port", "0")
    with Client(server.address) as client:
        assert client.create_project("half", 16, vector_dtype="float16").vector_dtype == "float16"
        assert client.create_project("full", 16).vector_dtype == "float32"
        client.add_items("half", ids, x)
        client.submit_labels("half", labels)
        assert [s.id for s in client.next_sample("half", 5, seed=7, preview=True)] == want
        with pytest.raises(ServiceError, match="vector_dtype must be float32, or float16") as refused:
            client.create_project("bad", 16, vector_dtype="int8")
        assert refused.value.code.name == "INVALID_ARGUMENT" and list(refused.value.fields) == ["vector_dtype"]
        assert sorted(p.name for p in client.list_projects()) == ["full", "half"]
    assert json.loads((tmp_path / "data" / "half" / "settings.json").read_text())["vector_dtype"] == "float16"
    server.restart()
    with Client(server.address) as client:
        assert client.get_project("half").vector_dtype == "float16"
        assert [s.id for s in client.next_sample("half", 5, seed=7, preview=True)] == want
    request = urllib.request.Request(f"{server.http_url}/api/v1/projects", method="POST",
                                     data=json.dumps({"name": "web", "dimension": 16, "vector_dtype": "float16"}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert json.loads(reply.read())["settings"]["vector_dtype"] == "float16"
