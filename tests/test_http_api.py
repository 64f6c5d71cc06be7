"""The HTTP/JSON API (issue 13 §1, §3) against a real server started with ``start_server``:
each operation, auth, TLS, errors (the gRPC messages, HTTP statuses), request ids, media
roots, the page's files, and the same projects as gRPC.

Every JSON reply is checked against the server's own OpenAPI document (tests/http_helpers.py).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from knn_al.client import ServiceError
from knn_al.dataset import write_dataset
from knn_al.projects.settings import ProjectSettings
from knn_al.projects.store import ProjectStore
from knn_al.server.http.app import PAGE_DIR, ROUTES
from knn_al.simulation.synthetic import clustered_vectors
from tests.disks import fill_disk
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
        tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    ids = seed(tmp_path / "data", 5)
    server = live(token="s3cret")
    assert ROUTES  # every route of the table, so that a new one without auth fails here
    for route in ROUTES:
        path = "/api/v1" + route.path.format(project="p", item=ids[0])
        body = {} if route.body is not None else None
        for token in (None, "wrong", "s3cre"):
            reply = server.call(route.method, path, body, token=token)
            assert reply.status == 401 and reply.headers["WWW-Authenticate"] == "Bearer", (route.name, token)
            assert reply.error[0] == "UNAUTHENTICATED"
            assert ("wrong token" in reply.error[1]) == (token is not None)
    # Mutations are refused before anything happens, routes or not.
    assert server.call("POST", P, {"name": "x", "dimension": 2}, token=None).status == 401
    assert server.call("GET", "/api/v1/no-such-route", token=None).status == 401
    assert server.call("GET", P, token=None, headers={"Authorization": "Basic czNjcmV0"}).status == 401
    assert [p["name"] for p in server.ok("GET", P)["projects"]] == ["p"]  # nothing was deleted
    for public in ("/api/v1/openapi.json", "/", "/static/app.js"):
        assert server.call("GET", public, token=None).status == 200, public
    with server.client() as client:  # one token for both transports
        assert [p.name for p in client.list_projects()] == ["p"]
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


# ------------------------------------------------------------ other web sites
def test_cross_site_requests_and_bodies_not_sent_as_json_are_refused_and_change_nothing(
        tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    """What a page of another site can make the annotator's browser send without a CORS
    preflight (a form, a text/plain fetch, a no-cors request) is refused (M1)."""
    seed(tmp_path / "data", 10)
    server = live()
    own = f"http://127.0.0.1:{server.http_port}"
    next_ = {"count": 2, "annotator": "mallory"}
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        refused = server.call("POST", f"{P}/p/next", next_, headers={"Content-Type": kind})
        assert (refused.status, refused.error[0]) == (415, "INVALID_ARGUMENT"), (kind, refused.body)
        assert "send the header 'Content-Type: application/json'" in refused.error[1]
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Origin": "https://127.0.0.1:1"},
                    {"Origin": f"https://127.0.0.1:{server.http_port}"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Origin": own, "Sec-Fetch-Site": "cross-site"}):
        for method, body in (("POST", next_), ("GET", None)):
            refused = server.call(method, f"{P}/p/next" if body else f"{P}/p/items", body, headers=headers)
            assert (refused.status, refused.error[0]) == (403, "PERMISSION_DENIED"), (headers, refused.body)
            assert "cross-site requests are refused" in refused.error[1]
    assert server.ok("GET", f"{P}/p")["leased_count"] == 0
    # The server's own page, and clients that are not browsers, pass.
    assert server.ok("POST", f"{P}/p/next", next_, headers={"Origin": own, "Sec-Fetch-Site": "same-origin"})
    assert server.ok("POST", f"{P}/p/next", next_, headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert server.call("GET", "/", headers={"Origin": "http://evil.example"}).status == 200  # the page is public


def test_without_a_token_the_api_answers_only_to_ip_addresses_localhost_and_the_served_host(
        tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    """DNS rebinding: a name of another site resolved to the server's address is refused (M1)."""
    seed(tmp_path / "data", 10)
    server = live()
    port = server.http_port
    for host in (f"evil.example:{port}", "evil.example", f"localhost.evil.example:{port}", "127.0.0.1.nip.io"):
        refused = server.call("POST", f"{P}/p/next", {"count": 1}, headers={"Host": host})
        assert (refused.status, refused.error[0]) == (403, "PERMISSION_DENIED"), (host, refused.body)
        assert "serve with --token to be reached by a host name" in refused.error[1]
    assert server.ok("GET", f"{P}/p")["leased_count"] == 0
    for host in (f"127.0.0.1:{port}", f"LOCALHOST:{port}", f"[::1]:{port}", "10.1.2.3"):
        assert server.call("GET", P, headers={"Host": host}).status == 200, host
    assert server.call("GET", "/", headers={"Host": "evil.example"}).status == 200  # the page holds nothing
    # With a token, names are free: another site's page has no token to send.
    named = LiveServer(tmp_path / "named", token="t")
    try:
        assert named.call("GET", P, headers={"Host": f"labeling.example:{named.http_port}"}).status == 200
        assert named.call("GET", P, headers={"Host": "labeling.example"}, token=None).status == 401
    finally:
        named.stop()


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

    media = tmp_path / "media"  # the server's own files must not lie under a media root
    media.mkdir()
    (media / "token").write_text("t")
    cert, key = self_signed(media)
    cases = {("--media-root", str(tmp_path)): "--media-root: only the HTTP API serves media, give --http-port too",
             ("--http-port", "70000"): "--http-port must be between 0 and 65535, got 70000",
             ("--port", "5000", "--http-port", "5000"): "--http-port must differ from --port: both are 5000",
             ("--http-port", "0", "--media-root", str(tmp_path / "none")): "no such directory",
             ("--http-port", "0", "--media-root", "/"): "would serve every file of this machine",
             ("--http-port", "0", "--media-root", str(tmp_path)): f"holds the data directory {tmp_path / 'd'}",
             ("--http-port", "0", "--media-root", str(media), "--token-file", str(media / "token")):
                 f"--media-root {media} holds the --token-file {media / 'token'}, which the API must not serve",
             ("--http-port", "0", "--media-root", str(media), "--tls-cert", str(cert), "--tls-key", str(key)):
                 "holds the --tls-key"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        cases[("--http-port", port)] = (f"cannot listen on 127.0.0.1:{port}: Address already in use "
                                        "(choose another --http-port")
        for args, expected in cases.items():
            done = run(*args)
            assert done.returncode == 2 and expected in done.stderr, (args, done.stderr)
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "d").exists()


