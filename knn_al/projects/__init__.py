"""Durable projects: settings, the operation log, pool files, leases, streams and goals
(:class:`Project`), the records a project returns, and the store of every project of a
data directory (:class:`ProjectStore`).

Imports the learner, never a transport. The records (:mod:`knn_al.projects.records`)
import without numpy or SQLite, which is why the names below load on first use.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knn_al.projects.project import Project
    from knn_al.projects.settings import ProjectSettings
    from knn_al.projects.store import ProjectStore

__all__ = ["Project", "ProjectSettings", "ProjectStore"]

_HOMES = {"Project": "knn_al.projects.project", "ProjectSettings": "knn_al.projects.settings",
          "ProjectStore": "knn_al.projects.store"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
