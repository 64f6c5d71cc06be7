"""A project's export as Label Studio's import JSON: one task per item.

A task's ``data`` is the item's metadata (where the labeling config finds its text or image)
with ``knn_al_id``. A human label becomes the task's annotation; a label knn-al inferred
(propagated to a duplicate, a stream's auto label, a prediction) becomes a prediction with
its confidence as the score, so an annotator reviews it instead of taking it as given. A
skipped item is a task with neither.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from knn_al.errors import UnknownLabelError, shown
from knn_al.label_studio.config import LabelingConfig
from knn_al.label_studio.predictions import build_prediction
from knn_al.projects.records import ExportRecord

__all__ = ["ID_KEY", "MODEL_VERSION", "default_config", "import_tasks"]

#: The task data field that keeps the knn-al item id.
ID_KEY = "knn_al_id"
MODEL_VERSION = "knn-al"


def default_config(labels: Iterable[str], *, from_name: str = "label", to_name: str = "text") -> LabelingConfig:
    """The config of the usual text classification template (``<Choices name="label"
    toName="text">``) over ``labels``, for an export without the project's own config."""
    return LabelingConfig(kind="text", from_name=from_name, to_name=to_name, data_key=to_name,
                          labels=tuple(dict.fromkeys(label for label in labels if label)), choice="single")


def import_tasks(records: Iterable[ExportRecord], config: LabelingConfig) -> list[dict[str, Any]]:
    """Label Studio tasks for ``records``; :class:`UnknownLabelError` for a label that is
    not among ``config.labels``, before any task is made."""
    records = list(records)
    outside = next((r for r in records if r.label and r.label not in config.labels), None)
    if outside is not None:
        raise UnknownLabelError(f"label {shown(outside.label)} of item {shown(outside.id)} is not one of the labeling "
                                f"config's choices ({', '.join(config.labels)}): export with the project's own config")
    tasks = []
    for record in records:
        task: dict[str, Any] = {"data": {**record.metadata, ID_KEY: record.id}}
        if record.source == "human":
            entry = build_prediction(config=config, label=record.label, score=1.0, model_version=MODEL_VERSION)
            task["annotations"] = [{"result": entry["result"]}]
        elif record.label:
            task["predictions"] = [build_prediction(config=config, label=record.label,
                                                    score=min(max(record.confidence, 0.0), 1.0),
                                                    model_version=MODEL_VERSION)]
        tasks.append(task)
    return tasks
