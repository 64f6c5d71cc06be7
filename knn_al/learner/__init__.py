"""The algorithm: a pool of unit vectors, its kNN tables, picks and predictions.

numpy and FAISS only: no SQLite, no grpc, no TensorFlow, and no I/O but
:mod:`~knn_al.learner.persist` (``Learner.save``/``Learner.load``). Nothing here imports
from another knn_al layer but :mod:`knn_al.errors`. ``from knn_al.learner import Learner``;
the record types (:mod:`knn_al.learner.types`) import without numpy, which is why the
names below load on first use.

:class:`Learner` (:mod:`~knn_al.learner.learner`) coordinates the parts: the pool's items
(:mod:`~knn_al.learner.pool`, ids in :mod:`~knn_al.learner.ids`), their statuses
(:mod:`~knn_al.learner.states`), duplicate groups (:mod:`~knn_al.learner.groups`), the kNN
classifier (:mod:`~knn_al.learner.classifier`: labeled slots, neighbour tables, votes, the
uncertainty cache, leave-one-out tables) and the picks (:mod:`~knn_al.learner.picks`,
scored by :mod:`~knn_al.learner.strategies`). Its parameters are one table
(:mod:`~knn_al.learner.params`).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knn_al.learner.learner import Learner
    from knn_al.learner.types import AccuracyEstimate, Neighbor, Pick, PropagatedLabel

__all__ = ["AccuracyEstimate", "Learner", "Neighbor", "Pick", "PropagatedLabel"]

_HOMES = {"Learner": "knn_al.learner.learner", "AccuracyEstimate": "knn_al.learner.types",
          "Neighbor": "knn_al.learner.types", "Pick": "knn_al.learner.types", "PropagatedLabel": "knn_al.learner.types"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
