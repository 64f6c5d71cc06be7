"""A typed, synchronous Python client of the knn_al.v1.ActiveLearning service.

Numpy arrays in, dataclasses out. Every call has a deadline, is retried with jittered
backoff while the server is UNAVAILABLE (restarting, not yet listening), and raises
:class:`ServiceError` carrying the gRPC status code and the server's message otherwise.
Mutating calls carry a request id that stays the same across the retries of one call, so
a retry after a lost reply is answered with the first reply instead of being done twice
(a second lease, say). Thread-safe: one client can be shared by many threads.
"""
from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import grpc
import numpy as np

from knn_al.client.convert import info_from_proto, sample_from_proto
from knn_al.client.types import Decision, ExportRecord, LabelReceipt, Prediction, ProjectInfo, ProjectStats, SampleBatch
from knn_al.errors import InvalidInputError, KnnAlError
from knn_al.v1 import COMPUTE_MS_KEY
from knn_al.v1 import active_learning_pb2 as pb
from knn_al.v1 import active_learning_pb2_grpc as pb_grpc
from knn_al.v1.codec import (decision_from_proto, export_from_proto, prediction_from_proto, progress_from_proto,
                             receipt_from_proto, stats_from_proto, strategy_to_proto, struct_from_dict,
                             vectors_to_proto)

#: Bytes of vectors per AddItems chunk: well under the default 4 MiB message limit (and a
#: server run with --max-message-mb 2).
CHUNK_BYTES = 1024 * 1024


