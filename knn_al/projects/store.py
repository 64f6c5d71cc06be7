"""The project store: every project of a data directory, one sub-directory each.

The store deletes only what it created. A project directory is recognised by its marker
(:data:`knn_al.projects.files.MARKER`); temporary directories by the
:data:`~knn_al.atomic.TEMP_PREFIX` of their names *and* the marker inside. Everything
else in the data directory (a ``.git``, a virtualenv, notes) is left alone.

Creation and deletion are atomic on disk: a project is built in a temporary directory and
renamed into place, and deleted by renaming it to a temporary name before removing its
contents, the marker last, so a crash at any point leaves either the project, or a
temporary directory the next start recognises and finishes removing.

A project whose files are missing or inconsistent is *quarantined*: listed with the
reason, every call on it refused with that reason, nothing of it removed; the other
projects serve as usual.
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from knn_al.atomic import TEMP_PREFIX, fsync_dir
from knn_al.errors import AlreadyExistsError, InvalidInputError, NotFoundError, StateError, listing, shown
from knn_al.learner.shards import ShardFactory
from knn_al.projects.files import MARKER, BrokenProjectError, classify, lay_out, write_marker
from knn_al.projects.leases import DEFAULT_MAX_LEASE_SECONDS, check_lease_seconds
from knn_al.projects.log import disk_errors
from knn_al.projects.project import Project
from knn_al.projects.records import ProjectInfo
from knn_al.projects.settings import ProjectSettings

__all__ = ["BrokenProject", "ProjectStore"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokenProject:
    """A quarantined project: its directory and what is wrong with it."""

    name: str
    path: Path
    problem: str

    def info(self) -> ProjectInfo:
        return ProjectInfo(name=self.name, settings=None, state="broken", problem=self.problem)

    def refusal(self) -> StateError:
        return StateError(f"project {self.name!r} is quarantined: {self.problem}. Nothing of it was changed or "
                          f"removed: repair or move {self.path} and restart the server "
                          "(`knn-al check DATA_DIR` lists every problem)")


def _remove_own_directory(path: Path) -> None:
    """Remove a directory knn-al created, its marker last (see the module docstring)."""
    for child in path.iterdir():
        if child.name == MARKER:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    (path / MARKER).unlink(missing_ok=True)
    path.rmdir()


class ProjectStore:
    """Opens every project under ``data_dir`` (replaying their logs) and manages them.

    ``clock`` (unix seconds) drives lease deadlines; tests inject a fake one.
    ``max_lease_seconds`` bounds every lease (the project defaults and each hand-out).
    """

    def __init__(self, data_dir: str | Path, *, clock: Callable[[], float] = time.time,
                 max_lease_seconds: float = DEFAULT_MAX_LEASE_SECONDS, shard_factory: ShardFactory | None = None,
                 ) -> None:
        self.data_dir = Path(data_dir)
        #: Makes the shards of sharded projects (``knn-al serve --ray``); None: none can be served.
        self.shard_factory = shard_factory
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self.max_lease_seconds = max_lease_seconds
        self._lock = threading.Lock()
        self._projects: dict[str, Project] = {}
        self._broken: dict[str, BrokenProject] = {}
        #: Names being created or deleted: not listed, not creatable until that ends.
        self._busy: set[str] = set()
        for path in sorted(self.data_dir.iterdir()):
            kind = classify(path)
            if kind == "temporary":
                self._finish_removal(path)
            elif kind == "project":
                self._open(path)
            elif not path.name.startswith(".knn-al"):
                log.info("leaving %s alone: not a knn-al project", path)

    def _finish_removal(self, path: Path) -> None:
        """Remove what a crash left of a project being created or deleted, if it is ours."""
        if (path / MARKER).is_file():
            log.info("removing %s, left by an interrupted creation or deletion", path)
            _remove_own_directory(path)
        elif not any(path.iterdir()):
            path.rmdir()  # created, then the crash came before the marker
        else:
            log.warning("leaving %s alone: its name looks temporary but it holds no knn-al marker", path)

    def _open(self, path: Path) -> None:
        try:
            with disk_errors(self.data_dir):
                project = Project.open(path, clock=self._clock, max_lease_seconds=self.max_lease_seconds,
                                       shard_factory=self.shard_factory)
                if not (path / MARKER).exists():
                    write_marker(path)  # adopt a whole project written before the marker existed
                    log.info("adopted %s, a project written by an earlier knn-al (added its marker)", path)
        except Exception as exc:  # one project's files never keep the others from serving
            if not isinstance(exc, BrokenProjectError):
                exc = BrokenProjectError(f"{path} cannot be opened ({type(exc).__name__}: {exc})")
            log.error("project %s is quarantined: %s", path.name, exc)
            self._broken[path.name] = BrokenProject(name=path.name, path=path, problem=str(exc))
            return
        self._projects[path.name] = project

    def create(self, settings: ProjectSettings) -> Project:
        """Create an empty project (:class:`AlreadyExistsError` if the name is taken)."""
        check_lease_seconds(settings.lease_seconds, max_seconds=self.max_lease_seconds)
        if settings.shards > 1 and self.shard_factory is None:
            raise InvalidInputError(f"shards={settings.shards} needs a server started with `knn-al serve --ray`; this "
                                    "one has no Ray: create the project with shards=1, or restart the server with --ray",
                                    field="shards")
        name = settings.name
        target = self.data_dir / name
        with self._lock:  # reserve the name; the files are written without holding up `get`
            if name in self._projects or name in self._broken or name in self._busy:
                raise AlreadyExistsError(f"project {name!r} already exists: choose another name or delete it")
            if target.exists() or target.is_symlink():
                raise AlreadyExistsError(f"{target} already exists and is not a knn-al project: choose another "
                                         "name, or move it out of the data directory")
            self._busy.add(name)
        staging = self.data_dir / f"{TEMP_PREFIX}create-{name}-{uuid.uuid4().hex}"
        try:
            with disk_errors(self.data_dir):
                try:
                    lay_out(staging, settings)
                    staging.rename(target)
                except BaseException:
                    if staging.exists():
                        _remove_own_directory(staging)
                    raise
                fsync_dir(self.data_dir)
                project = Project.open(target, clock=self._clock, max_lease_seconds=self.max_lease_seconds,
                                       shard_factory=self.shard_factory)
            with self._lock:
                self._projects[name] = project
            return project
        finally:
            with self._lock:
                self._busy.discard(name)

    def get(self, name: str) -> Project:
        """The project called ``name``: :class:`NotFoundError` if there is none, the
        quarantine's :class:`StateError` if it is broken. Never waits on a project."""
        with self._lock:
            project = self._projects.get(name)
            if project is not None:
                return project
            if name in self._broken:
                raise self._broken[name].refusal()
            known = listing(sorted(self._projects)) if self._projects else "none yet"
            raise NotFoundError(f"no project {shown(name)} (projects: {known}); create it first")

    def list(self) -> list[Project | BrokenProject]:
        """Every project, quarantined ones included, by name."""
        with self._lock:
            every: dict[str, Project | BrokenProject] = {**self._projects, **self._broken}
            return [every[name] for name in sorted(every)]

    def delete(self, name: str) -> None:
        """Delete a project and all its files. Waits for the project's call in flight
        (if any) to end, without holding up calls on other projects meanwhile."""
        with self._lock:
            project = self._projects.pop(name, None)
            if project is None:
                if name in self._broken:
                    raise self._broken[name].refusal()
                raise NotFoundError(f"no project {shown(name)}")
            self._busy.add(name)
        try:
            project.close()  # waits for the call holding the project's lock
            doomed = self.data_dir / f"{TEMP_PREFIX}delete-{name}-{uuid.uuid4().hex}"
            os.rename(project.path, doomed)
            fsync_dir(self.data_dir)
            _remove_own_directory(doomed)
        finally:
            with self._lock:
                self._busy.discard(name)

    def close(self) -> None:
        """Close every project's log."""
        with self._lock:
            for project in self._projects.values():
                project.close()