# ------------------------------------------------------------------- items
def test_skip_unskip_and_renew(tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    ids = seed(tmp_path / "data", 10)
    server = live()
    leased = [s["id"] for s in server.ok("POST", f"{P}/p/next", {"count": 2, "annotator": "ana"})["samples"]]
    old = server.ok("POST", f"{P}/p/items/get", {"ids": leased})["items"][0]["lease_expires_at"]
    renewed = server.ok("POST", f"{P}/p/renew", {"ids": leased, "annotator": "ana", "lease_seconds": 5000})
    assert renewed["lease_expires_at"] > old + 4000
    refused = server.call("POST", f"{P}/p/renew", {"ids": leased, "annotator": "bo"})
    with server.client(retries=0) as client:
        assert (refused.status, refused.error) == (412, grpc_message(
            lambda: client.renew("p", leased, annotator="bo")))
    skipped = server.ok("POST", f"{P}/p/skip", {"ids": [leased[0]], "annotator": "ana"})
    assert skipped["skipped"] == 1 and "progress" in skipped
    assert server.ok("GET", f"{P}/p/stats")["skipped"] == 1
    listed = server.ok("GET", f"{P}/p/items", query={"state": "skipped"})["items"]
    assert [i["id"] for i in listed] == [leased[0]] and listed[0]["state"] == "skipped"
    rest = server.ok("POST", f"{P}/p/next", {"count": 10, "annotator": "bo"})["samples"]
    assert leased[0] not in {s["id"] for s in rest} and len(rest) == 8  # neither skipped nor leased
    assert server.ok("GET", f"{P}/p/export")["records"] == [  # exported as skipped, without predictions too
        {"id": leased[0], "label": "", "source": "skipped", "confidence": 0}]
    again = server.call("POST", f"{P}/p/unskip", {"ids": [ids[5] if ids[5] != leased[0] else ids[6]]})
    assert again.status == 412 and again.error[0] == "FAILED_PRECONDITION"
    assert server.ok("POST", f"{P}/p/unskip", {"ids": [leased[0]]}) == {"unskipped": 1}
    assert server.ok("GET", f"{P}/p/export")["records"] == []  # no longer skipped


def test_lease_holds_chosen_items_and_refuses_others_leases(tmp_path: Path,
                                                            live: Callable[..., LiveServer]) -> None:
    ids = seed(tmp_path / "data", 10)
    server = live()
    deadline = server.ok("POST", f"{P}/p/lease", {"ids": ids[:2], "annotator": "ana",
                                                  "lease_seconds": 5000})["lease_expires_at"]
    assert deadline > time.time() + 4000  # 5000 s, not the project's 600
    items = server.ok("POST", f"{P}/p/items/get", {"ids": ids[:2]})["items"]
    assert [(i["state"], i["lease_annotator"], i["lease_expires_at"]) for i in items] == [
        ("leased", "ana", deadline)] * 2
    rest = server.ok("POST", f"{P}/p/next", {"count": 10, "annotator": "bo", "include_outliers": True})["samples"]
    assert sorted(s["id"] for s in rest) == sorted(ids[2:])  # not ana's
    refused = server.call("POST", f"{P}/p/lease", {"ids": ids[:1], "annotator": "bo"})
    with server.client(retries=0) as client:
        assert (refused.status, refused.error) == (412, grpc_message(
            lambda: client.lease("p", ids[:1], annotator="bo")))


def test_undo_takes_a_label_back_leased_to_the_annotator_unless_someone_relabeled_it(
        tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    ids = seed(tmp_path / "data", 10)
    server = live()
    server.ok("POST", f"{P}/p/labels", {"labels": {ids[0]: "a", ids[1]: "b"}, "annotator": "ana"})
    undone = server.ok("POST", f"{P}/p/labels/undo", {"id": ids[0], "label": "a", "annotator": "ana",
                                                      "lease_seconds": 5000})
    assert undone["lease_expires_at"] > time.time() + 4000 and undone["labeled_count"] == 1
    assert undone["progress"]["estimate"]["labeled"] == 1
    (item,) = server.ok("POST", f"{P}/p/items/get", {"ids": [ids[0]]})["items"]
    assert (item["state"], item["label"], item["lease_annotator"]) == ("leased", "", "ana")

    server.ok("POST", f"{P}/p/labels", {"labels": {ids[1]: "c"}, "annotator": "bo"})  # bo's correction
    refused = server.call("POST", f"{P}/p/labels/undo", {"id": ids[1], "label": "b", "annotator": "ana"})
    with server.client(retries=0) as client:
        assert (refused.status, refused.error) == (412, grpc_message(
            lambda: client.undo_label("p", ids[1], label="b", annotator="ana")))
        assert client.export_labels("p") == {ids[1]: "c"}
    assert "labeled 'c' by 'bo', not labeled 'b'" in refused.error[1]


def test_a_seed_out_of_range_is_400_naming_it(tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    seed(tmp_path / "data", 10)
    server = live()
    for bad in (-1, 2**64):
        refused = server.call("POST", f"{P}/p/next", {"count": 1, "seed": bad})
        assert (refused.status, refused.error[0]) == (400, "INVALID_ARGUMENT"), refused.body
        assert "seed must be an integer from 0 to 2**64 - 1" in refused.error[1]
    assert server.ok("GET", f"{P}/p")["leased_count"] == 0
    assert len(server.ok("POST", f"{P}/p/next", {"count": 1, "seed": 2**64 - 1})["samples"]) == 1


def test_items_are_listed_page_by_page_and_got_by_id(tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    ids = seed(tmp_path / "data", 25)
    server = live()
    server.ok("POST", f"{P}/p/labels", {"labels": {ids[3]: "a"}, "annotator": "ana"})
    seen, token = [], ""
    while True:
        page = server.ok("GET", f"{P}/p/items", query={"page_size": 10, "page_token": token})
        seen += page["items"]
        token = page["next_page_token"]
        if not token:
            break
    assert [i["id"] for i in seen] == ids
    labeled = server.ok("GET", f"{P}/p/items", query={"state": "labeled"})["items"]
    assert [(i["id"], i["label"], i["annotator"], i["state"]) for i in labeled] == [(ids[3], "a", "ana", "labeled")]
    one = server.ok("GET", f"{P}/p/items/{ids[4]}")
    assert one["id"] == ids[4] and one["metadata"] == {"n": 4} and one["predicted_label"] == "a"
    assert one["media"] is None
    assert server.ok("POST", f"{P}/p/items/get", {"ids": [ids[4]]})["items"] == [one]
    unknown = server.call("GET", f"{P}/p/items/ghost")
    with server.client(retries=0) as client:
        assert (unknown.status, unknown.error) == (404, grpc_message(lambda: client.items("p", ["ghost"])))
    bad = server.call("GET", f"{P}/p/items", query={"page_token": "garbage"})
    assert bad.status == 400


def test_add_items_with_a_conflict_policy_remove_them_and_edit_metadata(
        tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    server = live()
    server.ok("POST", P, {"name": "p", "dimension": 3})
    vectors = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    added = server.ok("POST", f"{P}/p/items", {"ids": ["a/1", "b 2"], "vectors": vectors,
                                               "metadata": [{"t": "one"}, {"t": "two"}]})
    assert added == {"added": 2, "skipped": 0, "replaced": 0, "pool_size": 2}
    clash = server.call("POST", f"{P}/p/items", {"ids": ["a/1"], "vectors": [[0.0, 0.0, 1.0]]})
    with server.client(retries=0) as client:
        assert (clash.status, clash.error) == (409, grpc_message(
            lambda: client.add_items("p", ["a/1"], np.array([[0.0, 0.0, 1.0]], np.float32))))
    skip = server.ok("POST", f"{P}/p/items", {"ids": ["a/1", "c"], "vectors": [[0, 0, 1], [1, 1, 0]],
                                              "on_conflict": "skip"})
    assert (skip["added"], skip["skipped"], skip["pool_size"]) == (1, 1, 3)
    replace = server.ok("POST", f"{P}/p/items", {"ids": ["a/1"], "vectors": [[0, 0, 1]], "on_conflict": "replace",
                                                 "metadata": [{"t": "new"}]})
    assert (replace["replaced"], replace["pool_size"]) == (1, 3)
    # Ids with a slash, a space: URL-encoded in the path.
    assert server.ok("GET", f"{P}/p/items/a%2F1")["metadata"] == {"t": "new"}
    assert server.ok("GET", f"{P}/p/items/b%202")["metadata"] == {"t": "two"}
    assert server.ok("POST", f"{P}/p/items/metadata", {"metadata": {"b 2": {"t": "edited"}}}) == {"updated": 1}
    with server.client() as client:
        assert client.items("p", ["b 2"])[0].metadata == {"t": "edited"}
    assert server.ok("POST", f"{P}/p/items/remove", {"ids": ["c"]}) == {"removed": 1, "pool_size": 2}
    assert server.call("GET", f"{P}/p/items/c").status == 404
    wrong = server.call("POST", f"{P}/p/items", {"ids": ["x"], "vectors": [[1.0, 2.0]]})
    assert wrong.status == 400 and "dimension" in wrong.error[1]
    ragged = server.call("POST", f"{P}/p/items", {"ids": ["x", "y"], "vectors": [[1.0, 2.0, 3.0], [1.0]]})
    assert ragged.status == 400 and "equal-length" in ragged.error[1]
    texts = server.call("POST", f"{P}/p/items", {"ids": ["x"], "texts": ["hello"]})
    assert texts.status == 412 and "has no encoder" in texts.error[1]


def test_search_finds_neighbours_by_id_and_vector(tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    ids = seed(tmp_path / "data", 30)
    _, x, _ = clustered_vectors(30, D, clusters=4)
    server = live()
    by_id = server.ok("POST", f"{P}/p/search", {"id": ids[0], "limit": 5})["hits"]
    assert len(by_id) == 5 and ids[0] not in {h["id"] for h in by_id}
    assert by_id == sorted(by_id, key=lambda h: -h["similarity"])
    by_vector = server.ok("POST", f"{P}/p/search", {"vector": x[0].tolist(), "limit": 6})["hits"]
    assert by_vector[0]["id"] == ids[0] and [h["id"] for h in by_vector[1:]] == [h["id"] for h in by_id]
    server.ok("POST", f"{P}/p/labels", {"labels": {by_id[0]["id"]: "a"}})
    unlabeled = server.ok("POST", f"{P}/p/search", {"id": ids[0], "limit": 5, "unlabeled_only": True})["hits"]
    assert by_id[0]["id"] not in {h["id"] for h in unlabeled} and all(h["state"] == "unlabeled" for h in unlabeled)
    assert by_id[1]["metadata"] == {"n": ids.index(by_id[1]["id"])}
    both = server.call("POST", f"{P}/p/search", {"id": ids[0], "vector": x[0].tolist()})
    assert both.status == 400 and "exactly one of id, vector, text" in both.error[1]


def test_explain_lists_the_labeled_neighbours_with_their_metadata(tmp_path: Path,
                                                                 live: Callable[..., LiveServer]) -> None:
    ids = seed(tmp_path / "data", 30, metadata=[{"text": f"item {i}"} for i in range(30)])
    server = live()
    server.ok("POST", f"{P}/p/labels", {"labels": {ids[0]: "a", ids[1]: "b", ids[2]: "a"}, "annotator": "ana"})
    picked = server.ok("POST", f"{P}/p/next", {"count": 2, "explain": True, "annotator": "bo"})["samples"]
    predicted = server.ok("POST", f"{P}/p/predict", {"ids": [s["id"] for s in picked], "explain": True})
    for sample, prediction in zip(picked, predicted["predictions"]):
        assert sample["neighbors"] == prediction["neighbors"] and len(sample["neighbors"]) == 3
        for neighbor in sample["neighbors"]:
            assert neighbor["metadata"] == {"text": f"item {ids.index(neighbor['id'])}"}
            assert neighbor["label"] == {ids[0]: "a", ids[1]: "b", ids[2]: "a"}[neighbor["id"]]


def test_review_lists_outliers_duplicates_suspicious_and_recent_labels(tmp_path: Path,
                                                                      live: Callable[..., LiveServer]) -> None:
    ids, x, cluster = clustered_vectors(40, D, clusters=2, seed=3)
    x[1] = x[0]  # an exact duplicate
    store = ProjectStore(tmp_path / "data")
    try:
        settings = ProjectSettings(name="p", dimension=D, outlier_quantile=0.05, duplicate_threshold=0.9999)
        store.create(settings).add_items(ids, x, [{"n": i} for i in range(40)])
    finally:
        store.close()
    server = live()
    outliers = server.ok("GET", f"{P}/p/outliers", query={"limit": 10})["outliers"]
    assert outliers and all(o["metadata"] == {"n": ids.index(o["id"])} for o in outliers)
    groups = server.ok("GET", f"{P}/p/duplicates")["groups"]
    assert [sorted(g["ids"]) for g in groups] == [[ids[0], ids[1]]]
    assert groups[0]["metadata"] == [{"n": ids.index(i)} for i in groups[0]["ids"]]
    same = [i for i, c in zip(ids, cluster) if c == cluster[5]][:6]
    labels = {i: "a" for i in same}
    labels[same[0]] = "b"  # a mistake among its own cluster
    server.ok("POST", f"{P}/p/labels", {"labels": labels, "annotator": "ana"})
    server.ok("POST", f"{P}/p/labels", {"labels": {same[1]: "a"}, "annotator": "bo"})
    suspicious = server.ok("GET", f"{P}/p/suspicious")["items"]
    assert suspicious[0]["id"] == same[0] and suspicious[0]["predicted_label"] == "a"
    assert suspicious[0]["annotator"] == "ana" and suspicious[0]["metadata"] == {"n": ids.index(same[0])}
    recent = server.ok("GET", f"{P}/p/recent", query={"limit": 3})["labels"]
    assert recent[0]["id"] == same[1] and recent[0]["annotator"] == "bo" and len(recent) == 3
    only_bo = server.ok("GET", f"{P}/p/recent", query={"annotator": "bo"})["labels"]
    assert [(r["id"], r["label"]) for r in only_bo] == [(same[1], "a")]


# --------------------------------------------------------------------- media
def test_media_is_served_only_from_under_a_media_root(tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    root, outside = tmp_path / "media", tmp_path / "private"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 32
    (root / "sub" / "cat.png").write_bytes(png)
    (outside / "secret.png").write_bytes(b"secret")
    (root / "escape.png").symlink_to(outside / "secret.png")
    (root / "inner.png").symlink_to(root / "sub" / "cat.png")
    sources = {"in": str(root / "sub" / "cat.png"), "inner-link": str(root / "inner.png"),
               "outside": str(outside / "secret.png"), "dotdot": f"{root}/sub/../../private/secret.png",
               "link-out": str(root / "escape.png"), "missing": str(root / "none.png"), "dir": str(root / "sub"),
               "relative": "sub/cat.png"}
    ids = seed(tmp_path / "data", len(sources), metadata=[{"source": s} for s in sources.values()])
    named = dict(zip(sources, ids))
    server = live(media_roots=(root,))
    for name in ("in", "inner-link"):
        served = server.call("GET", f"{P}/p/items/{named[name]}/media")
        assert served.status == 200 and served.body == png and served.headers["Content-Type"] == "image/png", name
        assert served.headers["X-Content-Type-Options"] == "nosniff"
    refusals = {name: server.call("GET", f"{P}/p/items/{named[name]}/media")
                for name in ("outside", "dotdot", "link-out", "missing", "dir", "relative")}
    for name, refused in refusals.items():
        assert refused.status == 404 and b"secret" not in refused.body, (name, refused.body)
    assert len({r.error[1].replace(named[n], "ID") for n, r in refusals.items()}) == 1  # no hint of what exists
    item = server.ok("GET", f"{P}/p/items/{named['in']}")
    assert item["media"] == f"/api/v1/projects/p/items/{named['in']}/media"
    assert server.ok("GET", f"{P}/p/items/{named['relative']}")["media"] is None
    assert server.call("GET", f"{P}/p/items/ghost/media").status == 404
    token_server_check = server.call("GET", f"{P}/p/items/{named['in']}/media", token="nope")
    assert token_server_check.status == 200  # no token on this server: any header passes


def test_media_is_checked_by_the_file_opened_so_a_directory_swapped_for_a_symlink_leaks_nothing(
        tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    """A writer under a media root swaps a directory of the served path for a symlink out
    of the root, over and over, while the item is fetched: never the file outside (S4)."""
    root, outside = tmp_path / "media", tmp_path / "private"
    (root / "d").mkdir(parents=True)
    (outside / "d").mkdir(parents=True)
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 32
    (root / "d" / "cat.png").write_bytes(png)
    (outside / "d" / "cat.png").write_bytes(b"secret")
    ids = seed(tmp_path / "data", 3, metadata=[{"source": str(root / "d" / "cat.png")}] * 3)
    server = live(media_roots=(root,))
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            (root / "d").rename(root / "real")
            (root / "d").symlink_to(outside / "d")
            (root / "d").unlink()
            (root / "real").rename(root / "d")

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        replies = [server.call("GET", f"{P}/p/items/{ids[0]}/media") for _ in range(800)]
    finally:
        stop.set()
        swapper.join()
    assert all(r.body == png if r.status == 200 else r.status == 404 for r in replies)
    assert server.call("GET", f"{P}/p/items/{ids[0]}/media").body == png


def test_a_text_dataset_keeps_its_texts_as_text_and_only_image_paths_have_media(
        tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    """A text starting with "/" is a text, not a file to serve (M2)."""
    texts = ["/usr/bin holds the programs", "/photos/cat.png is a file name", "plain words"]
    images = [str(tmp_path / "media" / name) for name in ("cat.png", "dog.JPG", "notes.txt")]
    _, x, _ = clustered_vectors(6, D, clusters=2)
    write_dataset(tmp_path / "texts", ids=["t0", "t1", "t2"], vectors=x[:3], encoder="test", sources=texts)
    write_dataset(tmp_path / "images", ids=["i0", "i1", "i2"], vectors=x[3:], encoder="test", modality="image",
                  sources=images)
    store = ProjectStore(tmp_path / "data")
    try:
        project = store.create(ProjectSettings(name="p", dimension=D))
        project.load_dataset(tmp_path / "texts")
        project.load_dataset(tmp_path / "images")
        # Kept before texts moved to "text": a text in "source" or "path" is no file either.
        project.add_items(["old", "older"], x[:2], [{"source": texts[0]}, {"path": "/etc/passwd"}])
    finally:
        store.close()
    (tmp_path / "media").mkdir()
    server = live(media_roots=(tmp_path / "media",))
    items = {i["id"]: i for i in server.ok("POST", f"{P}/p/items/get",
                                           {"ids": ["t0", "t1", "t2", "i0", "i1", "i2", "old", "older"]})["items"]}
    assert [items[i]["metadata"] for i in ("t0", "t1", "t2")] == [{"text": t, "label": None} for t in texts]
    assert [items[i]["metadata"] for i in ("i0", "i1")] == [{"source": s, "label": None} for s in images[:2]]
    assert {i: bool(item["media"]) for i, item in items.items()} == {
        "t0": False, "t1": False, "t2": False, "i0": True, "i1": True, "i2": False, "old": False, "older": False}
    for item in ("old", "older", "i2"):
        assert server.call("GET", f"{P}/p/items/{item}/media").status == 404


def test_media_needs_the_token_and_no_root_serves_nothing(tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\nxx")
    ids = seed(tmp_path / "data", 3, metadata=[{"path": str(image)}] * 3)
    server = live(token="t")
    assert server.call("GET", f"{P}/p/items/{ids[0]}/media", token=None).status == 401
    assert server.call("GET", f"{P}/p/items/{ids[0]}/media").status == 404  # no media root: nothing is served


def test_a_text_project_keeps_its_raw_texts_and_searches_and_predicts_by_text(
        live: Callable[..., LiveServer]) -> None:
    server = live()
    created = server.ok("POST", P, {"name": "t", "encoder": "use-multilingual", "keep_raw": True})
    assert created["settings"]["keep_raw"] is True and created["settings"]["dimension"] == 512
    texts = {"cat": "the cat sat on the mat and purred", "dog": "the dog barked at the postman",
             "stocks": "stock markets fell sharply after the report", "rates": "the central bank raised interest rates"}
    assert server.ok("POST", f"{P}/t/items", {"ids": list(texts), "texts": list(texts.values())})["added"] == 4
    item = server.ok("GET", f"{P}/t/items/cat")
    assert item["media"] == "/api/v1/projects/t/items/cat/media"
    media = server.call("GET", item["media"])
    assert media.status == 200 and media.body == texts["cat"].encode()
    assert media.headers["Content-Type"] == "text/plain; charset=utf-8"
    hits = server.ok("POST", f"{P}/t/search", {"text": "inflation and the economy", "limit": 2})["hits"]
    assert {h["id"] for h in hits} == {"stocks", "rates"}
    server.ok("POST", f"{P}/t/labels", {"labels": {"cat": "animals", "stocks": "finance"}})
    predicted = server.ok("POST", f"{P}/t/predict", {"texts": ["a kitten chased a mouse"]})["predictions"]
    assert predicted[0]["label"] == "animals"
    vectors = server.call("POST", f"{P}/t/items", {"ids": ["x"], "texts": ["a"], "vectors": [[1.0] * 512]})
    assert vectors.status == 400 and "exactly one of vectors or texts" in vectors.error[1]


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
        assert server.ok("GET", f"{P}/p/export")["records"] == [
            {"id": ids[0], "label": "a", "source": "human", "confidence": 1.0}]
    finally:
        server.stop()


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
