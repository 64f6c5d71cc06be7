"""How the library's values travel in the knn_al.v1 messages, coded once for the server and the client.

The generated messages say what travels; this module says how: strategy names, stop
reasons, project and item states and conflict policies as enum values, metadata as a
``google.protobuf.Struct`` of plain JSON, vectors as little-endian float32 bytes, a pick's
score breakdown, and the records both sides share (progress, predictions, stream
decisions, stats, exports, items, search hits, review listings). Each
``*_to_proto`` has the ``*_from_proto`` the other side needs, so the two sides cannot
drift apart.

Input that cannot travel raises :class:`~knn_al.errors.InvalidInputError` (a
``ValueError``): the server answers it with INVALID_ARGUMENT; the client raises it before
anything is sent. Light to import (numpy, protobuf and the library's record types; no
FAISS, SQLite or TensorFlow), because the client SDK imports it.

Hand-written: ``scripts/gen_protos.py`` writes only the ``*_pb2*`` files beside it.
"""
from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar, cast

import numpy as np
import numpy.typing as npt
from google.protobuf import json_format, struct_pb2
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from knn_al.errors import InvalidInputError, shown
from knn_al.learner.limits import not_plain_json
from knn_al.learner.types import AccuracyEstimate, Neighbor, Pick
from knn_al.projects.records import (Decision, DuplicateGroup, ExportRecord, ItemRecord, LabelEvent, LabelReceipt,
                                     Prediction, ProjectStats, Progress, SearchHit, Suspicion)
from knn_al.v1 import active_learning_pb2 as pb

__all__ = ["SCORE_TERMS", "conflict_from_proto", "conflict_to_proto", "decision_from_proto", "decision_to_proto",
           "dict_from_struct", "estimate_from_proto", "estimate_to_proto", "export_from_proto", "export_to_proto",
           "group_from_proto", "group_to_proto", "hit_from_proto", "hit_to_proto", "item_filter_from_proto",
           "item_filter_to_proto", "item_from_proto", "item_to_proto", "label_event_from_proto",
           "label_event_to_proto", "neighbor_from_proto", "neighbor_to_proto", "prediction_from_proto",
           "prediction_to_proto", "progress_from_proto", "progress_to_proto", "receipt_from_proto",
           "score_from_proto", "score_to_proto", "state_from_proto", "state_to_proto", "stats_from_proto",
           "stats_to_proto", "stop_reason_from_proto", "stop_reason_to_proto", "strategy_from_proto",
           "strategy_to_proto", "struct_from_dict", "suspicion_from_proto", "suspicion_to_proto",
           "vectors_from_proto", "vectors_to_proto"]

_FLOAT32 = np.dtype("<f4")
_E = TypeVar("_E", bound=int)


# ----------------------------------------------------------------------- enums
class _WireEnum(Generic[_E]):
    """A proto enum (of values ``_E``) whose values stand for the library's lower-case names:
    ``STOP_REASON_TARGET_REACHED`` ↔ ``"target_reached"``; ``what`` names it in refusals."""

    def __init__(self, enum: EnumTypeWrapper, *, prefix: str, what: str) -> None:
        self._enum, self._prefix, self._what = enum, prefix, what

    def value(self, name: str) -> _E:
        try:
            return cast(_E, self._enum.Value(self._prefix + name.upper()))
        except ValueError:
            choices = ", ".join(key.removeprefix(self._prefix).lower() for key in self._enum.keys()
                                if not key.endswith("_UNSPECIFIED"))
            raise InvalidInputError(f"unknown {self._what} {shown(name)}; choose one of {choices}") from None

    def name(self, value: int) -> str:
        try:
            return self._enum.Name(value).removeprefix(self._prefix).lower()
        except ValueError:
            raise InvalidInputError(f"unknown {self._what} enum value {value}") from None


