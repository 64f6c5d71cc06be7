"""An AddItems stream, checked chunk by chunk as it arrives.

Each chunk is validated on arrival (its project, item kind, counts, ids and vectors), and
the bytes one stream may hold are bounded, so a bad or oversized upload is refused at
its first bad chunk instead of after the server has buffered all of it (eight 58 MB
chunks of the wrong dimension took a server from 113 MB to 1.45 GB before).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from knn_al.errors import CapacityError, InvalidInputError, KnnAlError, shown
from knn_al.learner.ids import encode_ids
from knn_al.server import convert
from knn_al.projects.project import Project
from knn_al.v1 import active_learning_pb2 as pb
from knn_al.learner.vectors import check_vectors


class Upload:
    """The items of one AddItems stream to ``project``."""

    def __init__(self, project: Project, *, max_items: int, max_bytes: int) -> None:
        self._project = project
        self.settings = project.settings
        self._max_items, self._max_bytes = max_items, max_bytes
        self.kind: str | None = None  # "vectors", "texts" or "images": one kind per stream
        self.ids: list[str] = []
        self.parts: list[np.ndarray] = []
        self.raw: list[Any] = []
        self.metadata: list[dict[str, Any]] = []
        #: What to do with ids already in the pool: the first chunk's policy.
        self.on_conflict = "error"
        self._bytes = 0
        self._chunks = 0

    def add(self, chunk: pb.AddItemsRequest) -> None:
        """Validate ``chunk`` and keep its items; a :class:`KnnAlError` names the chunk."""
        self._chunks += 1
        try:
            self._add(chunk)
        except KnnAlError as exc:
            first = len(self.ids)
            raise type(exc)(f"AddItems chunk {self._chunks} (items from position {first}): {exc}") from None

    def _add(self, chunk: pb.AddItemsRequest) -> None:
        if chunk.project and chunk.project != self.settings.name:
            raise InvalidInputError(f"one AddItems stream adds to one project: got {shown(chunk.project)} "
                                    f"after {self.settings.name!r}")
        if self._chunks == 1:
            self.on_conflict = convert.conflict_from_proto(chunk.on_conflict)
        elif chunk.on_conflict and convert.conflict_from_proto(chunk.on_conflict) != self.on_conflict:
            raise InvalidInputError(f"one AddItems stream has one conflict policy, set in its first chunk: got "
                                    f"{convert.conflict_from_proto(chunk.on_conflict)} after {self.on_conflict}")
        self._bytes += chunk.ByteSize()
        if self._bytes > self._max_bytes:
            raise CapacityError(f"an AddItems stream may carry at most {self._max_bytes // 2**20} MiB: split the "
                                "upload into several streams")
        if len(self.ids) + len(chunk.ids) > self._max_items:
            raise CapacityError(f"an AddItems stream may carry at most {self._max_items} items: "
                                "split the upload into several streams")
        kind = convert.item_kind(chunk)
        if kind is None:
            if chunk.ids:
                raise InvalidInputError(f"a chunk carries {len(chunk.ids)} ids but no vectors, texts or images")
            return
        if self.kind and kind != self.kind:
            raise InvalidInputError(f"one AddItems stream carries one kind of item: got {kind} after {self.kind}")
        if kind != "vectors":
            self._project.check_raw_kind(kind[:-1])
        self.kind = kind
        items: Any
        if kind == "vectors":
            items = convert.vectors_from_proto(chunk.vectors)
            check_vectors(items, dimension=self.settings.dimension)  # refuse now; normalised once, when added
        else:
            items = list(getattr(chunk, kind))
        if len(items) != len(chunk.ids):
            raise InvalidInputError(f"a chunk carries {len(chunk.ids)} ids but {len(items)} {kind}")
        if chunk.metadata and len(chunk.metadata) != len(chunk.ids):
            raise InvalidInputError(f"a chunk carries {len(chunk.ids)} ids but {len(chunk.metadata)} metadata "
                                    "entries: give one per item or none")
        if bool(chunk.metadata) != bool(self.metadata) and self.ids:
            raise InvalidInputError("give metadata for every chunk of the stream or for none")
        encode_ids(list(chunk.ids))
        metadata = [convert.dict_from_struct(m, item=i) for i, m in zip(chunk.ids, chunk.metadata)]
        if kind == "vectors":
            self.parts.append(items)
        else:
            self.raw.extend(items)
        self.ids.extend(chunk.ids)
        self.metadata.extend(metadata)

    def vectors(self) -> np.ndarray:
        """Every vector of the stream, in order (kind "vectors")."""
        if not self.parts:
            return np.empty((0, self.settings.dimension), np.float32)
        return self.parts[0] if len(self.parts) == 1 else np.concatenate(self.parts)
