"""The HTTP application: the API routes of the route table, auth, errors, the page, and its start.

Errors answer ``{"error": {"code": "<gRPC status name>", "message": "..."}}`` with the HTTP
status of :data:`knn_al.server.errors.STATUS_OF` and the message the gRPC API would send.
With a token, every ``/api/`` route but the OpenAPI document needs ``Authorization: Bearer
TOKEN`` (compared in constant time); the page and its files are public (they hold no data).
Every ``/api/`` request also passes :class:`knn_al.server.http.guard.Guard`: no cross-site
requests, JSON bodies only, and no host names on a server without a token.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import mimetypes
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from knn_al.errors import CapacityError, InvalidInputError, KnnAlError
from knn_al.server.errors import capped, http_status_of, status_of
from knn_al.server.http import openapi, routes_items, routes_labeling, routes_predict, routes_projects, routes_review
from knn_al.server.http.api import COMPUTE, Api, Call, Compute, Route
from knn_al.server.http.fields import parse_body, parse_query
from knn_al.server.http.guard import Guard
from knn_al.server.observe import CallRecord, Observer

__all__ = ["BASE", "PAGE_DIR", "ROUTES", "make_app", "start_http"]

log = logging.getLogger(__name__)

BASE = "/api/v1"
#: What a route's handler leaves on its request for the access log and the metrics.
ROUTE_KEY = web.RequestKey("knn_al.route", str)
ANNOTATOR_KEY = web.RequestKey("knn_al.annotator", str)
LABELS_KEY = web.RequestKey("knn_al.labels", int)
#: The labeling page's files (package data).
PAGE_DIR = Path(__file__).resolve().parent / "page"
#: Every API route; the router and the OpenAPI document are both made from it.
ROUTES: tuple[Route, ...] = (*routes_projects.ROUTES, *routes_labeling.ROUTES, *routes_predict.ROUTES,
                             *routes_items.ROUTES, *routes_review.ROUTES)
#: Bodies past this many bytes are decoded (and a request id's fingerprinted) in a thread: a
#: 64 MiB JSON upload must not stop the event loop gRPC shares for seconds. Replies that may
#: be as large (GET listings and exports, routes with ``large_reply``) are encoded in one too.
THREAD_BYTES = 256 * 1024
#: Headers of the page's files. The page keeps the token in localStorage and labels at a key
#: press: it runs only its own files (no inline script or style, no other origin), shows media
#: as blob: URLs (and a data: icon), and may not be framed by another site (clickjacking).
PAGE_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
                                           "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"}
#: The gRPC status name of the HTTP errors aiohttp raises itself.
_CODE_OF_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND", 405: "UNIMPLEMENTED",
                   413: "RESOURCE_EXHAUSTED"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _encoded(value: Any) -> bytes:
    return _dumps(value).encode("utf-8")


def error_response(status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
                   reason: str = "", field: str = "") -> web.Response:
    """The error body of every refusal: the gRPC code's name, the message, and as gRPC's
    details say them, the stable ``reason`` (the code's name where the library gave none)
    and the request ``field`` at fault ("" when unknown)."""
    body = {"code": code, "message": capped(message), "reason": reason or code, "field": field}
    return web.json_response({"error": body}, status=status, headers=headers, dumps=_dumps)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Library errors as their status; aiohttp's own (no route, body too large) in the same
    shape; anything else logged and answered 500 without internals."""
    try:
        return await handler(request)
    except KnnAlError as exc:
        return error_response(http_status_of(exc), status_of(exc).name, str(exc), reason=exc.reason,
                              field=getattr(exc, "field", ""))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            message = f"no route {request.method} {request.path}: the API is described at {BASE}/openapi.json"
        elif exc.status == 405:
            message = f"{request.method} is not allowed on {request.path}: the API is described at {BASE}/openapi.json"
        else:
            message = exc.text or exc.reason
        return error_response(exc.status, _CODE_OF_STATUS.get(exc.status, "UNKNOWN"), message)
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(500, "INTERNAL", f"internal error in {request.method} {request.path}; see the server log")


def _observed(observer: Observer | None) -> Any:
    """The middleware reporting every API call, once answered, to ``observer``
    (:mod:`knn_al.server.observe`): the access log and the metrics."""

    @web.middleware
    async def observed(request: web.Request, handler: Handler) -> web.StreamResponse:
        started, status = time.perf_counter(), 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except asyncio.CancelledError:
            status = 499  # the client went away: nginx's "client closed request"
            raise
        finally:
            if observer is not None and ROUTE_KEY in request:
                observer.record(CallRecord(
                    transport="http", method=request[ROUTE_KEY], project=request.match_info.get("project", ""),
                    annotator=request.get(ANNOTATOR_KEY, ""), seconds=time.perf_counter() - started,
                    status=str(status), labels=request.get(LABELS_KEY, 0) if status < 300 else 0))

    return observed


@web.middleware
async def _timing(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``Server-Timing: compute;dur=MS`` on replies that ran library calls: the time they
    took in worker threads, so a client can tell the library's time from the transport's."""
    compute = Compute()
    reset = COMPUTE.set(compute)  # a request id's task copies the context: it shares this Compute
    try:
        response = await handler(request)
    finally:
        COMPUTE.reset(reset)
    if compute.calls:
        response.headers["Server-Timing"] = f"compute;dur={compute.seconds * 1e3:.3f}"
    return response


def _auth(token: str | None, public: set[Handler]) -> Any:
    """The middleware refusing API calls without ``Authorization: Bearer TOKEN``."""
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token and request.path.startswith("/api/") and request.match_info.handler not in public:
            given = request.headers.get("Authorization")
            if given is None or not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected):
                message = ("wrong token in the 'Authorization: Bearer <token>' header" if given is not None
                           else "this server requires a token: send the header 'Authorization: Bearer <token>'")
                return error_response(401, "UNAUTHENTICATED", message, headers={"WWW-Authenticate": "Bearer"})
        return await handler(request)

    return check


def _guarded(guard: Guard) -> Any:
    """The middleware refusing what :class:`Guard` refuses, on the API only (the page is public and harmless)."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/api/"):
            refused = guard.refusal(method=request.method, scheme=request.scheme, headers=request.headers,
                                    content_type=request.content_type)
            if refused is not None:
                return error_response(refused.status, refused.code, refused.message)
        return await handler(request)

    return check


def _refuse_constant(constant: str) -> Any:
    raise InvalidInputError(f"the request body holds {constant}, which JSON does not have: send a number or null")


def _decoded(raw: bytes, route: Route) -> dict[str, Any]:
    """A request body ({} when empty) as ``route``'s checked fields."""
    if not raw.strip():
        return parse_body({}, route.fields)
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except InvalidInputError:
        raise
    except (ValueError, RecursionError) as exc:
        raise InvalidInputError(f"the request body is not JSON ({exc})") from None
    return parse_body(body, route.fields)


async def _body(request: web.Request) -> bytes:
    """The request's body, up to the server's limit."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise CapacityError(f"the request body is larger than this server's limit of {request.client_max_size} "
                            "bytes (--max-message-mb): send fewer items per request") from None


def _endpoint(api: Api, route: Route) -> Handler:
    async def reply(call: Call) -> bytes | web.StreamResponse:
        """The route's reply, JSON encoded (what a request id remembers, so a retry is not encoded again)."""
        value = await route.handler(api, call)
        if isinstance(value, web.StreamResponse):
            return value
        # The size of a reply is known only once encoded: listings, exports and the routes
        # that may answer megabytes (explained predictions, a thousand items) go to a thread.
        threaded = route.method == "GET" or route.large_reply
        return await asyncio.to_thread(_encoded, value) if threaded else _encoded(value)

    async def handle(request: web.Request) -> web.StreamResponse:
        request[ROUTE_KEY] = route.name
        large = False
        if route.body is not None:
            if request.query:  # else a request_id sent there would be silently ignored
                names = ", ".join(repr(name) for name in dict.fromkeys(request.query))
                raise InvalidInputError(f"{route.method} {BASE}{route.path} takes no query parameters, got {names}: "
                                        "send them as fields of the JSON body")
            raw = await _body(request)
            large = len(raw) > THREAD_BYTES
            args = await asyncio.to_thread(_decoded, raw, route) if large else _decoded(raw, route)
        else:
            args = parse_query({name: request.query.getone(name) for name in request.query}, route.fields)
        call = Call(path=dict(request.match_info), args=args)
        request[ANNOTATOR_KEY] = args.get("annotator") or ""
        if route.name == "submitLabels":
            request[LABELS_KEY] = len(args["labels"])
        if route.once:
            request_id = args.pop("request_id")
            answer = await api.replies.once(f"http {route.name}", request_id, {"path": dict(call.path), "args": args},
                                            lambda: reply(call), large=large)
        else:
            answer = await reply(call)
        if isinstance(answer, web.StreamResponse):
            return answer
        return web.Response(body=answer, status=route.status, content_type="application/json", charset="utf-8")

    return handle


def _page_file(name: str) -> web.StreamResponse:
    """A file of the page directory (no other: names with a path or a leading dot are not files of it)."""
    path = PAGE_DIR / name
    if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
        raise web.HTTPNotFound()
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/javascript", "image/svg+xml"):
        kind += "; charset=utf-8"
    return web.FileResponse(path, headers={"Content-Type": kind, **PAGE_HEADERS})


async def _page(request: web.Request) -> web.StreamResponse:
    return _page_file("index.html")


async def _static(request: web.Request) -> web.StreamResponse:
    return _page_file(request.match_info["name"])


def make_app(api: Api, *, token: str | None, host: str, max_body_bytes: int,
             observer: Observer | None = None) -> web.Application:
    """The application serving ``api``'s routes, the OpenAPI document and the page on ``host``
    (the --host), reporting each API call to ``observer``."""
    document = openapi.document(ROUTES, base=BASE)

    async def openapi_json(request: web.Request) -> web.StreamResponse:
        return web.json_response(document, dumps=_dumps)

    public: set[Handler] = {openapi_json, _page, _static}
    # Auth first: without the token a client learns nothing, not even what the guard refuses.
    guard = Guard(host=host, token=bool(token))
    app = web.Application(middlewares=[_observed(observer), _timing, _errors, _auth(token, public), _guarded(guard)],
                          client_max_size=max_body_bytes)
    for route in ROUTES:
        app.router.add_route(route.method, BASE + route.path, _endpoint(api, route))
    app.router.add_get(f"{BASE}/openapi.json", openapi_json)
    app.router.add_get("/", _page)
    app.router.add_get("/static/{name}", _static)
    return app


async def start_http(app: web.Application, *, host: str, port: int, ssl_context: ssl.SSLContext | None,
                     shutdown_timeout: float) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (0: a free port); returns its runner and the real port."""
    # Cancel a handler whose client went away: a /next nobody receives then gives its leases
    # back (its undo); the other routes finish their work regardless (Calls.run shields the
    # worker, a request id's work runs as a task of its own), only their reply is dropped.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout, handler_cancellation=True)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host.strip("[]"), port, ssl_context=ssl_context)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, int(runner.addresses[0][1])
