"""Sharded pools (issue 17, part 3): the same picks and predictions as one learner, on
real Ray actors; a lost shard rebuilt while other projects serve; the refusals."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from knn_al.errors import InvalidInputError, StateError, UnavailableError
from knn_al.learner import Learner
from knn_al.learner.sharded import ShardedLearner
from knn_al.learner.shards import LocalShards, ShardFactory
from knn_al.projects.settings import ProjectSettings
from knn_al.projects.store import ProjectStore
from knn_al.simulation.server_process import ServerProcess

N, D = 2_400, 24


@pytest.fixture(scope="module")
def ray_shards() -> ShardFactory:
    ray = pytest.importorskip("ray")
    from knn_al.sharding.ray_shards import connect

    factory = connect(None)
    yield factory
    ray.shutdown()


def _data(seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, D))
    truth = rng.integers(0, 6, N)
    x = (centres[truth] + 0.8 * rng.normal(size=(N, D))).astype(np.float32)
    x[7] = x[3]  # a duplicate pair: one group, on whichever shards they fall
    return [f"item-{i}" for i in range(N)], x, truth


def _replay_both(single: Learner, sharded: ShardedLearner, steps: int = 24) -> None:
    """Drive both learners through the same session, asserting the same picks each step."""
    ids, x, truth = _data()
    for learner in (single, sharded):
        learner.add_items(ids[:1_600], x[:1_600])
    assert np.allclose(single.density_, sharded.density_, atol=1e-6)
    assert np.array_equal(single.groups_, sharded.groups_)
    for step in range(steps):
        picks = [learner.select(3, seed=step) for learner in (single, sharded)]
        assert [p.id for p in picks[0]] == [p.id for p in picks[1]], f"step {step}"
        assert [p.score for p in picks[0]] == pytest.approx([p.score for p in picks[1]])
        chosen = [p.id for p in picks[0]]
        labels = [f"c{truth[int(i.split('-')[1])]}" for i in chosen]
        for learner in (single, sharded):
            learner.hand_out(chosen[:1])
            learner.label(chosen, labels)
            if step == 8:  # a second addition: the whole pool surveyed again
                learner.add_items(ids[1_600:2_200], x[1_600:2_200])
            if step == 12:
                learner.unlabel(chosen[1:2])
                learner.label(chosen[:1], ["c-relabeled"])
            if step == 16:
                learner.remove(chosen[2:3])
                learner.skip([ids[5]])
    appended = [learner.survey(x[2_200:], append=True) for learner in (single, sharded)]
    assert np.allclose(appended[0].density, appended[1].density, atol=1e-6)


def _assert_same_answers(single: Learner, sharded: Learner) -> None:
    live = single.ids_of(single.predictions()[0])
    assert np.allclose(single.predict_proba(live), sharded.predict_proba(live), atol=1e-6)
    for a, b in zip(single.predictions(), sharded.predictions()):
        assert np.allclose(a, b, atol=1e-6)
    assert single.neighbors(live[:50]) == sharded.neighbors(live[:50])
    probe = np.random.default_rng(5).normal(size=(20, D))
    assert np.allclose(single.predict_proba_vectors(probe), sharded.predict_proba_vectors(probe), atol=1e-6)
    assert single.accuracy_estimate() == sharded.accuracy_estimate()
    assert single.labels() == sharded.labels()
    assert single.mean_uncertainty(seed=1) == pytest.approx(sharded.mean_uncertainty(seed=1))


@pytest.mark.parametrize("shards", [2, 4])
def test_ray_shards_give_the_unsharded_picks_and_predictions(ray_shards: ShardFactory, shards: int) -> None:
    single = Learner(dimension=D, seed=11, max_candidates=500)
    sharded = ShardedLearner(dimension=D, seed=11, max_candidates=500, shards=shards, shard_factory=ray_shards)
    _replay_both(single, sharded)
    _assert_same_answers(single, sharded)
    assert {int(i) for i in np.unique(sharded._pool.shard_of_)} == set(range(shards))  # every shard holds items


def test_float16_shards_match_a_float16_learner() -> None:
    single = Learner(dimension=D, seed=2, vector_dtype="float16")
    sharded = ShardedLearner(dimension=D, seed=2, vector_dtype="float16", shards=3, shard_factory=LocalShards)
    _replay_both(single, sharded, steps=10)
    _assert_same_answers(single, sharded)


def test_a_lost_shard_is_rebuilt_while_others_serve(ray_shards: ShardFactory, tmp_path: Path) -> None:
    ids, x, truth = _data(1)
    store = ProjectStore(tmp_path, shard_factory=ray_shards)
    sharded = store.create(ProjectSettings(name="big", dimension=D, shards=2))
    other = store.create(ProjectSettings(name="other", dimension=D))
    reference = store.create(ProjectSettings(name="reference", dimension=D))
    for project in (sharded, other, reference):
        project.add_items(ids, x)
    for step in range(6):
        samples = [p.next_sample(2, seed=step) for p in (sharded, reference)]
        assert [s.id for s in samples[0]] == [s.id for s in samples[1]]
        for p in (sharded, reference):
            p.label([s.id for s in samples[0]], [f"c{truth[int(s.id.split('-')[1])]}" for s in samples[0]])
    sharded.learner._shards.kill(1)  # the actor's process ends, as in a crash
    with pytest.raises(UnavailableError, match="being rebuilt"):
        sharded.next_sample(1, seed=99)
    assert other.next_sample(1)  # another project keeps serving meanwhile
    deadline = time.monotonic() + 60
    while True:
        try:
            picked = sharded.next_sample(2, seed=100)
            break
        except UnavailableError:
            assert time.monotonic() < deadline, "the shard was not rebuilt within a minute"
            time.sleep(0.2)
    assert [s.id for s in picked] == [s.id for s in reference.next_sample(2, seed=100)]
    for got, want in zip(sharded.predict(ids[:300]), reference.predict(ids[:300])):
        assert got.probabilities == pytest.approx(want.probabilities, abs=1e-6)
    store.close()


def test_a_sharded_project_reopens_with_the_same_state(ray_shards: ShardFactory, tmp_path: Path) -> None:
    ids, x, truth = _data(2)
    store = ProjectStore(tmp_path, shard_factory=ray_shards)
    project = store.create(ProjectSettings(name="p", dimension=D, shards=3))
    project.add_items(ids, x)
    project.label(ids[:40], [f"c{t}" for t in truth[:40]])
    before = project.next_sample(3, seed=7, preview=True)
    store.close()
    reopened = ProjectStore(tmp_path, shard_factory=ray_shards).get("p")
    assert reopened.settings.shards == 3
    assert [s.id for s in reopened.next_sample(3, seed=7, preview=True)] == [s.id for s in before]


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="model 'knn' only"):
        ShardedLearner(dimension=4, model="graph", shards=2, shard_factory=LocalShards)
    with pytest.raises(InvalidInputError, match="model knn only"):
        ProjectSettings(name="p", dimension=4, shards=2, model="auto")
    with pytest.raises(InvalidInputError, match="shards must be an integer between 1 and 256"):
        ProjectSettings(name="p", dimension=4, shards=0)
    store = ProjectStore(tmp_path)  # no Ray
    with pytest.raises(InvalidInputError, match="--ray"):
        store.create(ProjectSettings(name="p", dimension=4, shards=2))
    assert not (tmp_path / "p").exists()
    sharded = ShardedLearner(dimension=4, shards=2, shard_factory=LocalShards)
    sharded.add_items(["a", "b", "c"], np.eye(3, 4))
    with pytest.raises(StateError, match="not available for sharded projects"):
        sharded.vectors_[0:2]  # a read of the whole pool (search, save)


def test_service_serves_a_sharded_project_over_grpc(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    ids, x, truth = _data(3)
    with ServerProcess(tmp_path / "data", "--ray") as server, server.client() as client:
        client.create_project("sharded", D, shards=2)
        client.create_project("single", D)
        assert client.get_project("sharded").shards == 2
        for name in ("sharded", "single"):
            client.add_items(name, ids, x)
        for step in range(5):
            got = [client.next_sample(name, 2, seed=step) for name in ("sharded", "single")]
            assert [s.id for s in got[0]] == [s.id for s in got[1]]
            for name in ("sharded", "single"):
                client.submit_labels(name, {s.id: f"c{truth[int(s.id.split('-')[1])]}" for s in got[0]})
        a, b = client.predict("sharded", ids[:200]), client.predict("single", ids[:200])
        assert [p.label for p in a] == [p.label for p in b]
