"""Replies of mutating calls, remembered by request id so that a retry is not done twice.

A client that loses a reply (the connection dropped, or its deadline passed, after the
server committed) retries with the same ``request_id``; the server answers with the first
reply instead of, say, leasing a second batch of items. The work of an id runs as a task
of its own: a caller that goes away does not stop it, and a retry that arrives meanwhile
waits for it. Only successes are remembered: a refused call changed nothing, so running it
again is harmless.

An id is bound to its request: the same id with a different request (another project,
other items) is refused rather than answered with someone else's reply. Memory only: ids
are remembered for ``ttl`` seconds, within ``max_bytes`` of replies, and not across restarts.

Requests are protobuf messages (gRPC) or plain JSON values (the HTTP adapter); replies are
messages or bytes (the HTTP adapter's encoded JSON).
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from knn_al.errors import InvalidInputError, shown

#: Long enough for a client's retries with backoff (seconds), short enough to stay small.
DEFAULT_TTL_SECONDS = 600.0
#: Replies are kept whole (a NextSample reply may be megabytes): bound them in bytes.
DEFAULT_MAX_BYTES = 256 * 2**20


@dataclass
class _Entry:
    started: float
    fingerprint: bytes
    task: asyncio.Task[Any]
    size: int = 0


def _encoded(value: Message | Any) -> bytes:
    """A message's or a JSON value's bytes, the same for equal values."""
    if isinstance(value, Message):
        return value.SerializeToString(deterministic=True)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def fingerprint(request: Message | Any) -> bytes:
    """A digest of ``request`` (its request id included, which is harmless)."""
    return hashlib.blake2b(_encoded(request), digest_size=16).digest()


def _size(reply: Message | bytes) -> int:
    return reply.ByteSize() if isinstance(reply, Message) else len(reply)


class RecentReplies:
    """Runs each (method, request id) once and replays its reply to retries."""

    def __init__(self, *, ttl: float = DEFAULT_TTL_SECONDS, max_bytes: int = DEFAULT_MAX_BYTES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._max_bytes, self._clock = ttl, max_bytes, clock
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._bytes = 0

    async def once(self, method: str, request_id: str, request: Message | Any,
                   run: Callable[[], Awaitable[Any]], *, large: bool = False) -> Any:
        """``await run()``, unless ``request_id`` (non-empty) already ran or runs for
        ``method``; :class:`InvalidInputError` if it did for a different ``request``.
        A ``large`` request (megabytes) is fingerprinted in a worker thread: encoding it
        would stop the event loop, and every call with it, meanwhile."""
        if not request_id:
            return await run()
        digest = await asyncio.to_thread(fingerprint, request) if large else fingerprint(request)
        self._evict()
        key = (method, request_id)
        entry = self._entries.get(key)
        if entry is not None and entry.fingerprint != digest:
            raise InvalidInputError(f"request id {shown(request_id)} was already used for another {method} request: "
                                    "use a new id for every call (and the same one only for its retries)")
        if entry is None:
            entry = _Entry(started=self._clock(), fingerprint=digest, task=asyncio.ensure_future(run()))
            self._entries[key] = entry
            entry.task.add_done_callback(functools.partial(self._settled, key, entry))
        return await asyncio.shield(entry.task)

    def _settled(self, key: tuple[str, str], entry: _Entry, _: asyncio.Task[Any]) -> None:
        if entry.task.cancelled() or entry.task.exception() is not None:
            if self._entries.get(key) is entry:
                del self._entries[key]
            return
        entry.size = _size(entry.task.result())
        self._bytes += entry.size
        self._evict()

    def _evict(self) -> None:
        """Drop finished replies past their time, then the oldest while over the byte bound."""
        now = self._clock()
        for key, entry in list(self._entries.items()):
            if not entry.task.done():
                continue
            if now - entry.started >= self._ttl or self._bytes > self._max_bytes:
                del self._entries[key]
                self._bytes -= entry.size
