"""AsyncClient: the methods of Client as coroutines, against a real server on loopback."""
from __future__ import annotations

import asyncio
import inspect
import threading
from pathlib import Path

import grpc
import numpy as np
import pytest

from knn_al.client import AsyncClient, Client, ServiceError
from knn_al.client.aio import METHODS
from knn_al.simulation.server_process import ServerProcess

DIM = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with ServerProcess(tmp_path_factory.mktemp("async") / "data") as running:
        yield running


def test_every_method_of_client_is_a_coroutine_of_the_async_client() -> None:
    public = {name for name, member in inspect.getmembers(Client, inspect.isfunction) if not name.startswith("_")}
    assert public - {"close"} == set(METHODS) | {"stream"}
    for name in (*METHODS, "close"):
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name
    assert inspect.isasyncgenfunction(AsyncClient.stream)


def test_a_labeling_session_with_concurrent_calls(server: ServerProcess) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(60, DIM)).astype(np.float32)
    ids = [f"i{n}" for n in range(60)]

    async def session() -> dict:
        async with AsyncClient(server.address, retries=0) as client:
            await client.create_project("a", DIM)
            await client.add_items("a", ids, vectors)
            added = client.last_add
            picks = await client.next_sample("a", 6, annotator="ana", seed=1)
            receipts = await asyncio.gather(*(client.submit_label("a", p.id, "x" if i % 2 else "y", annotator="ana")
                                              for i, p in enumerate(picks)))
            predictions = await client.predict("a", ids[:5])
            decisions = [d async for d in client.stream("a", [("s1", vectors[0]), ("s2", vectors[1])],
                                                        threshold=1.0, annotator="ana")]
            with pytest.raises(ServiceError) as refused:
                await client.get_project("nope")
            return {"added": added.added if added else None, "picks": [p.id for p in picks],
                    "labeled": max(r.labeled_count for r in receipts), "predicted": [p.id for p in predictions],
                    "decisions": [(d.id, d.query) for d in decisions],
                    "refused": (refused.value.code, refused.value.reason)}

    done = asyncio.run(session())
    with Client(server.address) as blocking:
        same_picks = [p.id for p in blocking.next_sample("a", 6, seed=1, preview=True)]
        info = blocking.get_project("a")
    assert done["added"] == 60 and done["labeled"] == 6 and done["predicted"] == ids[:5]
    assert len(set(done["picks"])) == 6 and not set(same_picks) & set(done["picks"])  # labeled, not picked again
    assert done["decisions"] == [("s1", True), ("s2", True)]  # threshold 1: never confident, so queried
    assert done["refused"] == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
    assert info.labeled_count == 6 and info.pool_size == 62


def test_a_call_waiting_on_its_input_blocks_neither_the_loop_nor_other_calls(server: ServerProcess) -> None:
    """A stream whose items wait for an event that only another call's completion sets:
    with calls run one at a time, or on the event loop's thread, this never ends."""
    async def run() -> list[tuple[str, bool]]:
        async with AsyncClient(server.address, max_workers=4) as client:
            await client.create_project("w", DIM)
            await client.add_items("w", [f"w{n}" for n in range(20)],
                                   np.random.default_rng(1).normal(size=(20, DIM)).astype(np.float32))
            ready = threading.Event()

            def items():
                yield "w-s1", np.ones(DIM, dtype=np.float32)
                if not ready.wait(timeout=30):
                    raise AssertionError("the other call never ran")
                yield "w-s2", -np.ones(DIM, dtype=np.float32)

            first = asyncio.Event()

            async def consume() -> list[tuple[str, bool]]:
                decisions = []
                async for decision in client.stream("w", items(), threshold=1.0):
                    decisions.append((decision.id, decision.query))
                    first.set()  # the stream now waits, in a worker, for the second item
                return decisions

            streaming = asyncio.create_task(consume())
            await asyncio.wait_for(first.wait(), timeout=20)
            await asyncio.sleep(0.2)  # the stream's next wait has started
            projects = await asyncio.wait_for(client.list_projects(), timeout=20)
            assert "w" in {p.name for p in projects}
            ready.set()
            return await asyncio.wait_for(streaming, timeout=30)

    assert asyncio.run(run()) == [("w-s1", True), ("w-s2", True)]


def test_last_add_is_the_calling_tasks_own(server: ServerProcess) -> None:
    async def run() -> tuple[object, object]:
        async with AsyncClient(server.address, max_workers=1) as client:  # one thread: every call shares it
            await client.create_project("t", DIM)

            async def adder() -> object:
                await client.add_items("t", ["t1", "t2"], np.eye(2, DIM, dtype=np.float32))
                return client.last_add

            async def other() -> object:
                await client.list_projects()
                return client.last_add

            added = await asyncio.create_task(adder())
            return added, await asyncio.create_task(other())

    added, other = asyncio.run(run())
    assert getattr(added, "added", None) == 2 and other is None
