"""The HTTP/JSON API (issue 13 §1, §3) against a real server started with ``start_server``:
projects, the labeling loop, request ids, errors (the gRPC messages, HTTP statuses), the
OpenAPI document, and the same projects as gRPC. Items and review: tests/test_http_items.py;
auth, TLS, other sites, media roots, the page's files: tests/test_http_security.py.

Every JSON reply is checked against the server's own OpenAPI document (tests/http_helpers.py).
"""
from __future__ import annotations

import errno
import json
import os
import re
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from knn_al.dataset import write_dataset
from knn_al.server.http.app import ROUTES, THREAD_BYTES
from knn_al.simulation.synthetic import clustered_vectors
from tests.disks import fill_disk
# live: a fixture, which pytest finds by its import here
from tests.http_helpers import D, P, LiveServer, grpc_message, live, seed


# ------------------------------------------------------------------ projects
def test_project_lifecycle_create_list_get_goals_stats_delete(live: Callable[..., LiveServer]) -> None:
    server = live()
    created = server.call("POST", P, {"name": "docs", "dimension": 4, "labels": ["a", "b"], "k": 5})
    assert created.status == 201, created.body
    info = created.json
    assert (info["name"], info["state"], info["settings"]["labels"], info["settings"]["k"]) == ("docs", "ready",
                                                                                                ["a", "b"], 5)
    assert [p["name"] for p in server.ok("GET", P)["projects"]] == ["docs"]
    assert server.ok("GET", f"{P}/docs")["pool_size"] == 0
    goals = server.ok("POST", f"{P}/docs/goals", {"label_budget": 7})
    assert (goals["settings"]["label_budget"], goals["settings"]["target_accuracy"]) == (7, 0.0)
    stats = server.ok("GET", f"{P}/docs/stats")
    assert stats["progress"]["label_budget"] == 7 and stats["progress"]["estimate"]["accuracy"] is None
    with server.client() as client:  # the same project, seen over gRPC
        assert client.get_project("docs").label_budget == 7
    assert server.ok("DELETE", f"{P}/docs") == {}
    assert server.ok("GET", P)["projects"] == []


def test_a_label_given_over_http_is_seen_over_grpc_and_the_reverse(tmp_path: Path,
                                                                  live: Callable[..., LiveServer]) -> None:
    ids = seed(tmp_path / "data")
    server = live()
    picked = server.ok("POST", f"{P}/p/next", {"count": 3, "annotator": "ana", "seed": 1})
    samples = picked["samples"]
    assert len(samples) == 3 and all(s["lease_expires_at"] > 0 for s in samples)
    assert all(s["metadata"] == {"n": ids.index(s["id"])} for s in samples)
    assert all(set(s["score"]) >= {"uncertainty", "density", "diversity"} for s in samples)
    assert "neighbors" not in samples[0]
    receipt = server.ok("POST", f"{P}/p/labels", {"labels": {samples[0]["id"]: "cat", samples[1]["id"]: "dog"},
                                                  "annotator": "ana"})
    assert receipt["labeled_count"] == 2 and receipt["progress"]["estimate"]["labeled"] == 2
    with server.client() as client:
        assert client.export_labels("p") == {samples[0]["id"]: "cat", samples[1]["id"]: "dog"}
        # The third item is still leased to ana: gRPC hands out other items.
        assert samples[2]["id"] not in {s.id for s in client.next_sample("p", 30, annotator="bo")}
        client.submit_label("p", samples[2]["id"], "cat", annotator="bo")
    exported = server.ok("GET", f"{P}/p/export")["records"]
    assert {(r["id"], r["label"], r["source"]) for r in exported} == {
        (samples[0]["id"], "cat", "human"), (samples[1]["id"], "dog", "human"), (samples[2]["id"], "cat", "human")}
    removed = server.ok("POST", f"{P}/p/labels/remove", {"ids": [samples[1]["id"]]})
    assert removed["labeled_count"] == 2
    with server.client() as client:
        assert samples[1]["id"] not in client.export_labels("p")
    predictions = server.ok("GET", f"{P}/p/export", query={"include_predictions": "true"})["records"]
    assert {r["source"] for r in predictions} == {"human", "predicted"} and len(predictions) == len(ids)


