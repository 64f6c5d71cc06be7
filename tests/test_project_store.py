"""The durable project store, in-process: replay, leases with an injected clock, all-or-nothing writes."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from knn_al.dataset import write_dataset
from knn_al.errors import (AlreadyExistsError, DuplicateItemError, InvalidInputError, NotFoundError, StateError,
                           UnknownItemError, UnknownLabelError)
from knn_al.projects.settings import ProjectSettings
from knn_al.projects.store import ProjectStore
from knn_al.simulation.synthetic import clustered_vectors

if TYPE_CHECKING:
    from tests.conftest import FakeClock


def _snapshot(project, ids):
    """Everything a user can observe: counts, labels, predictions with neighbours."""
    return project.info(), project.labels(), project.predict(ids)


def _files(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted((path / "pool").iterdir())}


def _ops(path: Path) -> list[tuple]:
    with sqlite3.connect(path / "log.sqlite") as db:
        return db.execute("SELECT seq, kind, payload FROM ops").fetchall()


def test_restart_rebuilds_exactly_the_same_state(tmp_path: Path, clock: FakeClock) -> None:
    store = ProjectStore(tmp_path, clock=clock)
    project = store.create(ProjectSettings(name="p", dimension=24, k=5))
    ids, x, cluster = clustered_vectors(3000, 24)
    project.add_items(ids[:1000], x[:1000])
    project.add_items(ids[1000:2000], x[1000:2000])
    project.label(ids[:40], [f"c{c}" for c in cluster[:40]])
    project.add_items(ids[2000:], x[2000:], [{"n": i} for i in range(1000)])  # added after labels
    project.label(ids[2000:2010], [f"c{c}" for c in cluster[2000:2010]], annotator="ann")
    project.label(ids[:3], ["c0", "c1", "c2"])  # relabels
    project.unlabel(ids[5:8])
    leased = [s.id for s in project.next_sample(4, annotator="x", seed=3)]
    before = _snapshot(project, ids)
    picks_before = project.next_sample(5, seed=11)
    project.release([p.id for p in picks_before])
    store.close()

    reopened = ProjectStore(tmp_path, clock=clock).get("p")
    assert _snapshot(reopened, ids) == before
    assert reopened.info().leased_count == 4
    picks_after = reopened.next_sample(5, seed=11)
    assert picks_after == picks_before
    assert not set(leased) & {p.id for p in picks_after}
    learner_a, learner_b = project.learner, reopened.learner
    assert np.array_equal(learner_a.tables_.sim_, learner_b.tables_.sim_)
    assert np.array_equal(learner_a.density_, learner_b.density_)


def test_leases_expire_and_are_never_handed_out_twice(tmp_path: Path, clock: FakeClock) -> None:
    project = ProjectStore(tmp_path, clock=clock).create(ProjectSettings(name="p", dimension=8, lease_seconds=60))
    ids, x, _ = clustered_vectors(6, 8)
    project.add_items(ids, x)
    first = {s.id for s in project.next_sample(4, annotator="a")}
    second = {s.id for s in project.next_sample(4, annotator="b", lease_seconds=600)}
    assert len(first) == 4 and len(second) == 2 and not first & second
    assert project.next_sample(1) == []
    clock.now += 59
    assert project.next_sample(1) == []
    clock.now += 2  # a's leases expire, b's hold
    again = {s.id for s in project.next_sample(6, annotator="c")}
    assert again == first
    assert project.info().leased_count == 6


def test_labeling_ends_a_lease_and_release_returns_the_item(tmp_path: Path, clock: FakeClock) -> None:
    project = ProjectStore(tmp_path, clock=clock).create(ProjectSettings(name="p", dimension=8))
    ids, x, _ = clustered_vectors(3, 8)
    project.add_items(ids, x)
    a, b = (s.id for s in project.next_sample(2))
    project.label([a], ["yes"])
    project.release([b])
    assert project.info().leased_count == 0
    with pytest.raises(StateError, match="not handed out"):
        project.release([b])
    assert {s.id for s in project.next_sample(3)} == set(ids) - {a}


def test_bad_input_writes_nothing(tmp_path: Path, clock: FakeClock) -> None:
    store = ProjectStore(tmp_path, clock=clock)
    project = store.create(ProjectSettings(name="p", dimension=8, labels=("a", "b")))
    ids, x, _ = clustered_vectors(50, 8)
    project.add_items(ids, x)
    project.label(ids[:2], ["a", "b"])
    state, files, ops = _snapshot(project, ids), _files(project.path), _ops(project.path)
    nan = x[:2].copy()
    nan[1, 3] = np.nan
    bad_calls = [
        (InvalidInputError, lambda: project.add_items(["n1", "n2"], nan)),
        (InvalidInputError, lambda: project.add_items(["n1"], np.ones((1, 7)))),
        (InvalidInputError, lambda: project.add_items([], np.empty((0, 8)))),
        (InvalidInputError, lambda: project.add_items(["n1"], x[:1], [{"bad": object()}])),
        (DuplicateItemError, lambda: project.add_items(["n1", ids[0]], x[:2])),
        (UnknownItemError, lambda: project.label([ids[3], "nope"], ["a", "a"])),
        (UnknownLabelError, lambda: project.label([ids[3]], ["c"])),
        (InvalidInputError, lambda: project.label([], [])),
        (StateError, lambda: project.unlabel([ids[3]])),
        (InvalidInputError, lambda: project.next_sample(0)),
        (InvalidInputError, lambda: project.predict(vectors=nan)),
        (InvalidInputError, lambda: project.load_dataset(tmp_path / "missing")),
        (AlreadyExistsError, lambda: store.create(ProjectSettings(name="p", dimension=8))),
        (NotFoundError, lambda: store.get("q")),
    ]
    for error, call in bad_calls:
        with pytest.raises(error):
            call()
    assert _snapshot(project, ids) == state
    assert _files(project.path) == files and _ops(project.path) == ops


def test_uncommitted_pool_files_from_a_crash_are_ignored(tmp_path: Path, clock: FakeClock) -> None:
    store = ProjectStore(tmp_path, clock=clock)
    project = store.create(ProjectSettings(name="p", dimension=8))
    ids, x, _ = clustered_vectors(20, 8)
    project.add_items(ids, x)
    store.close()
    # A crash after writing the next batch's files but before committing its log row.
    pool = tmp_path / "p" / "pool"
    (pool / "batch-00001.npy").write_bytes(b"torn")
    (pool / ".knn-al-tmp-density-00001.npy").write_bytes(b"torn")
    (pool / "notes.txt").write_bytes(b"a user's file")  # not ours: left alone
    reopened = ProjectStore(tmp_path, clock=clock).get("p")
    assert reopened.info().pool_size == 20
    assert sorted(p.name for p in pool.iterdir()) == ["batch-00000.jsonl", "batch-00000.npy", "density-00000.npy",
                                                      "groups-00000.npy", "notes.txt"]
    reopened.add_items(["new"], x[:1])
    assert reopened.info().pool_size == 21


def test_load_dataset_with_its_labels(tmp_path: Path, clock: FakeClock) -> None:
    ids, x, cluster = clustered_vectors(200, 16, clusters=2)
    labels = [f"c{c}" if i % 10 == 0 else None for i, c in enumerate(cluster)]
    write_dataset(tmp_path / "ds", ids=ids, vectors=x, encoder="test", labels=labels, sources=ids)
    store = ProjectStore(tmp_path / "data", clock=clock)
    fixed = store.create(ProjectSettings(name="fixed", dimension=16, labels=("c0",)))
    with pytest.raises(UnknownLabelError, match="c1"):
        fixed.load_dataset(tmp_path / "ds", import_labels=True)
    assert fixed.info().pool_size == 0
    wrong = store.create(ProjectSettings(name="wrong", dimension=8))
    with pytest.raises(InvalidInputError, match="16-dimensional"):
        wrong.load_dataset(tmp_path / "ds")
    project = store.create(ProjectSettings(name="p", dimension=16))
    assert project.load_dataset(tmp_path / "ds", import_labels=True) == (200, 20)
    info = project.info()
    assert info.pool_size == 200 and info.labeled_count == 20
    assert project.next_sample(1)[0].metadata["text"].startswith("item-")


def test_delete_removes_the_project(tmp_path: Path, clock: FakeClock) -> None:
    store = ProjectStore(tmp_path, clock=clock)
    project = store.create(ProjectSettings(name="p", dimension=8))
    store.delete("p")
    assert not (tmp_path / "p").exists() and store.list() == []
    with pytest.raises(NotFoundError):
        project.info()
    assert ProjectStore(tmp_path).list() == []


def test_goals_persist_and_a_refused_change_keeps_the_old_ones(tmp_path: Path, clock: FakeClock) -> None:
    store = ProjectStore(tmp_path, clock=clock)
    project = store.create(ProjectSettings(name="g", dimension=8, label_budget=5))
    ids, x, _ = clustered_vectors(30, 8)
    project.add_items(ids, x)
    project.set_goals(target_accuracy=0.8)
    with pytest.raises(InvalidInputError, match="label_budget"):
        project.set_goals(label_budget=-1)
    assert len(project.next_sample(10)) == 5
    assert project.progress().stop_reason == "budget_reached"
    store.close()
    reopened = ProjectStore(tmp_path, clock=clock).get("g")
    assert (reopened.settings.target_accuracy, reopened.settings.label_budget) == (0.8, 5)
    assert reopened.next_sample(1) == [] and reopened.progress().budget_left == 0


def test_a_stream_queries_until_two_classes_are_known(tmp_path: Path, clock: FakeClock) -> None:
    project = ProjectStore(tmp_path, clock=clock).create(ProjectSettings(name="s", dimension=8))
    ids, x, cluster = clustered_vectors(40, 8, clusters=2)
    project.add_items(ids, x)
    # Before any label there is no prediction; with one class every prediction has
    # probability 1, which says nothing: both are queried.
    assert project.decide("new-0", x[0], threshold=0.9).query
    project.label([ids[0]], ["a"])
    assert project.decide("new-1", x[0], threshold=0.9).query
    other = next(i for i, c in enumerate(cluster) if c != cluster[0])
    project.label([ids[other]], ["b"])
    decision = project.decide("new-2", x[0], threshold=0.6)
    assert (decision.query, decision.reason, decision.label) == (False, "confident", "a")
