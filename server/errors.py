"""The one place where library exceptions become gRPC status codes.

Every servicer method is wrapped with :func:`translate_errors`; the library's messages
already name the offending value and say what to fix, so they are passed on verbatim.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from knn_al.errors import (AlreadyExistsError, CapacityError, DuplicateItemError, InvalidInputError,
                           KnnAlError, NotFoundError, StateError, UnknownItemError)
from knn_al.projects.files import BrokenProjectError

log = logging.getLogger(__name__)

#: Checked in order: the first matching class wins (subclasses before their bases).
STATUS_OF: tuple[tuple[type[KnnAlError], grpc.StatusCode], ...] = (
    (InvalidInputError, grpc.StatusCode.INVALID_ARGUMENT),  # includes UnknownLabelError
    (UnknownItemError, grpc.StatusCode.NOT_FOUND),
    (NotFoundError, grpc.StatusCode.NOT_FOUND),
    (DuplicateItemError, grpc.StatusCode.ALREADY_EXISTS),
    (AlreadyExistsError, grpc.StatusCode.ALREADY_EXISTS),
    (StateError, grpc.StatusCode.FAILED_PRECONDITION),
    (BrokenProjectError, grpc.StatusCode.FAILED_PRECONDITION),
    (CapacityError, grpc.StatusCode.RESOURCE_EXHAUSTED),
)


def status_of(exc: KnnAlError) -> grpc.StatusCode:
    """The status code of a library exception (INTERNAL for an unmapped one)."""
    for cls, code in STATUS_OF:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


Method = TypeVar("Method", bound=Callable[..., Awaitable[Any]])

#: Status details past 16 KB are replaced by gRPC's own "metadata size exceeds hard limit";
#: the library keeps its messages short, this is the last guard.
MAX_MESSAGE_CHARS = 2000


def _capped(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS] + "… (message cut)"


def translate_errors(method: Method) -> Method:
    """Wrap an async servicer method: library errors abort the call with their status code;
    anything else is logged and becomes INTERNAL without leaking internals to the caller."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except KnnAlError as exc:
            await context.abort(status_of(exc), _capped(str(exc)))
        except Exception:
            log.exception("unexpected error in %s", method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method.__name__}; see the server log")

    return wrapper  # type: ignore[return-value]