def test_release_ends_the_annotators_leases_and_refuses_others(tmp_path: Path,
                                                              live: Callable[..., LiveServer]) -> None:
    seed(tmp_path / "data")
    server = live()
    ids = [s["id"] for s in server.ok("POST", f"{P}/p/next", {"count": 2, "annotator": "ana"})["samples"]]
    refused = server.call("POST", f"{P}/p/release", {"ids": ids, "annotator": "bo"})
    with server.client() as client:
        expected = grpc_message(lambda: client.release("p", ids, annotator="bo"))
    assert (refused.status, refused.error) == (412, expected)
    assert server.ok("POST", f"{P}/p/release", {"ids": ids, "annotator": "ana"}) == {"released": 2}
    assert server.ok("GET", f"{P}/p")["leased_count"] == 0


def test_a_next_reply_nobody_receives_gives_its_leases_back(tmp_path: Path,
                                                           live: Callable[..., LiveServer]) -> None:
    """A client asks for items and goes away while the server is busy: the items it would
    have got are not left leased to it (as gRPC's NextSample, issue 13 review S5), unless it
    sent a request id, whose retry gets them."""
    seed(tmp_path / "data")
    # The one worker thread reads a dataset from a pipe until the test writes it: the /next
    # below takes project p's turn, then waits for that thread.
    server = live(workers=1, dataset_roots=(tmp_path,))
    server.ok("POST", P, {"name": "q", "dimension": D})
    ids, x, _ = clustered_vectors(5, D, clusters=1)
    dataset = write_dataset(tmp_path / "ds", ids=[f"q{i}" for i in ids], vectors=x, encoder="test")
    shard = dataset / "shard-00000.jsonl"
    records = shard.read_bytes()
    shard.unlink()
    os.mkfifo(shard)
    with server.client() as client, ThreadPoolExecutor(1) as loads:
        loaded = loads.submit(client.load_dataset, "q", str(dataset))
        while True:  # a pipe opens for writing (without waiting) once its reader waits at the other end
            try:
                pipe = os.open(shard, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as exc:
                assert exc.errno == errno.ENXIO and not loaded.done()
                time.sleep(0.01)
        # Two clients go away: one asked without a request id, one with (its retry is to come).
        asked = {"gone": {"count": 5, "annotator": "gone"},
                 "back": {"count": 3, "annotator": "back", "request_id": "r"}}
        for body in asked.values():
            with socket.create_connection(("127.0.0.1", server.http_port)) as sent:
                data = json.dumps(body).encode()
                sent.sendall(b"POST /api/v1/projects/p/next HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                             b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data))
                for _ in range(3):  # round trips on the server's event loop: the /next has arrived before them
                    server.ok("GET", "/api/v1/openapi.json")
                sent.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, as a crash
        for _ in range(3):
            server.ok("GET", "/api/v1/openapi.json")
        os.set_blocking(pipe, True)
        os.write(pipe, records)
        os.close(pipe)
        assert loaded.result(timeout=60) == (5, 0)
        # p's calls queue behind the two /next (and an undo): this answer comes after them.
        assert server.ok("GET", f"{P}/p")["leased_count"] == 3
        leased = {item.id: item.lease_annotator for item in client.list_items("p", state="leased").items}
        assert set(leased.values()) == {"back"}
        retried = server.ok("POST", f"{P}/p/next", asked["back"])  # the retry gets the leases kept for it
        assert {sample["id"] for sample in retried["samples"]} == set(leased)
        assert len(client.next_sample("p", 37, annotator="ana")) == 37  # the other items can be handed out


def test_predict_by_ids_and_vectors(tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    ids = seed(tmp_path / "data")
    _, x, _ = clustered_vectors(40, D, clusters=4)
    server = live()
    server.ok("POST", f"{P}/p/labels", {"labels": {ids[0]: "a", ids[1]: "b"}, "annotator": "ana"})
    by_id = server.ok("POST", f"{P}/p/predict", {"ids": [ids[0], ids[5]]})["predictions"]
    assert [p["id"] for p in by_id] == [ids[0], ids[5]]
    assert all(p["label"] in ("a", "b") and p["confidence"] == max(p["probabilities"].values()) for p in by_id)
    assert all(p["neighbors"] == [] for p in by_id)  # without explain
    by_vector = server.ok("POST", f"{P}/p/predict", {"vectors": x[[5]].tolist()})["predictions"]
    assert by_vector[0]["id"] == "" and by_vector[0]["probabilities"] == pytest.approx(by_id[1]["probabilities"])
    with server.client() as client:
        assert client.predict("p", [ids[5]])[0].probabilities == pytest.approx(by_id[1]["probabilities"])
    both = server.call("POST", f"{P}/p/predict", {"ids": [ids[0]], "vectors": x[[0]].tolist()})
    assert both.status == 400 and "not ids and vectors" in both.error[1]


# ----------------------------------------------------------------- request ids
def test_a_retried_request_id_gets_the_first_reply_and_changes_nothing_more(
        tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    seed(tmp_path / "data")
    server = live()
    body = {"count": 2, "annotator": "ana", "request_id": "r-1"}
    first = server.ok("POST", f"{P}/p/next", body)
    again = server.ok("POST", f"{P}/p/next", body)
    assert again == first
    assert server.ok("GET", f"{P}/p")["leased_count"] == 2  # not 4
    other = server.call("POST", f"{P}/p/next", {**body, "count": 3})
    assert other.status == 400 and "request id 'r-1' was already used" in other.error[1]
    # The same id on another route is another request.
    labels = {first["samples"][0]["id"]: "a"}
    assert server.ok("POST", f"{P}/p/labels", {"labels": labels, "request_id": "r-1"})["labeled_count"] == 1
    assert server.ok("POST", f"{P}/p/labels", {"labels": labels, "request_id": "r-1"})["labeled_count"] == 1


def test_a_large_request_with_a_request_id_is_run_once_and_its_id_bound_to_it(
        live: Callable[..., LiveServer]) -> None:
    """Bodies past THREAD_BYTES are decoded and fingerprinted off the event loop, and large
    replies encoded there: the request id works the same."""
    server = live()
    server.ok("POST", P, {"name": "big", "dimension": D, "duplicate_threshold": 1.0})
    ids, x, _ = clustered_vectors(3000, D, clusters=4)
    body = {"ids": ids, "vectors": x.tolist(), "metadata": [{"text": "x" * 100}] * len(ids), "request_id": "up-1"}
    assert len(json.dumps(body)) > THREAD_BYTES
    first = server.ok("POST", f"{P}/big/items", body)
    assert first == {"added": 3000, "skipped": 0, "replaced": 0, "pool_size": 3000}
    assert server.ok("POST", f"{P}/big/items", body) == first  # not a DuplicateItemError: the first reply
    other = server.call("POST", f"{P}/big/items", {**body, "ids": [f"other-{i}" for i in ids]})
    assert other.status == 400 and "request id 'up-1' was already used" in other.error[1]
    asked = {"count": 1000, "annotator": "ana", "explain": True, "request_id": "next-1"}
    picked = server.call("POST", f"{P}/big/next", asked)
    assert picked.status == 200 and len(picked.body) > THREAD_BYTES
    assert server.call("POST", f"{P}/big/next", asked).body == picked.body
    assert server.ok("GET", f"{P}/big")["leased_count"] == 1000


# --------------------------------------------------------------------- errors
def test_errors_carry_the_grpc_message_and_their_http_status(tmp_path: Path,
                                                            live: Callable[..., LiveServer]) -> None:
    ids = seed(tmp_path / "data")
    server = live()
    with server.client(retries=0) as client:
        cases = [
            (server.call("POST", f"{P}/p/next", {"count": 5000}), 400,
             lambda: client.next_sample("p", 5000)),
            (server.call("GET", f"{P}/nope"), 404, lambda: client.get_project("nope")),
            (server.call("POST", f"{P}/p/labels", {"labels": {"ghost": "a"}}), 404,
             lambda: client.submit_labels("p", {"ghost": "a"})),
            (server.call("POST", P, {"name": "p", "dimension": 3}), 409,
             lambda: client.create_project("p", 3)),
            (server.call("POST", P, {"name": "q", "dimension": 3, "default_strategy": "best"}), 400,
             lambda: client.create_project("q", 3, k=5000)),
            (server.call("POST", f"{P}/p/labels/remove", {"ids": [ids[0]]}), 412,
             lambda: client.remove_labels("p", [ids[0]])),
        ]
        for reply, status, grpc_call in cases[:4] + cases[5:]:
            assert (reply.status, reply.error) == (status, grpc_message(grpc_call)), reply.body
        # The same stable reasons as gRPC's ErrorInfo, and the field when it is known.
        assert [reply.details for reply, _, _ in cases] == [
            ("INVALID_INPUT", ""), ("NOT_FOUND", ""), ("UNKNOWN_ITEM", ""), ("ALREADY_EXISTS", ""),
            ("INVALID_INPUT", "default_strategy"), ("WRONG_STATE", "")]
        # Over gRPC a strategy is an enum: the HTTP refusal is the project layer's own.
        assert (cases[4][0].status, cases[4][0].error[1]) == (
            400, "default_strategy must be one of random, least_confidence, margin, entropy, "
                 "uncertainty_density_diversity, got 'best'")
    assert server.ok("GET", f"{P}/p")["labeled_count"] == 0  # refusals changed nothing


def test_unknown_fields_wrong_types_and_bad_json_are_400_naming_the_problem(tmp_path: Path,
                                                                            live: Callable[..., LiveServer]) -> None:
    seed(tmp_path / "data")
    server = live()
    cases = {
        "unknown field 'cuont'": server.call("POST", f"{P}/p/next", {"cuont": 2}),
        "unknown fields 'a', 'b'": server.call("POST", f"{P}/p/next", {"a": 1, "b": 2, "count": 1}),
        "field 'count' must be an integer, got '2'": server.call("POST", f"{P}/p/next", {"count": "2"}),
        "field 'count' must be an integer, got True": server.call("POST", f"{P}/p/next", {"count": True}),
        "field 'labels' must be an object of item id to label": server.call("POST", f"{P}/p/labels",
                                                                            {"labels": ["a"]}),
        "field 'labels' is required": server.call("POST", f"{P}/p/labels", {"annotator": "x"}),
        "field 'strategy' must be one of random,": server.call("POST", f"{P}/p/next", {"strategy": "best"}),
        "field 'labels' must be a list of strings": server.call("POST", P, {"name": "x", "dimension": 2,
                                                                            "labels": "ab"}),
        "the request body is not JSON": server.call("POST", f"{P}/p/next", raw=b"{count: 1}"),
        "the request body must be a JSON object": server.call("POST", f"{P}/p/next", [1]),
        "the request body holds NaN": server.call("POST", f"{P}/p/predict", raw=b'{"vectors": [[NaN]]}'),
        "field 'vectors' must be a list of lists of numbers": server.call("POST", f"{P}/p/predict",
                                                                          raw=b'{"vectors": [[1e999]]}'),
        "query parameter 'limit' must be an integer, got 'ten'": server.call("GET", f"{P}/p/outliers",
                                                                             query={"limit": "ten"}),
        "unknown field 'limti' in the query string": server.call("GET", f"{P}/p/outliers", query={"limti": 3}),
        "query parameter 'include_predictions' must be true or false": server.call(
            "GET", f"{P}/p/export", query={"include_predictions": "yes"}),
        # On a POST, a request id in the query string would be ignored: refused instead.
        "takes no query parameters, got 'request_id': send them as fields of the JSON body": server.call(
            "POST", f"{P}/p/next", {"count": 1}, query={"request_id": "r-1"}),
    }
    for expected, reply in cases.items():
        assert reply.status == 400 and reply.error[0] == "INVALID_ARGUMENT", (expected, reply.body)
        assert expected in reply.error[1], (expected, reply.error[1])
    assert server.ok("GET", f"{P}/p")["leased_count"] == 0


def test_too_large_requests_are_413_and_unknown_routes_404_in_the_error_shape(
        tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    seed(tmp_path / "data")
    server = live(max_message_mb=0.01, max_upload_items=3)
    big = server.call("POST", f"{P}/p/predict", {"vectors": [[0.5] * D] * 2000})
    assert big.status == 413 and big.error[0] == "RESOURCE_EXHAUSTED" and "10485 bytes" in big.error[1], big.body
    many = server.call("POST", f"{P}/p/items", {"ids": ["a", "b", "c", "d"], "vectors": [[1.0] * D] * 4})
    assert many.status == 413 and "at most 3 items" in many.error[1], many.body
    missing = server.call("GET", "/api/v1/nothing/here")
    assert missing.status == 404 and missing.error[0] == "NOT_FOUND" and "openapi.json" in missing.error[1]
    wrong = server.call("PUT", f"{P}/p")
    assert wrong.status == 405 and "PUT is not allowed" in wrong.error[1]


def test_a_seed_out_of_range_is_400_naming_it(tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    seed(tmp_path / "data", 10)
    server = live()
    for bad in (-1, 2**64):
        refused = server.call("POST", f"{P}/p/next", {"count": 1, "seed": bad})
        assert (refused.status, refused.error[0]) == (400, "INVALID_ARGUMENT"), refused.body
        assert "seed must be an integer from 0 to 2**64 - 1" in refused.error[1]
    assert server.ok("GET", f"{P}/p")["leased_count"] == 0
    assert len(server.ok("POST", f"{P}/p/next", {"count": 1, "seed": 2**64 - 1})["samples"]) == 1


def test_a_full_disk_is_507_with_the_grpc_message_and_changes_nothing(small_disk: Path) -> None:
    data = small_disk / "data"
    ids = seed(data, 60)
    server = LiveServer(data)
    try:
        server.ok("POST", f"{P}/p/labels", {"labels": {ids[0]: "a"}, "annotator": "ana"})
        filler = fill_disk(small_disk)
        full = server.call("POST", f"{P}/p/labels", {"labels": {ids[1]: "b"}, "annotator": "ana"})
        with server.client(retries=0) as client:
            expected = grpc_message(lambda: client.submit_labels("p", {ids[1]: "b"}, annotator="ana"))
        assert (full.status, full.error) == (507, expected) and str(data) in expected[1]
        filler.unlink()
        records = server.ok("GET", f"{P}/p/export")["records"]
        assert [(r["id"], r["label"], r["source"], r["annotator"]) for r in records] == [(ids[0], "a", "human", "ana")]
    finally:
        server.stop()


# ----------------------------------------------------------------- the document
def test_the_openapi_document_lists_every_route_and_is_public(live: Callable[..., LiveServer]) -> None:
    server = live(token="t")
    document = server.call("GET", "/api/v1/openapi.json", token=None).json
    assert document["openapi"].startswith("3.1")
    listed = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    assert listed == {(r.method, "/api/v1" + r.path) for r in ROUTES} | {("GET", "/api/v1/openapi.json")}
    next_body = document["paths"]["/api/v1/projects/{project}/next"]["post"]["requestBody"]["content"]
    assert set(next_body["application/json"]["schema"]["properties"]) == {
        "count", "annotator", "strategy", "lease_seconds", "seed", "include_outliers", "exponents", "explain",
        "preview", "request_id"}


# ----------------------------------------------------------------- the server
def test_stopping_the_server_closes_the_http_port_and_releases_the_data_dir(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data")
    port = server.http_port
    assert server.ok("GET", P) == {"projects": []}
    server.stop()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    again = LiveServer(tmp_path / "data", http_port=port)  # the same port and data dir, free again
    try:
        assert again.ok("GET", P) == {"projects": []}
    finally:
        again.stop()


def test_replies_that_ran_library_calls_say_their_compute_time(tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    ids = seed(tmp_path / "data", 10)
    server = live()
    for method, path, body in (("POST", f"{P}/p/labels", {"labels": {ids[0]: "a"}}), ("GET", f"{P}/p/stats", None),
                               ("GET", f"{P}/p/items/{ids[0]}/media", None)):
        timing = server.call(method, path, body).headers.get("Server-Timing", "")  # (media: a 404 after its call)
        assert re.fullmatch(r"compute;dur=\d+\.\d{3}", timing), (path, timing)
    assert "Server-Timing" not in server.call("GET", "/api/v1/openapi.json").headers
    assert "Server-Timing" not in server.call("POST", f"{P}/p/next", {"cuont": 1}).headers  # refused before any call


def test_knn_al_serve_prints_the_http_address_and_serves_there(tmp_path: Path, serve: Callable[..., Any]) -> None:
    server = serve(tmp_path / "data", "--http-port", "0", "--token", "t")
    import urllib.request
    request = urllib.request.Request(f"{server.http_url}/api/v1/projects", headers={"Authorization": "Bearer t"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert json.loads(reply.read()) == {"projects": []}
