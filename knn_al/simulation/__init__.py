"""Replay simulation: how many labels each query strategy needs, measured on a labeled dataset.

An annotator is simulated by answering every pick with the item's known label; K-fold
cross-validation keeps a held-out fold to measure accuracy and macro-F1 as labels
accumulate. The same replay runs in-process (:class:`LearnerDriver`) or through the gRPC
service (``knn_al.client.simulation.ServerDriver``), so what users measure is what they get.
The names below load on first use: a replay through a server needs no FAISS in this
process, and ``knn-al --help`` none at all.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knn_al.simulation.drivers import Driver, LearnerDriver, Session
    from knn_al.simulation.replay import Curve, SimulationResult, run_simulation

__all__ = ["Curve", "Driver", "LearnerDriver", "Session", "SimulationResult", "run_simulation"]

_HOMES = {"Driver": "knn_al.simulation.drivers", "LearnerDriver": "knn_al.simulation.drivers",
          "Session": "knn_al.simulation.drivers", "Curve": "knn_al.simulation.replay",
          "SimulationResult": "knn_al.simulation.replay", "run_simulation": "knn_al.simulation.replay"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
