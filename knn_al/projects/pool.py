"""The pool's batches: items checked into a :class:`Batch`, written as one addition's
files, and read back on replay.

An addition ``n`` is four files under ``pool/`` (the layout: :mod:`knn_al.projects.files`):
its vectors, its item records (id and metadata, one JSON line each), and the pool survey
after it (density and duplicate group per item; an appended addition stores only its own
items' rows). They are written before the log's ``add`` row that refers to them is
committed; an addition a crash cut off before its commit leaves files that
:func:`remove_crash_leftovers` deletes on the next open.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from knn_al.atomic import TEMP_PREFIX, atomic_write
from knn_al.dataset import DatasetError, read_dataset
from knn_al.errors import InvalidInputError, shown
from knn_al.learner.limits import MAX_METADATA_BYTES, not_plain_json
from knn_al.learner.survey import PoolSurvey
from knn_al.learner.vectors import as_unit_vectors, item_vectors
from knn_al.projects.files import BATCH_FILE, POOL, batch_paths
from knn_al.projects.log import dumps

__all__ = ["Batch", "checked_metadata", "dataset_batch", "discard_batch", "new_batch", "read_batches", "remove_crash_leftovers",
           "write_batch"]


def _item_records(ids: list[str], metadata: Sequence[Mapping[str, Any]] | None) -> tuple[list[dict[str, Any]], bytes]:
    """Each item's metadata (empty if none given) and the batch's ``.jsonl`` bytes;
    :class:`InvalidInputError` naming the first item whose metadata is not plain JSON or
    is over :data:`MAX_METADATA_BYTES`."""
    metadata = list(metadata) if metadata else [{} for _ in ids]
    if len(metadata) != len(ids):
        raise InvalidInputError(f"{len(ids)} ids but {len(metadata)} metadata entries: give one per item or none")
    lines, kept = [], []
    for item, entry in zip(ids, metadata):
        if not isinstance(entry, Mapping):
            raise InvalidInputError(f"metadata of item {shown(item)} must be an object (a mapping), "
                                    f"got {type(entry).__name__}")
        try:
            body = dumps(dict(entry))
        except (TypeError, ValueError) as exc:
            raise not_plain_json(item, exc) from None
        size = len(body.encode("utf-8"))
        if size > MAX_METADATA_BYTES:
            raise InvalidInputError(f"metadata of item {shown(item)} is {size} bytes as JSON; at most "
                                    f"{MAX_METADATA_BYTES} are kept per item")
        lines.append(f'{{"id":{dumps(item)},"metadata":{body}}}\n')
        kept.append(json.loads(body))  # what a replay reads back (tuples become lists, ...)
    return kept, "".join(lines).encode("utf-8")


def checked_metadata(ids: list[str], metadata: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each item's metadata as it is kept (and read back), checked as an addition's is."""
    return _item_records(ids, metadata)[0]


@dataclass(frozen=True)
class Batch:
    """Items ready to join the pool: their ids, unit vectors, each one's metadata, and
    the bytes of the batch's records file."""

    ids: list[str]
    vectors: np.ndarray
    metadata: list[dict[str, Any]]
    records: bytes

    @classmethod
    def of(cls, ids: list[str], vectors: np.ndarray, metadata: Sequence[Mapping[str, Any]] | None) -> Batch:
        """The batch of ``ids`` with ``vectors`` (unit rows, one per id) and ``metadata``
        (none, or one JSON-serialisable mapping per item, at most :data:`MAX_METADATA_BYTES`)."""
        kept, records = _item_records(ids, metadata)
        return cls(ids=ids, vectors=vectors, metadata=kept, records=records)

    def subset(self, keep: Sequence[int]) -> Batch:
        """The batch of the items at positions ``keep``."""
        return Batch.of([self.ids[i] for i in keep], self.vectors[list(keep)], [self.metadata[i] for i in keep])


def new_batch(ids: Sequence[str], vectors: np.ndarray, metadata: Sequence[Mapping[str, Any]] | None, *,
              dimension: int) -> Batch:
    """Check items to add and make them a :class:`Batch` (:class:`InvalidInputError`
    naming the first problem)."""
    ids = list(ids)
    return Batch.of(ids, item_vectors(ids, vectors, dimension=dimension), metadata)


