"""The one place where library exceptions become gRPC status codes and HTTP statuses.

Every servicer method is wrapped with :func:`translate_errors`; the HTTP adapter answers
with :func:`http_status_of` and the gRPC code's name. The library's messages already name
the offending value and say what to fix, so both transports pass them on verbatim.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from knn_al.errors import (AlreadyExistsError, CapacityError, DiskFullError, DuplicateItemError,
                           InvalidInputError, KnnAlError, NotFoundError, StateError, UnavailableError,
                           UnknownItemError)
from knn_al.projects.files import BrokenProjectError
from knn_al.server.observe import CallRecord

log = logging.getLogger(__name__)

#: Checked in order: the first matching class wins (subclasses before their bases).
#: Each kind of error has its gRPC status code and its HTTP status.
STATUS_OF: tuple[tuple[type[KnnAlError], grpc.StatusCode, int], ...] = (
    (InvalidInputError, grpc.StatusCode.INVALID_ARGUMENT, 400),  # includes UnknownLabelError
    (UnknownItemError, grpc.StatusCode.NOT_FOUND, 404),
    (NotFoundError, grpc.StatusCode.NOT_FOUND, 404),
    (DuplicateItemError, grpc.StatusCode.ALREADY_EXISTS, 409),
    (AlreadyExistsError, grpc.StatusCode.ALREADY_EXISTS, 409),
    (StateError, grpc.StatusCode.FAILED_PRECONDITION, 412),
    (BrokenProjectError, grpc.StatusCode.FAILED_PRECONDITION, 412),
    # HTTP tells a full disk (507 Insufficient Storage) from a request too large (413).
    (DiskFullError, grpc.StatusCode.RESOURCE_EXHAUSTED, 507),
    (CapacityError, grpc.StatusCode.RESOURCE_EXHAUSTED, 413),
    (UnavailableError, grpc.StatusCode.UNAVAILABLE, 503),
)


def _entry(exc: KnnAlError) -> tuple[grpc.StatusCode, int]:
    for cls, code, http in STATUS_OF:
        if isinstance(exc, cls):
            return code, http
    return grpc.StatusCode.INTERNAL, 500


def status_of(exc: KnnAlError) -> grpc.StatusCode:
    """The gRPC status code of a library exception (INTERNAL for an unmapped one)."""
    return _entry(exc)[0]


def http_status_of(exc: KnnAlError) -> int:
    """The HTTP status of a library exception (500 for an unmapped one)."""
    return _entry(exc)[1]


Method = TypeVar("Method", bound=Callable[..., Awaitable[Any]])

#: Status details past 16 KB are replaced by gRPC's own "metadata size exceeds hard limit";
#: the library keeps its messages short, this is the last guard.
MAX_MESSAGE_CHARS = 2000


def capped(message: str) -> str:
    """``message``, cut past :data:`MAX_MESSAGE_CHARS` (both transports send no more)."""
    return message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS] + "… (message cut)"


def translate_errors(method: Method) -> Method:
    """Wrap an async servicer method: library errors abort the call with their status code;
    anything else is logged and becomes INTERNAL without leaking internals to the caller.
    Every call, answered or refused, is then reported to the servicer's ``observer``
    (:mod:`knn_al.server.observe`), if it has one."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        started, status = time.perf_counter(), grpc.StatusCode.OK
        try:
            return await method(self, request, context)
        except KnnAlError as exc:
            status = status_of(exc)
            await context.abort(*_with_details(status, exc, request))
        except asyncio.CancelledError:
            status = grpc.StatusCode.CANCELLED
            raise
        except Exception:
            status = grpc.StatusCode.INTERNAL
            log.exception("unexpected error in %s", method.__name__)
            await context.abort(status, f"internal error in {method.__name__}; see the server log")
        finally:
            observer = getattr(self, "observer", None)
            if observer is not None:
                observer.record(_record(method.__name__, request, status, time.perf_counter() - started))

    return wrapper  # type: ignore[return-value]


#: ErrorInfo's domain: where a reason's name is defined.
ERROR_DOMAIN = "knn-al"
#: The longest project name (knn_al.projects.settings): a longer one is not echoed back.
MAX_PROJECT_CHARS = 64
#: Bytes of UTF-8 of a refusal's message (2,000 ASCII characters and the "cut" note), and of
#: the field description of its BadRequest.
MESSAGE_BYTES, DETAIL_BYTES = 2100, 512


def _utf8_cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def _with_details(status: grpc.StatusCode, exc: KnnAlError, request: Any) -> tuple[grpc.StatusCode, str, Any]:
    """(code, message, trailing metadata) of a refusal, the metadata carrying a
    google.rpc.Status with an ErrorInfo (``reason``: the exception kind's, stable) and, for
    bad input, a BadRequest naming the field at fault when the library knows it.

    gRPC refuses a reply whose metadata passes 16 KB. The message travels there twice (as
    grpc-message, percent-encoded, and in the details, which must repeat it exactly), so it
    is cut to :data:`MESSAGE_BYTES` of UTF-8, and the field's description to
    :data:`DETAIL_BYTES`: a refusal is never refused for its own size."""
    message = _utf8_cut(capped(str(exc)), MESSAGE_BYTES)
    if isinstance(request, Message):
        project = getattr(request, "project", "") or getattr(getattr(request, "settings", None), "name", "")
    else:
        project = ""
    if len(project) > MAX_PROJECT_CHARS:  # not a project's name: the details must stay small
        project = ""
    info = error_details_pb2.ErrorInfo(reason=exc.reason, domain=ERROR_DOMAIN,
                                       metadata={"project": project} if project else {})
    details: list[Any] = [info]
    if isinstance(exc, InvalidInputError):
        details.append(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=exc.field,
                                                        description=_utf8_cut(message, DETAIL_BYTES))]))
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    full = rpc_status.to_status(status_pb2.Status(code=status.value[0], message=message, details=packed))
    return full.code, full.details, full.trailing_metadata


def _record(method: str, request: Any, status: grpc.StatusCode, seconds: float) -> CallRecord:
    """What the access log and the metrics say of a gRPC call (a streaming call's request is
    an iterator: no project or annotator)."""
    message = isinstance(request, Message)
    project = (getattr(request, "project", "") or getattr(getattr(request, "settings", None), "name", "")
               if message else "")
    labels = 0
    if status == grpc.StatusCode.OK and method in ("SubmitLabel", "SubmitLabels"):
        labels = 1 if method == "SubmitLabel" else len(request.labels)
    return CallRecord(transport="grpc", method=method, project=str(project),
                      annotator=str(getattr(request, "annotator", "")) if message else "", seconds=seconds,
                      status=status.name, labels=labels)
