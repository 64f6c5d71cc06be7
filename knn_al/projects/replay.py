"""Replay: a project's state rebuilt from what its log has committed.

Opening a project replays the log into a fresh learner with the same calls in the same
order (additions before the first other operation are merged into one: with nothing
labeled they give the same state), passing each addition's saved survey so nothing is
recomputed. A live project applies each committed operation with the same
:meth:`ProjectState.apply`, so the result is the same state: same predictions, same
picks for the same seed. Replay writes nothing to the log: rows of leases that ended
meanwhile stay until overwritten.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from knn_al.errors import StateError
from knn_al.learner import Learner
from knn_al.learner.sharded import ShardedLearner
from knn_al.learner.shards import ShardFactory
from knn_al.learner.survey import PoolSurvey
from knn_al.projects.history import LabelHistory
from knn_al.projects.leases import Lease, Leases
from knn_al.projects.log import OperationLog
from knn_al.projects.pool import read_batches, read_pool_rows, remove_crash_leftovers
from knn_al.projects.settings import ProjectSettings

__all__ = ["ProjectState", "replay"]


@dataclass
class ProjectState:
    """What a project holds in memory: its learner, each pool item's metadata (by pool
    row), the number of committed additions (the next batch number), the open leases,
    and who gave each current human label."""

    learner: Learner
    metadata: list[dict[str, Any]] = field(default_factory=list)
    batches: int = 0
    leases: Leases = field(default_factory=Leases)
    history: LabelHistory = field(default_factory=LabelHistory)

    def apply(self, kind: str, op: dict[str, Any], annotator: str, at: float) -> list[str]:
        """Apply a committed operation other than an addition (``kind``: one of
        :data:`~knn_al.projects.log.OP_KINDS`); returns the ids a label batch propagated to."""
        learner, ids = self.learner, op["ids"]
        if kind == "label":
            propagated = learner.label(ids, op["labels"])
            self.history.labeled(ids, annotator, at)
            return propagated
        if kind == "unlabel":
            learner.unlabel(ids)
            self.history.forget(ids)
        elif kind == "skip":
            learner.skip(ids)
        elif kind == "unskip":
            learner.unskip(ids)
        elif kind == "remove":
            rows = learner.rows(ids)
            learner.remove(ids)
            self.history.forget(ids)
            self._set_metadata(rows, [{}] * len(ids))  # a removed item's metadata is nobody's
        elif kind == "metadata":
            self._set_metadata(learner.rows(ids), op["metadata"])
        else:
            raise ValueError(f"unknown operation {kind!r} in the log")
        return []

    def _set_metadata(self, rows: np.ndarray, metadata: Sequence[dict[str, Any]]) -> None:
        for row, entry in zip(rows.tolist(), metadata):
            self.metadata[row] = entry


def replay(log: OperationLog, path: Path, settings: ProjectSettings, *, now: float,
           shard_factory: ShardFactory | None = None) -> ProjectState:
    """The state of the project at ``path`` with ``settings`` after every operation of
    ``log``, with the leases still open at ``now``; removes what a crash left
    (:func:`~knn_al.projects.pool.remove_crash_leftovers`). A sharded project's shards
    come from ``shard_factory``."""
    state = ProjectState(learner=new_learner(settings, shard_factory))
    if isinstance(state.learner, ShardedLearner):
        # A lost shard is rebuilt from the pool's files: the additions committed by then.
        state.learner.vector_source = lambda rows: read_pool_rows(path, state.batches, rows)
    pending: list[tuple[int, bool]] = []
    merging = True
    for kind, op, annotator, at in log.ops():
        if kind == "add":
            pending.append((op["batch"], op.get("append", False)))
            if not merging:
                _add_batches(state, path, pending)
            continue
        _add_batches(state, path, pending)
        merging = False
        state.apply(kind, op, annotator, at)
    _add_batches(state, path, pending)
    remove_crash_leftovers(path, state.batches)
    state.leases = Leases((item, Lease(deadline, annotator))
                          for item, deadline, annotator in log.leases(after=now))
    if len(state.leases):
        state.learner.hand_out(state.leases.ids())
    return state


def new_learner(settings: ProjectSettings, shard_factory: ShardFactory | None) -> Learner:
    """An empty learner of ``settings``: sharded over shards from ``shard_factory`` if
    the settings ask for more than one shard."""
    if settings.shards == 1:
        return Learner.from_settings(settings)
    if shard_factory is None:
        raise StateError(f"project {settings.name!r} is split over {settings.shards} shards: start the server with "
                         "`knn-al serve --ray` to serve it")
    return ShardedLearner.from_settings(settings, shards=settings.shards, shard_factory=shard_factory)


def _add_batches(state: ProjectState, path: Path, batches: list[tuple[int, bool]]) -> None:
    """Add the pool batches ``batches`` (number, appended?) as one learner call, then
    empty the list."""
    if not batches:
        return
    before = PoolSurvey(density=state.learner.density_, groups=state.learner.groups_)
    ids, vectors, metadata, survey = read_batches(path, batches, before)
    state.metadata.extend(metadata)
    state.learner.add_items(ids, vectors, survey=survey)
    state.batches = batches[-1][0] + 1
    batches.clear()
