"""Label Studio tasks and annotations as knn-al items and labels.

The mapping is a pure function of ids, so nothing about it lives in the bridge's memory: a
task's item id is ``task-{id}``, its metadata keeps the task id and the content (what the
labeling page and exports show), and a Label Studio project's knn-al project is named after
its id. A restart of either side finds the same names.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from knn_al.errors import InvalidInputError, UnknownLabelError, listing, shown
from knn_al.label_studio.config import LabelingConfig

__all__ = ["item_id", "item_metadata", "label_from_result", "project_name", "project_id", "task_content",
           "task_id"]

_ITEM = re.compile(r"task-([0-9]+)")
# Label Studio sends the project as "<id>.<creation timestamp>" to /setup and /predict, and as
# a number (or an object with "id") in webhooks.
_PROJECT = re.compile(r"([0-9]+)(?:\.[0-9]+)?")


def _task_number(value: object, *, what: str) -> int:
    # bool is an int in Python, and True is no task id.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise InvalidInputError(f"{what} must be a Label Studio id (a whole number >= 0), got {shown(value)}")


def item_id(task: int) -> str:
    """The knn-al item id of Label Studio task ``task``."""
    return f"task-{_task_number(task, what='a task id')}"


def task_id(item: str) -> int:
    """The Label Studio task behind knn-al item ``item`` (the inverse of :func:`item_id`)."""
    match = _ITEM.fullmatch(item)
    if match is None:
        raise InvalidInputError(f"item {shown(item)} is not a Label Studio task's item (expected task-<id>)")
    return int(match.group(1))


def project_id(project: object) -> int:
    """The Label Studio project id in a request: ``"12.1700000000"`` (``/setup``, ``/predict``),
    ``12`` or ``{"id": 12, ...}`` (webhooks)."""
    if isinstance(project, Mapping):
        project = project.get("id")
    if isinstance(project, str):
        match = _PROJECT.fullmatch(project)
        if match is None:
            raise InvalidInputError(f"project {shown(project)} is not a Label Studio project "
                                    "(expected <id>.<timestamp>)")
        return int(match.group(1))
    return _task_number(project, what="the project")


def project_name(project: int, *, prefix: str = "label-studio") -> str:
    """The knn-al project serving Label Studio project ``project``: ``label-studio-12``.

    Named by the id alone, not the creation timestamp, because webhooks carry only the id."""
    return f"{prefix}-{_task_number(project, what='a project id')}"


def task_content(task: Mapping[str, Any], config: LabelingConfig) -> str:
    """The text, or the image URL, that task ``task`` shows on the config's object."""
    data = task.get("data")
    number = task.get("id")
    if not isinstance(data, Mapping) or config.data_key not in data:
        raise InvalidInputError(f"task {shown(number)} has no data field {config.data_key!r} "
                                f"(the {config.kind} the labeling config shows as ${config.data_key})")
    content = data[config.data_key]
    if not isinstance(content, str) or not content:
        what = "text" if config.kind == "text" else "image URL"
        raise InvalidInputError(f"task {shown(number)}: data[{config.data_key!r}] must be a non-empty {what}, "
                                f"got {shown(content)}")
    return content


def item_metadata(task: Mapping[str, Any], config: LabelingConfig) -> dict[str, Any]:
    """The metadata of a task's item: ``{"ls_task": id, "text": ...}`` or ``{"ls_task": id, "image": url}``."""
    number = _task_number(task.get("id"), what="a task's id")
    return {"ls_task": number, config.kind: task_content(task, config)}


def label_from_result(result: object, config: LabelingConfig) -> str | None:
    """The label an annotation's ``result`` chose, or None when it chose nothing (an empty
    result: a skipped task or an annotation saved without a choice).

    Anything the config cannot have produced is refused rather than half-read: a region
    from another control, several choices (knn-al keeps one label per item), a label outside
    the config's choices."""
    if not isinstance(result, Sequence) or isinstance(result, str):
        raise InvalidInputError(f"an annotation's result must be a list of regions, got {shown(result)}")
    choices: list[str] = []
    for region in result:
        if not isinstance(region, Mapping):
            raise InvalidInputError(f"an annotation's result holds {shown(region)}, expected a region object")
        name, kind = region.get("from_name"), region.get("type")
        if name != config.from_name or kind != "choices":
            raise InvalidInputError(f"an annotation's result holds a {shown(kind)} region from {shown(name)}; "
                                    f"the labeling config has only the choices {config.from_name!r}")
        if region.get("to_name") != config.to_name:
            raise InvalidInputError(f"an annotation's choice is on {shown(region.get('to_name'))}, "
                                    f"expected {config.to_name!r}")
        value = region.get("value")
        chosen = value.get("choices") if isinstance(value, Mapping) else None
        if not isinstance(chosen, list) or not all(isinstance(c, str) for c in chosen):
            raise InvalidInputError(f"an annotation's choices region must have value.choices, a list of labels; "
                                    f"got {shown(value)}")
        choices.extend(chosen)
    if not choices:
        return None
    if len(choices) > 1:
        raise InvalidInputError(f"an annotation chose {len(choices)} labels ({listing(choices)}); "
                                f"knn-al keeps one label per task")
    if choices[0] not in config.labels:
        raise UnknownLabelError(f"an annotation chose {shown(choices[0])}, which is not one of the labeling "
                                f"config's choices ({listing(config.labels)})")
    return choices[0]
