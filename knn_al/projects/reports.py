"""The records a project answers with (:mod:`knn_al.projects.records`), read from its
learner: predictions, samples, the export, progress against the goals, stats and info.

Read only: a :class:`~knn_al.projects.project.Project` calls these under its lock, and
they change nothing.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from knn_al.learner import Learner
from knn_al.learner.states import SKIPPED
from knn_al.learner.stopping import budget_left, stop_reason
from knn_al.learner.types import Neighbor, Pick
from knn_al.projects.history import LabelHistory
from knn_al.projects.records import ExportRecord, Prediction, ProjectInfo, ProjectStats, Progress, Sample
from knn_al.projects.settings import ProjectSettings

__all__ = ["export_records", "info_of", "predictions_of", "progress_of", "samples_of", "stats_of"]


def predictions_of(learner: Learner, ids: Sequence[str], proba: np.ndarray,
                neighbors: list[list[Neighbor]] | None) -> list[Prediction]:
    """One :class:`Prediction` per row of ``proba`` (the class probabilities of ``ids``),
    with its labeled ``neighbors`` if given. No label before the first one is known."""
    classes = learner.classes_
    labeled = learner.n_labeled > 0
    return [Prediction(id=item,
                       label=classes[int(np.argmax(row))] if labeled and len(classes) else "",
                       probabilities=dict(zip(classes, map(float, row))),
                       neighbors=neighbors[i] if neighbors is not None else [])
            for i, (item, row) in enumerate(zip(ids, proba))]


def samples_of(learner: Learner, picks: Sequence[Pick], metadata: Sequence[dict[str, Any]], *,
            lease_expires_at: float) -> list[Sample]:
    """The :class:`Sample` of each of ``picks``, with its metadata (``metadata``: by
    pool row) and its prediction, leased until ``lease_expires_at``."""
    ids = [p.id for p in picks]
    return [Sample(id=p.id, metadata=metadata[p.row], predicted_label=pred.label, probabilities=pred.probabilities,
                   pick=p, lease_expires_at=lease_expires_at)
            for p, pred in zip(picks, predictions_of(learner, ids, learner.predict_proba(ids), neighbors=None))]


def export_records(learner: Learner, metadata: Sequence[dict[str, Any]], history: LabelHistory, *,
                   auto_labels: Iterable[tuple[str, str, float]] | None = None) -> list[ExportRecord]:
    """Human labels (with who gave them and when, from ``history``), then propagated ones,
    then the skipped items (label ""); with ``auto_labels`` (item, label, confidence: the
    streams'), also those and the prediction of every other pool item. Pool items carry
    their ``metadata`` (by pool row)."""
    labels = learner.labels()
    records = []
    for item, label, row in zip(labels, labels.values(), learner.rows(list(labels)).tolist()):
        given = history.get(item)
        records.append(ExportRecord(id=item, label=label, source="human", confidence=1.0, metadata=metadata[row],
                                    annotator=given.annotator if given else "", labeled_at=given.time if given else 0.0))
    propagated = learner.propagated_labels()
    records += [ExportRecord(id=p.id, label=p.label, source="propagated", confidence=1.0, metadata=metadata[row])
                for p, row in zip(propagated, learner.rows([p.id for p in propagated]).tolist())]
    skipped = np.flatnonzero((learner.status_ == SKIPPED) & ~learner.propagated_)
    records += [ExportRecord(id=i, label="", source="skipped", confidence=0.0, metadata=metadata[row])
                for i, row in zip(learner.ids_of(skipped), skipped.tolist())]
    if auto_labels is None:
        return records
    # A pool item with a human label wins over an auto label of the same id (which
    # projects written before ids were unique across both may hold).
    covered = {r.id for r in records}
    records += [ExportRecord(id=i, label=lab, source="auto", confidence=c)
                for i, lab, c in auto_labels if i not in covered]
    if learner.n_labeled == 0:
        return records
    covered.update(r.id for r in records)
    rows, codes, confidence = learner.predictions()
    for item, row, code, conf in zip(learner.ids_of(rows), rows.tolist(), codes.tolist(), confidence.tolist()):
        if item not in covered:
            records.append(ExportRecord(id=item, label=learner.classes_[code], source="predicted", confidence=conf,
                                        metadata=metadata[row]))
    return records


def progress_of(learner: Learner, settings: ProjectSettings, *, leased: int) -> Progress:
    """The live accuracy estimate against the target, and the budget left (``leased``
    items count as spent)."""
    estimate = learner.accuracy_estimate()
    left = budget_left(settings.label_budget, learner.n_labeled, leased)
    return Progress(estimate=estimate, target_accuracy=settings.target_accuracy,
                    label_budget=settings.label_budget, budget_left=left,
                    stop_reason=stop_reason(estimate=estimate, target_accuracy=settings.target_accuracy,
                                            budget_left=left, unlabeled=learner.n_unlabeled()),
                    active_model=learner.active_model_)


def stats_of(learner: Learner, settings: ProjectSettings, *, leased: int, auto_labeled: int) -> ProjectStats:
    """Counts (labels of each kind, duplicates, outliers) and the quality estimates."""
    groups, grouped = learner.group_counts()
    return ProjectStats(labeled=learner.n_labeled, propagated=len(learner.propagated_labels()),
                        auto_labeled=auto_labeled, leased=leased, pool_size=learner.n_items,
                        duplicate_groups=groups, grouped_items=grouped, outliers=len(learner.outliers()),
                        mean_uncertainty=learner.mean_uncertainty(),
                        progress=progress_of(learner, settings, leased=leased), skipped=learner.n_skipped)


def info_of(learner: Learner, settings: ProjectSettings, *, leased: int) -> ProjectInfo:
    """Settings, pool size, labeled and leased counts, and labeled items per class."""
    counts = Counter(learner.labels().values())
    return ProjectInfo(name=settings.name, settings=settings, pool_size=learner.n_items,
                       labeled_count=learner.n_labeled, leased_count=leased,
                       label_counts={label: counts.get(label, 0) for label in learner.classes_},
                       active_model=learner.active_model_)
