"""Routes of projects as a whole: list, create, get, delete, goals, stats, export."""
from __future__ import annotations

from typing import Any

from knn_al.projects.settings import ProjectSettings
from knn_al.server.http import shapes
from knn_al.server.http.api import Api, Call, Route
from knn_al.server.http.fields import SETTINGS_FIELDS, Field

__all__ = ["ROUTES"]


async def list_projects(api: Api, call: Call) -> Any:
    infos = await api.run(lambda: [p.info() for p in api.store.list()])
    return {"projects": [shapes.project_info(i) for i in infos]}


async def create_project(api: Api, call: Call) -> Any:
    settings = ProjectSettings(**{name: tuple(value) if isinstance(value, list) else value
                                  for name, value in call.args.items() if value is not None})
    info = await api.run(lambda: api.store.create(settings).info())
    return shapes.project_info(info)


async def get_project(api: Api, call: Call) -> Any:
    project = api.project(call.project)
    return shapes.project_info(await api.run(project.info, project=project))


async def delete_project(api: Api, call: Call) -> Any:
    await api.run(api.store.delete, call.project)
    return {}


async def set_goals(api: Api, call: Call) -> Any:
    project = api.project(call.project)

    def run() -> Any:
        project.set_goals(**call.args)
        return project.info()

    return shapes.project_info(await api.run(run, project=project))


async def stats(api: Api, call: Call) -> Any:
    project = api.project(call.project)
    return shapes.plain(await api.run(project.stats, project=project))


async def export(api: Api, call: Call) -> Any:
    project = api.project(call.project)
    records = await api.run(project.export, include_predictions=call.args["include_predictions"], project=project)
    return {"records": [shapes.export_record(r) for r in records]}


P = "/projects/{project}"
ROUTES = (
    Route("GET", "/projects", "listProjects", "Every project, quarantined ones included", list_projects,
          reply="ProjectList", query=()),
    Route("POST", "/projects", "createProject", "Create an empty project", create_project, reply="ProjectInfo",
          body=SETTINGS_FIELDS, status=201, once=True),
    Route("GET", P, "getProject", "A project's settings and counts", get_project, reply="ProjectInfo"),
    Route("DELETE", P, "deleteProject", "Delete a project and all its files", delete_project, reply="Empty",
          once=True),
    Route("POST", f"{P}/goals", "setGoals", "Change when labeling can stop (0 removes a goal)", set_goals,
          reply="ProjectInfo", once=True,
          body=(Field("target_accuracy", "number", "in [0, 1]; 0: none; absent: unchanged"),
                Field("label_budget", "integer", "0: none; absent: unchanged"))),
    Route("GET", f"{P}/stats", "getStats", "Counts, quality estimates and progress", stats, reply="Stats"),
    Route("GET", f"{P}/export", "export", "Human labels, then propagated ones (and predictions if asked)", export,
          reply="Export",
          query=(Field("include_predictions", "boolean", "also auto labels and predictions of unlabeled items",
                       default=False),)),
)
