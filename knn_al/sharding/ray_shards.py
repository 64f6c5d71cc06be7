"""Shards as Ray actors: ``knn-al serve --ray [ADDRESS]``.

Each :class:`~knn_al.learner.shard.Shard` lives in an actor of its own; a group's calls to
several shards run at once. Blocks one shard sends another (a survey's live vectors)
travel as Ray object references, shard to shard, never through the coordinator.

Actors ask Ray for no CPU (``num_cpus=0``), so S shards fit on a machine of fewer cores;
each limits its BLAS to ``cores // S`` threads, since oversubscribed OpenBLAS threads
collapse on a small machine. An actor whose process dies is not restarted by Ray: the
group reports it lost (:attr:`RayShards.on_lost`), and the learner rebuilds it in a new
actor from its labeled set and the pool's files.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from knn_al.extras import missing_extra
from knn_al.learner.shard import Shard
from knn_al.learner.shards import ShardFactory, ShardUnavailableError

__all__ = ["RayShards", "connect"]

log = logging.getLogger(__name__)

#: Seconds a liveness check waits for an actor after a call failed.
_PING_SECONDS = 10.0


def _ray() -> Any:
    try:
        import ray
    except ModuleNotFoundError as exc:
        raise missing_extra(exc, needed_for="sharded projects (knn-al serve --ray)") or exc from None
    return ray


@functools.cache
def _actor_class() -> Any:
    ray = _ray()

    @ray.remote(num_cpus=0, max_restarts=0)
    class ShardActor:
        """One shard in a process of its own."""

        def __init__(self, params: dict[str, Any], threads: int) -> None:
            from threadpoolctl import threadpool_limits

            self._limits = threadpool_limits(limits=threads)  # kept: the limit lasts the actor's life
            self.shard = Shard(**params)

        def call(self, method: str, *args: Any) -> Any:
            return getattr(self.shard, method)(*args)

        def ping(self) -> bool:
            return True

    return ShardActor


def connect(address: str | None) -> ShardFactory:
    """Join the Ray cluster at ``address`` (None: start a local one) and return a factory
    of shard groups on it."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    return RayShards


class RayShards:
    """``count`` shards of parameters ``params``, one Ray actor each."""

    def __init__(self, count: int, params: dict[str, Any]) -> None:
        self._params = params
        self._threads = max(1, (os.cpu_count() or 1) // count)
        self._actors = [self._start() for _ in range(count)]
        #: Shards lost or being rebuilt: they refuse calls but the rebuild's.
        self._down: set[int] = set()
        self._lock = threading.Lock()
        self.on_lost: Callable[[int], None] | None = None

    def _start(self) -> Any:
        return _actor_class().remote(self._params, self._threads)

    def __len__(self) -> int:
        return len(self._actors)

    def run(self, method: str, args: Mapping[int, tuple[Any, ...]], *, keep: bool = False,
            rebuilding: bool = False) -> dict[int, Any]:
        ray = _ray()
        if not rebuilding:
            self._refuse_down(args)
        refs = {i: self._actors[i].call.remote(method, *a) for i, a in args.items()}
        if keep:
            return refs
        out: dict[int, Any] = {}
        failure: BaseException | None = None
        for i, ref in refs.items():
            try:
                out[i] = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # the shard's own error: raise it as it is
                failure = failure or exc.cause
            except ray.exceptions.RayError as exc:
                failure = failure or exc
        if failure is None:
            return out
        if isinstance(failure, ray.exceptions.RayError):
            self._find_lost()
            self._refuse_down(args)
        raise failure

    def _refuse_down(self, args: Iterable[int]) -> None:
        with self._lock:
            down = sorted(self._down.intersection(args))
        if down:
            raise ShardUnavailableError(f"shard {down[0]} of this project is being rebuilt after its process "
                                        "died; nothing was changed: retry in a moment")

    def _find_lost(self) -> None:
        """After a failed call: which actors died? Each is reported once."""
        ray = _ray()
        pings = {i: actor.ping.remote() for i, actor in enumerate(self._actors) if i not in self._down}
        for i, ref in pings.items():
            try:
                ray.get(ref, timeout=_PING_SECONDS)
            except ray.exceptions.RayError:
                with self._lock:
                    self._down.add(i)
                log.error("shard actor %d died", i)
                if self.on_lost is not None:
                    self.on_lost(i)

    def check_ready(self) -> None:
        self._refuse_down(range(len(self._actors)))

    def restart(self, shard: int) -> None:
        ray = _ray()
        try:
            ray.kill(self._actors[shard], no_restart=True)
        except Exception:  # already gone
            pass
        self._actors[shard] = self._start()
        with self._lock:
            self._down.add(shard)

    def ready(self, shard: int) -> None:
        with self._lock:
            self._down.discard(shard)

    def kill(self, shard: int) -> None:
        """End shard ``shard``'s process, as a crash would (for tests and drills)."""
        _ray().kill(self._actors[shard], no_restart=True)
