"""Replay: a project's state rebuilt from what its log has committed.

Opening a project replays the log into a fresh learner with the same calls in the same
order (additions before the first label are merged into one: with nothing labeled they
give the same state), passing each addition's saved survey so nothing is recomputed. The
result is the same state: same predictions, same picks for the same seed. Replay writes
nothing to the log: rows of leases that ended meanwhile stay until overwritten.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knn_al.learner import Learner
from knn_al.learner.survey import PoolSurvey
from knn_al.projects.leases import Lease, Leases
from knn_al.projects.log import OperationLog
from knn_al.projects.pool import read_batches, remove_crash_leftovers
from knn_al.projects.settings import ProjectSettings

__all__ = ["ProjectState", "replay"]


@dataclass
class ProjectState:
    """What a project holds in memory: its learner, each pool item's metadata (by pool
    row), the number of committed additions (the next batch number), and the open leases."""

    learner: Learner
    metadata: list[dict[str, Any]] = field(default_factory=list)
    batches: int = 0
    leases: Leases = field(default_factory=Leases)


def replay(log: OperationLog, path: Path, settings: ProjectSettings, *, now: float) -> ProjectState:
    """The state of the project at ``path`` with ``settings`` after every operation of
    ``log``, with the leases still open at ``now``; removes what a crash left
    (:func:`~knn_al.projects.pool.remove_crash_leftovers`)."""
    state = ProjectState(learner=Learner.from_settings(settings))
    pending: list[tuple[int, bool]] = []
    labeled_yet = False
    for kind, op in log.ops():
        if kind == "add":
            pending.append((op["batch"], op.get("append", False)))
            if labeled_yet:
                _add_batches(state, path, pending)
            continue
        _add_batches(state, path, pending)
        labeled_yet = True
        if kind == "label":
            state.learner.label(op["ids"], op["labels"])
        else:
            state.learner.unlabel(op["ids"])
    _add_batches(state, path, pending)
    remove_crash_leftovers(path, state.batches)
    state.leases = Leases((item, Lease(deadline, annotator))
                          for item, deadline, annotator in log.leases(after=now))
    if len(state.leases):
        state.learner.hand_out(state.leases.ids())
    return state


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
