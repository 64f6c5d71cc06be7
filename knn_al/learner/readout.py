"""What a learner answers without changing: its fitted results, its labels, predictions
and their neighbours, the accuracy estimate, duplicate groups and outliers.

A mixin of :class:`knn_al.learner.learner.Learner`, which builds the parts these read
(pool, states, groups, classifier, picker) and changes them; nothing here changes one.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from knn_al.errors import InvalidInputError
from knn_al.learner.classifier import KnnClassifier
from knn_al.learner.graph_model import GraphModel, GraphTracked
from knn_al.learner.groups import DuplicateGroups
from knn_al.learner.ids import IdIndex
from knn_al.learner.neighbors import NeighborTables
from knn_al.learner.picks import Picker
from knn_al.learner.pool import Pool
from knn_al.learner.states import REMOVED, SKIPPED, ItemStates
from knn_al.learner.tracked import TrackedVectors
from knn_al.learner.types import AccuracyEstimate, Neighbor, PropagatedLabel
from knn_al.learner.uncertainty import DEFAULT_MEASURE
from knn_al.learner.vectors import as_unit_vectors

__all__ = ["LearnerReadout"]


class LearnerReadout:
    """The read-only answers of a :class:`~knn_al.learner.learner.Learner`."""

    # Supplied by the learner.
    dimension: int
    ids_: IdIndex
    classes_: list[str]
    tables_: NeighborTables
    active_model_: str
    _pool: Pool
    _states: ItemStates
    _groups: DuplicateGroups
    _knn: KnnClassifier
    _graph: GraphModel | None
    _picker: Picker

    # ------------------------------------------------------- fitted results
    @property
    def _predictor(self) -> KnnClassifier | GraphModel:
        """The model predicting now (:attr:`active_model_`)."""
        if self.active_model_ == "graph":
            assert self._graph is not None
            return self._graph
        return self._knn

    @property
    def uncertainty_(self) -> dict[str, np.ndarray]:
        """Every row's uncertainty under the model predicting now, per measure used so far."""
        return self._predictor.uncertainty.values_

    @property
    def n_items(self) -> int:
        """Items in the pool (removed ones are not)."""
        return len(self._pool) - self._states.n_removed_

    @property
    def n_skipped(self) -> int:
        return self._states.n_skipped_

    @property
    def n_labeled(self) -> int:
        return self._knn.slots.n_active()

    @property
    def vectors_(self) -> np.ndarray:
        """Unit vectors of the pool, one row per item, as stored (float16 in a half-precision pool)."""
        return self._pool.vectors

    @property
    def density_(self) -> np.ndarray:
        """Per item, the mean similarity to its nearest other items."""
        return self._pool.density_

    @property
    def outlier_threshold_(self) -> float:
        """Items less dense than this are outliers."""
        return self._pool.outlier_threshold_

    @property
    def status_(self) -> np.ndarray:
        """Where each row stands (:mod:`knn_al.learner.states`)."""
        return self._states.status_

    @property
    def groups_(self) -> np.ndarray:
        """Root row of each row's duplicate group (itself for a singleton)."""
        return self._groups.groups_

    @property
    def propagated_(self) -> np.ndarray:
        """Per row, whether it carries a label propagated from a labeled duplicate."""
        return self._groups.propagated_mask(slice(None), self.status_)

    @property
    def blocked_(self) -> np.ndarray:
        """Rows that are never candidates because of their duplicate group."""
        return self._groups.blocked_

    @property
    def row_slot_(self) -> np.ndarray:
        """Labeled slot (:mod:`knn_al.learner.slots`) of every pool row, -1 for none."""
        return self._knn.row_slot_

    @property
    def slot_row_(self) -> np.ndarray:
        """Pool row of every labeled slot."""
        return self._knn.slots.rows

    @property
    def slot_class_(self) -> np.ndarray:
        """Class code of every labeled slot, -1 where the label was removed."""
        return self._knn.slots.classes

    @property
    def n_slots_(self) -> int:
        return len(self._knn.slots)

    @property
    def pool_nbytes(self) -> int:
        """Bytes of the arrays that grow with the pool, spare vector rows included (over
        ``n_items``: what an item costs); the labeled set's are not counted."""
        arrays = [self.tables_.sim_, self.tables_.slot_, *self._knn.uncertainty.values_.values(), self.status_,
                  self.row_slot_, self.groups_, self.blocked_]
        if self._graph is not None:
            arrays += [*self._graph.neighbors_, *self._graph.uncertainty.values_.values()]
        graph = 0 if self._graph is None else self._graph.propagation.graph.nbytes + self._graph.propagation.nbytes
        return self._pool.nbytes + graph + sum(a.nbytes for a in arrays)

    # ------------------------------------------------------------ ids, labels
    def present(self, ids: Sequence[str]) -> np.ndarray:
        """Which of ``ids`` are in the pool (raises if one is malformed or given twice)."""
        return self.ids_.present(list(ids))

    def ids_of(self, rows: np.ndarray | Sequence[int]) -> list[str]:
        """The ids of pool ``rows``."""
        return self.ids_.ids(rows)

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        """Pool rows of ``ids`` (raises :class:`~knn_al.errors.UnknownItemError`)."""
        return self.ids_.rows(list(ids))

    def labels(self) -> dict[str, str]:
        """Current label of every labeled item, in labeling order."""
        rows, codes = self._knn.labeled()
        return dict(zip(self.ids_.ids(rows), (self.classes_[c] for c in codes)))

    # ------------------------------------------------- groups and outliers
    def propagated_labels(self) -> list[PropagatedLabel]:
        """Labels group members carry from a labeled member, by pool row."""
        rows, sources = self._groups.propagated(self.status_, self._knn.labeled()[0])
        codes = self.slot_class_[self.row_slot_[sources]]
        return [PropagatedLabel(id=i, label=self.classes_[c], source=src)
                for i, c, src in zip(self.ids_.ids(rows), codes, self.ids_.ids(sources))]

    def n_unlabeled(self) -> int:
        """Items with no label yet, human or propagated, and not skipped (leased ones
        included): 0 when the pool is exhausted."""
        return (self.n_items - self.n_labeled - self.n_skipped
                - self._groups.n_propagated(self.status_, excluding=SKIPPED))

    def group_counts(self) -> tuple[int, int]:
        """(duplicate groups of two or more items, items in them)."""
        return self._groups.counts()

    def outliers(self) -> list[tuple[str, float]]:
        """Outliers (density below the ``outlier_quantile`` quantile) as (id, density), least dense first."""
        rows = self._pool.outliers()
        return list(zip(self.ids_.ids(rows), self.density_[rows].tolist()))

    # -------------------------------------------------------------- stopping
    def accuracy_estimate(self) -> AccuracyEstimate:
        """Leave-one-out accuracy of the labeled set (see :mod:`knn_al.learner.stopping`);
        an item whose leave-one-out vote has no neighbour at all counts as wrong."""
        if isinstance(self._predictor, GraphModel):
            return self._predictor.accuracy_estimate(*self._knn.labeled())
        return self._knn.accuracy_estimate()

    def leave_one_out(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each labeled item's prediction as if it were not labeled: (rows, class
        probabilities, whether any labeled neighbour voted at all; under the graph model,
        whether any other label reaches it)."""
        if isinstance(self._predictor, GraphModel):
            rows, codes = self._knn.labeled()
            return (rows, *self._predictor.leave_one_out(rows, codes))
        return self._knn.leave_one_out()

    def mean_uncertainty(self, *, measure: str = DEFAULT_MEASURE, seed: int | None = None) -> float:
        """Mean uncertainty of the unlabeled candidates (of a random ``max_candidates``
        of them on a large pool); 1.0 when there is none to measure."""
        return self._picker.mean_uncertainty(measure=measure, seed=seed)

    # ---------------------------------------------------------- predictions
    def predict_proba(self, ids: Sequence[str]) -> np.ndarray:
        """Class probabilities of pool items, columns in the order of ``classes_``
        (an empty list gives an empty array)."""
        ids = list(ids)
        if not ids:
            return np.empty((0, len(self.classes_)), dtype=np.float32)
        return self._predictor.proba(self.rows(ids))

    def predict_proba_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """Class probabilities of arbitrary vectors (not added to the pool)."""
        return self.track(vectors).predict_proba()

    def track(self, vectors: np.ndarray) -> TrackedVectors | GraphTracked:
        """Vectors outside the pool whose predictions follow later labels cheaply: each
        read offers only the labels given since the previous one (:mod:`knn_al.learner.tracked`);
        under the graph model, from their nearest pool items' scores. With ``model="auto"``
        each read asks the model active then, as :meth:`predict_proba` does."""
        tracked = self._knn.track(as_unit_vectors(vectors, dimension=self.dimension))
        graph = self._graph
        if graph is None:
            return tracked
        return graph.track(tracked, self.vectors_, self._pool.live_rows(), active=lambda: self._predictor is graph)

    def predictions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every pool item's predicted class: (rows of items not removed, class codes into ``classes_``,
        confidence = the winning probability). Empty before the first class."""
        codes, confidence = self._predictor.predictions()
        rows = np.flatnonzero(self.status_[: len(codes)] != REMOVED)
        return rows, codes[rows], confidence[rows]

    def neighbors(self, ids: Sequence[str] | None = None, *,
                  vectors: np.ndarray | TrackedVectors | GraphTracked | None = None) -> list[list[Neighbor]]:
        """The labeled neighbours behind each prediction, most similar first: of pool
        items (``ids``) or of ``vectors`` (an array, or a tracked set of them)."""
        if ids is not None and vectors is None:
            rows = self.rows(list(ids))
            return self._knn.neighbors(*self._knn.table_rows(rows), self.ids_.ids)
        if vectors is not None and ids is None:
            tracked = vectors if isinstance(vectors, (TrackedVectors, GraphTracked)) else self.track(vectors)
            return self._knn.neighbors(*tracked.neighbor_tables(), self.ids_.ids)
        raise InvalidInputError("give either ids or vectors")

    def vote(self, sims: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Class probabilities from neighbour tables (``sims``, ``slots``: n × width),
        columns in the order of ``classes_`` (:func:`knn_al.learner.voting.vote`)."""
        return self._knn.vote(sims, slots)
