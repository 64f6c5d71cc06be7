"""Replies of mutating calls, remembered by request id so that a retry is not done twice.

A client that loses a reply (the connection dropped after the server committed) retries
with the same ``request_id``; the server answers with the first reply instead of, say,
leasing a second batch of items. A retry that arrives while the first attempt still runs
waits for it. Only successes are remembered: a refused call changed nothing, so running
it again is harmless. Memory only: ids are remembered for ``ttl`` seconds, at most
``capacity`` of them, and not across restarts.
"""
from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: Long enough for a client's retries with backoff (seconds), short enough to stay small.
DEFAULT_TTL_SECONDS = 600.0
DEFAULT_CAPACITY = 10_000


class RecentReplies:
    """Runs each (method, request id) once and replays its reply to retries."""

    def __init__(self, *, ttl: float = DEFAULT_TTL_SECONDS, capacity: int = DEFAULT_CAPACITY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._capacity, self._clock = ttl, capacity, clock
        self._replies: OrderedDict[tuple[str, str], tuple[float, asyncio.Future[Any]]] = OrderedDict()

    async def once(self, method: str, request_id: str, run: Callable[[], Awaitable[T]]) -> T:
        """``await run()``, unless ``request_id`` (non-empty) already ran or runs for ``method``."""
        if not request_id:
            return await run()
        key = (method, request_id)
        self._expire()
        known = self._replies.get(key)
        if known is not None:
            return await asyncio.shield(known[1])
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._replies[key] = (self._clock(), future)
        try:
            reply = await run()
        except BaseException as exc:
            del self._replies[key]
            future.set_exception(exc)
            future.exception()  # retrieved: waiting retries get it; nobody else needs to
            raise
        future.set_result(reply)
        return reply

    def _expire(self) -> None:
        now = self._clock()
        while self._replies:
            key, (started, future) = next(iter(self._replies.items()))
            if (now - started < self._ttl and len(self._replies) <= self._capacity) or not future.done():
                break
            del self._replies[key]
