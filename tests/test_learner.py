"""Behaviour of the learner that users rely on, beyond the property tests."""
from __future__ import annotations

import numpy as np
import pytest

from knn_al.learner.density import density_of
from knn_al.learner.pool_knn import pool_neighbors
from knn_al.errors import (DuplicateItemError, InvalidInputError, StateError, UnknownItemError,
                           UnknownLabelError)
from knn_al.learner import Learner


def clustered(n_per: int, centers: int, dim: int, *, spread: float = 0.3, seed: int = 0):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centers, dim))
    truth = np.repeat(np.arange(centers), n_per)
    x = c[truth] + spread * rng.standard_normal((len(truth), dim))
    return x.astype(np.float32), truth


def make(n_per=25, centers=4, dim=16, **kw) -> tuple[Learner, list[str], np.ndarray]:
    """A learner over clustered points; tight clusters hold near-duplicate pairs, so
    duplicate grouping is off (identical vectors only) unless a test asks for it."""
    x, truth = clustered(n_per, centers, dim)
    learner = Learner(dimension=dim, **{"duplicate_threshold": 1.0, **kw})
    ids = [f"x{i}" for i in range(len(x))]
    learner.add_items(ids, x)
    return learner, ids, truth


def snapshot(learner: Learner):
    arrays = (learner.tables_.sim_, learner.tables_.slot_, learner.status_, learner.row_slot_,
              learner.slot_row_, learner.slot_class_, learner.density_, learner.vectors_)
    return ([a.copy() for a in arrays], list(learner.classes_), learner.n_items, set(learner.handed_out_),
            learner.n_slots_, learner.labels())


def assert_unchanged(learner: Learner, before) -> None:
    after = snapshot(learner)
    for a, b in zip(before[0], after[0]):
        np.testing.assert_array_equal(a, b)
    assert before[1:] == after[1:]


def test_cold_start_first_pick_is_the_densest_item():
    learner, ids, _ = make()
    pick = learner.select(1)[0]
    assert pick.row == int(np.argmax(learner.density_))
    # No labels: uncertainty and diversity are the same for everyone and drop out.
    assert pick.uncertainty_term == 1.0 and pick.diversity_term == 1.0
    assert pick.score == pytest.approx(pick.density_term)


def test_cold_start_batch_spreads_over_the_clusters():
    learner, ids, truth = make(n_per=50, centers=4)
    picks = learner.select(4)
    assert sorted(truth[[p.row for p in picks]]) == [0, 1, 2, 3]


def test_handed_out_items_push_later_picks_away():
    learner, ids, truth = make(n_per=50, centers=4)
    first = learner.select(1, seed=0)[0]
    learner.hand_out([first.id])
    second = learner.select(1, seed=0)[0]
    assert truth[second.row] != truth[first.row]
    assert second.diversity_term < 1.0


def test_a_label_changes_predictions_at_once_and_new_classes_can_appear_any_time():
    learner, ids, truth = make()
    learner.label([ids[0]], ["alpha"])
    assert learner.classes_ == ["alpha"]
    learner.label([ids[30]], ["beta"])
    same_cluster_as_30 = ids[31]
    assert truth[31] == truth[30]
    proba = learner.predict_proba([same_cluster_as_30])[0]
    assert learner.classes_[int(np.argmax(proba))] == "beta"
    learner.label([ids[60]], ["gamma"])
    assert learner.predict_proba([ids[0]]).shape == (1, 3)


def test_relabel_and_unlabel_update_predictions():
    learner, ids, _ = make(k=3)
    learner.label(ids[:3], ["a", "a", "a"])
    assert learner.predict_proba([ids[3]])[0].argmax() == 0
    learner.label(ids[:3], ["b", "b", "b"])  # relabel all three
    assert learner.classes_[learner.predict_proba([ids[3]])[0].argmax()] == "b"
    assert learner.labels() == {ids[0]: "b", ids[1]: "b", ids[2]: "b"}
    learner.unlabel(ids[:3])
    assert learner.n_labeled == 0
    # With no labels left, every known class is equally likely.
    np.testing.assert_allclose(learner.predict_proba([ids[3]])[0], [0.5, 0.5])
    assert {p.row for p in learner.select(100)} >= {0, 1, 2}


