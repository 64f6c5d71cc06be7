"""The ActiveLearning RPCs that read and edit pool items (get, list, search, remove, new
metadata, lease chosen items, undo a label) and list them for review (suspicious labels, duplicate
groups, recent labels).

A mixin of :class:`knn_al.server.servicer.ActiveLearningServicer`, which supplies the
store, the call queue (``_run``), mutating calls once per request id (``_change``) and the
reply-size check; the methods follow the servicer's pattern exactly.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias


from knn_al.errors import InvalidInputError
from knn_al.projects.project import Project
from knn_al.projects.store import ProjectStore
from knn_al.server import convert
from knn_al.server.errors import translate_errors
from knn_al.v1 import active_learning_pb2 as pb

__all__ = ["METADATA_ADVICE", "ItemRpcs"]

#: grpc ships no type information: the context is untyped to mypy.
Context: TypeAlias = Any
#: How to ask for a smaller reply of items with their metadata (``{}``: the field that says how many).
METADATA_ADVICE = "ask for fewer ({}) or keep less metadata per item"


class ItemRpcs:
    """Pool-item and review RPCs."""

    # Supplied by the servicer.
    _store: ProjectStore
    _run: Callable[..., Awaitable[Any]]
    _change: Callable[..., Awaitable[Any]]
    _check_fits: Callable[..., None]

    @translate_errors
    async def RemoveItems(self, request: pb.RemoveItemsRequest, context: Context) -> pb.RemoveItemsResponse:
        return await self._change(
            "RemoveItems", request, context, lambda p: p.remove_items(list(request.ids)),
            lambda pool_size: pb.RemoveItemsResponse(removed=len(request.ids), pool_size=pool_size))

    @translate_errors
    async def UpdateMetadata(self, request: pb.UpdateMetadataRequest,
                             context: Context) -> pb.UpdateMetadataResponse:
        metadata = {item: convert.dict_from_struct(m, item=item) for item, m in request.metadata.items()}
        return await self._change("UpdateMetadata", request, context, lambda p: p.update_metadata(metadata),
                                  lambda updated: pb.UpdateMetadataResponse(updated=updated))

    @translate_errors
    async def LeaseItems(self, request: pb.LeaseItemsRequest, context: Context) -> pb.LeaseItemsResponse:
        return await self._change(
            "LeaseItems", request, context,
            lambda p: p.lease(list(request.ids), annotator=request.annotator,
                              lease_seconds=request.lease_seconds or None),
            lambda deadline: pb.LeaseItemsResponse(lease_expires_at=deadline))

    @translate_errors
    async def UndoLabel(self, request: pb.UndoLabelRequest, context: Context) -> pb.UndoLabelResponse:
        def undo(project: Project) -> tuple[float, int]:
            deadline = project.undo_label(request.id, label=request.label, annotator=request.annotator,
                                          lease_seconds=request.lease_seconds or None)
            return deadline, project.info().labeled_count

        return await self._change("UndoLabel", request, context, undo,
                                  lambda r: pb.UndoLabelResponse(lease_expires_at=r[0], labeled_count=r[1]))

    @translate_errors
    async def GetItems(self, request: pb.GetItemsRequest, context: Context) -> pb.GetItemsResponse:
        project = self._store.get(request.project)
        items = await self._run(context, lambda: [convert.item_to_proto(i) for i in project.items(list(request.ids))],
                                project=project)
        self._check_fits(items, what="items", advice=METADATA_ADVICE.format("ids"))
        return pb.GetItemsResponse(items=items)

    @translate_errors
    async def ListItems(self, request: pb.ListItemsRequest, context: Context) -> pb.ListItemsResponse:
        project = self._store.get(request.project)
        state = convert.item_filter_from_proto(request.filter)

        def run() -> tuple[list[pb.Item], str]:
            page = project.list_items(state=state, page_size=request.page_size or 50, page_token=request.page_token)
            return [convert.item_to_proto(i) for i in page.items], page.next_page_token

        items, token = await self._run(context, run, project=project)
        self._check_fits(items, what="items", advice=METADATA_ADVICE.format("page_size"))
        return pb.ListItemsResponse(items=items, next_page_token=token)

    @translate_errors
    async def Search(self, request: pb.SearchRequest, context: Context) -> pb.SearchResponse:
        project = self._store.get(request.project)
        given = [name for name, present in (("an item id", bool(request.id)), ("a vector", request.HasField("vector")),
                                            ("a text", bool(request.text))) if present]
        if len(given) != 1:
            raise InvalidInputError("search by exactly one of an item id, a vector or a text"
                                    + (f"; got {' and '.join(given)}" if given else ""))
        vector = convert.vectors_from_proto(request.vector) if request.HasField("vector") else None
        if vector is not None and len(vector) != 1:
            raise InvalidInputError(f"search by one vector (count 1), got {len(vector)}")

        def run() -> list[pb.SearchHit]:
            query = project.embed(texts=[request.text]) if request.text else vector
            hits = project.search(item_id=request.id or None, vector=None if query is None else query[0],
                                  limit=request.limit or 10, unlabeled_only=request.unlabeled_only)
            return [convert.hit_to_proto(h) for h in hits]

        hits = await self._run(context, run, project=project)
        self._check_fits(hits, what="hits", advice=METADATA_ADVICE.format("limit"))
        return pb.SearchResponse(hits=hits)

    # --------------------------------------------------------------- review
    @translate_errors
    async def ListSuspiciousLabels(self, request: pb.ListSuspiciousLabelsRequest,
                                   context: Context) -> pb.ListSuspiciousLabelsResponse:
        project = self._store.get(request.project)
        found = await self._run(context, project.suspicious, limit=request.limit or 100, project=project)
        return pb.ListSuspiciousLabelsResponse(labels=[convert.suspicion_to_proto(s) for s in found])

    @translate_errors
    async def ListDuplicateGroups(self, request: pb.ListDuplicateGroupsRequest,
                                  context: Context) -> pb.ListDuplicateGroupsResponse:
        project = self._store.get(request.project)
        groups = await self._run(context, project.duplicate_groups, limit=request.limit or 100, project=project)
        replies = [convert.group_to_proto(g) for g in groups]
        self._check_fits(replies, what="groups", advice="ask for fewer (limit)")
        return pb.ListDuplicateGroupsResponse(groups=replies)

    @translate_errors
    async def ListRecentLabels(self, request: pb.ListRecentLabelsRequest,
                               context: Context) -> pb.ListRecentLabelsResponse:
        project = self._store.get(request.project)
        annotator = request.annotator if request.HasField("annotator") else None
        events = await self._run(context, project.recent_labels, limit=request.limit or 50, annotator=annotator,
                                 project=project)
        return pb.ListRecentLabelsResponse(labels=[convert.label_event_to_proto(e) for e in events])
