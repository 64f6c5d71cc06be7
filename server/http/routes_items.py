"""Routes of items: list, get, add, remove, edit metadata, and show an item's media."""
from __future__ import annotations

from typing import Any, BinaryIO

from aiohttp import web

from knn_al.errors import CapacityError, InvalidInputError, NotFoundError, shown
from knn_al.projects.project import Project
from knn_al.server.http import shapes
from knn_al.server.http.api import Api, Call, Route
from knn_al.server.http.fields import Field
from knn_al.server.http.media import content_type_of_raw, media_path
from knn_al.server.http.routes_predict import vectors_of

__all__ = ["MEDIA_HEADERS", "ROUTES"]

#: Media are whatever files the roots hold (an SVG can carry script): never sniffed, never
#: run in the page's origin.
MEDIA_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox; default-src 'none'"}

ITEM_STATES = ("unlabeled", "labeled", "propagated", "leased", "skipped", "outlier")
CONFLICT_POLICIES = ("error", "skip", "replace")


def _items(api: Api, project: Project, ids: list[str]) -> list[dict[str, Any]]:
    links = api.links(project)
    return [{**shapes.plain(r), "media": links(r.id, r.metadata)} for r in project.items(ids)]


async def list_items(api: Api, call: Call) -> Any:
    project, args = api.project(call.project), call.args

    def run() -> Any:
        page = project.list_items(state=args["state"], page_size=args["page_size"], page_token=args["page_token"])
        links = api.links(project)
        return {"items": [{**shapes.plain(r), "media": links(r.id, r.metadata)} for r in page.items],
                "next_page_token": page.next_page_token}

    return await api.run(run, project=project)


async def get_items(api: Api, call: Call) -> Any:
    project = api.project(call.project)
    return {"items": await api.run(_items, api, project, call.args["ids"], project=project)}


async def get_item(api: Api, call: Call) -> Any:
    project = api.project(call.project)
    return (await api.run(_items, api, project, [call.path["item"]], project=project))[0]


async def add_items(api: Api, call: Call) -> Any:
    project, args = api.project(call.project), call.args
    ids, metadata = args["ids"], args["metadata"]
    if len(ids) > api.max_upload_items:
        raise CapacityError(f"one request may add at most {api.max_upload_items} items: split the upload into "
                            "several requests")
    given = [name for name in ("vectors", "texts") if args[name] is not None]
    if len(given) != 1:
        raise InvalidInputError("send the items as exactly one of vectors or texts"
                                + (f", not {' and '.join(given)}" if given else ""))
    if metadata is not None and len(metadata) != len(ids):
        raise InvalidInputError(f"{len(ids)} ids but {len(metadata)} metadata entries: give one per item or none")
    texts = args["texts"]
    if texts is not None:
        project.check_raw_kind("text")
        if len(texts) != len(ids):
            raise InvalidInputError(f"{len(ids)} ids but {len(texts)} texts")

    def run() -> Any:
        if texts is None:
            vectors, raw = vectors_of(args["vectors"]), None
        else:
            vectors, raw = project.embed(texts=texts, ids=ids), (texts if project.settings.keep_raw else None)
        result = project.add_items(ids, vectors, metadata, on_conflict=args["on_conflict"], raw=raw)
        return shapes.plain(result)

    return await api.run(run, project=project)


async def remove_items(api: Api, call: Call) -> Any:
    project = api.project(call.project)
    ids = call.args["ids"]
    pool_size = await api.run(project.remove_items, ids, project=project)
    return {"removed": len(ids), "pool_size": pool_size}


async def update_metadata(api: Api, call: Call) -> Any:
    project = api.project(call.project)
    return {"updated": await api.run(project.update_metadata, call.args["metadata"], project=project)}


def _close(opened: tuple[BinaryIO, str] | None) -> None:
    if opened is not None:
        opened[0].close()


async def media(api: Api, call: Call) -> web.StreamResponse:
    project = api.project(call.project)
    item = call.args["item"] if "item" in call.args else call.path["item"]

    def run() -> tuple[bytes, str] | dict[str, Any]:
        record = project.items([item])[0]  # an unknown item is refused as everywhere else
        raw = project.raw_item(item) if project.settings.keep_raw else None
        return raw if raw is not None else record.metadata

    found = await api.run(run, project=project)
    if isinstance(found, tuple):
        content, kind = found
        return web.Response(body=content, headers={**MEDIA_HEADERS, "Content-Type": content_type_of_raw(content, kind)})
    path = media_path(found)
    # A request cancelled (its client gone) while the file opens closes it, not the garbage collector.
    opened = await api.run(api.media.open, path, undo=_close) if path else None
    if opened is None:  # one answer whatever the reason: it tells nothing of the file system
        raise NotFoundError(f"item {shown(item)} has no media this server serves (files are served from its "
                            "--media-root directories only)")
    file, kind = opened  # streamed from the file checked, then closed by the response
    return web.Response(body=file, headers={**MEDIA_HEADERS, "Content-Type": kind})


P = "/projects/{project}"
IDS = Field("ids", "strings", "item ids", required=True)
ROUTES = (
    Route("GET", f"{P}/items", "listItems", "Items page by page, optionally of one state", list_items,
          reply="ItemPage",
          query=(Field("state", "string", "only items of this state (outlier: the outlier flag)", choices=ITEM_STATES),
                 Field("page_size", "integer", "items per page (1-1000)", default=50),
                 Field("page_token", "string", "next_page_token of the previous page", default=""))),
    Route("POST", f"{P}/items/get", "getItems", "Items by id", get_items, reply="Items", body=(IDS,),
          large_reply=True),
    Route("GET", f"{P}/items/{{item}}", "getItem", "One item", get_item, reply="Item"),
    Route("POST", f"{P}/items", "addItems", "Add items (as vectors, or texts for a text encoder)", add_items,
          reply="AddResult", once=True,
          body=(IDS, Field("vectors", "vectors", "one vector per item"),
                Field("texts", "strings", "one text per item, for a project with a text encoder"),
                Field("metadata", "objects", "one JSON object per item, or none"),
                Field("on_conflict", "string", "what to do with ids already in the pool", default="error",
                      choices=CONFLICT_POLICIES))),
    Route("POST", f"{P}/items/remove", "removeItems", "Remove items from the pool for good", remove_items,
          reply="Removed", once=True, body=(IDS,)),
    Route("POST", f"{P}/items/metadata", "updateMetadata", "Replace items' metadata", update_metadata,
          reply="Updated", once=True, body=(Field("metadata", "object_map", "item id -> its new metadata",
                                                  required=True),)),
    Route("GET", f"{P}/items/{{item}}/media", "getMedia", "An item's image or kept raw text", media, reply=""),
    Route("GET", f"{P}/media", "getMediaOf", "An item's image or kept raw text, by an id in the query: the media "
          "URL of the items '.' and '..', which browsers would resolve as directories in a path", media, reply="",
          query=(Field("item", "string", "the item id", required=True),)),
)
