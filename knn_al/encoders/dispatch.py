"""Embedding the raw items sent to a project: through the process's shared encoder, in
batches, with every bad item named in one refusal.

A project (:class:`knn_al.projects.project.Project`) names its encoder in its settings;
these functions take that name and the project's name (for messages) and change no
project state, so a project calls them without holding its lock.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from knn_al.encoders import ENCODERS, shared_encoder
from knn_al.encoders.base import EncoderUnavailableError, EncodingError
from knn_al.errors import InvalidInputError, StateError, shown

__all__ = ["EMBED_BATCH", "check_raw_kind", "embed"]

#: Raw items embedded per encoder call: bounds the encoder's memory on a large upload and
#: lets other projects' requests take turns at the shared encoder.
EMBED_BATCH = 256
#: Bad items a refusal names one by one; it counts the rest.
_NAMED_FAILURES = 5


def check_raw_kind(encoder_name: str, kind: str, *, project: str) -> None:
    """Raise unless encoder ``encoder_name`` (a registered name, or "" for none) of the
    project called ``project`` embeds raw items of ``kind`` ("text", "image")."""
    if not encoder_name:
        raise StateError(f"project {project!r} has no encoder, so it takes vectors only: "
                         f"embed the {kind}s yourself, or create the project with an encoder "
                         "(knn-al: --encoder; client: encoder=) to send raw texts or images")
    modality = ENCODERS[encoder_name][0]
    if kind != modality:
        raise InvalidInputError(f"project {project!r} embeds {modality}s with {encoder_name}: "
                                f"send {modality}s, not {kind}s")


def embed(encoder_name: str, *, texts: Sequence[str] | None = None, images: Sequence[bytes] | None = None,
          ids: Sequence[str] | None = None, project: str) -> np.ndarray:
    """Embed raw items with encoder ``encoder_name`` of the project called ``project``:
    exactly one of ``texts`` or ``images`` (encoded image files). Returns unit float32
    vectors; ``ids``, when given, name the items in errors.

    The encoder is loaded once per process, on first use. Every item that cannot be
    embedded (empty text, undecodable image) is named in one :class:`InvalidInputError`
    and nothing is returned, so a bad item never half-adds a batch. Items go to the
    encoder :data:`EMBED_BATCH` at a time.
    """
    items: list[Any]
    if texts is not None and images is None:
        kind, items = "text", list(texts)
    elif images is not None and texts is None:
        kind, items = "image", list(images)
    else:
        raise InvalidInputError("give either texts or images to embed, not both or neither")
    check_raw_kind(encoder_name, kind, project=project)
    if not items:
        raise InvalidInputError(f"no {kind}s to embed: the batch is empty")
    if ids is not None and len(ids) != len(items):
        raise InvalidInputError(f"{len(ids)} ids but {len(items)} {kind}s: give one {kind} per id")
    try:
        encoder = shared_encoder(encoder_name)
    except EncoderUnavailableError as exc:
        raise StateError(f"this server cannot load encoder {encoder_name!r}: {exc}") from None
    vectors = np.empty((len(items), encoder.dimension), dtype=np.float32)
    failures: dict[int, str] = {}
    for start in range(0, len(items), EMBED_BATCH):
        try:
            vectors[start:start + EMBED_BATCH] = encoder.encode(items[start:start + EMBED_BATCH])
        except EncodingError as exc:
            failures.update({start + i: why for i, why in exc.failures.items()})
    if failures:
        named = "; ".join((f"item {shown(ids[i])}" if ids is not None else f"{kind} at index {i}") + f": {why}"
                          for i, why in list(failures.items())[:_NAMED_FAILURES])
        more = len(failures) - _NAMED_FAILURES
        raise InvalidInputError(f"{len(failures)} of {len(items)} {kind}s cannot be embedded (the request is "
                                f"refused as a whole): {named}" + (f"; and {more} more" if more > 0 else ""))
    return vectors
