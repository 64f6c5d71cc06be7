"""The bridge's work behind each ML-backend request, through :class:`knn_al.client.Client`.

Nothing lives in the bridge's memory: the labeling config comes with every request, the
knn-al project and item ids are functions of Label Studio's ids (:mod:`.mapping`), and the
annotation a task's label came from is kept in its item's metadata (``ls_annotation``), so
that a deletion, which names annotations only, finds its task, after a restart of either side.

Each change is computed from the item's current state and leaves it alone when it already
is what the event asks for, so a replayed webhook changes nothing.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from knn_al.client import Client, ServiceError
from knn_al.client.types import ItemRecord
from knn_al.errors import InvalidInputError, listing, shown
from knn_al.label_studio.config import LabelingConfig, parse_config
from knn_al.label_studio.events import ACTIONS, Annotated, Deleted, parse_webhook
from knn_al.label_studio.mapping import item_id, item_metadata, project_id, project_name
from knn_al.label_studio.predictions import build_prediction, pick_scores

__all__ = ["ANNOTATION_KEY", "Bridge", "MODEL_VERSION", "RANKED"]

#: The model version the bridge answers: knn-al learns from every label at once, so there
#: is no trained model whose versions Label Studio would tell apart.
MODEL_VERSION = "knn-al"
#: How many of knn-al's next picks are ranked: the server's largest NextSample.
RANKED = 1000
#: The item metadata key naming the annotation its label (or skip) came from.
ANNOTATION_KEY = "ls_annotation"
_PAGE = 1000


class Bridge:
    """Serves Label Studio project ``N`` with knn-al project ``{prefix}-N`` on ``client``'s
    server. ``seed`` fixes the pick order the scores follow (the same for every request,
    so scores of tasks predicted in separate requests compare)."""

    def __init__(self, client: Client, *, prefix: str = "label-studio", seed: int = 0,
                 model_version: str = MODEL_VERSION) -> None:
        self.client, self.prefix, self.seed, self.model_version = client, prefix, seed, model_version

    # --------------------------------------------------------------- setup
    def setup(self, request: Mapping[str, Any]) -> dict[str, str]:
        """``/setup``: open (or create) the project for the labeling config ``schema``."""
        config = parse_config(_text(request.get("schema"), what="schema (the labeling config)"))
        self._project(project_id(request.get("project")), config)
        return {"model_version": self.model_version}

    def _project(self, number: int, config: LabelingConfig) -> str:
        """The knn-al project of Label Studio project ``number``, created with the config's
        labels and encoder if new; refused if an existing one cannot serve the config."""
        name = project_name(number, prefix=self.prefix)
        try:
            info = self.client.get_project(name)
        except ServiceError as exc:
            if exc.code.name != "NOT_FOUND":
                raise
            try:
                info = self.client.create_project(name, labels=config.labels, encoder=config.encoder)
            except ServiceError as race:  # a concurrent request created it first
                if race.code.name != "ALREADY_EXISTS":
                    raise
                info = self.client.get_project(name)
        if info.encoder != config.encoder or set(info.labels) != set(config.labels):
            raise InvalidInputError(
                f"knn-al project {name!r} labels with {listing(info.labels)} and encoder {info.encoder!r}, but the "
                f"labeling config has the choices {listing(config.labels)} over {config.kind}s "
                f"(encoder {config.encoder!r}): delete the knn-al project to start it again with this config")
        return name

    # ------------------------------------------------------------- predict
    def predict(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """``/predict``: one prediction per task, in order; the tasks knn-al has not seen
        join its pool first. A task's score is its rank in knn-al's pick order (lowest first)."""
        config = parse_config(_text(request.get("label_config"), what="label_config"))
        tasks = request.get("tasks")
        if not isinstance(tasks, list) or not all(isinstance(t, Mapping) for t in tasks):
            raise InvalidInputError(f"/predict: \"tasks\" must be a list of task objects, got {shown(tasks)}")
        name = self._project(project_id(request.get("project")), config)
        ids = [item_id(t.get("id")) for t in tasks]
        if not ids:
            return {"results": []}
        self._add(name, tasks, config)
        order = [s.id for s in self.client.next_sample(name, RANKED, seed=self.seed, preview=True)]
        scores = pick_scores(order, ids)
        records = self.client.items(name, ids)
        return {"results": [build_prediction(config=config, label=r.predicted_label, score=scores[r.id],
                                             model_version=self.model_version) for r in records]}

    def _add(self, name: str, tasks: Sequence[Mapping[str, Any]], config: LabelingConfig) -> None:
        """Add ``tasks`` to the pool; those already in it are left as they are (their
        metadata keeps the annotation a label came from)."""
        if config.kind != "text":
            raise InvalidInputError("the bridge adds text tasks only so far: images, which it must fetch from "
                                    "Label Studio with its token, are not supported yet")
        metadata = [item_metadata(t, config) for t in tasks]
        self.client.add_items(name, [item_id(m["ls_task"]) for m in metadata], metadata=metadata,
                              texts=[m[config.kind] for m in metadata], on_conflict="skip")

    # ------------------------------------------------------------- webhook
    def webhook(self, payload: Mapping[str, Any]) -> dict[str, Any] | None:
        """``/webhook``: the label change an annotation event stands for; None for an
        action the bridge does not follow."""
        if payload.get("action") not in ACTIONS:
            return None
        project = payload.get("project")
        schema = project.get("label_config") if isinstance(project, Mapping) else None
        config = parse_config(_text(schema, what="project.label_config"))
        event = parse_webhook(payload, config=config)
        if isinstance(event, Annotated):
            name = self._project(event.project, config)
            return {"task": event.task, "state": self._annotated(name, event, payload.get("task"), config)}
        if isinstance(event, Deleted):
            name = self._project(event.project, config)
            return {"tasks": self._deleted(name, event)}
        return {}  # training: labels count the moment they arrive, there is nothing to train

    def _item(self, name: str, event: Annotated, task: object, config: LabelingConfig) -> ItemRecord:
        """The task's item, added first from the payload's task when knn-al has not seen it."""
        item = item_id(event.task)
        try:
            return self.client.items(name, [item])[0]
        except ServiceError as exc:
            if exc.code.name != "NOT_FOUND":
                raise
        if not isinstance(task, Mapping):
            raise InvalidInputError(f"task {event.task} is not in knn-al project {name!r} yet and the webhook "
                                    "does not carry its data (\"task\")") from None
        self._add(name, [{**task, "id": event.task}], config)
        return self.client.items(name, [item])[0]

    def _annotated(self, name: str, event: Annotated, task: object, config: LabelingConfig) -> str:
        """Bring the task's item to what the annotation says: labeled with its choice,
        skipped when cancelled, unlabeled when it chose nothing. An annotation that chose
        nothing does not undo another annotation's label. Returns the item's state."""
        record = self._item(name, event, task, config)
        mine = record.metadata.get(ANNOTATION_KEY) == event.annotation
        if event.label is None and record.state in ("labeled", "skipped") and not mine:
            return record.state  # labeled (or skipped) by another annotation of the task: that one stands
        if not mine:
            self.client.update_metadata(name, {record.id: {**record.metadata, ANNOTATION_KEY: event.annotation}})
        if event.label is not None:
            if (record.state, record.label, mine) != ("labeled", event.label, True):
                self.client.submit_label(name, record.id, event.label, annotator=event.annotator)
            return "labeled"
        if record.state == "labeled":
            self.client.remove_labels(name, [record.id])
        if event.cancelled and record.state != "skipped":
            self.client.skip(name, [record.id], annotator=event.annotator)
        elif not event.cancelled and record.state == "skipped":
            self.client.unskip(name, [record.id])
        return "skipped" if event.cancelled else "unlabeled"

    def _deleted(self, name: str, event: Deleted) -> list[int]:
        """Undo what the deleted annotations did (their label or skip), on the items whose
        label came from one of them; returns those items' tasks."""
        deleted = set(event.annotations)
        if event.tasks:
            candidates: Iterator[ItemRecord] = iter(self._known(name, [item_id(t) for t in event.tasks]))
        else:  # the bulk deletion names no task: only an item labeled or skipped holds an annotation id
            candidates = (r for state in ("labeled", "skipped") for r in self._listed(name, state))
        undone = [r for r in candidates if r.metadata.get(ANNOTATION_KEY) in deleted]
        for record in undone:
            if record.state == "labeled":
                self.client.remove_labels(name, [record.id])
            elif record.state == "skipped":
                self.client.unskip(name, [record.id])
            rest = {k: v for k, v in record.metadata.items() if k != ANNOTATION_KEY}
            self.client.update_metadata(name, {record.id: rest})
        return sorted(int(r.metadata["ls_task"]) for r in undone)

    def _known(self, name: str, ids: list[str]) -> list[ItemRecord]:
        """The items of ``ids`` knn-al has (a task it never saw has nothing to undo)."""
        found = []
        for item in ids:
            try:
                found += self.client.items(name, [item])
            except ServiceError as exc:
                if exc.code.name != "NOT_FOUND":
                    raise
        return found

    def _listed(self, name: str, state: str) -> Iterator[ItemRecord]:
        token = ""
        while True:
            page = self.client.list_items(name, state=state, page_size=_PAGE, page_token=token)
            yield from page.items
            token = page.next_page_token
            if not token:
                return


def _text(value: object, *, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"the request has no {what}: expected the labeling config's XML, got {shown(value)}")
    return value