# Annotated for the type checker only: the generated enums are not types at run time.
_STRATEGY: _WireEnum[pb.Strategy] = _WireEnum(pb.Strategy, prefix="STRATEGY_", what="strategy")
_STOP_REASON: _WireEnum[pb.StopReason] = _WireEnum(pb.StopReason, prefix="STOP_REASON_", what="stop reason")
_STATE: _WireEnum[pb.ProjectState] = _WireEnum(pb.ProjectState, prefix="PROJECT_STATE_", what="project state")
_ITEM_STATE: _WireEnum[pb.ItemState] = _WireEnum(pb.ItemState, prefix="ITEM_STATE_", what="item state")
# A filter is an item state or "outlier": refusals list them all as item states.
_ITEM_FILTER: _WireEnum[pb.ItemFilter] = _WireEnum(pb.ItemFilter, prefix="ITEM_FILTER_", what="item state")
_CONFLICT: _WireEnum[pb.ConflictPolicy] = _WireEnum(pb.ConflictPolicy, prefix="CONFLICT_POLICY_",
                                                    what="conflict policy")


def strategy_to_proto(name: str | None) -> pb.Strategy:
    """``"margin"`` → ``STRATEGY_MARGIN``; None → ``STRATEGY_UNSPECIFIED`` (the project's default)."""
    return pb.STRATEGY_UNSPECIFIED if name is None else _STRATEGY.value(name)


def strategy_from_proto(value: int) -> str | None:
    """``STRATEGY_MARGIN`` → ``"margin"``; ``STRATEGY_UNSPECIFIED`` → None (the project's default)."""
    return None if value == pb.STRATEGY_UNSPECIFIED else _STRATEGY.name(value)


def stop_reason_to_proto(reason: str) -> pb.StopReason:
    """``"budget_reached"`` → ``STOP_REASON_BUDGET_REACHED``; "" (keep labeling) → ``STOP_REASON_UNSPECIFIED``."""
    return _STOP_REASON.value(reason or "unspecified")


def stop_reason_from_proto(value: int) -> str:
    """``STOP_REASON_BUDGET_REACHED`` → ``"budget_reached"``; ``STOP_REASON_UNSPECIFIED`` → ""."""
    return "" if value == pb.STOP_REASON_UNSPECIFIED else _STOP_REASON.name(value)


def state_to_proto(state: str) -> pb.ProjectState:
    """``"ready"`` → ``PROJECT_STATE_READY``, ``"broken"`` → ``PROJECT_STATE_BROKEN``."""
    return _STATE.value(state)


def state_from_proto(value: int) -> str:
    """``PROJECT_STATE_BROKEN`` → ``"broken"`` (and so on)."""
    return _STATE.name(value)


def item_filter_to_proto(state: str | None) -> pb.ItemFilter:
    """``"skipped"`` → ``ITEM_FILTER_SKIPPED``, ``"outlier"`` → ``ITEM_FILTER_OUTLIER``; None (every item) →
    ``ITEM_FILTER_UNSPECIFIED``."""
    return pb.ITEM_FILTER_UNSPECIFIED if state is None else _ITEM_FILTER.value(state)


def item_filter_from_proto(value: int) -> str | None:
    """``ITEM_FILTER_SKIPPED`` → ``"skipped"``; ``ITEM_FILTER_UNSPECIFIED`` → None (every item)."""
    return None if value == pb.ITEM_FILTER_UNSPECIFIED else _ITEM_FILTER.name(value)


def conflict_to_proto(policy: str) -> pb.ConflictPolicy:
    """``"skip"`` → ``CONFLICT_POLICY_SKIP`` (and so on: ``"error"``, ``"replace"``)."""
    return _CONFLICT.value(policy)


def conflict_from_proto(value: int) -> str:
    """``CONFLICT_POLICY_SKIP`` → ``"skip"``; ``CONFLICT_POLICY_UNSPECIFIED`` → ``"error"``, the default."""
    return "error" if value == pb.CONFLICT_POLICY_UNSPECIFIED else _CONFLICT.name(value)


