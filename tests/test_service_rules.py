"""Issue 11, the service's rules, against real `knn-al serve` processes on loopback:
lease owners and the maximum lease (12), retries that are not done twice (13), vectors
near the float32 limits (14), bad input answered INVALID_ARGUMENT (15), LoadDataset
confined to dataset roots (18), and ids unique across the pool and the auto labels (19)."""
from __future__ import annotations

import contextlib
import datetime
import json
import math
import socket
import sqlite3
import threading
import time
import types
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
from google.protobuf import struct_pb2

import knn_al.client.client as client_module
from knn_al.client import Client, ServiceError
from knn_al.dataset import write_dataset
from knn_al.simulation.server_process import ServerProcess
from knn_al.simulation.synthetic import clustered_vectors
from knn_al.v1 import active_learning_pb2 as pb
from knn_al.v1 import active_learning_pb2_grpc as pb_grpc

Code = grpc.StatusCode
DIM = 16
DAY = 24 * 3600
#: NextSample options under which every free item is a candidate (outliers too).
EVERY = {"strategy": "random", "include_outliers": True}
#: How long a server may take to start.
STARTUP_SECONDS = 60


# ------------------------------------------------------------------ servers
def _log_beside(data_dir: Path) -> Path:
    """Where a server's log goes: a file beside its data dir, so that a chatty server never
    blocks on a full pipe."""
    return data_dir.parent / f"{data_dir.name}.server.log"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """One default server (no --max-lease, no --dataset-root) whose working directory is
    pytest's base temp dir, so datasets written under tmp_path are inside its roots."""
    data = tmp_path_factory.mktemp("shared") / "data"
    server = ServerProcess(data, cwd=tmp_path_factory.getbasetemp(), log=_log_beside(data))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess):
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def stub(server: ServerProcess):
    with grpc.insecure_channel(server.address) as channel:
        yield pb_grpc.ActiveLearningStub(channel)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------- raw requests
# Fields issue 11 added to requests, by their number in the proto. A request built here
# carries them even for an older generated module (as unknown fields, which protobuf
# keeps and an older server ignores), so a test of an older server fails on the
# behaviour itself rather than on building the request.
NEW_FIELDS = {("NextSampleRequest", "request_id"): 8, ("AddItemsRequest", "request_id"): 7,
              ("RemoveLabelsRequest", "request_id"): 3, ("ReleaseItemsRequest", "annotator"): 3,
              ("ReleaseItemsRequest", "force"): 4}


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _with(message, **fields):
    """``message`` with the new ``fields`` set (strings or booleans)."""
    extra = b""
    for name, value in fields.items():
        number = NEW_FIELDS[(type(message).__name__, name)]
        declared = type(message).DESCRIPTOR.fields_by_name.get(name)
        assert declared is None or declared.number == number, f"{name} is field {declared.number}"
        if isinstance(value, bool):
            extra += _varint(number << 3) + _varint(int(value))
        else:
            data = value.encode()
            extra += _varint(number << 3 | 2) + _varint(len(data)) + data
    return type(message).FromString(message.SerializeToString() + extra)


def _vectors(x: np.ndarray) -> pb.Vectors:
    x = np.ascontiguousarray(x, dtype="<f4")
    return pb.Vectors(count=x.shape[0], dimension=x.shape[1], data=x.tobytes())


def _release(stub, project: str, ids: list[str], *, annotator: str = "", force: bool = False) -> int:
    request = _with(pb.ReleaseItemsRequest(project=project, ids=ids), annotator=annotator, force=force)
    return stub.ReleaseItems(request, timeout=30).released


def _refusal(call) -> ServiceError | grpc.RpcError:
    """The error ``call()`` raises (a :class:`ServiceError` or a raw ``grpc.RpcError``)."""
    with pytest.raises((ServiceError, grpc.RpcError)) as caught:
        call()
    return caught.value


def _code(error) -> grpc.StatusCode:
    return error.code if isinstance(error, ServiceError) else error.code()


def _message(error) -> str:
    return error.message if isinstance(error, ServiceError) else error.details()


def _pool(client: Client, name: str, n: int = 12) -> list[str]:
    """A project of ``n`` items in random directions: no duplicates, so every item is
    handed out on its own."""
    ids = [f"{name}-{i}" for i in range(n)]
    x = np.random.default_rng(len(name)).standard_normal((n, DIM)).astype(np.float32)
    client.create_project(name, DIM)
    client.add_items(name, ids, x)
    return ids


