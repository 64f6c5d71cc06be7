"""TF-Hub backed encoders (``mobilenet_v2``, ``use``) and local SavedModel directories.

A model is loaded with ``hub.load(handle)`` — never ``hub.KerasLayer``, which is broken
under Keras 3 — and its callable (or its ``default``/``serving_default`` signature) is
called directly. A handle is a TF-Hub / Kaggle URL or a local SavedModel directory.
For air-gapped sites, ``hub.load`` also finds a handle's model in ``TFHUB_CACHE_DIR``
when that variable points at a mirrored cache, without network access.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from knn_al.encoders.base import EncoderOutputError, EncoderUnavailableError, Modality, check_texts, l2_normalise
from knn_al.encoders.images import decode_images
from knn_al.errors import InvalidInputError

DEFAULT_IMAGE_SIZE = 224


def _callable_of(model: Any) -> tuple[Any, Any]:
    """The function to call on a loaded model and its single input's ``TensorSpec``."""
    if hasattr(model, "__call__") and getattr(model.__call__, "concrete_functions", None):
        fn = model.__call__
        args, kwargs = fn.concrete_functions[0].structured_input_signature
        specs = list(args) + list(kwargs.values())
    else:
        signatures = getattr(model, "signatures", {})
        key = next((k for k in ("default", "serving_default") if k in signatures), None)
        if key is None:
            raise InvalidInputError("the SavedModel is neither callable nor has a 'default'/'serving_default' signature")
        fn = signatures[key]
        specs = list(fn.structured_input_signature[1].values())
    if len(specs) != 1:
        raise InvalidInputError(f"expected a model with one input (texts or images), it takes {len(specs)}")
    return fn, specs[0]


class HubEncoder:
    """A TF-Hub / SavedModel encoder of texts (``tf.string`` input) or images.

    Image models get RGB scaled to [0, 1] at their input size (224×224 unless the model
    declares another), as the TF-Hub image feature-vector models expect. ``modality`` and
    ``dimension`` are read from the model when not given (one probe call).
    """

    def __init__(self, *, name: str, handle: str, dimension: int | None = None,
                 modality: Modality | None = None) -> None:
        """``dimension``/``modality``, when given, are what the model must produce/take:
        a handle that does not match them is rejected here rather than at first use."""
        import warnings

        from knn_al.encoders.tf_runtime import import_tensorflow

        tf = import_tensorflow()

        with warnings.catch_warnings():  # tensorflow-hub 0.16.1 still imports pkg_resources
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
            import tensorflow_hub as hub

        self._tf = tf
        self.name = name
        self.handle = handle
        try:
            self._model = hub.load(handle)
        except Exception as exc:  # network, filesystem and TensorFlow errors alike
            raise EncoderUnavailableError(
                f"{name}: cannot load {handle} ({type(exc).__name__}: {exc}). Without access to TF-Hub, pass a "
                "local SavedModel directory as the handle, or set TFHUB_CACHE_DIR to a mirrored hub cache") from exc
        self._fn, spec = _callable_of(self._model)
        self.modality: Modality = "text" if spec.dtype == tf.string else "image"
        dims = spec.shape.as_list() if spec.shape.rank else []
        height, width = (dims[1:3] if len(dims) == 4 else [None, None])
        self._size = (width or DEFAULT_IMAGE_SIZE, height or DEFAULT_IMAGE_SIZE)
        self._dtype = spec.dtype
        if modality is not None and modality != self.modality:
            raise InvalidInputError(f"{name}: {handle} is a model of {self.modality}s, expected one of {modality}s")
        probe = ["probe"] if self.modality == "text" else [np.zeros((self._size[1], self._size[0], 3), np.uint8)]
        self.dimension = int(self._run(probe).reshape(1, -1).shape[-1])
        if dimension is not None and dimension != self.dimension:
            raise InvalidInputError(f"{name}: {handle} produces {self.dimension}-d vectors, expected {dimension}-d")

    def _run(self, batch: Sequence[Any]) -> np.ndarray:
        tf = self._tf
        if self.modality == "text":
            inputs = tf.constant(check_texts(batch), dtype=tf.string)
        else:
            pixels = decode_images(batch, size=self._size)
            # Float inputs take [0, 1], as TF-Hub image models expect; integer ones 0..255.
            values = pixels.astype(np.float32) / 255.0 if self._dtype.is_floating else pixels
            inputs = tf.constant(values, dtype=self._dtype)
        outputs = self._fn(inputs)
        if isinstance(outputs, dict):
            outputs = outputs["default"] if "default" in outputs else next(iter(outputs.values()))
        return np.asarray(outputs)

    def encode(self, batch: Sequence[Any]) -> np.ndarray:
        """Encode texts or images (bytes or uint8 arrays) to unit-norm float32 rows."""
        if len(batch) == 0:
            return np.empty((0, self.dimension), dtype=np.float32)
        outputs = self._run(batch)
        if len(outputs) != len(batch):
            raise EncoderOutputError(f"{self.name}: the model returned {len(outputs)} vectors for {len(batch)} inputs")
        return l2_normalise(outputs, dimension=self.dimension)
