"""The few calls of Label Studio's REST API the bridge makes back into Label Studio, over
plain HTTP (urllib: label-studio-sdk would be a heavy dependency for five calls).

Label Studio's ``/setup`` carries the ``hostname`` and the project creator's legacy token
(``access_token``, sent as ``Authorization: Token T``); the bridge reaches the API with them.
"""
from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from knn_al.errors import KnnAlError, shown

__all__ = ["LabelStudioApi", "LabelStudioError"]

_PAGE = 100
_TIMEOUT = 60.0
_ATTEMPTS = 4
_BACKOFF = 0.5  # seconds before the second attempt, doubling
_LOG = logging.getLogger(__name__)


class LabelStudioError(KnnAlError):
    """Label Studio refused or could not be reached: the call and its reply say why."""


class LabelStudioApi:
    """Label Studio at ``hostname`` (``http://host:port``), as the holder of ``token``."""

    def __init__(self, *, hostname: str, token: str) -> None:
        if not hostname.startswith(("http://", "https://")):
            raise LabelStudioError(f"Label Studio's hostname must be an http(s) URL, got {shown(hostname)}")
        self.hostname, self._token = hostname.rstrip("/"), token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """``method path`` with a JSON body; the decoded JSON reply (None when empty)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.hostname + path, data=data, method=method, headers={
            "Authorization": f"Token {self._token}", "Content-Type": "application/json"})
        for attempt in range(_ATTEMPTS):
            try:
                with urllib.request.urlopen(request, timeout=_TIMEOUT) as reply:
                    content = reply.read()
                return json.loads(content) if content else None
            except urllib.error.HTTPError as refused:
                # A 5xx is Label Studio's trouble, often passing: its SQLite database is locked
                # while an annotation is saved. The refused write was rolled back, so it is sent
                # again; a 4xx is an answer.
                problem = (f"Label Studio {method} {path} -> {refused.code}: "
                           f"{refused.read()[:300].decode(errors='replace')}")
                if refused.code < 500:
                    break
            except OSError as exc:
                problem = f"Label Studio at {self.hostname} cannot be reached ({exc})"
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

    def import_predictions(self, project: int, predictions: Sequence[Mapping[str, Any]]) -> None:
        """Store ``predictions`` (each with its ``task``) in one request; Label Studio does
        not call the ML backend for them."""
        if predictions:
            self.call("POST", f"/api/projects/{project}/import/predictions", list(predictions))
