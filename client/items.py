"""The pool-item calls of :class:`knn_al.client.Client`: adding (streamed in chunks, with a
conflict policy), loading, removing, reading, listing and searching items, their metadata,
leasing chosen items, and undoing a label.

A mixin, so that the client stays one class while its modules stay one idea each: the
client supplies the transport (``_call``, ``_stub``, the per-thread ``_last``).
"""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from knn_al.client.types import AddResult, ItemPage, ItemRecord, SearchHit
from knn_al.errors import InvalidInputError
from knn_al.v1 import active_learning_pb2 as pb
from knn_al.v1 import active_learning_pb2_grpc as pb_grpc
from knn_al.v1.codec import (conflict_to_proto, hit_from_proto, item_filter_to_proto, item_from_proto,
                             struct_from_dict, vectors_to_proto)

__all__ = ["CHUNK_BYTES", "ItemCalls"]

#: Bytes of vectors per AddItems chunk: well under the default 4 MiB message limit (and a
#: server run with --max-message-mb 2).
CHUNK_BYTES = 1024 * 1024


def _chunks_by_size(sizes: Sequence[int], limit: int) -> Iterator[tuple[int, int]]:
    """Consecutive (start, stop) ranges of items whose sizes add up to at most ``limit``
    bytes (an item larger than that travels alone); one empty range for no items."""
    start, total = 0, 0
    for i, size in enumerate(sizes):
        if i > start and total + size > limit:
            yield start, i
            start, total = i, 0
        total += size
    yield start, len(sizes)


