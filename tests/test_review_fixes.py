"""The review fixes of the hardening (commit c846bb5), each tested on the defect it fixed.

- a whole project written before the marker existed is adopted (the marker added, nothing
  else touched), and `knn-al check` accepts it;
- a request id is remembered even when its caller's deadline cut the call off, and an id is
  bound to its request (reused for another project it is refused, not answered with the
  other project's reply);
- ReleaseItems refuses a repeated id instead of leaving the item stuck;
- calls waiting for a busy project do not hold the worker threads other projects need;
- full disks: CreateProject is RESOURCE_EXHAUSTED with no temporary directory left, a lease
  expiring while the disk is full does not fail read-only calls, and a queried stream item
  joins the pool together with its lease or not at all;
- LoadDataset follows the symbolic links of a dataset's files, and `/` is no dataset root;
- `knn-al serve` refuses non-positive numbers in one line and a failed start leaves nothing;
- metadata is kept as a replay reads it back (a tuple is a list, live and after a restart).

Full-disk tests mount a real 3 MiB tmpfs (the ``small_disk`` fixture of tests/conftest.py;
skipped with the reason where mounting is not allowed).
"""
from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import numpy as np
import pytest

from knn_al import errors
from knn_al.client import ServiceError
from knn_al.dataset import write_dataset
from knn_al.errors import shown
from knn_al.projects.settings import ProjectSettings
from knn_al.projects.store import ProjectStore
from knn_al.simulation.server_process import ServerProcess
from knn_al.simulation.synthetic import clustered_vectors
from knn_al.v1 import active_learning_pb2 as pb
from knn_al.v1 import active_learning_pb2_grpc as pb_grpc
from tests.disks import fill_disk

if TYPE_CHECKING:
    from tests.conftest import FakeClock

Code = grpc.StatusCode
MARKER = "knn-al-project.json"
TEMP_PREFIX = ".knn-al-tmp-"
D = 16


def _vectors(x: np.ndarray) -> pb.Vectors:
    x = np.ascontiguousarray(x, dtype="<f4")
    return pb.Vectors(count=x.shape[0], dimension=x.shape[1], data=x.tobytes())


