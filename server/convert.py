"""Conversions between the wire messages (knn_al.v1) and the library's numpy arrays and dataclasses."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from google.protobuf import json_format, struct_pb2

from knn_al.errors import InvalidInputError
from knn_al.learner.limits import not_plain_json
from knn_al.learner import Pick
from knn_al.projects.records import (Decision, ExportRecord, Neighbor, Prediction, ProjectInfo, ProjectStats,
                                    Progress, Sample)
from knn_al.projects.settings import ProjectSettings
from knn_al.learner.types import AccuracyEstimate
from knn_al.v1 import active_learning_pb2 as pb

_FLOAT32 = np.dtype("<f4")


# ------------------------------------------------------------------ strategies
def strategy_name(value: int) -> str | None:
    """``STRATEGY_MARGIN`` → ``"margin"``; ``STRATEGY_UNSPECIFIED`` → None (the project default)."""
    if value == pb.STRATEGY_UNSPECIFIED:
        return None
    try:
        return pb.Strategy.Name(value).removeprefix("STRATEGY_").lower()
    except ValueError:
        raise InvalidInputError(f"unknown strategy enum value {value}") from None


def strategy_enum(name: str) -> int:
    return pb.Strategy.Value("STRATEGY_" + name.upper())


# --------------------------------------------------------------------- vectors
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


# ------------------------------------------------------------------- raw items
def item_kind(message: pb.AddItemsRequest | pb.PredictRequest | pb.StreamItemsRequest) -> str | None:
    """Which of ``vectors``, ``texts`` or ``images`` a request carries (None: none of them);
    :class:`InvalidInputError` if it carries more than one. A stream item's singular
    ``vector``, ``text``, ``image`` count as the plural kinds."""
    one = isinstance(message, pb.StreamItemsRequest)
    kinds = [kind for kind, present in (
        ("vectors", message.HasField("vector" if one else "vectors")),
        ("texts", bool(message.text if one else message.texts)),
        ("images", bool(message.image if one else message.images))) if present]
    if len(kinds) > 1:
        raise InvalidInputError(f"a request carries {' and '.join(kinds)}: send items as exactly one of "
                                "vectors, texts or images")
    return kinds[0] if kinds else None


# -------------------------------------------------------------------- metadata
def struct_from_dict(value: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def dict_from_struct(message: struct_pb2.Struct, *, item: str = "") -> dict[str, Any]:
    """The metadata of ``item`` as a dict; :class:`InvalidInputError` naming it for what
    JSON cannot hold (a NaN or infinite number)."""
    try:
        return json_format.MessageToDict(message)
    except ValueError as exc:
        raise not_plain_json(item, exc) from None


# -------------------------------------------------------------------- projects
def settings_from_proto(message: pb.ProjectSettings) -> ProjectSettings:
    defaults = ProjectSettings.__dataclass_fields__
    strategy = strategy_name(message.default_strategy)
    optional = {name: getattr(message, name) for name in ("duplicate_threshold", "outlier_quantile")
                if message.HasField(name)}
    return ProjectSettings(
        name=message.name,
        dimension=message.dimension,
        k=message.k or defaults["k"].default,
        default_strategy=strategy or defaults["default_strategy"].default,
        labels=tuple(message.labels),
        lease_seconds=message.lease_seconds or defaults["lease_seconds"].default,
        encoder=message.encoder,
        target_accuracy=message.target_accuracy,
        label_budget=message.label_budget,
        **optional,
    )


def settings_to_proto(settings: ProjectSettings) -> pb.ProjectSettings:
    return pb.ProjectSettings(name=settings.name, dimension=settings.dimension, k=settings.k,
                              default_strategy=strategy_enum(settings.default_strategy),
                              labels=list(settings.labels), lease_seconds=settings.lease_seconds,
                              encoder=settings.encoder, duplicate_threshold=settings.duplicate_threshold,
                              outlier_quantile=settings.outlier_quantile, target_accuracy=settings.target_accuracy,
                              label_budget=settings.label_budget)


def info_to_proto(info: ProjectInfo) -> pb.ProjectInfo:
    settings = settings_to_proto(info.settings) if info.settings else pb.ProjectSettings(name=info.name)
    return pb.ProjectInfo(settings=settings, pool_size=info.pool_size, labeled_count=info.labeled_count,
                          leased_count=info.leased_count, label_counts=info.label_counts,
                          state=pb.ProjectState.Value("PROJECT_STATE_" + info.state.upper()), problem=info.problem)


# ----------------------------------------------------------- picks, predictions
def score_to_proto(pick: Pick) -> pb.ScoreBreakdown:
    return pb.ScoreBreakdown(score=pick.score, uncertainty=pick.uncertainty, density=pick.density,
                             diversity=pick.diversity, uncertainty_term=pick.uncertainty_term,
                             density_term=pick.density_term, diversity_term=pick.diversity_term)


def sample_to_proto(sample: Sample) -> pb.Sample:
    return pb.Sample(id=sample.id, metadata=struct_from_dict(sample.metadata), predicted_label=sample.predicted_label,
                     probabilities=sample.probabilities, score=score_to_proto(sample.pick),
                     lease_expires_at=sample.lease_expires_at)


def neighbor_to_proto(neighbor: Neighbor) -> pb.Neighbor:
    return pb.Neighbor(id=neighbor.id, similarity=neighbor.similarity, label=neighbor.label)


def prediction_to_proto(prediction: Prediction) -> pb.Prediction:
    return pb.Prediction(id=prediction.id, label=prediction.label, probabilities=prediction.probabilities,
                         neighbors=[neighbor_to_proto(n) for n in prediction.neighbors])


# -------------------------------------------------------- goals and progress
def estimate_to_proto(estimate: AccuracyEstimate) -> pb.AccuracyEstimate:
    return pb.AccuracyEstimate(accuracy=estimate.accuracy, low=estimate.low, high=estimate.high,
                               labeled=estimate.labeled)


def progress_to_proto(progress: Progress) -> pb.Progress:
    message = pb.Progress(estimate=estimate_to_proto(progress.estimate), target_accuracy=progress.target_accuracy,
                          label_budget=progress.label_budget,
                          stop_reason=pb.StopReason.Value("STOP_REASON_" + (progress.stop_reason or "unspecified").upper()))
    if progress.budget_left is not None:
        message.budget_left = progress.budget_left
    return message


def stats_to_proto(stats: ProjectStats) -> pb.GetStatsResponse:
    return pb.GetStatsResponse(labeled=stats.labeled, propagated=stats.propagated, auto_labeled=stats.auto_labeled,
                               leased=stats.leased, pool_size=stats.pool_size, duplicate_groups=stats.duplicate_groups,
                               grouped_items=stats.grouped_items, outliers=stats.outliers,
                               mean_uncertainty=stats.mean_uncertainty, progress=progress_to_proto(stats.progress))


# ------------------------------------------------------------ streams, export
def decision_to_proto(decision: Decision) -> pb.StreamDecision:
    message = pb.StreamDecision(id=decision.id, reason=decision.reason, label=decision.label,
                                action=pb.StreamDecision.ACTION_QUERY if decision.query else pb.StreamDecision.ACTION_AUTO,
                                confidence=decision.confidence, probabilities=decision.probabilities,
                                lease_expires_at=decision.lease_expires_at)
    if decision.budget_left is not None:
        message.budget_left = decision.budget_left
    return message


def export_to_proto(records: list[ExportRecord]) -> pb.ExportChunk:
    return pb.ExportChunk(records=[pb.ExportRecord(id=r.id, label=r.label, source=r.source, confidence=r.confidence)
                                   for r in records])
