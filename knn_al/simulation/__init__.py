"""Replay simulation: how many labels each query strategy needs, measured on a labeled dataset.

An annotator is simulated by answering every pick with the item's known label; K-fold
cross-validation keeps a held-out fold to measure accuracy and macro-F1 as labels
accumulate. The same replay runs in-process (:class:`LearnerDriver`) or through the gRPC
service (``knn_al.client.simulation.ServerDriver``), so what users measure is what they get.
"""
from knn_al.simulation.drivers import Driver, LearnerDriver, Session
from knn_al.simulation.replay import Curve, SimulationResult, run_simulation

__all__ = ["Curve", "Driver", "LearnerDriver", "Session", "SimulationResult", "run_simulation"]
