"""Hand-outs: items leased to annotators, by a pick or by choice, their leases renewed
and released.

Under the project lock, each validates everything first, then commits the lease rows
(not durably: a lease a crash loses only ends early), then applies: the leases are
recorded (:class:`~knn_al.projects.leases.Leases`) and the items handed out in the
learner, where they stop being candidates for anyone and lower their neighbours'
diversity until labeled, released or expired.

A pick (:func:`hand_out_picks`) chooses the items; a lease by choice
(:func:`lease_items`) takes the items a user chose: one found by search, or the one an
undo brings back to its annotator. Both count against the label budget the same way.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from knn_al.errors import InvalidInputError, StateError, shown
from knn_al.learner.items import ITEM_STATES, state_codes
from knn_al.projects.leases import Lease
from knn_al.projects.log import OperationLog
from knn_al.projects.records import Sample
from knn_al.projects.replay import ProjectState
from knn_al.projects.reports import samples_of

__all__ = ["MAX_SAMPLE_COUNT", "check_count", "hand_out_picks", "lease_items", "release_leases", "renew_leases"]

#: Largest NextSample batch: a greedy batch pick compares every pick with the others.
MAX_SAMPLE_COUNT = 1_000
#: What to do first about an item that cannot be leased in its state (:data:`ITEM_STATES`).
_NOT_LEASABLE = {"labeled": "remove its label first", "propagated": "remove its propagated label first",
                 "skipped": "unskip it first"}


def check_count(count: int) -> None:
    """Raise unless ``count`` samples may be asked for at once."""
    if not 0 < count <= MAX_SAMPLE_COUNT:
        raise InvalidInputError(f"count must be between 1 and {MAX_SAMPLE_COUNT}, got {count}")


def hand_out_picks(state: ProjectState, log: OperationLog, *, count: int, strategy: str, include_outliers: bool,
                   seed: int | None, lease: Lease, left: int | None,
                   accept: Callable[[list[Sample]], object] | None, apply: Callable[..., Any]) -> list[Sample]:
    """Pick up to ``count`` items (no more than the ``left`` labels of the budget, if it
    has one) and lease them under ``lease``. ``accept`` sees the samples before their
    leases are committed and may refuse them by raising: then nothing changes."""
    learner = state.learner
    if left is not None:
        count = min(count, left)
    picks = (learner.select(count, strategy=strategy, include_outliers=include_outliers, seed=seed)
             if count else [])
    ids = [p.id for p in picks]
    samples = samples_of(learner, picks, state.metadata, lease_expires_at=lease.deadline)
    if accept is not None:
        accept(samples)
    if ids:
        learner.check_hand_out(ids)
        _grant(state, log, ids, lease)
        apply(learner.hand_out, ids)
    return samples


def lease_items(state: ProjectState, log: OperationLog, ids: list[str], lease: Lease, *, left: int | None,
                apply: Callable[..., Any]) -> None:
    """Lease the chosen items ``ids`` under ``lease``; those already leased to its
    annotator are renewed. All or none: an unknown or removed item, one labeled (by a human
    or a duplicate's label), skipped or leased to someone else, and more items to hand out
    than the ``left`` labels of the budget (if it has one) are refused."""
    learner = state.learner
    rows = learner.batch_rows(ids, doing="to lease")
    names = [ITEM_STATES[code] for code in state_codes(learner)[rows].tolist()]
    for item, name in zip(ids, names):
        if name == "leased":
            state.leases.check_holder([item], lease.annotator, action="lease it again")
        elif name in _NOT_LEASABLE:
            raise StateError(f"item {shown(item)} is {name}: {_NOT_LEASABLE[name]}")
    new = [item for item, name in zip(ids, names) if name == "unlabeled"]
    if left is not None and len(new) > left:
        raise StateError(f"the label budget is spent: {len(new)} items to lease but {left} labels left "
                         "(labeled and leased items count)")
    _grant(state, log, ids, lease)
    if new:
        apply(learner.hand_out, new)


def release_leases(state: ProjectState, log: OperationLog, ids: list[str], *, annotator: str, force: bool,
            apply: Callable[..., Any]) -> None:
    """End the leases of ``ids`` (all held by ``annotator`` unless ``force``); the items
    return to the candidates."""
    state.learner.check_release(ids)
    if not force:
        state.leases.check_holder(ids, annotator)
    log.commit(lambda: log.delete_leases(ids), durable=False)
    state.leases.end(ids)
    apply(state.learner.release, ids)


def renew_leases(state: ProjectState, log: OperationLog, ids: list[str], lease: Lease) -> None:
    """Extend leases of ``ids`` held by ``lease``'s annotator to its deadline."""
    state.learner.check_release(ids)
    state.leases.check_holder(ids, lease.annotator, action="renew its lease")
    _grant(state, log, ids, lease)


def _grant(state: ProjectState, log: OperationLog, ids: Sequence[str], lease: Lease) -> None:
    """Commit and record ``lease`` of ``ids`` (validated); the caller hands out those not
    handed out yet."""
    log.commit(lambda: log.write_leases(ids, lease.annotator, lease.deadline), durable=False)
    state.leases.grant(ids, lease)
