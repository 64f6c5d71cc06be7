"""A real server (gRPC and HTTP) started in this process with ``start_server``, and plain HTTP calls to it.

The server runs on an event loop of its own thread, exactly as ``knn-al serve`` runs it;
the test talks to it over loopback sockets from its own thread: HTTP with ``http.client``
(no client library between the test and the wire), gRPC with :class:`knn_al.client.Client`.

The fixture ``live`` and the helpers ``seed`` and ``grpc_message`` are shared by the
tests/test_http_*.py modules, which import them (a fixture imported into a test module is
visible to its tests).
"""
from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import re
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from knn_al.client import Client, ServiceError
from knn_al.projects.settings import ProjectSettings
from knn_al.projects.store import ProjectStore
from knn_al.server.app import RunningServer, start_server
from knn_al.server.config import ServerConfig
from knn_al.simulation.synthetic import clustered_vectors

D = 8
P = "/api/v1/projects"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> tuple[str, str]:
        """(code, message) of an error reply."""
        error = self.json["error"]
        assert set(error) == {"code", "message", "reason", "field"}, error
        return error["code"], error["message"]

    @property
    def details(self) -> tuple[str, str]:
        """(reason, field) of an error reply."""
        return self.json["error"]["reason"], self.json["error"]["field"]


class LiveServer:
    """``start_server(ServerConfig(data_dir, port=0, http_port=0, **options))`` on a thread's event loop."""

    def __init__(self, data_dir: Path, **options: Any) -> None:
        self.config = ServerConfig(data_dir=data_dir, **{"host": "127.0.0.1", "port": 0, "http_port": 0,
                                                         "grace_seconds": 0.0, **options})
        self.token: str | None = self.config.token
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        try:
            self.running: RunningServer = self._await(start_server(self.config))
        except BaseException:
            self._end_loop()
            raise
        self._ssl = (ssl.create_default_context(cafile=str(self.config.tls_cert)) if self.config.tls_cert else None)
        self._document: dict[str, Any] | None = None

    def _await(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    def _end_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def stop(self) -> None:
        self._await(self.running.stop(0))
        self._end_loop()

    @property
    def http_port(self) -> int:
        assert self.running.http_port is not None
        return self.running.http_port

    def client(self, **options: Any) -> Client:
        """A gRPC client of the same server."""
        tls = self.config.tls_cert.read_bytes() if self.config.tls_cert else None
        return Client(f"127.0.0.1:{self.running.port}", token=self.token, tls=tls, **options)

    def call(self, method: str, path: str, body: Any = None, *, query: dict[str, Any] | None = None,
             token: str | None | bool = True, raw: bytes | None = None, headers: dict[str, str] | None = None,
             host: str = "127.0.0.1") -> Reply:
        """``method path`` with ``body`` as JSON (or ``raw`` bytes); ``token`` True sends the
        server's token, a string sends that one, None or False none."""
        sent = dict(headers or {})
        given = self.token if token is True else (token or None)
        if given:
            sent["Authorization"] = f"Bearer {given}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        if query:
            path += "?" + urlencode(query)
        connection = (http.client.HTTPSConnection(host, self.http_port, context=self._ssl, timeout=60)
                      if self._ssl else http.client.HTTPConnection(host, self.http_port, timeout=60))
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            reply = Reply(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()
        if reply.headers.get("Content-Type", "").startswith("application/json") and "openapi" not in path:
            schema = self.reply_schema(method, path.partition("?")[0]) if reply.status < 300 else {
                "$ref": "#/components/schemas/Error"}
            errors = shape_errors(reply.json, schema, self.document)
            assert not errors, f"{method} {path}: the reply does not match the OpenAPI document: {errors[:5]}"
        return reply

    @property
    def document(self) -> dict[str, Any]:
        """The server's OpenAPI document."""
        if self._document is None:
            self._document = self.call("GET", "/api/v1/openapi.json", token=None).json
        return self._document

    def reply_schema(self, method: str, path: str) -> dict[str, Any]:
        """The schema of the success reply of ``method path`` in the OpenAPI document."""
        for template, operations in self.document["paths"].items():
            if method.lower() in operations and re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", template), path):
                responses = operations[method.lower()]["responses"]
                success = next(code for code in responses if code.startswith("2"))
                return responses[success]["content"]["application/json"]["schema"]  # type: ignore[no-any-return]
        raise AssertionError(f"{method} {path} is not in the OpenAPI document")

    def ok(self, method: str, path: str, body: Any = None, **options: Any) -> Any:
        """The JSON reply of a call that must succeed."""
        reply = self.call(method, path, body, **options)
        assert 200 <= reply.status < 300, (reply.status, reply.body[:2000])
        return reply.json


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


def self_signed(folder: Path, *, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for ``host`` and its key, made with ``openssl``."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={host}",
                    "-addext", f"subjectAltName=IP:{host}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def shape_errors(value: Any, schema: dict[str, Any], document: dict[str, Any], where: str = "$") -> list[str]:
    """Where ``value`` breaks ``schema`` (the subset of JSON Schema the OpenAPI document uses)."""
    if "$ref" in schema:
        return shape_errors(value, document["components"]["schemas"][schema["$ref"].rpartition("/")[2]], document,
                            where)
    if "oneOf" in schema:
        matching = [s for s in schema["oneOf"] if not shape_errors(value, s, document, where)]
        return [] if len(matching) == 1 else [f"{where}: {len(matching)} of oneOf match {value!r:.80}"]
    kinds = schema.get("type")
    if kinds is not None:
        names = kinds if isinstance(kinds, list) else [kinds]
        checks = {"object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
                  "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
                  "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
                  "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
                  "null": lambda v: v is None}
        if not any(checks[name](value) for name in names):
            return [f"{where}: {value!r:.80} is not {kinds}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r:.80} not in {schema['enum']}"]
    errors = []
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [f"{where}: missing {name!r}" for name in schema.get("required", ()) if name not in value]
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                errors += shape_errors(item, properties[name], document, f"{where}.{name}")
            elif extra is False:
                errors.append(f"{where}: unexpected {name!r}")
            elif isinstance(extra, dict):
                errors += shape_errors(item, extra, document, f"{where}.{name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += shape_errors(item, schema["items"], document, f"{where}[{i}]")
    return errors
