"""A durable project: one learner, its pool files, its label log and its leases, in one directory.

The files and how they are checked: :mod:`knn_al.projects.files`.

**Commit point.** A change is acknowledged only after its row in ``log.sqlite`` is
committed. Pool files are written first (atomically, under names no committed row refers
to yet), then the ``add`` row is committed; the files of an addition a crash cut off
before its commit are removed on open. The log runs with ``synchronous=FULL``: in WAL mode
``NORMAL`` skips the fsync at commit, which survives a killed process but can lose the
last commits on power loss, and an acknowledged label must survive both. Lease changes
alone commit with ``NORMAL`` (no fsync, so NextSample does not wait for the disk): a power
loss may forget a recent lease, which only returns that item to the pool early; the next
label commit's fsync makes them durable too.

**Validate, commit, apply.** Each change is validated against the learner first (its
``check_*`` methods raise what the change would raise), then committed to the log in one
SQLite transaction, and only then applied to the learner. A bad request or a failed
commit (a full disk: :class:`~knn_al.errors.DiskFullError`) changes neither the log nor
the learner, so nothing has to be rebuilt.

**Replay.** Opening a project replays the log into a fresh learner with the same calls
in the same order (additions before the first label are merged into one: with nothing
labeled they give the same state), passing each addition's saved density so nothing is
recomputed. The result is the same state: same predictions, same picks for the same seed.
A project whose files are missing, corrupt or inconsistent is not opened but raises
:class:`~knn_al.projects.files.BrokenProjectError`, and nothing of it is touched.

**Streams.** :meth:`Project.decide` answers an item arriving in a stream: a confident
prediction is stored as an *auto label* (a prediction, in its own table, never a human
label); an uncertain one joins the pool and is leased, within the project's label budget.
Ids are unique across the pool and the auto labels.

**Leases.** Items handed out by :meth:`Project.next_sample` are leased to an annotator
until a deadline (the injected ``clock``), at most the server's maximum lease; a lease
ends when the item is labeled (by anyone), released by its holder (or by force) or the
deadline passes, and only then can the item be handed out again. Leases are kept in the
log database too, so a restart does not hand a leased item to a second annotator.

A project serialises every operation with one lock: the learner is single-threaded.
"""
from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import numpy as np

from knn_al.atomic import atomic_write
from knn_al.dataset import DatasetError, read_dataset
from knn_al.encoders import ENCODERS, EncoderUnavailableError, EncodingError, shared_encoder
from knn_al.errors import DiskFullError, DuplicateItemError, InvalidInputError, NotFoundError, StateError, shown
from knn_al.learner import Learner
from knn_al.learner.limits import MAX_METADATA_BYTES, check_annotator, not_plain_json
from knn_al.projects.files import (POOL, SCHEMA, BrokenProjectError, batch_paths, check_project, create_log,
                                  disk_errors, dumps, open_log, read_settings, remove_crash_leftovers, write_marker, write_settings)
from knn_al.projects.records import (Decision, ExportRecord, LabelReceipt, Neighbor, Prediction, ProjectInfo,
                                    ProjectStats, Progress, Sample)
from knn_al.projects.settings import ProjectSettings
from knn_al.learner.stopping import budget_left, stop_reason
from knn_al.learner.survey import PoolSurvey
from knn_al.learner.vectors import as_unit_vectors

#: Largest NextSample batch: a greedy batch pick compares every pick with the others.
MAX_SAMPLE_COUNT = 1_000
#: Raw items embedded per encoder call: bounds the encoder's memory on a large upload and
#: lets other projects' requests take turns at the shared encoder.
EMBED_BATCH = 256
#: The longest lease a server grants unless told otherwise (``knn-al serve --max-lease``).
DEFAULT_MAX_LEASE_SECONDS = 24 * 3600.0

T = TypeVar("T")


class Lease(NamedTuple):
    deadline: float
    annotator: str


