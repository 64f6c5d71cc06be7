"""Crashes and full disks (issue 11, cases 4 and 16).

LoadDataset with labels is all or nothing: a bad label refuses the whole load, and a
SIGKILL at any moment of it leaves the project with nothing or with every item and label,
never items without their labels. A full disk is refused with RESOURCE_EXHAUSTED naming
the data directory, changes nothing (in memory or on disk, no replay), and everything
works again once space is freed. The full-disk tests mount a real 3 MiB tmpfs (root only:
skipped with the reason where mounting is not allowed).
"""
from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest

from knn_al import errors
from knn_al.client import ServiceError
from knn_al.dataset import write_dataset
from knn_al.projects.project import Project
from knn_al.projects.settings import ProjectSettings
from knn_al.projects.store import ProjectStore
from knn_al.simulation.server_process import ServerProcess
from knn_al.simulation.synthetic import clustered_vectors
from knn_al.v1 import active_learning_pb2 as pb
from knn_al.v1 import active_learning_pb2_grpc as pb_grpc
from tests.disks import fill_disk

Code = grpc.StatusCode
TEMP_PREFIX = ".knn-al-tmp-"


def _temp_files(project_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(project_dir)) for p in project_dir.rglob(f"{TEMP_PREFIX}*"))


def _names(project_dir: Path) -> set[str]:
    """Every file and directory name in a project directory (a leftover of any name shows)."""
    return {str(p.relative_to(project_dir)) for p in project_dir.rglob("*")}


