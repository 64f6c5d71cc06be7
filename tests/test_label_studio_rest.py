"""How the bridge fetches a task's file (knn_al.label_studio.rest.LabelStudioApi.download),
against two real HTTP servers on loopback: one standing for Label Studio, one for any other
host a task's image URL may name. Label Studio's token goes to Label Studio only."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from knn_al.label_studio.rest import LabelStudioApi, LabelStudioError

FILES = {"/data/upload/3/cat.png": b"\x89PNG cat", "/data/local-files/?d=pets/dog.jpg": b"\xff\xd8 dog",
         "/big.png": b"x" * 2048,
         "/api/tasks?project=3&page=1&page_size=100": b'{"tasks": [{"id": 1}]}'}  # no total: not a whole page


class Host:
    """A loopback HTTP server answering FILES, remembering each request's Authorization;
    ``/moved`` redirects to ``redirect`` (a URL), ``/page`` is an HTML page."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        self.redirect = ""
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802  (http.server's name)
                host.seen.append((self.path, self.headers.get("Authorization")))
                if self.path == "/moved":
                    self.send_response(302)
                    self.send_header("Location", host.redirect)
                    self.end_headers()
                    return
                if self.path.startswith("/page"):
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"<html>a proxy's login page</html>")
                    return
                body = FILES.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                self.wfile.write(body if body is not None else b"no such file")

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def hosts() -> Iterator[tuple[Host, Host]]:
    ours, elsewhere = Host(), Host()
    yield ours, elsewhere
    ours.close()
    elsewhere.close()


def test_label_studio_files_are_fetched_with_its_token_and_other_urls_without(hosts: tuple[Host, Host]) -> None:
    ours, elsewhere = hosts
    api = LabelStudioApi(hostname=ours.url + "/", token="secret")
    assert api.download("/data/upload/3/cat.png") == b"\x89PNG cat"  # an upload, as tasks name it
    assert api.download(ours.url + "/data/local-files/?d=pets/dog.jpg") == b"\xff\xd8 dog"  # local-files storage
    assert api.download(elsewhere.url + "/data/upload/3/cat.png") == b"\x89PNG cat"
    assert ours.seen == [("/data/upload/3/cat.png", "Token secret"), ("/data/local-files/?d=pets/dog.jpg",
                                                                        "Token secret")]
    assert elsewhere.seen == [("/data/upload/3/cat.png", None)]  # the credential stays with Label Studio
    # Nor does a redirect (a presigned cloud URL) carry it elsewhere.
    ours.redirect = elsewhere.url + "/data/upload/3/cat.png"
    assert api.download("/moved") == b"\x89PNG cat"
    assert ours.seen[-1] == ("/moved", "Token secret") and elsewhere.seen[-1] == ("/data/upload/3/cat.png", None)


def test_a_file_that_cannot_be_had_is_refused_saying_why(hosts: tuple[Host, Host]) -> None:
    ours, _ = hosts
    api = LabelStudioApi(hostname=ours.url, token="secret")
    with pytest.raises(LabelStudioError, match=r"GET .*/data/upload/3/gone\.png -> 404: no such file"):
        api.download("/data/upload/3/gone.png")
    assert len(ours.seen) == 1  # a 4xx is an answer, not retried
    with pytest.raises(LabelStudioError, match="over 1024 bytes"):
        api.download("/big.png", limit=1024)
    with pytest.raises(LabelStudioError, match="a s3:// URI must be served through Label Studio"):
        api.download("s3://bucket/cat.png")
    with pytest.raises(LabelStudioError, match="by a path starting with /"):
        api.download("data/upload/3/cat.png")
    with pytest.raises(LabelStudioError, match="must be an http"):
        LabelStudioApi(hostname="localhost:8080", token="secret")


def test_replies_that_are_not_label_studio_s_are_refused_not_misread(hosts: tuple[Host, Host]) -> None:
    ours, _ = hosts
    api = LabelStudioApi(hostname=ours.url, token="secret")
    with pytest.raises(LabelStudioError, match="not JSON.*is http://127.0.0.1:[0-9]+ Label Studio"):
        api.call("GET", "/page")
    # A task list that is not a page of tasks ends a sync before it could remove anything.
    with pytest.raises(LabelStudioError, match="not a page of tasks"):
        list(api.tasks(3))
    assert api.task_exists(3) is False  # 404
    with pytest.raises(LabelStudioError) as refused:
        api.call("GET", "/data/upload/3/gone.png")
    assert refused.value.status == 404
