"""Validation and normalisation of embedding vectors."""
from __future__ import annotations

import numpy as np

from knn_al.errors import InvalidInputError


def as_unit_vectors(vectors: np.ndarray, *, dimension: int) -> np.ndarray:
    """Return ``vectors`` as a new C-contiguous float32 array of L2-normalised rows.

    Raises :class:`InvalidInputError` naming the first bad row for a wrong shape or
    dimension, NaN/inf, or an all-zero row (it has no direction, so no cosine).
    """
    x = np.asarray(vectors)
    if x.ndim == 1 and x.size == dimension:
        x = x[None, :]
    if x.ndim != 2:
        raise InvalidInputError(f"vectors must be a 2-D array (items × {dimension}), got shape {x.shape}")
    if x.shape[1] != dimension:
        raise InvalidInputError(f"vectors have dimension {x.shape[1]}, this pool expects {dimension}")
    if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
        raise InvalidInputError(f"vectors must be numeric, got dtype {x.dtype}")
    x = np.array(x, dtype=np.float32, order="C", copy=True)
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise InvalidInputError(f"vector at row {row} contains NaN or inf")
    norms = np.linalg.norm(x, axis=1)
    if (norms == 0).any():
        row = int(np.flatnonzero(norms == 0)[0])
        raise InvalidInputError(f"vector at row {row} is all zeros and has no direction")
    x /= norms[:, None]
    return x
