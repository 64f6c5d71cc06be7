"""Conversions between the wire messages (knn_al.v1) and the server's requests and records.

The wire conventions both sides share (enum names, metadata Structs, vector bytes, the
records the client returns too) live in :mod:`knn_al.v1.codec`; they are re-exported
here because the servicer takes every conversion from this module. What is left is the
server's own: which kind of items a request carries, and the project settings and
records only the server builds messages from.
"""
from __future__ import annotations

from typing import Any

from knn_al.errors import InvalidInputError
from knn_al.projects.records import ProjectInfo, Sample
from knn_al.projects.settings import ProjectSettings
from knn_al.v1 import active_learning_pb2 as pb
from knn_al.v1.codec import (conflict_from_proto, decision_to_proto, dict_from_struct, export_to_proto,
                             group_to_proto, hit_to_proto, item_filter_from_proto, item_to_proto,
                             label_event_to_proto, prediction_to_proto, progress_to_proto, score_to_proto,
                             state_to_proto, stats_to_proto, strategy_from_proto, strategy_to_proto, struct_from_dict,
                             suspicion_to_proto, vectors_from_proto)

__all__ = ["conflict_from_proto", "decision_to_proto", "dict_from_struct", "export_to_proto", "group_to_proto",
           "hit_to_proto", "info_to_proto", "item_filter_from_proto", "item_kind", "item_to_proto",
           "label_event_to_proto", "prediction_to_proto", "progress_to_proto", "sample_to_proto",
           "settings_from_proto", "settings_to_proto", "stats_to_proto", "strategy_name", "suspicion_to_proto",
           "vectors_from_proto"]

#: A request's strategy: None for ``STRATEGY_UNSPECIFIED`` (the project's default).
strategy_name = strategy_from_proto


# ------------------------------------------------------------------- raw items
def item_kind(message: pb.AddItemsRequest | pb.PredictRequest | pb.StreamItemsRequest) -> str | None:
    """Which of ``vectors``, ``texts`` or ``images`` a request carries (None: none of them);
    :class:`InvalidInputError` if it carries more than one. A stream item's singular
    ``vector``, ``text``, ``image`` count as the plural kinds."""
    if isinstance(message, pb.StreamItemsRequest):
        present = {"vectors": message.HasField("vector"), "texts": bool(message.text), "images": bool(message.image)}
    else:
        present = {"vectors": message.HasField("vectors"), "texts": bool(message.texts), "images": bool(message.images)}
    kinds = [kind for kind, given in present.items() if given]
    if len(kinds) > 1:
        raise InvalidInputError(f"a request carries {' and '.join(kinds)}: send items as exactly one of "
                                "vectors, texts or images")
    return kinds[0] if kinds else None


# -------------------------------------------------------------------- projects
def _default(field: str) -> Any:
    """The default of a :class:`ProjectSettings` field: what its zero value on the wire stands for."""
    return ProjectSettings.__dataclass_fields__[field].default


def settings_from_proto(message: pb.ProjectSettings) -> ProjectSettings:
    strategy = strategy_from_proto(message.default_strategy)
    optional = {name: getattr(message, name) for name in ("duplicate_threshold", "outlier_quantile")
                if message.HasField(name)}
    return ProjectSettings(
        name=message.name,
        dimension=message.dimension,
        k=message.k or _default("k"),
        default_strategy=strategy or _default("default_strategy"),
        labels=tuple(message.labels),
        lease_seconds=message.lease_seconds or _default("lease_seconds"),
        encoder=message.encoder,
        target_accuracy=message.target_accuracy,
        label_budget=message.label_budget,
        keep_raw=message.keep_raw,
        model=message.model or _default("model"),
        exponents=tuple(message.exponents) or _default("exponents"),
        vector_dtype=message.vector_dtype or _default("vector_dtype"),
        shards=message.shards or _default("shards"),
        **optional,
    )


def settings_to_proto(settings: ProjectSettings) -> pb.ProjectSettings:
    return pb.ProjectSettings(name=settings.name, dimension=settings.dimension, k=settings.k,
                              default_strategy=strategy_to_proto(settings.default_strategy),
                              labels=list(settings.labels), lease_seconds=settings.lease_seconds,
                              encoder=settings.encoder, duplicate_threshold=settings.duplicate_threshold,
                              outlier_quantile=settings.outlier_quantile, target_accuracy=settings.target_accuracy,
                              label_budget=settings.label_budget, keep_raw=settings.keep_raw, model=settings.model,
                              exponents=list(settings.exponents), vector_dtype=settings.vector_dtype,
                              shards=settings.shards)


def info_to_proto(info: ProjectInfo) -> pb.ProjectInfo:
    # A broken project has no settings: only its name (and its problem) travel.
    settings = settings_to_proto(info.settings) if info.settings else pb.ProjectSettings(name=info.name)
    return pb.ProjectInfo(settings=settings, pool_size=info.pool_size, labeled_count=info.labeled_count,
                          leased_count=info.leased_count, label_counts=info.label_counts,
                          state=state_to_proto(info.state), problem=info.problem, active_model=info.active_model)


def sample_to_proto(sample: Sample) -> pb.Sample:
    return pb.Sample(id=sample.id, metadata=struct_from_dict(sample.metadata, stored=True),
                     predicted_label=sample.predicted_label, probabilities=sample.probabilities,
                     score=score_to_proto(sample.pick), lease_expires_at=sample.lease_expires_at)
