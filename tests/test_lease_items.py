"""Leases of chosen items (Project.lease), in-process on real files: the labeling page's
undo brings an unlabeled item back to its annotator, and an item found by search is held
for the one labeling it. A lease by choice must hold like next_sample's (nobody else is
handed the item, it survives a restart, it lowers its neighbours' diversity), stay within
the label budget, renew the annotator's own lease, and change nothing when refused."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from knn_al.errors import InvalidInputError, StateError, UnknownItemError
from tests.items_helpers import everything, new_project, observed, reopen

if TYPE_CHECKING:
    from tests.conftest import FakeClock



def test_a_leased_item_is_never_handed_out_to_anyone(tmp_path: Path, clock: FakeClock) -> None:
    _, project, ids, _, _ = new_project(tmp_path, clock, n=40, duplicate_threshold=1.0)  # no duplicate groups
    chosen = [ids[5], ids[17]]
    assert project.lease(chosen, annotator="alice") == clock.now + 600  # the project's lease length
    records = project.items(chosen)
    assert [(r.state, r.lease_annotator, r.lease_expires_at) for r in records] == [
        ("leased", "alice", clock.now + 600)] * 2
    assert project.info().leased_count == 2
    handed = [s.id for s in project.next_sample(40, annotator="bob", include_outliers=True)]
    assert len(handed) == 38 and not set(chosen) & set(handed)


def test_a_lease_held_by_another_annotator_is_refused_and_the_holders_own_is_renewed(tmp_path: Path,
                                                                                      clock: FakeClock) -> None:
    _, project, ids, _, _ = new_project(tmp_path, clock, n=40)
    first = project.lease(ids[:2], annotator="alice", lease_seconds=100)
    before = everything(project)
    with pytest.raises(StateError, match=f"item '{ids[1]}' is leased to 'alice', not to 'bob'"):
        project.lease([ids[3], ids[1]], annotator="bob")
    assert everything(project) == before

    clock.now += 60
    again = project.lease([ids[1], ids[3]], annotator="alice", lease_seconds=300)  # one renewed, one new
    assert again == clock.now + 300 > first
    assert {r.id: (r.state, r.lease_annotator, r.lease_expires_at) for r in project.items(ids[:4])} == {
        ids[0]: ("leased", "alice", first), ids[1]: ("leased", "alice", again), ids[2]: ("unlabeled", "", 0.0),
        ids[3]: ("leased", "alice", again)}
    assert project.info().leased_count == 3
    # The same lease asked for again (a retried undo) changes only the deadline.
    before = observed(project)
    assert project.lease([ids[1], ids[3]], annotator="alice", lease_seconds=300) == again
    assert observed(project) == before


def test_labeled_propagated_skipped_removed_and_unknown_items_are_refused_changing_nothing(
        tmp_path: Path, clock: FakeClock) -> None:
    _, project, ids, x, _ = new_project(tmp_path, clock, n=40, duplicate_threshold=1.0)
    project.add_items(["twin"], x[3:4])
    project.label([ids[3]], ["a"])  # "twin" carries its label
    project.label([ids[0]], ["b"])
    project.skip([ids[1]])
    project.remove_items([ids[2]])
    free = ids[10]
    before = everything(project)
    refusals = [
        (StateError, f"item '{ids[0]}' is labeled: remove its label first", [free, ids[0]], {}),
        (StateError, "item 'twin' is propagated: remove its propagated label first", [free, "twin"], {}),
        (StateError, f"item '{ids[1]}' is skipped: unskip it first", [free, ids[1]], {}),
        (UnknownItemError, ids[2], [free, ids[2]], {}),
        (UnknownItemError, "nope", [free, "nope"], {}),
        (InvalidInputError, "more than once", [free, free], {}),
        (InvalidInputError, "empty", [], {}),
        (InvalidInputError, "at most 1000", ids * 26, {}),
        (InvalidInputError, "lease_seconds", [free], {"lease_seconds": -1}),
    ]
    for error, message, asked, options in refusals:
        with pytest.raises(error, match=message):
            project.lease(asked, annotator="ann", **options)
        assert everything(project) == before, message


def test_leases_by_choice_stay_within_the_label_budget(tmp_path: Path, clock: FakeClock) -> None:
    _, project, ids, _, _ = new_project(tmp_path, clock, n=40, label_budget=5)
    project.label(ids[:2], ["a", "b"])
    (picked,) = [s.id for s in project.next_sample(1, annotator="bob")]
    free = [i for i in ids[2:] if i != picked]
    before = everything(project)
    with pytest.raises(StateError, match="label budget is spent: 3 items to lease but 2 labels left"):
        project.lease(free[:3], annotator="ann")  # 5 - 2 labeled - 1 leased
    assert everything(project) == before

    project.lease(free[:2], annotator="ann")
    assert project.progress().budget_left == 0
    assert project.next_sample(5, annotator="bob") == []
    project.lease(free[:2], annotator="ann")  # renewing spends nothing more
    with pytest.raises(StateError, match="label budget is spent: 1 items to lease but 0 labels left"):
        project.lease([free[1], free[2]], annotator="ann")
    project.label(free[:1], ["a"])  # a leased item labeled: the budget spent the same
    assert project.progress().budget_left == 0


def test_a_lease_survives_a_restart_until_its_deadline(tmp_path: Path, clock: FakeClock) -> None:
    store, project, ids, _, _ = new_project(tmp_path, clock, n=40)
    deadline = project.lease(ids[:2], annotator="alice", lease_seconds=100)
    clock.now += 50
    renewed = project.lease(ids[1:3], annotator="alice", lease_seconds=100)

    store, project = reopen(store, tmp_path, clock)
    assert [(r.state, r.lease_annotator, r.lease_expires_at) for r in project.items(ids[:3])] == [
        ("leased", "alice", deadline), ("leased", "alice", renewed), ("leased", "alice", renewed)]
    assert not set(ids[:3]) & {s.id for s in project.next_sample(40, include_outliers=True)}
    with pytest.raises(StateError, match="leased to 'alice'"):
        project.lease(ids[:1], annotator="bob")

    clock.now += 60  # past the first deadline only
    store, project = reopen(store, tmp_path, clock)
    assert [r.state for r in project.items(ids[:3])] == ["unlabeled", "leased", "leased"]
    assert project.lease(ids[:1], annotator="bob") == clock.now + 600


def test_a_leased_item_lowers_its_neighbours_diversity_as_a_handed_out_one_does(tmp_path: Path,
                                                                                 clock: FakeClock) -> None:
    _, project, _, _, _ = new_project(tmp_path, clock, n=80)
    (top,) = project.next_sample(1, seed=0)
    project.release([top.id])
    # Nothing is labeled: a pick's diversity is 2 unless something handed out is near it.
    assert project.next_sample(1, seed=0)[0].pick.diversity == 2.0
    project.release([top.id])
    project.lease([top.id], annotator="ann")
    (second,) = project.next_sample(1, seed=0)
    assert second.id != top.id and second.pick.diversity < 2.0
    project.release([second.id])
    assert np.isclose(project.next_sample(1, seed=0)[0].pick.diversity, second.pick.diversity)
