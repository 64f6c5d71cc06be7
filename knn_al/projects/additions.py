"""Additions to a project's pool: the conflict policy, raw items, and the one commit.

An addition is validated whole, then its batch files are written, then one transaction
commits everything it does: the removal of the items it replaces, the ``add`` row, the
labels a dataset brought, the lease of a streamed item, the raw items a ``keep_raw``
project keeps. Only then is it applied. Items whose id is already taken are refused
(``on_conflict="error"``), left as they are (``"skip"``: a load can simply be run
again), or removed and added anew (``"replace"``).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from knn_al.errors import DuplicateItemError, InvalidInputError, shown
from knn_al.projects.leases import Lease
from knn_al.projects.log import OperationLog
from knn_al.projects.pool import Batch, discard_batch, write_batch
from knn_al.projects.records import AddResult
from knn_al.projects.replay import ProjectState

__all__ = ["CONFLICT_POLICIES", "add_batch", "raw_contents"]

#: What an addition does with an id already taken (by a pool item or a stream's auto label).
CONFLICT_POLICIES = ("error", "skip", "replace")

#: Raw items as given (texts or image bytes), and as kept: (content, kind).
RawItem = str | bytes
Kept = tuple[bytes, str]


def raw_contents(ids: Sequence[str], raw: Sequence[RawItem]) -> list[Kept]:
    """The raw items of ``ids`` as kept: (UTF-8 bytes, "text") of a text, (bytes, "image")
    of an image; :class:`InvalidInputError` for a count that does not match or another type."""
    raw = list(raw)
    if len(raw) != len(ids):
        raise InvalidInputError(f"{len(ids)} ids but {len(raw)} raw items")
    kept = []
    for item, content in zip(ids, raw):
        if isinstance(content, str):
            kept.append((content.encode("utf-8"), "text"))
        elif isinstance(content, (bytes, bytearray, memoryview)):
            kept.append((bytes(content), "image"))
        else:
            raise InvalidInputError(f"the raw item of {shown(item)} must be a text or bytes, "
                                    f"got {type(content).__name__}")
    return kept


def _resolve(state: ProjectState, log: OperationLog, ids: list[str], on_conflict: str) -> tuple[list[int], list[str]]:
    """(positions of the items to add, ids of the pool items they replace) under the
    policy ``on_conflict``; raises for a refusal."""
    if on_conflict not in CONFLICT_POLICIES:
        raise InvalidInputError(f"on_conflict must be one of {', '.join(CONFLICT_POLICIES)}, got {shown(on_conflict)}")
    present = state.learner.present(ids)  # also refuses malformed ids and an id given twice
    auto = log.auto_labeled(ids)
    if on_conflict == "skip":
        return [i for i, item in enumerate(ids) if not present[i] and item not in auto], []
    if on_conflict == "error" and present.any():
        raise DuplicateItemError(f"item id {shown(ids[int(present.argmax())])} is already in the pool "
                                 "(on_conflict: skip leaves it as it is, replace replaces it)")
    clash = next((item for item in ids if item in auto), None)
    if clash is not None:
        # Ids are unique across the pool and the auto labels, so an export never holds two records for one id.
        raise DuplicateItemError(f"item id {shown(clash)} was already auto-labeled by a stream: ids are unique "
                                 "across the pool and the auto labels")
    return list(range(len(ids))), [item for item, taken in zip(ids, present) if taken]


def add_batch(state: ProjectState, log: OperationLog, path: Path, batch: Batch, now: float, *,
              apply: Callable[..., Any], on_conflict: str = "error", raw: list[Kept] | None = None,
              append: bool = False, labels: Mapping[str, str] | None = None, annotator: str = "",
              lease: Lease | None = None) -> tuple[AddResult, int]:
    """Add a checked batch under the project lock: resolve its conflicts, survey, write the
    batch files, commit the addition (with the removal of the items it replaces, ``labels``
    of some of its items or a ``lease`` of all of them, and its ``raw`` items, in the same
    transaction), apply through ``apply`` (which rebuilds the state should a change fail).
    Returns what it did and how many of ``labels`` it committed."""
    learner = state.learner
    keep, replaced = _resolve(state, log, batch.ids, on_conflict)
    skipped = len(batch.ids) - len(keep)
    if skipped:
        batch = batch.subset(keep)
        raw = [raw[i] for i in keep] if raw is not None else None
        labels = {i: labels[i] for i in batch.ids if i in labels} if labels else None
    if not batch.ids:
        return AddResult(added=0, skipped=skipped, replaced=0, pool_size=learner.n_items), 0
    ids = batch.ids
    if labels:
        learner.check_label_names(list(labels), list(labels.values()))
    survey = learner.survey(batch.vectors, append=append, without=replaced)
    number = state.batches
    removal = {"ids": replaced}

    def write() -> None:
        if replaced:
            log.append("remove", removal, "", now)
            log.delete_items(replaced)
        log.append("add", {"batch": number, "count": len(ids), **({"append": True} if append else {})}, "", now)
        if labels:
            log.append("label", {"ids": list(labels), "labels": list(labels.values())}, annotator, now)
        if lease:
            log.write_leases(ids, lease.annotator, lease.deadline)
        if raw:
            log.write_raw(ids, raw)

    try:
        with log.disk_errors():
            write_batch(path, number, batch, survey=survey, append=append)
        log.commit(write)
    except BaseException:
        discard_batch(path, number)
        raise
    state.batches += 1
    if replaced:
        state.leases.end(replaced)
        apply(state.apply, "remove", removal, "", now)
    state.metadata.extend(batch.metadata)
    apply(lambda: learner.add_items(ids, batch.vectors, survey=survey))
    if labels:
        apply(state.apply, "label", {"ids": list(labels), "labels": list(labels.values())}, annotator, now)
    if lease:
        state.leases.grant(ids, lease)
        apply(learner.hand_out, ids)
    result = AddResult(added=len(ids), skipped=skipped, replaced=len(replaced), pool_size=learner.n_items)
    return result, len(labels or ())
