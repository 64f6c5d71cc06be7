"""The client for asyncio: :class:`AsyncClient`, with the same methods as
:class:`~knn_al.client.Client`, as coroutines.

One implementation serves both: each coroutine runs the blocking client's call in a thread
of the client's own pool (a grpc channel is thread-safe), so the event loop never waits on
the network or on the conversion of a large reply, and calls made concurrently overlap.
Deadlines, retries with request ids, errors (:class:`~knn_al.client.ServiceError`) and
the records returned are the client's. ``stream`` becomes an async iterator; the items
it sends may still be a plain iterable. ``last_compute_ms`` and ``last_add`` are the
calling task's, as they are the calling thread's for the blocking client.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from knn_al.client.client import Client
from knn_al.client.types import AddResult

__all__ = ["AsyncClient"]

#: Public methods of Client that AsyncClient offers as coroutines (all but the context manager).
METHODS = tuple(name for name, member in inspect.getmembers(Client, inspect.isfunction)
                if not name.startswith("_") and name not in ("close", "stream"))
_DONE = object()


class AsyncClient:
    """:class:`~knn_al.client.Client` for asyncio. Takes the client's arguments, and
    ``max_workers``: calls that may run at once (threads of this client's pool)::

        async with AsyncClient("127.0.0.1:50051") as client:
            picks = await client.next_sample("photos", 5, annotator="ana")
            await asyncio.gather(*(client.submit_label("photos", p.id, "cat") for p in picks))
    """

    def __init__(self, address: str, *, max_workers: int = 8, **options: Any) -> None:
        self._client = Client(address, **options)
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="knn-al-client")
        #: What this task's calls left in the blocking client's per-thread state (the worker
        #: threads are shared by every task: each call starts from a clean state).
        self._last: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar(f"knn_al_last_{id(self)}",
                                                                                    default={})

    async def _run(self, call: Callable[[], Any]) -> Any:
        def in_thread() -> tuple[Any, dict[str, Any]]:
            state = vars(self._client._last)
            state.clear()
            return call(), dict(state)

        result, last = await asyncio.get_running_loop().run_in_executor(self._pool, in_thread)
        self._last.set({**self._last.get(), **last})
        return result

    @property
    def last_compute_ms(self) -> float | None:
        """Milliseconds the server spent in library code on this task's last call; None if unknown."""
        return self._last.get().get("compute_ms")

    @property
    def last_add(self) -> AddResult | None:
        """The counts of this task's last ``add_items``."""
        return self._last.get().get("add")

    async def stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """:meth:`Client.stream`: the decisions, as they come."""
        decisions: Iterator[Any] = await self._run(lambda: self._client.stream(*args, **kwargs))
        while (decision := await self._run(lambda: next(decisions, _DONE))) is not _DONE:
            yield decision

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._pool.shutdown)
        self._client.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    if TYPE_CHECKING:  # the methods of METHODS are set below: tell type checkers they exist
        def __getattr__(self, name: str) -> Any: ...


def _coroutine(name: str) -> Callable[..., Any]:
    blocking = getattr(Client, name)

    @functools.wraps(blocking)
    async def call(self: AsyncClient, *args: Any, **kwargs: Any) -> Any:
        return await self._run(functools.partial(blocking, self._client, *args, **kwargs))

    return call


for _name in METHODS:
    setattr(AsyncClient, _name, _coroutine(_name))
