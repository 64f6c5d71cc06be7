"""The learner: a pool of unit vectors, its labels, and the picks and predictions they give.

Pure numpy + FAISS: no TensorFlow, no grpc. All vectors are L2-normalised and similarity
is the inner product (cosine). :class:`Learner` coordinates its parts: the pool's items
(:mod:`~knn_al.learner.pool`), where each stands (:mod:`~knn_al.learner.states`), their
duplicate groups (:mod:`~knn_al.learner.groups`), the kNN classifier over the labels
(:mod:`~knn_al.learner.classifier`) and the picks (:mod:`~knn_al.learner.picks`). It builds
them and changes them; what it answers without changing anything (fitted results,
predictions, neighbours, estimates) is :class:`~knn_al.learner.readout.LearnerReadout`.

Every mutating method validates its whole input before it changes anything, so a call
that raises leaves the learner exactly as it was.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from knn_al.errors import InvalidInputError, StateError, shown
from knn_al.learner.classifier import KnnClassifier
from knn_al.learner.graph_model import GraphModel
from knn_al.learner.groups import DuplicateGroups
from knn_al.learner.params import LEARNER_PARAMS, check, defaults
from knn_al.learner.picks import Picker
from knn_al.learner.pool import Pool
from knn_al.learner.readout import LearnerReadout
from knn_al.learner.persist import SavedLearner, read_learner, write_learner
from knn_al.learner.states import LABELED, REMOVED, SKIPPED, ItemStates
from knn_al.learner.strategies import DEFAULT_STRATEGY
from knn_al.learner.survey import PoolSurvey, survey_addition
from knn_al.learner.types import DEFAULT_EXPONENTS, Exponents, Pick
from knn_al.learner.uncertainty import DEFAULT_MEASURE
from knn_al.learner.vectors import as_unit_vectors

__all__ = ["SWITCH_MARGIN", "Learner"]

_DEFAULTS = defaults(LEARNER_PARAMS)
#: Under model "auto", the other model takes over once its leave-one-out predictions are
#: right for this many more labeled items (or 2% of them, if more), so that one lucky label
#: does not make the models flap.
SWITCH_MARGIN = 2


class Learner(LearnerReadout):
    """An active-learning pool with a kNN classifier that learns one label at a time.

    Parameters (defaults and rules: :data:`knn_al.learner.params.LEARNER_PARAMS`)
    ----------
    dimension : length of every vector.
    k : labeled neighbours that vote in a prediction (all of them while fewer exist).
    smoothing : additive smoothing of the similarity-weighted votes over the known
        classes; weak, mixed evidence stays uncertain.
    density_neighbors : m, the pool neighbours whose mean similarity is an item's density.
    exact_density_limit : pools up to this size get an exact density search, larger
        ones an approximate one.
    duplicate_threshold : items at least this similar form a duplicate group
        (:mod:`knn_al.learner.duplicates`): one member is handed out, its label applies to all.
        1.0 groups identical vectors only.
    outlier_quantile : items whose density is below this quantile of the pool's are
        outliers, which the combined strategy does not pick unless asked. 0: none.
    max_candidates : pools with more available items than this score a random subset of
        this size per pick, which bounds pick latency on very large pools.
    classes : a fixed label set; labels outside it are rejected. ``None``: any label is
        accepted and becomes a known class from then on.
    seed : default seed of picks and of the approximate density index.
    model : what predicts: ``"knn"``, the labeled neighbours' vote, ``"graph"``, labels
        propagated over the pool's neighbour graph (:mod:`knn_al.learner.graph_model`), or
        ``"auto"``: both kept, and the one with the better leave-one-out accuracy on the
        labels so far predicts (:attr:`active_model_`; it changes only when the other is
        clearly better, see :data:`SWITCH_MARGIN`). Probabilities, uncertainty, leave-one-out
        and predictions follow the model; the diversity of picks and the explanations are
        the labeled neighbours' either way.
    vector_dtype : how the pool stores its vectors: ``"float32"``, or ``"float16"``, half
        the memory; similarities are then those of the vectors rounded to half precision
        (~3 decimal places), computed in float32.
    """

    def __init__(self, *, dimension: int, k: int = _DEFAULTS["k"], smoothing: float = _DEFAULTS["smoothing"],
                 density_neighbors: int = _DEFAULTS["density_neighbors"],
                 exact_density_limit: int = _DEFAULTS["exact_density_limit"],
                 duplicate_threshold: float = _DEFAULTS["duplicate_threshold"],
                 outlier_quantile: float = _DEFAULTS["outlier_quantile"],
                 max_candidates: int = _DEFAULTS["max_candidates"], classes: Sequence[str] | None = None,
                 seed: int = _DEFAULTS["seed"], model: str = _DEFAULTS["model"],
                 vector_dtype: str = _DEFAULTS["vector_dtype"]) -> None:
        check(LEARNER_PARAMS, locals())  # every parameter of the table is an argument of the same name
        self.dimension = dimension
        self.k = k
        self.smoothing = float(smoothing)
        self.density_neighbors = density_neighbors
        self.exact_density_limit = exact_density_limit
        self.duplicate_threshold = float(duplicate_threshold)
        self.outlier_quantile = float(outlier_quantile)
        self.max_candidates = max_candidates
        self.seed = seed
        self.model = model
        self.classes = tuple(classes) if classes is not None else None
        self.vector_dtype = vector_dtype
        self._pool = self._new_pool()
        self._states = ItemStates()
        self._groups = DuplicateGroups()
        self._knn = self._new_classifier()
        self._graph = GraphModel(classes=self._knn.classes) if model != "knn" else None
        #: The model predicting now: ``model`` itself, or under "auto" the better one so far
        #: (graph to begin with: it needs fewer labels, see the README's simulations).
        self.active_model_ = "knn" if model == "knn" else "graph"
        self._picker = Picker(pool=self._pool, states=self._states, groups=self._groups, knn=self._knn,
                              uncertainty=lambda: self._predictor.uncertainty, max_candidates=max_candidates,
                              seed=seed)
        # Fitted results that are objects of the parts, updated in place and never replaced:
        self.ids_ = self._pool.ids_
        self.classes_ = self._knn.classes.names_  #: in the order of every probability's columns
        self.handed_out_ = self._states.handed_out_  #: rows handed out now
        self.tables_ = self._knn.tables_  #: each pool row's k nearest labeled items
        self.loo_tables_ = self._knn.loo.tables_  #: each labeled slot's k + 1 nearest labeled slots

    def _new_pool(self) -> Pool:
        """The pool's items (a sharded learner's keeps their vectors on its shards)."""
        return Pool(dimension=self.dimension, outlier_quantile=self.outlier_quantile, vector_dtype=self.vector_dtype)

    def _new_classifier(self) -> KnnClassifier:
        """The kNN model (a sharded learner's keeps its tables on its shards)."""
        return KnnClassifier(dimension=self.dimension, k=self.k, smoothing=self.smoothing, classes=self.classes,
                             measure=DEFAULT_MEASURE)

    @classmethod
    def from_settings(cls, settings: object, **overrides: Any) -> Learner:
        """A learner with the parameters ``settings`` has attributes for (named as in
        :data:`~knn_al.learner.params.LEARNER_PARAMS`), its ``labels`` as the fixed label
        set (empty or absent: any label), and ``overrides`` (keyword arguments) on top."""
        options = {p.name: getattr(settings, p.name) for p in LEARNER_PARAMS if hasattr(settings, p.name)}
        labels = getattr(settings, "labels", None)
        options["classes"] = list(labels) if labels else None
        return cls(**{**options, **overrides})

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the learner to the new directory ``path``: its parameters, items, labels
        and skips, in the documented format of :mod:`knn_al.learner.persist` (no pickle).
        Items handed out are not saved."""
        rows = np.flatnonzero(self.status_ != REMOVED)
        params: dict[str, Any] = {p.name: getattr(self, p.name) for p in LEARNER_PARAMS}
        params["classes"] = list(self.classes) if self.classes is not None else None
        skipped = np.flatnonzero((self.status_ == SKIPPED) & ~self.propagated_)
        return write_learner(SavedLearner(params=params, ids=self.ids_of(rows), vectors=self.vectors_[rows],
                                          known_classes=list(self.classes_), active_model=self.active_model_,
                                          labels=list(self.labels().items()), skipped=self.ids_of(skipped)), path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Learner:
        """The learner :meth:`save` wrote to ``path``, rebuilt from its items, labels and
        skips: the same predictions and, for a seed, the same picks."""
        saved = read_learner(path)
        learner = cls(**saved.params)
        for name in saved.known_classes:  # the columns in the saved order, emptied classes included
            learner._knn.classes.code(name)
        if saved.ids:
            learner.add_items(saved.ids, saved.vectors)
        if saved.labels:
            learner.label([item for item, _ in saved.labels], [label for _, label in saved.labels])
        if saved.skipped:
            learner.skip(saved.skipped)
        learner.active_model_ = saved.active_model  # auto's choice depends on the labels' history
        return learner

    # ----------------------------------------------------------------- pool
    def add_items(self, ids: Sequence[str], vectors: np.ndarray, *, survey: PoolSurvey | None = None) -> None:
        """Add items to the pool and survey the whole pool again (density, duplicates).

        ``survey`` (optional) is the pool's survey after this addition, as
        :meth:`survey` computed it earlier (a project store persists it); it skips the
        kNN search.
        """
        encoded, x = self._pool.checked(ids, vectors)  # rounded once, as the pool keeps them
        survey = self._survey(x, append=False) if survey is None else survey
        if self._graph is not None and survey.neighbors is None:  # a survey read back from files
            survey = self._survey(x, append=False)
        self._pool.append(encoded, x, survey.density)
        self._states.grow(len(x))
        self._knn.add_rows(self.vectors_)
        self._groups.surveyed(survey.groups, self.status_)
        if self._graph is not None:
            assert survey.neighbors is not None
            self._graph.regraph(survey.neighbors, self._knn.labeled())
            self._choose_model()

    def survey(self, vectors: np.ndarray, *, append: bool = False, without: Sequence[str] = ()) -> PoolSurvey:
        """The pool's survey after adding ``vectors`` (unit rows), without adding them.

        By default the whole pool is surveyed again (a kNN search over all of it). With
        ``append`` only the new items are measured, against the current pool, and older
        items keep their density: the cheap path for items arriving one at a time.
        ``without``: items to be removed before the addition (:meth:`remove`), left out.
        Removed items take no part (:func:`~knn_al.learner.survey.survey_addition`).
        """
        without_rows = self.rows(without) if len(without) else None
        return self._survey(as_unit_vectors(vectors, dimension=self.dimension), append=append, without=without_rows)

    def _survey(self, x: np.ndarray, *, append: bool, without: np.ndarray | None = None) -> PoolSurvey:
        """:meth:`survey` of unit rows ``x``."""
        return survey_addition(self.vectors_, self._pool.live_rows(without=without), x,
                               before=PoolSurvey(density=self.density_, groups=self.groups_,
                                                 neighbors=None if self._graph is None else self._graph.neighbors_),
                               append=append,
                               neighbors=self.density_neighbors, exact_limit=self.exact_density_limit,
                               duplicate_threshold=self.duplicate_threshold, seed=self.seed)

    def check_new_ids(self, ids: Sequence[str]) -> None:
        """Raise if ``ids`` cannot be added: not unique, already in the pool, or malformed."""
        self.ids_.check_new(list(ids))

    def remove(self, ids: Sequence[str]) -> None:
        """Remove items from the pool for good: their labels (and what those propagated)
        go, they leave their duplicate groups, they are no candidates, surveys leave them
        out, and their ids are unknown from then on, free to be added again."""
        rows = self.check_remove(ids)
        labeled = rows[self.status_[rows] == LABELED]
        if len(labeled):
            self._knn.unlabel(labeled, self.vectors_)
        self._states.remove(rows)
        self._groups.detach(rows, self.status_)
        self._pool.remove(rows)
        if self._graph is not None:
            self._graph.remove(rows, self._knn.labeled())
            self._choose_model()

    def check_remove(self, ids: Sequence[str]) -> np.ndarray:
        """Raise what :meth:`remove` would raise, changing nothing; returns the rows."""
        return self.batch_rows(ids, doing="to remove")

    def batch_rows(self, ids: Sequence[str], *, doing: str) -> np.ndarray:
        """Rows of a batch of items: not empty, each known and named once (``doing``: what
        the batch is for, in the message)."""
        if not ids:
            raise InvalidInputError(f"no items {doing}: the list is empty")
        return self.ids_.unique_rows(list(ids))

    # --------------------------------------------------------------- labels
    def label(self, ids: Sequence[str], labels: Sequence[str]) -> list[str]:
        """Label items (a relabel if already labeled). Handed-out items are released.

        A batch costs one pass over the pool for its new labels; relabels cost O(1) in the
        kNN model. The graph model computes a class that loses a label again from its other
        labels (:meth:`~knn_al.learner.propagation.Propagation.withdraw`): measured at
        100k × 64, 20 classes, 500 labels, a relabel 79 ms against 3.3 ms for a new label.
        Returns the ids of the duplicate-group members the labels propagated to.
        """
        ids, labels = list(ids), list(labels)
        rows = self.check_label(ids, labels)
        old = self._codes(rows) if self._graph is not None else None
        new_rows = self._knn.label(rows, labels, self.vectors_)
        if self._graph is not None and old is not None:
            self._graph.relabel(rows, old, self._codes(rows))
            self._choose_model()
        if len(new_rows):
            self._states.labeled(new_rows)
            self._groups.refresh_blocked(self.status_)
        return self.ids_.ids(self._groups.propagation_targets(rows, self.status_))

    def check_label(self, ids: Sequence[str], labels: Sequence[str]) -> np.ndarray:
        """Raise what :meth:`label` would raise for this batch, changing nothing; returns
        the items' rows. A durable store validates before it commits, and applies after."""
        ids, labels = list(ids), list(labels)
        if not ids:
            raise InvalidInputError("no labels to submit: the batch is empty")
        if len(ids) != len(labels):
            raise InvalidInputError(f"{len(ids)} ids but {len(labels)} labels")
        rows = self.ids_.unique_rows(ids)
        self.check_label_names(ids, labels)
        return rows

    def check_label_names(self, ids: Sequence[str], labels: Sequence[str]) -> None:
        """Raise if a label is not a non-empty string of the label set (``ids`` name the
        items in the message; they need not be in the pool yet)."""
        self._knn.classes.check(ids, labels)

    def unlabel(self, ids: Sequence[str]) -> None:
        """Remove labels; the items return to the pool of candidates.

        Removing a human label also withdraws what it propagated to its duplicate
        group. Removing a *propagated* label takes that item out of its group instead:
        it is not a duplicate after all, and becomes a candidate of its own.
        """
        rows = self.check_unlabel(ids)
        labeled = self.status_[rows] == LABELED
        if not labeled.all():
            self._groups.detach(rows[~labeled], self.status_)
        if labeled.any():
            old = self._codes(rows[labeled])
            self._knn.unlabel(rows[labeled], self.vectors_)
            self._states.unlabeled(rows[labeled])
            if self._graph is not None:
                self._graph.relabel(rows[labeled], old, np.full(len(old), -1))
                self._choose_model()
        self._groups.refresh_blocked(self.status_)

    def _choose_model(self) -> None:
        """Under "auto", predict with the model whose leave-one-out predictions are right
        more often, switching only when the other leads by :data:`SWITCH_MARGIN`."""
        if self.model != "auto" or self._graph is None:
            return
        knn = self._knn.accuracy_estimate()
        graph = self._graph.accuracy_estimate(*self._knn.labeled())
        if knn.labeled == 0:
            return
        correct = {"knn": round(knn.accuracy * knn.labeled), "graph": round(graph.accuracy * graph.labeled)}
        other = "graph" if self.active_model_ == "knn" else "knn"
        if correct[other] - correct[self.active_model_] >= max(SWITCH_MARGIN, 0.02 * knn.labeled):
            self.active_model_ = other

    def _codes(self, rows: np.ndarray) -> np.ndarray:
        """The class code of each row's label, -1 where it has none."""
        slots = self.row_slot_[rows]
        codes = np.full(len(rows), -1, dtype=np.int64)
        codes[slots >= 0] = self.slot_class_[slots[slots >= 0]]
        return codes

    def check_unlabel(self, ids: Sequence[str]) -> np.ndarray:
        """Raise what :meth:`unlabel` would raise, changing nothing; returns the rows."""
        ids = list(ids)
        if not ids:
            raise InvalidInputError("no labels to remove: the batch is empty")
        rows = self.ids_.unique_rows(ids)
        unknown = (self.status_[rows] != LABELED) & ~self._groups.propagated_mask(rows, self.status_)
        if unknown.any():
            raise StateError(f"item {shown(ids[int(np.flatnonzero(unknown)[0])])} has no label to remove")
        return rows

    # --------------------------------------------------------------- leases
    def hand_out(self, ids: Sequence[str]) -> None:
        """Mark available items as handed out: no longer candidates, and they lower
        their neighbours' diversity until labeled or released."""
        rows = self.check_hand_out(ids)
        self._states.hand_out(rows)
        self._groups.status_changed(rows, self.status_)

    def check_hand_out(self, ids: Sequence[str]) -> np.ndarray:
        """Raise what :meth:`hand_out` would raise, changing nothing; returns the rows."""
        ids = list(ids)
        rows = self.ids_.unique_rows(ids)
        self._states.check_available(rows, ids)
        return rows

    def check_release(self, ids: Sequence[str]) -> np.ndarray:
        """Raise what :meth:`release` would raise, changing nothing; returns the rows."""
        ids = list(ids)
        rows = self.ids_.unique_rows(ids)
        self._states.check_handed_out(rows, ids)
        return rows

    def release(self, ids: Sequence[str]) -> None:
        """Return handed-out items to the candidates."""
        rows = self.check_release(ids)
        self._states.release(rows)
        self._groups.status_changed(rows, self.status_)

    def skip(self, ids: Sequence[str]) -> None:
        """Set unlabeled items aside (unclear, not applicable): no candidates until
        :meth:`unskip`; handed-out ones are released. Skipping a skipped item changes
        nothing; labeling it labels it."""
        rows = self.check_skip(ids)
        self._states.skip(rows)
        self._groups.status_changed(rows, self.status_)

    def check_skip(self, ids: Sequence[str]) -> np.ndarray:
        """Raise what :meth:`skip` would raise, changing nothing; returns the rows."""
        ids = list(ids)
        rows = self.batch_rows(ids, doing="to skip")
        labeled = (self.status_[rows] == LABELED) | self._groups.propagated_mask(rows, self.status_)
        if labeled.any():
            raise StateError(f"item {shown(ids[int(np.flatnonzero(labeled)[0])])} is labeled: remove its label "
                             "first")
        return rows

    def unskip(self, ids: Sequence[str]) -> None:
        """Make skipped items candidates again."""
        rows = self.check_unskip(ids)
        self._states.unskip(rows)
        self._groups.status_changed(rows, self.status_)

    def check_unskip(self, ids: Sequence[str]) -> np.ndarray:
        """Raise what :meth:`unskip` would raise, changing nothing; returns the rows."""
        ids = list(ids)
        rows = self.batch_rows(ids, doing="to unskip")
        self._states.check_skipped(rows, ids)
        return rows

    # ---------------------------------------------------------------- picks
    def select(self, count: int = 1, *, strategy: str = DEFAULT_STRATEGY, measure: str = DEFAULT_MEASURE,
               exponents: Exponents = DEFAULT_EXPONENTS, include_outliers: bool = False,
               seed: int | None = None) -> list[Pick]:
        """The next ``count`` items to label, best first. Does not hand them out.

        Candidates are the available items, one per duplicate group; the combined
        strategy also leaves out outliers unless ``include_outliers``.
        ``seed`` makes the pick reproducible (candidate subsampling, random strategy,
        tie breaks); by default each call derives a fresh one from the learner's seed.
        Fewer than ``count`` picks come back when fewer items are available.
        """
        return self._picker.select(count, strategy=strategy, measure=measure, exponents=exponents,
                                   include_outliers=include_outliers, seed=seed)
