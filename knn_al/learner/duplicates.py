"""Duplicate groups: items whose vectors are identical or nearly so.

Labeling two copies of one item teaches the classifier nothing new, so near-duplicates
are grouped at ingestion: only one member of a group is ever handed out, and the label a
human gives any member applies to the whole group (see :class:`knn_al.learner.Learner`).

Groups come from the density search's neighbour lists (:func:`knn_al.learner.pool_knn.pool_neighbors`):
an edge joins two items whose similarity reaches the threshold, and a group is a connected
component of those edges. A group is named by its *root*, its lowest pool row.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["detach", "duplicate_groups", "roots_of"]

#: Identical unit vectors can score a few float32 ulps under 1.
_EXACT_SLACK = 1e-6


def duplicate_groups(sims: np.ndarray, idx: np.ndarray, *, threshold: float) -> np.ndarray:
    """Root row of every row's group, from each row's nearest neighbours.

    ``sims`` and ``idx`` are ``n × m`` (index -1: no neighbour). A singleton is its own root.
    """
    n = len(sims)
    close = (idx >= 0) & (sims >= min(threshold, 1.0) - _EXACT_SLACK)
    source = np.broadcast_to(np.arange(n)[:, None], idx.shape)[close]
    if len(source) == 0:
        return np.arange(n, dtype=np.int32)
    graph = coo_matrix((np.ones(len(source), dtype=np.int8), (source, idx[close])), shape=(n, n))
    _, component = connected_components(graph, directed=True, connection="weak")
    return roots_of(component)


def roots_of(component: np.ndarray) -> np.ndarray:
    """Lowest row of each row's component (components given as any integer labels)."""
    order = np.argsort(component, kind="stable")
    ordered = component[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    # A stable sort lists each component's rows ascending, so its first row is the lowest.
    root = order[first][np.cumsum(first) - 1]
    out = np.empty(len(order), dtype=np.int32)
    out[order] = root
    return out


def detach(groups: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``groups`` with ``rows`` taken out of their groups (each becomes a singleton);
    a group that loses its root is renamed after its next lowest row."""
    if len(rows) == 0:
        return groups
    component = groups.astype(np.int64)
    component[rows] = len(groups) + np.asarray(rows)
    return roots_of(component)
