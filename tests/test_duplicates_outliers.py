"""Duplicate groups, outliers and the leave-one-out estimate, in the learner."""
from __future__ import annotations

import numpy as np
import pytest

from knn_al.learner.duplicates import detach, duplicate_groups
from knn_al.errors import StateError
from knn_al.learner import Learner

DIM = 64


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def pool_with_duplicates(seed: int = 0):
    """60 spread-out items in 3 clusters (no two within 0.9 of each other), then: an exact
    copy of item 0, two near copies of item 1 (similarity ≈ 0.99), and one far outlier."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((3, DIM))
    base = unit(centers[np.repeat(np.arange(3), 20)] + rng.standard_normal((60, DIM)))
    near = unit(base[[1, 1]] + 0.1 / np.sqrt(DIM) * rng.standard_normal((2, DIM)))
    outlier = unit(-centers.sum(axis=0, keepdims=True) + 0.2 * rng.standard_normal((1, DIM)))
    x = np.concatenate([base, base[[0]], near, outlier])
    ids = [f"x{i}" for i in range(60)] + ["copy-of-x0", "near-x1-a", "near-x1-b", "outlier"]
    return ids, x


def test_the_fixture_has_only_the_duplicates_it_means_to():
    _, x = pool_with_duplicates()
    sims = x @ x.T
    np.fill_diagonal(sims, -1)
    assert sims[:60, :60].max() < 0.9
    assert sims[61, 1] > 0.98 and sims[62, 1] > 0.98 and sims[60, 0] > 0.9999


def test_exact_and_near_duplicates_form_groups_named_by_their_lowest_row():
    ids, x = pool_with_duplicates()
    learner = Learner(dimension=DIM)
    learner.add_items(ids, x)
    assert learner.groups_[60] == 0
    assert learner.groups_[61] == learner.groups_[62] == 1
    assert (learner.groups_[2:60] == np.arange(2, 60)).all()
    assert learner.group_counts() == (2, 5)


def test_only_one_member_of_a_group_is_ever_handed_out():
    ids, x = pool_with_duplicates()
    learner = Learner(dimension=DIM)
    learner.add_items(ids, x)
    for strategy in ("random", "margin", "uncertainty_density_diversity"):
        picked = {p.id for p in learner.select(100, strategy=strategy, include_outliers=True, seed=0)}
        assert len(picked) == len(ids) - 3
        assert not picked & {"copy-of-x0", "near-x1-a", "near-x1-b"}
    learner.hand_out(["x1"])
    assert not {p.id for p in learner.select(100, strategy="random", seed=0)} & {"x1", "near-x1-a", "near-x1-b"}


def test_a_label_applies_to_the_whole_group_and_removing_it_restores_the_group():
    ids, x = pool_with_duplicates()
    learner = Learner(dimension=DIM)
    learner.add_items(ids, x)
    before = (learner.groups_.copy(), learner.blocked_.copy(), learner.tables_.sim_.copy())
    propagated = learner.label(["near-x1-a"], ["cat"])
    assert sorted(propagated) == ["near-x1-b", "x1"]
    assert learner.labels() == {"near-x1-a": "cat"}  # human labels only
    assert {(p.id, p.label, p.source) for p in learner.propagated_labels()} == {
        ("x1", "cat", "near-x1-a"), ("near-x1-b", "cat", "near-x1-a")}
    assert not {"x1", "near-x1-b"} & {p.id for p in learner.select(100, strategy="random", seed=0)}
    # A relabel carries over to the group.
    learner.label(["near-x1-a"], ["dog"])
    assert {p.label for p in learner.propagated_labels()} == {"dog"}

    learner.unlabel(["near-x1-a"])
    assert learner.propagated_labels() == []
    np.testing.assert_array_equal(learner.groups_, before[0])
    np.testing.assert_array_equal(learner.blocked_, before[1])
    np.testing.assert_array_equal(learner.tables_.sim_, before[2])
    assert "x1" in {p.id for p in learner.select(100, strategy="random", seed=0)}


def test_removing_a_propagated_label_takes_the_item_out_of_its_group():
    ids, x = pool_with_duplicates()
    learner = Learner(dimension=DIM)
    learner.add_items(ids, x)
    learner.label(["x1"], ["cat"])
    learner.unlabel(["near-x1-b"])
    assert [p.id for p in learner.propagated_labels()] == ["near-x1-a"]
    assert learner.groups_[62] == 62
    assert "near-x1-b" in {p.id for p in learner.select(100, strategy="random", seed=0)}
    with pytest.raises(StateError, match="'x5' has no label to remove"):
        learner.unlabel(["x5"])
    # The detachment survives a later addition, which surveys the pool again.
    learner.add_items(["late"], unit(np.ones((1, DIM))))
    assert learner.groups_[62] == 62 and learner.groups_[61] == 1


def test_an_added_duplicate_of_a_labeled_item_carries_its_label():
    ids, x = pool_with_duplicates()
    learner = Learner(dimension=DIM)
    learner.add_items(ids[:60], x[:60])
    learner.label(["x7"], ["owl"])
    learner.add_items(["x7-again"], x[[7]])
    assert [(p.id, p.label) for p in learner.propagated_labels()] == [("x7-again", "owl")]
    assert "x7-again" not in {p.id for p in learner.select(100, strategy="random", seed=0)}


def test_detach_renames_a_group_that_loses_its_root():
    groups = np.array([0, 0, 0, 3, 3])
    np.testing.assert_array_equal(detach(groups, np.array([0])), [0, 1, 1, 3, 3])
    np.testing.assert_array_equal(detach(groups, np.array([4])), [0, 0, 0, 3, 4])


def test_groups_are_connected_components_of_close_neighbours():
    # 0~1 and 1~2 are close, 3 is far: a chain makes one group.
    sims = np.array([[0.99, 0.1], [0.99, 0.97], [0.97, 0.2], [0.1, 0.1]], dtype=np.float32)
    idx = np.array([[1, 3], [0, 2], [1, 0], [0, 1]])
    np.testing.assert_array_equal(duplicate_groups(sims, idx, threshold=0.95), [0, 0, 0, 3])
    np.testing.assert_array_equal(duplicate_groups(sims, idx, threshold=0.98), [0, 0, 2, 3])


def test_outliers_are_skipped_by_the_combined_strategy_unless_asked():
    ids, x = pool_with_duplicates()
    learner = Learner(dimension=DIM, outlier_quantile=0.02)
    learner.add_items(ids, x)
    listed = learner.outliers()
    assert listed[0][0] == "outlier"
    assert [d for _, d in listed] == sorted(d for _, d in listed)
    assert all(d < learner.outlier_threshold_ for _, d in listed)
    combined = {p.id for p in learner.select(100, seed=0)}
    assert not combined & {i for i, _ in listed}
    assert "outlier" in {p.id for p in learner.select(100, include_outliers=True, seed=0)}
    assert "outlier" in {p.id for p in learner.select(100, strategy="random", seed=0)}
    assert Learner(dimension=DIM, outlier_quantile=0.0).outliers() == []


def test_leave_one_out_accuracy_on_separable_and_on_contradicting_labels():
    ids, x = pool_with_duplicates()
    learner = Learner(dimension=DIM, k=3)
    learner.add_items(ids, x)
    assert np.isnan(learner.accuracy_estimate().accuracy)
    names = ["a", "b", "c"]
    learner.label(ids[:60], [names[i // 20] for i in range(60)])
    estimate = learner.accuracy_estimate()
    assert (estimate.accuracy, estimate.labeled) == (1.0, 60)
    assert 0.93 < estimate.low < 1.0 == estimate.high
    # The copy of x0 labeled differently: each of the two now has a contradicting
    # neighbour at similarity 1, which outvotes two agreeing cluster mates.
    learner = Learner(dimension=DIM, k=1)
    learner.add_items(ids, x)
    learner.label(["x0", "copy-of-x0", "x2"], ["a", "b", "a"])
    assert learner.accuracy_estimate().accuracy == pytest.approx(1 / 3)
