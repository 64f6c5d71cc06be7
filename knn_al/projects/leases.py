"""Leases: which items of a project are handed out, to whom, and until when.

An item handed out by :meth:`knn_al.projects.project.Project.next_sample` is leased to an
annotator until a deadline, at most the server's maximum lease. A lease ends when the
item is labeled (by anyone), released by its holder (or by force) or its deadline passes;
only then can the item be handed out again. The log keeps the lease rows
(:class:`knn_al.projects.log.OperationLog`); :class:`Leases` is what they say, in memory.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from knn_al.errors import InvalidInputError, StateError, shown
from knn_al.learner.params import check
from knn_al.projects.settings import LEASE_SECONDS

__all__ = ["DEFAULT_MAX_LEASE_SECONDS", "Lease", "Leases", "check_lease_seconds", "lease_length"]

#: The longest lease a server grants unless told otherwise (``knn-al serve --max-lease``).
DEFAULT_MAX_LEASE_SECONDS = 24 * 3600.0


class Lease(NamedTuple):
    deadline: float
    annotator: str


def check_lease_seconds(seconds: float, *, max_seconds: float) -> None:
    """Raise unless ``seconds`` is a lease length a server with the maximum lease
    ``max_seconds`` grants: a project's default or one hand-out's."""
    check((LEASE_SECONDS,), {LEASE_SECONDS.name: seconds})
    if seconds > max_seconds:
        raise InvalidInputError(f"lease_seconds must be at most {max_seconds:g} (this server's --max-lease), "
                                f"got {seconds:g}")


def lease_length(given: float | None, *, default: float, max_seconds: float) -> float:
    """The length of a hand-out's lease: ``given`` (checked), or the project's
    ``default``, at most ``max_seconds`` (a server restarted with a shorter maximum)."""
    if given is None:
        return min(default, max_seconds)
    check_lease_seconds(given, max_seconds=max_seconds)
    return given


class Leases:
    """The open leases of a project, by item, in the order they were granted."""

    def __init__(self, held: Iterable[tuple[str, Lease]] = ()) -> None:
        self._held = dict(held)

    def __len__(self) -> int:
        return len(self._held)

    def ids(self) -> list[str]:
        return list(self._held)

    def expired(self, now: float) -> list[str]:
        """The items whose lease has ended at ``now``."""
        return [item for item, lease in self._held.items() if lease.deadline <= now]

    def get(self, item: str) -> Lease | None:
        return self._held.get(item)

    def check_holder(self, ids: Sequence[str], annotator: str, *,
                     action: str = "release it (supervisors: force=True)") -> None:
        """Raise unless ``annotator`` holds the leases of ``ids`` (all leased); ``action``
        is what only the holder can do, for the message."""
        held = next((i for i in ids if self._held[i].annotator != annotator), None)
        if held is not None:
            raise StateError(f"item {shown(held)} is leased to {shown(self._held[held].annotator)}, "
                             f"not to {shown(annotator)}: only its holder can {action}")

    def grant(self, ids: Sequence[str], lease: Lease) -> None:
        """Record ``lease`` of ``ids`` (committed to the log)."""
        self._held.update(dict.fromkeys(ids, lease))

    def end(self, ids: Iterable[str]) -> None:
        """Forget the leases of ``ids`` (those that have one)."""
        for item in ids:
            self._held.pop(item, None)
