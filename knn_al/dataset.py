"""The dataset directory: what ``knn-al embed`` writes and projects load.

Layout of a dataset directory::

    manifest.json         format, encoder, dimension, modality, counts, job, shard list
    shard-00000.npy       float32 (n, dimension) L2-normalised vectors, memory-mappable
    shard-00000.jsonl     one record per vector, same order: {"id", "source", "label"}
    ...

``source`` is the image file's path or the text itself (a project keeps a text as
metadata ``text``: :meth:`Dataset.item_metadata`); ``label`` is the known label
(the image's class folder, the text's ``label`` field) or null. Items that could not be
encoded are listed per shard in the manifest (``failed``: id, source, error), never
silently dropped. Shard files are written atomically (temporary file + ``os.replace``)
and the manifest last, after every shard: a killed job leaves a readable, resumable
directory whose manifest says ``"complete": false`` until the last shard is in.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from knn_al.atomic import atomic_write
from knn_al.errors import InvalidInputError

FORMAT = "knn-al-dataset/1"
MANIFEST = "manifest.json"


class DatasetError(InvalidInputError):
    """A dataset directory is missing, corrupt, incomplete or not what was expected."""

    reason = "BAD_DATASET"


@dataclass(frozen=True)
class Dataset:
    """A dataset directory read into memory; row i of ``vectors`` is item ``ids[i]``."""

    ids: list[str]
    vectors: np.ndarray
    metadata: list[dict[str, Any]]
    labels: list[str | None]
    encoder: str
    dimension: int
    modality: str
    failed: list[dict[str, Any]] = field(default_factory=list)

    def known_labels(self) -> dict[str, str]:
        """The label of every item whose record carries one, by id, in dataset order."""
        return {i: label for i, label in zip(self.ids, self.labels) if label is not None}

    def item_metadata(self) -> list[dict[str, Any]]:
        """Each item's record without its id: the metadata a project keeps. An image keeps its
        file path as ``source``; a text is kept as ``text`` (what the page shows), never as
        ``source``, which would be taken for a file path when the text starts with "/"."""
        key = "text" if self.modality == "text" else "source"
        return [{(key if k == "source" else k): v for k, v in record.items() if k != "id"}
                for record in self.metadata]


def shard_name(index: int) -> str:
    """The file stem of shard ``index`` (``shard-00000``)."""
    return f"shard-{index:05d}"


def _load_manifest(path: Path) -> dict[str, Any]:
    manifest_path = path / MANIFEST
    if not path.is_dir():
        raise DatasetError(f"{path}: no such dataset directory")
    if not manifest_path.is_file():
        raise DatasetError(f"{path}: no {MANIFEST}, not a dataset directory (create one with `knn-al embed`)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{manifest_path}: corrupt manifest ({exc})") from None
    if not isinstance(manifest, dict):
        raise DatasetError(f"{manifest_path}: corrupt manifest, expected a JSON object, found {_shown(manifest)}")
    if manifest.get("format") != FORMAT:
        raise DatasetError(f"{manifest_path}: unsupported format {manifest.get('format')!r}, expected {FORMAT!r}")
    missing = [k for k in ("encoder", "dimension", "modality", "shards", "complete") if k not in manifest]
    if missing:
        raise DatasetError(f"{manifest_path}: corrupt manifest, missing {', '.join(missing)}")
    _check_manifest(manifest, where=manifest_path)
    return manifest


# Every reader indexes, sorts and sizes by these fields: a wrong type must stop here, as a
# DatasetError naming the field, not surface later as a KeyError/TypeError or a silent str().
def _check_manifest(manifest: Mapping[str, Any], *, where: Path) -> None:
    dimension = manifest["dimension"]
    if not _is_count(dimension) or dimension == 0:
        raise _corrupt(where, f"dimension is {_shown(dimension)}; expected a positive integer")
    for key in ("encoder", "modality"):
        if not isinstance(manifest[key], str):
            raise _corrupt(where, f"{key} is {_shown(manifest[key])}; expected a string")
    if not isinstance(manifest["complete"], bool):
        raise _corrupt(where, f"complete is {_shown(manifest['complete'])}; expected true or false")
    if not isinstance(manifest["shards"], list):
        raise _corrupt(where, f"shards is {_shown(manifest['shards'])}; expected a list of shard entries")
    seen: set[int] = set()
    for position, shard in enumerate(manifest["shards"]):
        index = _check_shard_entry(shard, position=position, where=where)
        if index in seen:
            # Reading it twice would report its ids as duplicates, hiding the real fault.
            raise _corrupt(where, f"shard {index} is listed twice")
        seen.add(index)


def _check_shard_entry(shard: Any, *, position: int, where: Path) -> int:
    """The index of a valid shard entry of the manifest's ``shards`` list."""
    if not isinstance(shard, dict):
        raise _corrupt(where, f"shards[{position}] is {_shown(shard)}; expected an object with index and count")
    if "index" not in shard:
        raise _corrupt(where, f"shards[{position}] has no index")
    index = shard["index"]
    if not _is_count(index):
        raise _corrupt(where, f"shards[{position}] has index {_shown(index)}; expected a non-negative integer")
    if "count" not in shard:
        raise _corrupt(where, f"shard {index} has no count")
    if not _is_count(shard["count"]):
        raise _corrupt(where, f"shard {index} has count {_shown(shard['count'])}; expected a non-negative integer "
                              f"(the number of records in {shard_name(index)}.jsonl)")
    if not isinstance(shard.get("failed", []), list):
        raise _corrupt(where, f"shard {index} has failed {_shown(shard['failed'])}; expected a list of failed items")
    return index


