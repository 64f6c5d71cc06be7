"""Why a prediction: its labeled neighbours with their metadata and media, for the page's "why" panel."""
from __future__ import annotations

from typing import Any

from knn_al.projects.project import Project
from knn_al.projects.records import Prediction
from knn_al.server.http import shapes
from knn_al.server.http.api import Api

__all__ = ["explained"]


def explained(project: Project, predictions: list[Prediction]) -> list[list[dict[str, Any]]]:
    """The neighbours of each of ``predictions`` as JSON, with their metadata. Runs in the
    worker call that made the predictions, so the items cannot change in between."""
    ids = list(dict.fromkeys(n.id for p in predictions for n in p.neighbors))
    metadata = {record.id: record.metadata for record in project.items(ids)} if ids else {}
    links = Api.links(project)
    return [[shapes.neighbor(n, metadata[n.id], links) for n in p.neighbors] for p in predictions]