def _files(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` with its bytes, but the marker and SQLite's -wal/-shm
    (which merely opening a WAL database may create)."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and p.name != MARKER and not p.name.endswith(("-wal", "-shm"))}


def _cli(*args: str, cwd: str | Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "knn_al.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1",
                                                         "PYTHONPATH": str(Path(__file__).parents[1])})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """One real server for the tests that do not disturb each other: two workers (so that a
    busy project could starve the others of threads) and a dataset root of its own."""
    base = tmp_path_factory.mktemp("shared")
    (base / "root").mkdir()
    running = ServerProcess(base / "data", "--workers", "2", "--dataset-root", str(base / "root"))
    running.base = base  # type: ignore[attr-defined]
    try:
        yield running
    finally:
        running.stop()


# -------------------------------------------------- 1. projects from before the marker
def test_a_whole_project_written_before_the_marker_is_adopted_with_nothing_else_changed(
        tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    data = tmp_path / "data"
    ids, x, cluster = clustered_vectors(300, D)
    labeled = {i: f"c{c}" for i, c in zip(ids[:40], cluster[:40])}
    first = serve(data)
    client = first.client()
    client.create_project("legacy", D)
    client.add_items("legacy", ids, x, [{"n": i} for i in range(len(ids))])
    client.submit_labels("legacy", labeled, annotator="ana")
    before = (client.get_project("legacy"), client.export_labels("legacy"), client.predict("legacy", ids[::7]))
    client.create_project("fresh", D)  # its marker is what an adopted project gets
    first.stop()
    project = data / "legacy"
    (project / MARKER).unlink()  # as written by a knn-al from before the marker
    files = _files(project)
    assert "settings.json" in files and "log.sqlite" in files
    checked = _cli("check", str(data))  # before any server touched it again

    second = serve(data)
    client = second.client()
    listed = {p.name: p for p in client.list_projects()}
    assert (listed["legacy"].state, listed["legacy"].problem) == ("ready", ""), listed["legacy"]
    assert (client.get_project("legacy"), client.export_labels("legacy"),
            client.predict("legacy", ids[::7])) == before
    assert (project / MARKER).read_bytes() == (data / "fresh" / MARKER).read_bytes()
    assert _files(project) == files  # the marker added, nothing else written
    second.stop()
    assert _files(project) == files
    assert sorted(p.name for p in project.iterdir() if not p.name.endswith(("-wal", "-shm"))) == sorted(
        ["log.sqlite", "pool", "settings.json", MARKER])
    assert checked.returncode == 0, (checked.stdout, checked.stderr)
    assert "missing" not in checked.stdout


# ------------------------------------------------------------------ 2. request ids
# An upload whose commit takes seconds here (the survey of 35k x 64 random vectors: 3-4 s
# on 2 cores) and arrives in a fraction of a second: a 1 s deadline expires during the commit.
BIG_ITEMS, BIG_DIMENSION, CHUNK_ROWS = 35_000, 64, 4096


def _big_upload(project: str, request_id: str = "", *, seed: int = 1) -> list[pb.AddItemsRequest]:
    x = np.random.default_rng(seed).normal(size=(BIG_ITEMS, BIG_DIMENSION)).astype(np.float32)
    ids = [f"big-{i:06d}" for i in range(BIG_ITEMS)]
    return [pb.AddItemsRequest(project=project, ids=ids[s:s + CHUNK_ROWS], vectors=_vectors(x[s:s + CHUNK_ROWS]),
                               request_id=request_id if s == 0 else "")
            for s in range(0, BIG_ITEMS, CHUNK_ROWS)]


def test_a_request_id_cut_off_by_the_callers_deadline_is_still_remembered(server: ServerProcess) -> None:
    client = server.client()
    client.create_project("deadline", BIG_DIMENSION)
    upload = _big_upload("deadline", "upload-R")
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.ActiveLearningStub(channel)
        with pytest.raises(grpc.RpcError) as cut:
            stub.AddItems(iter(upload), timeout=1.0)
        assert cut.value.code() == Code.DEADLINE_EXCEEDED, cut.value
        # The retry of the same call (same id, same items) gets the first call's reply.
        reply = stub.AddItems(iter(upload), timeout=120)
        assert (reply.added, reply.pool_size) == (BIG_ITEMS, BIG_ITEMS)
        again = stub.AddItems(iter(upload), timeout=120)
        assert (again.added, again.pool_size) == (BIG_ITEMS, BIG_ITEMS)
    assert client.get_project("deadline").pool_size == BIG_ITEMS


def test_a_request_id_reused_for_another_project_is_refused_not_answered_with_the_first_reply(
        server: ServerProcess) -> None:
    client = server.client()
    ids, x, _ = clustered_vectors(60, D)
    for name in ("ids-a", "ids-b"):
        client.create_project(name, D)
        client.add_items(name, ids, x)
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.ActiveLearningStub(channel)
        first = stub.NextSample(pb.NextSampleRequest(project="ids-a", count=3, annotator="ana",
                                                     request_id="shared-id"), timeout=30)
        assert len(first.samples) == 3
        with pytest.raises(grpc.RpcError) as refused:
            stub.NextSample(pb.NextSampleRequest(project="ids-b", count=3, annotator="ana",
                                                 request_id="shared-id"), timeout=30)
    assert refused.value.code() == Code.INVALID_ARGUMENT, refused.value
    assert "shared-id" in refused.value.details() and "another" in refused.value.details()
    assert client.get_project("ids-b").leased_count == 0
    assert client.get_project("ids-a").leased_count == 3


# ------------------------------------------------------------ 3. repeated release ids
def test_releasing_a_repeated_id_is_refused_and_the_item_stays_releasable(server: ServerProcess) -> None:
    client = server.client()
    ids, x, _ = clustered_vectors(40, D)
    client.create_project("release", D)
    client.add_items("release", ids, x)
    (item,) = [s.id for s in client.next_sample("release", 1, annotator="ana")]

    with pytest.raises(ServiceError) as refused:
        client.release("release", [item, item], annotator="ana")
    assert refused.value.code == Code.INVALID_ARGUMENT, refused.value
    assert "more than once" in refused.value.message and item in refused.value.message
    assert client.get_project("release").leased_count == 1
    with pytest.raises(ServiceError) as held:  # still ana's: nobody else takes it
        client.release("release", [item], annotator="bob")
    assert held.value.code == Code.FAILED_PRECONDITION, held.value

    assert client.release("release", [item], annotator="ana") == 1
    assert client.get_project("release").leased_count == 0
    assert item in [s.id for s in client.next_sample("release", 40, annotator="bob")]


# ----------------------------------------------------- 4. no starving of other projects
def test_calls_waiting_for_a_busy_project_leave_the_workers_to_other_projects(server: ServerProcess) -> None:
    client = server.client()
    client.create_project("busy", BIG_DIMENSION)
    client.create_project("idle", D)
    upload = _big_upload("busy", seed=2)
    sent = threading.Event()

    def chunks():
        yield from upload
        sent.set()

    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.ActiveLearningStub(channel)
        long_upload = stub.AddItems.future(chunks(), timeout=120)
        assert sent.wait(30)
        time.sleep(0.3)  # the chunks are in: the commit (seconds) holds the project
        assert not long_upload.done(), "the upload committed too fast to keep the project busy"
        abandoned = stub.GetProject.future(pb.GetProjectRequest(project="busy"), timeout=0.5)
        waiting = stub.GetProject.future(pb.GetProjectRequest(project="busy"), timeout=120)
        time.sleep(0.7)  # the first one's deadline passes; both are queued behind the upload
        assert abandoned.exception() is not None and abandoned.exception().code() == Code.DEADLINE_EXCEEDED
        assert not long_upload.done(), "the upload committed too fast to keep the project busy"

        started = time.monotonic()
        idle = stub.GetProject(pb.GetProjectRequest(project="idle"), timeout=30)
        took = time.monotonic() - started
        assert idle.project.settings.name == "idle"
        assert took < 1.0, f"GetProject of an idle project waited {took:.2f} s for another project's upload"
        assert not long_upload.done()
        assert long_upload.result().pool_size == BIG_ITEMS
        assert waiting.result().project.pool_size == BIG_ITEMS


# -------------------------------------------------------------------- 5. full disks
def test_create_project_on_a_full_disk_is_resource_exhausted_and_leaves_no_temporary_directory(
        small_disk: Path, serve: Callable[..., ServerProcess]) -> None:
    data = small_disk / "data"
    running = serve(data)
    client = running.client()
    filler = fill_disk(small_disk)
    with pytest.raises(ServiceError) as full:
        client.create_project("p", D)
    assert full.value.code == Code.RESOURCE_EXHAUSTED, full.value
    assert str(data) in full.value.message
    assert [p.name for p in data.iterdir() if p.name.startswith(TEMP_PREFIX) or p.name == "p"] == []
    assert client.list_projects() == []

    filler.unlink()
    assert client.create_project("p", D).name == "p"
    assert [p.name for p in data.iterdir() if p.name.startswith(TEMP_PREFIX)] == []


def test_a_lease_expiring_while_the_disk_is_full_does_not_fail_read_only_calls(small_disk: Path,
                                                                               clock: FakeClock) -> None:
    data = small_disk / "data"
    ids, x, cluster = clustered_vectors(200, D)
    store = ProjectStore(data, clock=clock)
    try:
        project = store.create(ProjectSettings(name="p", dimension=D, lease_seconds=60))
        project.add_items(ids, x)
        project.label(ids[:20], [f"c{c}" for c in cluster[:20]])
        (leased,) = [s.id for s in project.next_sample(1, annotator="ana", seed=0)]
        assert project.info().leased_count == 1
        predictions = project.predict(ids[20:40])

        filler = fill_disk(small_disk)
        clock.now += 61  # the lease expires while nothing can be written
        info = project.info()
        assert (info.pool_size, info.labeled_count, info.leased_count) == (200, 20, 0)
        assert project.predict(ids[20:40]) == predictions
        assert project.stats().leased == 0

        filler.unlink()
        # The item is back in the pool: it can be leased again, to someone else (over the
        # expired lease's row, which the full disk kept from being deleted).
        again = [s.id for s in project.next_sample(200, annotator="bob")]
        assert leased in again
        assert project.release([i for i in again if i != leased], annotator="bob") == len(again) - 1
        assert project.info().leased_count == 1
    finally:
        store.close()
    reopened = ProjectStore(data, clock=clock)
    try:
        assert reopened.get("p").info().leased_count == 1
        with pytest.raises(errors.StateError):  # bob's, not ana's
            reopened.get("p").release([leased], annotator="ana")
        assert reopened.get("p").release([leased], annotator="bob") == 1
    finally:
        reopened.close()


def test_a_stream_item_queried_on_a_full_disk_joins_the_pool_with_its_lease_or_not_at_all(small_disk: Path) -> None:
    """The disk is filled, then a few blocks are freed: 0, 1, 2, ... until an item fits. An
    item that does not fit is refused and leaves the pool as it was (at some amount of
    space, the addition fits but its lease does not: that must not split the two)."""
    data = small_disk / "data"
    ids, x, _ = clustered_vectors(50, D)
    stream = np.random.default_rng(7).normal(size=(20, D)).astype(np.float32)
    store = ProjectStore(data)
    refused: list[int] = []
    try:
        project = store.create(ProjectSettings(name="p", dimension=D))
        project.add_items(ids, x)  # no labels: every stream item is queried
        for free_blocks in range(16):
            filler = fill_disk(small_disk, leave_blocks=free_blocks)
            before = project.info()
            try:
                decision = project.decide(f"s{free_blocks}", stream[free_blocks], threshold=1.0, annotator="ana")
            except errors.DiskFullError as exc:
                assert str(data) in str(exc)
                after = project.info()
                assert (after.pool_size, after.leased_count) == (before.pool_size, before.leased_count), (
                    f"with {free_blocks} blocks free the refused item changed the pool")
                refused.append(free_blocks)
                continue
            assert decision.query
            after = project.info()
            assert (after.pool_size, after.leased_count) == (before.pool_size + 1, before.leased_count + 1)
            break
        else:
            pytest.fail("no stream item fitted in 15 free blocks")
        assert refused, "the first item fitted on a full disk"

        filler.unlink()
        for free_blocks in refused:  # the same ids again, with space: each is queried once
            decision = project.decide(f"s{free_blocks}", stream[free_blocks], threshold=1.0, annotator="ana")
            assert (decision.id, decision.query) == (f"s{free_blocks}", True)
        info = project.info()
        assert (info.pool_size, info.leased_count) == (50 + len(refused) + 1, len(refused) + 1)
    finally:
        store.close()
    reopened = ProjectStore(data)
    try:
        assert (reopened.get("p").info().pool_size, reopened.get("p").info().leased_count) == (
            50 + len(refused) + 1, len(refused) + 1)
    finally:
        reopened.close()


# ------------------------------------------------------------------ 6. dataset roots
def test_a_dataset_in_a_root_whose_shard_links_outside_every_root_is_refused(server: ServerProcess,
                                                                              tmp_path: Path) -> None:
    root: Path = server.base / "root"  # type: ignore[attr-defined]
    ids, x, cluster = clustered_vectors(30, D)
    outside = write_dataset(tmp_path / "outside.ds", ids=ids, vectors=x, encoder="none")
    linked = root / "linked.ds"
    linked.mkdir()
    for entry in outside.iterdir():
        if entry.suffix == ".npy":
            (linked / entry.name).symlink_to(entry)  # the vectors: a file outside every root
        else:
            shutil.copy(entry, linked / entry.name)
    client = server.client()
    client.create_project("links", D)

    with pytest.raises(ServiceError) as direct:
        client.load_dataset("links", str(outside))
    with pytest.raises(ServiceError) as through_link:
        client.load_dataset("links", str(linked))
    assert through_link.value.code == direct.value.code == Code.INVALID_ARGUMENT
    assert (through_link.value.message.replace(shown(str(linked)), "PATH")
            == direct.value.message.replace(shown(str(outside)), "PATH"))
    assert client.get_project("links").pool_size == 0

    whole = write_dataset(root / "whole.ds", ids=ids, vectors=x, encoder="none")  # the same, inside the root
    assert client.load_dataset("links", str(whole)) == (30, 0)


def test_a_server_whose_working_directory_is_slash_does_not_read_datasets_everywhere(
        tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    ids, x, _ = clustered_vectors(30, D)
    stray = write_dataset(tmp_path / "stray.ds", ids=ids, vectors=x, encoder="none")
    (tmp_path / "root").mkdir()
    allowed = write_dataset(tmp_path / "root" / "allowed.ds", ids=ids, vectors=x, encoder="none")
    running = serve(tmp_path / "data", "--dataset-root", str(tmp_path / "root"), cwd=Path("/"))
    client = running.client()
    client.create_project("p", D)
    with pytest.raises(ServiceError) as refused:
        client.load_dataset("p", str(stray))
    assert refused.value.code == Code.INVALID_ARGUMENT, refused.value
    assert "outside this server's dataset roots" in refused.value.message
    assert client.get_project("p").pool_size == 0
    assert client.load_dataset("p", str(allowed)) == (30, 0)


# --------------------------------------------------------------- 7. start-up numbers
@pytest.mark.parametrize("flags", [("--workers", "0"), ("--max-message-mb", "0"), ("--max-upload-items", "0"),
                                   ("--max-upload-mb", "-1"), ("--grace", "-1")])
def test_serve_refuses_a_non_positive_number_in_one_line_and_creates_nothing(tmp_path: Path,
                                                                               flags: tuple[str, str]) -> None:
    data = tmp_path / "data"
    process = subprocess.Popen([sys.executable, "-m", "knn_al.cli", "serve", "--data-dir", str(data), "--port", "0",
                                *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # "knn-al serving on ..." if it started; "" once it exited
        if "serving on" in line:
            process.kill()
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert "serving on" not in line, f"the server started with {' '.join(flags)}"
    assert process.returncode == 2, (process.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("knn-al serve:") and flags[0] in lines[0], err
    assert not data.exists()


def test_a_start_that_fails_once_the_data_dir_is_locked_leaves_no_data_dir(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The store cannot fail on a directory the start has just created but for a fault (there
    is nothing in it to open): the fault is injected into the real start-up code."""
    from knn_al.server import app

    def failing_store(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EIO, "Input/output error (injected)")

    monkeypatch.setattr(app, "ProjectStore", failing_store)
    data = tmp_path / "new" / "data"
    (tmp_path / "new").mkdir()
    config = app.ServerConfig(data_dir=data, host="127.0.0.1", port=0)
    with pytest.raises(app.StartupError, match="data directory .*injected"):
        asyncio.run(app.start_server(config))
    assert list((tmp_path / "new").iterdir()) == []


def test_a_start_on_a_full_disk_says_so_in_one_line_and_leaves_no_data_dir(small_disk: Path) -> None:
    fill_disk(small_disk)
    data = small_disk / "data"
    done = _cli("serve", "--data-dir", str(data), "--port", "0")
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
    assert not data.exists(), sorted(p.name for p in data.iterdir())


# ----------------------------------------------------------------------- 8. metadata
def test_metadata_reads_the_same_live_and_after_a_restart(tmp_path: Path) -> None:
    ids, x, _ = clustered_vectors(5, D)
    metadata = [{"t": (1, 2), "n": i, "nested": {"pair": (i, "x")}} for i in range(5)]
    expected = {i: {"t": [1, 2], "n": n, "nested": {"pair": [n, "x"]}} for n, i in enumerate(ids)}
    store = ProjectStore(tmp_path)
    try:
        project = store.create(ProjectSettings(name="p", dimension=D))
        project.add_items(ids, x, metadata)
        metadata[0]["t"] = "changed by the caller afterwards"
        live = {s.id: s.metadata for s in project.next_sample(5, annotator="ana", seed=0)}
        assert live == expected
        assert json.loads(json.dumps(live)) == live
    finally:
        store.close()
    reopened = ProjectStore(tmp_path)
    try:
        project = reopened.get("p")
        project.release(ids, annotator="ana")
        assert {s.id: s.metadata for s in project.next_sample(5, annotator="ana", seed=0)} == expected
    finally:
        reopened.close()
