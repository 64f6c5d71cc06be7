"""The project store: every project of a data directory, one sub-directory each.

Creation and deletion are atomic on disk: a project is built in a hidden temporary
directory and renamed into place, and deleted by renaming it to a hidden name before
removing it. Hidden leftovers of a crash are removed when the store opens.
"""
from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from knn_al.atomic import fsync_dir
from knn_al.errors import AlreadyExistsError, NotFoundError
from knn_al.project import Project
from knn_al.settings import ProjectSettings


class ProjectStore:
    """Opens every project under ``data_dir`` (replaying their logs) and manages them.

    ``clock`` (unix seconds) drives lease deadlines; tests inject a fake one.
    """

    def __init__(self, data_dir: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.Lock()
        self._projects: dict[str, Project] = {}
        for path in sorted(self.data_dir.iterdir()):
            if path.name.startswith("."):
                shutil.rmtree(path, ignore_errors=True)
            elif (path / "settings.json").is_file():
                self._projects[path.name] = Project.open(path, clock=clock)

    def create(self, settings: ProjectSettings) -> Project:
        """Create an empty project (:class:`AlreadyExistsError` if the name is taken)."""
        with self._lock:
            if settings.name in self._projects:
                raise AlreadyExistsError(f"project {settings.name!r} already exists: choose another name or delete it")
            staging = self.data_dir / f".creating-{settings.name}-{uuid.uuid4().hex}"
            Project.initialise(staging, settings)
            staging.rename(self.data_dir / settings.name)
            fsync_dir(self.data_dir)
            project = self._projects[settings.name] = Project.open(self.data_dir / settings.name, clock=self._clock)
            return project

    def get(self, name: str) -> Project:
        """The project called ``name`` (:class:`NotFoundError` if there is none)."""
        with self._lock:
            project = self._projects.get(name)
            if project is None:
                known = ", ".join(sorted(self._projects)) or "none yet"
                raise NotFoundError(f"no project {name!r} (projects: {known}); create it first")
            return project

    def list(self) -> list[Project]:
        """Every project, by name."""
        with self._lock:
            return [self._projects[name] for name in sorted(self._projects)]

    def delete(self, name: str) -> None:
        """Delete a project and all its files."""
        project = self.get(name)
        with self._lock:
            if self._projects.get(name) is not project:
                raise NotFoundError(f"no project {name!r}")
            del self._projects[name]
            project.close()
            doomed = self.data_dir / f".deleting-{name}-{uuid.uuid4().hex}"
            project.path.rename(doomed)
            fsync_dir(self.data_dir)
        shutil.rmtree(doomed)

    def close(self) -> None:
        """Close every project's log."""
        with self._lock:
            for project in self._projects.values():
                project.close()