def test_neighbors_explain_a_prediction():
    learner, ids, _ = make(k=2)
    learner.label([ids[0], ids[1], ids[50]], ["a", "a", "c"])
    (explained,) = learner.neighbors([ids[2]])
    assert [n.id for n in explained] == sorted([ids[0], ids[1]], key=lambda i: -float(
        learner.vectors_[learner.rows([i])[0]] @ learner.vectors_[2]))
    assert all(n.label == "a" for n in explained)
    assert explained[0].similarity >= explained[1].similarity
    (by_vector,) = learner.neighbors(vectors=learner.vectors_[2] * 5)  # any scale: normalised
    assert [n.id for n in by_vector] == [n.id for n in explained]


def test_items_added_after_labels_get_their_neighbours():
    learner, ids, _ = make(dim=16)
    learner.label(ids[:5], ["a"] * 5)
    x, _ = clustered(5, 4, 16, seed=9)
    learner.add_items([f"new{i}" for i in range(len(x))], x)
    assert learner.n_items == 120
    assert all(len(n) == 5 for n in learner.neighbors([f"new{i}" for i in range(len(x))]))


def test_same_seed_same_picks_and_random_strategy_is_reproducible():
    a, _, _ = make()
    b, _, _ = make()
    for learner in (a, b):
        learner.label(["x0", "x40"], ["p", "q"])
    for strategy in ("uncertainty_density_diversity", "random", "margin"):
        assert [p.id for p in a.select(5, strategy=strategy, seed=11)] == \
               [p.id for p in b.select(5, strategy=strategy, seed=11)]
    assert [p.id for p in a.select(5, strategy="random", seed=1)] != [p.id for p in a.select(5, strategy="random", seed=2)]


def test_large_pools_score_a_candidate_subset_of_available_items():
    learner, ids, _ = make(n_per=250, centers=4, max_candidates=100)
    learner.label(ids[:10], ["a"] * 10)
    learner.hand_out(ids[10:20])
    picks = learner.select(20, seed=5)
    assert len(picks) == 20
    assert not {p.row for p in picks} & set(range(20))
    assert [p.id for p in picks] == [p.id for p in learner.select(20, seed=5)]
    # Ranks are over the 100 candidates: every term is a multiple of 1/100.
    assert all(abs(p.density_term * 100 - round(p.density_term * 100)) < 1e-9 for p in picks)


def test_approximate_density_agrees_with_exact():
    x, _ = clustered(300, 8, 32, spread=0.5)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    exact = density_of(*pool_neighbors(x, neighbors=10, exact_limit=10_000))
    approx = density_of(*pool_neighbors(x, neighbors=10, exact_limit=100))
    assert np.corrcoef(exact, approx)[0, 1] > 0.98
    assert np.abs(exact - approx).mean() < 0.01
    # An approximate search can only miss neighbours, never find better ones.
    assert (approx <= exact + 1e-5).all()


def test_outliers_have_low_density_and_are_not_picked_first():
    x, _ = clustered(50, 2, 16)
    outlier = -x.mean(axis=0, keepdims=True)  # far from both clusters
    learner = Learner(dimension=16)
    learner.add_items([f"c{i}" for i in range(100)] + ["outlier"], np.concatenate([x, outlier]))
    assert learner.density_[-1] == learner.density_.min()
    assert "outlier" not in [p.id for p in learner.select(2)]


