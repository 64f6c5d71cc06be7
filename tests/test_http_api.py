"""The HTTP/JSON API (issue 13 §1, §3) against a real server started with ``start_server``:
each operation, auth, TLS, errors (the gRPC messages, HTTP statuses), request ids, media
roots, the page's files, and the same projects as gRPC.

Every JSON reply is checked against the server's own OpenAPI document (tests/http_helpers.py).
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from knn_al.client import ServiceError
from knn_al.projects.settings import ProjectSettings
from knn_al.projects.store import ProjectStore
from knn_al.server.http.app import PAGE_DIR, ROUTES
from knn_al.simulation.synthetic import clustered_vectors
from tests.http_helpers import LiveServer, self_signed

D = 8
P = "/api/v1/projects"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """``live(**ServerConfig options)``: a started :class:`LiveServer` over ``tmp_path / "data"``
    (seeded before, if the test wants: see :func:`seed`); stopped at teardown."""
    with contextlib.ExitStack() as started:

        def start(**options: Any) -> LiveServer:
            server = LiveServer(tmp_path / "data", **options)
            started.callback(server.stop)
            return server

        yield start


def seed(data: Path, n: int = 40, *, name: str = "p", metadata: list[dict[str, Any]] | None = None,
         **settings: Any) -> list[str]:
    """A project ``name`` of ``n`` clustered items under ``data``, written by the library before the server starts."""
    ids, x, _ = clustered_vectors(n, D, clusters=4)
    store = ProjectStore(data)
    try:  # duplicates only when identical: labels do not propagate unless a test wants them to
        store.create(ProjectSettings(name=name, dimension=D, **{"duplicate_threshold": 1.0, **settings})).add_items(
            ids, x, metadata or [{"n": i} for i in range(n)])
    finally:
        store.close()
    return ids


def grpc_message(call: Callable[[], Any]) -> tuple[str, str]:
    """(status name, message) of a gRPC call that must fail."""
    with pytest.raises(ServiceError) as refused:
        call()
    return refused.value.code.name, refused.value.message


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
        assert client.get_project("docs").settings.label_budget == 7
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


# ----------------------------------------------------------------------- auth
def test_the_token_guards_every_api_route_but_the_openapi_document_and_the_page(
        live: Callable[..., LiveServer]) -> None:
    server = live(token="s3cret")
    for token in (None, "wrong", "s3cre"):
        reply = server.call("GET", P, token=token)
        assert reply.status == 401 and reply.headers["WWW-Authenticate"] == "Bearer", (token, reply.body)
        assert reply.error[0] == "UNAUTHENTICATED"
        assert ("wrong token" in reply.error[1]) == (token is not None)
    # Mutations are refused before anything happens, routes or not.
    assert server.call("POST", P, {"name": "x", "dimension": 2}, token=None).status == 401
    assert server.call("GET", "/api/v1/no-such-route", token=None).status == 401
    assert server.call("GET", P, token=None, headers={"Authorization": "Basic czNjcmV0"}).status == 401
    assert server.ok("GET", P) == {"projects": []}
    assert server.call("GET", "/api/v1/openapi.json", token=None).status == 200
    assert server.call("GET", "/", token=None).status == 200
    with server.client() as client:  # one token for both transports
        assert client.list_projects() == []
    with server.client(retries=0) as client:
        client._metadata = ()
        assert grpc_message(client.list_projects)[0] == "UNAUTHENTICATED"


def test_https_with_the_grpc_certificate(tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    cert, key = self_signed(tmp_path)
    server = live(tls_cert=cert, tls_key=key, token="t")
    assert server.ok("POST", P, {"name": "tls", "dimension": 2})["name"] == "tls"
    with server.client() as client:
        assert [p.name for p in client.list_projects()] == ["tls"]
    import http.client
    plain = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10)
    with pytest.raises((ConnectionError, http.client.HTTPException)):  # no plaintext beside TLS
        plain.request("GET", P)
        plain.getresponse().read()
    plain.close()


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


# ------------------------------------------------------------------- the page
def test_the_page_and_its_files_are_served_from_the_page_directory_only(live: Callable[..., LiveServer]) -> None:
    server = live(token="t")
    page = server.call("GET", "/", token=None)
    assert page.status == 200 and page.body == (PAGE_DIR / "index.html").read_bytes()
    assert page.headers["Content-Type"] == "text/html; charset=utf-8" and page.headers["Cache-Control"] == "no-cache"
    for name in sorted(p.name for p in PAGE_DIR.iterdir() if p.is_file()):
        served = server.call("GET", f"/static/{name}", token=None)
        assert served.status == 200 and served.body == (PAGE_DIR / name).read_bytes(), name
        assert served.headers["Cache-Control"] == "no-cache"
    kinds = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
    for name, kind in kinds.items():
        found = next((p.name for p in PAGE_DIR.iterdir() if p.suffix == name), None)
        if found:
            assert server.call("GET", f"/static/{found}").headers["Content-Type"].startswith(kind)
    for escape in ("/static/..%2F__init__.py", "/static/../__init__.py", "/static/%2e%2e%2fapp.py",
                   "/static/__pycache__", "/static/.hidden", "/static/no-such-file.js"):
        assert server.call("GET", escape, token=None).status == 404, escape


# ----------------------------------------------------------------- the document
def test_the_openapi_document_lists_every_route_and_is_public(live: Callable[..., LiveServer]) -> None:
    server = live(token="t")
    document = server.call("GET", "/api/v1/openapi.json", token=None).json
    assert document["openapi"].startswith("3.1")
    listed = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    assert listed == {(r.method, "/api/v1" + r.path) for r in ROUTES} | {("GET", "/api/v1/openapi.json")}
    next_body = document["paths"]["/api/v1/projects/{project}/next"]["post"]["requestBody"]["content"]
    assert set(next_body["application/json"]["schema"]["properties"]) == {
        "count", "annotator", "strategy", "lease_seconds", "seed", "include_outliers", "explain", "request_id"}


# -------------------------------------------------------------------- the CLI
def test_knn_al_serve_prints_the_http_address_and_serves_there(tmp_path: Path, serve: Callable[..., Any]) -> None:
    server = serve(tmp_path / "data", "--http-port", "0", "--token", "t")
    import urllib.request
    request = urllib.request.Request(f"{server.http_url}/api/v1/projects", headers={"Authorization": "Bearer t"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert json.loads(reply.read()) == {"projects": []}


def test_knn_al_serve_refuses_bad_http_flags_in_one_line(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "knn_al", "serve", "--data-dir", str(tmp_path / "d"), *args],
                              capture_output=True, text=True, timeout=60, env={**os.environ, "OMP_NUM_THREADS": "1"})

    cases = {("--media-root", str(tmp_path)): "--media-root: only the HTTP API serves media, give --http-port too",
             ("--http-port", "70000"): "--http-port must be between 0 and 65535, got 70000",
             ("--port", "5000", "--http-port", "5000"): "--http-port must differ from --port: both are 5000",
             ("--http-port", "0", "--media-root", str(tmp_path / "none")): "no such directory",
             ("--http-port", "0", "--media-root", "/"): "would serve every file of this machine"}
    for args, expected in cases.items():
        done = run(*args)
        assert done.returncode == 2 and expected in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "d").exists()
