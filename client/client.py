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
from google.rpc import error_details_pb2
from grpc_status import rpc_status
import numpy as np

from knn_al.client.convert import info_from_proto, sample_from_proto
from knn_al.client.items import ItemCalls
from knn_al.client.types import (Decision, DuplicateGroup, ExportRecord, LabelEvent, LabelReceipt, Prediction,
                                 ProjectInfo, ProjectStats, SampleBatch, Suspicion)
from knn_al.errors import KnnAlError
from knn_al.v1 import COMPUTE_MS_KEY
from knn_al.v1 import active_learning_pb2 as pb
from knn_al.v1 import active_learning_pb2_grpc as pb_grpc
from knn_al.v1.codec import (decision_from_proto, export_from_proto, group_from_proto, label_event_from_proto,
                             prediction_from_proto, progress_from_proto, receipt_from_proto, stats_from_proto,
                             strategy_to_proto, struct_from_dict, suspicion_from_proto, vectors_to_proto)

class ServiceError(KnnAlError):
    """A call that failed: ``code`` is the gRPC status code, ``message`` the server's
    explanation. From a knn-al server, also machine-readable details: ``reason``, the
    stable name of the kind of error (``"UNKNOWN_LABEL"``, ``"DISK_FULL"``: the
    ``reason`` of :mod:`knn_al.errors`' classes), ``fields``, the request fields at fault
    (field name -> description; "" when the server could not name one), and ``info``, the
    ErrorInfo's metadata (``{"project": ...}``)."""

    def __init__(self, code: grpc.StatusCode, message: str, *, reason: str = "",
                 fields: dict[str, str] | None = None, info: dict[str, str] | None = None) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.reason = reason
        self.fields = fields or {}
        self.info = info or {}

    @classmethod
    def of(cls, exc: grpc.RpcError) -> ServiceError:
        """The error of a failed call, with the details the server attached."""
        reason, fields, info = "", {}, {}
        try:
            status = rpc_status.from_call(exc) if isinstance(exc, grpc.Call) else None
        except ValueError:  # details that disagree with the status (not from a knn-al server): none
            status = None
        for detail in status.details if status else ():
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                error_info = error_details_pb2.ErrorInfo()
                detail.Unpack(error_info)
                reason, info = error_info.reason, dict(error_info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                fields.update({v.field: v.description for v in bad.field_violations})
        return cls(exc.code(), exc.details() or "", reason=reason, fields=fields, info=info)


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


class Client(ItemCalls):
    """Connects to a knn-al server. The calls on pool items come from
    :class:`~knn_al.client.items.ItemCalls`.

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
                raise ServiceError.of(exc) from None
        raise AssertionError("unreachable")

    # ------------------------------------------------------------- projects
    def create_project(self, name: str, dimension: int = 0, *, k: int = 0, default_strategy: str | None = None,
                       labels: Sequence[str] = (), lease_seconds: float = 0.0, encoder: str = "",
                       duplicate_threshold: float | None = None, outlier_quantile: float | None = None,
                       target_accuracy: float = 0.0, label_budget: int = 0, keep_raw: bool = False,
                       model: str = "", exponents: Sequence[float] = (), vector_dtype: str = "",
                       shards: int = 0) -> ProjectInfo:
        """Create a project. ``k``/``lease_seconds`` 0 and ``default_strategy``,
        ``duplicate_threshold``, ``outlier_quantile`` None take the server's defaults;
        ``labels`` fixes the label set (empty: any label is accepted).
        ``encoder`` (e.g. ``"use-multilingual"``, ``"mobilenet_v1"``) lets the project take
        raw texts or images, embedded by the server; ``dimension`` 0 then takes the encoder's.
        ``target_accuracy`` and ``label_budget`` (0: none) say when labeling can stop.
        ``keep_raw`` (with an encoder) keeps the raw texts and images added, to show them.
        ``model``: what predicts, ``"knn"`` (the default, also ""), ``"graph"`` or ``"auto"``.
        ``exponents``: the combined strategy's exponents of uncertainty, density and
        diversity (empty: the server's default, 1, 1, 1). ``vector_dtype``: how the pool
        stores its vectors, ``"float32"`` (the default, also "") or ``"float16"`` (half the
        memory, similarities to about 3 decimal places). ``shards``: split the pool over this
        many Ray actors (0 or 1: not sharded; needs a server started with ``--ray``)."""
        settings = pb.ProjectSettings(name=name, dimension=dimension, k=k,
                                      default_strategy=strategy_to_proto(default_strategy),
                                      labels=list(labels), lease_seconds=lease_seconds, encoder=encoder,
                                      duplicate_threshold=duplicate_threshold, outlier_quantile=outlier_quantile,
                                      target_accuracy=target_accuracy, label_budget=label_budget,
                                      keep_raw=keep_raw, model=model, exponents=list(exponents),
                                      vector_dtype=vector_dtype, shards=shards)
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

    # ------------------------------------------------------------- learning
    def next_sample(self, project: str, count: int = 1, *, strategy: str | None = None, annotator: str = "",
                    lease_seconds: float = 0.0, include_outliers: bool = False, seed: int | None = None,
                    preview: bool = False, exponents: Sequence[float] = ()) -> SampleBatch:
        """Lease up to ``count`` items to label next, best first. The list's ``progress``
        says when labeling can stop (budget spent, target accuracy reached). With
        ``preview``, the same picks in the same order, but nothing is leased.
        ``exponents``: the combined strategy's for this pick (empty: the project's)."""
        request = pb.NextSampleRequest(project=project, count=count, strategy=strategy_to_proto(strategy),
                                       annotator=annotator, lease_seconds=lease_seconds,
                                       include_outliers=include_outliers, seed=seed, preview=preview,
                                       exponents=list(exponents))
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
            raise ServiceError.of(exc) from None
        if failure:
            raise failure[0]

    def release(self, project: str, ids: Sequence[str], *, annotator: str = "", force: bool = False) -> int:
        """Give ``annotator``'s leased items back before their leases expire (all or none:
        an item leased to someone else is refused). ``force`` releases anyone's, for a
        supervisor."""
        request = pb.ReleaseItemsRequest(project=project, ids=list(ids), annotator=annotator, force=force)
        return self._call(self._stub.ReleaseItems, request).released

    def renew(self, project: str, ids: Sequence[str], *, annotator: str = "", lease_seconds: float = 0.0) -> float:
        """Extend ``annotator``'s own leases of ``ids`` (all or none) to ``lease_seconds``
        from now (0: the project's default); returns the new deadline, unix seconds."""
        request = pb.RenewLeasesRequest(project=project, ids=list(ids), annotator=annotator,
                                        lease_seconds=lease_seconds)
        return float(self._call(self._stub.RenewLeases, request).lease_expires_at)

    def skip(self, project: str, ids: Sequence[str], *, annotator: str = "") -> int:
        """Set items aside (unclear, not applicable): they are not handed out again until
        unskipped, and their leases end. A labeled item is refused (remove its label
        first). Returns how many items were skipped."""
        request = pb.SkipItemsRequest(project=project, ids=list(ids), annotator=annotator)
        return int(self._call(self._stub.SkipItems, request).skipped)

    def unskip(self, project: str, ids: Sequence[str]) -> int:
        """Put skipped items back among the candidates (every one must be skipped)."""
        return int(self._call(self._stub.UnskipItems, pb.UnskipItemsRequest(project=project, ids=list(ids))).unskipped)

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

    # --------------------------------------------------------------- review
    def suspicious(self, project: str, *, limit: int = 100) -> list[Suspicion]:
        """Up to ``limit`` human labels that the item's labeled neighbours, without it,
        disagree with (likely labeling mistakes), most confident disagreement first."""
        request = pb.ListSuspiciousLabelsRequest(project=project, limit=limit)
        return [suspicion_from_proto(s) for s in self._call(self._stub.ListSuspiciousLabels, request).labels]

    def duplicate_groups(self, project: str, *, limit: int = 100) -> list[DuplicateGroup]:
        """Up to ``limit`` duplicate groups (two or more items), largest first."""
        request = pb.ListDuplicateGroupsRequest(project=project, limit=limit)
        return [group_from_proto(g) for g in self._call(self._stub.ListDuplicateGroups, request).groups]

    def recent_labels(self, project: str, *, limit: int = 50, annotator: str | None = None) -> list[LabelEvent]:
        """Up to ``limit`` current human labels, most recent first; ``annotator``: only theirs."""
        request = pb.ListRecentLabelsRequest(project=project, limit=limit, annotator=annotator)
        return [label_event_from_proto(e) for e in self._call(self._stub.ListRecentLabels, request).labels]

    def export(self, project: str, *, include_predictions: bool = False) -> list[ExportRecord]:
        """Human and propagated labels, and skipped items (source "skipped", no label);
        with ``include_predictions`` also the streams' auto labels and the predicted label
        of every other pool item."""
        request = pb.ExportRequest(project=project, include_predictions=include_predictions)
        chunks = self._call(self._stub.Export, request)
        return [record for chunk in chunks for record in export_from_proto(chunk)]

    def export_labels(self, project: str) -> dict[str, str]:
        """Every current human label, in labeling order."""
        return {r.id: r.label for r in self.export(project) if r.source == "human"}