@pytest.mark.parametrize("call, error, message", [
    (lambda l: l.add_items(["n1"], np.ones((1, 15))), InvalidInputError, "dimension 15, this pool expects 16"),
    (lambda l: l.add_items(["n1", "n2"], np.array([[1.0] * 16, [np.nan] * 16])), InvalidInputError, "row 1 contains NaN"),
    (lambda l: l.add_items(["n1"], np.zeros((1, 16))), InvalidInputError, "row 0 is all zeros"),
    (lambda l: l.add_items(["n1", "n1"], np.ones((2, 16))), DuplicateItemError, "'n1' appears more than once"),
    (lambda l: l.add_items(["x5"], np.ones((1, 16))), DuplicateItemError, "'x5' is already in the pool"),
    (lambda l: l.add_items([], np.ones((0, 16))), InvalidInputError, "empty"),
    (lambda l: l.add_items(["a", "b"], np.ones((1, 16))), InvalidInputError, "2 ids but 1 vectors"),
    (lambda l: l.label(["x1", "nope"], ["a", "b"]), UnknownItemError, "unknown item id 'nope'"),
    (lambda l: l.label(["x1", "x2"], ["a", "zebra"]), UnknownLabelError, "'zebra' .* not in the project's label set"),
    (lambda l: l.label(["x1", "x1"], ["a", "b"]), InvalidInputError, "'x1' appears more than once"),
    (lambda l: l.label(["x1"], [""]), InvalidInputError, "the label of item 'x1' must be a non-empty string"),
    (lambda l: l.label([], []), InvalidInputError, "empty"),
    (lambda l: l.unlabel(["x3"]), StateError, "'x3' has no label"),
    (lambda l: l.hand_out(["x0"]), StateError, "'x0' is labeled"),
    (lambda l: l.hand_out(["x9"]), StateError, "'x9' is already handed out"),
    (lambda l: l.release(["x3"]), StateError, "'x3' is not handed out"),
    (lambda l: l.select(0), InvalidInputError, "count must be positive"),
    (lambda l: l.select(1, strategy="best"), InvalidInputError, "unknown strategy 'best'"),
    (lambda l: l.select(1, exponents=(1, -1, 1)), InvalidInputError, "exponents"),
    (lambda l: l.predict_proba_vectors(np.full((1, 16), np.inf)), InvalidInputError, "NaN or inf"),
])
def test_bad_input_raises_a_clear_error_and_changes_nothing(call, error, message):
    learner, ids, _ = make(classes=["a", "b"])
    learner.label(["x0"], ["a"])
    learner.hand_out(["x9"])
    before = snapshot(learner)
    with pytest.raises(error, match=message):
        call(learner)
    assert_unchanged(learner, before)


def test_shortlisted_batch_picks_equal_a_greedy_pass_over_every_candidate():
    # 400 candidates, 6 picks: the shortlist (70) is far smaller than the pool.
    from knn_al.learner.vectors import as_unit_vectors
    from tests.reference import Reference

    x, truth = clustered(100, 4, 16, spread=0.8, seed=2)
    learner = Learner(dimension=16, k=5, smoothing=0.3)
    ids = [f"x{i}" for i in range(len(x))]
    learner.add_items(ids, x)
    ref = Reference(vectors=as_unit_vectors(x, dimension=16), k=5, smoothing=0.3, m=10)
    for r in (0, 150, 220, 399):
        learner.label([ids[r]], [str(truth[r])])
        ref.label(r, str(truth[r]))
    for r in (5, 260):
        learner.hand_out([ids[r]])
        ref.handed_out.add(r)
    taken: list[int] = []
    for pick in learner.select(6, seed=0):
        rows, score = ref.combined_scores(taken)
        assert score[np.flatnonzero(rows == pick.row)[0]] >= score.max() - 1e-6
        taken.append(pick.row)


@pytest.mark.parametrize("exponents", [(1.0, 1.0, 1.0), (2.0, 0.5, 1.0), (0.0, 1.0, 3.0)])
@pytest.mark.parametrize("count", [1, 7])
@pytest.mark.parametrize("cold", [False, True])
def test_picks_from_the_shortlist_equal_a_greedy_pass_over_every_candidate(exponents, count, cold):
    # 6,000 candidates, a shortlist of ~70. Values are rounded so that ranks and scores
    # tie; cold: uncertainty is the same everywhere.
    from knn_al.learner.strategies import Candidates, UncertaintyDensityDiversity, ecdf
    from knn_al.learner.vectors import as_unit_vectors

    rng = np.random.default_rng(8)
    n, d = 6000, 16
    vectors = as_unit_vectors(rng.standard_normal((n, d)), dimension=d)
    u = np.ones(n, dtype=np.float32) if cold else np.round(rng.random(n), 2).astype(np.float32)
    density = np.round(rng.normal(0.5, 0.1, n), 3).astype(np.float32)
    similarity = np.round(rng.uniform(-1, 1, n), 2).astype(np.float32)
    a, b, g = exponents
    ui = ecdf(u) ** a * ecdf(density) ** b
    # Copies of the 400 best-scored candidates are handed out: their scores drop to 0 and
    # the winners lie far down the initial order, so the shortlist must widen to reach them.
    best_first = np.argsort(-(ui * ecdf(-similarity) ** g), kind="stable")
    c = Candidates(rows=np.arange(n), uncertainty=lambda measure: u, density=density, similarity=similarity,
                   handed_out_vectors=vectors[best_first[:400]], vectors=lambda rows: vectors[rows])
    strategy = UncertaintyDensityDiversity(exponents=exponents)
    got = strategy.query(c, count, rng)
    every = strategy._greedy(c, np.arange(n), ui, ecdf(-similarity), count, -np.inf)
    np.testing.assert_array_equal(got.positions, every[0])
    np.testing.assert_array_equal(got.density_term, ecdf(density)[every[0]])
    # Handed-out similarities come from matrix products whose last bits depend on the
    # matrix's size: the same picks, scores equal to float precision.
    np.testing.assert_allclose(got.score, every[1], rtol=1e-6)
    np.testing.assert_allclose(got.diversity_term, every[3], rtol=1e-6)


