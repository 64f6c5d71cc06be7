"""Run a simulation of a dataset end to end: pick the driver, replay, write the report."""
from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from knn_al.dataset import Dataset
from knn_al.errors import InvalidInputError
from knn_al.learner.types import DEFAULT_EXPONENTS, Exponents
from knn_al.simulation.drivers import Driver, LearnerDriver
from knn_al.simulation.replay import SimulationResult, run_simulation
from knn_al.simulation.report import write_report


def simulate_dataset(
    dataset: Dataset,
    *,
    out: Path,
    strategies: Sequence[str],
    folds: int = 5,
    budget: int = 200,
    every: int = 10,
    targets: Sequence[float] = (0.95,),
    exponents: Exponents = DEFAULT_EXPONENTS,
    seed: int = 0,
    k: int | None = None,
    duplicate_threshold: float | None = None,
    models: Sequence[str] = ("knn",),
    via_server: str | None = None,
    token: str | None = None,
    table_at: Sequence[int] | None = None,
    title: str = "",
    progress: bool = True,
) -> tuple[SimulationResult, str]:
    """Replay the labeled items of ``dataset`` and write the report into ``out``.

    Items without a known label are left out (nobody could answer for them).
    ``via_server`` (``host:port``) drives a running server through the gRPC client
    instead of an in-process learner. ``models``: the learners' (``knn``, ``graph``, ``auto``), each
    with every strategy (random with knn is the baseline). ``k`` and ``duplicate_threshold``
    None: the learner's defaults. Returns the result and the printed table.
    """
    known = [i for i, label in enumerate(dataset.labels) if label is not None]
    if not known:
        raise InvalidInputError("the dataset has no known labels to replay: embed data whose items carry labels "
                                "(image sub-folders per class, or a `label` field of each text)")
    ids = [dataset.ids[i] for i in known]
    labels = [label for label in dataset.labels if label is not None]
    vectors = np.asarray(dataset.vectors[known], dtype=np.float32)
    with ExitStack() as stack:
        # The learner's own defaults unless asked: a service project's.
        options = {name: value for name, value in (("k", k), ("duplicate_threshold", duplicate_threshold))
                   if value is not None}
        if via_server is None:
            driver: Driver = LearnerDriver(**options)
        else:
            # The client (and grpc with it) is imported only when a server is asked for.
            from knn_al.client.simulation import ServerDriver

            server = ServerDriver(via_server, token=token, **options)
            stack.callback(server.close)
            driver = server
        result = run_simulation(ids=ids, vectors=vectors, labels=labels, driver=driver, strategies=strategies,
                                models=models,
                                folds=folds, budget=budget, every=every, targets=targets, exponents=exponents, seed=seed, progress=progress)
    return result, write_report(result, out, title=title, at=table_at)
