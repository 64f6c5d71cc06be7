"""Write a small, offline, labeled image set as the input of ``knn-al embed``.

Two sets ship with installed packages, so nothing is downloaded:

* ``digits``: scikit-learn's ``load_digits``, 1,797 8×8 grey images of handwritten
  digits, 10 classes. Pixel values 0..16 are scaled to 0..255 (light strokes on black).
* ``lfw``: scikit-image's ``data.lfw_subset``, 200 25×25 grey images; per its
  docstring the first 100 are faces and the last 100 non-faces (background crops from
  the same photos). Values 0..1 are scaled to 0..255.

Images are written at their native size as 8-bit grey PNGs; the image encoders convert
to RGB and resize to 224×224 themselves (``knn_al/encoders/images.py``).

The embedding job reads images from a folder, not from JSONL (a JSONL input is texts:
``knn_al/embedding/inputs.py``), and labels an image by its first-level sub-folder.
So the layout is ``OUT/<label>/<set>-<index>.png``, and the item ids are the relative
paths, e.g. ``3/digits-0042.png`` or ``face/lfw-0007.png``; ``index`` is the row of
the image in the loader's array.

Reproduce, from the repository root (``--budget 100`` for lfw: 160 items per fold)::

    .venv/bin/python scripts/image_sets.py digits /tmp/sets/digits-png
    .venv/bin/knn-al embed /tmp/sets/digits-png -o /tmp/sets/digits-mobilenet_v1 --encoder mobilenet_v1
    .venv/bin/knn-al simulate /tmp/sets/digits-mobilenet_v1 --strategies random uncertainty_density_diversity \\
        --models knn graph auto --out /tmp/sets/sim-digits

    .venv/bin/python scripts/image_sets.py lfw /tmp/sets/lfw-png
    .venv/bin/knn-al embed /tmp/sets/lfw-png -o /tmp/sets/lfw-mobilenet_v1 --encoder mobilenet_v1
    .venv/bin/knn-al simulate /tmp/sets/lfw-mobilenet_v1 --strategies random uncertainty_density_diversity \\
        --models knn graph auto --budget 100 --out /tmp/sets/sim-lfw
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

LabeledImages = tuple[np.ndarray, list[str]]  # (n, height, width) uint8 grey, one label per image


def digits() -> LabeledImages:
    """scikit-learn's bundled 8×8 digits, 0..16 scaled to 0..255; labels ``0``..``9``."""
    from sklearn.datasets import load_digits

    data = load_digits()
    pixels = np.rint(data.images * (255.0 / 16.0)).astype(np.uint8)
    return pixels, [str(t) for t in data.target]


def lfw() -> LabeledImages:
    """scikit-image's bundled 25×25 LFW subset; the first 100 are ``face``, the rest ``non-face``."""
    from skimage.data import lfw_subset

    images = lfw_subset()
    # Documented as uint8 but returned as floats in 0..1 by some versions: scale those.
    pixels = images if images.dtype == np.uint8 else np.rint(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)
    return pixels, ["face" if i < 100 else "non-face" for i in range(len(pixels))]


SETS: dict[str, Callable[[], LabeledImages]] = {"digits": digits, "lfw": lfw}


def write_set(name: str, out: Path) -> dict[str, int]:
    """Write set ``name`` under ``out`` as ``<label>/<name>-<index>.png``; the count per label."""
    from PIL import Image

    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty: every file in it would be embedded as an image")
    pixels, labels = SETS[name]()
    counts: dict[str, int] = {}
    for index, (image, label) in enumerate(zip(pixels, labels)):
        folder = out / label
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{name}-{index:04d}.png")  # 2-D uint8: 8-bit grey
        counts[label] = counts.get(label, 0) + 1
    return counts


def main(argv: list[str] | None = None) -> int:
    """Command line: ``image_sets.py {digits,lfw} OUT``."""
    parser = argparse.ArgumentParser(
        description="Write an offline labeled image set (one sub-folder per class) for `knn-al embed`.",
        epilog="Then: knn-al embed OUT -o DATASET_DIR --encoder mobilenet_v1; knn-al simulate DATASET_DIR.")
    parser.add_argument("set", choices=sorted(SETS), help="digits: sklearn's 8x8 digits (1,797, 10 classes); "
                                                          "lfw: skimage's LFW subset (100 faces, 100 non-faces)")
    parser.add_argument("out", type=Path, help="folder to write (new or empty)")
    args = parser.parse_args(argv)
    try:
        counts = write_set(args.set, args.out)
    except (FileExistsError, ImportError) as exc:
        print(f"image_sets.py: error: {exc}", file=sys.stderr)
        return 2
    per_label = ", ".join(f"{label}: {n}" for label, n in sorted(counts.items()))
    print(f"wrote {sum(counts.values())} {args.set} images to {args.out} ({per_label})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
