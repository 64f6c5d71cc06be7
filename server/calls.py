"""How the transports run library calls: off the event loop, one at a time per project.

The gRPC servicer and the HTTP adapter share one :class:`Calls`, so that a project's calls
queue in one line whichever transport they came by.

Calls on one project queue on the event loop, one at a time, before they take a worker
thread: a project serialises its calls with its lock anyway, and calls waiting for a busy
project must not hold the threads that other projects' calls need (with 8 workers, eight
annotators polling a project busy with a long upload froze every project).
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from knn_al.projects.project import Project

__all__ = ["Calls"]

T = TypeVar("T")


class Calls:
    """Runs library calls in ``executor``'s threads, queued per project."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self._slots: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def run(self, fn: Callable[..., T], *args: Any, project: Project | None = None,
                  undo: Callable[[T], object] | None = None, **kwargs: Any) -> tuple[T, float]:
        """Run ``fn`` in a worker thread, after the calls queued before it on ``project``;
        return its result and how many seconds it took.

        The thread cannot be stopped once started: if the call is cancelled meanwhile (the
        client went away), the project stays taken until ``fn`` is done, then ``undo(result)``
        runs, for work whose reply nobody will receive."""
        def timed() -> tuple[T, float]:
            start = time.perf_counter()
            return fn(*args, **kwargs), time.perf_counter() - start

        loop = asyncio.get_running_loop()
        async with self._slots[project.settings.name] if project else contextlib.nullcontext():
            work = loop.run_in_executor(self.executor, timed)
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    done, _ = await work
                    if undo is not None:
                        await loop.run_in_executor(self.executor, undo, done)
                raise
