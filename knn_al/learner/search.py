""""More like this": the pool items most similar to an item or a vector.

An exact inner-product search over every pool vector (one matrix-vector product: a few
milliseconds on a 100k × 512 pool), so a rare class the picks have not reached yet is
found whenever one of its items is. Removed items are never found.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from knn_al.errors import InvalidInputError
from knn_al.learner.states import LABELED, REMOVED
from knn_al.learner.neighbors import BLOCK_ROWS
from knn_al.learner.vectors import as_unit_vectors, float32_blocks

if TYPE_CHECKING:
    from knn_al.learner.learner import Learner

__all__ = ["MAX_SEARCH_LIMIT", "search"]

#: Most hits one search returns.
MAX_SEARCH_LIMIT = 1_000


def search(learner: Learner, *, item_id: str | None = None, vector: np.ndarray | None = None, limit: int = 10,
           unlabeled_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The ``limit`` pool rows most similar to the item ``item_id`` (itself excluded) or
    to ``vector`` (exactly one of them), most similar first (equal ones by row): (rows,
    similarities). ``unlabeled_only`` leaves out items with a label, human or propagated."""
    if (item_id is None) == (vector is None):
        raise InvalidInputError("give either an item id or a vector to search by, not both or neither")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_SEARCH_LIMIT:
        raise InvalidInputError(f"limit must be an integer between 1 and {MAX_SEARCH_LIMIT}, got {limit!r}")
    status = learner.status_
    eligible = status != REMOVED
    if item_id is not None:
        row = int(learner.rows([item_id])[0])
        query = learner.vectors_[row].astype(np.float32)
        eligible[row] = False
    else:
        query = as_unit_vectors(np.asarray(vector), dimension=learner.dimension)
        if len(query) != 1:
            raise InvalidInputError(f"search by one vector, got {len(query)}")
        query = query[0]
    if unlabeled_only:
        eligible &= (status != LABELED) & ~learner.propagated_
    rows = np.flatnonzero(eligible)
    sims = np.concatenate([block @ query for _, block in float32_blocks(learner.vectors_, BLOCK_ROWS)])[rows]
    if len(rows) > limit:
        top = np.argpartition(-sims, limit - 1)[:limit]
        rows, sims = rows[top], sims[top]
    order = np.lexsort((rows, -sims))
    return rows[order], sims[order]