class ItemCalls:
    """Calls on a project's pool items."""

    # Supplied by the client.
    _stub: pb_grpc.ActiveLearningStub
    _last: threading.local
    _call: Callable[[Any, Any], Any]

    @property
    def last_add(self) -> AddResult | None:
        """What the calling thread's last successful :meth:`add_items` did: items added,
        skipped and replaced, and the pool size; None before one."""
        return getattr(self._last, "add", None)

    def add_items(self, project: str, ids: Sequence[str], vectors: np.ndarray | None = None,
                  metadata: Sequence[Mapping[str, Any]] | None = None, *, texts: Sequence[str] | None = None,
                  images: Sequence[bytes] | None = None, on_conflict: str = "error",
                  chunk_rows: int | None = None) -> int:
        """Stream items to the pool in chunks; they are added all at once. Returns the pool
        size (:attr:`last_add` has the counts).

        Items are exactly one of ``vectors`` (an items × dimension array), ``texts`` or
        ``images`` (encoded image files: JPEG, PNG, ...); texts and images are embedded by
        the server with the project's encoder, so the project must have been created with
        one (and are kept by the server if it was created with ``keep_raw``).
        ``on_conflict`` says what happens to an id already in the pool: ``"error"`` refuses
        the whole call, ``"skip"`` leaves that item as it is, ``"replace"`` removes it (with
        its label) and adds the new one. Chunks hold ``chunk_rows`` items, or about 1 MiB
        when it is None.
        """
        ids = list(ids)
        policy = conflict_to_proto(on_conflict)
        given = {kind: items for kind, items in (("vectors", vectors), ("texts", texts), ("images", images))
                 if items is not None}
        if len(given) != 1:
            raise InvalidInputError("give the items as exactly one of vectors, texts or images")
        ((kind, items),) = given.items()
        if kind == "vectors":
            items = np.ascontiguousarray(items, dtype="<f4")
            if items.ndim != 2 or len(items) != len(ids):
                raise InvalidInputError(f"expected vectors of shape ({len(ids)}, dimension), got {items.shape}")
            chunk_rows = chunk_rows or max(1, CHUNK_BYTES // max(1, items.shape[1] * 4))
        else:
            items = list(items)
            if len(items) != len(ids):
                raise InvalidInputError(f"{len(ids)} ids but {len(items)} {kind}: give one per id")
        if chunk_rows:
            bounds = [(start, start + chunk_rows) for start in range(0, max(len(ids), 1), chunk_rows)]
        else:  # raw items differ in size: fill each chunk up to about CHUNK_BYTES
            bounds = list(_chunks_by_size([len(t.encode()) if isinstance(t, str) else len(t) for t in items],
                                          CHUNK_BYTES))

        if metadata is not None and len(metadata) and len(metadata) != len(ids):
            raise InvalidInputError(f"{len(ids)} ids but {len(metadata)} metadata entries: give one per item or none")
        # Checked here, before the stream starts: an error inside the request iterator
        # reaches the caller only as "Exception iterating requests!".
        structs = [struct_from_dict(m, where=f"metadata of item {i!r}") for i, m in zip(ids, metadata or ())]
        request_id = uuid.uuid4().hex  # the same for every attempt

        def chunks() -> Iterator[pb.AddItemsRequest]:
            for start, stop in bounds:
                request = pb.AddItemsRequest(project=project, ids=ids[start:stop], metadata=structs[start:stop])
                if start == 0:  # the stream's options travel in its first chunk
                    request.request_id, request.on_conflict = request_id, policy
                if kind == "vectors":
                    request.vectors.CopyFrom(vectors_to_proto(items[start:stop]))
                else:
                    getattr(request, kind).extend(items[start:stop])
                yield request

        reply = self._call(self._stub.AddItems, chunks)
        self._last.add = AddResult(added=reply.added, skipped=reply.skipped, replaced=reply.replaced,
                                   pool_size=reply.pool_size)
        return int(reply.pool_size)

    def load_dataset(self, project: str, path: str, *, import_labels: bool = False,
                     on_conflict: str = "error") -> tuple[int, int]:
        """Add a dataset directory (a path on the server). Returns (items added, labels
        imported). ``on_conflict`` as in :meth:`add_items`: ``"skip"`` lets a load be rerun."""
        request = pb.LoadDatasetRequest(project=project, path=str(path), import_labels=import_labels,
                                        on_conflict=conflict_to_proto(on_conflict))
        reply = self._call(self._stub.LoadDataset, request)
        return reply.added, reply.labeled

    def remove_items(self, project: str, ids: Sequence[str]) -> int:
        """Take items out of the pool for good (with their labels, leases and kept raw
        items; their ids may be added again), all or none. Returns the pool size."""
        return int(self._call(self._stub.RemoveItems, pb.RemoveItemsRequest(project=project, ids=list(ids))).pool_size)

    def update_metadata(self, project: str, metadata: Mapping[str, Mapping[str, Any]]) -> int:
        """Replace the metadata of items (item id → its new metadata), all or none.
        Returns how many items were updated."""
        structs = {item: struct_from_dict(m, where=f"metadata of item {item!r}") for item, m in metadata.items()}
        request = pb.UpdateMetadataRequest(project=project, metadata=structs)
        return int(self._call(self._stub.UpdateMetadata, request).updated)

    def lease(self, project: str, ids: Sequence[str], *, annotator: str = "", lease_seconds: float = 0.0) -> float:
        """Lease chosen items to ``annotator`` (all or none) for ``lease_seconds`` from now
        (0: the project's default), as :meth:`next_sample` leases the items it picks; returns
        the deadline, unix seconds. Refused: unknown ids, labeled or skipped items, items
        leased to someone else (``annotator``'s own are renewed), and more items than the
        label budget has left."""
        request = pb.LeaseItemsRequest(project=project, ids=list(ids), annotator=annotator,
                                       lease_seconds=lease_seconds)
        return float(self._call(self._stub.LeaseItems, request).lease_expires_at)

    def undo_label(self, project: str, item_id: str, *, label: str, annotator: str = "",
                   lease_seconds: float = 0.0) -> float:
        """Undo a label: remove ``item_id``'s label ``label`` and lease the item to
        ``annotator`` for ``lease_seconds`` from now (0: the project's default), in one
        commit; returns the deadline, unix seconds. Refused (nothing changes) unless the
        item's label is still ``label``: someone's newer label is never removed."""
        request = pb.UndoLabelRequest(project=project, id=item_id, label=label, annotator=annotator,
                                      lease_seconds=lease_seconds)
        return float(self._call(self._stub.UndoLabel, request).lease_expires_at)

    def items(self, project: str, ids: Sequence[str]) -> list[ItemRecord]:
        """Items by id, in that order, with their state, label, prediction and lease."""
        reply = self._call(self._stub.GetItems, pb.GetItemsRequest(project=project, ids=list(ids)))
        return [item_from_proto(item) for item in reply.items]

    def list_items(self, project: str, *, state: str | None = None, page_size: int = 50,
                   page_token: str = "") -> ItemPage:
        """A page of the pool in the order items were added; ``state`` keeps one kind:
        "unlabeled", "labeled", "propagated", "leased", "skipped" or "outlier". Pass the
        page's ``next_page_token`` for the next page ("" after the last one)."""
        request = pb.ListItemsRequest(project=project, filter=item_filter_to_proto(state), page_size=page_size,
                                      page_token=page_token)
        reply = self._call(self._stub.ListItems, request)
        return ItemPage(items=[item_from_proto(item) for item in reply.items], next_page_token=reply.next_page_token)

    def search(self, project: str, *, item_id: str | None = None, vector: np.ndarray | None = None,
               text: str | None = None, limit: int = 10, unlabeled_only: bool = False) -> list[SearchHit]:
        """The pool items most similar to an item (not itself among them), a vector, or a
        text (embedded by the server with the project's encoder), most similar first; give
        exactly one. ``unlabeled_only`` leaves out items with a human or propagated label."""
        request = pb.SearchRequest(project=project, id=item_id or "", text=text or "", limit=limit,
                                   unlabeled_only=unlabeled_only)
        if vector is not None:
            request.vector.CopyFrom(vectors_to_proto(vector))
        return [hit_from_proto(hit) for hit in self._call(self._stub.Search, request).hits]
