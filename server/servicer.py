"""The ActiveLearning servicer: a thin adapter from RPCs to the project store.

Each method converts the request (:mod:`knn_al.server.convert`), runs the library call
in a worker thread so numpy/FAISS work and encoders (raw texts/images of projects created
with an encoder, see :meth:`knn_al.projects.project.Project.embed`) never block the event loop, and
converts the result back. Errors become status codes in :mod:`knn_al.server.errors`.

Calls on one project queue one at a time (:mod:`knn_al.server.calls`, shared with the HTTP
adapter). Mutating calls with a request id run once (:mod:`knn_al.server.idempotency`).
The RPCs that read, search and edit pool items and the review listings are in
:mod:`knn_al.server.item_rpcs`.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import grpc
from google.protobuf.message import Message

from knn_al.errors import CapacityError, InvalidInputError, shown
from knn_al.server import convert
from knn_al.server.calls import Calls
from knn_al.server.errors import translate_errors
from knn_al.server.idempotency import RecentReplies
from knn_al.server.observe import Observer
from knn_al.server.item_rpcs import METADATA_ADVICE, ItemRpcs
from knn_al.server.upload import Upload
from knn_al.projects.project import Project
from knn_al.projects.records import AddResult, ExportRecord
from knn_al.projects.store import ProjectStore
from knn_al.v1 import COMPUTE_MS_KEY
from knn_al.v1 import active_learning_pb2 as pb
from knn_al.v1 import active_learning_pb2_grpc as pb_grpc

T = TypeVar("T")
#: Bytes kept free in a reply's size check for its other fields and framing.
REPLY_OVERHEAD = 4096
#: Bytes of records per Export message, well under the default message limit of 4 MiB even
#: when the record that crosses it carries the most metadata an item may (64 KiB).
EXPORT_CHUNK_BYTES = 1 << 20
#: grpc ships no type information: the context is untyped to mypy.
Context: TypeAlias = Any


def _export_chunks(records: list[ExportRecord]) -> list[pb.ExportChunk]:
    """``records`` as Export messages of about :data:`EXPORT_CHUNK_BYTES` each (one, empty, for none)."""
    chunks, chunk, size = [], pb.ExportChunk(), 0
    for record in convert.export_to_proto(records).records:
        chunk.records.append(record)
        size += record.ByteSize() + 8  # its tag and length
        if size >= EXPORT_CHUNK_BYTES:
            chunks.append(chunk)
            chunk, size = pb.ExportChunk(), 0
    if chunk.records or not chunks:
        chunks.append(chunk)
    return chunks


class ActiveLearningServicer(ItemRpcs, pb_grpc.ActiveLearningServicer):
    """Serves the projects of ``store``. ``max_upload_items`` and ``max_upload_bytes``
    bound one AddItems stream; ``max_reply_bytes`` is the transport's send limit;
    ``dataset_roots`` are the directories LoadDataset may read from."""

    def __init__(self, store: ProjectStore, calls: Calls, *, max_upload_items: int, max_upload_bytes: int,
                 max_reply_bytes: int, dataset_roots: Sequence[Path], observer: Observer | None = None) -> None:
        #: Told of every call (:func:`~knn_al.server.errors.translate_errors`): the access log, the metrics.
        self.observer = observer
        self._store = store
        self._calls = calls
        self._max_upload_items, self._max_upload_bytes = max_upload_items, max_upload_bytes
        self._max_reply_bytes = max_reply_bytes
        self._dataset_roots = [Path(root).resolve() for root in dataset_roots]
        self._replies = RecentReplies()

    async def _run(self, context: Context, fn: Callable[..., T], *args: Any, project: Project | None = None,
                   undo: Callable[[T], object] | None = None, **kwargs: Any) -> T:
        """Run ``fn`` through :class:`~knn_al.server.calls.Calls` and report its duration in the
        ``knn-al-compute-ms`` trailer, so clients can tell the library's time from the transport's."""
        result, seconds = await self._calls.run(fn, *args, project=project, undo=undo, **kwargs)
        context.set_trailing_metadata(((COMPUTE_MS_KEY, f"{seconds * 1e3:.3f}"),))
        return result

    async def _once(self, method: str, request: Any, run: Callable[[], Awaitable[Message]]) -> Any:
        """``run()`` once per request id (see :class:`RecentReplies`)."""
        return await self._replies.once(method, request.request_id, request, run)

    async def _change(self, method: str, request: Any, context: Context, change: Callable[[Project], T],
                      reply: Callable[[T], Message]) -> Any:
        """The shape of most mutating calls: ``change(project)`` on ``request.project``, in
        the project's queue and once per request id; ``reply(result)`` answers."""
        project = self._store.get(request.project)

        async def run() -> Message:
            return reply(await self._run(context, change, project, project=project))

        return await self._once(method, request, run)

    def _check_fits(self, messages: Sequence[Message], *, what: str, advice: str) -> None:
        """Refuse a reply of ``messages`` (``what``) the transport could not send; ``advice``
        says how to ask for less."""
        size = sum(m.ByteSize() + 8 for m in messages) + REPLY_OVERHEAD
        if size > self._max_reply_bytes:
            raise CapacityError(f"{len(messages)} {what} make a reply of about {size} bytes, over this server's "
                                f"message limit of {self._max_reply_bytes} bytes: {advice}")

    # ------------------------------------------------------------- projects
    @translate_errors
    async def CreateProject(self, request: pb.CreateProjectRequest, context: Context) -> pb.CreateProjectResponse:
        async def create() -> pb.CreateProjectResponse:
            settings = convert.settings_from_proto(request.settings)
            info = await self._run(context, lambda: self._store.create(settings).info())
            return pb.CreateProjectResponse(project=convert.info_to_proto(info))

        return await self._once("CreateProject", request, create)

    @translate_errors
    async def ListProjects(self, request: pb.ListProjectsRequest, context: Context) -> pb.ListProjectsResponse:
        infos = await self._run(context, lambda: [p.info() for p in self._store.list()])
        return pb.ListProjectsResponse(projects=[convert.info_to_proto(i) for i in infos])

    @translate_errors
    async def GetProject(self, request: pb.GetProjectRequest, context: Context) -> pb.GetProjectResponse:
        project = self._store.get(request.project)
        info = await self._run(context, project.info, project=project)
        return pb.GetProjectResponse(project=convert.info_to_proto(info))

    @translate_errors
    async def DeleteProject(self, request: pb.DeleteProjectRequest, context: Context) -> pb.DeleteProjectResponse:
        async def delete() -> pb.DeleteProjectResponse:
            await self._run(context, self._store.delete, request.project)
            return pb.DeleteProjectResponse()

        return await self._once("DeleteProject", request, delete)

    @translate_errors
    async def SetGoals(self, request: pb.SetGoalsRequest, context: Context) -> pb.SetGoalsResponse:
        goals = {name: getattr(request, name) for name in ("target_accuracy", "label_budget") if request.HasField(name)}
        return await self._change("SetGoals", request, context, lambda p: (p.set_goals(**goals), p.info())[1],
                                  lambda info: pb.SetGoalsResponse(project=convert.info_to_proto(info)))

    @translate_errors
    async def GetStats(self, request: pb.GetStatsRequest, context: Context) -> pb.GetStatsResponse:
        project = self._store.get(request.project)
        return convert.stats_to_proto(await self._run(context, project.stats, project=project))

    # ---------------------------------------------------------------- items
    @translate_errors
    async def AddItems(self, request_iterator: AsyncIterator[pb.AddItemsRequest],
                       context: Context) -> pb.AddItemsResponse:
        chunks = aiter(request_iterator)
        first = await anext(chunks, None)
        if first is None or not first.project:
            raise InvalidInputError("the first AddItems chunk must name the project")
        project = self._store.get(first.project)

        async def add() -> pb.AddItemsResponse:
            upload = Upload(project, max_items=self._max_upload_items, max_bytes=self._max_upload_bytes)
            loop = asyncio.get_running_loop()
            chunk: pb.AddItemsRequest | None = first
            while chunk is not None:
                await loop.run_in_executor(self._calls.executor, upload.add, chunk)
                chunk = await anext(chunks, None)

            def commit() -> AddResult:
                raw = None
                if upload.kind in ("texts", "images"):
                    vectors = project.embed(**{upload.kind: upload.raw}, ids=upload.ids)
                    raw = upload.raw  # kept if the project keeps raw items
                else:
                    vectors = upload.vectors()
                return project.add_items(upload.ids, vectors, upload.metadata or None, on_conflict=upload.on_conflict,
                                         raw=raw)

            result = await self._run(context, commit, project=project)
            return pb.AddItemsResponse(added=result.added, skipped=result.skipped, replaced=result.replaced,
                                       pool_size=result.pool_size)

        return await self._once("AddItems", first, add)

    @translate_errors
    async def LoadDataset(self, request: pb.LoadDatasetRequest, context: Context) -> pb.LoadDatasetResponse:
        project = self._store.get(request.project)
        path = self._confined(request.path)

        async def load() -> pb.LoadDatasetResponse:
            def run() -> tuple[int, int, int]:
                added, labeled = project.load_dataset(path, import_labels=request.import_labels,
                                                      on_conflict=convert.conflict_from_proto(request.on_conflict))
                return added, labeled, project.info().pool_size

            added, labeled, pool_size = await self._run(context, run, project=project)
            return pb.LoadDatasetResponse(added=added, labeled=labeled, pool_size=pool_size)

        return await self._once("LoadDataset", request, load)

    def _confined(self, path: str) -> Path:
        """``path`` resolved (symlinks followed) if it and every entry in it lie under one
        dataset root; one uniform refusal otherwise, so that it tells nothing of what
        exists outside."""
        if not path:
            raise InvalidInputError("give the path of a dataset directory (written by `knn-al embed`)")
        resolved = Path(path).resolve()
        root = next((r for r in self._dataset_roots if resolved.is_relative_to(r)), None)
        # A shard file may itself be a link: every entry must resolve under the root too.
        if root is not None and (not resolved.is_dir()
                                 or all(entry.resolve().is_relative_to(root) for entry in resolved.iterdir())):
            return resolved
        raise InvalidInputError(f"dataset path {shown(path)} is outside this server's dataset roots: put the dataset "
                                "under the server's data directory or working directory, or start the server with "
                                "--dataset-root DIR")

    # ------------------------------------------------------------- learning
    @translate_errors
    async def NextSample(self, request: pb.NextSampleRequest, context: Context) -> pb.NextSampleResponse:
        project = self._store.get(request.project)

        async def sample() -> pb.NextSampleResponse:
            replies: list[pb.Sample] = []

            def fits(samples: list) -> None:
                """Refuse, before any lease is committed, a reply the transport could not send."""
                replies[:] = [convert.sample_to_proto(s) for s in samples]
                self._check_fits(replies, what="samples", advice=METADATA_ADVICE.format("count"))

            def run() -> Any:
                project.next_sample(
                    request.count or 1, strategy=convert.strategy_name(request.strategy), annotator=request.annotator,
                    lease_seconds=request.lease_seconds or None, include_outliers=request.include_outliers,
                    seed=request.seed if request.HasField("seed") else None, accept=fits, preview=request.preview,
                    exponents=tuple(request.exponents) or None)
                return project.progress()

            def give_back(_: Any) -> None:
                """Nobody is left to receive these items (and no retry can ask for them:
                the call had no request id): end the leases this call took."""
                if replies:
                    project.release([r.id for r in replies], force=True)

            # A preview leases nothing, so there is nothing to give back.
            progress = await self._run(context, run, project=project, undo=None if request.preview else give_back)
            return pb.NextSampleResponse(samples=replies, progress=convert.progress_to_proto(progress))

        return await self._once("NextSample", request, sample)

    @translate_errors
    async def StreamItems(self, request_iterator: AsyncIterator[pb.StreamItemsRequest], context: Context) -> None:
        project = None
        async for message in request_iterator:
            if project is None:
                if not message.project or not message.confidence_threshold:
                    raise InvalidInputError("the first StreamItems message must name the project and set "
                                            "confidence_threshold (auto-label at or above it, in (0, 1])")
                project, opening = self._store.get(message.project), message
            elif message.project and message.project != project.settings.name:
                raise InvalidInputError(f"one stream serves one project: got {shown(message.project)} "
                                        f"after {project.settings.name!r}")
            kind = convert.item_kind(message)
            if kind is None:
                if message.id:
                    raise InvalidInputError(f"stream item {shown(message.id)} carries no vector, text or image")
                continue
            if not message.id:
                raise InvalidInputError("every stream item needs an id")
            metadata = convert.dict_from_struct(message.metadata, item=message.id)

            def decide(message: pb.StreamItemsRequest = message, kind: str = kind) -> Any:
                if kind == "vectors":
                    vector = convert.vectors_from_proto(message.vector)
                else:
                    vector = project.embed(**{kind: [getattr(message, kind[:-1])]}, ids=[message.id])
                return project.decide(message.id, vector, threshold=opening.confidence_threshold,
                                      annotator=opening.annotator, lease_seconds=opening.lease_seconds or None,
                                      metadata=metadata)

            decision = await self._run(context, decide, project=project)
            await context.write(convert.decision_to_proto(decision))

    @translate_errors
    async def SubmitLabel(self, request: pb.SubmitLabelRequest, context: Context) -> pb.SubmitLabelResponse:
        return await self._change(
            "SubmitLabel", request, context, lambda p: p.label([request.id], [request.label], annotator=request.annotator),
            lambda r: pb.SubmitLabelResponse(labeled_count=r.labeled_count, propagated_ids=r.propagated))

    @translate_errors
    async def SubmitLabels(self, request: pb.SubmitLabelsRequest, context: Context) -> pb.SubmitLabelsResponse:
        ids, labels = [a.id for a in request.labels], [a.label for a in request.labels]
        return await self._change(
            "SubmitLabels", request, context, lambda p: p.label(ids, labels, annotator=request.annotator),
            lambda r: pb.SubmitLabelsResponse(labeled_count=r.labeled_count, propagated_ids=r.propagated))

    @translate_errors
    async def RemoveLabels(self, request: pb.RemoveLabelsRequest, context: Context) -> pb.RemoveLabelsResponse:
        return await self._change("RemoveLabels", request, context, lambda p: p.unlabel(list(request.ids)),
                                  lambda count: pb.RemoveLabelsResponse(labeled_count=count))

    @translate_errors
    async def ReleaseItems(self, request: pb.ReleaseItemsRequest, context: Context) -> pb.ReleaseItemsResponse:
        return await self._change(
            "ReleaseItems", request, context,
            lambda p: p.release(list(request.ids), annotator=request.annotator, force=request.force),
            lambda released: pb.ReleaseItemsResponse(released=released))

    @translate_errors
    async def RenewLeases(self, request: pb.RenewLeasesRequest, context: Context) -> pb.RenewLeasesResponse:
        return await self._change(
            "RenewLeases", request, context,
            lambda p: p.renew(list(request.ids), annotator=request.annotator,
                              lease_seconds=request.lease_seconds or None),
            lambda deadline: pb.RenewLeasesResponse(lease_expires_at=deadline))

    @translate_errors
    async def SkipItems(self, request: pb.SkipItemsRequest, context: Context) -> pb.SkipItemsResponse:
        return await self._change("SkipItems", request, context,
                                  lambda p: p.skip(list(request.ids), annotator=request.annotator),
                                  lambda skipped: pb.SkipItemsResponse(skipped=skipped))

    @translate_errors
    async def UnskipItems(self, request: pb.UnskipItemsRequest, context: Context) -> pb.UnskipItemsResponse:
        return await self._change("UnskipItems", request, context, lambda p: p.unskip(list(request.ids)),
                                  lambda unskipped: pb.UnskipItemsResponse(unskipped=unskipped))

    @translate_errors
    async def Predict(self, request: pb.PredictRequest, context: Context) -> pb.PredictResponse:
        project = self._store.get(request.project)
        kind = convert.item_kind(request)
        if kind and request.ids:
            raise InvalidInputError(f"give either item ids or {kind} to predict, not both")
        if kind == "vectors":
            vectors = convert.vectors_from_proto(request.vectors)
            predictions = await self._run(context, project.predict, vectors=vectors, project=project)
        elif kind:
            raw = list(getattr(request, kind))
            predictions = await self._run(context, lambda: project.predict(vectors=project.embed(**{kind: raw})),
                                          project=project)
        else:
            predictions = await self._run(context, project.predict, list(request.ids), project=project)
        return pb.PredictResponse(predictions=[convert.prediction_to_proto(p) for p in predictions])

    @translate_errors
    async def ListOutliers(self, request: pb.ListOutliersRequest, context: Context) -> pb.ListOutliersResponse:
        project = self._store.get(request.project)
        outliers = await self._run(context, project.outliers, request.limit or 100, project=project)
        return pb.ListOutliersResponse(outliers=[pb.Outlier(id=i, density=d) for i, d in outliers])

    @translate_errors
    async def Export(self, request: pb.ExportRequest, context: Context) -> None:
        project = self._store.get(request.project)
        records = await self._run(context, project.export, include_predictions=request.include_predictions,
                                  project=project)
        # Off the event loop: 1.3 s per 100k records with their metadata, measured.
        for chunk in await asyncio.to_thread(_export_chunks, records):
            await context.write(chunk)
