"""What every HTTP route shares: the projects, the call queue, request ids, media roots,
and the declaration of a route (:class:`Route`) that the router and the OpenAPI document
are both built from."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from knn_al.projects.project import Project
from knn_al.projects.store import ProjectStore
from knn_al.server.calls import Calls
from knn_al.server.http.fields import Field
from knn_al.server.http.media import MediaRoots, media_url
from knn_al.server.http.shapes import Links
from knn_al.server.idempotency import RecentReplies

__all__ = ["COMPUTE", "Api", "Call", "Compute", "Handler", "REQUEST_ID", "Route"]

T = TypeVar("T")

#: The field of every mutating route: a retry with the same id gets the first reply.
REQUEST_ID = Field("request_id", "string", "an id of this request (a UUID): a retry with the same id and body "
                                           "gets the first call's reply instead of running again", default="")


@dataclass
class Compute:
    """Seconds a request spent in library calls (its ``Server-Timing: compute`` header, the
    twin of gRPC's ``knn-al-compute-ms`` trailer), and how many it made."""

    seconds: float = 0.0
    calls: int = 0


#: The current request's :class:`Compute` (set by the application's timing middleware).
COMPUTE: ContextVar[Compute | None] = ContextVar("knn_al_http_compute", default=None)


class Api:
    """The state the routes share: ``store``'s projects, run through ``calls`` (shared with
    gRPC), request ids, ``media_roots``, and the most items one request may add."""

    def __init__(self, store: ProjectStore, calls: Calls, *, media_roots: Sequence[Path],
                 max_upload_items: int) -> None:
        self.store, self.calls = store, calls
        self.media = MediaRoots(media_roots)
        self.max_upload_items = max_upload_items
        self.replies = RecentReplies()

    def project(self, name: str) -> Project:
        return self.store.get(name)

    async def run(self, fn: Callable[..., T], *args: Any, project: Project | None = None,
                  undo: Callable[[T], object] | None = None, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in a worker thread, queued behind ``project``'s other calls;
        ``undo(result)`` if the request is cancelled meanwhile (see :meth:`Calls.run`)."""
        result, seconds = await self.calls.run(fn, *args, project=project, undo=undo, **kwargs)
        compute = COMPUTE.get()
        if compute is not None:
            compute.seconds += seconds
            compute.calls += 1
        return result

    @staticmethod
    def links(project: Project) -> Links:
        """The media URL of ``project``'s items, from an id and its metadata."""
        name, keeps_raw = project.settings.name, project.settings.keep_raw
        return lambda item_id, metadata: media_url(name, item_id, metadata, keeps_raw=keeps_raw)


@dataclass(frozen=True)
class Call:
    """One request to a route: its ``path`` parameters and its checked ``args`` (body or query)."""

    path: Mapping[str, str]
    args: dict[str, Any]

    @property
    def project(self) -> str:
        return self.path["project"]


#: A route's work: JSON values to send, or a ready response (media files).
Handler = Callable[[Api, Call], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    """One operation: ``method`` and ``path`` (under /api/v1), its ``handler``, its request
    (a JSON ``body`` of fields, or ``query`` fields), its reply (``reply``: a schema name of
    :mod:`knn_al.server.http.openapi`; "" for bytes) and success ``status``. A route with
    ``once`` changes something and takes :data:`REQUEST_ID`. A route with ``large_reply``
    may answer megabytes (as GET listings may): its reply is encoded in a worker thread."""

    method: str
    path: str
    name: str
    summary: str
    handler: Handler
    reply: str
    body: tuple[Field, ...] | None = None
    query: tuple[Field, ...] = ()
    status: int = 200
    once: bool = False
    large_reply: bool = False
    fields: tuple[Field, ...] = field(init=False)

    def __post_init__(self) -> None:
        declared = self.body if self.body is not None else self.query
        object.__setattr__(self, "fields", (*declared, REQUEST_ID) if self.once else declared)
