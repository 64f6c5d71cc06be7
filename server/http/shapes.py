"""The JSON shapes of the HTTP API, made from the project layer's records.

Plain dicts of JSON values (NaN and infinities, which JSON lacks, become null: an accuracy
estimate is NaN until the first label). The OpenAPI document
(:mod:`knn_al.server.http.openapi`) describes each shape; the tests check replies against it.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import fields, is_dataclass
from typing import Any

from knn_al.learner.types import Neighbor, Pick
from knn_al.projects.records import ExportRecord, Prediction, ProjectInfo, Sample

__all__ = ["Links", "confidence", "export_record", "neighbor", "plain", "prediction", "project_info", "sample",
           "score"]

#: An item's media URL from its id and metadata (see :func:`knn_al.server.http.media.media_url`).
Links = Callable[[str, Mapping[str, Any]], "str | None"]


def plain(value: Any) -> Any:
    """``value`` (records, mappings, sequences, numbers) as JSON values; non-finite floats as null."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def project_info(info: ProjectInfo) -> dict[str, Any]:
    return {"name": info.name, "state": info.state, "problem": info.problem, "pool_size": info.pool_size,
            "labeled_count": info.labeled_count, "leased_count": info.leased_count,
            "label_counts": dict(info.label_counts), "active_model": info.active_model,
            "settings": plain(info.settings)}


def confidence(probabilities: Mapping[str, float]) -> float:
    """The top class probability (0 before the first label: no classes yet)."""
    return max(probabilities.values(), default=0.0)


def score(pick: Pick) -> dict[str, float]:
    return {name: plain(getattr(pick, name)) for name in ("score", "uncertainty", "density", "diversity",
                                                          "uncertainty_term", "density_term", "diversity_term")}


def neighbor(found: Neighbor, metadata: Mapping[str, Any], links: Links) -> dict[str, Any]:
    return {"id": found.id, "similarity": found.similarity, "label": found.label, "metadata": dict(metadata),
            "media": links(found.id, metadata)}


def sample(given: Sample, links: Links) -> dict[str, Any]:
    return {"id": given.id, "metadata": given.metadata, "media": links(given.id, given.metadata),
            "predicted_label": given.predicted_label, "confidence": confidence(given.probabilities),
            "probabilities": given.probabilities, "score": score(given.pick),
            "lease_expires_at": given.lease_expires_at}


def prediction(given: Prediction, neighbors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": given.id, "label": given.label, "confidence": confidence(given.probabilities),
            "probabilities": given.probabilities, "neighbors": neighbors}


def export_record(record: ExportRecord) -> dict[str, Any]:
    return plain(record)  # type: ignore[no-any-return]
