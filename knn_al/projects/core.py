"""The core of a project: its directory opened, one lock, and validate, commit, apply.

**Commit point.** A change is acknowledged only after its row in ``log.sqlite`` is
committed (durably: see :mod:`knn_al.projects.log`). Pool files are written first
(atomically, under names no committed row refers to yet), then the ``add`` row is
committed; the files of an addition a crash cut off before its commit are removed on open.

**Validate, commit, apply.** Each change is validated against the learner first (its
``check_*`` methods raise what the change would raise), then committed to the log in one
SQLite transaction, and only then applied to the learner. A bad request or a failed
commit (a full disk: :class:`~knn_al.errors.DiskFullError`) changes neither the log nor
the learner, so nothing has to be rebuilt. A project whose files are missing, corrupt or
inconsistent is not opened but raises :class:`~knn_al.projects.files.BrokenProjectError`,
and nothing of it is touched.

A project serialises every operation with one lock: the learner is single-threaded.
:class:`ProjectCore` is the base of :class:`knn_al.projects.project.Project`, whose
operations each hold the lock (:meth:`ProjectCore._locked`) around their steps.
"""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self, TypeVar

from knn_al.errors import DiskFullError, NotFoundError, StateError
from knn_al.learner.shards import ShardFactory
from knn_al.learner.stopping import budget_left
from knn_al.projects.files import BrokenProjectError, check_project, read_settings
from knn_al.projects.leases import DEFAULT_MAX_LEASE_SECONDS, Leases, lease_length
from knn_al.projects.log import OperationLog
from knn_al.projects.replay import replay
from knn_al.projects.settings import ProjectSettings

__all__ = ["ProjectBusyError", "ProjectCore"]

T = TypeVar("T")


class ProjectBusyError(StateError):
    """A call that would wait no longer than it said found the project busy."""

    reason = "PROJECT_BUSY"


class ProjectCore:
    """A project directory opened: its settings, log and replayed state, and its lock."""

    def __init__(self, path: Path, settings: ProjectSettings, clock: Callable[[], float], *,
                 max_lease_seconds: float = DEFAULT_MAX_LEASE_SECONDS, shard_factory: ShardFactory | None = None,
                 ) -> None:
        self.path = path
        self._shard_factory = shard_factory
        self.settings = settings
        self._clock = clock
        self._max_lease = max_lease_seconds
        self._lock = threading.Lock()
        self._closed = False
        self._log = OperationLog(path)
        try:
            self._replay()
        except BaseException:
            self._log.close()
            raise

    @classmethod
    def open(cls, path: Path, *, clock: Callable[[], float] = time.time,
             max_lease_seconds: float = DEFAULT_MAX_LEASE_SECONDS, shard_factory: ShardFactory | None = None) -> Self:
        """Open an existing project directory, replaying its log. A project whose files
        are missing or inconsistent raises :class:`BrokenProjectError` naming the first
        problems; nothing is changed on disk then. ``shard_factory`` makes the shards of a
        sharded project (none: such a project cannot open)."""
        problems = check_project(path)
        if problems:
            more = f" (and {len(problems) - 3} more problems)" if len(problems) > 3 else ""
            raise BrokenProjectError("; ".join(problems[:3]) + more)
        settings = read_settings(path)
        try:
            return cls(path, settings, clock, max_lease_seconds=max_lease_seconds, shard_factory=shard_factory)
        except Exception as exc:  # whatever it is, it is this project's files, and only this project's
            raise BrokenProjectError(f"{path}: its log cannot be replayed ({type(exc).__name__}: {exc})") from exc

    def close(self) -> None:
        """Close the log; later calls raise :class:`NotFoundError`."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._log.close()

    def _replay(self) -> None:
        """Rebuild the learner, metadata, leases and label history from what the log has committed."""
        self._state = replay(self._log, self.path, self.settings, now=self._clock(), shard_factory=self._shard_factory)
        self.learner = self._state.learner

    @property
    def _leases(self) -> Leases:
        return self._state.leases

    @contextmanager
    def _locked(self, *, wait: float | None = None) -> Iterator[float]:
        """Hold the project lock, end expired leases, and yield the current time. With
        ``wait``, :class:`ProjectBusyError` when the lock is not free within that many seconds."""
        if not self._lock.acquire(timeout=-1 if wait is None else wait):
            raise ProjectBusyError(f"project {self.settings.name!r} is busy with a call that took over {wait:g} s")
        try:
            if self._closed:
                raise NotFoundError(f"project {self.settings.name!r} was deleted")
            now = self._clock()
            expired = self._leases.expired(now)
            if expired:
                # Housekeeping that must not fail the call that triggered it: an expired row
                # left behind (a full disk) is ignored by replay and overwritten by a new lease.
                with contextlib.suppress(DiskFullError):
                    self._log.commit(lambda: self._log.delete_leases(expired), durable=False)
                self._leases.end(expired)
                self._apply(self.learner.release, expired)
            yield now
        finally:
            self._lock.release()

    def _commit(self, kind: str, op: dict[str, Any], now: float, *, annotator: str = "",
                also: Callable[[], object] | None = None) -> list[str]:
        """Commit operation ``kind`` (with the writes of ``also`` in the same transaction),
        then apply it as a replay would (:meth:`ProjectState.apply`)."""

        def write() -> None:
            self._log.append(kind, op, annotator, now)
            if also is not None:
                also()

        self._log.commit(write)
        return self._apply(self._state.apply, kind, op, annotator, now)

    def _apply(self, change: Callable[..., T], *args: Any) -> T:
        """Apply a committed, validated change to the learner. Should it fail anyway, the
        learner is rebuilt from the log, which holds the change."""
        try:
            return change(*args)
        except BaseException:
            self._replay()
            raise

    def _lease_length(self, given: float | None) -> float:
        return lease_length(given, default=self.settings.lease_seconds, max_seconds=self._max_lease)

    def _budget_left(self) -> int | None:
        return budget_left(self.settings.label_budget, self.learner.n_labeled, len(self._leases))
