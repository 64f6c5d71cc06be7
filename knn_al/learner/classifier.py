"""The kNN classifier over a pool, kept up to date one label at a time.

"Training" is inserting a labeled vector into every pool row's neighbour table
(:mod:`knn_al.learner.neighbors`); a prediction is a vote over a row's table
(:mod:`knn_al.learner.voting`). What follows from the tables is kept beside them: every
row's uncertainty (:mod:`knn_al.learner.uncertainty_cache`), and the leave-one-out tables
of the labeled set behind the accuracy estimate (:mod:`knn_al.learner.leave_one_out`).
Labels are kept as slots (:mod:`knn_al.learner.slots`), classes as a label set
(:mod:`knn_al.learner.label_set`).

The classifier knows pool rows and their vectors only: ids, leases, duplicate groups and
picks are the :class:`~knn_al.learner.Learner`'s, which checks every input first.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import knn_al.learner.voting as voting
from knn_al.learner.label_set import LabelSet
from knn_al.learner.leave_one_out import LeaveOneOut
from knn_al.learner.neighbors import NeighborTables
from knn_al.learner.slots import LabeledSlots
from knn_al.learner.tracked import TrackedVectors
from knn_al.learner.types import AccuracyEstimate, Neighbor
from knn_al.learner.uncertainty_cache import UncertaintyCache

__all__ = ["KnnClassifier"]


class KnnClassifier:
    """Votes of the ``k`` most similar labeled items with additive ``smoothing``;
    ``classes``: a fixed label set, or ``None``; ``measure``: the uncertainty cached
    from the start."""

    def __init__(self, *, dimension: int, k: int, smoothing: float, classes: Sequence[str] | None,
                 measure: str) -> None:
        self.k = k
        self.smoothing = smoothing
        self.classes = LabelSet(classes)
        self.slots = LabeledSlots(dimension=dimension)
        #: Slot of each pool row's label; -1: no label.
        self.row_slot_ = np.empty(0, dtype=np.int32)
        #: Each pool row's k nearest labeled slots.
        self.tables_ = NeighborTables(k=k)
        self.uncertainty = UncertaintyCache(self.candidate_proba, measure=measure)
        self.loo = LeaveOneOut(k=k)

    def add_rows(self, pool: np.ndarray) -> None:
        """Take in the rows just appended to ``pool`` (every pool row's unit vector)."""
        start, n_new = len(self.row_slot_), len(pool) - len(self.row_slot_)
        self.row_slot_ = np.concatenate([self.row_slot_, np.full(n_new, -1, dtype=np.int32)])
        self.tables_.grow(n_new)
        slots = self.slots.active()
        self.tables_.recompute(np.arange(start, len(pool)), pool, self.slots.vectors_of(slots), slots)
        self.uncertainty.grow(n_new)

    def label(self, rows: np.ndarray, names: Sequence[str], pool: np.ndarray) -> np.ndarray:
        """Label pool ``rows`` (unique) with class ``names`` (checked); rows labeled already
        are relabeled. Returns the rows that had no label."""
        n_classes = len(self.classes)
        codes = self.codes(names)
        relabel = self.row_slot_[rows] >= 0
        new_rows = rows[~relabel]
        self.row_slot_[new_rows] = self.apply_labels(self.row_slot_[rows[relabel]], codes[relabel], new_rows,
                                                     codes[~relabel], pool[new_rows], pool, n_classes=n_classes)
        return new_rows

    def codes(self, names: Sequence[str]) -> np.ndarray:
        """Class codes of ``names`` (checked), new classes added in order of appearance."""
        return np.array([self.classes.code(name) for name in names], dtype=np.int32)

    def apply_labels(self, old_slots: np.ndarray, old_codes: np.ndarray, rows: np.ndarray, codes: np.ndarray,
                     vectors: np.ndarray, pool: np.ndarray, *, n_classes: int) -> np.ndarray:
        """Give labeled ``old_slots`` the classes ``old_codes`` and append slots for labeled
        items named ``rows`` (classes ``codes``, unit ``vectors``); the tables of the rows of
        ``pool`` and their uncertainty follow. ``n_classes``: how many classes were known
        before (a new class changes every row's smoothing). Returns the new slots.

        ``rows`` are only recorded: a shard of a sharded pool (:mod:`knn_al.learner.shard`)
        labels items that are not among its own rows."""
        changed = old_slots[self.slots.classes[old_slots] != old_codes]
        self.slots.set_classes(old_slots, old_codes)
        touched = [self.tables_.rows_referencing(changed)] if len(changed) else []
        slots = np.empty(0, dtype=np.int32)
        if len(rows):
            slots = self.slots.append(rows, codes, vectors)
            touched.append(self.tables_.insert(pool, self.slots.vectors_of(slots), slots))
        # A new class changes every row's smoothing; otherwise only the rows whose
        # neighbours (or their classes) changed.
        if len(self.classes) != n_classes:
            self.uncertainty.refresh()
        elif touched:
            # Each list is ascending and unique (insert returns rows block by block).
            self.uncertainty.refresh(touched[0] if len(touched) == 1 else np.unique(np.concatenate(touched)))
        return slots

    def unlabel(self, rows: np.ndarray, pool: np.ndarray) -> None:
        """Remove the labels of pool ``rows`` (labeled, unique)."""
        self.loo.catch_up(self.slots)  # the removal below rebuilds rows against every current slot
        slots = self.row_slot_[rows]
        self.row_slot_[rows] = -1
        self.remove_slots(slots, pool)
        self.loo.removed(slots, self.slots)

    def remove_slots(self, slots: np.ndarray, pool: np.ndarray) -> None:
        """Withdraw the labels of ``slots``: the rows of ``pool`` whose tables held them are
        searched again among the remaining labels."""
        self.slots.set_classes(slots, -1)
        active = self.slots.active()
        affected = self.tables_.rows_referencing(slots)
        self.tables_.recompute(affected, pool, self.slots.vectors_of(active), active)
        self.uncertainty.refresh(affected)

    def labeled(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, class codes) of the labeled items, in labeling order."""
        slots = self.slots.active()
        return self.slots.rows[slots], self.slots.classes[slots]

    def accuracy_estimate(self) -> AccuracyEstimate:
        """Leave-one-out accuracy of the labeled set (:mod:`knn_al.learner.leave_one_out`)."""
        return self.loo.estimate(self.slots, self.vote)

    def leave_one_out(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, leave-one-out class probabilities, whether any neighbour voted) of the labeled items."""
        slots, proba, voted = self.loo.predictions(self.slots, self.vote)
        return self.slots.rows[slots], proba, voted

    def vote(self, sims: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Class probabilities from neighbour tables (:func:`knn_al.learner.voting.vote`)."""
        return voting.vote(sims, slots, self.slots.classes, n_classes=len(self.classes), smoothing=self.smoothing)

    def proba(self, rows: np.ndarray) -> np.ndarray:
        """Class probabilities of pool ``rows``."""
        return self.vote(*self.table_rows(rows))

    def table_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, slots) of the neighbour tables of pool ``rows``."""
        return self.tables_.sim_[rows], self.tables_.slot_[rows]

    def nearest_similarity(self, rows: np.ndarray) -> np.ndarray:
        """Similarity of pool ``rows`` to their nearest labeled item (float32; -inf: none)."""
        return self.tables_.sim_[rows, 0]

    def candidate_proba(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities of pool ``rows`` for scoring candidates
        (:func:`knn_al.learner.voting.candidate_proba`)."""
        return voting.candidate_proba(self.tables_.sim_[rows], self.tables_.slot_[rows], self.slots.classes,
                                      n_classes=len(self.classes), smoothing=self.smoothing, k=self.k)

    def track(self, vectors: np.ndarray) -> TrackedVectors:
        """Unit ``vectors`` outside the pool whose predictions follow the labels (:mod:`knn_al.learner.tracked`)."""
        return TrackedVectors(vectors, slots=self.slots, k=self.k, vote=self.vote)

    def neighbors(self, sims: np.ndarray, slots: np.ndarray,
                  ids_of: Callable[[np.ndarray], list[str]]) -> list[list[Neighbor]]:
        """The labeled items in neighbour tables (``sims``, ``slots``), most similar first;
        ``ids_of`` names pool rows."""
        result = []
        for row_sims, row_slots in zip(sims, slots):
            keep = row_slots >= 0
            row_slots = row_slots[keep]
            names = ids_of(self.slots.rows[row_slots])
            result.append([Neighbor(id=n, similarity=float(s), label=self.classes.names_[self.slots.classes[sl]])
                           for n, s, sl in zip(names, row_sims[keep], row_slots)])
        return result

    def predictions(self) -> tuple[np.ndarray, np.ndarray]:
        """Every pool row's predicted class code and its probability (empty before the first class)."""
        n = len(self.row_slot_) if len(self.classes) else 0
        codes = np.empty(n, dtype=np.int64)
        confidence = np.empty(n, dtype=np.float64)
        for start in range(0, n, 65_536):
            proba = self.proba(np.arange(start, min(n, start + 65_536)))
            codes[start : start + len(proba)] = proba.argmax(axis=1)
            confidence[start : start + len(proba)] = proba.max(axis=1)
        return codes, confidence
