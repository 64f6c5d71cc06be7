"""The learner with ``model="graph"``: labels propagate over the pool graph
(knn_al.learner.graph_model). Its state after any labels, relabels, unlabels and additions
equals a learner built from scratch on the same items and labels, its leave-one-out equals
a learner without that one label, and every strategy picks from its uncertainty."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knn_al.learner import Learner
from knn_al.learner.propagation import DEFAULT_TOLERANCE

DIM = 8


def clusters(rng: np.random.Generator, n: int, centres: np.ndarray, spread: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    which = rng.integers(0, len(centres), n)
    return (centres[which] + spread * rng.standard_normal((n, centres.shape[1]))).astype(np.float32), which


def scores_by_id(learner: Learner) -> dict[str, np.ndarray]:
    assert learner._graph is not None
    propagation = learner._graph.propagation
    n = len(propagation)
    out = np.zeros((len(learner.classes_), n))
    for code in range(propagation.n_classes):
        out[code] = propagation.scores(code)
    return {i: out[:, r] for i, r in zip(learner.ids_of(np.arange(n)), range(n))}


def test_one_label_per_cluster_labels_the_pool_and_new_vectors() -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, DIM)) * 2
    x, which = clusters(rng, 120, centres)
    learner = Learner(dimension=DIM, model="graph", seed=0, duplicate_threshold=1.0)
    ids = [f"i{j}" for j in range(len(x))]
    learner.add_items(ids, x)
    for c in range(3):
        first = int(np.flatnonzero(which == c)[0])
        learner.label([ids[first]], [f"c{c}"])
    predicted = learner.predict_proba(ids).argmax(axis=1)
    assert (np.array(learner.classes_)[predicted] == np.array([f"c{c}" for c in which])).mean() >= 0.97
    new, new_which = clusters(rng, 30, centres)
    proba = learner.predict_proba_vectors(new)
    assert (np.array(learner.classes_)[proba.argmax(axis=1)] == np.array([f"c{c}" for c in new_which])).all()
    rows, codes, _ = learner.predictions()
    assert len(rows) == 120 and (codes == predicted).all()
    # Picks read the graph's uncertainty: the labeled items' neighbours are the surest.
    assert learner.uncertainty_["margin"][learner.rows([ids[1]])].shape == (1,)
    assert len(learner.select(5, seed=0)) == 5
    assert learner.accuracy_estimate().labeled == 3


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), ops=st.lists(st.tuples(st.sampled_from(["label", "relabel", "unlabel", "add"]),
                                                            st.integers(0, 10**6)), min_size=1, max_size=15))
def test_incremental_graph_state_equals_a_learner_built_from_scratch(seed: int, ops: list[tuple[str, int]]) -> None:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((3, DIM)) * 2
    x, _ = clusters(rng, 25, centres)
    ids = [f"i{j}" for j in range(len(x))]
    learner = Learner(dimension=DIM, model="graph", density_neighbors=4, duplicate_threshold=1.0)
    learner.add_items(ids, x)
    labels: dict[str, str] = {}
    for op, pick in ops:
        if op == "add":
            more, _ = clusters(rng, 1 + pick % 4, centres)
            new = [f"i{len(ids) + j}" for j in range(len(more))]
            learner.add_items(new, more)
            ids, x = ids + new, np.concatenate([x, more])
        elif op in ("relabel", "unlabel") and labels:
            item = sorted(labels)[pick % len(labels)]
            if op == "unlabel":
                learner.unlabel([item])
                del labels[item]
            else:
                labels[item] = f"c{(int(labels[item][1]) + 1) % 3}"
                learner.label([item], [labels[item]])
        else:
            item = ids[pick % len(ids)]
            labels[item] = f"c{pick % 3}"
            learner.label([item], [labels[item]])
    scratch = Learner(dimension=DIM, model="graph", density_neighbors=4, duplicate_threshold=1.0,
                      classes=learner.classes_ or None)
    scratch.add_items(ids, x)
    if labels:
        scratch.label(list(labels), list(labels.values()))
    ours, theirs = scores_by_id(learner), scores_by_id(scratch)
    assert learner._graph is not None
    degree = dict(zip(ids, learner._graph.propagation.graph.degree))
    for item in ids:  # both within tolerance · degree of the exact scores
        assert np.abs(ours[item] - theirs[item]).max(initial=0.0) <= 2 * DEFAULT_TOLERANCE * max(degree[item], 1.0) + 1e-12


def test_a_withdrawn_label_leaves_no_prediction_behind() -> None:
    """Unlabeling the only label of a class in a cluster: the cluster's predictions are those
    of a learner that never had it. (Pushing the withdrawal left residues within tolerance
    of zero there, which were all the cluster's scores held: it kept predicting the class.)"""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((4, DIM)) * 2
    x = np.concatenate([centres[c] + 0.3 * rng.standard_normal((25, DIM)) for c in range(4)]).astype(np.float32)
    ids = [f"i{j}" for j in range(len(x))]

    def learner_with(labels: dict[str, str]) -> Learner:
        learner = Learner(dimension=DIM, model="graph", duplicate_threshold=1.0, classes=["a", "b", "c"])
        learner.add_items(ids, x)
        learner.label(list(labels), list(labels.values()))
        return learner

    kept = {"i0": "a", "i3": "b", "i26": "c"}  # clusters 0 and 1 only
    withdrawn = learner_with({**kept, "i60": "c", "i61": "b"})  # and two labels in cluster 2
    withdrawn.unlabel(["i60"])  # "c" keeps its label in cluster 1
    withdrawn.label(["i61"], ["a"])  # a relabel withdraws "b" there
    never = learner_with({**kept, "i61": "a"})
    np.testing.assert_allclose(withdrawn.predict_proba(ids), never.predict_proba(ids), atol=1e-9)


def test_leave_one_out_is_the_learner_without_that_label() -> None:
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((3, DIM)) * 2
    x, which = clusters(rng, 90, centres, spread=0.6)
    ids = [f"i{j}" for j in range(len(x))]
    learner = Learner(dimension=DIM, model="graph", duplicate_threshold=1.0)
    learner.add_items(ids, x)
    chosen = rng.choice(len(ids), size=12, replace=False)
    given_labels = {ids[r]: f"c{which[r]}" for r in chosen}
    learner.label(list(given_labels), list(given_labels.values()))
    rows, proba, reached = learner.leave_one_out()
    for row, p, hit in zip(rows, proba, reached):
        item = learner.ids_of([row])[0]
        without = Learner(dimension=DIM, model="graph", classes=learner.classes_, duplicate_threshold=1.0)
        without.add_items(ids, x)
        rest = {i: lab for i, lab in given_labels.items() if i != item}
        without.label(list(rest), list(rest.values()))
        expected = without.predict_proba([item])[0]
        assert p.argmax() == expected.argmax() or not hit
        assert np.abs(p - expected).max() < 0.05
    estimate = learner.accuracy_estimate()
    assert estimate.labeled == 12 and 0 <= estimate.accuracy <= 1


def test_removed_items_leave_the_graph_and_their_labels_with_them() -> None:
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((2, DIM)) * 2
    x, which = clusters(rng, 40, centres)
    ids = [f"i{j}" for j in range(len(x))]
    learner = Learner(dimension=DIM, model="graph", duplicate_threshold=1.0)
    learner.add_items(ids, x)
    a, b = (int(np.flatnonzero(which == c)[0]) for c in (0, 1))
    learner.label([ids[a], ids[b]], ["c0", "c1"])
    learner.remove([ids[b]])
    assert learner._graph is not None
    assert np.abs(learner._graph.propagation.scores(1)).max() <= DEFAULT_TOLERANCE * 40
    neighbours = learner._graph.neighbors_[1]
    assert not (neighbours == b).any() and (neighbours[b] == -1).all()


def test_an_unknown_model_is_refused() -> None:
    with pytest.raises(Exception, match="model must be one of knn"):
        Learner(dimension=DIM, model="forest")


def rings(per_ring: int = 150) -> tuple[np.ndarray, np.ndarray]:
    """Two circles of latitude (10° and 40°) on the sphere: each item's nearest items lie on
    its own ring, but a label 60° round the ring is farther than the other ring's."""
    lon = np.linspace(0, 2 * np.pi, per_ring, endpoint=False)
    parts = [np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.full(per_ring, np.sin(lat))], 1)
             for lat in np.radians([10.0, 40.0])]
    return np.concatenate(parts).astype(np.float32), np.repeat([0, 1], per_ring)