def _last_op(data_dir: Path, project: str) -> tuple[str, dict, str]:
    """The newest row of the project's operation log, read-only: (kind, payload, annotator)."""
    db = sqlite3.connect(f"file:{data_dir / project / 'log.sqlite'}?mode=ro", uri=True)
    try:
        kind, payload, annotator = db.execute("SELECT kind, payload, annotator FROM ops ORDER BY seq DESC "
                                              "LIMIT 1").fetchone()
    finally:
        db.close()
    return kind, json.loads(payload), annotator


# ------------------------------------------------------------- 12: leases
def test_only_the_holder_or_a_supervisor_releases_a_lease_and_anyone_may_label_it(server, client, stub) -> None:
    ids = _pool(client, "owners")
    (held,) = [s.id for s in client.next_sample("owners", 1, annotator="alice")]

    refused = _refusal(lambda: _release(stub, "owners", [held], annotator="bob"))
    assert _code(refused) == Code.FAILED_PRECONDITION and "alice" in _message(refused)
    assert client.get_project("owners").leased_count == 1
    # Still alice's: carol, asking for the whole pool, gets every item but hers.
    carol = {s.id for s in client.next_sample("owners", len(ids), annotator="carol", **EVERY)}
    assert carol == set(ids) - {held}

    assert client.release("owners", [held], annotator="alice") == 1
    assert [s.id for s in client.next_sample("owners", 1, annotator="alice", **EVERY)] == [held]  # the only free item
    assert client.release("owners", [held], annotator="supervisor", force=True) == 1
    assert [s.id for s in client.next_sample("owners", 1, annotator="alice", **EVERY)] == [held]

    # bob may label alice's item: the label ends her lease and is recorded as his.
    leased = client.get_project("owners").leased_count
    client.submit_label("owners", held, "cat", annotator="bob")
    assert client.get_project("owners").leased_count == leased - 1
    assert client.export_labels("owners") == {held: "cat"}
    kind, payload, annotator = _last_op(server.data_dir, "owners")
    assert (kind, payload["ids"], payload["labels"], annotator) == ("label", [held], ["cat"], "bob")


def test_a_default_server_refuses_a_lease_longer_than_a_day(client) -> None:
    _pool(client, "endless")
    for seconds in (1e308, DAY + 1):
        refused = _refusal(lambda: client.next_sample("endless", 2, lease_seconds=seconds))
        assert _code(refused) == Code.INVALID_ARGUMENT and "86400" in _message(refused)
    assert client.get_project("endless").leased_count == 0
    refused = _refusal(lambda: client.create_project("endless-default", DIM, lease_seconds=DAY + 1))
    assert _code(refused) == Code.INVALID_ARGUMENT and "86400" in _message(refused)
    assert len(client.next_sample("endless", 2, lease_seconds=DAY)) == 2