def test_leave_one_out_tables_catch_up_with_labels_given_between_estimates():
    # Labels given after an estimate are taken in at the next one, or at a removal, which
    # rebuilds rows against every current label and so must take them in first.
    from knn_al.learner.neighbors import drop_own

    learner, ids, truth = make(n_per=5, centers=2, dim=6, k=3)
    learner.label(ids[:2], ["a", "b"])
    learner.accuracy_estimate()
    learner.label([ids[2]], ["a"])
    learner.unlabel([ids[0]])
    estimate = learner.accuracy_estimate()
    active = np.flatnonzero(learner.slot_class_ >= 0)
    sims, slots = drop_own(learner.loo_tables_.sim_[active], learner.loo_tables_.slot_[active], active)
    x = learner.vectors_
    for own, row_sims, row_slots in zip(active, sims, slots):
        others = [s for s in active if s != own]
        expected = np.sort(x[learner.slot_row_[others]] @ x[learner.slot_row_[own]])[::-1][:3]
        np.testing.assert_allclose(row_sims[: len(expected)], expected, atol=1e-6)
        assert sorted(row_slots[row_slots >= 0]) == sorted(np.array(others)[np.argsort(
            -(x[learner.slot_row_[others]] @ x[learner.slot_row_[own]]))[:3]])
    assert estimate.labeled == 2


def test_tracked_vectors_catch_up_with_everything_done_between_two_reads():
    learner, ids, truth = make(n_per=10, centers=3, dim=8, k=3)
    queries = np.random.default_rng(4).standard_normal((30, 8))
    tracked = learner.track(queries)
    learner.label(ids[:4], ["a", "b", "a", "b"])
    tracked.predict_proba()
    # Between two reads: an old label removed, new ones given, one of them removed again,
    # and a relabel.
    learner.unlabel([ids[1]])
    learner.label(ids[10:13], ["a", "b", "c"])
    learner.label([ids[20]], ["c"])
    learner.unlabel([ids[20]])
    learner.label([ids[2]], ["c"])
    fresh = learner.track(queries)
    np.testing.assert_allclose(tracked.predict_proba(), fresh.predict_proba(), atol=1e-6)
    (sims, slots), (fresh_sims, fresh_slots) = tracked.neighbor_tables(), fresh.neighbor_tables()
    np.testing.assert_array_equal(slots, fresh_slots)
    np.testing.assert_allclose(sims, fresh_sims, atol=1e-6)


def test_fixed_label_set_serves_picks_and_predictions_before_any_label():
    learner, ids, _ = make(classes=["a", "b", "c"])
    assert len(learner.select(3)) == 3
    np.testing.assert_allclose(learner.predict_proba(ids[:2]), np.full((2, 3), 1 / 3))
    np.testing.assert_allclose(learner.predict_proba_vectors(np.ones((1, 16))), [[1 / 3] * 3])


