"""Streams: an answer for each item as it arrives (:meth:`knn_al.projects.project.Project.decide`).

A confident prediction is stored as an *auto label* (a prediction, in its own table of
the log, never a human label); an uncertain item joins the pool and is leased to a human,
within the project's label budget. A queried item's density is measured against the pool,
with no full survey (:func:`knn_al.learner.survey.survey_appended`). Ids are unique across
the pool and the auto labels.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from knn_al.errors import DuplicateItemError, InvalidInputError, shown
from knn_al.learner.vectors import as_unit_vectors
from knn_al.projects.leases import Lease
from knn_al.projects.log import OperationLog
from knn_al.projects.pool import Batch
from knn_al.projects.records import Decision
from knn_al.projects.replay import ProjectState
from knn_al.projects.reports import predictions_of

__all__ = ["decide", "stream_batch"]


def stream_batch(item_id: str, vector: np.ndarray, metadata: Mapping[str, Any] | None, *, threshold: float,
                 dimension: int) -> Batch:
    """The batch of one streamed item, checked with the confidence ``threshold`` asked for."""
    if not 0 < threshold <= 1:
        raise InvalidInputError(f"the confidence threshold must be in (0, 1], got {threshold}")
    x = as_unit_vectors(vector, dimension=dimension)
    if len(x) != 1:
        raise InvalidInputError(f"a stream item is one vector, got {len(x)}")
    return Batch.of([item_id], x, [metadata] if metadata else None)


def decide(state: ProjectState, log: OperationLog, batch: Batch, now: float, *, threshold: float, lease: Lease,
           budget_left: Callable[[], int | None], add: Callable[..., object]) -> Decision:
    """Under the project lock, answer the streamed item of ``batch``: auto-label it if its
    prediction's confidence reaches ``threshold`` and at least two classes are known, else,
    while the budget lasts, add it with ``add`` (the project's addition) under ``lease``."""
    learner, (item_id,) = state.learner, batch.ids
    learner.check_new_ids([item_id])
    if log.first_auto_labeled([item_id]) is not None:
        raise DuplicateItemError(f"item id {shown(item_id)} was already auto-labeled by a stream")
    prediction = predictions_of(learner, [item_id], learner.predict_proba_vectors(batch.vectors), neighbors=None)[0]
    confidence = max(prediction.probabilities.values(), default=0.0)
    # With a single known class every prediction is "certain": no basis to skip a human.
    confident = len(learner.classes_) >= 2 and confidence >= threshold
    left = budget_left()
    if confident or left == 0:
        reason = "confident" if confident else "budget_exhausted"
        if prediction.label:
            log.commit(lambda: log.add_auto_label(item_id, prediction.label, confidence, now), durable=False)
        return Decision(id=item_id, query=False, reason=reason, label=prediction.label, confidence=confidence,
                        probabilities=prediction.probabilities, budget_left=left)
    add(batch, now, append=True, lease=lease)
    return Decision(id=item_id, query=True, reason="uncertain", label=prediction.label, confidence=confidence,
                    probabilities=prediction.probabilities, budget_left=budget_left(),
                    lease_expires_at=lease.deadline)