def _check_record(record: Any, *, where: str) -> dict[str, Any]:
    """``record`` (one line of a shard's .jsonl) if it is an object with a usable id and label."""
    if not isinstance(record, dict):
        raise _corrupt(where, f"the record is {_shown(record)}; expected an object with an id")
    if "id" not in record:
        raise _corrupt(where, "the record has no id")
    # Integer ids have always been read (as their text); anything else would become an id
    # like "None" or "{'x': 1}" that nobody meant.
    if not isinstance(record["id"], str) and not _is_count(record["id"], negative=True):
        raise _corrupt(where, f"id is {_shown(record['id'])}; expected a string (or an integer)")
    label = record.get("label")
    if label is not None and not isinstance(label, str):
        raise _corrupt(where, f"label is {_shown(label)}; expected a string or null")
    return record


def _is_count(value: Any, *, negative: bool = False) -> bool:
    # bool is an int subclass, but true/false in a manifest is a mistake, not 1/0.
    return isinstance(value, int) and not isinstance(value, bool) and (negative or value >= 0)


def _shown(value: Any) -> str:
    """``value`` as it reads in the JSON file, cut short if long."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _corrupt(where: Path | str, problem: str) -> DatasetError:
    # knn-al never writes such a file: it was edited or produced by another tool.
    return DatasetError(f"{where}: {problem}; recreate the dataset with `knn-al embed` or `write_dataset`")


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a dataset directory (encoder, dimension, modality, counts, shards)
    without reading its vectors; ``DatasetError`` when it is missing, corrupt or foreign."""
    return _load_manifest(Path(path))


