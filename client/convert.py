"""The client's own records from the wire messages: a project's info and a leased sample.

Everything both sides share (enum names, metadata, vectors, score terms, progress,
predictions, decisions, exports) is converted by :mod:`knn_al.v1.codec`; these two
records differ from the server's (the client flattens a project's settings into its info
and returns a sample's score terms as a :class:`~knn_al.client.types.Score`).
"""
from __future__ import annotations

from knn_al.client.types import ProjectInfo, Sample, Score
from knn_al.v1 import active_learning_pb2 as pb
from knn_al.v1.codec import dict_from_struct, score_from_proto, state_from_proto, strategy_from_proto

__all__ = ["info_from_proto", "sample_from_proto"]


def info_from_proto(message: pb.ProjectInfo) -> ProjectInfo:
    s = message.settings
    return ProjectInfo(name=s.name, dimension=s.dimension, k=s.k,
                       # A broken project's settings carry only its name: no strategy.
                       default_strategy=strategy_from_proto(s.default_strategy) or "unspecified",
                       labels=list(s.labels), lease_seconds=s.lease_seconds, pool_size=message.pool_size,
                       labeled_count=message.labeled_count, leased_count=message.leased_count,
                       label_counts=dict(message.label_counts), encoder=s.encoder,
                       duplicate_threshold=s.duplicate_threshold, outlier_quantile=s.outlier_quantile,
                       target_accuracy=s.target_accuracy, label_budget=s.label_budget,
                       state=state_from_proto(message.state), problem=message.problem, keep_raw=s.keep_raw,
                       model=s.model, active_model=message.active_model, exponents=list(s.exponents),
                       vector_dtype=s.vector_dtype or "float32", shards=s.shards or 1)


def sample_from_proto(message: pb.Sample) -> Sample:
    return Sample(id=message.id, metadata=dict_from_struct(message.metadata, item=message.id),
                  predicted_label=message.predicted_label, probabilities=dict(message.probabilities),
                  score=Score(**score_from_proto(message.score)), lease_expires_at=message.lease_expires_at)
