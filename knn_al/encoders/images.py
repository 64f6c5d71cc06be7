"""Image decoding shared by the image encoders: bytes or arrays → 224×224 RGB uint8."""
from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from knn_al.encoders.base import EncodingError


def _decode_one(item: Any, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    image: Image.Image
    if isinstance(item, (bytes, bytearray, memoryview)):
        if len(item) == 0:
            raise ValueError("empty image file")
        try:
            image = Image.open(io.BytesIO(bytes(item)))
            # JPEG only: let the decoder skip detail that the resize would discard.
            image.draft("RGB", size)
            image = ImageOps.exif_transpose(image).convert("RGB")  # camera photos: upright as shown
        except UnidentifiedImageError:
            raise ValueError("not a decodable image (JPEG, PNG, GIF, BMP, ...)") from None
        except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
            raise ValueError(f"corrupt image: {exc}") from None
    elif isinstance(item, np.ndarray):
        if item.ndim == 2:
            item = np.stack([item] * 3, axis=-1)
        if item.ndim != 3 or item.shape[2] not in (3, 4) or item.shape[0] == 0 or item.shape[1] == 0:
            raise ValueError(f"expected an H×W×3 RGB or H×W greyscale array, got shape {item.shape}")
        if item.dtype != np.uint8:
            raise ValueError(f"expected a uint8 array (0..255), got {item.dtype}")
        image = Image.fromarray(np.ascontiguousarray(item[:, :, :3]), mode="RGB")
    else:
        raise ValueError(f"expected encoded image bytes or a uint8 array, got {type(item).__name__}")
    if image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def decode_images(batch: Sequence[Any], *, size: tuple[int, int] = (224, 224)) -> np.ndarray:
    """Decode a batch of images to one (n, height, width, 3) uint8 RGB array.

    Each item is encoded image file bytes (anything Pillow reads: JPEG, PNG, GIF's
    first frame, BMP, ...) or a uint8 array (H×W×3 RGB, H×W×4 RGBA, or H×W
    greyscale). Images are converted to RGB and resized to ``size`` (width, height)
    without keeping the aspect ratio, as the MobileNet models were trained. Every item
    that cannot be decoded is reported in one ``EncodingError``.
    """
    out = np.empty((len(batch), size[1], size[0], 3), dtype=np.uint8)
    failures: dict[int, str] = {}
    for i, item in enumerate(batch):
        try:
            out[i] = _decode_one(item, size)
        except ValueError as exc:
            failures[i] = str(exc)
    if failures:
        raise EncodingError(failures)
    return out
