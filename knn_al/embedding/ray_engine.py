"""The ``ray`` engine: the job's batches encoded by Ray Data actors.

Each Ray Data row is one of the job's batches (the same batches as the local engine, so
both engines produce the same vectors), mapped by a pool of actors that each load the
encoder once. Image files are read by the workers, so on a cluster the input folder must
be reachable at the same path on every node (shared filesystem) and the workers need
knn-al installed. Results stream back to the driver, which writes the shards.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from knn_al.embedding.batch import BatchResult, encode_batch
from knn_al.embedding.inputs import Item
from knn_al.embedding.plan import Plan
from knn_al.errors import InvalidInputError


class _EncodeRow:
    """Ray Data callable class: one row (a batch of items) → its encoded result."""

    def __init__(self, encoder_name: str, options: Mapping[str, Any]) -> None:
        from knn_al.encoders import get_encoder

        self._encoder = get_encoder(encoder_name, **options)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        items = [Item(id=i, source=s, label=lab) for i, s, lab in json.loads(row["items"])]
        result = encode_batch(self._encoder, items)
        return {"shard": row["shard"], "batch": row["batch"],
                "vectors": np.ascontiguousarray(result.vectors, np.float32).tobytes(),
                "result": json.dumps({"ok": result.ok, "failed": sorted(result.failed.items())})}


def ray_results(plan: Plan, pending: list[int], encoder_name: str, options: Mapping[str, Any], *,
                dimension: int, address: str | None, actors: int) -> Iterator[tuple[int, int, BatchResult]]:
    """Encode the batches of the ``pending`` shards on Ray Data; the returned iterator
    yields (shard, batch, result) as results arrive. Connects to Ray here, before any
    result is asked for: a local Ray unless ``address`` names a cluster, or the Ray
    already initialised in this process."""
    try:
        import ray
    except ImportError:
        raise InvalidInputError("the ray engine needs Ray Data: pip install 'knn-al[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False  # the job has its own bar
    rows = [{"shard": index, "batch": number,
             "items": json.dumps([[item.id, item.source, item.label] for item in batch], ensure_ascii=False)}
            for index in pending for number, batch in enumerate(plan.batches(index))]
    if not rows:
        return iter(())
    dataset = ray.data.from_items(rows, override_num_blocks=min(len(rows), 200)).map(
        _EncodeRow,  # type: ignore[arg-type]  # Ray Data takes a callable class for its actors
        fn_constructor_kwargs={"encoder_name": encoder_name, "options": dict(options)},
        compute=ray.data.ActorPoolStrategy(size=actors))
    return _decode(dataset.iter_rows(), dimension)


def _decode(rows: Iterable[dict[str, Any]], dimension: int) -> Iterator[tuple[int, int, BatchResult]]:
    for row in rows:
        outcome = json.loads(row["result"])
        vectors = np.frombuffer(row["vectors"], dtype=np.float32).reshape(len(outcome["ok"]), dimension)
        yield int(row["shard"]), int(row["batch"]), BatchResult(
            vectors=vectors.copy(), ok=outcome["ok"], failed={int(p): why for p, why in outcome["failed"]})
