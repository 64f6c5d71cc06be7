"""The gRPC service end to end: a real `knn-al serve` process on loopback, real SQLite files."""
from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from google.protobuf import descriptor_pb2
from google.rpc import status_pb2
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from knn_al.client import Client, ServiceError
from knn_al.dataset import write_dataset
from knn_al.simulation.server_process import ServerProcess
from knn_al.simulation.synthetic import clustered_vectors

Code = grpc.StatusCode
TOKEN = "s3cret-token"


def _state(client: Client, project: str, ids: list[str]):
    """What a user can observe of a project."""
    return client.get_project(project), client.export_labels(project), client.predict(project, ids)


# ------------------------------------------------------------------ end to end
def test_label_predict_restart_same_state(tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    server = serve(tmp_path / "data")
    client = server.client()
    ids, x, cluster = clustered_vectors(10_000, 32)
    client.create_project("e2e", 32)
    assert client.add_items("e2e", ids, x, [{"cluster": int(c)} for c in cluster]) == 10_000
    info = client.get_project("e2e")
    assert (info.pool_size, info.labeled_count, info.label_counts) == (10_000, 0, {})

    samples = client.next_sample("e2e", 3, annotator="ann", seed=1)
    assert len({s.id for s in samples}) == 3
    first = samples[0]
    row = ids.index(first.id)
    assert first.metadata == {"cluster": float(cluster[row])} and first.predicted_label == ""
    assert 0 < first.score.score <= 1 and first.score.density > 0
    same_cluster = next(i for i, c in zip(ids, cluster) if c == cluster[row] and i not in {s.id for s in samples})
    assert client.predict("e2e", [same_cluster])[0].label == ""

    client.submit_label("e2e", first.id, f"c{cluster[row]}", annotator="ann")
    # The very next call sees the label: no retraining step.
    prediction = client.predict("e2e", [same_cluster])[0]
    assert prediction.label == f"c{cluster[row]}" and prediction.neighbors[0].id == first.id

    client.submit_labels("e2e", {ids[i]: f"c{cluster[i]}" for i in range(200)}, annotator="ann")
    by_vector = client.predict("e2e", vectors=x[[9000]])[0]
    assert by_vector.label == f"c{cluster[9000]}" and by_vector.id == ""
    accuracy = np.mean([p.label == f"c{c}" for p, c in zip(client.predict("e2e", ids[5000:6000]), cluster[5000:6000])])
    assert accuracy > 0.9

    before = _state(client, "e2e", ids[:300])
    picks = client.next_sample("e2e", 5, seed=42)
    client.release("e2e", [p.id for p in picks])
    still_leased = {s.id for s in samples[1:]} - set(ids[:200])  # a label ends a lease
    assert before[0].leased_count == len(still_leased)
    assert not still_leased & {p.id for p in picks}

    server = server.restart()
    assert server.process.returncode is None
    client = server.client()
    assert _state(client, "e2e", ids[:300]) == before
    again = client.next_sample("e2e", 5, seed=42)
    assert [(p.id, p.score) for p in again] == [(p.id, p.score) for p in picks]


def test_health_and_reflection_are_on(tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    server = serve(tmp_path / "data")
    with grpc.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "knn_al.v1.ActiveLearning"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
        assert "knn_al.v1.ActiveLearning" in services
        # Reflection v1 too (grpcurl and grpc-js speak it): its messages are v1alpha's, field for field.
        v1 = channel.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                                   request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                   response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        replies = list(v1(iter([reflection_pb2.ServerReflectionRequest(list_services=""),
                                reflection_pb2.ServerReflectionRequest(file_containing_symbol="knn_al.v1.ActiveLearning")]),
                          timeout=10))
        listed = {s.name for s in replies[0].list_services_response.service}
        assert {"knn_al.v1.ActiveLearning", "grpc.reflection.v1.ServerReflection",
                "grpc.reflection.v1alpha.ServerReflection"} <= listed
        described = [descriptor_pb2.FileDescriptorProto.FromString(raw)
                     for raw in replies[1].file_descriptor_response.file_descriptor_proto]
        assert any(service.name == "ActiveLearning" for f in described for service in f.service)
    assert server.stop() == 0  # graceful shutdown on SIGTERM


def test_fixed_label_set_project_serves_its_first_sample(tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    server = serve(tmp_path / "data")
    client = server.client()
    ids, x, _ = clustered_vectors(100, 8)
    client.create_project("fixed", 8, labels=["cat", "dog"])
    client.add_items("fixed", ids, x)
    sample = client.next_sample("fixed")[0]
    assert sample.predicted_label == ""
    client.submit_label("fixed", sample.id, "dog")
    assert client.get_project("fixed").label_counts == {"cat": 0, "dog": 1}


# ---------------------------------------------------- shared server: auth, limits
@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory):
    server = ServerProcess(tmp_path_factory.mktemp("data"), "--token", TOKEN, "--max-message-mb", "2",
                           "--max-upload-items", "5000", "--dataset-root", str(tmp_path_factory.getbasetemp()))
    yield server
    server.stop()


def test_concurrent_annotators_receive_disjoint_items(secured: ServerProcess) -> None:
    ids, x, _ = clustered_vectors(2000, 16)
    with secured.client(token=TOKEN) as client:
        client.create_project("concurrent", 16)
        client.add_items("concurrent", ids, x)
    start = threading.Barrier(16)
    received: list[list[str]] = [[] for _ in range(16)]

    def annotator(i: int) -> None:
        with secured.client(token=TOKEN) as client:
            start.wait()
            received[i] = [s.id for s in client.next_sample("concurrent", 4, annotator=f"a{i}")]

    threads = [threading.Thread(target=annotator, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    handed = [item for batch in received for item in batch]
    assert all(len(batch) == 4 for batch in received)
    assert len(set(handed)) == len(handed) == 64
    with secured.client(token=TOKEN) as client:
        assert client.get_project("concurrent").leased_count == 64


def test_relabel_remove_label_and_release(secured: ServerProcess) -> None:
    ids, x, _ = clustered_vectors(300, 16)
    with secured.client(token=TOKEN) as client:
        client.create_project("edit", 16)
        client.add_items("edit", ids, x)
        leased = [s.id for s in client.next_sample("edit", 3, annotator="ann")]
        client.submit_labels("edit", {leased[0]: "a", leased[1]: "b"})
        assert client.get_project("edit").leased_count == 1  # labeling ended two leases
        client.submit_label("edit", leased[0], "b")  # relabel
        assert client.export_labels("edit") == {leased[0]: "b", leased[1]: "b"}
        explained = client.predict("edit", [leased[0]])[0]
        assert explained.label == "b" and explained.neighbors[0].id == leased[0] and explained.neighbors[0].label == "b"
        assert client.remove_labels("edit", [leased[1]]) == 1
        assert client.export_labels("edit") == {leased[0]: "b"}
        assert client.release("edit", [leased[2]], annotator="ann") == 1
        info = client.get_project("edit")
        assert (info.labeled_count, info.leased_count, info.label_counts) == (1, 0, {"a": 0, "b": 1})


def test_load_dataset_by_path(secured: ServerProcess, tmp_path: Path) -> None:
    ids, x, cluster = clustered_vectors(400, 16, clusters=2)
    write_dataset(tmp_path / "ds", ids=ids, vectors=x, encoder="test", sources=ids,
                  labels=[f"c{c}" if i < 40 else None for i, c in enumerate(cluster)])
    with secured.client(token=TOKEN) as client:
        client.create_project("loaded", 16)
        assert client.load_dataset("loaded", str(tmp_path / "ds"), import_labels=True) == (400, 40)
        info = client.get_project("loaded")
        assert (info.pool_size, info.labeled_count) == (400, 40)
        sample = client.next_sample("loaded")[0]
        assert sample.metadata == {"text": sample.id, "label": None}
        assert sample.predicted_label in {"c0", "c1"}


@pytest.fixture(scope="module")
def table_project(secured: ServerProcess):
    ids, x, _ = clustered_vectors(500, 16)
    with secured.client(token=TOKEN) as client:
        client.create_project("table", 16, labels=["a", "b"])
        client.add_items("table", ids, x)
        client.submit_labels("table", {ids[0]: "a", ids[1]: "b"})
    return ids, x


def _nan(x: np.ndarray) -> np.ndarray:
    bad = x[:3].copy()
    bad[2, 5] = np.nan
    return bad


BAD_INPUTS = {
    "wrong dimension (add)": (lambda c, ids, x: c.add_items("table", ["n1"], np.ones((1, 15))), Code.INVALID_ARGUMENT),
    "wrong dimension (predict)": (lambda c, ids, x: c.predict("table", vectors=np.ones((2, 17))), Code.INVALID_ARGUMENT),
    "NaN vector (add)": (lambda c, ids, x: c.add_items("table", ["n1", "n2", "n3"], _nan(x)), Code.INVALID_ARGUMENT),
    "NaN vector (predict)": (lambda c, ids, x: c.predict("table", vectors=_nan(x)), Code.INVALID_ARGUMENT),
    "zero vector": (lambda c, ids, x: c.add_items("table", ["n1"], np.zeros((1, 16))), Code.INVALID_ARGUMENT),
    "unknown project": (lambda c, ids, x: c.next_sample("nope"), Code.NOT_FOUND),
    "unknown item": (lambda c, ids, x: c.submit_label("table", "nope", "a"), Code.NOT_FOUND),
    "unknown item in a batch": (lambda c, ids, x: c.submit_labels("table", {ids[5]: "a", "nope": "b"}), Code.NOT_FOUND),
    "unknown item (predict)": (lambda c, ids, x: c.predict("table", [ids[3], "nope"]), Code.NOT_FOUND),
    "label outside the fixed set": (lambda c, ids, x: c.submit_label("table", ids[5], "zebra"), Code.INVALID_ARGUMENT),
    "empty label batch": (lambda c, ids, x: c.submit_labels("table", {}), Code.INVALID_ARGUMENT),
    "empty item batch": (lambda c, ids, x: c.add_items("table", [], np.empty((0, 16))), Code.INVALID_ARGUMENT),
    "duplicate item": (lambda c, ids, x: c.add_items("table", ["n1", ids[0]], x[:2]), Code.ALREADY_EXISTS),
    "existing project": (lambda c, ids, x: c.create_project("table", 16), Code.ALREADY_EXISTS),
    "bad project name": (lambda c, ids, x: c.create_project("../escape", 16), Code.INVALID_ARGUMENT),
    "not a dataset directory": (lambda c, ids, x: c.load_dataset("table", "/nonexistent/dataset"),
                                Code.INVALID_ARGUMENT),
    "sample count too large": (lambda c, ids, x: c.next_sample("table", 100_000), Code.INVALID_ARGUMENT),
    "release an item not leased": (lambda c, ids, x: c.release("table", [ids[7]]), Code.FAILED_PRECONDITION),
    "remove a label never given": (lambda c, ids, x: c.remove_labels("table", [ids[7]]), Code.FAILED_PRECONDITION),
    "oversize message": (lambda c, ids, x: c.predict("table", vectors=np.ones((50_000, 16))), Code.RESOURCE_EXHAUSTED),
    "upload too large": (lambda c, ids, x: c.add_items("table", [f"n{i}" for i in range(6000)], np.ones((6000, 16))),
                         Code.RESOURCE_EXHAUSTED),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_gets_its_status_and_changes_nothing(secured: ServerProcess, table_project, case: str) -> None:
    ids, x = table_project
    call, code = BAD_INPUTS[case]
    with secured.client(token=TOKEN) as client:
        before = _state(client, "table", ids)
        with pytest.raises(ServiceError) as caught:
            call(client, ids, x)
        assert caught.value.code == code, caught.value.message
        assert caught.value.message
        assert _state(client, "table", ids) == before


@pytest.mark.parametrize("token", [None, "wrong"])
def test_missing_or_wrong_token_is_unauthenticated(secured: ServerProcess, table_project, token: str | None) -> None:
    ids, _ = table_project
    with secured.client(token=token) as client:
        for call in (lambda: client.list_projects(), lambda: client.submit_label("table", ids[9], "a")):
            with pytest.raises(ServiceError) as caught:
                call()
            assert caught.value.code == Code.UNAUTHENTICATED and "token" in caught.value.message
    with secured.client(token=TOKEN) as client:
        assert ids[9] not in client.export_labels("table")
    with grpc.insecure_channel(secured.address) as channel:  # health checks need no token
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_tls_with_a_self_signed_certificate(tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server = serve(tmp_path / "data", "--tls-cert", str(cert), "--tls-key", str(key), "--token", TOKEN)
    with Client(server.address, token=TOKEN, tls=cert.read_bytes()) as client:
        assert client.list_projects() == []
    with Client(server.address, token=TOKEN, retries=0, timeout=5) as plain:
        with pytest.raises(ServiceError) as caught:
            plain.list_projects()
        assert caught.value.code == Code.UNAVAILABLE


def test_refusals_carry_a_stable_reason_and_the_field_at_fault(tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    """google.rpc.Status details (grpcio-status): ErrorInfo with the kind's reason, and
    BadRequest naming the field, on top of the message, which stays as it was."""
    client = serve(tmp_path / "data").client(retries=0)
    with pytest.raises(ServiceError) as bad_k:
        client.create_project("p", 4, k=5000)
    error = bad_k.value
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_INPUT")
    assert error.fields == {"k": error.message} and error.message.startswith("k must be an integer between 1 and 1000")
    with pytest.raises(ServiceError) as missing:
        client.get_project("nope")
    assert (missing.value.reason, missing.value.info, missing.value.fields) == ("NOT_FOUND", {"project": "nope"}, {})
    client.create_project("p", 4, labels=["cat", "dog"])
    client.add_items("p", ["a"], np.ones((1, 4), dtype=np.float32))
    with pytest.raises(ServiceError) as label:
        client.submit_label("p", "a", "cow")
    assert (label.value.code, label.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_LABEL")
    with pytest.raises(ServiceError) as item:
        client.submit_label("p", "zzz", "cat")
    assert (item.value.code, item.value.reason) == (grpc.StatusCode.NOT_FOUND, "UNKNOWN_ITEM")


def test_error_details_keep_a_long_non_ascii_refusal_under_grpcs_metadata_limit() -> None:
    """gRPC refuses metadata over 16 KB: a refusal whose message is 3,000 CJK characters
    (9 bytes each once percent-encoded) must still arrive, details included."""
    from grpc_status import rpc_status

    from knn_al.errors import InvalidInputError
    from knn_al.server.errors import _with_details

    code, message, trailer = _with_details(grpc.StatusCode.INVALID_ARGUMENT, InvalidInputError("中" * 3000, field="k"),
                                           None)
    details = dict(trailer)["grpc-status-details-bin"]
    assert 3 * len(message.encode()) + len(details) < 16384 and message.startswith("中" * 100)
    status = status_pb2.Status.FromString(details)
    assert status.message == message and status.code == code.value[0]  # what rpc_status.from_call checks
    assert rpc_status.to_status(status).details == message
