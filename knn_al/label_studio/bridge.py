"""The bridge's work behind each ML-backend request, through :class:`knn_al.client.Client`.

Nothing lives in the bridge's memory: the labeling config comes with every request, the
knn-al project and item ids are functions of Label Studio's ids (:mod:`.mapping`), and the
annotation a task's label came from is kept in its item's metadata (``ls_annotation``), so
that a deletion, which names annotations only, finds its task, after a restart of either side.

Each change is computed from the item's current state and leaves it alone when it already
is what the event asks for, so a replayed webhook changes nothing.

Calling back into Label Studio: the bridge's ``label_studio`` setting (``knn-al label-studio
--label-studio-url``), else the ``hostname`` and token of each project's ``/setup`` (held in
memory, by project: a credential, not state; Label Studio sends it again at its next
``/setup``). With them the bridge

* keeps the pool equal to the project's tasks (:class:`~knn_al.label_studio.pool.TaskPool`):
  the first ``/setup`` of a project since the bridge started syncs it (adds the tasks the
  pool lacks, texts from their data, images fetched from Label Studio, and removes those
  deleted meanwhile), so density and diversity see the whole pool, not only the tasks
  Label Studio asked predictions for; then ``TASKS_CREATED`` adds its tasks and
  ``TASKS_DELETED`` removes their items at once;
* pushes refreshed predictions after every annotation event (and after each sync; both on
  a worker thread, see :meth:`Bridge._later`), because Label Studio asks for predictions
  lazily: the queue reorders without anyone pressing "retrain". Scores rank the next picks
  (:data:`~knn_al.label_studio.predictions.RANKED` by default; every other unannotated task
  scores 1, after them), written with the fewest requests that restore the order
  (:mod:`.push`); predicted labels of tasks outside that window follow, :data:`LABEL_WRITES`
  per round, yielding to any push that waits.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from knn_al.client import Client, ServiceError
from knn_al.client.types import ItemRecord
from knn_al.errors import InvalidInputError, KnnAlError, listing, shown
from knn_al.label_studio.config import LabelingConfig, parse_config
from knn_al.label_studio.events import ACTIONS, Annotated, Deleted, TasksChanged, parse_webhook
from knn_al.label_studio.mapping import item_id, item_metadata, project_id, project_name, task_id
from knn_al.label_studio.pool import TaskPool, known, listed
from knn_al.label_studio.predictions import RANKED, UNRANKED_SCORE, build_prediction, pick_scores
from knn_al.label_studio.push import plan_push
from knn_al.label_studio.rest import LabelStudioApi, LabelStudioError

__all__ = ["ANNOTATION_KEY", "Bridge", "LABEL_WRITES", "MODEL_VERSION"]

#: The model version the bridge answers: knn-al learns from every label at once, so there
#: is no trained model whose versions Label Studio would tell apart.
MODEL_VERSION = "knn-al"
#: Predicted-label changes outside the window written per push, at most (~30 ms each in
#: Label Studio): early labels change most tasks' predicted labels, and hundreds of writes
#: would keep the next push (and the annotators' own requests) waiting; the rest follow
#: in further rounds.
LABEL_WRITES = 10
#: The item metadata key naming the annotation its label (or skip) came from.
ANNOTATION_KEY = "ls_annotation"
_LOG = logging.getLogger(__name__)


class Bridge:
    """Serves Label Studio project ``N`` with knn-al project ``{prefix}-N`` on ``client``'s
    server. ``seed`` fixes the pick order the scores follow (the same for every request,
    so scores of tasks predicted in separate requests compare); ``ranked`` of knn-al's next
    picks are scored in their order, the others after them. ``label_studio``, when
    given, is how the bridge calls back into Label Studio for every project, from the start
    (else with the hostname and token of each project's ``/setup``)."""

    def __init__(self, client: Client, *, prefix: str = "label-studio", seed: int = 0, ranked: int = RANKED,
                 model_version: str = MODEL_VERSION, label_studio: LabelStudioApi | None = None) -> None:
        self.client, self.prefix, self.seed, self.model_version = client, prefix, seed, model_version
        self.ranked = ranked
        self.label_studio = label_studio
        self._apis: dict[int, LabelStudioApi] = {}
        self._work = ThreadPoolExecutor(max_workers=1, thread_name_prefix="knn-al-label-studio")
        self._lock = threading.Lock()
        self._queued: set[tuple[int, bool]] = set()
        self._new_tasks: dict[int, list[Mapping[str, Any]]] = {}
        self._errors: deque[str] = deque(maxlen=1000)  # nobody may ever ask (settle): bounded
        #: Per project, when the last push had written what orders the queue (time.monotonic()).
        self.ordered_at_: dict[int, float] = {}
        self._written: dict[int, set[tuple[int, str]]] = {}
        self._synced: set[int] = set()  # projects synced (or syncing) since this bridge started
        self._gone_tasks: dict[int, set[int]] = {}  # tasks deleted in Label Studio, by project
        self._pending = 0  # syncs and pushes submitted and not finished
        self._idle = threading.Condition(self._lock)  # the label writes of each project's last round

    # --------------------------------------------------------------- setup
    def setup(self, request: Mapping[str, Any]) -> dict[str, str]:
        """``/setup``: open (or create) the project for the labeling config ``schema``."""
        config = parse_config(_text(request.get("schema"), what="schema (the labeling config)"))
        number = project_id(request.get("project"))
        name = self._project(number, config)
        hostname, token = request.get("hostname"), request.get("access_token")
        if isinstance(hostname, str) and hostname and isinstance(token, str) and token:
            api = LabelStudioApi(hostname=hostname, token=token)
            if api.key != getattr(self._apis.get(number), "key", None):
                self._synced.discard(number)  # another Label Studio (or user) now: sync with it
            self._apis[number] = api
        # Label Studio sends /setup again and again (before predictions, on opening the
        # project); tasks created and deleted since arrive by webhook, so one sync per
        # project and start (to catch up on what happened while the bridge was away) serves.
        if number not in self._synced:
            self._synced.add(number)  # now, not when it ends: a /setup meanwhile queues no second one
            self._later(number, name, config, sync=True)
        return {"model_version": self.model_version}

    def _api(self, number: int) -> LabelStudioApi | None:
        """How to call back into Label Studio for project ``number``: the bridge's own
        setting, else what the project's last /setup said; None before either."""
        return self.label_studio or self._apis.get(number)

    def _pool(self, number: int, name: str, config: LabelingConfig) -> TaskPool:
        return TaskPool(self.client, name, config, self._api(number))

    def _later(self, number: int, name: str, config: LabelingConfig, *, sync: bool = False,
               tasks: Sequence[Mapping[str, Any]] = ()) -> None:
        """Queue a push for project ``number`` on the bridge's one worker thread, after a
        pool sync (``sync``) or after adding new ``tasks``: Label Studio waits 3 s for
        ``/setup`` and delivers webhooks while the annotator waits, and embedding a pool
        takes longer. A push already queued (not started) covers the new request: it reads
        knn-al's state when it runs, and adds the tasks handed to it meanwhile."""
        api = self._api(number)
        if api is None:
            _LOG.warning("Label Studio project %d: no way to call back into Label Studio yet (no /setup with a "
                         "hostname and token since the bridge started, and no --label-studio-url): its pool and "
                         "predictions wait", number)
            return
        with self._lock:
            self._new_tasks.setdefault(number, []).extend(tasks)
            if (number, sync) in self._queued:
                return
            self._queued.add((number, sync))
            self._pending += 1

        def run() -> None:
            with self._lock:
                self._queued.discard((number, sync))
                new = self._new_tasks.pop(number, [])
                gone = set(self._gone_tasks.get(number, ()))
            pool = self._pool(number, name, config)
            try:
                # A sync lists every task, the new ones too; new tasks alone join without
                # listing the project (an import of ten tasks into 100k costs ten). Tasks
                # deleted since they were listed or handed over do not come back.
                if sync:
                    self._problems(number, pool.sync(api.tasks(number), skip=gone))
                else:
                    self._problems(number, pool.add(t for t in new if t.get("id") not in gone))
                self._push(number, name, config)
            except Exception as exc:  # the worker has no caller to refuse: logged, kept for settle()
                if sync:
                    self._synced.discard(number)  # the next /setup tries again
                if not isinstance(exc, KnnAlError):  # a bug, or a reply nobody foresaw: not swallowed
                    _LOG.exception("Label Studio project %d: a %s failed", number, "sync" if sync else "push")
                self._problems(number, [str(exc) if isinstance(exc, KnnAlError) else
                                        "an unexpected error (see the log)"])
            finally:
                self._finished()  # a round it queued counted before this one ends: never 0 between

        try:
            self._work.submit(run)
        except RuntimeError:  # the bridge is closing: nothing more runs
            with self._lock:
                self._queued.discard((number, sync))
            self._finished()

    def _finished(self) -> None:
        """One queued sync or push fewer; wake :meth:`settle` when none is left."""
        with self._lock:
            self._pending -= 1
            self._idle.notify_all()

    def _problems(self, number: int, problems: list[str]) -> None:
        """Log what went wrong for project ``number`` and keep it for :meth:`settle`."""
        for problem in problems:
            _LOG.warning("Label Studio project %d: %s", number, problem)
        with self._lock:
            self._errors.extend(f"project {number}: {p}" for p in problems)

    def settle(self, timeout: float | None = None) -> list[str]:
        """Wait until the queued syncs and pushes are done; returns (and forgets) the problems
        met since the last call: failed syncs and pushes, tasks left out of the pool."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._pending == 0, timeout=timeout):
                raise TimeoutError(f"the bridge's syncs and pushes did not finish within {timeout} s")
            errors = list(self._errors)
            self._errors.clear()
        return errors

    def close(self) -> None:
        """Finish the queued work and stop the worker thread."""
        self._work.shutdown(wait=True)

    def _push(self, number: int, name: str, config: LabelingConfig) -> None:
        """Bring the bridge's predictions in Label Studio to knn-al's state with the fewest
        writes (:mod:`.push`), predicted labels outside the window a round at a time."""
        api = self._api(number)
        if api is None:
            return
        order = [task_id(s.id) for s in self.client.next_sample(name, self.ranked, seed=self.seed, preview=True)]
        # Propagated items (knn-al labeled them as near-duplicates of a labeled one) are tasks
        # nobody annotated in Label Studio: they keep a prediction, their propagated label,
        # scored after every task knn-al would pick; so do skipped ones (another annotator
        # may still be handed them).
        labels = {task_id(r.id): r.predicted_label for state in ("unlabeled", "propagated", "skipped")
                  for r in listed(self.client, name, state)}
        stored = [p for p in api.predictions(number) if p.get("model_version") == self.model_version]
        plan = plan_push(order=order, labels=labels, stored=stored, config=config, model_version=self.model_version)
        for prediction in plan.delete:
            api.delete_prediction(prediction)
        for prediction, fields in plan.update:
            api.update_prediction(prediction, fields)
        api.import_predictions(number, plan.create)
        self.ordered_at_[number] = time.monotonic()
        _LOG.info("project %d: push wrote %d changed, %d new, %d deleted predictions; %d label changes to follow",
                  number, len(plan.update), len(plan.create), len(plan.delete), len(plan.labels))
        batch = plan.labels[:LABEL_WRITES]
        again = {(prediction, repr(fields)) for prediction, fields in batch} & self._written.get(number, set())
        self._written[number] = set()
        if again:
            # Writes made in the round before: Label Studio did not keep them, and another
            # round would loop. Say so; the next annotation's push tries once more.
            raise LabelStudioError(f"Label Studio did not keep {len(again)} prediction changes the bridge made; "
                                   "predicted labels outside the queue's head may be stale")
        for prediction, fields in batch:  # change no order: a newer push redoes them
            if self._waiting(number):
                _LOG.debug("project %d: label writes yield to a waiting push", number)
                return
            api.update_prediction(prediction, fields)
            self._written[number].add((prediction, repr(fields)))
        if len(plan.labels) > LABEL_WRITES:
            _LOG.debug("project %d: %d label writes for another round", number, len(plan.labels) - LABEL_WRITES)
            self._later(number, name, config)  # the rest in another round, after any push waiting now

    def _waiting(self, number: int) -> bool:
        """Whether a sync or push of project ``number`` waits in the queue."""
        with self._lock:
            return (number, False) in self._queued or (number, True) in self._queued

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
        number = project_id(request.get("project"))
        name = self._project(number, config)
        ids = [item_id(t.get("id")) for t in tasks]
        if not ids:
            return {"results": []}
        for task in tasks:
            item_metadata(task, config)  # a task without the config's data field is a bad request
        pool = self._pool(number, name, config)
        self._problems(number, pool.add(tasks))  # an image that cannot be had: predicted nothing, ranked last
        order = [s.id for s in self.client.next_sample(name, self.ranked, seed=self.seed, preview=True)]
        scores = pick_scores(order, ids)
        labels = {r.id: r.predicted_label for r in pool.known(ids)}
        return {"results": [build_prediction(config=config, label=labels.get(i, ""),
                                             score=scores[i] if i in labels else UNRANKED_SCORE,
                                             model_version=self.model_version) for i in ids]}

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
        if isinstance(event, TasksChanged):
            # New tasks join on the worker (embedding them, and fetching images, outlasts a
            # synchronous webhook); deleted ones leave the pool at once, before any push
            # could send a prediction for a task that is gone.
            name = self._project(event.project, config)
            if event.deleted:
                with self._lock:  # a sync or a round of new tasks under way must not bring them back
                    self._gone_tasks.setdefault(event.project, set()).update(event.deleted)
                    waiting = self._new_tasks.get(event.project, [])
                    waiting[:] = [t for t in waiting if t.get("id") not in self._gone_tasks[event.project]]
            removed = self._pool(event.project, name, config).remove(event.deleted) if event.deleted else 0
            self._later(event.project, name, config, tasks=payload["tasks"] if event.created else ())
            return {"created": len(event.created), "removed": removed}
        return {}  # training: labels count the moment they arrive, there is nothing to train

    def _item(self, name: str, event: Annotated, task: object, config: LabelingConfig) -> ItemRecord:
        """The task's item, added first from the payload's task when knn-al has not seen it."""
        item = item_id(event.task)
        found = known(self.client, name, [item])
        if found:
            return found[0]
        if not isinstance(task, Mapping):
            raise InvalidInputError(f"task {event.task} is not in knn-al project {name!r} yet and the webhook "
                                    "does not carry its data (\"task\")") from None
        problems = self._pool(event.project, name, config).add([{**task, "id": event.task}])
        if problems:
            raise InvalidInputError(f"task {event.task} cannot join knn-al project {name!r}: {problems[0]}")
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
            candidates: Iterator[ItemRecord] = iter(known(self.client, name, [item_id(t) for t in event.tasks]))
        else:  # the bulk deletion names no task: only an item labeled or skipped holds an annotation id
            candidates = (r for state in ("labeled", "skipped") for r in listed(self.client, name, state))
        undone = [r for r in candidates if r.metadata.get(ANNOTATION_KEY) in deleted]
        for record in undone:
            if record.state == "labeled":
                self.client.remove_labels(name, [record.id])
            elif record.state == "skipped":
                self.client.unskip(name, [record.id])
            rest = {k: v for k, v in record.metadata.items() if k != ANNOTATION_KEY}
            self.client.update_metadata(name, {record.id: rest})
        return sorted(int(r.metadata["ls_task"]) for r in undone)


def _text(value: object, *, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"the request has no {what}: expected the labeling config's XML, got {shown(value)}")
    return value
