"""The few calls of Label Studio's REST API the bridge makes back into Label Studio, and the
image files of tasks, over plain HTTP (urllib: label-studio-sdk would be a heavy dependency
for a few calls).

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
    """Label Studio refused or could not be reached: the call and its reply say why;
    ``status`` is the HTTP status of a refusal (None: no answer, or not one)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


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
        request = urllib.request.Request(self.hostname + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        self._authorize(request)
        content = self._fetch(request, what=f"Label Studio {method} {path}")
        try:
            return json.loads(content) if content else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise LabelStudioError(f"Label Studio {method} {path} answered what is not JSON: "
                                   f"{content[:200].decode(errors='replace')!r} (is {self.hostname} Label Studio?)") from None

    def _authorize(self, request: urllib.request.Request) -> None:
        # Unredirected: a redirect (a presigned URL in cloud storage) must not carry the token
        # to another host, which would see Label Studio's credential (and S3 refuses two).
        request.add_unredirected_header("Authorization", f"Token {self._token}")

    def download(self, url: str, *, limit: int = MAX_FILE_BYTES) -> bytes:
        """The file a task names by ``url``: a path on Label Studio (uploads are
        ``/data/upload/..``, local-files storage ``/data/local-files/?d=..``) or a URL of
        Label Studio, fetched with the token; any other http(s) URL, without it (the token
        is Label Studio's credential, for Label Studio only)."""
        if url.startswith("/"):
            url = self.hostname + url
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https"):
            cloud = f"a {parts.scheme}:// URI must be served through Label Studio (turn on the storage's presigned " \
                    "or proxy URLs) or imported as files" if parts.scheme else "a task's file must be named by a " \
                    "URL or by a path starting with /"
            raise LabelStudioError(f"cannot fetch {shown(url)}: the bridge fetches files uploaded to Label Studio, "
                                   f"served from its local-files storage, or at an http(s) URL; {cloud}")
        request = urllib.request.Request(url)
        if (parts.scheme, parts.netloc) == urllib.parse.urlsplit(self.hostname)[:2]:
            self._authorize(request)
        return self._fetch(request, what=f"GET {url}", limit=limit)

    def _fetch(self, request: urllib.request.Request, *, what: str, limit: int | None = None) -> bytes:
        """The reply's body, retried on a 5xx or a connection failure (not on a 4xx, an answer);
        longer than ``limit`` bytes is refused."""
        status = None
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
                status = refused.code
                problem = f"{what} -> {refused.code}: {refused.read()[:300].decode(errors='replace')}"
                if refused.code < 500:
                    break
            except OSError as exc:
                status, problem = None, f"{what}: {request.host} cannot be reached ({exc})"
            if attempt + 1 < _ATTEMPTS:
                _LOG.info("%s; again in %.1f s", problem, _BACKOFF * 2**attempt)
                time.sleep(_BACKOFF * 2**attempt)
        raise LabelStudioError(problem, status=status)

    def tasks(self, project: int) -> Iterator[Mapping[str, Any]]:
        """Every task of ``project``, page by page. A reply that is not a page of tasks, or
        a total that changes while paging, raises: a sync must know it saw every task."""
        page, seen, total = 1, 0, None
        while True:
            reply = self.call("GET", f"/api/tasks?project={project}&page={page}&page_size={_PAGE}")
            tasks = reply.get("tasks") if isinstance(reply, Mapping) else None
            count = reply.get("total") if isinstance(reply, Mapping) else None
            if not isinstance(tasks, list) or not isinstance(count, int) or (total is not None and count != total):
                raise LabelStudioError(f"Label Studio's task list of project {project} changed or is not a page of "
                                       f"tasks (page {page}): the pool sync stops, to be tried again at the next /setup")
            total = count
            yield from tasks
            seen += len(tasks)
            if not tasks or seen >= total:
                return
            page += 1

    def task_exists(self, task: int) -> bool:
        """Whether Label Studio still has ``task`` (a 404 says it does not)."""
        try:
            self.call("GET", f"/api/tasks/{int(task)}")
        except LabelStudioError as exc:
            if exc.status == 404:
                return False
            raise
        return True

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
