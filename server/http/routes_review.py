"""Routes of the review views: outliers, duplicate groups, suspicious labels, recent labels."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from knn_al.projects.project import Project
from knn_al.server.http.api import Api, Call, Route
from knn_al.server.http.fields import Field

__all__ = ["ROUTES"]


def _metadata_of(project: Project, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The metadata of ``ids`` by id (read in the same worker call as the listing)."""
    unique = list(dict.fromkeys(ids))
    return {r.id: r.metadata for r in project.items(unique)} if unique else {}


def _with_media(api: Api, project: Project, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` (each with an "id") with their items' metadata and media."""
    metadata, links = _metadata_of(project, [r["id"] for r in rows]), api.links(project)
    return [{**row, "metadata": metadata[row["id"]], "media": links(row["id"], metadata[row["id"]])} for row in rows]


async def _listed(api: Api, call: Call, build: Callable[[Project], Any]) -> Any:
    project = api.project(call.project)
    return await api.run(build, project, project=project)


async def outliers(api: Api, call: Call) -> Any:
    return await _listed(api, call, lambda project: {"outliers": _with_media(
        api, project, [{"id": i, "density": d} for i, d in project.outliers(call.args["limit"])])})


async def duplicates(api: Api, call: Call) -> Any:
    def build(project: Project) -> Any:
        groups = project.duplicate_groups(call.args["limit"])
        metadata = _metadata_of(project, [i for g in groups for i in g.ids])
        return {"groups": [{"ids": list(g.ids), "label": g.label, "metadata": [metadata[i] for i in g.ids]}
                           for g in groups]}

    return await _listed(api, call, build)


async def suspicious(api: Api, call: Call) -> Any:
    return await _listed(api, call, lambda project: {"items": _with_media(
        api, project, [{"id": s.id, "label": s.label, "predicted_label": s.predicted_label,
                        "confidence": s.confidence, "annotator": s.annotator}
                       for s in project.suspicious(call.args["limit"])])})


async def recent(api: Api, call: Call) -> Any:
    def build(project: Project) -> Any:
        events = project.recent_labels(call.args["limit"], annotator=call.args["annotator"])
        metadata = _metadata_of(project, [e.id for e in events])
        return {"labels": [{"id": e.id, "label": e.label, "annotator": e.annotator, "time": e.time,
                            "metadata": metadata[e.id]} for e in events]}

    return await _listed(api, call, build)


def _limit(default: int) -> Field:
    return Field("limit", "integer", f"most entries (default {default})", default=default)


P = "/projects/{project}"
ROUTES = (
    Route("GET", f"{P}/outliers", "listOutliers", "Outliers, least dense first", outliers, reply="Outliers",
          query=(_limit(100),)),
    Route("GET", f"{P}/duplicates", "listDuplicateGroups", "Duplicate groups, largest first", duplicates,
          reply="DuplicateGroups", query=(_limit(100),)),
    Route("GET", f"{P}/suspicious", "listSuspiciousLabels",
          "Human labels their leave-one-out prediction disagrees with, most confident first", suspicious,
          reply="Suspicious", query=(_limit(100),)),
    Route("GET", f"{P}/recent", "listRecentLabels", "Current human labels, newest first", recent, reply="Recent",
          query=(_limit(50), Field("annotator", "string", "only this annotator's labels"))),
)
