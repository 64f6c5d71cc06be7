"""Encoding one batch of items, reporting the items that fail instead of failing.

Used as is by both engines (in-process and on Ray workers), so they produce the same
vectors for the same batches.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from knn_al.embedding.inputs import Item
from knn_al.encoders import Encoder, EncodingError


@dataclass
class BatchResult:
    """Vectors of the batch's items that encoded (``ok``: their positions, in order) and
    the reason for each one that did not (``failed``: position → error)."""

    vectors: np.ndarray
    ok: list[int]
    failed: dict[int, str] = field(default_factory=dict)


def _payload(item: Item, modality: str) -> Any:
    if modality == "text":
        return item.source
    with open(item.source, "rb") as handle:
        return handle.read()


def encode_batch(encoder: Encoder, items: list[Item]) -> BatchResult:
    """Load and encode ``items``; a file that cannot be read or an item the encoder
    rejects (``EncodingError``) is recorded in ``failed`` and the rest is encoded."""
    failed: dict[int, str] = {}
    payloads: dict[int, Any] = {}
    for position, item in enumerate(items):
        try:
            payloads[position] = _payload(item, encoder.modality)
        except OSError as exc:
            failed[position] = f"unreadable file: {exc.strerror or exc}"
    ok = sorted(payloads)
    while ok:
        try:
            vectors = encoder.encode([payloads[p] for p in ok])
            return BatchResult(vectors=vectors, ok=ok, failed=failed)
        except EncodingError as exc:
            if not exc.failures:
                raise
            failed.update({ok[i]: reason for i, reason in exc.failures.items()})
            ok = [p for i, p in enumerate(ok) if i not in exc.failures]
    return BatchResult(vectors=np.empty((0, encoder.dimension), np.float32), ok=[], failed=failed)
