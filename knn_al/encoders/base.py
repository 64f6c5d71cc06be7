"""The encoder interface shared by every encoder, and the errors it raises.

An encoder turns a batch of raw items into L2-normalised float32 vectors, so that inner
product = cosine similarity everywhere downstream (FAISS pool, kNN learner).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from knn_al.errors import InvalidInputError, StateError

Modality = Literal["text", "image"]


class EncodingError(InvalidInputError):
    """Some items of a batch cannot be encoded (undecodable image, empty text, ...).

    ``failures`` maps the position of each bad item in the batch to a human-readable
    reason, so a caller can report every bad item and encode the rest without them.
    """

    reason = "UNREADABLE_ITEM"

    def __init__(self, failures: Mapping[int, str]) -> None:
        self.failures: dict[int, str] = dict(sorted(failures.items()))
        shown = "; ".join(f"item {i}: {why}" for i, why in list(self.failures.items())[:5])
        more = len(self.failures) - 5
        super().__init__(shown + (f"; and {more} more" if more > 0 else ""))


class UnknownEncoderError(InvalidInputError):
    """The name given is neither a registered encoder nor an existing model directory."""

    reason = "UNKNOWN_ENCODER"


class EncoderOutputError(InvalidInputError):
    """A model that does not produce what its encoder promises (the wrong dimension, a
    count that differs from its input's): a wrong ``--handle``, most likely."""


class EncoderUnavailableError(StateError):
    """A known encoder's model cannot be loaded here (no network for a TF-Hub handle, a
    directory that is not a SavedModel, a missing package); the message says what to do."""

    reason = "ENCODER_UNAVAILABLE"


@runtime_checkable
class Encoder(Protocol):
    """What every encoder offers.

    ``modality`` says what ``encode`` takes: ``"text"`` encoders take a sequence of
    ``str``; ``"image"`` encoders take a sequence of encoded image files as ``bytes``
    (JPEG, PNG, GIF, BMP, ...) or of decoded ``numpy`` arrays (H×W×3 RGB or H×W
    greyscale, uint8 0..255). ``encode`` returns an array of shape
    ``(len(batch), dimension)``, float32, each row of unit L2 norm, and raises
    ``EncodingError`` naming every item it could not encode.
    """

    name: str
    dimension: int
    modality: Modality

    def encode(self, batch: Sequence[Any]) -> np.ndarray: ...


def check_texts(batch: Sequence[Any]) -> list[str]:
    """Return ``batch`` as a list of texts, or raise ``EncodingError`` for every item
    that is not a non-blank string (an empty text has no meaning to embed)."""
    failures: dict[int, str] = {}
    for i, text in enumerate(batch):
        if not isinstance(text, str):
            failures[i] = f"expected a text (str), got {type(text).__name__}"
        elif not text.strip():
            failures[i] = "empty text"
    if failures:
        raise EncodingError(failures)
    return list(batch)


def l2_normalise(vectors: np.ndarray, *, dimension: int) -> np.ndarray:
    """Return ``vectors`` as a C-contiguous float32 (n, dimension) array with unit rows.

    A row with zero or non-finite norm cannot be normalised: it is reported as an
    ``EncodingError`` instead of being silently passed on as a non-unit vector.
    """
    vectors = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    if vectors.shape[1] != dimension:
        raise EncoderOutputError(f"the model produced {vectors.shape[1]}-d vectors, expected {dimension}")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    bad = {int(i): "the model produced a zero or non-finite vector"
           for i in np.flatnonzero(~np.isfinite(norms[:, 0]) | (norms[:, 0] == 0))}
    if bad:
        raise EncodingError(bad)
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)