def dataset_batch(path: str | Path, *, dimension: int, project: str,
                  import_labels: bool) -> tuple[Batch, dict[str, str]]:
    """The items of the dataset directory ``path`` (written by ``knn-al embed``) as a
    batch for project ``project``, and, with ``import_labels``, the labels its records carry."""
    try:
        dataset = read_dataset(path)
    except DatasetError as exc:
        raise InvalidInputError(f"cannot load dataset: {exc}") from None
    if dataset.dimension != dimension:
        raise InvalidInputError(f"dataset {path} holds {dataset.dimension}-dimensional vectors "
                                f"({dataset.encoder}), project {project!r} expects {dimension}")
    known = dataset.known_labels() if import_labels else {}
    batch = Batch.of(dataset.ids, as_unit_vectors(dataset.vectors, dimension=dimension), dataset.item_metadata())
    return batch, known


def write_batch(path: Path, number: int, batch: Batch, *, survey: PoolSurvey, append: bool) -> None:
    """Write ``batch`` as the files of addition ``number`` of project ``path``, each
    atomically, with ``survey``, the pool's survey after the addition, of which an
    appended addition keeps only its own rows. Files written before a failure stay:
    :func:`discard_batch` removes them."""
    tail = slice(len(survey) - len(batch.ids) if append else 0, None)
    vectors_path, records_path, density_path, groups_path = batch_paths(path, number)
    atomic_write(vectors_path, lambda f: np.save(f, batch.vectors, allow_pickle=False))
    atomic_write(records_path, lambda f: f.write(batch.records))
    atomic_write(density_path, lambda f: np.save(f, survey.density[tail], allow_pickle=False))
    atomic_write(groups_path, lambda f: np.save(f, survey.groups[tail], allow_pickle=False))


def discard_batch(path: Path, number: int) -> None:
    """Remove whatever files of addition ``number`` exist (its ``add`` row was not committed)."""
    for file in batch_paths(path, number):
        file.unlink(missing_ok=True)


def read_batches(path: Path, batches: Sequence[tuple[int, bool]], survey: PoolSurvey,
                 ) -> tuple[list[str], np.ndarray, list[dict[str, Any]], PoolSurvey]:
    """Read back the committed additions ``batches`` (number, appended?) of project
    ``path``, in order: their ids, vectors, metadata, and the pool survey after the last
    of them (``survey`` is the pool's before the first, which appended ones extend)."""
    ids: list[str] = []
    metadata: list[dict[str, Any]] = []
    parts = []
    for batch, appended in batches:
        vectors_path, records_path, density_path, groups_path = batch_paths(path, batch)
        parts.append(np.load(vectors_path, mmap_mode="r"))
        for line in records_path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            ids.append(record["id"])
            metadata.append(record["metadata"])
        density, groups = np.load(density_path), np.load(groups_path)
        if appended:
            density, groups = np.concatenate([survey.density, density]), np.concatenate([survey.groups, groups])
        survey = PoolSurvey(density=density, groups=groups)
    return ids, np.concatenate(parts), metadata, survey


def read_pool_rows(path: Path, count: int, rows: np.ndarray) -> np.ndarray:
    """The vectors of pool ``rows`` (ascending) of project ``path``, read from the files of
    its first ``count`` additions one at a time (memory-mapped: only those rows are read)."""
    parts, start = [], 0
    for number in range(count):
        vectors = np.load(batch_paths(path, number)[0], mmap_mode="r")
        low, high = np.searchsorted(rows, [start, start + len(vectors)])
        if high > low:
            parts.append(np.asarray(vectors[rows[low:high] - start]))
        start += len(vectors)
    return np.concatenate(parts) if parts else np.empty((0, 0), dtype=np.float32)


def remove_crash_leftovers(path: Path, committed: int) -> None:
    """Delete what a crash left behind and knn-al recognises as its own: temporary files
    (:data:`TEMP_PREFIX`) and the files of addition ``committed`` (written, never committed)."""
    for folder in (path, path / POOL):
        for file in folder.iterdir():
            found = BATCH_FILE.fullmatch(file.name) if folder != path else None
            if file.is_file() and (file.name.startswith(TEMP_PREFIX) or (found and int(found.group(1)) == committed)):
                file.unlink()
