"""The few calls of Label Studio's REST API the bridge makes back into Label Studio, and the
image files of tasks, over plain HTTP (urllib: label-studio-sdk would be a heavy dependency
for seven calls).

Label Studio's ``/setup`` carries the ``hostname`` and the project creator's legacy token
(``access_token``, sent as ``Authorization: Token T``); the bridge reaches the API with them.
"""
from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from knn_al.errors import KnnAlError, shown

__all__ = ["MAX_FILE_BYTES", "LabelStudioApi", "LabelStudioError"]

_PAGE = 100
_TIMEOUT = 60.0
_ATTEMPTS = 4
_BACKOFF = 0.5  # seconds before the second attempt, doubling
#: The largest file :meth:`LabelStudioApi.download` reads: an image to embed, not a dataset.
MAX_FILE_BYTES = 64 * 2**20
_LOG = logging.getLogger(__name__)


class LabelStudioError(KnnAlError):
    """Label Studio refused or could not be reached: the call and its reply say why."""


class LabelStudioApi:
    """Label Studio at ``hostname`` (``http://host:port``), as the holder of ``token``."""

    def __init__(self, *, hostname: str, token: str) -> None:
        if not hostname.startswith(("http://", "https://")):
            raise LabelStudioError(f"Label Studio's hostname must be an http(s) URL, got {shown(hostname)}")
        self.hostname, self._token = hostname.rstrip("/"), token

    @property
    def key(self) -> tuple[str, str]:
        """(hostname, token): which Label Studio, as whom."""
        return self.hostname, self._token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """``method path`` with a JSON body; the decoded JSON reply (None when empty)."""
        data = None if body is None else json.dumps(body).encode()
        content = self._fetch(urllib.request.Request(self.hostname + path, data=data, method=method, headers={
            "Authorization": f"Token {self._token}", "Content-Type": "application/json"}),
            what=f"Label Studio {method} {path}")
        return json.loads(content) if content else None

    def download(self, url: str, *, limit: int = MAX_FILE_BYTES) -> bytes:
        """The file a task names by ``url``: a path on Label Studio (uploads are
        ``/data/upload/..``, local-files storage ``/data/local-files/?d=..``) or a URL of
        Label Studio, fetched with the token; any other http(s) URL, without it (the token
        is Label Studio's credential, for Label Studio only)."""
        if url.startswith("/"):
            url = self.hostname + url
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise LabelStudioError(
                f"cannot fetch {shown(url)}: the bridge fetches files uploaded to Label Studio, served from its "
                "local-files storage, or at an http(s) URL; a cloud storage URI must be served through Label "
                "Studio (turn on the storage's presigned/proxy URLs) or imported as files")
        ours = (parts.scheme, parts.netloc) == urllib.parse.urlsplit(self.hostname)[:2]
        headers = {"Authorization": f"Token {self._token}"} if ours else {}
        return self._fetch(urllib.request.Request(url, headers=headers), what=f"GET {url}", limit=limit)

    def _fetch(self, request: urllib.request.Request, *, what: str, limit: int | None = None) -> bytes:
        """The reply's body, retried on a 5xx or a connection failure (not on a 4xx, an answer);
        longer than ``limit`` bytes is refused."""
        for attempt in range(_ATTEMPTS):
            try:
                with urllib.request.urlopen(request, timeout=_TIMEOUT) as reply:
                    content: bytes = reply.read() if limit is None else reply.read(limit + 1)
                if limit is not None and len(content) > limit:
                    size = f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit} bytes"
                    raise LabelStudioError(f"{what}: the file is over {size}, more than an image the bridge embeds")
                return content
            except urllib.error.HTTPError as refused:
                # A 5xx is Label Studio's trouble, often passing: its SQLite database is locked
                # while an annotation is saved. The refused write was rolled back, so it is sent
                # again; a 4xx is an answer.
                problem = f"{what} -> {refused.code}: {refused.read()[:300].decode(errors='replace')}"
                if refused.code < 500:
                    break
            except OSError as exc:
                problem = f"{what}: {request.host} cannot be reached ({exc})"
            if attempt + 1 < _ATTEMPTS:
                _LOG.info("%s; again in %.1f s", problem, _BACKOFF * 2**attempt)
                time.sleep(_BACKOFF * 2**attempt)
        raise LabelStudioError(problem)

    def tasks(self, project: int) -> Iterator[Mapping[str, Any]]:
        """Every task of ``project``, page by page (a page past the last one is a 404)."""
        page, seen = 1, 0
        while True:
            reply = self.call("GET", f"/api/tasks?project={project}&page={page}&page_size={_PAGE}")
            tasks = reply.get("tasks", []) if isinstance(reply, Mapping) else []
            yield from tasks
            seen += len(tasks)
            if not tasks or seen >= int(reply.get("total", 0)):
                return
            page += 1

    def predictions(self, project: int) -> list[Mapping[str, Any]]:
        """Every prediction stored in ``project``."""
        reply = self.call("GET", f"/api/predictions?project={project}")
        return list(reply) if isinstance(reply, list) else []

    def delete_prediction(self, prediction: int) -> None:
        self.call("DELETE", f"/api/predictions/{int(prediction)}")

    def update_prediction(self, prediction: int, fields: Mapping[str, Any]) -> None:
        """Change a stored prediction's ``fields`` (its result and score) in place."""
        self.call("PATCH", f"/api/predictions/{int(prediction)}", dict(fields))

    def import_predictions(self, project: int, predictions: Sequence[Mapping[str, Any]]) -> None:
        """Store ``predictions`` (each with its ``task``) in one request; Label Studio does
        not call the ML backend for them."""
        if predictions:
            self.call("POST", f"/api/projects/{project}/import/predictions", list(predictions))
