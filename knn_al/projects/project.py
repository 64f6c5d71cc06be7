"""A durable project: one learner, its pool files, its label log and its leases, in one directory.

:class:`Project` is the one entry point of every operation: each holds the project lock
and orders its steps, validate, commit, apply (:mod:`knn_al.projects.core`: the lock, the
commit point, the replay on open). The steps live in the parts: the files and how they
are checked (:mod:`knn_al.projects.files`), the operation log (:mod:`knn_al.projects.log`),
the pool files (:mod:`knn_al.projects.pool`), additions (:mod:`knn_al.projects.additions`),
hand-outs and leases (:mod:`knn_al.projects.handouts`, :mod:`knn_al.projects.leases`),
streams (:mod:`knn_al.projects.streams`), the records read from the learner
(:mod:`knn_al.projects.reports`, :mod:`knn_al.projects.items`), and the encoder that
embeds raw items (:mod:`knn_al.encoders.dispatch`). Replay and a live project apply each
committed operation the same way (:meth:`knn_al.projects.replay.ProjectState.apply`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from knn_al.encoders import dispatch
from knn_al.errors import InvalidInputError, shown
from knn_al.learner.limits import check_annotator
from knn_al.learner.search import search
from knn_al.learner.strategies import check_exponents
from knn_al.learner.types import Exponents
from knn_al.projects.additions import RawItem, add_batch, raw_contents
from knn_al.projects.core import ProjectCore
from knn_al.projects.files import write_settings
from knn_al.projects.handouts import (MAX_SAMPLE_COUNT, check_count, check_seed, hand_out_picks, lease_items,
                                      release_leases, renew_leases, undo_label)
from knn_al.projects.items import (checked_ids, duplicate_group_records, item_records, page_of, recent_labels,
                                   search_hits, suspicions)
from knn_al.projects.leases import DEFAULT_MAX_LEASE_SECONDS, Lease
from knn_al.projects.pool import Batch, checked_metadata, dataset_batch, new_batch
from knn_al.projects.records import (AddResult, Decision, DuplicateGroup, ExportRecord, ItemPage, ItemRecord,
                                    LabelEvent, LabelReceipt, Prediction, ProjectInfo, ProjectStats, Progress, Sample,
                                    SearchHit, Suspicion)
from knn_al.projects.reports import export_records, info_of, predictions_of, progress_of, stats_of
from knn_al.projects.settings import ProjectSettings
from knn_al.projects.streams import decide, stream_batch

__all__ = ["DEFAULT_MAX_LEASE_SECONDS", "MAX_SAMPLE_COUNT", "Project"]


class Project(ProjectCore):
    """A project opened from its directory (laid out by :func:`~knn_al.projects.files.lay_out`)
    with :meth:`open`."""

    # ----------------------------------------------------------------- pool
    def add_items(self, ids: Sequence[str], vectors: np.ndarray, metadata: Sequence[Mapping[str, Any]] | None = None,
                  *, on_conflict: str = "error", raw: Sequence[RawItem] | None = None) -> AddResult:
        """Add items (all or none) and say what was done.

        ``metadata``: empty/None or one JSON-serialisable mapping per item. An id already
        taken is refused (``on_conflict`` "error"), left as it is ("skip") or replaced
        ("replace": removed as by :meth:`remove_items`, then added, in one commit). ``raw``:
        the raw items (texts, or image bytes) the vectors embed, one per id, kept if the
        project keeps them (``keep_raw``).
        """
        batch = new_batch(ids, vectors, metadata, dimension=self.settings.dimension)
        kept = raw_contents(batch.ids, raw) if raw is not None and self.settings.keep_raw else None
        with self._locked() as now:
            return self._add_locked(batch, now, on_conflict=on_conflict, raw=kept)[0]

    def _add_locked(self, batch: Batch, now: float, **options: Any) -> tuple[AddResult, int]:
        """Add a checked batch under the lock (:func:`knn_al.projects.additions.add_batch`)."""
        return add_batch(self._state, self._log, self.path, batch, now, apply=self._apply, **options)

    def embed(self, *, texts: Sequence[str] | None = None, images: Sequence[bytes] | None = None,
              ids: Sequence[str] | None = None) -> np.ndarray:
        """Embed raw items with the project's encoder (:func:`knn_al.encoders.dispatch.embed`):
        exactly one of ``texts`` or ``images``; unit float32 vectors for :meth:`add_items` or
        :meth:`predict`. Runs without the project lock: the encoder is the slow part, and it
        changes no project state."""
        return dispatch.embed(self.settings.encoder, texts=texts, images=images, ids=ids, project=self.settings.name)

    def check_raw_kind(self, kind: str) -> None:
        """Raise unless this project's encoder embeds raw items of ``kind`` ("text", "image")."""
        dispatch.check_raw_kind(self.settings.encoder, kind, project=self.settings.name)

    def load_dataset(self, path: str | Path, *, import_labels: bool = False,
                     on_conflict: str = "error") -> tuple[int, int]:
        """Add the items of a dataset directory written by ``knn-al embed``; with
        ``import_labels``, also label the items whose dataset record carries a label.
        ``on_conflict`` as for :meth:`add_items` ("skip": a load run again adds only what
        is new). Returns (items added, labels imported)."""
        batch, known = dataset_batch(path, dimension=self.settings.dimension, project=self.settings.name,
                                     import_labels=import_labels)
        with self._locked() as now:
            # Items and labels are validated first and committed in one transaction: a bad
            # label or a crash leaves neither, and the load can simply be run again.
            result, labeled = self._add_locked(batch, now, on_conflict=on_conflict, labels=known, annotator="dataset")
        return result.added, labeled

    # --------------------------------------------------------------- labels
    def label(self, ids: Sequence[str], labels: Sequence[str], *, annotator: str = "") -> LabelReceipt:
        """Label (or relabel) items; ends their leases, whoever held them (the label is
        recorded with ``annotator``). Answers once committed, with the labeled count and
        the duplicates the labels propagated to."""
        ids, labels = list(ids), list(labels)
        check_annotator(annotator)
        with self._locked() as now:
            self.learner.check_label(ids, labels)
            propagated = self._commit("label", {"ids": ids, "labels": labels}, now, annotator=annotator,
                                      also=lambda: self._log.delete_leases(ids))
            self._leases.end(ids)
            return LabelReceipt(labeled_count=self.learner.n_labeled, propagated=propagated)

    def unlabel(self, ids: Sequence[str]) -> int:
        """Remove labels; the items become candidates again. Returns the labeled count."""
        ids = list(ids)
        with self._locked() as now:
            self.learner.check_unlabel(ids)
            self._commit("unlabel", {"ids": ids}, now)
            return self.learner.n_labeled

    def undo_label(self, item_id: str, *, label: str, annotator: str = "", lease_seconds: float | None = None) -> float:
        """Undo a label: remove the human label ``label`` of ``item_id`` and lease the item to
        ``annotator`` (as :meth:`lease` would) in one commit, so it comes back to them and
        nobody else is handed it; returns the lease deadline. Refused unless the item's
        label is still ``label`` (someone relabeled it since: theirs stays)."""
        check_annotator(annotator)
        if not isinstance(label, str) or not label:
            raise InvalidInputError(f"give the label to undo (a non-empty string), got {shown(label)}")
        lease = self._lease_length(lease_seconds)
        with self._locked() as now:
            deadline = now + lease
            undo_label(self._state, self._log, item_id, label, Lease(deadline, annotator), now, apply=self._apply)
            return deadline

    def labels(self) -> dict[str, str]:
        """Current label of every labeled item, in labeling order."""
        with self._locked():
            return self.learner.labels()

    # --------------------------------------------------------------- leases
    def next_sample(self, count: int = 1, *, strategy: str | None = None, annotator: str = "",
                    lease_seconds: float | None = None, include_outliers: bool = False,
                    seed: int | None = None, accept: Callable[[list[Sample]], object] | None = None,
                    preview: bool = False, exponents: Exponents | None = None) -> list[Sample]:
        """Pick up to ``count`` items, lease them to ``annotator``, and return them.

        Leased items are not candidates for anyone until labeled, released or expired,
        so concurrent callers never receive the same item. No more are handed out than
        the label budget has left (see :meth:`progress`); none once the pool is exhausted.
        ``accept`` sees the samples before their leases are committed and may refuse them
        by raising (a transport whose reply would be too large): then nothing changes.
        With ``preview``, the same picks in the same order (the same ``seed`` gives what a
        real call would) but nothing is leased or logged: ``lease_expires_at`` is 0.
        ``exponents``: the combined strategy's for this pick (None: the project's).
        """
        check_count(count)
        check_seed(seed)
        exponents = self.settings.exponents if exponents is None else check_exponents(exponents)
        lease = self._lease_length(lease_seconds)
        check_annotator(annotator)
        with self._locked() as now:
            return hand_out_picks(self._state, self._log, count=count,
                                  strategy=strategy or self.settings.default_strategy, exponents=exponents,
                                  include_outliers=include_outliers, seed=seed, lease=Lease(now + lease, annotator),
                                  left=self._budget_left(), accept=accept, apply=self._apply, preview=preview)

    def lease(self, ids: Sequence[str], *, annotator: str = "", lease_seconds: float | None = None) -> float:
        """Lease chosen items (one found by search, say) to ``annotator``
        until now + the lease length (the project's, or ``lease_seconds``); returns the
        deadline. As with :meth:`next_sample`, nobody else is handed them meanwhile and they
        count against the label budget; an item already leased to ``annotator`` is renewed.
        All or none: unknown items, items labeled (by a human or a duplicate's label),
        skipped or leased to someone else, and more new items than the budget has left are
        refused."""
        ids = checked_ids(ids, doing="to lease")
        check_annotator(annotator)
        lease = self._lease_length(lease_seconds)
        with self._locked() as now:
            deadline = now + lease
            lease_items(self._state, self._log, ids, Lease(deadline, annotator), left=self._budget_left(),
                        apply=self._apply)
            return deadline

    def release(self, ids: Sequence[str], *, annotator: str = "", force: bool = False) -> int:
        """End ``annotator``'s leases of ``ids`` early; the items return to the pool.
        All or none: an item leased to someone else is refused unless ``force`` (for a
        supervisor). Returns how many were released."""
        ids = list(ids)
        if not ids:
            raise InvalidInputError("no items to release: the list is empty")
        check_annotator(annotator)
        with self._locked():
            release_leases(self._state, self._log, ids, annotator=annotator, force=force, apply=self._apply)
            return len(ids)

    def renew(self, ids: Sequence[str], *, annotator: str = "", lease_seconds: float | None = None) -> float:
        """Extend ``annotator``'s own leases of ``ids`` to now + the lease length (the
        project's, or ``lease_seconds``); returns the new deadline. All or none: an item
        not leased to ``annotator`` is refused."""
        ids = checked_ids(ids, doing="to renew")
        check_annotator(annotator)
        lease = self._lease_length(lease_seconds)
        with self._locked() as now:
            deadline = now + lease
            renew_leases(self._state, self._log, ids, Lease(deadline, annotator))
            return deadline

    def skip(self, ids: Sequence[str], *, annotator: str = "") -> int:
        """Set unlabeled items aside (unclear, not applicable): they are not handed out
        again until :meth:`unskip`, and their leases end, whoever held them. Skipping a
        skipped item changes nothing; labeling one labels it. Returns how many were given."""
        ids = list(ids)
        check_annotator(annotator)
        with self._locked() as now:
            self.learner.check_skip(ids)
            self._commit("skip", {"ids": ids}, now, annotator=annotator, also=lambda: self._log.delete_leases(ids))
            self._leases.end(ids)
            return len(ids)

    def unskip(self, ids: Sequence[str]) -> int:
        """Make skipped items candidates again; returns how many."""
        ids = list(ids)
        with self._locked() as now:
            self.learner.check_unskip(ids)
            self._commit("unskip", {"ids": ids}, now)
            return len(ids)

    # ----------------------------------------------------------------- items
    def remove_items(self, ids: Sequence[str]) -> int:
        """Remove items from the pool for good (their labels, leases and raw items with
        them); their ids may be added again. Returns the pool size."""
        ids = list(ids)
        with self._locked() as now:
            self.learner.check_remove(ids)
            self._commit("remove", {"ids": ids}, now, also=lambda: self._log.delete_items(ids))
            self._leases.end(ids)
            return self.learner.n_items

    def update_metadata(self, metadata: Mapping[str, Mapping[str, Any]]) -> int:
        """Replace the metadata of items (``{id: metadata}``, checked as :meth:`add_items`
        checks it); returns how many."""
        if not isinstance(metadata, Mapping):
            raise InvalidInputError(f"metadata must map item ids to their metadata, got {type(metadata).__name__}")
        ids = checked_ids(list(metadata), doing="to update")
        entries = checked_metadata(ids, [metadata[i] for i in ids])
        with self._locked() as now:
            self.learner.rows(ids)
            self._commit("metadata", {"ids": ids, "metadata": entries}, now)
            return len(ids)

    def items(self, ids: Sequence[str]) -> list[ItemRecord]:
        """The records of items ``ids`` (:class:`~knn_al.projects.records.ItemRecord`)."""
        ids = checked_ids(ids, doing="to get")
        with self._locked():
            return item_records(self._state, self.learner.rows(ids))

    def list_items(self, *, state: str | None = None, page_size: int = 50, page_token: str = "") -> ItemPage:
        """A page of items in pool order, of one state (unlabeled, labeled, propagated,
        leased, skipped) or the outliers if ``state`` is given; pass the page's
        ``next_page_token`` to get the next one."""
        with self._locked():
            return page_of(self._state, state_filter=state, page_size=page_size, page_token=page_token)

    def search(self, *, item_id: str | None = None, vector: np.ndarray | None = None, limit: int = 10,
               unlabeled_only: bool = False) -> list[SearchHit]:
        """The ``limit`` items most similar to item ``item_id`` (not itself) or to ``vector``,
        exactly one of them (:func:`knn_al.learner.search.search`); ``unlabeled_only``:
        only items with no label, human or propagated."""
        with self._locked():
            rows, similarities = search(self.learner, item_id=item_id, vector=vector, limit=limit,
                                        unlabeled_only=unlabeled_only)
            return search_hits(self._state, rows, similarities)

    def raw_item(self, item_id: str) -> tuple[bytes, str] | None:
        """The raw item kept of ``item_id`` (a ``keep_raw`` project): (content, kind "text"
        or "image"), or None."""
        with self._locked():
            self.learner.rows([item_id])
            return self._log.raw(item_id)

    # ---------------------------------------------------------------- review
    def suspicious(self, limit: int = 100) -> list[Suspicion]:
        """Human labels the item's leave-one-out prediction disagrees with, most confident first."""
        with self._locked():
            return suspicions(self._state, limit=limit)

    def duplicate_groups(self, limit: int = 100) -> list[DuplicateGroup]:
        """Duplicate groups of two or more items, largest first."""
        with self._locked():
            return duplicate_group_records(self._state, limit=limit)

    def recent_labels(self, limit: int = 50, *, annotator: str | None = None) -> list[LabelEvent]:
        """The current human labels, newest first (of ``annotator`` only, if given)."""
        with self._locked():
            return recent_labels(self._state, limit=limit, annotator=annotator)

    # --------------------------------------------------------------- streams
    def decide(self, item_id: str, vector: np.ndarray, *, threshold: float, annotator: str = "",
               lease_seconds: float | None = None, metadata: Mapping[str, Any] | None = None) -> Decision:
        """Answer one streamed item (:mod:`knn_al.projects.streams`): auto-label it if the
        prediction's confidence reaches ``threshold`` (and at least two classes are known),
        else, while the label budget lasts, add it to the pool leased to ``annotator``.
        Its id must be new to the pool and the auto labels."""
        lease = self._lease_length(lease_seconds)
        check_annotator(annotator)
        batch = stream_batch(item_id, vector, metadata, threshold=threshold, dimension=self.settings.dimension)
        with self._locked() as now:
            return decide(self._state, self._log, batch, now, threshold=threshold, lease=Lease(now + lease, annotator),
                          budget_left=self._budget_left, add=self._add_locked)

    # ---------------------------------------------------------- predictions
    def predict(self, ids: Sequence[str] | None = None, *, vectors: np.ndarray | None = None) -> list[Prediction]:
        """Predictions for pool items (``ids``) or arbitrary vectors, with their labeled neighbours."""
        if (ids is None) == (vectors is None):
            raise InvalidInputError("give either item ids or vectors to predict, not both or neither")
        if ids is not None and not ids:
            raise InvalidInputError("no items to predict: the id list is empty")
        with self._locked():
            learner = self.learner
            if vectors is None:
                ids = list(ids or ())  # given and not empty: checked above
                proba, neighbors = learner.predict_proba(ids), learner.neighbors(ids)
            else:
                if len(np.asarray(vectors)) == 0:
                    raise InvalidInputError("no vectors to predict: the batch is empty")
                tracked = learner.track(vectors)  # one search serves the votes and their explanation
                proba, neighbors = tracked.predict_proba(), learner.neighbors(vectors=tracked)
                ids = [""] * len(proba)
            return predictions_of(learner, ids, proba, neighbors)

    def export(self, *, include_predictions: bool = False) -> list[ExportRecord]:
        """Human labels (with annotator and time), then propagated ones, each with its
        item's metadata; with ``include_predictions`` also the streams' auto labels and the
        prediction of every other pool item."""
        with self._locked():
            return export_records(self.learner, self._state.metadata, self._state.history,
                                  auto_labels=self._log.auto_labels() if include_predictions else None)

    # ----------------------------------------------------------------- goals
    def set_goals(self, *, target_accuracy: float | None = None, label_budget: int | None = None) -> ProjectSettings:
        """Change when labeling can stop (``None`` keeps a goal as it is; 0 removes it)."""
        with self._locked():
            settings = self.settings.with_goals(target_accuracy=target_accuracy, label_budget=label_budget)
            with self._log.disk_errors():
                write_settings(self.path, settings)
            self.settings = settings
            return settings

    def progress(self) -> Progress:
        """The live accuracy estimate against the target, and the budget left."""
        with self._locked():
            return progress_of(self.learner, self.settings, leased=len(self._leases))

    def stats(self, *, wait: float | None = None) -> ProjectStats:
        """Counts (labels of each kind, duplicates, outliers) and the quality estimates.
        ``wait``: give up after that many seconds if the project is busy
        (:class:`~knn_al.projects.core.ProjectBusyError`), as a metrics scrape must."""
        with self._locked(wait=wait):
            return stats_of(self.learner, self.settings, leased=len(self._leases),
                            auto_labeled=self._log.count_auto_labels())

    def outliers(self, limit: int = 100) -> list[tuple[str, float]]:
        """Up to ``limit`` outliers (id, density), least dense first, for review."""
        if limit <= 0:
            raise InvalidInputError(f"limit must be positive, got {limit}")
        with self._locked():
            return self.learner.outliers()[:limit]

    def info(self) -> ProjectInfo:
        """Settings, pool size, labeled and leased counts, and labeled items per class."""
        with self._locked():
            return info_of(self.learner, self.settings, leased=len(self._leases))
