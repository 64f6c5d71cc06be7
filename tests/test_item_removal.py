"""Removing items, adding them with a conflict policy, and keeping raw items, in-process
on real files: a removed item is gone from every answer and its id is free again, a
rerun load with "skip" changes nothing, "replace" swaps items whole, and all of it
replays after a restart."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from knn_al.dataset import write_dataset
from knn_al.errors import DuplicateItemError, InvalidInputError, UnknownItemError
from knn_al.learner import Learner
from knn_al.projects.project import Project
from knn_al.projects.settings import ProjectSettings
from knn_al.projects.store import ProjectStore
from knn_al.simulation.synthetic import clustered_vectors
from tests.items_helpers import DIM, all_pages, new_project, observed, ops, reopen

if TYPE_CHECKING:
    from tests.conftest import FakeClock


def test_removed_items_are_gone_from_every_answer_even_after_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    store, project, ids, x, cluster = new_project(tmp_path, clock, n=100, duplicate_threshold=1.0)
    project.label(ids[:10], [f"c{c}" for c in cluster[:10]], annotator="ann")
    (leased,) = [s.id for s in project.next_sample(1, annotator="bob")]
    skipped = next(i for i in ids[10:] if i != leased)
    gone = [ids[0], ids[1], leased, skipped]
    project.skip([skipped])
    assert project.remove_items(gone) == 96
    _check_gone(project, gone, x)
    expected = observed(project)
    store, project = reopen(store, tmp_path, clock)
    assert observed(project) == expected
    _check_gone(project, gone, x)


def _check_gone(project: Project, gone: list[str], x: np.ndarray) -> None:
    """Nothing of the items ``gone`` shows anywhere, and their ids are unknown."""
    info = project.info()
    assert (info.pool_size, info.labeled_count) == (96, 8)
    assert project.stats().skipped == 0
    assert not set(gone) & set(project.labels())
    assert not set(gone) & {e.id for e in project.export(include_predictions=True)}
    assert not set(gone) & set(all_pages(project, None, 1000))
    assert not set(gone) & {h.id for h in project.search(vector=x[0], limit=1000)}
    assert not set(gone) & {e.id for e in project.recent_labels(100)}
    assert not set(gone) & {s.id for s in project.next_sample(100, include_outliers=True)}
    for call in (lambda: project.predict([gone[0]]), lambda: project.items([gone[2]]),
                 lambda: project.label([gone[1]], ["c0"]), lambda: project.remove_items([gone[3]])):
        with pytest.raises(UnknownItemError):
            call()


def test_a_removed_id_can_be_added_again_as_a_new_item(tmp_path: Path, clock: FakeClock) -> None:
    store, project, ids, x, _ = new_project(tmp_path, clock, n=50)
    project.label([ids[4]], ["old"])
    project.remove_items([ids[4]])
    result = project.add_items([ids[4]], x[10:11], [{"second": True}])
    assert (result.added, result.pool_size) == (1, 50)
    expected = observed(project)
    store, project = reopen(store, tmp_path, clock)
    assert observed(project) == expected
    (record,) = project.items([ids[4]])
    assert (record.state, record.label, record.metadata) == ("unlabeled", "", {"second": True})
    assert project.search(item_id=ids[10], limit=1)[0].id == ids[4]  # the new vector, x[10]


def test_removing_a_labeled_duplicate_withdraws_what_it_propagated(tmp_path: Path, clock: FakeClock) -> None:
    _, project, ids, x, _ = new_project(tmp_path, clock, n=30, duplicate_threshold=1.0)
    project.add_items(["twin-1", "twin-2"], np.stack([x[3], x[3]]))
    project.label(["twin-1"], ["cat"])
    assert [r.state for r in project.items([ids[3], "twin-2"])] == ["propagated", "propagated"]
    project.remove_items(["twin-1"])
    assert [(r.state, r.label) for r in project.items([ids[3], "twin-2"])] == [("unlabeled", ""), ("unlabeled", "")]
    assert [g.ids for g in project.duplicate_groups()] == [[ids[3], "twin-2"]]


def test_later_surveys_leave_removed_items_out(tmp_path: Path, clock: FakeClock) -> None:
    store, project, ids, x, _ = new_project(tmp_path, clock, n=120, duplicate_threshold=1.0)
    project.remove_items(ids[:40])
    more, y, _ = clustered_vectors(30, DIM, seed=7)
    project.add_items([f"more-{i}" for i in range(30)], y)  # a whole-pool survey
    fresh = Learner(dimension=DIM, duplicate_threshold=1.0)
    fresh.add_items(ids[40:] + [f"more-{i}" for i in range(30)], np.concatenate([x[40:], y]))
    live = project.learner.status_ != 4
    assert np.allclose(project.learner.density_[live], fresh.density_, atol=1e-6)
    assert project.learner.outlier_threshold_ == pytest.approx(fresh.outlier_threshold_)
    assert [i for i, _ in project.outliers(1000)] == [i for i, _ in fresh.outliers()]
    expected = observed(project)
    store, project = reopen(store, tmp_path, clock)
    assert observed(project) == expected


def test_a_load_run_again_with_skip_adds_nothing_and_changes_nothing(tmp_path: Path, clock: FakeClock) -> None:
    ids, x, cluster = clustered_vectors(60, DIM, seed=3)
    write_dataset(tmp_path / "ds", ids=ids, vectors=x, encoder="test",
                  labels=[f"c{c}" if i % 3 == 0 else None for i, c in enumerate(cluster)])
    store = ProjectStore(tmp_path / "data", clock=clock)
    project = store.create(ProjectSettings(name="p", dimension=DIM))
    assert project.load_dataset(tmp_path / "ds", import_labels=True) == (60, 20)
    project.label([ids[0]], ["relabeled"])
    before, rows = observed(project), ops(project.path)
    with pytest.raises(DuplicateItemError, match="already in the pool"):
        project.load_dataset(tmp_path / "ds", import_labels=True)
    assert project.load_dataset(tmp_path / "ds", import_labels=True, on_conflict="skip") == (0, 0)
    assert observed(project) == before and ops(project.path) == rows

    (before_5,) = [r.metadata for r in project.items([ids[5]])]
    result = project.add_items(["new-1", ids[5], "new-2"], x[:3], [{"a": 1}, {"a": 2}, {"a": 3}], on_conflict="skip")
    assert (result.added, result.skipped, result.replaced, result.pool_size) == (2, 1, 0, 62)
    assert [r.metadata for r in project.items(["new-1", ids[5], "new-2"])] == [{"a": 1}, before_5, {"a": 3}]


def test_replace_swaps_items_whole_and_replays(tmp_path: Path, clock: FakeClock) -> None:
    store, project, ids, x, _ = new_project(tmp_path, clock, n=50, duplicate_threshold=1.0)
    project.label(ids[:2], ["a", "b"])
    (leased,) = [s.id for s in project.next_sample(1, annotator="bob")]
    swapped = [ids[0], leased, "brand-new"]
    result = project.add_items(swapped, x[40:43], [{"v": 2}] * 3, on_conflict="replace")
    assert (result.added, result.skipped, result.replaced, result.pool_size) == (3, 0, 2, 51)
    records = project.items(swapped)
    assert [(r.state, r.label, r.metadata) for r in records] == [("unlabeled", "", {"v": 2})] * 3
    assert project.labels() == {ids[1]: "b"} and project.info().leased_count == 0
    kinds = [row[1] for row in ops(project.path)]
    assert kinds[-2:] == ["remove", "add"]
    expected = observed(project)
    store, project = reopen(store, tmp_path, clock)
    assert observed(project) == expected


def test_refused_additions_change_nothing(tmp_path: Path, clock: FakeClock) -> None:
    _, project, ids, x, _ = new_project(tmp_path, clock, n=30)
    project.label([ids[0]], ["a"])
    before, rows = observed(project), ops(project.path)
    files = sorted(p.name for p in (project.path / "pool").iterdir())
    for error, call in (
        (InvalidInputError, lambda: project.add_items(["n"], x[:1], on_conflict="merge")),
        (DuplicateItemError, lambda: project.add_items(["n", ids[0]], x[:2])),
        (DuplicateItemError, lambda: project.add_items([ids[0], ids[0]], x[:2], on_conflict="replace")),
        (InvalidInputError, lambda: project.add_items([ids[0], "n"], x[:2], [{}, {"x": float("inf")}],
                                                      on_conflict="replace")),
        (InvalidInputError, lambda: project.remove_items([])),
        (UnknownItemError, lambda: project.remove_items([ids[1], "nope"])),
        (InvalidInputError, lambda: project.remove_items([ids[1], ids[1]])),
    ):
        with pytest.raises(error):
            call()
    assert observed(project) == before and ops(project.path) == rows
    assert sorted(p.name for p in (project.path / "pool").iterdir()) == files


def test_a_keep_raw_project_keeps_raw_items_until_they_are_removed(tmp_path: Path, clock: FakeClock) -> None:
    with pytest.raises(InvalidInputError, match="keep_raw needs an encoder"):
        ProjectSettings(name="k", dimension=8, keep_raw=True)
    store = ProjectStore(tmp_path, clock=clock)
    project = store.create(ProjectSettings(name="p", encoder="use-multilingual", keep_raw=True))
    x = np.random.default_rng(0).normal(size=(3, project.settings.dimension))
    project.add_items(["t", "i", "none"], x[:3], raw=["A text, café.", b"\x89PNG...", ""])
    assert project.raw_item("t") == ("A text, café.".encode(), "text")
    assert project.raw_item("i") == (b"\x89PNG...", "image")
    with pytest.raises(InvalidInputError, match="2 ids but 1 raw items"):
        project.add_items(["u", "v"], x[:2], raw=["one"])
    with pytest.raises(UnknownItemError):
        project.raw_item("u")
    project.add_items(["t"], x[:1], raw=["Replaced."], on_conflict="replace")
    project.remove_items(["i"])
    project.add_items(["i"], x[1:2])
    store, project = reopen(store, tmp_path, clock)
    assert project.raw_item("t") == (b"Replaced.", "text")
    assert project.raw_item("i") is None  # the removed item's raw went with it
    assert project.settings.keep_raw

    plain = store.create(ProjectSettings(name="plain", encoder="use-multilingual"))
    plain.add_items(["t"], x[:1], raw=["Not kept."])
    assert plain.raw_item("t") is None


def test_a_log_from_before_item_operations_is_upgraded_by_the_first_one(tmp_path: Path, clock: FakeClock) -> None:
    store, project, ids, _, _ = new_project(tmp_path, clock, n=30)
    project.label([ids[0]], ["a"])
    store.close()
    with sqlite3.connect(tmp_path / "p" / "log.sqlite") as db:  # the log as an older knn-al wrote it
        db.executescript("""
            DROP TABLE raw_items;
            CREATE TABLE old_ops (seq INTEGER PRIMARY KEY,
                kind TEXT NOT NULL CHECK (kind IN ('add', 'label', 'unlabel')), payload TEXT NOT NULL,
                annotator TEXT NOT NULL DEFAULT '', at REAL NOT NULL);
            INSERT INTO old_ops SELECT * FROM ops; DROP TABLE ops; ALTER TABLE old_ops RENAME TO ops;""")
    log = (tmp_path / "p" / "log.sqlite").read_bytes()
    store = ProjectStore(tmp_path, clock=clock)
    project = store.get("p")
    assert (tmp_path / "p" / "log.sqlite").read_bytes() == log  # opening writes nothing
    assert project.raw_item(ids[0]) is None
    project.skip(ids[1:3])
    project.remove_items([ids[3]])
    store, project = reopen(store, tmp_path, clock)
    assert [r.state for r in project.items(ids[:3])] == ["labeled", "skipped", "skipped"]
    assert project.info().pool_size == 29