def split_blob(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """One blob cut in two by a plane: propagation leaks across the cut, the nearest labels do not."""
    x = rng.standard_normal((n, DIM))
    x[:, -1] += 4.0
    return x.astype(np.float32), (x[:, 0] > 0).astype(int)


@pytest.mark.parametrize("case", ["rings", "split"])
def test_auto_predicts_with_the_model_whose_leave_one_out_is_better(case: str) -> None:
    if case == "rings":
        x, which = rings()
        chosen = [0, 50, 100, 175, 225, 275]  # ring 0 at 0/120/240°, ring 1 at 60/180/300°
    else:
        rng = np.random.default_rng(0)
        x, which = split_blob(rng, 300)
        chosen = rng.choice(300, 40, replace=False).tolist()
    ids = [f"i{j}" for j in range(len(x))]
    held_out = x[::7] + 0.01
    learners = {m: Learner(dimension=x.shape[1], model=m, duplicate_threshold=1.0) for m in ("knn", "graph", "auto")}
    tracked = {}
    for m, learner in learners.items():
        learner.add_items(ids, x)
        tracked[m] = learner.track(held_out)  # before any label: auto starts on the graph model
        learner.label([ids[j] for j in chosen], [f"c{which[j]}" for j in chosen])
    loo = {m: learners[m].accuracy_estimate().accuracy for m in ("knn", "graph")}
    winner = max(loo, key=lambda m: loo[m])
    assert abs(loo["knn"] - loo["graph"]) >= 0.05  # each case has a clear winner...
    assert winner == {"rings": "graph", "split": "knn"}[case]  # ...a different one
    auto = learners["auto"]
    assert auto.active_model_ == winner
    np.testing.assert_allclose(auto.predict_proba(ids), learners[winner].predict_proba(ids))
    assert auto.accuracy_estimate() == learners[winner].accuracy_estimate()
    # Held-out vectors tracked earlier follow the model active now, as the simulator scores them.
    np.testing.assert_allclose(tracked["auto"].predict_proba(), tracked[winner].predict_proba())


@pytest.mark.parametrize("removed", [0, 3, 40])
def test_nearest_rows_skips_removed_rows_and_equals_brute_force(removed: int, monkeypatch) -> None:
    import knn_al.learner.graph_model as graph_model

    rng = np.random.default_rng(removed)
    pool = rng.standard_normal((200, DIM)).astype(np.float32)
    queries = rng.standard_normal((9, DIM)).astype(np.float32)
    live = np.sort(rng.choice(200, 200 - removed, replace=False))
    sims = queries @ pool[live].T
    expected = live[np.argsort(-sims, axis=1, kind="stable")[:, :5]]
    for limit in (1024, 0):  # in place, and over a copy of the live rows
        monkeypatch.setattr(graph_model, "IN_PLACE_REMOVED", limit)
        rows, found = graph_model.nearest_rows(queries, pool, live, 5)
        np.testing.assert_array_equal(rows, expected)
        np.testing.assert_allclose(found, np.take_along_axis(queries @ pool.T, rows, axis=1), rtol=1e-5)



def test_items_removed_with_their_labels_and_added_again_are_predicted_again() -> None:
    # `knn-al load --on-conflict replace` on a graph project: every class loses its pages.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((30, DIM)).astype(np.float32)
    ids = [f"i{j}" for j in range(30)]
    learner = Learner(dimension=DIM, model="graph", duplicate_threshold=1.0)
    learner.add_items(ids, x)
    learner.label(ids[:10:3], ["a", "b", "a", "b"])
    learner.remove(ids)
    learner.add_items(ids, x)
    learner.label(ids[:10:3], ["a", "b", "a", "b"])
    assert learner.predict_proba(ids).shape == (30, 2) and len(learner.select(3)) == 3
