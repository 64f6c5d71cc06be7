"""The pool survey: what ingestion computes once over the whole pool.

One kNN search over the pool gives each item's density (:mod:`knn_al.learner.density`) and its
near-duplicates (:mod:`knn_al.learner.duplicates`). A project store persists the survey beside the
vectors, so reopening a project repeats neither.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from knn_al.learner.density import density_of
from knn_al.learner.pool_knn import pool_neighbors
from knn_al.learner.duplicates import duplicate_groups
from knn_al.learner.neighbors import search_pool

__all__ = ["PoolSurvey", "survey_addition", "survey_appended", "survey_pool"]


@dataclass(frozen=True)
class PoolSurvey:
    """Per pool row: ``density`` (float32) and ``groups``, the root row of its duplicate
    group (int32; before any group member was detached by hand), and, when the search
    was made here (a survey read back from a project's files has none), ``neighbors``:
    (similarities, rows) of each row's nearest other rows (n × m; -1 for none), the
    graph of :mod:`knn_al.learner.graph`."""

    density: np.ndarray
    groups: np.ndarray
    neighbors: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.density)


def survey_pool(vectors: np.ndarray, *, neighbors: int, exact_limit: int, duplicate_threshold: float,
                seed: int) -> PoolSurvey:
    """Survey a whole pool of unit vectors."""
    sims, idx = pool_neighbors(vectors, neighbors=neighbors, exact_limit=exact_limit, seed=seed)
    return PoolSurvey(density=density_of(sims, idx),
                      groups=duplicate_groups(sims, idx, threshold=duplicate_threshold), neighbors=(sims, idx))


def survey_appended(survey: PoolSurvey, pool: np.ndarray, new: np.ndarray, *, neighbors: int) -> PoolSurvey:
    """The survey after appending ``new`` to ``pool`` without re-surveying the pool.

    For items that arrive one at a time (a stream), where a whole-pool survey per item
    would cost seconds: each new item's density is measured exactly against the existing
    pool, older items keep theirs, and each new item forms its own group.
    """
    m = min(neighbors, len(pool))
    if m == 0:
        density = np.zeros(len(new), dtype=np.float32)
        sims, idx = np.empty((len(new), 0), dtype=np.float32), np.empty((len(new), 0), dtype=np.int64)
    else:
        sims, idx = search_pool(new, pool, m)
        density = density_of(sims, idx)
    start = len(survey)
    return PoolSurvey(density=np.concatenate([survey.density, density]),
                      groups=np.concatenate([survey.groups, np.arange(start, start + len(new), dtype=np.int32)]),
                      neighbors=None if survey.neighbors is None else _stack(survey.neighbors, (sims, idx)))


def _stack(old: tuple[np.ndarray, np.ndarray], new: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour lists of old rows then new rows, padded to the wider (-1 / -inf)."""
    width = max(old[1].shape[1], new[1].shape[1])

    def pad(sims: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        extra = width - idx.shape[1]
        return (np.pad(sims.astype(np.float32), ((0, 0), (0, extra)), constant_values=-np.inf),
                np.pad(idx.astype(np.int64), ((0, 0), (0, extra)), constant_values=-1))

    (s0, i0), (s1, i1) = pad(*old), pad(*new)
    return np.concatenate([s0, s1]), np.concatenate([i0, i1])


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
    new = new.astype(vectors.dtype, copy=False)  # surveyed as the pool will store them
    if append:
        appended = survey_appended(before, pool, new, neighbors=neighbors)
        if whole or appended.neighbors is None:
            return appended
        sims, idx = appended.neighbors  # the new rows' lists name rows of the live pool
        tail = idx[len(vectors):]
        idx[len(vectors):] = np.where(tail >= 0, live[np.maximum(tail, 0)], -1)
        return PoolSurvey(density=appended.density, groups=appended.groups, neighbors=(sims, idx))
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
    assert survey.neighbors is not None  # survey_pool searched
    found_sims, found = survey.neighbors
    sims = np.full((n, found.shape[1]), -np.inf, dtype=np.float32)
    idx = np.full((n, found.shape[1]), -1, dtype=np.int64)
    sims[rows], idx[rows] = found_sims, np.where(found >= 0, rows[np.maximum(found, 0)], -1)
    return PoolSurvey(density=density, groups=groups, neighbors=(sims, idx))