# --------------------------------------------------------------------- vectors
def vectors_to_proto(vectors: npt.ArrayLike) -> pb.Vectors:
    """``vectors`` (items × dimension; a 1-D vector is one item) as little-endian float32 bytes."""
    x = np.ascontiguousarray(vectors, dtype=_FLOAT32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise InvalidInputError(f"vectors must be a 2-D array (items × dimension), got shape {x.shape}")
    return pb.Vectors(count=x.shape[0], dimension=x.shape[1], data=x.tobytes())


def vectors_from_proto(message: pb.Vectors) -> np.ndarray:
    """A (count, dimension) float32 array viewing the message's bytes."""
    count, dimension = message.count, message.dimension
    if count < 0 or dimension <= 0:
        raise InvalidInputError(f"vectors need count ≥ 0 and dimension > 0, got count={count}, dimension={dimension}")
    expected = count * dimension * _FLOAT32.itemsize
    if len(message.data) != expected:
        raise InvalidInputError(f"vectors carry {len(message.data)} bytes; {count} × {dimension} float32 values "
                                f"need {expected} (little-endian, row-major)")
    return np.frombuffer(message.data, dtype=_FLOAT32).reshape(count, dimension)


# -------------------------------------------------------------------- metadata
def _plain(value: Any, where: str) -> Any:
    """``value`` as plain JSON data (numpy scalars and arrays become numbers and lists);
    refused, naming ``where``, for what JSON cannot hold."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, (int, float)) or (isinstance(value, np.generic) and np.issubdtype(type(value), np.number)):
        number = value.item() if isinstance(value, np.generic) else value
        if isinstance(number, float) and not math.isfinite(number):
            raise InvalidInputError(f"{where} is {number}: JSON has no NaN or infinity; use null or leave the key out")
        return number
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise InvalidInputError(f"{where} has a key {key!r} that is not a string")
        return {key: _plain(v, f"{where}[{key!r}]") for key, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    hint = " (convert it, e.g. with .isoformat())" if isinstance(value, (datetime.date, datetime.time)) else ""
    raise InvalidInputError(f"{where} is a {type(value).__name__}, which is not JSON{hint}: metadata holds strings, "
                            "numbers, booleans, null, lists and objects")


def struct_from_dict(value: Mapping[str, Any], *, where: str = "metadata", stored: bool = False) -> struct_pb2.Struct:
    """``value`` as a Struct; numpy scalars and arrays become numbers and lists, anything
    else JSON cannot hold (a NaN, a date) is refused naming ``where`` and the key.

    ``stored``: ``value`` is metadata a project holds, plain JSON since it was accepted, so
    it is not checked again: the check nearly doubles the cost of a reply's metadata (56 KB
    of it: 6-8 ms unchecked, 10-16 ms checked, measured).
    """
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{where} must be a mapping (a dict), got {type(value).__name__}")
    message = struct_pb2.Struct()
    message.update(value if stored else _plain(value, where))
    return message


def dict_from_struct(message: struct_pb2.Struct, *, item: str = "") -> dict[str, Any]:
    """The metadata of ``item`` as a dict; refused, naming the item, for what JSON cannot
    hold (a NaN or infinite number)."""
    try:
        return json_format.MessageToDict(message)
    except ValueError as exc:
        raise not_plain_json(item, exc) from None


# ----------------------------------------------------------------------- picks
#: The terms of a :class:`~knn_al.learner.types.Pick` a ScoreBreakdown carries: all its fields but ``id`` and ``row``.
SCORE_TERMS = ("score", "uncertainty", "density", "diversity", "uncertainty_term", "density_term", "diversity_term")


def score_to_proto(pick: Pick) -> pb.ScoreBreakdown:
    return pb.ScoreBreakdown(**{term: getattr(pick, term) for term in SCORE_TERMS})


def score_from_proto(message: pb.ScoreBreakdown) -> dict[str, float]:
    """The :data:`SCORE_TERMS` by name."""
    return {term: getattr(message, term) for term in SCORE_TERMS}


# ----------------------------------------------------------------- predictions
def neighbor_to_proto(neighbor: Neighbor) -> pb.Neighbor:
    return pb.Neighbor(id=neighbor.id, similarity=neighbor.similarity, label=neighbor.label)


def neighbor_from_proto(message: pb.Neighbor) -> Neighbor:
    return Neighbor(id=message.id, similarity=message.similarity, label=message.label)


def prediction_to_proto(prediction: Prediction) -> pb.Prediction:
    return pb.Prediction(id=prediction.id, label=prediction.label, probabilities=prediction.probabilities,
                         neighbors=[neighbor_to_proto(n) for n in prediction.neighbors])


def prediction_from_proto(message: pb.Prediction) -> Prediction:
    return Prediction(id=message.id, label=message.label, probabilities=dict(message.probabilities),
                      neighbors=[neighbor_from_proto(n) for n in message.neighbors])


# ---------------------------------------------------------- goals and progress
def estimate_to_proto(estimate: AccuracyEstimate) -> pb.AccuracyEstimate:
    return pb.AccuracyEstimate(accuracy=estimate.accuracy, low=estimate.low, high=estimate.high,
                               labeled=estimate.labeled)


def estimate_from_proto(message: pb.AccuracyEstimate) -> AccuracyEstimate:
    return AccuracyEstimate(accuracy=message.accuracy, low=message.low, high=message.high, labeled=message.labeled)


def progress_to_proto(progress: Progress) -> pb.Progress:
    message = pb.Progress(estimate=estimate_to_proto(progress.estimate), target_accuracy=progress.target_accuracy,
                          label_budget=progress.label_budget, stop_reason=stop_reason_to_proto(progress.stop_reason),
                          active_model=progress.active_model)
    if progress.budget_left is not None:  # unset: no budget
        message.budget_left = progress.budget_left
    return message


def progress_from_proto(message: pb.Progress) -> Progress:
    return Progress(estimate=estimate_from_proto(message.estimate), target_accuracy=message.target_accuracy,
                    label_budget=message.label_budget,
                    budget_left=message.budget_left if message.HasField("budget_left") else None,
                    stop_reason=stop_reason_from_proto(message.stop_reason), active_model=message.active_model)


def stats_to_proto(stats: ProjectStats) -> pb.GetStatsResponse:
    return pb.GetStatsResponse(labeled=stats.labeled, propagated=stats.propagated, auto_labeled=stats.auto_labeled,
                               leased=stats.leased, pool_size=stats.pool_size, duplicate_groups=stats.duplicate_groups,
                               grouped_items=stats.grouped_items, outliers=stats.outliers,
                               mean_uncertainty=stats.mean_uncertainty, progress=progress_to_proto(stats.progress),
                               skipped=stats.skipped)


def stats_from_proto(message: pb.GetStatsResponse) -> ProjectStats:
    return ProjectStats(labeled=message.labeled, propagated=message.propagated, auto_labeled=message.auto_labeled,
                        leased=message.leased, pool_size=message.pool_size, duplicate_groups=message.duplicate_groups,
                        grouped_items=message.grouped_items, outliers=message.outliers,
                        mean_uncertainty=message.mean_uncertainty, progress=progress_from_proto(message.progress),
                        skipped=message.skipped)


# -------------------------------------------------------- labels, streams, export
def receipt_from_proto(message: pb.SubmitLabelResponse | pb.SubmitLabelsResponse) -> LabelReceipt:
    return LabelReceipt(labeled_count=message.labeled_count, propagated=list(message.propagated_ids))


def decision_to_proto(decision: Decision) -> pb.StreamDecision:
    action = pb.StreamDecision.ACTION_QUERY if decision.query else pb.StreamDecision.ACTION_AUTO
    message = pb.StreamDecision(id=decision.id, action=action, reason=decision.reason, label=decision.label,
                                confidence=decision.confidence, probabilities=decision.probabilities,
                                lease_expires_at=decision.lease_expires_at)
    if decision.budget_left is not None:  # unset: no budget
        message.budget_left = decision.budget_left
    return message


def decision_from_proto(message: pb.StreamDecision) -> Decision:
    return Decision(id=message.id, query=message.action == pb.StreamDecision.ACTION_QUERY, reason=message.reason,
                    label=message.label, confidence=message.confidence, probabilities=dict(message.probabilities),
                    budget_left=message.budget_left if message.HasField("budget_left") else None,
                    lease_expires_at=message.lease_expires_at)


def export_to_proto(records: Iterable[ExportRecord]) -> pb.ExportChunk:
    return pb.ExportChunk(records=[pb.ExportRecord(id=r.id, label=r.label, source=r.source, confidence=r.confidence,
                                                   metadata=struct_from_dict(r.metadata, stored=True),
                                                   annotator=r.annotator, labeled_at=r.labeled_at)
                                   for r in records])


def export_from_proto(message: pb.ExportChunk) -> list[ExportRecord]:
    return [ExportRecord(id=r.id, label=r.label, source=r.source, confidence=r.confidence,
                         metadata=dict_from_struct(r.metadata, item=r.id), annotator=r.annotator,
                         labeled_at=r.labeled_at)
            for r in message.records]


# ----------------------------------------------------------------------- items
def item_to_proto(item: ItemRecord) -> pb.Item:
    return pb.Item(id=item.id, state=_ITEM_STATE.value(item.state), label=item.label, annotator=item.annotator,
                   metadata=struct_from_dict(item.metadata, stored=True), predicted_label=item.predicted_label,
                   confidence=item.confidence, probabilities=item.probabilities, outlier=item.outlier,
                   density=item.density, lease_annotator=item.lease_annotator,
                   lease_expires_at=item.lease_expires_at)


def item_from_proto(message: pb.Item) -> ItemRecord:
    return ItemRecord(id=message.id, state=_ITEM_STATE.name(message.state), label=message.label,
                      annotator=message.annotator, metadata=dict_from_struct(message.metadata, item=message.id),
                      predicted_label=message.predicted_label, confidence=message.confidence,
                      probabilities=dict(message.probabilities), outlier=message.outlier, density=message.density,
                      lease_annotator=message.lease_annotator, lease_expires_at=message.lease_expires_at)


def hit_to_proto(hit: SearchHit) -> pb.SearchHit:
    return pb.SearchHit(id=hit.id, similarity=hit.similarity, state=_ITEM_STATE.value(hit.state), label=hit.label,
                        metadata=struct_from_dict(hit.metadata, stored=True))


def hit_from_proto(message: pb.SearchHit) -> SearchHit:
    return SearchHit(id=message.id, similarity=message.similarity, state=_ITEM_STATE.name(message.state),
                     label=message.label, metadata=dict_from_struct(message.metadata, item=message.id))


# ---------------------------------------------------------------------- review
def suspicion_to_proto(suspicion: Suspicion) -> pb.SuspiciousLabel:
    return pb.SuspiciousLabel(id=suspicion.id, label=suspicion.label, predicted_label=suspicion.predicted_label,
                              confidence=suspicion.confidence, annotator=suspicion.annotator)


def suspicion_from_proto(message: pb.SuspiciousLabel) -> Suspicion:
    return Suspicion(id=message.id, label=message.label, predicted_label=message.predicted_label,
                     confidence=message.confidence, annotator=message.annotator)


def group_to_proto(group: DuplicateGroup) -> pb.DuplicateGroup:
    return pb.DuplicateGroup(ids=group.ids, label=group.label)


def group_from_proto(message: pb.DuplicateGroup) -> DuplicateGroup:
    return DuplicateGroup(ids=list(message.ids), label=message.label)


def label_event_to_proto(event: LabelEvent) -> pb.LabelEvent:
    return pb.LabelEvent(id=event.id, label=event.label, annotator=event.annotator, time=event.time)


def label_event_from_proto(message: pb.LabelEvent) -> LabelEvent:
    return LabelEvent(id=message.id, label=message.label, annotator=message.annotator, time=message.time)