def test_compact_class_votes_give_the_same_uncertainty_as_dense_ones():
    # Many classes make the learner score candidates from the compact form.
    from knn_al.learner.uncertainty import MEASURES
    from knn_al.learner.voting import candidate_proba

    learner, ids, _ = make(n_per=100, centers=4, k=4, smoothing=0.2)
    rng = np.random.default_rng(0)
    learner.label(ids[:120], [f"c{rng.integers(0, 50)}" for _ in range(120)])
    assert len(learner.classes_) > 8 * learner.k
    sims, slots = learner.tables_.sim_, learner.tables_.slot_
    dense = learner.vote(sims, slots)
    values, counts = candidate_proba(sims, slots, learner.slot_class_, n_classes=len(learner.classes_),
                                     smoothing=learner.smoothing, k=learner.k)
    assert counts is not None and values.shape[1] == learner.k + 1
    for name, measure in MEASURES.items():
        np.testing.assert_allclose(measure(values, counts), measure(dense), atol=1e-6, err_msg=name)


@pytest.mark.parametrize("model", ["knn", "graph"])
def test_a_saved_learner_loads_with_the_same_predictions_and_picks(tmp_path, model):
    learner, ids, truth = make(model=model, classes=["c0", "c1", "c2", "c3", "spare"], duplicate_threshold=0.99)
    learner.add_items(["twin"], learner.vectors_[:1].copy())  # a duplicate of x0: its label propagates
    learner.label(ids[:12:3] + [ids[30], ids[60]], ["c0", "c1", "c2", "c3", "c1", "c2"])
    learner.label([ids[30]], ["c3"])  # a relabel
    learner.unlabel([ids[60]])
    learner.skip([ids[80]])
    learner.hand_out([ids[50]])  # not saved: a loaded learner has nothing handed out
    saved = learner.save(tmp_path / "saved")
    assert sorted(p.name for p in saved.iterdir()) == ["ids.json", "learner.json", "vectors.npy"]
    loaded = Learner.load(saved)
    learner.release([ids[50]])

    live = [*ids, "twin"]
    assert loaded.ids_of(np.arange(loaded.n_items)) == live
    assert loaded.labels() == learner.labels() and loaded.classes == learner.classes
    assert loaded.propagated_labels() == learner.propagated_labels() and loaded.n_skipped == 1
    # float32 similarities summed in another order (1e-8 seen); the graph model: its push tolerance
    tolerance = 1e-6 if model == "knn" else 1e-3
    np.testing.assert_allclose(loaded.predict_proba(live), learner.predict_proba(live), atol=tolerance)
    assert [p.id for p in loaded.select(5, seed=3)] == [p.id for p in learner.select(5, seed=3)]
    # A removed item is not saved. (The original keeps the densities measured with it until
    # its next addition, the loaded one measures without it: picks may differ there.)
    learner.remove([ids[90]])
    again = Learner.load(learner.save(tmp_path / "after-removal"))
    live.remove(ids[90])
    assert again.ids_of(np.arange(again.n_items)) == live
    np.testing.assert_allclose(again.predict_proba(live), learner.predict_proba(live), atol=tolerance)
    with pytest.raises(Exception, match="exists: save a learner into a new directory"):
        learner.save(saved)  # never overwritten
    (saved / "learner.json").write_text('{"format": "knn-al-learner", "version": 99}')
    with pytest.raises(InvalidInputError, match="format version 99"):
        Learner.load(saved)


def test_a_saved_learner_keeps_its_columns_and_its_auto_choice(tmp_path):
    """With an open label set the columns are in the order classes first came, a class
    whose labels were all removed included; under auto, the model chosen so far."""
    learner, ids, truth = make(model="auto")
    learner.label(ids[:3], ["b", "a", "c"])
    learner.unlabel([ids[0]])  # "b" has no label left, and keeps its column
    learner.label([ids[1]], ["b"])
    learner.label(ids[3:90:4], [f"k{t}" for t in truth[3:90:4]])
    learner.active_model_ = "knn" if learner.active_model_ == "graph" else "graph"  # as a label history may leave it
    loaded = Learner.load(learner.save(tmp_path / "saved"))
    assert loaded.classes_ == learner.classes_ and loaded.active_model_ == learner.active_model_
    np.testing.assert_allclose(loaded.predict_proba(ids), learner.predict_proba(ids), atol=1e-6)
    (tmp_path / ".again.partial").mkdir()  # a leftover of someone's: refused, not removed
    with pytest.raises(Exception, match="partial exists"):
        learner.save(tmp_path / "again")
    assert (tmp_path / ".again.partial").is_dir() and not (tmp_path / "again").exists()
