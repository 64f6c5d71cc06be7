"""The ActiveLearning servicer: a thin adapter from RPCs to the project store.

Each method converts the request (:mod:`knn_al.server.convert`), runs the library call
in a worker thread so numpy/FAISS work and encoders (raw texts/images of projects created
with an encoder, see :meth:`knn_al.project.Project.embed`) never block the event loop (each project
serialises its own calls with its lock), and converts the result back. Errors become
status codes in :mod:`knn_al.server.errors`.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

import grpc
import numpy as np

from knn_al.errors import CapacityError, InvalidInputError
from knn_al.server import convert
from knn_al.server.errors import translate_errors
from knn_al.store import ProjectStore
from knn_al.v1 import COMPUTE_MS_KEY
from knn_al.v1 import active_learning_pb2 as pb
from knn_al.v1 import active_learning_pb2_grpc as pb_grpc

T = TypeVar("T")
#: Records per Export message: about 0.5 MB, well under the default message limit.
EXPORT_CHUNK = 10_000
Context = grpc.aio.ServicerContext


class ActiveLearningServicer(pb_grpc.ActiveLearningServicer):
    """Serves the projects of ``store``; ``max_upload_items`` bounds one AddItems stream."""

    def __init__(self, store: ProjectStore, executor: Executor, *, max_upload_items: int) -> None:
        self._store = store
        self._executor = executor
        self._max_upload_items = max_upload_items

    async def _run(self, context: Context, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` in a worker thread; report its duration in the ``knn-al-compute-ms``
        trailer, so clients can tell the library's time from the transport's."""
        def timed() -> tuple[T, float]:
            start = time.perf_counter()
            return fn(*args, **kwargs), time.perf_counter() - start

        result, seconds = await asyncio.get_running_loop().run_in_executor(self._executor, timed)
        context.set_trailing_metadata(((COMPUTE_MS_KEY, f"{seconds * 1e3:.3f}"),))
        return result

    # ------------------------------------------------------------- projects
    @translate_errors
    async def CreateProject(self, request: pb.CreateProjectRequest, context: Context) -> pb.CreateProjectResponse:
        settings = convert.settings_from_proto(request.settings)
        info = await self._run(context, lambda: self._store.create(settings).info())
        return pb.CreateProjectResponse(project=convert.info_to_proto(info))

    @translate_errors
    async def ListProjects(self, request: pb.ListProjectsRequest, context: Context) -> pb.ListProjectsResponse:
        infos = await self._run(context, lambda: [p.info() for p in self._store.list()])
        return pb.ListProjectsResponse(projects=[convert.info_to_proto(i) for i in infos])

    @translate_errors
    async def GetProject(self, request: pb.GetProjectRequest, context: Context) -> pb.GetProjectResponse:
        info = await self._run(context, lambda: self._store.get(request.project).info())
        return pb.GetProjectResponse(project=convert.info_to_proto(info))

    @translate_errors
    async def DeleteProject(self, request: pb.DeleteProjectRequest, context: Context) -> pb.DeleteProjectResponse:
        await self._run(context, self._store.delete, request.project)
        return pb.DeleteProjectResponse()

    @translate_errors
    async def SetGoals(self, request: pb.SetGoalsRequest, context: Context) -> pb.SetGoalsResponse:
        project = self._store.get(request.project)
        goals = {name: getattr(request, name) for name in ("target_accuracy", "label_budget") if request.HasField(name)}
        info = await self._run(context, lambda: (project.set_goals(**goals), project.info())[1])
        return pb.SetGoalsResponse(project=convert.info_to_proto(info))

    @translate_errors
    async def GetStats(self, request: pb.GetStatsRequest, context: Context) -> pb.GetStatsResponse:
        return convert.stats_to_proto(await self._run(context, self._store.get(request.project).stats))

    # ---------------------------------------------------------------- items
    @translate_errors
    async def AddItems(self, request_iterator: AsyncIterator[pb.AddItemsRequest],
                       context: Context) -> pb.AddItemsResponse:
        name = ""
        kind: str | None = None  # "vectors", "texts" or "images": one kind per stream
        ids: list[str] = []
        parts: list[np.ndarray] = []
        raw: list[str] | list[bytes] = []
        metadata: list[dict[str, Any]] = []
        async for chunk in request_iterator:
            if chunk.project and name and chunk.project != name:
                raise InvalidInputError(f"one AddItems stream adds to one project: got {chunk.project!r} after {name!r}")
            name = name or chunk.project
            if not name:
                raise InvalidInputError("the first AddItems chunk must name the project")
            if len(ids) + len(chunk.ids) > self._max_upload_items:
                raise CapacityError(f"an AddItems stream may carry at most {self._max_upload_items} items: "
                                    "split the upload into several streams")
            chunk_kind = convert.item_kind(chunk)
            if chunk_kind is None:
                if chunk.ids:
                    raise InvalidInputError(f"a chunk carries {len(chunk.ids)} ids but no vectors, texts or images")
                continue
            if kind and chunk_kind != kind:
                raise InvalidInputError(f"one AddItems stream carries one kind of item: got {chunk_kind} after {kind}")
            kind = chunk_kind
            if kind == "vectors":
                items: Any = convert.vectors_from_proto(chunk.vectors)
                parts.append(items)
            else:
                items = getattr(chunk, kind)
                raw.extend(items)
            if len(items) != len(chunk.ids):
                raise InvalidInputError(f"a chunk carries {len(chunk.ids)} ids but {len(items)} {kind}")
            if chunk.metadata and len(chunk.metadata) != len(chunk.ids):
                raise InvalidInputError(f"a chunk carries {len(chunk.ids)} ids but {len(chunk.metadata)} metadata "
                                        "entries: give one per item or none")
            if bool(chunk.metadata) != bool(metadata) and ids:
                raise InvalidInputError("give metadata for every chunk of the stream or for none")
            ids.extend(chunk.ids)
            metadata.extend(convert.dict_from_struct(m) for m in chunk.metadata)
        if not name:
            raise InvalidInputError("empty AddItems stream: send at least one chunk naming the project")
        project = self._store.get(name)

        def add() -> int:
            if kind in ("texts", "images"):
                vectors = project.embed(**{kind: raw}, ids=ids)
            else:
                vectors = np.concatenate(parts) if parts else np.empty((0, project.settings.dimension), np.float32)
            return project.add_items(ids, vectors, metadata or None)

        pool_size = await self._run(context, add)
        return pb.AddItemsResponse(added=len(ids), pool_size=pool_size)

    @translate_errors
    async def LoadDataset(self, request: pb.LoadDatasetRequest, context: Context) -> pb.LoadDatasetResponse:
        project = self._store.get(request.project)
        def load() -> tuple[int, int, int]:
            added, labeled = project.load_dataset(request.path, import_labels=request.import_labels)
            return added, labeled, project.info().pool_size

        added, labeled, pool_size = await self._run(context, load)
        return pb.LoadDatasetResponse(added=added, labeled=labeled, pool_size=pool_size)

    # ------------------------------------------------------------- learning
    @translate_errors
    async def NextSample(self, request: pb.NextSampleRequest, context: Context) -> pb.NextSampleResponse:
        project = self._store.get(request.project)

        def sample() -> tuple[list, Any]:
            samples = project.next_sample(
                request.count or 1, strategy=convert.strategy_name(request.strategy), annotator=request.annotator,
                lease_seconds=request.lease_seconds or None, include_outliers=request.include_outliers,
                seed=request.seed if request.HasField("seed") else None)
            return samples, project.progress()

        samples, progress = await self._run(context, sample)
        return pb.NextSampleResponse(samples=[convert.sample_to_proto(s) for s in samples],
                                     progress=convert.progress_to_proto(progress))

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
                raise InvalidInputError(f"one stream serves one project: got {message.project!r} "
                                        f"after {project.settings.name!r}")
            kind = convert.item_kind(message)
            if kind is None:
                if message.id:
                    raise InvalidInputError(f"stream item {message.id!r} carries no vector, text or image")
                continue
            if not message.id:
                raise InvalidInputError("every stream item needs an id")
            metadata = convert.dict_from_struct(message.metadata)

            def decide(message: pb.StreamItemsRequest = message, kind: str = kind) -> Any:
                if kind == "vectors":
                    vector = convert.vectors_from_proto(message.vector)
                else:
                    vector = project.embed(**{kind: [getattr(message, kind[:-1])]}, ids=[message.id])
                return project.decide(message.id, vector, threshold=opening.confidence_threshold,
                                      annotator=opening.annotator, lease_seconds=opening.lease_seconds or None,
                                      metadata=metadata)

            decision = await asyncio.get_running_loop().run_in_executor(self._executor, decide)
            await context.write(convert.decision_to_proto(decision))

    @translate_errors
    async def SubmitLabel(self, request: pb.SubmitLabelRequest, context: Context) -> pb.SubmitLabelResponse:
        project = self._store.get(request.project)
        receipt = await self._run(context, project.label, [request.id], [request.label], annotator=request.annotator)
        return pb.SubmitLabelResponse(labeled_count=receipt.labeled_count, propagated_ids=receipt.propagated)

    @translate_errors
    async def SubmitLabels(self, request: pb.SubmitLabelsRequest, context: Context) -> pb.SubmitLabelsResponse:
        project = self._store.get(request.project)
        receipt = await self._run(context, project.label, [a.id for a in request.labels],
                                  [a.label for a in request.labels], annotator=request.annotator)
        return pb.SubmitLabelsResponse(labeled_count=receipt.labeled_count, propagated_ids=receipt.propagated)

    @translate_errors
    async def RemoveLabels(self, request: pb.RemoveLabelsRequest, context: Context) -> pb.RemoveLabelsResponse:
        project = self._store.get(request.project)
        return pb.RemoveLabelsResponse(labeled_count=await self._run(context, project.unlabel, list(request.ids)))

    @translate_errors
    async def ReleaseItems(self, request: pb.ReleaseItemsRequest, context: Context) -> pb.ReleaseItemsResponse:
        project = self._store.get(request.project)
        return pb.ReleaseItemsResponse(released=await self._run(context, project.release, list(request.ids)))

    # ---------------------------------------------------------- predictions
    @translate_errors
    async def Predict(self, request: pb.PredictRequest, context: Context) -> pb.PredictResponse:
        project = self._store.get(request.project)
        kind = convert.item_kind(request)
        if kind and request.ids:
            raise InvalidInputError(f"give either item ids or {kind} to predict, not both")
        if kind == "vectors":
            predictions = await self._run(context, project.predict, vectors=convert.vectors_from_proto(request.vectors))
        elif kind:
            raw = list(getattr(request, kind))
            predictions = await self._run(context, lambda: project.predict(vectors=project.embed(**{kind: raw})))
        else:
            predictions = await self._run(context, project.predict, list(request.ids))
        return pb.PredictResponse(predictions=[convert.prediction_to_proto(p) for p in predictions])

    @translate_errors
    async def ListOutliers(self, request: pb.ListOutliersRequest, context: Context) -> pb.ListOutliersResponse:
        outliers = await self._run(context, self._store.get(request.project).outliers, request.limit or 100)
        return pb.ListOutliersResponse(outliers=[pb.Outlier(id=i, density=d) for i, d in outliers])

    @translate_errors
    async def Export(self, request: pb.ExportRequest, context: Context) -> None:
        project = self._store.get(request.project)
        records = await self._run(context, project.export, include_predictions=request.include_predictions)
        for start in range(0, max(len(records), 1), EXPORT_CHUNK):
            await context.write(convert.export_to_proto(records[start : start + EXPORT_CHUNK]))