def test_max_lease_flag_bounds_every_lease(tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    server = serve(tmp_path / "data", "--max-lease", "3600", log=_log_beside(tmp_path / "data"))
    client = server.client()
    _pool(client, "bounded")
    for seconds in (1e308, 7200):
        refused = _refusal(lambda: client.next_sample("bounded", 1, lease_seconds=seconds))
        assert _code(refused) == Code.INVALID_ARGUMENT and "3600" in _message(refused)
    refused = _refusal(lambda: client.create_project("long-default", DIM, lease_seconds=7200))
    assert _code(refused) == Code.INVALID_ARGUMENT and "3600" in _message(refused)
    assert [p.name for p in client.list_projects()] == ["bounded"]
    assert client.get_project("bounded").leased_count == 0
    start = time.time()
    (sample,) = client.next_sample("bounded", 1, lease_seconds=3600)
    assert sample.lease_expires_at <= time.time() + 3600 and sample.lease_expires_at >= start + 3600 - 1


# ------------------------------------------------------------ 13: retries
def test_a_repeated_next_sample_request_leases_once(client, stub) -> None:
    _pool(client, "replay-sample", 20)
    request = _with(pb.NextSampleRequest(project="replay-sample", count=3, annotator="ann"), request_id="ns-1")
    first, second = stub.NextSample(request, timeout=30), stub.NextSample(request, timeout=30)
    assert [s.id for s in second.samples] == [s.id for s in first.samples] and len(first.samples) == 3
    assert client.get_project("replay-sample").leased_count == 3
    # Another request id is another call.
    other = stub.NextSample(_with(pb.NextSampleRequest(project="replay-sample", count=3), request_id="ns-2"),
                            timeout=30)
    assert not {s.id for s in other.samples} & {s.id for s in first.samples}
    assert client.get_project("replay-sample").leased_count == 6


def test_a_repeated_add_items_stream_adds_once(client, stub) -> None:
    client.create_project("replay-add", DIM)
    ids, x, _ = clustered_vectors(5, DIM)

    def chunks():
        yield _with(pb.AddItemsRequest(project="replay-add", ids=ids[:3], vectors=_vectors(x[:3])),
                    request_id="add-1")
        yield pb.AddItemsRequest(ids=ids[3:], vectors=_vectors(x[3:]))

    first = stub.AddItems(chunks(), timeout=30)
    second = stub.AddItems(chunks(), timeout=30)  # old: ALREADY_EXISTS
    assert (second.added, second.pool_size) == (first.added, first.pool_size) == (5, 5)
    assert client.get_project("replay-add").pool_size == 5


def test_a_repeated_remove_labels_request_removes_once(client, stub) -> None:
    ids = _pool(client, "replay-unlabel")
    client.submit_labels("replay-unlabel", {ids[0]: "a", ids[1]: "b", ids[2]: "a"})
    request = _with(pb.RemoveLabelsRequest(project="replay-unlabel", ids=ids[:2]), request_id="rm-1")
    first = stub.RemoveLabels(request, timeout=30)
    second = stub.RemoveLabels(request, timeout=30)  # old: FAILED_PRECONDITION, the items are unlabeled
    assert second.labeled_count == first.labeled_count == 1
    assert client.export_labels("replay-unlabel") == {ids[2]: "a"}


class LosingProxy:
    """A loopback TCP proxy to a server. Its first connection carries the client's request
    to the server, then drops at the first HTTP/2 HEADERS frame of the server's reply: the
    server did the work, the client never hears of it and sees the connection fail
    (UNAVAILABLE). Later connections pass everything through."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.dropped = threading.Event()
        self._connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target))
            self._connections += 1
            threading.Thread(target=self._pipe, args=(downstream, upstream), daemon=True).start()
            replies = self._lose_reply if self._connections == 1 else self._pipe
            threading.Thread(target=replies, args=(upstream, downstream), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def _lose_reply(self, server: socket.socket, client: socket.socket) -> None:
        buffer = b""
        try:
            while data := server.recv(65536):
                buffer += data
                while len(buffer) >= 9 and len(buffer) >= 9 + int.from_bytes(buffer[:3], "big"):
                    size, kind = int.from_bytes(buffer[:3], "big"), buffer[3]
                    stream = int.from_bytes(buffer[5:9], "big") & 0x7FFFFFFF
                    if kind == 0x1 and stream:  # the reply to a call begins
                        self.dropped.set()
                        raise OSError("drop the connection")
                    client.sendall(buffer[: 9 + size])
                    buffer = buffer[9 + size :]
        except OSError:
            pass
        for s in (server, client):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def test_client_retry_after_a_lost_reply_does_not_lease_twice(server, client) -> None:
    ids = _pool(client, "lost-reply", 20)
    proxy = LosingProxy(server.port)
    try:
        with Client(f"127.0.0.1:{proxy.port}", retries=4, backoff=0.05) as through:
            picks = [s.id for s in through.next_sample("lost-reply", 3, annotator="ann")]
    finally:
        proxy.close()
    assert proxy.dropped.is_set()  # the first reply was really lost after the server leased
    assert len(picks) == 3
    assert client.get_project("lost-reply").leased_count == 3  # old: 6, a second batch for the retry
    rest = {s.id for s in client.next_sample("lost-reply", len(ids), annotator="carol", **EVERY)}
    assert rest == set(ids) - set(picks)


def test_client_retries_with_jittered_backoff_until_a_late_server_answers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serve: Callable[..., ServerProcess]) -> None:
    waits: dict[str, list[float]] = {"first": [], "second": []}

    def sleep(seconds: float) -> None:
        waits[threading.current_thread().name].append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(client_module, "time", types.SimpleNamespace(sleep=sleep))
    port, backoff = _free_port(), 0.2
    results: dict[str, object] = {}

    def create(name: str) -> None:
        try:
            with Client(f"127.0.0.1:{port}", retries=8, backoff=backoff) as late:
                results[name] = late.create_project(name, DIM).name
        except Exception as exc:  # reported by the assertion below
            results[name] = exc

    threads = [threading.Thread(target=create, args=(name,), name=name) for name in waits]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while not all(waits.values()) and time.monotonic() < deadline:  # both are retrying: nobody listens yet
        time.sleep(0.02)
    assert all(waits.values()) and not results
    server = serve(tmp_path / "data", port=port, log=_log_beside(tmp_path / "data"))
    for t in threads:
        t.join(timeout=STARTUP_SECONDS)
    assert results == {"first": "first", "second": "second"}
    assert sorted(p.name for p in server.client().list_projects()) == ["first", "second"]
    server.stop()
    # Each wait is the exponential backoff jittered by ±50%, and two clients retrying the
    # same server do not wait in lockstep.
    for seen in waits.values():
        for attempt, wait in enumerate(seen):
            assert 0.5 * backoff * 2**attempt <= wait <= 1.5 * backoff * 2**attempt
    assert waits["first"][0] != waits["second"][0]
    assert any(wait != backoff * 2**attempt for seen in waits.values() for attempt, wait in enumerate(seen))


# --------------------------------------------- 14: vectors near float32 limits
def test_vectors_with_huge_components_are_accepted_and_predicted_like_unscaled_ones(client) -> None:
    ids, x, cluster = clustered_vectors(200, DIM, clusters=4)
    client.create_project("huge", DIM)
    client.add_items("huge", ids, x)
    client.submit_labels("huge", {ids[i]: f"c{cluster[i]}" for i in range(40)})

    spike = np.zeros((1, DIM), np.float32)
    spike[0, 3], spike[0, 7] = 1e20, 1.0  # finite in float32; its square is not
    assert client.add_items("huge", ["spike"], spike) == 201  # old: refused as "all zeros"

    queries = x[150:160]
    plain, scaled = client.predict("huge", vectors=queries), client.predict("huge", vectors=queries * 1e20)
    assert np.isfinite(queries * np.float32(1e20)).all()
    for p, s in zip(plain, scaled):
        assert s.label == p.label != ""
        assert s.probabilities == pytest.approx(p.probabilities, abs=1e-5)
        assert max(s.probabilities.values()) > 1 / 4 + 0.1  # not the uniform vote of a zero vector
        assert [n.id for n in s.neighbors] == [n.id for n in p.neighbors]


# ---------------------------------------------- 15: INVALID_ARGUMENT, not INTERNAL
def test_add_items_chunks_of_mixed_dimensions_are_invalid_argument(client, stub) -> None:
    client.create_project("mixed", DIM)
    _, x, _ = clustered_vectors(3, DIM)
    chunks = [pb.AddItemsRequest(project="mixed", ids=["m0", "m1"], vectors=_vectors(x[:2])),
              pb.AddItemsRequest(ids=["m2"], vectors=_vectors(x[2:, : DIM // 2]))]
    refused = _refusal(lambda: stub.AddItems(iter(chunks), timeout=30))
    assert _code(refused) == Code.INVALID_ARGUMENT and "dimension" in _message(refused)
    assert client.get_project("mixed").pool_size == 0


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_metadata_with_nan_or_infinity_is_invalid_argument_naming_the_item(client, stub, value) -> None:
    name = f"meta-{str(value).strip('-')}{'-neg' if value < 0 else ''}"
    client.create_project(name, DIM)
    _, x, _ = clustered_vectors(2, DIM)
    good, bad = struct_pb2.Struct(), struct_pb2.Struct()
    good.update({"score": 1.0})
    bad.update({"note": "ok"})
    bad.fields["score"].number_value = value
    request = pb.AddItemsRequest(project=name, ids=["fine", "odd-one"], vectors=_vectors(x), metadata=[good, bad])
    refused = _refusal(lambda: stub.AddItems(iter([request]), timeout=30))
    assert _code(refused) == Code.INVALID_ARGUMENT and "odd-one" in _message(refused)
    assert client.get_project(name).pool_size == 0


def test_client_converts_numpy_metadata_and_refuses_a_date_before_sending(client) -> None:
    client.create_project("meta-types", DIM)
    _, x, _ = clustered_vectors(2, DIM)
    metadata = [{"n": np.int64(3), "f": np.float32(0.5), "flag": np.bool_(True), "row": np.arange(2)},
                {"n": np.int32(-1)}]
    assert client.add_items("meta-types", ["np-0", "np-1"], x, metadata) == 2
    by_id = {s.id: s.metadata for s in client.next_sample("meta-types", 2)}
    assert by_id == {"np-0": {"n": 3, "f": 0.5, "flag": True, "row": [0, 1]}, "np-1": {"n": -1}}

    with pytest.raises(ValueError) as caught:
        client.add_items("meta-types", ["d-0", "d-1"], x, [{}, {"taken": datetime.date(2024, 5, 1)}])
    assert not isinstance(caught.value, ServiceError)
    assert "'d-1'" in str(caught.value) and "taken" in str(caught.value)
    assert client.get_project("meta-types").pool_size == 2


@pytest.mark.parametrize("edit", [{"shards": {"x": 1}}, {"dimension": "abc"}], ids=["shards-object", "dimension-text"])
def test_load_dataset_with_a_malformed_manifest_is_invalid_argument_naming_it(client, tmp_path, edit) -> None:
    name = f"manifest-{next(iter(edit))}"
    ids, x, _ = clustered_vectors(20, DIM)
    path = write_dataset(tmp_path / "ds", ids=ids, vectors=x, encoder="test")
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**manifest, **edit}))
    client.create_project(name, DIM)
    refused = _refusal(lambda: client.load_dataset(name, str(path)))
    assert _code(refused) == Code.INVALID_ARGUMENT and "manifest.json" in _message(refused)
    assert client.get_project(name).pool_size == 0


# -------------------------------------------------- 18: dataset roots
def _dataset(path: Path, prefix: str, n: int = 10) -> Path:
    ids, x, _ = clustered_vectors(n, DIM, seed=len(prefix))
    return write_dataset(path, ids=[f"{prefix}-{i}" for i in ids], vectors=x, encoder="test")


def test_load_dataset_is_confined_to_the_dataset_roots(tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    cwd, data, outside = tmp_path / "cwd", tmp_path / "data", tmp_path / "outside"
    cwd.mkdir()
    _dataset(outside / "ds", "outside")
    (cwd / "link").symlink_to(outside / "ds")  # inside a root, pointing out of it
    server = serve(data, cwd=cwd, log=_log_beside(data))
    client = server.client()
    client.create_project("roots", DIM)
    # An existing dataset, an existing plain directory, a missing path, a system
    # directory, a symlink out: one refusal, the same words, nothing to tell them apart.
    refusals = {path: _refusal(lambda: client.load_dataset("roots", path))
                for path in ("../outside/ds", "../outside", "../missing", "/etc", "link")}
    assert {_code(e) for e in refusals.values()} == {Code.INVALID_ARGUMENT}
    words = {_message(e).replace(repr(path), "PATH") for path, e in refusals.items()}
    assert len(words) == 1, words
    assert "--dataset-root" in words.pop()
    assert client.get_project("roots").pool_size == 0

    # Under the working directory (relative to it) and under the data dir: loaded.
    _dataset(cwd / "ds", "cwd")
    assert client.load_dataset("roots", "ds") == (10, 0)
    _dataset(data / "incoming" / "ds", "data")
    assert client.load_dataset("roots", str(data / "incoming" / "ds")) == (10, 0)
    assert client.get_project("roots").pool_size == 20
    server.stop()

    # --dataset-root adds a root.
    server = serve(tmp_path / "data2", "--dataset-root", str(outside), log=_log_beside(tmp_path / "data2"))
    client = server.client()
    client.create_project("roots", DIM)
    assert client.load_dataset("roots", str(outside / "ds")) == (10, 0)


# ------------------------------------- 19: ids unique across pool and auto labels
def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def test_an_auto_labeled_id_cannot_join_the_pool(client) -> None:
    centres, rng = np.eye(DIM, dtype=np.float32)[:3], np.random.default_rng(7)
    x = np.concatenate([_unit(centres[c] + 0.3 * rng.standard_normal((20, DIM)) / 4) for c in range(3)])
    ids = [f"c{c}-{i}" for c in range(3) for i in range(20)]
    client.create_project("auto", DIM)
    client.add_items("auto", ids, x)
    client.submit_labels("auto", {f"c{c}-{i}": f"class{c}" for c in range(3) for i in range(8)})

    (decision,) = client.stream("auto", [("streamed", _unit(centres[1] + 0.05))], threshold=0.8)
    assert (decision.query, decision.label) == (False, "class1")  # auto-labeled, not in the pool

    for batch in (["streamed"], ["new-one", "streamed"]):
        refused = _refusal(lambda: client.add_items("auto", batch, x[: len(batch)]))
        assert _code(refused) == Code.ALREADY_EXISTS and "streamed" in _message(refused)
    assert client.get_project("auto").pool_size == 60

    records = client.export("auto", include_predictions=True)
    assert max(Counter(r.id for r in records).values()) == 1
    assert {r.id: (r.source, r.label) for r in records}["streamed"] == ("auto", "class1")