class ServiceError(KnnAlError):
    """A call that failed: ``code`` is the gRPC status code, ``message`` the server's explanation."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


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


def _stream_request(project: str, item: tuple[Any, ...], *, opening: dict[str, Any] | None) -> pb.StreamItemsRequest:
    item_id, content, *rest = item
    request = pb.StreamItemsRequest(project=project, id=item_id, **(opening or {}))
    if isinstance(content, str):
        request.text = content
    elif isinstance(content, bytes):
        request.image = content
    else:
        request.vector.CopyFrom(vectors_to_proto(content))
    if rest and rest[0]:
        request.metadata.CopyFrom(struct_from_dict(rest[0], where=f"metadata of item {item_id!r}"))
    return request


class Client:
    """Connects to a knn-al server.

    Parameters
    ----------
    address : ``host:port``.
    token : bearer token, if the server requires one.
    tls : None for plaintext; True for TLS with the system's root certificates; PEM bytes
        of a root certificate to trust (e.g. a self-signed server certificate); or ready
        ``grpc.ChannelCredentials``.
    timeout : deadline of each attempt of a call, in seconds.
    retries : further attempts of a call while the server is UNAVAILABLE, with
        exponential backoff from ``backoff`` seconds, each wait jittered by ±50% so that
        many clients of a restarting server do not retry in lockstep. A mutating call's
        retries carry its request id: the server answers a retry of work it already did
        with the first reply (it remembers ids for 10 minutes, not across its restarts).
    """

    def __init__(self, address: str, *, token: str | None = None,
                 tls: bool | bytes | grpc.ChannelCredentials | None = None,
                 timeout: float = 30.0, retries: int = 5, backoff: float = 0.1) -> None:
        options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
        if tls is None or tls is False:
            self._channel = grpc.insecure_channel(address, options=options)
        else:
            if isinstance(tls, grpc.ChannelCredentials):
                credentials = tls
            else:
                credentials = grpc.ssl_channel_credentials(root_certificates=None if tls is True else tls)
            self._channel = grpc.secure_channel(address, credentials, options=options)
        self._stub = pb_grpc.ActiveLearningStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self._last = threading.local()

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def last_compute_ms(self) -> float | None:
        """Milliseconds the calling thread's last successful call spent in the server's
        library code (the rest of its latency is transport and conversion); None if unknown."""
        return getattr(self._last, "compute_ms", None)

    def _call(self, method: Any, request: Any) -> Any:
        """Call ``method`` (a stub's multi-callable: grpc ships no type hints) with a deadline,
        retrying while UNAVAILABLE. ``request`` may be a zero-argument function returning a
        fresh request iterator (client streaming). A request with a ``request_id`` field gets
        one id for all its attempts."""
        if hasattr(request, "request_id") and not request.request_id:
            request.request_id = uuid.uuid4().hex
        for attempt in range(self.retries + 1):
            try:
                if isinstance(method, grpc.UnaryStreamMultiCallable):  # a streamed answer: all of it, as a list
                    return list(method(request, timeout=self.timeout, metadata=self._metadata))
                response, call = method.with_call(request() if callable(request) else request,
                                                  timeout=self.timeout, metadata=self._metadata)
                trailer = dict(call.trailing_metadata() or ())
                self._last.compute_ms = float(trailer[COMPUTE_MS_KEY]) if COMPUTE_MS_KEY in trailer else None
                return response
            except grpc.RpcError as exc:
                code = exc.code()
                if code == grpc.StatusCode.UNAVAILABLE and attempt < self.retries:
                    time.sleep(self.backoff * 2**attempt * random.uniform(0.5, 1.5))
                    continue
                raise ServiceError(code, exc.details() or "") from None
        raise AssertionError("unreachable")

    # ------------------------------------------------------------- projects
    def create_project(self, name: str, dimension: int = 0, *, k: int = 0, default_strategy: str | None = None,
                       labels: Sequence[str] = (), lease_seconds: float = 0.0, encoder: str = "",
                       duplicate_threshold: float | None = None, outlier_quantile: float | None = None,
                       target_accuracy: float = 0.0, label_budget: int = 0) -> ProjectInfo:
        """Create a project. ``k``/``lease_seconds`` 0 and ``default_strategy``,
        ``duplicate_threshold``, ``outlier_quantile`` None take the server's defaults;
        ``labels`` fixes the label set (empty: any label is accepted).
        ``encoder`` (e.g. ``"use-multilingual"``, ``"mobilenet_v1"``) lets the project take
        raw texts or images, embedded by the server; ``dimension`` 0 then takes the encoder's.
        ``target_accuracy`` and ``label_budget`` (0: none) say when labeling can stop."""
        settings = pb.ProjectSettings(name=name, dimension=dimension, k=k,
                                      default_strategy=strategy_to_proto(default_strategy),
                                      labels=list(labels), lease_seconds=lease_seconds, encoder=encoder,
                                      duplicate_threshold=duplicate_threshold, outlier_quantile=outlier_quantile,
                                      target_accuracy=target_accuracy, label_budget=label_budget)
        return info_from_proto(self._call(self._stub.CreateProject, pb.CreateProjectRequest(settings=settings)).project)

    def set_goals(self, project: str, *, target_accuracy: float | None = None,
                  label_budget: int | None = None) -> ProjectInfo:
        """Change when labeling can stop; None keeps a goal, 0 removes it."""
        request = pb.SetGoalsRequest(project=project, target_accuracy=target_accuracy, label_budget=label_budget)
        return info_from_proto(self._call(self._stub.SetGoals, request).project)

    def stats(self, project: str) -> ProjectStats:
        """Label counts by kind, duplicate groups, outliers and the live accuracy estimate."""
        return stats_from_proto(self._call(self._stub.GetStats, pb.GetStatsRequest(project=project)))

    def list_projects(self) -> list[ProjectInfo]:
        return [info_from_proto(p) for p in self._call(self._stub.ListProjects, pb.ListProjectsRequest()).projects]

    def get_project(self, name: str) -> ProjectInfo:
        return info_from_proto(self._call(self._stub.GetProject, pb.GetProjectRequest(project=name)).project)

    def delete_project(self, name: str) -> None:
        self._call(self._stub.DeleteProject, pb.DeleteProjectRequest(project=name))

    # ---------------------------------------------------------------- items
    def add_items(self, project: str, ids: Sequence[str], vectors: np.ndarray | None = None,
                  metadata: Sequence[Mapping[str, Any]] | None = None, *, texts: Sequence[str] | None = None,
                  images: Sequence[bytes] | None = None, chunk_rows: int | None = None) -> int:
        """Stream items to the pool in chunks; they are added all at once. Returns the pool size.

        Items are exactly one of ``vectors`` (an items × dimension array), ``texts`` or
        ``images`` (encoded image files: JPEG, PNG, ...); texts and images are embedded by
        the server with the project's encoder, so the project must have been created with
        one. Chunks hold ``chunk_rows`` items, or about 1 MiB when it is None.
        """
        ids = list(ids)
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
                request = pb.AddItemsRequest(project=project, ids=ids[start:stop], metadata=structs[start:stop],
                                             request_id=request_id if start == 0 else "")
                if kind == "vectors":
                    request.vectors.CopyFrom(vectors_to_proto(items[start:stop]))
                else:
                    getattr(request, kind).extend(items[start:stop])
                yield request

        return self._call(self._stub.AddItems, chunks).pool_size

    def load_dataset(self, project: str, path: str, *, import_labels: bool = False) -> tuple[int, int]:
        """Add a dataset directory (a path on the server). Returns (items added, labels imported)."""
        reply = self._call(self._stub.LoadDataset,
                           pb.LoadDatasetRequest(project=project, path=str(path), import_labels=import_labels))
        return reply.added, reply.labeled

    # ------------------------------------------------------------- learning
    def next_sample(self, project: str, count: int = 1, *, strategy: str | None = None, annotator: str = "",
                    lease_seconds: float = 0.0, include_outliers: bool = False, seed: int | None = None) -> SampleBatch:
        """Lease up to ``count`` items to label next, best first. The list's ``progress``
        says when labeling can stop (budget spent, target accuracy reached)."""
        request = pb.NextSampleRequest(project=project, count=count, strategy=strategy_to_proto(strategy),
                                       annotator=annotator, lease_seconds=lease_seconds,
                                       include_outliers=include_outliers, seed=seed)
        reply = self._call(self._stub.NextSample, request)
        return SampleBatch((sample_from_proto(s) for s in reply.samples), progress=progress_from_proto(reply.progress))

    def submit_label(self, project: str, item_id: str, label: str, *, annotator: str = "") -> LabelReceipt:
        """Label (or relabel) one item; answers once the label is durable, with the
        labeled count and the duplicates the label propagated to."""
        request = pb.SubmitLabelRequest(project=project, id=item_id, label=label, annotator=annotator)
        return receipt_from_proto(self._call(self._stub.SubmitLabel, request))

    def submit_labels(self, project: str, labels: Mapping[str, str], *, annotator: str = "") -> LabelReceipt:
        """Label (or relabel) several items at once, all or none."""
        request = pb.SubmitLabelsRequest(project=project, annotator=annotator,
                                         labels=[pb.LabelAssignment(id=i, label=lab) for i, lab in labels.items()])
        return receipt_from_proto(self._call(self._stub.SubmitLabels, request))

    def remove_labels(self, project: str, ids: Sequence[str]) -> int:
        """Remove labels (with what they propagated); removing a propagated label takes
        that item out of its duplicate group. Returns the labeled count."""
        return self._call(self._stub.RemoveLabels, pb.RemoveLabelsRequest(project=project, ids=list(ids))).labeled_count

    def stream(self, project: str, items: Iterable[tuple[Any, ...]], *, threshold: float, annotator: str = "",
               lease_seconds: float = 0.0) -> Iterator[Decision]:
        """Stream-based selective sampling: send ``items`` one by one and yield a decision
        for each, in order. An item is ``(id, content)`` or ``(id, content, metadata)``
        where content is a vector, a text (``str``) or an encoded image (``bytes``).

        An item whose top probability reaches ``threshold`` is auto-labeled; the others are
        queried (they join the pool, leased to ``annotator``) while the label budget lasts.
        ``items`` may be a generator that waits for data: nothing has a deadline here. An
        item that cannot be sent (metadata that is not JSON) ends the stream: the decisions
        before it are yielded, then its ``ValueError`` is raised.
        """
        opening = {"confidence_threshold": threshold, "annotator": annotator, "lease_seconds": lease_seconds}
        failure: list[Exception] = []

        def requests() -> Iterator[pb.StreamItemsRequest]:
            for position, item in enumerate(items):
                try:
                    request = _stream_request(project, item, opening=opening if position == 0 else None)
                except (ValueError, TypeError) as exc:
                    # Raised in gRPC's sending thread it would reach the caller only as
                    # "Exception iterating requests!": end the stream and raise it here.
                    failure.append(exc)
                    return
                yield request

        try:
            for decision in self._stub.StreamItems(requests(), metadata=self._metadata):
                yield decision_from_proto(decision)
        except grpc.RpcError as exc:
            raise ServiceError(exc.code(), exc.details() or "") from None
        if failure:
            raise failure[0]

    def release(self, project: str, ids: Sequence[str], *, annotator: str = "", force: bool = False) -> int:
        """Give ``annotator``'s leased items back before their leases expire (all or none:
        an item leased to someone else is refused). ``force`` releases anyone's, for a
        supervisor."""
        request = pb.ReleaseItemsRequest(project=project, ids=list(ids), annotator=annotator, force=force)
        return self._call(self._stub.ReleaseItems, request).released

    # ---------------------------------------------------------- predictions
    def predict(self, project: str, ids: Sequence[str] | None = None, *, vectors: np.ndarray | None = None,
                texts: Sequence[str] | None = None, images: Sequence[bytes] | None = None) -> list[Prediction]:
        """Predictions for pool items (``ids``), arbitrary ``vectors``, or raw ``texts`` /
        ``images`` (embedded by the server with the project's encoder), with their labeled
        neighbours; give exactly one of them."""
        request = pb.PredictRequest(project=project, ids=list(ids or ()), texts=list(texts or ()),
                                    images=list(images or ()))
        if vectors is not None:
            request.vectors.CopyFrom(vectors_to_proto(vectors))
        return [prediction_from_proto(p) for p in self._call(self._stub.Predict, request).predictions]

    def outliers(self, project: str, *, limit: int = 100) -> list[tuple[str, float]]:
        """Up to ``limit`` outliers as (id, density), least dense first: items the combined
        strategy skips unless asked, listed for review."""
        reply = self._call(self._stub.ListOutliers, pb.ListOutliersRequest(project=project, limit=limit))
        return [(o.id, o.density) for o in reply.outliers]

    def export(self, project: str, *, include_predictions: bool = False) -> list[ExportRecord]:
        """Human and propagated labels; with ``include_predictions`` also the streams'
        auto labels and the predicted label of every other pool item."""
        request = pb.ExportRequest(project=project, include_predictions=include_predictions)
        chunks = self._call(self._stub.Export, request)
        return [record for chunk in chunks for record in export_from_proto(chunk)]

    def export_labels(self, project: str) -> dict[str, str]:
        """Every current human label, in labeling order."""
        return {r.id: r.label for r in self.export(project) if r.source == "human"}