def _item_records(ids: list[str], metadata: Sequence[Mapping[str, Any]] | None) -> tuple[list[dict[str, Any]], bytes]:
    """Each item's metadata (empty if none given) and the batch's ``.jsonl`` bytes;
    :class:`InvalidInputError` naming the first item whose metadata is not plain JSON or
    is over :data:`MAX_METADATA_BYTES`."""
    metadata = list(metadata) if metadata else [{} for _ in ids]
    if len(metadata) != len(ids):
        raise InvalidInputError(f"{len(ids)} ids but {len(metadata)} metadata entries: give one per item or none")
    lines, kept = [], []
    for item, entry in zip(ids, metadata):
        if not isinstance(entry, Mapping):
            raise InvalidInputError(f"metadata of item {shown(item)} must be an object (a mapping), "
                                    f"got {type(entry).__name__}")
        try:
            body = dumps(dict(entry))
        except (TypeError, ValueError) as exc:
            raise not_plain_json(item, exc) from None
        size = len(body.encode("utf-8"))
        if size > MAX_METADATA_BYTES:
            raise InvalidInputError(f"metadata of item {shown(item)} is {size} bytes as JSON; at most "
                                    f"{MAX_METADATA_BYTES} are kept per item")
        lines.append(f'{{"id":{dumps(item)},"metadata":{body}}}\n')
        kept.append(json.loads(body))  # what a replay reads back (tuples become lists, ...)
    return kept, "".join(lines).encode("utf-8")


