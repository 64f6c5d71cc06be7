"""The pool survey: what ingestion computes once over the whole pool.

One kNN search over the pool gives each item's density (:mod:`knn_al.learner.density`) and its
near-duplicates (:mod:`knn_al.learner.duplicates`). A project store persists the survey beside the
vectors, so reopening a project repeats neither.
"""
from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from knn_al.learner.density import density_of, pool_neighbors
from knn_al.learner.duplicates import duplicate_groups

__all__ = ["PoolSurvey", "survey_addition", "survey_appended", "survey_pool"]


@dataclass(frozen=True)
class PoolSurvey:
    """Per pool row: ``density`` (float32) and ``groups``, the root row of its duplicate
    group (int32; before any group member was detached by hand)."""

    density: np.ndarray
    groups: np.ndarray

    def __len__(self) -> int:
        return len(self.density)


def survey_pool(vectors: np.ndarray, *, neighbors: int, exact_limit: int, duplicate_threshold: float,
                seed: int) -> PoolSurvey:
    """Survey a whole pool of unit vectors."""
    sims, idx = pool_neighbors(vectors, neighbors=neighbors, exact_limit=exact_limit, seed=seed)
    return PoolSurvey(density=density_of(sims, idx),
                      groups=duplicate_groups(sims, idx, threshold=duplicate_threshold))


def survey_appended(survey: PoolSurvey, pool: np.ndarray, new: np.ndarray, *, neighbors: int) -> PoolSurvey:
    """The survey after appending ``new`` to ``pool`` without re-surveying the pool.

    For items that arrive one at a time (a stream), where a whole-pool survey per item
    would cost seconds: each new item's density is measured exactly against the existing
    pool, older items keep theirs, and each new item forms its own group.
    """
    m = min(neighbors, len(pool))
    if m == 0:
        density = np.zeros(len(new), dtype=np.float32)
    else:
        sims, idx = faiss.knn(np.ascontiguousarray(new, dtype=np.float32), np.ascontiguousarray(pool), m,
                              metric=faiss.METRIC_INNER_PRODUCT)
        density = density_of(sims, idx)
    start = len(survey)
    return PoolSurvey(density=np.concatenate([survey.density, density]),
                      groups=np.concatenate([survey.groups, np.arange(start, start + len(new), dtype=np.int32)]))


def survey_addition(vectors: np.ndarray, live: np.ndarray, new: np.ndarray, *, before: PoolSurvey, append: bool,
                    neighbors: int, exact_limit: int, duplicate_threshold: float, seed: int) -> PoolSurvey:
    """The survey of the pool of rows ``vectors`` after appending ``new``: of the whole
    pool again (:func:`survey_pool`), or, with ``append``, of the new rows only
    (:func:`survey_appended`, ``before`` being the pool's survey now).

    Only the ``live`` rows (ascending) and the new ones take part: a removed item is no
    neighbour of anything, has density 0 and a group of its own.
    """
    whole = len(live) == len(vectors)
    pool = vectors if whole else vectors[live]
    if append:
        return survey_appended(before, pool, new, neighbors=neighbors)
    survey = survey_pool(np.concatenate([pool, new]) if len(pool) else new, neighbors=neighbors,
                         exact_limit=exact_limit, duplicate_threshold=duplicate_threshold, seed=seed)
    if whole:
        return survey
    n = len(vectors) + len(new)
    rows = np.concatenate([live, np.arange(len(vectors), n)])
    density = np.zeros(n, dtype=np.float32)
    density[rows] = survey.density
    groups = np.arange(n, dtype=np.int32)
    groups[rows] = rows[survey.groups]  # rows ascend: each group's root stays its lowest row
    return PoolSurvey(density=density, groups=groups)
