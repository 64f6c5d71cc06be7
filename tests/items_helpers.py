"""What the item-operation tests share: a project on real files, its restart, and
everything a user can observe of it."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from knn_al.projects.project import Project
from knn_al.projects.settings import ProjectSettings
from knn_al.projects.store import ProjectStore
from knn_al.simulation.synthetic import clustered_vectors

DIM = 16


def new_project(root: Path, clock: Any, n: int = 200, **settings: Any) -> tuple[ProjectStore, Project, list[str], Any,
                                                                                  Any]:
    """A store at ``root`` with project "p" of ``n`` clustered items (metadata {"n": i}):
    (store, project, ids, vectors, clusters)."""
    store = ProjectStore(root, clock=clock)
    project = store.create(ProjectSettings(name="p", dimension=DIM, k=5, **settings))
    ids, x, cluster = clustered_vectors(n, DIM, seed=1)
    project.add_items(ids, x, [{"n": i} for i in range(n)])
    return store, project, ids, x, cluster


def reopen(store: ProjectStore, root: Path, clock: Any) -> tuple[ProjectStore, Project]:
    """Close ``store`` and open it again, replaying project "p" from its files."""
    store.close()
    again = ProjectStore(root, clock=clock)
    return again, again.get("p")


def observed(project: Project) -> dict[str, Any]:
    """Everything a user can observe of ``project`` without changing it."""
    pages = [project.list_items(state=state, page_size=1000).items
             for state in (None, "unlabeled", "labeled", "propagated", "leased", "skipped", "outlier")]
    return {"info": project.info(), "stats": project.stats(), "labels": project.labels(), "pages": pages,
            "export": project.export(include_predictions=True), "recent": project.recent_labels(1000),
            "suspicious": project.suspicious(1000), "groups": project.duplicate_groups(1000)}


def ops(path: Path) -> list[tuple[Any, ...]]:
    """The rows of a project's operation log."""
    with sqlite3.connect(path / "log.sqlite") as db:
        return db.execute("SELECT seq, kind, payload, annotator, at FROM ops ORDER BY seq").fetchall()


def all_pages(project: Project, state: str | None, page_size: int) -> list[str]:
    """The ids of every page of a listing, in order."""
    found, token = [], ""
    while True:
        page = project.list_items(state=state, page_size=page_size, page_token=token)
        found += [item.id for item in page.items]
        token = page.next_page_token
        if not token:
            return found


def lease_rows(path: Path) -> list[tuple[Any, ...]]:
    """The rows of a project's lease table."""
    with sqlite3.connect(path / "log.sqlite") as db:
        return db.execute("SELECT item_id, annotator, expires_at FROM leases ORDER BY item_id").fetchall()


def everything(project: Project) -> tuple[Any, ...]:
    """What a user can observe of ``project``, and what its log and lease table hold."""
    return observed(project), ops(project.path), lease_rows(project.path)
