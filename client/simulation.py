"""The replay simulator's server driver: every pick, label and prediction goes through gRPC.

``knn-al simulate --via-server ADDRESS`` and ``knn-al demo`` use it, so the numbers they
report are what annotators get from a running service. It lives with the client because
the library (``knn_al``) never imports grpc. Each session is a project created on the
server for the session and deleted afterwards.
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from knn_al.client.client import Client
from knn_al.learner.types import DEFAULT_EXPONENTS, Exponents


class ServerSession:
    """One project on the server, driven like an annotator's tool drives it."""

    def __init__(self, client: Client, project: str, classes: Sequence[str], held_out: np.ndarray) -> None:
        self.client, self.project, self.classes = client, project, list(classes)
        self.held_out = held_out

    def pick(self, *, strategy: str, seed: int) -> str | None:
        """The server's next item, or None once it hands out nothing: every candidate is
        labeled or covered by a labeled duplicate (or an outlier the strategy skips). The
        replay stops there, as it does in-process."""
        samples = self.client.next_sample(self.project, 1, strategy=strategy, seed=seed)
        return samples[0].id if samples else None

    def label(self, ids: Sequence[str], labels: Sequence[str]) -> None:
        if len(ids) == 1:
            self.client.submit_label(self.project, ids[0], labels[0])
        else:
            self.client.submit_labels(self.project, dict(zip(ids, labels)))

    def predict(self) -> np.ndarray:
        predictions = self.client.predict(self.project, vectors=self.held_out)
        return np.array([[p.probabilities.get(name, 0.0) for name in self.classes] for p in predictions],
                        dtype=np.float64).reshape(len(predictions), len(self.classes))

    def close(self) -> None:
        self.client.delete_project(self.project)


class ServerDriver:
    """Opens sessions as projects on the server at ``address`` (``host:port``).

    Project names get a random prefix, so simulations never collide with each other or
    with a user's projects on a shared server. ``k`` 0 and ``duplicate_threshold`` None
    take the server's defaults; ``client_options`` go to :class:`~knn_al.client.Client` (token, tls, timeout, ...).
    """

    def __init__(self, address: str, *, k: int = 0, duplicate_threshold: float | None = None,
                 **client_options: Any) -> None:
        self.client = Client(address, **client_options)
        self.k = k
        self.duplicate_threshold = duplicate_threshold
        self.prefix = f"sim-{uuid.uuid4().hex[:8]}"

    def open(self, *, name: str, ids: Sequence[str], vectors: np.ndarray, classes: Sequence[str],
             held_out: np.ndarray, model: str = "knn",
             exponents: Exponents = DEFAULT_EXPONENTS) -> ServerSession:
        project = f"{self.prefix}-{name}"
        self.client.create_project(project, vectors.shape[1], k=self.k, model=model, exponents=exponents,
                                   duplicate_threshold=self.duplicate_threshold)
        try:
            self.client.add_items(project, ids, vectors)
        except BaseException:
            self.client.delete_project(project)
            raise
        return ServerSession(self.client, project, classes, held_out)

    def close(self) -> None:
        """Close the connection."""
        self.client.close()
