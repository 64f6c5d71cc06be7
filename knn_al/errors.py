"""Domain exceptions.

Every error the library raises on bad input derives from :class:`KnnAlError`, and each
subclass stands for one kind of mistake, so the gRPC layer can map them to status codes
in one place. Messages name the offending id, row or value and say what to fix. Each kind
has a stable ``reason`` (an upper-case name a program can test, sent in gRPC's ErrorInfo)
and an :class:`InvalidInputError` may name the request ``field`` at fault.
"""
from __future__ import annotations

from typing import Any, ClassVar


class KnnAlError(Exception):
    """Base class of every knn-al error."""

    reason: ClassVar[str] = "KNN_AL_ERROR"


class InvalidInputError(KnnAlError, ValueError):
    """Malformed input: wrong dimension, NaN/inf, zero vector, empty batch, bad parameter.
    ``field``: the parameter or request field at fault, when known ("" otherwise)."""

    reason = "INVALID_INPUT"

    def __init__(self, *args: Any, field: str = "") -> None:
        super().__init__(*args)
        self.field = field


class UnknownItemError(KnnAlError, KeyError):
    """An item id that is not in the pool."""

    reason = "UNKNOWN_ITEM"

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownLabelError(InvalidInputError):
    """A label outside the project's fixed label set."""

    reason = "UNKNOWN_LABEL"


class DuplicateItemError(KnnAlError):
    """An item id that already exists (or appears twice in one batch)."""

    reason = "DUPLICATE_ITEM"


class StateError(KnnAlError):
    """The request does not fit the item's current state (e.g. handing out a labeled item)."""

    reason = "WRONG_STATE"


class NotFoundError(KnnAlError, KeyError):
    """A named thing (project, dataset) that does not exist."""

    reason = "NOT_FOUND"

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class AlreadyExistsError(KnnAlError):
    """A named thing (project) that already exists."""

    reason = "ALREADY_EXISTS"


class CapacityError(KnnAlError):
    """A request larger than the service accepts (too many items in one upload, ...)."""

    reason = "TOO_LARGE"


class DiskFullError(CapacityError):
    """The disk holding the data directory is full; nothing was changed."""

    reason = "DISK_FULL"


class UnavailableError(KnnAlError):
    """A part the call needs is down for a moment (a shard being rebuilt): retry later;
    nothing was changed."""

    reason = "UNAVAILABLE"


# Messages must stay short whatever the input: gRPC refuses status details past 16 KB and
# a user reading a refusal needs the first offender, not an echo of a megabyte.
_SHOWN_CHARS = 80
_LISTED = 5


def shown(value: object, *, limit: int = _SHOWN_CHARS) -> str:
    """``repr(value)`` cut to about ``limit`` characters, saying how long it was."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = len(value) if isinstance(value, (str, bytes)) else len(text)
    return f"{text[:limit]}… ({size} characters in all)"


def _cut(text: str, limit: int = _SHOWN_CHARS) -> str:
    """``text`` unquoted, cut past ``limit`` characters: a project name (64) is never cut, a 256-byte label can be."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters in all)"


def listing(values: object, *, first: int = _LISTED) -> str:
    """The first few of ``values`` joined by commas, then how many more there are."""
    items = list(values)  # type: ignore[call-overload]
    head = ", ".join(_cut(v) if isinstance(v, str) else shown(v) for v in items[:first])
    more = len(items) - first
    return (head or "none") + (f" and {more} more" if more > 0 else "")