class Project:
    """A project opened from its directory. Lay one out with :meth:`initialise`, then :meth:`open` it."""

    def __init__(self, path: Path, settings: ProjectSettings, clock: Callable[[], float], *,
                 max_lease_seconds: float = DEFAULT_MAX_LEASE_SECONDS) -> None:
        self.path = path
        self.settings = settings
        self._clock = clock
        self._max_lease = max_lease_seconds
        self._lock = threading.Lock()
        self._closed = False
        self._db = open_log(path)
        try:
            self._db.executescript(SCHEMA)
            self._replay()
        except BaseException:
            self._db.close()
            raise

    # ----------------------------------------------------------- lifecycle
    @staticmethod
    def initialise(path: Path, settings: ProjectSettings) -> None:
        """Lay out a new, empty project directory at ``path`` (which must not exist)."""
        path.mkdir()
        write_marker(path)
        (path / POOL).mkdir()
        write_settings(path, settings)
        create_log(path)

    @classmethod
    def open(cls, path: Path, *, clock: Callable[[], float] = time.time,
             max_lease_seconds: float = DEFAULT_MAX_LEASE_SECONDS) -> Project:
        """Open an existing project directory, replaying its log. A project whose files
        are missing or inconsistent raises :class:`BrokenProjectError` naming the first
        problems; nothing is changed on disk then."""
        problems = check_project(path)
        if problems:
            more = f" (and {len(problems) - 3} more problems)" if len(problems) > 3 else ""
            raise BrokenProjectError("; ".join(problems[:3]) + more)
        settings = read_settings(path)
        try:
            return cls(path, settings, clock, max_lease_seconds=max_lease_seconds)
        except Exception as exc:  # whatever it is, it is this project's files, and only this project's
            raise BrokenProjectError(f"{path}: its log cannot be replayed ({type(exc).__name__}: {exc})") from exc

    def close(self) -> None:
        """Close the log; later calls raise :class:`NotFoundError`."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def _replay(self) -> None:
        """Rebuild the learner, metadata and leases from what the log has committed."""
        s = self.settings
        self.learner = Learner(dimension=s.dimension, k=s.k, classes=list(s.labels) or None,
                               duplicate_threshold=s.duplicate_threshold, outlier_quantile=s.outlier_quantile)
        self._metadata: list[dict[str, Any]] = []
        self._batches = 0
        pending: list[tuple[int, bool]] = []
        labeled_yet = False
        for kind, payload in self._db.execute("SELECT kind, payload FROM ops ORDER BY seq"):
            op = json.loads(payload)
            if kind == "add":
                pending.append((op["batch"], op.get("append", False)))
                if labeled_yet:
                    self._replay_adds(pending)
                continue
            self._replay_adds(pending)
            labeled_yet = True
            if kind == "label":
                self.learner.label(op["ids"], op["labels"])
            else:
                self.learner.unlabel(op["ids"])
        self._replay_adds(pending)
        remove_crash_leftovers(self.path, self._batches)
        # Rows of leases that expired meanwhile stay until overwritten: opening writes nothing.
        rows = self._db.execute("SELECT item_id, expires_at, annotator FROM leases WHERE expires_at > ? "
                                "ORDER BY item_id", (self._clock(),)).fetchall()
        self._leases = {item: Lease(deadline, annotator) for item, deadline, annotator in rows}
        if rows:
            self.learner.hand_out(list(self._leases))

    def _replay_adds(self, batches: list[tuple[int, bool]]) -> None:
        """Add the pool batches ``batches`` (number, appended?) as one learner call, then
        empty the list."""
        if not batches:
            return
        ids: list[str] = []
        parts = []
        survey = PoolSurvey(density=self.learner.density_, groups=self.learner.groups_)
        for batch, appended in batches:
            vectors_path, items_path, density_path, groups_path = batch_paths(self.path, batch)
            parts.append(np.load(vectors_path, mmap_mode="r"))
            for line in items_path.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                ids.append(record["id"])
                self._metadata.append(record["metadata"])
            density, groups = np.load(density_path), np.load(groups_path)
            if appended:
                density, groups = np.concatenate([survey.density, density]), np.concatenate([survey.groups, groups])
            survey = PoolSurvey(density=density, groups=groups)
        self.learner.add_items(ids, np.concatenate(parts), survey=survey)
        self._batches = batches[-1][0] + 1
        batches.clear()

    @contextmanager
    def _locked(self) -> Iterator[float]:
        """Hold the project lock, end expired leases, and yield the current time."""
        with self._lock:
            if self._closed:
                raise NotFoundError(f"project {self.settings.name!r} was deleted")
            now = self._clock()
            expired = [item for item, lease in self._leases.items() if lease.deadline <= now]
            if expired:
                # Housekeeping that must not fail the call that triggered it: an expired row
                # left behind (a full disk) is ignored by replay and overwritten by a new lease.
                with contextlib.suppress(DiskFullError):
                    self._commit(lambda: self._db.executemany("DELETE FROM leases WHERE item_id = ?",
                                                              [(i,) for i in expired]), durable=False)
                for item in expired:
                    del self._leases[item]
                self._apply(self.learner.release, expired)
            yield now

    def _disk_errors(self) -> contextlib.AbstractContextManager[None]:
        return disk_errors(self.path.parent)

    def _commit(self, write: Callable[[], object], *, durable: bool = True) -> None:
        """Run ``write`` (SQL statements only) in one transaction and commit it; on any
        error roll back and raise. ``durable=False`` (lease changes only) skips the fsync
        at commit. Nothing in memory changes here: callers validate before, apply after."""
        with self._disk_errors():
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                write()
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _apply(self, change: Callable[..., T], *args: Any) -> T:
        """Apply a committed, validated change to the learner. Should it fail anyway, the
        learner is rebuilt from the log, which holds the change."""
        try:
            return change(*args)
        except BaseException:
            self._replay()
            raise

    def _log(self, kind: str, payload: Mapping[str, Any], annotator: str, now: float) -> None:
        self._db.execute("INSERT INTO ops (kind, payload, annotator, at) VALUES (?, ?, ?, ?)",
                         (kind, dumps(payload), annotator, now))

    def _lease_seconds(self, given: float | None) -> float:
        """The lease of a hand-out: ``given``, or the project's default; at most the
        server's maximum."""
        if given is None:
            return min(self.settings.lease_seconds, self._max_lease)
        if not (math.isfinite(given) and given > 0):
            raise InvalidInputError(f"lease_seconds must be a positive number, got {given}")
        if given > self._max_lease:
            raise InvalidInputError(f"lease_seconds must be at most {self._max_lease:g} (this server's --max-lease), "
                                    f"got {given:g}")
        return given

    # ----------------------------------------------------------------- pool
    def add_items(self, ids: Sequence[str], vectors: np.ndarray,
                  metadata: Sequence[Mapping[str, Any]] | None = None) -> int:
        """Add items (all or none) and return the pool size.

        ``metadata``: empty/None or one JSON-serialisable mapping per item.
        """
        ids = list(ids)
        if not ids:
            raise InvalidInputError("no items to add: the batch is empty")
        x = as_unit_vectors(vectors, dimension=self.settings.dimension)
        if len(x) != len(ids):
            raise InvalidInputError(f"{len(ids)} ids but {len(x)} vectors")
        metadata, lines = _item_records(ids, metadata)
        with self._locked() as now:
            return self._add_locked(ids, x, metadata, lines, now)

    def _add_locked(self, ids: list[str], x: np.ndarray, metadata: list[dict[str, Any]], lines: bytes, now: float,
                    *, append: bool = False, labels: Mapping[str, str] | None = None, annotator: str = "",
                    lease: Lease | None = None) -> int:
        """Add validated items under the lock: survey, write the batch files, commit the
        addition (with ``labels`` of some of its items, or a ``lease`` of all of them, in
        the same transaction), apply."""
        learner = self.learner
        learner.check_new_ids(ids)
        self._check_not_auto_labeled(ids)
        if labels:
            learner.check_label_names(list(labels), list(labels.values()))
        survey = learner.survey(x, append=append)
        # An appended batch stores only its own rows of the survey; replay extends the pool's.
        tail = slice(learner.n_items if append else 0, None)
        batch = self._batches
        paths = batch_paths(self.path, batch)

        def write() -> None:
            self._log("add", {"batch": batch, "count": len(ids), **({"append": True} if append else {})}, "", now)
            if labels:
                self._log("label", {"ids": list(labels), "labels": list(labels.values())}, annotator, now)
            if lease:
                self._write_leases(ids, lease.annotator, lease.deadline)

        try:
            with self._disk_errors():
                atomic_write(paths[0], lambda f: np.save(f, x, allow_pickle=False))
                atomic_write(paths[1], lambda f: f.write(lines))
                atomic_write(paths[2], lambda f: np.save(f, survey.density[tail], allow_pickle=False))
                atomic_write(paths[3], lambda f: np.save(f, survey.groups[tail], allow_pickle=False))
            self._commit(write)
        except BaseException:
            for p in paths:
                p.unlink(missing_ok=True)
            raise
        self._batches += 1
        self._metadata.extend(metadata)
        self._apply(lambda: learner.add_items(ids, x, survey=survey))
        if labels:
            self._apply(learner.label, list(labels), list(labels.values()))
        if lease:
            self._leases.update(dict.fromkeys(ids, lease))
            self._apply(learner.hand_out, ids)
        return learner.n_items

    def _check_not_auto_labeled(self, ids: list[str]) -> None:
        """Ids are unique across the pool and the streams' auto labels, so that an export
        never holds two records for one id."""
        (auto,) = self._db.execute("SELECT COUNT(*) FROM auto_labels").fetchone()
        if not auto:
            return
        if auto <= len(ids):
            taken = {row[0] for row in self._db.execute("SELECT item_id FROM auto_labels")}
            clash = next((i for i in ids if i in taken), None)
        else:
            clash = None
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                found = self._db.execute(f"SELECT item_id FROM auto_labels WHERE item_id IN "
                                         f"({','.join('?' * len(part))}) LIMIT 1", part).fetchone()
                if found:
                    clash = found[0]
                    break
        if clash is not None:
            raise DuplicateItemError(f"item id {shown(clash)} was already auto-labeled by a stream: ids are unique "
                                     "across the pool and the auto labels")

    def embed(self, *, texts: Sequence[str] | None = None, images: Sequence[bytes] | None = None,
              ids: Sequence[str] | None = None) -> np.ndarray:
        """Embed raw items with the project's encoder: exactly one of ``texts`` or
        ``images`` (encoded image files). Returns unit float32 vectors for
        :meth:`add_items` or :meth:`predict`; ``ids``, when given, name the items in errors.

        The encoder is loaded once per process, on first use. Every item that cannot be
        embedded (empty text, undecodable image) is named in one :class:`InvalidInputError`
        and nothing is returned, so a bad item never half-adds a batch. Runs without the
        project lock: the encoder is the slow part, and it changes no project state.
        Items go to the encoder :data:`EMBED_BATCH` at a time.
        """
        if (texts is None) == (images is None):
            raise InvalidInputError("give either texts or images to embed, not both or neither")
        kind, items = ("text", texts) if texts is not None else ("image", images)
        self.check_raw_kind(kind)
        name = self.settings.encoder
        items = list(items)
        if not items:
            raise InvalidInputError(f"no {kind}s to embed: the batch is empty")
        if ids is not None and len(ids) != len(items):
            raise InvalidInputError(f"{len(ids)} ids but {len(items)} {kind}s: give one {kind} per id")
        try:
            encoder = shared_encoder(name)
        except EncoderUnavailableError as exc:
            raise StateError(f"this server cannot load encoder {name!r}: {exc}") from None
        vectors = np.empty((len(items), encoder.dimension), dtype=np.float32)
        failures: dict[int, str] = {}
        for start in range(0, len(items), EMBED_BATCH):
            try:
                vectors[start:start + EMBED_BATCH] = encoder.encode(items[start:start + EMBED_BATCH])
            except EncodingError as exc:
                failures.update({start + i: why for i, why in exc.failures.items()})
        if failures:
            shown_items = "; ".join((f"item {shown(ids[i])}" if ids is not None else f"{kind} at index {i}") + f": {why}"
                              for i, why in list(failures.items())[:5])
            more = len(failures) - 5
            raise InvalidInputError(f"{len(failures)} of {len(items)} {kind}s cannot be embedded (the request is "
                                    f"refused as a whole): {shown_items}" + (f"; and {more} more" if more > 0 else ""))
        return vectors

    def check_raw_kind(self, kind: str) -> None:
        """Raise unless this project's encoder embeds raw items of ``kind`` ("text", "image")."""
        name = self.settings.encoder
        if not name:
            raise StateError(f"project {self.settings.name!r} has no encoder, so it takes vectors only: "
                             f"embed the {kind}s yourself, or create the project with an encoder "
                             "(knn-al: --encoder; client: encoder=) to send raw texts or images")
        modality = ENCODERS[name][0]
        if kind != modality:
            raise InvalidInputError(f"project {self.settings.name!r} embeds {modality}s with {name}: "
                                    f"send {modality}s, not {kind}s")

    def load_dataset(self, path: str | Path, *, import_labels: bool = False) -> tuple[int, int]:
        """Add the items of a dataset directory written by ``knn-al embed``; with
        ``import_labels``, also label the items whose dataset record carries a label.
        Returns (items added, labels imported)."""
        try:
            dataset = read_dataset(path)
        except DatasetError as exc:
            raise InvalidInputError(f"cannot load dataset: {exc}") from None
        if dataset.dimension != self.settings.dimension:
            raise InvalidInputError(f"dataset {path} holds {dataset.dimension}-dimensional vectors "
                                    f"({dataset.encoder}), project {self.settings.name!r} expects {self.settings.dimension}")
        known = dataset.known_labels() if import_labels else {}
        metadata, lines = _item_records(dataset.ids, dataset.item_metadata())
        x = as_unit_vectors(dataset.vectors, dimension=self.settings.dimension)
        with self._locked() as now:
            # Items and labels are validated first and committed in one transaction: a bad
            # label or a crash leaves neither, and the load can simply be run again.
            self._add_locked(dataset.ids, x, metadata, lines, now, labels=known, annotator="dataset")
        return len(dataset.ids), len(known)

    # --------------------------------------------------------------- labels
    def label(self, ids: Sequence[str], labels: Sequence[str], *, annotator: str = "") -> LabelReceipt:
        """Label (or relabel) items; ends their leases, whoever held them (the label is
        recorded with ``annotator``). Answers once committed, with the labeled count and
        the duplicates the labels propagated to."""
        ids, labels = list(ids), list(labels)
        check_annotator(annotator)
        with self._locked() as now:
            self.learner.check_label(ids, labels)

            def write() -> None:
                self._log("label", {"ids": ids, "labels": labels}, annotator, now)
                self._db.executemany("DELETE FROM leases WHERE item_id = ?", [(i,) for i in ids])

            self._commit(write)
            for item in ids:
                self._leases.pop(item, None)
            propagated = self._apply(self.learner.label, ids, labels)
            return LabelReceipt(labeled_count=self.learner.n_labeled, propagated=propagated)

    def unlabel(self, ids: Sequence[str]) -> int:
        """Remove labels; the items become candidates again. Returns the labeled count."""
        ids = list(ids)
        with self._locked() as now:
            self.learner.check_unlabel(ids)
            self._commit(lambda: self._log("unlabel", {"ids": ids}, "", now))
            self._apply(self.learner.unlabel, ids)
            return self.learner.n_labeled

    def labels(self) -> dict[str, str]:
        """Current label of every labeled item, in labeling order."""
        with self._locked():
            return self.learner.labels()

    # --------------------------------------------------------------- leases
    def next_sample(self, count: int = 1, *, strategy: str | None = None, annotator: str = "",
                    lease_seconds: float | None = None, include_outliers: bool = False,
                    seed: int | None = None, accept: Callable[[list[Sample]], object] | None = None) -> list[Sample]:
        """Pick up to ``count`` items, lease them to ``annotator``, and return them.

        Leased items are not candidates for anyone until labeled, released or expired,
        so concurrent callers never receive the same item. No more are handed out than
        the label budget has left (see :meth:`progress`); none once the pool is exhausted.
        ``accept`` sees the samples before their leases are committed and may refuse them
        by raising (a transport whose reply would be too large): then nothing changes.
        """
        if not 0 < count <= MAX_SAMPLE_COUNT:
            raise InvalidInputError(f"count must be between 1 and {MAX_SAMPLE_COUNT}, got {count}")
        lease = self._lease_seconds(lease_seconds)
        check_annotator(annotator)
        with self._locked() as now:
            left = self._budget_left()
            if left is not None:
                count = min(count, left)
            picks = (self.learner.select(count, strategy=strategy or self.settings.default_strategy,
                                         include_outliers=include_outliers, seed=seed) if count else [])
            ids = [p.id for p in picks]
            deadline = now + lease
            predictions = self._predictions(ids, self.learner.predict_proba(ids), neighbors=None)
            samples = [Sample(id=p.id, metadata=self._metadata[p.row], predicted_label=pred.label,
                              probabilities=pred.probabilities, pick=p, lease_expires_at=deadline)
                       for p, pred in zip(picks, predictions)]
            if accept is not None:
                accept(samples)
            if ids:
                self._lease_locked(ids, annotator, deadline)
            return samples

    def _lease_locked(self, ids: list[str], annotator: str, deadline: float) -> None:
        self.learner.check_hand_out(ids)
        self._commit(lambda: self._write_leases(ids, annotator, deadline), durable=False)
        self._leases.update(dict.fromkeys(ids, Lease(deadline, annotator)))
        self._apply(self.learner.hand_out, ids)

    def _write_leases(self, ids: list[str], annotator: str, deadline: float) -> None:
        # REPLACE: the row of a lease that expired while the server was down may remain.
        self._db.executemany("INSERT OR REPLACE INTO leases (item_id, annotator, expires_at) VALUES (?, ?, ?)",
                             [(i, annotator, deadline) for i in ids])

    def release(self, ids: Sequence[str], *, annotator: str = "", force: bool = False) -> int:
        """End ``annotator``'s leases of ``ids`` early; the items return to the pool.
        All or none: an item leased to someone else is refused unless ``force`` (for a
        supervisor). Returns how many were released."""
        ids = list(ids)
        if not ids:
            raise InvalidInputError("no items to release: the list is empty")
        check_annotator(annotator)
        with self._locked():
            self.learner.check_release(ids)
            if not force:
                held = next((i for i in ids if self._leases[i].annotator != annotator), None)
                if held is not None:
                    raise StateError(f"item {shown(held)} is leased to {shown(self._leases[held].annotator)}, "
                                     f"not to {shown(annotator)}: only its holder can release it (supervisors: "
                                     "force=True)")
            self._commit(lambda: self._db.executemany("DELETE FROM leases WHERE item_id = ?", [(i,) for i in ids]),
                         durable=False)
            for item in ids:
                del self._leases[item]
            self._apply(self.learner.release, ids)
            return len(ids)

    # --------------------------------------------------------------- streams
    def decide(self, item_id: str, vector: np.ndarray, *, threshold: float, annotator: str = "",
               lease_seconds: float | None = None, metadata: Mapping[str, Any] | None = None) -> Decision:
        """Answer one streamed item: auto-label it if the prediction's confidence reaches
        ``threshold`` (and at least two classes are known), else query a human for it while
        the label budget lasts.

        A queried item joins the pool (its density measured against the pool, no full
        survey: see :func:`knn_al.learner.survey.survey_appended`) and is leased to ``annotator``.
        An auto-labeled one is recorded in the auto labels, not the pool. Its id must be
        new to both.
        """
        if not 0 < threshold <= 1:
            raise InvalidInputError(f"the confidence threshold must be in (0, 1], got {threshold}")
        lease = self._lease_seconds(lease_seconds)
        check_annotator(annotator)
        x = as_unit_vectors(vector, dimension=self.settings.dimension)
        if len(x) != 1:
            raise InvalidInputError(f"a stream item is one vector, got {len(x)}")
        records, lines = _item_records([item_id], [metadata] if metadata else None)
        with self._locked() as now:
            learner = self.learner
            learner.check_new_ids([item_id])
            if self._db.execute("SELECT 1 FROM auto_labels WHERE item_id = ?", (item_id,)).fetchone():
                raise DuplicateItemError(f"item id {shown(item_id)} was already auto-labeled by a stream")
            prediction = self._predictions([item_id], learner.predict_proba_vectors(x), neighbors=None)[0]
            confidence = max(prediction.probabilities.values(), default=0.0)
            # With a single known class every prediction is "certain": no basis to skip a human.
            confident = len(learner.classes_) >= 2 and confidence >= threshold
            left = self._budget_left()
            if confident or left == 0:
                reason = "confident" if confident else "budget_exhausted"
                if prediction.label:
                    self._commit(lambda: self._db.execute(
                        "INSERT INTO auto_labels (item_id, label, confidence, at) VALUES (?, ?, ?, ?)",
                        (item_id, prediction.label, confidence, now)), durable=False)
                return Decision(id=item_id, query=False, reason=reason, label=prediction.label, confidence=confidence,
                                probabilities=prediction.probabilities, budget_left=left)
            deadline = now + lease
            self._add_locked([item_id], x, records, lines, now, append=True, lease=Lease(deadline, annotator))
            return Decision(id=item_id, query=True, reason="uncertain", label=prediction.label, confidence=confidence,
                            probabilities=prediction.probabilities, budget_left=self._budget_left(),
                            lease_expires_at=deadline)

    # ---------------------------------------------------------- predictions
    def predict(self, ids: Sequence[str] | None = None, *, vectors: np.ndarray | None = None) -> list[Prediction]:
        """Predictions for pool items (``ids``) or arbitrary vectors, with their labeled neighbours."""
        if (ids is None) == (vectors is None):
            raise InvalidInputError("give either item ids or vectors to predict, not both or neither")
        if ids is not None and not ids:
            raise InvalidInputError("no items to predict: the id list is empty")
        with self._locked():
            learner = self.learner
            if ids is not None:
                ids = list(ids)
                proba, neighbors = learner.predict_proba(ids), learner.neighbors(ids)
            else:
                if len(np.asarray(vectors)) == 0:
                    raise InvalidInputError("no vectors to predict: the batch is empty")
                tracked = learner.track(vectors)  # one search serves the votes and their explanation
                proba, neighbors = tracked.predict_proba(), learner.neighbors(vectors=tracked)
                ids = [""] * len(proba)
            return self._predictions(ids, proba, neighbors)

    def _predictions(self, ids: Sequence[str], proba: np.ndarray,
                     neighbors: list[list[Neighbor]] | None) -> list[Prediction]:
        classes = self.learner.classes_
        labeled = self.learner.n_labeled > 0
        return [Prediction(id=item,
                           label=classes[int(np.argmax(row))] if labeled and len(classes) else "",
                           probabilities=dict(zip(classes, map(float, row))),
                           neighbors=neighbors[i] if neighbors is not None else [])
                for i, (item, row) in enumerate(zip(ids, proba))]

    def export(self, *, include_predictions: bool = False) -> list[ExportRecord]:
        """Human labels, then propagated ones; with ``include_predictions`` also the
        streams' auto labels and the kNN prediction of every other pool item."""
        with self._locked():
            learner = self.learner
            records = [ExportRecord(id=i, label=lab, source="human", confidence=1.0)
                       for i, lab in learner.labels().items()]
            records += [ExportRecord(id=p.id, label=p.label, source="propagated", confidence=1.0)
                        for p in learner.propagated_labels()]
            if not include_predictions:
                return records
            # A pool item with a human label wins over an auto label of the same id (which
            # projects written before ids were unique across both may hold).
            covered = {r.id for r in records}
            records += [ExportRecord(id=i, label=lab, source="auto", confidence=c) for i, lab, c in
                        self._db.execute("SELECT item_id, label, confidence FROM auto_labels ORDER BY at, item_id")
                        if i not in covered]
            if learner.n_labeled == 0:
                return records
            covered.update(r.id for r in records)
            rows, codes, confidence = learner.predictions()
            for item, code, conf in zip(learner.ids_of(rows), codes.tolist(), confidence.tolist()):
                if item not in covered:
                    records.append(ExportRecord(id=item, label=learner.classes_[code], source="predicted",
                                                confidence=conf))
            return records

    # ----------------------------------------------------------------- goals
    def set_goals(self, *, target_accuracy: float | None = None, label_budget: int | None = None) -> ProjectSettings:
        """Change when labeling can stop (``None`` keeps a goal as it is; 0 removes it)."""
        changes = {name: value for name, value in
                   (("target_accuracy", target_accuracy), ("label_budget", label_budget)) if value is not None}
        with self._locked():
            settings = replace(self.settings, **changes)
            with self._disk_errors():
                write_settings(self.path, settings)
            self.settings = settings
            return settings

    def progress(self) -> Progress:
        """The live accuracy estimate against the target, and the budget left."""
        with self._locked():
            return self._progress()

    def _progress(self) -> Progress:
        estimate = self.learner.accuracy_estimate()
        left = self._budget_left()
        return Progress(estimate=estimate, target_accuracy=self.settings.target_accuracy,
                        label_budget=self.settings.label_budget, budget_left=left,
                        stop_reason=stop_reason(estimate=estimate, target_accuracy=self.settings.target_accuracy,
                                                budget_left=left, unlabeled=self.learner.n_unlabeled()))

    def _budget_left(self) -> int | None:
        return budget_left(self.settings.label_budget, self.learner.n_labeled, len(self._leases))

    def stats(self) -> ProjectStats:
        """Counts (labels of each kind, duplicates, outliers) and the quality estimates."""
        with self._locked():
            learner = self.learner
            groups, grouped = learner.group_counts()
            (auto,) = self._db.execute("SELECT COUNT(*) FROM auto_labels").fetchone()
            return ProjectStats(labeled=learner.n_labeled, propagated=len(learner.propagated_labels()),
                                auto_labeled=auto, leased=len(self._leases), pool_size=learner.n_items,
                                duplicate_groups=groups, grouped_items=grouped, outliers=len(learner.outliers()),
                                mean_uncertainty=learner.mean_uncertainty(), progress=self._progress())

    def outliers(self, limit: int = 100) -> list[tuple[str, float]]:
        """Up to ``limit`` outliers (id, density), least dense first, for review."""
        if limit <= 0:
            raise InvalidInputError(f"limit must be positive, got {limit}")
        with self._locked():
            return self.learner.outliers()[:limit]

    # ----------------------------------------------------------------- info
    def info(self) -> ProjectInfo:
        """Settings, pool size, labeled and leased counts, and labeled items per class."""
        with self._locked():
            counts = Counter(self.learner.labels().values())
            return ProjectInfo(name=self.settings.name, settings=self.settings, pool_size=self.learner.n_items,
                               labeled_count=self.learner.n_labeled, leased_count=len(self._leases),
                               label_counts={label: counts.get(label, 0) for label in self.learner.classes_})

