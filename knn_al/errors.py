"""Domain exceptions.

Every error the library raises on bad input derives from :class:`KnnAlError`, and each
subclass stands for one kind of mistake, so the gRPC layer can map them to status codes
in one place. Messages name the offending id, row or value and say what to fix.
"""
from __future__ import annotations


class KnnAlError(Exception):
    """Base class of every knn-al error."""


class InvalidInputError(KnnAlError, ValueError):
    """Malformed input: wrong dimension, NaN/inf, zero vector, empty batch, bad parameter."""


class UnknownItemError(KnnAlError, KeyError):
    """An item id that is not in the pool."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownLabelError(InvalidInputError):
    """A label outside the project's fixed label set."""


class DuplicateItemError(KnnAlError):
    """An item id that already exists (or appears twice in one batch)."""


class StateError(KnnAlError):
    """The request does not fit the item's current state (e.g. handing out a labeled item)."""


class NotFoundError(KnnAlError, KeyError):
    """A named thing (project, dataset) that does not exist."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class AlreadyExistsError(KnnAlError):
    """A named thing (project) that already exists."""


class CapacityError(KnnAlError):
    """A request larger than the service accepts (too many items in one upload, ...)."""
