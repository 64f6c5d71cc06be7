"""Label Studio's webhook payloads (``POST /webhook``) as the label changes they stand for.

Shapes (Label Studio ``docs/source/guide/webhook_reference.md``; the ML backend's
``label_studio_ml/api.py``): ``ANNOTATION_CREATED`` / ``ANNOTATION_UPDATED`` carry
``annotation`` (``id``, ``task``, ``result``, ``was_cancelled``, ``completed_by``); a deletion is
``ANNOTATIONS_DELETED`` with ``annotations: [{"id": ..}]`` and no task ids, or the singular
``ANNOTATION_DELETED`` the ML backend also lists, with ``annotation``. ``START_TRAINING`` is
the "train" button. ``TASKS_CREATED`` carries ``tasks`` (whole tasks, with ``data``) and
``TASKS_DELETED`` their ids only (``tasks: [{"id": ..}]``). Every payload the bridge follows
carries ``project`` (``id``, ``label_config``): Label Studio sends the ML backend's webhook
(registered with ``send_for_all_actions``) only for events of its project.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from knn_al.errors import InvalidInputError, shown
from knn_al.label_studio.config import LabelingConfig
from knn_al.label_studio.mapping import label_from_result, project_id

__all__ = ["ACTIONS", "Annotated", "Deleted", "Event", "TasksChanged", "TrainingRequested", "parse_webhook"]

#: The webhook actions the bridge follows; the ML backend answers others "Unknown event".
ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATION_DELETED", "ANNOTATIONS_DELETED", "START_TRAINING",
           "TASKS_CREATED", "TASKS_DELETED")


@dataclass(frozen=True)
class Annotated:
    """An annotation was saved (created or updated). ``label`` None: it chose nothing
    (a skipped task, ``cancelled``, or saved without a choice), so the task has no label from it."""

    project: int
    task: int
    annotation: int
    label: str | None
    annotator: str
    cancelled: bool = False


@dataclass(frozen=True)
class Deleted:
    """Annotations were deleted. ``tasks`` lists the tasks when the payload says them (the
    bulk ``ANNOTATIONS_DELETED`` does not: the bridge finds them by annotation id)."""

    project: int
    annotations: tuple[int, ...]
    tasks: tuple[int, ...]


@dataclass(frozen=True)
class TrainingRequested:
    """The "start training" button: nothing to learn (labels count at once), a cue to refresh."""

    project: int


@dataclass(frozen=True)
class TasksChanged:
    """Tasks were created (``created``: the new tasks' ids) or deleted (``deleted``)."""

    project: int
    created: tuple[int, ...] = ()
    deleted: tuple[int, ...] = ()


Event = Annotated | Deleted | TrainingRequested | TasksChanged


def _number(value: object, *, what: str) -> int:
    if isinstance(value, Mapping):
        value = value.get("id")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise InvalidInputError(f"webhook payload: {what} must be a Label Studio id, got {shown(value)}")


def _annotation(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    annotation = payload.get("annotation")
    if not isinstance(annotation, Mapping):
        raise InvalidInputError(f"webhook payload {payload.get('action')}: expected an \"annotation\" object, "
                                f"got {shown(annotation)}")
    return annotation


def _annotator(annotation: Mapping[str, Any]) -> str:
    # completed_by is a user id, or a user object in some Label Studio versions.
    user = annotation.get("completed_by")
    if isinstance(user, Mapping):
        user = user.get("id")
    return f"label-studio-user-{user}" if isinstance(user, int) and not isinstance(user, bool) else ""


def parse_webhook(payload: object, *, config: LabelingConfig) -> Event | None:
    """The change a webhook payload stands for; None for actions the bridge does not follow
    (the ML backend answers those ``{"status": "Unknown event"}``)."""
    if not isinstance(payload, Mapping):
        raise InvalidInputError(f"a webhook payload must be a JSON object, got {shown(payload)}")
    action = payload.get("action")
    if action not in ACTIONS:
        return None
    project = project_id(payload.get("project"))
    if action == "START_TRAINING":
        return TrainingRequested(project=project)
    if action in ("TASKS_CREATED", "TASKS_DELETED"):
        entries = payload.get("tasks")
        if not isinstance(entries, list):
            raise InvalidInputError(f"webhook payload {action}: expected \"tasks\", a list of tasks, got {shown(entries)}")
        ids = tuple(_number(e, what="a task") for e in entries)
        if action == "TASKS_CREATED":
            return TasksChanged(project=project, created=ids)
        return TasksChanged(project=project, deleted=ids)
    if action == "ANNOTATIONS_DELETED":
        entries = payload.get("annotations")
        if not isinstance(entries, list) or not entries:
            raise InvalidInputError(f"webhook payload ANNOTATIONS_DELETED: expected \"annotations\", a non-empty "
                                    f"list of {{\"id\": ..}}, got {shown(entries)}")
        return Deleted(project=project, annotations=tuple(_number(e, what="a deleted annotation") for e in entries),
                       tasks=())
    annotation = _annotation(payload)
    number = _number(annotation.get("id"), what="annotation.id")
    task = _number(annotation.get("task", payload.get("task")), what="annotation.task")
    if action == "ANNOTATION_DELETED":
        return Deleted(project=project, annotations=(number,), tasks=(task,))
    cancelled = annotation.get("was_cancelled") is True
    label = None if cancelled else label_from_result(annotation.get("result", []), config)
    return Annotated(project=project, task=task, annotation=number, label=label, annotator=_annotator(annotation),
                     cancelled=cancelled)