def _read_shard(path: Path, shard: Mapping[str, Any], dimension: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    stem = shard_name(shard["index"])
    try:
        vectors = np.load(path / f"{stem}.npy", mmap_mode="r")
        lines = (path / f"{stem}.jsonl").read_text(encoding="utf-8").splitlines()
        parsed = [(number, json.loads(line)) for number, line in enumerate(lines, start=1) if line.strip()]
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: shard {stem} is missing or corrupt ({exc})") from None
    # Checked outside the try: DatasetError is a ValueError and would be reworded above.
    records = [_check_record(record, where=f"{path / stem}.jsonl line {number}") for number, record in parsed]
    if vectors.dtype != np.float32 or vectors.ndim != 2 or vectors.shape[1] != dimension:
        raise DatasetError(f"{path}: shard {stem} holds {vectors.dtype} {vectors.shape} vectors, "
                           f"expected float32 (n, {dimension})")
    if not len(vectors) == len(records) == int(shard["count"]):
        raise DatasetError(f"{path}: shard {stem} has {len(vectors)} vectors and {len(records)} records, "
                           f"the manifest says {shard['count']}")
    return vectors, records


def read_dataset(path: str | os.PathLike[str]) -> Dataset:
    """Read a complete dataset directory written by ``knn-al embed`` or ``write_dataset``.

    Raises ``DatasetError`` (a ``ValueError``) with what is wrong: no directory, no or
    corrupt manifest, an interrupted job (rerun it to finish), a missing or inconsistent
    shard, duplicate ids, non-finite vectors.
    """
    path = Path(path)
    manifest = _load_manifest(path)
    if not manifest["complete"]:
        raise DatasetError(f"{path}: incomplete dataset (the embedding job was interrupted); "
                           "rerun the same `knn-al embed` command to finish it")
    dimension = manifest["dimension"]
    shards = sorted(manifest["shards"], key=lambda s: s["index"])
    parts: list[np.ndarray] = []
    records: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for shard in shards:
        vectors, shard_records = _read_shard(path, shard, dimension)
        parts.append(vectors)
        records.extend(shard_records)
        failed.extend(shard.get("failed", []))
    vectors = np.concatenate(parts) if parts else np.empty((0, dimension), np.float32)
    ids = [str(r["id"]) for r in records]
    _check_unique(ids, where=str(path))
    if not np.isfinite(vectors).all():
        raise DatasetError(f"{path}: vectors contain NaN or infinity")
    return Dataset(ids=ids, vectors=vectors, metadata=records, labels=[r.get("label") for r in records],
                   encoder=str(manifest["encoder"]), dimension=dimension, modality=str(manifest["modality"]),
                   failed=failed)


def _check_unique(ids: Iterable[str], *, where: str) -> None:
    seen: set[str] = set()
    duplicates = []
    for i in ids:
        if i in seen:
            duplicates.append(i)
        seen.add(i)
    if duplicates:
        raise DatasetError(f"{where}: duplicate ids {sorted(set(duplicates))[:5]} ({len(duplicates)} in all)")


class DatasetWriter:
    """Writes a dataset directory shard by shard, resuming an interrupted one.

    ``job`` describes the work (input, shard size, a digest of the input ids, ...): a
    directory left by an interrupted run of the same job is resumed (its finished shards
    are kept, see ``done``); one left by a different job is refused rather than mixed.
    """

    def __init__(self, path: str | os.PathLike[str], *, encoder: str, dimension: int, modality: str,
                 job: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self._header = {"format": FORMAT, "encoder": encoder, "dimension": int(dimension),
                        "modality": modality, "job": dict(job)}
        self._shards: dict[int, dict[str, Any]] = {}
        if (self.path / MANIFEST).exists():
            manifest = _load_manifest(self.path)
            differs = [k for k in ("encoder", "dimension", "modality", "job") if manifest.get(k) != self._header[k]]
            if differs:
                raise DatasetError(f"{self.path} holds a dataset from a different job ({', '.join(differs)} differ): "
                                   "choose another output directory or delete it")
            self._shards = {int(s["index"]): s for s in manifest["shards"] if self._intact(s)}
        elif self.path.exists() and any(self.path.iterdir()):
            raise DatasetError(f"{self.path} is not empty and holds no dataset: choose an empty or new directory")
        self.path.mkdir(parents=True, exist_ok=True)

    def _intact(self, shard: Mapping[str, Any]) -> bool:
        try:
            _read_shard(self.path, shard, self.dimension)
        except DatasetError:
            return False
        return True

    @property
    def dimension(self) -> int:
        """The dimension of the vectors this dataset holds."""
        return int(self._header["dimension"])  # type: ignore[call-overload]  # set from an int in __init__

    def done(self, index: int) -> bool:
        """Whether shard ``index`` is already written (by this run or an earlier one)."""
        return index in self._shards

    @property
    def shards(self) -> list[dict[str, Any]]:
        """The manifest entries of the shards written so far, by index."""
        return [self._shards[i] for i in sorted(self._shards)]

    def write_shard(self, index: int, *, vectors: np.ndarray, records: Sequence[Mapping[str, Any]],
                    failed: Sequence[Mapping[str, Any]] = ()) -> None:
        """Write shard ``index``: vectors, their records (id, source, label), and the
        items of this shard that failed (id, source, error); then update the manifest."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(records), self.dimension)
        stem = shard_name(index)
        atomic_write(self.path / f"{stem}.npy", lambda f: np.save(f, vectors, allow_pickle=False))
        body = "".join(json.dumps(dict(r), ensure_ascii=False) + "\n" for r in records).encode("utf-8")
        atomic_write(self.path / f"{stem}.jsonl", lambda f: f.write(body))
        self._shards[index] = {"index": index, "count": len(records),
                               "labeled_count": sum(r.get("label") is not None for r in records),
                               "failed": [dict(f) for f in failed]}
        self._write_manifest(complete=False)

    def finish(self, *, shard_count: int) -> dict[str, Any]:
        """Mark the dataset complete once shards ``0..shard_count-1`` are all written."""
        missing = [i for i in range(shard_count) if i not in self._shards]
        if missing:
            raise DatasetError(f"{self.path}: cannot finish, shards {missing[:5]} are not written")
        _check_unique((json.loads(line)["id"] for s in self.shards
                       for line in (self.path / f"{shard_name(s['index'])}.jsonl").read_text("utf-8").splitlines()),
                      where=str(self.path))
        return self._write_manifest(complete=True)

    def _write_manifest(self, *, complete: bool) -> dict[str, Any]:
        shards = self.shards
        manifest = {**self._header, "complete": complete,
                    "count": sum(s["count"] for s in shards),
                    "labeled_count": sum(s["labeled_count"] for s in shards),
                    "failed_count": sum(len(s["failed"]) for s in shards),
                    "shards": shards}
        body = (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
        atomic_write(self.path / MANIFEST, lambda f: f.write(body))
        return manifest


def write_dataset(path: str | os.PathLike[str], *, ids: Sequence[str], vectors: np.ndarray, encoder: str,
                  modality: str = "text", labels: Sequence[str | None] | None = None,
                  sources: Sequence[str] | None = None, shard_size: int = 65536) -> Path:
    """Write vectors already computed (e.g. by a custom pipeline or a test) as a dataset
    directory that ``read_dataset`` and project loading accept. Ids must be unique;
    vectors must be finite, float32-convertible, shape (len(ids), d)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(ids):
        raise DatasetError(f"expected vectors of shape ({len(ids)}, d), got {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise DatasetError("vectors contain NaN or infinity")
    _check_unique(ids, where="write_dataset")
    labels = list(labels) if labels is not None else [None] * len(ids)
    sources = list(sources) if sources is not None else [None] * len(ids)  # type: ignore[list-item]
    if not len(labels) == len(sources) == len(ids):
        raise DatasetError(f"got {len(ids)} ids, {len(labels)} labels and {len(sources)} sources")
    writer = DatasetWriter(path, encoder=encoder, dimension=vectors.shape[1], modality=modality,
                           job={"input": "write_dataset", "count": len(ids)})
    shard_count = max(1, -(-len(ids) // shard_size))
    for index in range(shard_count):
        rows = range(index * shard_size, min(len(ids), (index + 1) * shard_size))
        writer.write_shard(index, vectors=vectors[rows.start:rows.stop],
                           records=[{"id": ids[i], "source": sources[i], "label": labels[i]} for i in rows])
    writer.finish(shard_count=shard_count)
    return Path(path)