# ------------------------------------------------------ LoadDataset: all or nothing
def test_a_dataset_with_an_empty_label_is_refused_before_any_item_is_added(
        tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    ids, x, cluster = clustered_vectors(40, 16)
    labels: list[str | None] = [f"c{c}" if i % 4 == 0 else None for i, c in enumerate(cluster)]
    labels[13] = ""
    write_dataset(tmp_path / "bad.ds", ids=ids, vectors=x, encoder="none", labels=labels)
    server = serve(tmp_path / "data", cwd=tmp_path)  # its working directory: a dataset root
    client = server.client()
    client.create_project("p", 16)
    with pytest.raises(ServiceError) as refused:
        client.load_dataset("p", str(tmp_path / "bad.ds"), import_labels=True)
    assert refused.value.code == Code.INVALID_ARGUMENT
    assert "empty" in refused.value.message
    info = client.get_project("p")
    assert (info.pool_size, info.labeled_count) == (0, 0)
    assert client.export_labels("p") == {}
    assert _temp_files(tmp_path / "data" / "p") == []

    # Fixed, the same load simply runs again: nothing of the refused one is in the way.
    labels[13] = None
    write_dataset(tmp_path / "fixed.ds", ids=ids, vectors=x, encoder="none", labels=labels)
    expected = {i: lab for i, lab in zip(ids, labels) if lab is not None}
    assert client.load_dataset("p", str(tmp_path / "fixed.ds"), import_labels=True) == (40, len(expected))
    assert client.export_labels("p") == expected


# A load that takes a few seconds here (60k x 64, 5k labels: about 0.5 s reading the
# dataset, 1.5 s surveying the pool, then the pool files, the commit and the labels), so
# that a kill can land in each of its steps. Steps that write are caught as they happen,
# by watching the project directory, not guessed from timings on a busy machine.
LOAD_ITEMS, LOAD_DIMENSION, LOAD_EVERY = 60_000, 64, 12


class Load:
    """One LoadDataset call in flight, on a raw stub (the client would retry it against the
    killed server), and what it has written so far."""

    def __init__(self, server: ServerProcess, request: pb.LoadDatasetRequest, project_dir: Path) -> None:
        self.project_dir = project_dir
        self.wal = project_dir / "log.sqlite-wal"
        self.wal_before = self.wal_size()
        self.channel = grpc.insecure_channel(server.address)
        self.reply = pb_grpc.ActiveLearningStub(self.channel).LoadDataset.future(request, timeout=120)
        self.started = time.monotonic()

    def wal_size(self) -> int:
        return self.wal.stat().st_size if self.wal.exists() else -1

    def answered(self) -> bool:
        return self.reply.done() and self.reply.exception() is None

    def wait_for(self, event: str) -> None:
        """Return as soon as ``event`` happened (or the call ended first)."""
        pool = self.project_dir / "pool"
        happened = {
            "a pool file appeared": lambda: any(pool.iterdir()),
            "the last pool file is in place": lambda: (pool / "groups-00000.npy").exists(),
            "the log grew (a commit)": lambda: self.wal_size() != self.wal_before,
        }[event]
        while not happened():
            if self.reply.done():
                return
            assert time.monotonic() - self.started < 120, f"the load never reached: {event}"
            time.sleep(0.002)


#: When each kill comes: seconds after the request, an event, an event then a pause, or
#: once the reply arrived.
KILLS = [("at once", None, 0.0), ("0.5 s in", None, 0.5), ("1.2 s in", None, 1.2),
         ("a pool file appeared", "a pool file appeared", 0.0),
         ("the last pool file is in place", "the last pool file is in place", 0.0),
         ("the log grew (a commit)", "the log grew (a commit)", 0.0),
         ("0.2 s after the first commit", "the log grew (a commit)", 0.2),
         ("after the reply", "reply", 0.0)]


def _phase(at_kill: dict[str, object], held: tuple[int, int]) -> str:
    """Which step of the load a kill landed in, told from what it left."""
    if at_kill["answered"]:
        return "after the reply"
    if held[0]:
        return "after the commit" if held[1] else "between the items and their labels"
    if at_kill["log grew"]:
        return "during the commit (not yet durable)"
    pool = at_kill["pool files"]
    if {"batch-00000.npy", "batch-00000.jsonl", "density-00000.npy", "groups-00000.npy"} <= set(pool):
        return "after the pool files, before the commit"
    return "during the pool file writes" if pool else "reading or surveying (nothing written)"


def test_sigkill_at_any_step_of_a_dataset_load_leaves_nothing_or_everything(
        tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    ids, x, cluster = clustered_vectors(LOAD_ITEMS, LOAD_DIMENSION)
    labels = [f"c{c}" if i % LOAD_EVERY == 0 else None for i, c in enumerate(cluster)]
    expected_counts = Counter(lab for lab in labels if lab is not None)
    n, n_labels = LOAD_ITEMS, sum(expected_counts.values())
    dataset = str(write_dataset(tmp_path / "big.ds", ids=ids, vectors=x, encoder="none", labels=labels))
    request = pb.LoadDatasetRequest(project="load", path=dataset, import_labels=True)

    outcomes = []
    for step, (name, event, pause) in enumerate(KILLS):
        data = tmp_path / f"data-{step}"
        project_dir = data / "load"
        server = serve(data, cwd=tmp_path)
        server.client().create_project("load", LOAD_DIMENSION)
        load = Load(server, request, project_dir)
        if event == "reply":
            load.reply.result()
        elif event is not None:
            load.wait_for(event)
        time.sleep(pause)
        answered = load.answered()
        server.kill()
        at = time.monotonic() - load.started
        load.channel.close()
        at_kill = {"answered": answered, "log grew": load.wal_size() != load.wal_before,
                   "pool files": sorted(p.name for p in (project_dir / "pool").iterdir())}

        server = serve(data, cwd=tmp_path)
        client = server.client()
        info = client.get_project("load")
        held = (info.pool_size, info.labeled_count)
        outcomes.append(f"kill {name} ({at:.2f} s): {_phase(at_kill, held)}, held {held}")
        where = f"{outcomes[-1]}; at the kill: {at_kill}"
        assert held in {(0, 0), (n, n_labels)}, f"the project holds items without their labels: {where}"
        if at_kill["answered"]:
            assert held == (n, n_labels), f"an acknowledged load was lost: {where}"
        assert _temp_files(project_dir) == [], where
        if held == (0, 0):
            assert not any((project_dir / "pool").iterdir()), f"uncommitted pool files kept: {where}"
            assert client.load_dataset("load", dataset, import_labels=True) == (n, n_labels), where
        info = client.get_project("load")
        assert (info.pool_size, info.labeled_count) == (n, n_labels), where
        assert info.label_counts == dict(expected_counts), where
        server.stop()
        shutil.rmtree(data)
    print("\n".join(outcomes))


# -------------------------------------------------------------------- full disk
class ReplaySpy:
    """Counts Project._replay calls (the real method still runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = Project._replay

        def spy(project: Project) -> None:
            self.calls += 1
            real(project)

        monkeypatch.setattr(Project, "_replay", spy)


def _observed(project: Project, ids: list[str]):
    return project.info(), project.labels(), project.predict(ids)


def _labeled_project(data_dir: Path) -> tuple[ProjectStore, Project, list[str], np.ndarray, np.ndarray]:
    store = ProjectStore(data_dir)
    project = store.create(ProjectSettings(name="p", dimension=16))
    ids, x, cluster = clustered_vectors(600, 16)
    project.add_items(ids[:300], x[:300], [{"n": i} for i in range(300)])
    project.label(ids[:30], [f"c{c}" for c in cluster[:30]], annotator="ana")
    return store, project, ids, x, cluster


def test_adding_items_to_a_full_disk_raises_disk_full_naming_the_data_dir_and_changes_nothing(
        small_disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = small_disk / "data"
    store, project, ids, x, _ = _labeled_project(data_dir)
    try:
        before, files_before = _observed(project, ids[:300]), _names(project.path)
        filler = fill_disk(small_disk)
        replays = ReplaySpy(monkeypatch)

        with pytest.raises(errors.CapacityError) as full:
            project.add_items(ids[300:], x[300:], [{"n": i} for i in range(300, 600)])
        assert isinstance(full.value, errors.DiskFullError)
        assert str(data_dir) in str(full.value)
        assert _observed(project, ids[:300]) == before
        assert _temp_files(project.path) == [] and _names(project.path) == files_before
        assert replays.calls == 0

        filler.unlink()
        assert project.add_items(ids[300:], x[300:], [{"n": i} for i in range(300, 600)]).pool_size == 600
        assert project.labels() == before[1]
        assert replays.calls == 0
    finally:
        store.close()
    reopened = ProjectStore(data_dir)
    try:
        assert reopened.get("p").info().pool_size == 600
        assert reopened.get("p").labels() == before[1]
    finally:
        reopened.close()


def test_a_label_commit_on_a_full_disk_raises_disk_full_and_changes_nothing(
        small_disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = small_disk / "data"
    store, project, ids, _, cluster = _labeled_project(data_dir)
    try:
        before, files_before = _observed(project, ids[:300]), _names(project.path)
        filler = fill_disk(small_disk)
        replays = ReplaySpy(monkeypatch)
        new = {i: f"c{c}" for i, c in zip(ids[100:110], cluster[100:110])}

        with pytest.raises(errors.CapacityError) as full:  # SQLite: "database or disk is full"
            project.label(list(new), list(new.values()), annotator="ana")
        assert isinstance(full.value, errors.DiskFullError)
        assert str(data_dir) in str(full.value)
        assert _observed(project, ids[:300]) == before
        assert _temp_files(project.path) == [] and _names(project.path) == files_before
        assert replays.calls == 0

        filler.unlink()
        assert project.label(list(new), list(new.values()), annotator="ana").labeled_count == 40
        assert project.labels() == {**before[1], **new}
        assert replays.calls == 0
    finally:
        store.close()
    reopened = ProjectStore(data_dir)
    try:
        assert reopened.get("p").labels() == {**before[1], **new}
    finally:
        reopened.close()


def test_the_server_answers_resource_exhausted_on_a_full_disk_and_works_once_space_is_freed(
        small_disk: Path, serve: Callable[..., ServerProcess]) -> None:
    data_dir = small_disk / "data"
    ids, x, cluster = clustered_vectors(600, 16)
    labeled = {i: f"c{c}" for i, c in zip(ids[:30], cluster[:30])}
    server = serve(data_dir)
    client = server.client()
    client.create_project("p", 16)
    client.add_items("p", ids[:300], x[:300])
    client.submit_labels("p", labeled, annotator="ana")
    filler = fill_disk(small_disk)

    with pytest.raises(ServiceError) as full:
        client.add_items("p", ids[300:], x[300:])
    assert full.value.code == Code.RESOURCE_EXHAUSTED, full.value
    assert str(data_dir) in full.value.message
    with pytest.raises(ServiceError) as full:
        client.submit_label("p", ids[100], "c0", annotator="ana")
    assert full.value.code == Code.RESOURCE_EXHAUSTED, full.value
    assert str(data_dir) in full.value.message
    info = client.get_project("p")
    assert (info.pool_size, info.labeled_count) == (300, 30)
    assert _temp_files(data_dir / "p") == []

    filler.unlink()
    assert client.add_items("p", ids[300:], x[300:]) == 600
    assert client.export_labels("p") == labeled
    client.submit_label("p", ids[100], f"c{cluster[100]}", annotator="ana")
    server = server.restart()
    client = server.client()
    info = client.get_project("p")
    assert (info.pool_size, info.labeled_count) == (600, 31)
    assert client.export_labels("p") == {**labeled, ids[100]: f"c{cluster[100]}"}
