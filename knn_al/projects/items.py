"""The records of a project's items (:mod:`knn_al.projects.records`): item records, pages
of them, search hits and the reviews (suspicious labels, duplicate groups, recent labels).

Read only: a :class:`~knn_al.projects.project.Project` calls these under its lock, and
they change nothing.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from knn_al.errors import InvalidInputError, shown
from knn_al.learner.items import ITEM_STATES, labels_of, state_codes
from knn_al.learner.review import check_limit, duplicate_groups, suspicious
from knn_al.projects.records import DuplicateGroup, ItemPage, ItemRecord, LabelEvent, SearchHit, Suspicion
from knn_al.projects.replay import ProjectState
from knn_al.projects.reports import predictions_of

__all__ = ["MAX_PAGE_SIZE", "STATE_FILTERS", "duplicate_group_records", "item_records", "page_of", "recent_labels",
           "search_hits", "suspicions"]

#: Most items one page (or one GetItems call) returns.
MAX_PAGE_SIZE = 1_000
#: What a listing can be filtered by: an item state, or being an outlier.
STATE_FILTERS = ("unlabeled", "labeled", "propagated", "leased", "skipped", "outlier")
_REMOVED = ITEM_STATES.index("removed")
_TOKEN = re.compile(r"[0-9]{1,19}")


def item_records(state: ProjectState, rows: np.ndarray) -> list[ItemRecord]:
    """The :class:`ItemRecord` of each pool row of ``rows`` (items not removed)."""
    learner = state.learner
    rows = np.asarray(rows, dtype=np.int64)
    ids = learner.ids_of(rows)
    names = [ITEM_STATES[code] for code in state_codes(learner)[rows].tolist()]
    predictions = predictions_of(learner, ids, learner.predict_proba(ids), neighbors=None)
    outlier = (learner.density_[rows] < learner.outlier_threshold_).tolist()
    records = []
    for item, row, name, label, prediction, is_outlier in zip(ids, rows.tolist(), names, labels_of(learner, rows),
                                                              predictions, outlier):
        labeling = state.history.get(item) if name == "labeled" else None
        lease = state.leases.get(item)
        records.append(ItemRecord(
            id=item, state=name, label=label, annotator=labeling.annotator if labeling else "",
            metadata=state.metadata[row], predicted_label=prediction.label,
            confidence=max(prediction.probabilities.values()) if prediction.label else 0.0,
            probabilities=prediction.probabilities, outlier=bool(is_outlier), density=float(learner.density_[row]),
            lease_annotator=lease.annotator if lease else "", lease_expires_at=lease.deadline if lease else 0.0))
    return records


def page_of(state: ProjectState, *, state_filter: str | None, page_size: int, page_token: str) -> ItemPage:
    """A page of the pool's items in pool order, of those in ``state_filter`` (one of
    :data:`STATE_FILTERS`, or None for all), from where ``page_token`` ("" for the
    start) says. The token is the row to go on from: the pool only grows at its end, so
    paging through never shows an item twice nor misses one that stays in its state."""
    if state_filter is not None and state_filter not in STATE_FILTERS:
        raise InvalidInputError(f"state must be one of {', '.join(STATE_FILTERS)} (or none for every item), "
                                f"got {shown(state_filter)}")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 0 < page_size <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"page_size must be an integer between 1 and {MAX_PAGE_SIZE}, got {shown(page_size)}")
    learner = state.learner
    codes = state_codes(learner)
    start = 0
    if page_token:
        if not isinstance(page_token, str) or not _TOKEN.fullmatch(page_token) or int(page_token) > len(codes):
            raise InvalidInputError(f"page_token {shown(page_token)} is not one this project gave: start again "
                                    "with an empty token")
        start = int(page_token)
    if state_filter is None:
        wanted = codes[start:] != _REMOVED
    elif state_filter == "outlier":
        wanted = (learner.density_[start:] < learner.outlier_threshold_) & (codes[start:] != _REMOVED)
    else:
        wanted = codes[start:] == ITEM_STATES.index(state_filter)
    rows = np.flatnonzero(wanted)[: page_size + 1] + start
    more = len(rows) > page_size
    rows = rows[:page_size]
    return ItemPage(items=item_records(state, rows), next_page_token=str(int(rows[-1]) + 1) if more else "")


def search_hits(state: ProjectState, rows: np.ndarray, similarities: np.ndarray) -> list[SearchHit]:
    """The :class:`SearchHit` of each of ``rows`` found with ``similarities``."""
    learner = state.learner
    codes = state_codes(learner)[rows]
    return [SearchHit(id=item, similarity=float(sim), state=ITEM_STATES[code], label=label,
                      metadata=state.metadata[row])
            for item, row, sim, code, label in zip(learner.ids_of(rows), rows.tolist(), similarities.tolist(),
                                                   codes.tolist(), labels_of(learner, rows))]


def suspicions(state: ProjectState, *, limit: int) -> list[Suspicion]:
    """Human labels their leave-one-out prediction disagrees with, most confident first
    (:func:`knn_al.learner.review.suspicious`)."""
    found = suspicious(state.learner, limit=limit)
    ids = state.learner.ids_of([d.row for d in found])
    return [Suspicion(id=item, label=d.label, predicted_label=d.predicted, confidence=d.confidence,
                      annotator=_annotator(state, item))
            for item, d in zip(ids, found)]


def duplicate_group_records(state: ProjectState, *, limit: int) -> list[DuplicateGroup]:
    """The duplicate groups, largest first (:func:`knn_al.learner.review.duplicate_groups`)."""
    return [DuplicateGroup(ids=state.learner.ids_of(rows), label=label)
            for rows, label in duplicate_groups(state.learner, limit=limit)]


def recent_labels(state: ProjectState, *, limit: int, annotator: str | None) -> list[LabelEvent]:
    """The current human labels, newest first, of ``annotator`` only if given."""
    check_limit(limit)
    recent = state.history.recent(limit, annotator=annotator)
    labels = labels_of(state.learner, state.learner.rows([item for item, _ in recent])) if recent else []
    return [LabelEvent(id=item, label=label, annotator=labeling.annotator, time=labeling.time)
            for (item, labeling), label in zip(recent, labels)]


def _annotator(state: ProjectState, item: str) -> str:
    labeling = state.history.get(item)
    return labeling.annotator if labeling else ""


def checked_ids(ids: Sequence[str], *, doing: str) -> list[str]:
    """``ids`` as a list of at most :data:`MAX_PAGE_SIZE`, not empty."""
    ids = list(ids)
    if not ids:
        raise InvalidInputError(f"no items {doing}: the list is empty")
    if len(ids) > MAX_PAGE_SIZE:
        raise InvalidInputError(f"{len(ids)} items {doing}; at most {MAX_PAGE_SIZE} per call")
    return ids
