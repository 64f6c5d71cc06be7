"""Undo of a label (Project.undo_label), in-process on real files: the labeling page's
undo takes its label back and leases the item to the annotator in one commit. It must
never remove a newer label (someone's correction), leave a gap in which another
annotator is handed the item, exceed the label budget, or replay to another state."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from knn_al.errors import InvalidInputError, StateError, UnknownItemError
from tests.items_helpers import everything, lease_rows, new_project, ops, reopen

if TYPE_CHECKING:
    from tests.conftest import FakeClock



def test_an_undone_item_comes_back_leased_to_its_annotator_and_to_nobody_else(tmp_path: Path,
                                                                              clock: FakeClock) -> None:
    _, project, ids, _, _ = new_project(tmp_path, clock, n=40, duplicate_threshold=1.0)  # no duplicate groups
    (item,) = [s.id for s in project.next_sample(1, annotator="ann")]
    project.label([item], ["a"], annotator="ann")
    deadline = project.undo_label(item, label="a", annotator="ann", lease_seconds=300)
    assert deadline == clock.now + 300
    (record,) = project.items([item])
    assert (record.state, record.label, record.lease_annotator, record.lease_expires_at) == (
        "leased", "", "ann", deadline)
    assert project.labels() == {} and project.recent_labels() == []
    handed = [s.id for s in project.next_sample(40, annotator="bob", include_outliers=True)]
    assert len(handed) == 39 and item not in handed
    # One commit: the unlabel row (by the annotator who undid) and the lease row together.
    assert [(kind, json.loads(payload), annotator) for _, kind, payload, annotator, _ in ops(project.path)[-1:]] == [
        ("unlabel", {"ids": [item]}, "ann")]
    assert (item, "ann", deadline) in lease_rows(project.path)


def test_an_undo_refused_when_someone_relabeled_the_item_changes_nothing(tmp_path: Path, clock: FakeClock) -> None:
    _, project, ids, _, _ = new_project(tmp_path, clock, n=40, duplicate_threshold=1.0)
    project.label([ids[0]], ["a"], annotator="ann")
    project.label([ids[0]], ["b"], annotator="bob")  # a reviewer's correction
    project.skip([ids[1]])
    before = everything(project)
    refusals = [
        (StateError, f"item '{ids[0]}' is labeled 'b' by 'bob', not labeled 'a'", ids[0], "a"),
        (StateError, f"item '{ids[1]}' is skipped, not labeled 'a'", ids[1], "a"),
        (StateError, f"item '{ids[2]}' is unlabeled, not labeled 'a'", ids[2], "a"),
        (UnknownItemError, "nope", "nope", "a"),
        (InvalidInputError, "give the label to undo", ids[0], ""),
    ]
    for error, message, item, label in refusals:
        with pytest.raises(error, match=message):
            project.undo_label(item, label=label, annotator="ann")
        assert everything(project) == before, message
    with pytest.raises(InvalidInputError, match="lease_seconds"):
        project.undo_label(ids[0], label="b", annotator="ann", lease_seconds=-1)
    assert everything(project) == before

    # An item leased to someone else after its label was removed is not taken from them.
    project.unlabel([ids[0]])
    project.lease([ids[0]], annotator="bob")
    before = everything(project)
    with pytest.raises(StateError, match=f"item '{ids[0]}' is leased, not labeled 'b'"):
        project.undo_label(ids[0], label="b", annotator="ann")
    assert everything(project) == before


def test_an_undo_never_exceeds_the_label_budget(tmp_path: Path, clock: FakeClock) -> None:
    _, project, ids, _, _ = new_project(tmp_path, clock, n=40, label_budget=3)
    held = [s.id for s in project.next_sample(3, annotator="ann")]
    project.label(held, ["a", "b", "a"], annotator="ann")
    assert project.progress().budget_left == 0
    project.undo_label(held[2], label="a", annotator="ann")  # the freed label pays for the lease
    assert project.progress().budget_left == 0 and project.info().leased_count == 1
    assert project.next_sample(5, annotator="bob") == []
    # With the budget lowered below what is spent, the undo still only trades a label for a lease.
    project.set_goals(label_budget=1)
    project.undo_label(held[1], label="b", annotator="ann")
    assert (project.info().labeled_count, project.info().leased_count) == (1, 2)
    assert project.next_sample(5, annotator="bob") == []


def test_an_undo_replays_to_the_same_state_after_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    store, project, ids, _, _ = new_project(tmp_path, clock, n=60, duplicate_threshold=1.0)
    project.label(ids[:4], ["a", "b", "a", "b"], annotator="ann")
    deadline = project.undo_label(ids[1], label="b", annotator="ann", lease_seconds=100)
    project.label([ids[1]], ["a"], annotator="ann")
    project.undo_label(ids[1], label="a", annotator="ann", lease_seconds=100)
    before = everything(project)
    assert project.items([ids[1]])[0].lease_expires_at == deadline

    store, project = reopen(store, tmp_path, clock)
    assert everything(project) == before
    assert not {ids[1]} & {s.id for s in project.next_sample(60, include_outliers=True)}

    clock.now += 101  # past the lease: the item is an unlabeled candidate again
    store, project = reopen(store, tmp_path, clock)
    (record,) = project.items([ids[1]])
    assert (record.state, record.label) == ("unlabeled", "")
    assert project.labels() == {ids[0]: "a", ids[2]: "a", ids[3]: "b"}
