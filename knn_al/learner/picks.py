"""Choosing the next items to label.

The candidates are the available items, one per duplicate group, less the outliers for a
strategy that avoids them. A strategy (:mod:`knn_al.learner.strategies`) scores them
from what the learner's parts keep up to date: the cached uncertainty, the density, the
similarity to the nearest labeled item (column 0 of the neighbour tables) and the
vectors handed out. No pick scans the pool's vectors.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from knn_al.errors import InvalidInputError
from knn_al.learner.classifier import KnnClassifier
from knn_al.learner.groups import DuplicateGroups
from knn_al.learner.pool import Pool
from knn_al.learner.states import AVAILABLE, ItemStates
from knn_al.learner.strategies import Candidates, make_strategy
from knn_al.learner.types import Exponents, Pick
from knn_al.learner.uncertainty_cache import UncertaintyCache
from knn_al.learner.vectors import float32_rows

__all__ = ["Picker"]


class Picker:
    """Picks from the items of ``pool`` by their ``states``, ``groups``, the classifier
    ``knn`` (similarity to the labeled items) and the predicting model's ``uncertainty``
    (a function: the model may change); at most
    ``max_candidates`` are scored per pick, and ``seed`` seeds unseeded picks."""

    def __init__(self, *, pool: Pool, states: ItemStates, groups: DuplicateGroups, knn: KnnClassifier,
                 uncertainty: Callable[[], UncertaintyCache], max_candidates: int, seed: int) -> None:
        self._pool, self._states, self._groups, self._knn = pool, states, groups, knn
        self._uncertainty = uncertainty
        self.max_candidates = max_candidates
        self.seed = seed
        #: Picks asked for so far: each unseeded one draws from a stream of its own.
        self.n_selects_ = 0

    def select(self, count: int, *, strategy: str, measure: str, exponents: Exponents,
               include_outliers: bool, seed: int | None) -> list[Pick]:
        """The next ``count`` items to label, best first (see :meth:`knn_al.learner.Learner.select`)."""
        if count <= 0:
            raise InvalidInputError(f"count must be positive, got {count}")
        chooser = make_strategy(strategy, measure=measure, exponents=exponents)
        # Unseeded calls draw from (learner seed, call number): distinct streams per call
        # that do not collide with another learner seed's.
        rng = np.random.default_rng((self.seed, self.n_selects_) if seed is None else seed)
        self.n_selects_ += 1
        rows = self.candidates(rng, skip_outliers=chooser.avoids_outliers and not include_outliers)
        if len(rows) == 0:
            return []
        pool = self._pool
        candidates = Candidates(
            rows=rows,
            uncertainty=lambda name: self._uncertainty().of(rows, name),
            density=pool.density_[rows],
            similarity=np.maximum(self._knn.nearest_similarity(rows), np.float32(-1)),
            handed_out_vectors=float32_rows(pool.vectors, self._states.handed_out_rows()),
            vectors=lambda r: float32_rows(pool.vectors, r),
        )
        selection = chooser.query(candidates, min(count, len(rows)), rng)
        picked = rows[selection.positions]
        return selection.picks(picked, pool.ids_.ids(picked))

    def mean_uncertainty(self, *, measure: str, seed: int | None) -> float:
        """Mean uncertainty of the candidates (of a random ``max_candidates`` of them on a
        large pool); 1.0 when there is none to measure."""
        rows = self.candidates(np.random.default_rng(self.seed if seed is None else seed))
        if len(rows) == 0:
            return 1.0
        return float(np.mean(self._uncertainty().of(rows, measure)))

    def candidates(self, rng: np.random.Generator, *, skip_outliers: bool = False) -> np.ndarray:
        """The rows a pick may choose from, ascending: available, not kept out by their
        duplicate group, and no outliers if ``skip_outliers``. A random ``max_candidates``
        of them when there are more."""
        status, blocked, pool = self._states.status_, self._groups.blocked_, self._pool

        def eligible(rows: np.ndarray | slice) -> np.ndarray:
            ok = (status[rows] == AVAILABLE) & ~blocked[rows]
            if skip_outliers:
                ok &= pool.density_[rows] >= pool.outlier_threshold_
            return ok

        n = len(status)
        if n > self.max_candidates:
            # Sample a little more than needed and drop ineligible rows, instead of
            # listing every eligible row of a huge pool.
            draw = rng.choice(n, size=min(n, int(self.max_candidates * 1.25) + 16), replace=False)
            draw = draw[eligible(draw)]
            if len(draw) >= self.max_candidates:
                return np.sort(draw[: self.max_candidates])
        available = np.flatnonzero(eligible(slice(None)))
        if len(available) > self.max_candidates:
            available = np.sort(rng.choice(available, size=self.max_candidates, replace=False))
        return available
