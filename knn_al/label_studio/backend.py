"""The ML backend's HTTP side: the routes Label Studio calls (the package docstring has
their shapes and sources), each one :class:`~knn_al.label_studio.bridge.Bridge` call.

The bridge's client is synchronous, so each call runs in a worker thread, off the event loop.
Errors answer ``{"error": message}``: Label Studio shows a refused ``/setup``'s message as
the backend's error state.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from knn_al.client import ServiceError
from knn_al.errors import InvalidInputError, KnnAlError, UnknownItemError
from knn_al.label_studio.bridge import Bridge
from knn_al.label_studio.rest import LabelStudioError

__all__ = ["BRIDGE", "make_app"]

BRIDGE = web.AppKey("bridge", Bridge)
#: The answer to a knn-al refusal, by its gRPC status's name (the library never imports
#: grpc); anything else is the server's trouble, not the request's (502).
_HTTP_OF = {"INVALID_ARGUMENT": 400, "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "FAILED_PRECONDITION": 409,
            "RESOURCE_EXHAUSTED": 413, "UNAVAILABLE": 503}


def _status(exc: KnnAlError) -> int:
    if isinstance(exc, ServiceError):
        return _HTTP_OF.get(exc.code.name, 502)
    if isinstance(exc, LabelStudioError):  # calling back into Label Studio failed: not this request's fault
        return 502
    return 404 if isinstance(exc, UnknownItemError) else 400 if isinstance(exc, InvalidInputError) else 500


async def _body(request: web.Request) -> Mapping[str, Any]:
    try:
        body = json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"the request body is not JSON ({exc})") from None
    if not isinstance(body, Mapping):
        raise InvalidInputError("the request body must be a JSON object")
    return body


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _route(call: Callable[[Bridge, Mapping[str, Any]], Any], *, status: int = 200) -> Handler:
    """A POST route answering ``call(bridge, body)`` as JSON (a None answer: an event the
    bridge does not follow)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            answer = await asyncio.to_thread(call, request.app[BRIDGE], await _body(request))
        except KnnAlError as exc:
            message = exc.message if isinstance(exc, ServiceError) else str(exc)
            return web.json_response({"error": message}, status=_status(exc))
        if answer is None:
            return web.json_response({"status": "Unknown event"})
        return web.json_response(answer, status=status)

    return handle


async def _health(_: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "UP", "model_class": "knn-al"})


def make_app(bridge: Bridge) -> web.Application:
    """The ML backend over ``bridge``: GET /health and /, POST /setup, /predict, /webhook."""
    app = web.Application(client_max_size=64 * 2**20)  # a /predict of many long texts
    app[BRIDGE] = bridge

    async def close(app: web.Application) -> None:
        await asyncio.to_thread(app[BRIDGE].close)

    app.on_cleanup.append(close)
    app.router.add_get("/health", _health)
    app.router.add_get("/", _health)
    app.router.add_post("/setup", _route(Bridge.setup))
    app.router.add_post("/predict", _route(Bridge.predict))
    app.router.add_post("/webhook", _route(lambda b, body: _webhook_reply(b.webhook(body)), status=201))
    return app


def _webhook_reply(result: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ML backend's webhook answer: ``{"result": ..., "status": "ok"}``."""
    return None if result is None else {"result": result, "status": "ok"}
