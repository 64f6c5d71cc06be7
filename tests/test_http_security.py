"""What the HTTP API (issue 13 §1, §3) refuses, against a real server started with
``start_server``: requests without the token on every route, plaintext beside TLS, other
web sites (cross-site requests, bodies not sent as JSON, host names without a token), files
outside the page directory and outside the media roots (the symlink-swap race included),
and ``knn-al serve``'s refusals at start-up.

Every JSON reply is checked against the server's own OpenAPI document (tests/http_helpers.py).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from knn_al.dataset import write_dataset
from knn_al.projects.settings import ProjectSettings
from knn_al.projects.store import ProjectStore
from knn_al.server.http.app import PAGE_DIR, ROUTES
from knn_al.simulation.synthetic import clustered_vectors
# live: a fixture, which pytest finds by its import here
from tests.http_helpers import D, P, LiveServer, grpc_message, live, seed, self_signed
from tests.page_helpers import browser  # noqa: F401 (a fixture)


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


# ------------------------------------------------------------------- the page
def test_the_page_and_its_files_are_served_from_the_page_directory_only(live: Callable[..., LiveServer]) -> None:
    server = live(token="t")
    page = server.call("GET", "/", token=None)
    assert page.status == 200 and page.body == (PAGE_DIR / "index.html").read_bytes()
    assert page.headers["Content-Type"] == "text/html; charset=utf-8" and page.headers["Cache-Control"] == "no-cache"
    # The page runs its own files only (a script injected into it could read the token it
    # keeps), is framed by no site (a labeling page driven by keys invites clickjacking),
    # and no file of it is sniffed as another type.
    policy = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; frame-ancestors 'none'; "
              "base-uri 'none'; form-action 'self'")
    assert page.headers["Content-Security-Policy"] == policy and page.headers["X-Content-Type-Options"] == "nosniff"
    for name in sorted(p.name for p in PAGE_DIR.iterdir() if p.is_file()):
        served = server.call("GET", f"/static/{name}", token=None)
        assert served.status == 200 and served.body == (PAGE_DIR / name).read_bytes(), name
        assert served.headers["Cache-Control"] == "no-cache"
        assert (served.headers["Content-Security-Policy"], served.headers["X-Content-Type-Options"]) == (
            policy, "nosniff"), name
    kinds = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
    for name, kind in kinds.items():
        found = next((p.name for p in PAGE_DIR.iterdir() if p.suffix == name), None)
        if found:
            assert server.call("GET", f"/static/{found}").headers["Content-Type"].startswith(kind)
    for escape in ("/static/..%2F__init__.py", "/static/../__init__.py", "/static/%2e%2e%2fapp.py",
                   "/static/__pycache__", "/static/.hidden", "/static/no-such-file.js"):
        assert server.call("GET", escape, token=None).status == 404, escape


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


def test_items_named_dot_and_dot_dot_show_their_own_media_in_a_browser(
        tmp_path: Path, live: Callable[..., LiveServer], browser: WebDriver) -> None:
    """A browser resolves a path segment "." or ".." (even as "%2E%2E") before it fetches:
    the media URL of such an item must still lead to its own file, as the page fetches it."""
    root = tmp_path / "media"
    root.mkdir()
    ids = [".", "..", "media", "p"]  # "media", "p": where /items/./media and /items/../media lead
    files = {item: root / f"{n}.png" for n, item in enumerate(ids)}
    for n, path in enumerate(files.values()):
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes([n]) * 16)
    store = ProjectStore(tmp_path / "data")
    try:
        store.create(ProjectSettings(name="p", dimension=D)).add_items(
            ids, clustered_vectors(len(ids), D, clusters=1)[1], [{"source": str(files[item])} for item in ids])
    finally:
        store.close()
    server = live(media_roots=(root,))
    browser.get(f"http://127.0.0.1:{server.http_port}/")
    for item in ids:
        url = server.ok("POST", f"{P}/p/items/get", {"ids": [item]})["items"][0]["media"]
        fetched = browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0]).then(async (r) => done([r.status, Array.from(new Uint8Array(await r.arrayBuffer()))]),"
            "                         (e) => done(String(e)));", url)
        assert fetched == [200, list(files[item].read_bytes())], (item, url, fetched)


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


# ---------------------------------------------------------- start-up refusals
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
