"""The bridge's work behind each ML-backend request, through :class:`knn_al.client.Client`.

Nothing lives in the bridge's memory: the labeling config comes with every request, the
knn-al project and item ids are functions of Label Studio's ids (:mod:`.mapping`), and the
annotation a task's label came from is kept in its item's metadata (``ls_annotation``), so
that a deletion, which names annotations only, finds its task, after a restart of either side.

Each change is computed from the item's current state and leaves it alone when it already
is what the event asks for, so a replayed webhook changes nothing.

Calling back into Label Studio: ``/setup`` carries Label Studio's ``hostname`` and a token
(the one thing the bridge holds in memory, by project: it is a credential, not state, and
Label Studio sends it again at its next ``/setup``). With them the bridge

* adds every task of the project to the pool at setup (the pool sync), so density and
  diversity see the whole pool, not only the tasks Label Studio asked predictions for, and
* pushes refreshed predictions after every annotation event (and at setup, after the sync;
  both on a worker thread, see :meth:`Bridge._later`), because Label
  Studio asks for predictions lazily: the queue reorders without anyone pressing "retrain".
  Bounded: scores rank only the next :data:`RANKED` picks (every other unlabeled task scores
  1, after them), and a push sends only the unlabeled tasks whose prediction (label or
  score) differs from the one the bridge stored before: the window's tasks, those leaving
  it, those whose predicted label changed. The older prediction of a pushed task is deleted
  first (only the bridge's own, by model version): with two predictions of one version,
  Label Studio's ``order_by('predictions__score')`` would see both rows and rank the task by
  the stale one too.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from knn_al.client import Client, ServiceError
from knn_al.client.types import ItemRecord
from knn_al.errors import InvalidInputError, KnnAlError, listing, shown
from knn_al.label_studio.config import LabelingConfig, parse_config
from knn_al.label_studio.events import ACTIONS, Annotated, Deleted, parse_webhook
from knn_al.label_studio.mapping import item_id, item_metadata, project_id, project_name
from knn_al.label_studio.predictions import build_prediction, pick_scores
from knn_al.label_studio.rest import LabelStudioApi

__all__ = ["ANNOTATION_KEY", "Bridge", "MODEL_VERSION", "RANKED"]

#: The model version the bridge answers: knn-al learns from every label at once, so there
#: is no trained model whose versions Label Studio would tell apart.
MODEL_VERSION = "knn-al"
#: How many of knn-al's next picks are ranked (scored below 1), in /predict and in pushes:
#: a window a team labels through long before the next push, which keeps pushes small.
RANKED = 100
#: The item metadata key naming the annotation its label (or skip) came from.
ANNOTATION_KEY = "ls_annotation"
_PAGE = 1000
_LOG = logging.getLogger(__name__)


class Bridge:
    """Serves Label Studio project ``N`` with knn-al project ``{prefix}-N`` on ``client``'s
    server. ``seed`` fixes the pick order the scores follow (the same for every request,
    so scores of tasks predicted in separate requests compare)."""

    def __init__(self, client: Client, *, prefix: str = "label-studio", seed: int = 0,
                 model_version: str = MODEL_VERSION) -> None:
        self.client, self.prefix, self.seed, self.model_version = client, prefix, seed, model_version
        self._apis: dict[int, LabelStudioApi] = {}
        self._work = ThreadPoolExecutor(max_workers=1, thread_name_prefix="knn-al-label-studio")
        self._lock = threading.Lock()
        self._queued: set[tuple[int, bool]] = set()
        self._errors: list[str] = []

    # --------------------------------------------------------------- setup
    def setup(self, request: Mapping[str, Any]) -> dict[str, str]:
        """``/setup``: open (or create) the project for the labeling config ``schema``."""
        config = parse_config(_text(request.get("schema"), what="schema (the labeling config)"))
        number = project_id(request.get("project"))
        name = self._project(number, config)
        hostname, token = request.get("hostname"), request.get("access_token")
        if isinstance(hostname, str) and hostname and isinstance(token, str) and token:
            self._apis[number] = LabelStudioApi(hostname=hostname, token=token)
            self._later(number, name, config, sync=True)
        return {"model_version": self.model_version}

    def _later(self, number: int, name: str, config: LabelingConfig, *, sync: bool = False) -> None:
        """Queue a push (after a pool sync, with ``sync``) for project ``number`` on the
        bridge's one worker thread: Label Studio waits 3 s for ``/setup`` and delivers webhooks
        while the annotator waits, and embedding a pool takes longer. A push already queued
        (not started) covers the new request: it reads knn-al's state when it runs."""
        if number not in self._apis:
            return  # no /setup since this bridge started: no token to call back with
        with self._lock:
            if (number, sync) in self._queued:
                return
            self._queued.add((number, sync))

        def run() -> None:
            with self._lock:
                self._queued.discard((number, sync))
            try:
                api = self._apis[number]
                if sync:
                    self._sync(name, api.tasks(number), config)
                self._push(number, name, config)
            except KnnAlError as exc:  # the worker has no caller to refuse: logged, kept for settle()
                _LOG.warning("Label Studio project %d: %s", number, exc)
                with self._lock:
                    self._errors.append(f"project {number}: {exc}")

        self._work.submit(run)

    def settle(self, timeout: float | None = None) -> list[str]:
        """Wait until the queued syncs and pushes are done; returns (and forgets) the errors
        they met since the last call."""
        self._work.submit(lambda: None).result(timeout=timeout)  # one worker: runs after them
        with self._lock:
            errors, self._errors = self._errors, []
        return errors

    def close(self) -> None:
        """Finish the queued work and stop the worker thread."""
        self._work.shutdown(wait=True)

    def _sync(self, name: str, tasks: Iterator[Mapping[str, Any]], config: LabelingConfig) -> int:
        """Add the tasks the pool does not hold yet (texts are embedded only for those);
        returns how many were added."""
        known = {r.id for r in self._listed(name, None)}
        new = [t for t in tasks if item_id(item_metadata(t, config)["ls_task"]) not in known]
        if new:
            self._add(name, new, config)
        return len(new)

    def _push(self, number: int, name: str, config: LabelingConfig) -> int:
        """Store refreshed predictions in Label Studio for the unlabeled tasks whose
        prediction changed (see the module's docstring); returns how many. Nothing to do
        before Label Studio's first /setup since this bridge started: it has no token."""
        api = self._apis.get(number)
        if api is None:
            return 0
        order = [s.id for s in self.client.next_sample(name, RANKED, seed=self.seed, preview=True)]
        unlabeled = list(self._listed(name, "unlabeled"))
        scores = pick_scores(order, [r.id for r in unlabeled])
        stored: dict[int, list[Mapping[str, Any]]] = {}
        for prediction in api.predictions(number):
            if prediction.get("model_version") == self.model_version:
                stored.setdefault(prediction["task"], []).append(prediction)
        pushed = []
        for record in unlabeled:
            task = int(record.metadata["ls_task"])
            new = build_prediction(config=config, label=record.predicted_label, score=scores[record.id],
                                   model_version=self.model_version)
            old = stored.get(task, [])
            if [(p.get("result"), p.get("score")) for p in old] == [(new["result"], new["score"])]:
                continue
            for prediction in old:
                api.delete_prediction(prediction["id"])
            pushed.append({**new, "task": task})
        api.import_predictions(number, pushed)
        return len(pushed)

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
            state = self._annotated(name, event, payload.get("task"), config)
            self._later(event.project, name, config)
            return {"task": event.task, "state": state}
        if isinstance(event, Deleted):
            name = self._project(event.project, config)
            tasks = self._deleted(name, event)
            self._later(event.project, name, config)
            return {"tasks": tasks}
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

    def _listed(self, name: str, state: str | None) -> Iterator[ItemRecord]:
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
