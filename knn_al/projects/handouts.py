"""Hand-outs: items leased to annotators, by a pick or by choice, their leases renewed
and released.

Under the project lock, each validates everything first, then commits the lease rows
(not durably: a lease a crash loses only ends early), then applies: the leases are
recorded (:class:`~knn_al.projects.leases.Leases`) and the items handed out in the
learner, where they stop being candidates for anyone and lower their neighbours'
diversity until labeled, released or expired.

A pick (:func:`hand_out_picks`) chooses the items; a lease by choice
(:func:`lease_items`) takes the items a user chose, one found by search, say. Both count
against the label budget the same way. An undo (:func:`undo_label`) takes a label back
and leases its item to the annotator in one commit: the label freed pays for the lease.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from knn_al.errors import InvalidInputError, StateError, shown
from knn_al.learner.items import ITEM_STATES, labels_of, state_codes
from knn_al.learner.types import Exponents
from knn_al.projects.leases import Lease
from knn_al.projects.log import OperationLog
from knn_al.projects.records import Sample
from knn_al.projects.replay import ProjectState
from knn_al.projects.reports import samples_of

__all__ = ["MAX_SAMPLE_COUNT", "check_count", "check_seed", "hand_out_picks", "lease_items", "release_leases",
           "renew_leases", "undo_label"]

#: Largest NextSample batch: a greedy batch pick compares every pick with the others.
MAX_SAMPLE_COUNT = 1_000
#: What to do first about an item that cannot be leased in its state (:data:`ITEM_STATES`).
_NOT_LEASABLE = {"labeled": "remove its label first", "propagated": "remove its propagated label first",
                 "skipped": "unskip it first"}


def check_count(count: int) -> None:
    """Raise unless ``count`` samples may be asked for at once."""
    if not 0 < count <= MAX_SAMPLE_COUNT:
        raise InvalidInputError(f"count must be between 1 and {MAX_SAMPLE_COUNT}, got {count}")


def check_seed(seed: int | None) -> None:
    """Raise unless ``seed`` is None or a seed of a pick: an integer of 0 to 2**64 - 1,
    what gRPC's ``uint64`` carries (numpy refuses negative seeds with a bare ValueError)."""
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**64):
        raise InvalidInputError(f"seed must be an integer from 0 to 2**64 - 1, got {shown(seed)}")


def hand_out_picks(state: ProjectState, log: OperationLog, *, count: int, strategy: str, exponents: Exponents,
                   include_outliers: bool, seed: int | None, lease: Lease, left: int | None,
                   accept: Callable[[list[Sample]], object] | None, apply: Callable[..., Any],
                   preview: bool = False) -> list[Sample]:
    """Pick up to ``count`` items (no more than the ``left`` labels of the budget, if it
    has one) and lease them under ``lease``. ``accept`` sees the samples before their
    leases are committed and may refuse them by raising: then nothing changes. A
    ``preview`` returns the same picks in the same order, leased until 0: nothing is
    leased or logged (a ranking for a tool that orders its own queue)."""
    learner = state.learner
    if left is not None:
        count = min(count, left)
    picks = (learner.select(count, strategy=strategy, exponents=exponents, include_outliers=include_outliers,
                            seed=seed) if count else [])
    ids = [p.id for p in picks]
    samples = samples_of(learner, picks, state.metadata, lease_expires_at=0.0 if preview else lease.deadline)
    if accept is not None:
        accept(samples)
    if ids and not preview:
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


def undo_label(state: ProjectState, log: OperationLog, item_id: str, label: str, lease: Lease, now: float, *,
               apply: Callable[..., Any]) -> None:
    """Take back the human label ``label`` of ``item_id`` and lease the item under
    ``lease``, in one transaction: no one can be handed the item, or label it, in between.
    Refused unless the item's current human label is ``label``: a newer label (another
    annotator's correction) is never removed. No budget check: the label freed is the
    lease taken."""
    learner = state.learner
    rows = learner.batch_rows([item_id], doing="to undo")
    name, current = ITEM_STATES[int(state_codes(learner)[rows[0]])], labels_of(learner, rows)[0]
    if name != "labeled" or current != label:
        now_is = f"labeled {shown(current)}" if name == "labeled" else name
        by = state.history.get(item_id)
        by_whom = f" by {shown(by.annotator)}" if by is not None and by.annotator != lease.annotator else ""
        raise StateError(f"item {shown(item_id)} is {now_is}{by_whom}, not labeled {shown(label)}: "
                         "its label changed since, so it is not undone")
    op = {"ids": [item_id]}

    def write() -> None:
        log.append("unlabel", op, lease.annotator, now)
        log.write_leases([item_id], lease.annotator, lease.deadline)

    def take_back() -> None:
        state.apply("unlabel", op, lease.annotator, now)
        state.leases.grant([item_id], lease)
        # Its label removed, the item is available (a duplicate's label, if another member
        # of its group is labeled, does not stop a hand-out): handed out as a pick would be.
        learner.hand_out([item_id])

    log.commit(write)  # durable: a label is removed
    apply(take_back)


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
