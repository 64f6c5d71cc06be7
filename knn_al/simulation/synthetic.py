"""Synthetic pools for tests, benchmarks and examples: clustered unit-vector-like data."""
from __future__ import annotations

import numpy as np

__all__ = ["clustered_vectors"]


def clustered_vectors(n: int, dimension: int, *, clusters: int = 8, seed: int = 0,
                      ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``n`` ids, float32 vectors around ``clusters`` random centres, and each item's cluster."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dimension))
    cluster = rng.integers(clusters, size=n)
    vectors = (centres[cluster] + 0.3 * rng.normal(size=(n, dimension))).astype(np.float32)
    return [f"item-{i:05d}" for i in range(n)], vectors, cluster
