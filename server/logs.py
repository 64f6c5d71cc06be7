"""The server's logging: plain text for a terminal, or one JSON object per line for a log
pipeline (``knn-al serve --log-format json``).

In JSON, every record has ``time`` (ISO 8601, UTC), ``level``, ``logger`` and ``message``;
an access-log record (logger ``knn_al.access``, one per answered call: see
:mod:`knn_al.server.observe`) adds ``transport``, ``method``, ``project``, ``annotator``,
``ms`` and ``status``; an error adds ``exception``. Access lines come with JSON at the
chosen level; in text they would drown the errors a person reads, so they come only with
``--log-level debug``.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

__all__ = ["LEVELS", "FORMATS", "JsonFormatter", "configure"]

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
                 .replace("+00:00", "Z"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage(),
                 **getattr(record, "fields", {})}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(*, level: str = "info", fmt: str = "text") -> None:
    """Log to stderr at ``level`` (one of :data:`LEVELS`) in ``fmt`` (one of :data:`FORMATS`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    access = logging.getLogger("knn_al.access")
    access.setLevel(logging.NOTSET if fmt == "json" or level == "debug" else logging.WARNING)
