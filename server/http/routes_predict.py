"""Routes of the model's answers: predictions and "more like this" search."""
from __future__ import annotations

from typing import Any

import numpy as np

from knn_al.errors import InvalidInputError
from knn_al.projects.project import Project
from knn_al.server.http import shapes
from knn_al.server.http.api import Api, Call, Route
from knn_al.server.http.explain import explained
from knn_al.server.http.fields import Field

__all__ = ["ROUTES", "vectors_of"]


def vectors_of(rows: list[Any], *, field: str = "vectors") -> np.ndarray:
    """A JSON list of number lists as a matrix (the project checks dimension and values)."""
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError:
        raise InvalidInputError(f"field {field!r} must be a list of equal-length lists of numbers") from None


def _one_of(args: dict[str, Any], names: tuple[str, ...], *, what: str) -> str:
    """The one of ``names`` given in ``args``; :class:`InvalidInputError` for none or several."""
    given = [name for name in names if args[name] is not None]
    if len(given) != 1:
        raise InvalidInputError(f"give exactly one of {', '.join(names)} to {what}"
                                + (f", not {' and '.join(given)}" if given else ""))
    return given[0]


async def predict(api: Api, call: Call) -> Any:
    project, args = api.project(call.project), call.args
    kind = _one_of(args, ("ids", "vectors", "texts"), what="predict")

    def run() -> Any:
        if kind == "ids":
            predictions = project.predict(args["ids"])
        else:
            vectors = vectors_of(args["vectors"]) if kind == "vectors" else project.embed(texts=args["texts"])
            predictions = project.predict(vectors=vectors)
        neighbors = explained(project, predictions) if args["explain"] else [[] for _ in predictions]
        return {"predictions": [shapes.prediction(p, n) for p, n in zip(predictions, neighbors)]}

    return await api.run(run, project=project)


def _search_vector(project: Project, args: dict[str, Any]) -> np.ndarray | None:
    if args["vector"] is not None:
        return vectors_of([args["vector"]], field="vector")
    if args["text"] is not None:
        return project.embed(texts=[args["text"]])
    return None


async def search(api: Api, call: Call) -> Any:
    project, args = api.project(call.project), call.args
    _one_of(args, ("id", "vector", "text"), what="search by")

    def run() -> Any:
        hits = project.search(item_id=args["id"], vector=_search_vector(project, args), limit=args["limit"],
                              unlabeled_only=args["unlabeled_only"])
        links = api.links(project)
        return {"hits": [{"id": h.id, "similarity": h.similarity, "state": h.state, "label": h.label,
                          "metadata": h.metadata, "media": links(h.id, h.metadata)} for h in hits]}

    return await api.run(run, project=project)


P = "/projects/{project}"
ROUTES = (
    Route("POST", f"{P}/predict", "predict", "Predictions for pool items, vectors or texts", predict,
          reply="Predictions", large_reply=True,
          body=(Field("ids", "strings", "pool items"), Field("vectors", "vectors", "unit or raw vectors"),
                Field("texts", "strings", "texts, for a project with a text encoder"),
                Field("explain", "boolean", "list the labeled neighbours behind each prediction (else [])",
                      default=False))),
    Route("POST", f"{P}/search", "search", "The pool items most similar to an item, a vector or a text", search,
          reply="SearchHits", large_reply=True,
          body=(Field("id", "string", "a pool item (excluded from the hits)"), Field("vector", "vector", "a vector"),
                Field("text", "string", "a text, for a project with a text encoder"),
                Field("limit", "integer", "most hits (1-1000)", default=10),
                Field("unlabeled_only", "boolean", "only items without a human or propagated label",
                      default=False))),
)
