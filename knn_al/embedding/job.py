"""The batch embedding job: input items → a dataset directory, shard by shard.

Items are cut into shards of ``shard_size`` and each shard into batches of
``batch_size``, in input order. A shard is written (atomically) once all its batches are
encoded; a rerun after an interruption skips the shards already written. The engine
(``local`` in-process, or ``ray`` on Ray Data) only decides where batches are encoded.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from knn_al.dataset import DatasetWriter
from knn_al.embedding.batch import BatchResult, encode_batch
from knn_al.embedding.inputs import InputError, Item, items_digest, read_items
from knn_al.embedding.plan import Plan
from knn_al.encoders import DEFAULT_ENCODER, Encoder, get_encoder
from knn_al.errors import InvalidInputError

Engine = Literal["local", "ray"]


@dataclass(frozen=True)
class EmbedSummary:
    """What a finished job did: items embedded, items failed, shards reused from an
    earlier interrupted run, and the failures (id, source, error)."""

    output: Path
    encoder: str
    dimension: int
    count: int
    failed: list[dict[str, Any]]
    resumed_shards: int
    shard_count: int
    seconds: float  # wall time of the job less the time spent loading the encoder on the driver


def assemble_shard(items: list[Item], results: list[BatchResult]) -> tuple[np.ndarray, list[dict], list[dict]]:
    """Join a shard's batch results (in batch order) into its vectors, records, failures."""
    vectors, records, failed = [], [], []
    offset = 0
    for result in results:
        vectors.append(result.vectors)
        batch = items[offset:offset + len(result.ok) + len(result.failed)]
        records += [{"id": batch[p].id, "source": batch[p].source, "label": batch[p].label} for p in result.ok]
        failed += [{"id": batch[p].id, "source": batch[p].source, "error": why} for p, why in sorted(result.failed.items())]
        offset += len(batch)
    return np.concatenate(vectors), records, failed


def _local_results(plan: Plan, pending: list[int], encoder: Encoder) -> Iterator[tuple[int, int, BatchResult]]:
    for index in pending:
        for number, batch in enumerate(plan.batches(index)):
            yield index, number, encode_batch(encoder, batch)


def run_embedding(source: str | os.PathLike[str], output: str | os.PathLike[str], *,
                  encoder: str | None = None, encoder_options: Mapping[str, Any] | None = None,
                  batch_size: int = 64, shard_size: int = 4096, engine: Engine = "local",
                  ray_address: str | None = None, ray_actors: int = 1, progress: bool = True) -> EmbedSummary:
    """Embed every item of ``source`` (folder of images or JSONL/CSV of texts) into the
    dataset directory ``output``, resuming it if an earlier run of the same job was
    interrupted. ``encoder`` defaults to the offline encoder of the input's modality.
    Raises ``InputError`` for unusable input and ``UnknownEncoderError``/``ValueError``
    for an encoder that does not exist or does not fit the input."""
    from tqdm import tqdm

    started = time.perf_counter()
    if batch_size < 1 or shard_size < 1:
        raise InputError("batch size and shard size must be at least 1")
    if engine not in ("local", "ray"):
        raise InvalidInputError(f"unknown engine {engine!r}: use 'local' or 'ray'")
    modality, items = read_items(source)
    encoder_name = encoder or DEFAULT_ENCODER[modality]
    options = dict(encoder_options or {})
    # The driver needs the dimension and modality; building the encoder also checks the
    # name before any work starts (the engines build their own copies where they run).
    loading = time.perf_counter()
    probe = get_encoder(encoder_name, **options)
    loading = time.perf_counter() - loading
    if probe.modality != modality:
        raise InputError(f"encoder {probe.name!r} embeds {probe.modality}s but {source} holds {modality}s")
    plan = Plan(items=items, shard_size=shard_size, batch_size=batch_size)
    writer = DatasetWriter(output, encoder=probe.name, dimension=probe.dimension, modality=modality,
                           job={"input": str(Path(source).resolve()), "items": len(items),
                                "digest": items_digest(items), "shard_size": shard_size})
    pending = [i for i in range(plan.shard_count) if not writer.done(i)]
    resumed = plan.shard_count - len(pending)
    if resumed:
        print(f"resuming {output}: {resumed} of {plan.shard_count} shards already done", file=sys.stderr)
    if engine == "local":
        results = _local_results(plan, pending, probe)
    else:
        from knn_al.embedding.ray_engine import ray_results

        del probe  # the Ray workers load their own copies
        results = ray_results(plan, pending, encoder_name, options, dimension=writer.dimension,
                              address=ray_address, actors=ray_actors)
    done_items = sum(len(plan.shard(i)) for i in range(plan.shard_count) if writer.done(i))
    bar = tqdm(total=len(items), initial=done_items, unit="item", file=sys.stderr, disable=None if progress else True,
               desc="embed", dynamic_ncols=True)
    collected: dict[int, dict[int, BatchResult]] = {}
    with bar:
        for index, number, result in results:
            collected.setdefault(index, {})[number] = result
            bar.update(len(result.ok) + len(result.failed))
            if len(collected[index]) == len(plan.batches(index)):
                batches = collected.pop(index)
                vectors, records, failed = assemble_shard(plan.shard(index), [batches[n] for n in sorted(batches)])
                writer.write_shard(index, vectors=vectors, records=records, failed=failed)
    manifest = writer.finish(shard_count=plan.shard_count)
    failures = [f for shard in manifest["shards"] for f in shard["failed"]]
    return EmbedSummary(output=Path(output), encoder=manifest["encoder"], dimension=manifest["dimension"],
                        count=manifest["count"], failed=failures, resumed_shards=resumed,
                        shard_count=plan.shard_count, seconds=time.perf_counter() - started - loading)
