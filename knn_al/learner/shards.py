"""How a sharded learner talks to its shards: the :class:`ShardGroup` protocol, the
in-process group, where each item lives, and gathering answers by row.

A group runs one :class:`~knn_al.learner.shard.Shard` method on several shards at once
and returns their answers. The in-process :class:`LocalShards` calls them in turn (a
reference and the unit tests' group); :mod:`knn_al.sharding.ray_shards` runs each shard
as a Ray actor. The learner layer knows no transport: a group is handed to
:class:`~knn_al.learner.sharded.ShardedLearner` by whoever made it.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from knn_al.errors import UnavailableError
from knn_al.learner.shard import Shard

__all__ = ["LocalShards", "ShardFactory", "ShardGroup", "ShardUnavailableError", "everyone", "gather", "shard_for"]


class ShardUnavailableError(UnavailableError):
    """A shard is down or being rebuilt; the call changed nothing and may be retried."""


class ShardGroup(Protocol):
    """The shards of one sharded pool."""

    #: Called once with a shard's number when the group finds it lost (its process died).
    on_lost: Callable[[int], None] | None

    def __len__(self) -> int: ...

    def run(self, method: str, args: Mapping[int, tuple[Any, ...]], *, keep: bool = False,
            rebuilding: bool = False) -> dict[int, Any]:
        """Call ``method`` of shard i with ``args[i]`` for each i, all at once; their
        answers by shard. With ``keep`` the answers stay where they are and come back as
        handles another call may take as arguments (shard-to-shard, not through here).
        A shard down or being rebuilt refuses calls (:class:`ShardUnavailableError`)
        except those made ``rebuilding`` it."""
        ...

    def check_ready(self) -> None:
        """Raise :class:`ShardUnavailableError` if a shard is lost or being rebuilt."""
        ...

    def restart(self, shard: int) -> None:
        """Replace shard ``shard`` by a new, empty one (after it was lost)."""
        ...

    def ready(self, shard: int) -> None:
        """Shard ``shard`` is rebuilt: calls may reach it again."""
        ...


#: Makes the group of a new sharded pool: (number of shards, the shards' Shard parameters).
ShardFactory = Callable[[int, dict[str, Any]], ShardGroup]


class LocalShards:
    """Shards in this process, called one after the other."""

    def __init__(self, count: int, params: dict[str, Any]) -> None:
        self._params = params
        self._shards = [Shard(**params) for _ in range(count)]
        self.on_lost: Callable[[int], None] | None = None

    def __len__(self) -> int:
        return len(self._shards)

    def run(self, method: str, args: Mapping[int, tuple[Any, ...]], *, keep: bool = False,
            rebuilding: bool = False) -> dict[int, Any]:
        return {i: getattr(self._shards[i], method)(*a) for i, a in args.items()}

    def check_ready(self) -> None:
        return None

    def restart(self, shard: int) -> None:
        self._shards[shard] = Shard(**self._params)

    def ready(self, shard: int) -> None:
        return None


def shard_for(encoded_ids: np.ndarray, count: int) -> np.ndarray:
    """The shard of each id (encoded bytes): CRC-32 of the id modulo ``count``. Stable
    across processes and runs, unlike Python's salted ``hash``."""
    return np.fromiter((zlib.crc32(bytes(i)) % count for i in encoded_ids), dtype=np.int16, count=len(encoded_ids))


def everyone(group: ShardGroup, method: str, *args: Any, keep: bool = False) -> dict[int, Any]:
    """Call ``method`` with the same ``args`` on every shard of ``group`` (see :meth:`ShardGroup.run`)."""
    return group.run(method, {i: args for i in range(len(group))}, keep=keep)


def gather(group: ShardGroup, method: str, rows: np.ndarray, owner: np.ndarray,
           *args: Any) -> Sequence[np.ndarray]:
    """Ask each shard for ``method`` of its own ``rows`` (``owner``: the shard of each;
    ``args`` after the rows) and put the answers back in the order of ``rows``: one
    array per part of the answer (a method may answer a tuple of per-row arrays)."""
    order = np.argsort(owner, kind="stable")
    cuts = np.searchsorted(owner[order], np.arange(len(group) + 1))
    asked = {i: (rows[order[cuts[i]:cuts[i + 1]]], *args) for i in range(len(group)) if cuts[i + 1] > cuts[i]}
    if not asked:
        asked = {0: (rows[:0], *args)}  # no rows: one empty answer gives the shapes
    answers = group.run(method, asked)
    parts = {i: a if isinstance(a, tuple) else (a,) for i, a in answers.items()}
    out = []
    for p in range(len(next(iter(parts.values())))):
        first = parts[next(iter(parts))][p]
        whole = np.empty((len(rows), *first.shape[1:]), dtype=first.dtype)
        for i, answer in parts.items():
            whole[order[cuts[i]:cuts[i + 1]]] = answer[p]
        out.append(whole)
    return out
