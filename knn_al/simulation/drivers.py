"""Where a replay runs: a driver opens one session (a fresh pool) per fold and strategy.

A session is the annotator's view of a project: ask for the next item, answer with its
label, predict held-out vectors. :class:`LearnerDriver` runs it on an in-process
:class:`~knn_al.learner.Learner`; ``knn_al.client.simulation.ServerDriver`` runs the same
calls through the gRPC service (it lives with the client, because this library never
imports grpc). Both pick with the seed they are given, so both make the same picks.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from knn_al.learner import Learner
from knn_al.learner.strategies import check_exponents
from knn_al.learner.types import DEFAULT_EXPONENTS, Exponents
from knn_al.learner.survey import PoolSurvey


class Session(Protocol):
    """One project under simulation: a pool of training items and their growing labels."""

    def pick(self, *, strategy: str, seed: int) -> str | None:
        """Hand out the next item to label (None once the pool is exhausted)."""

    def label(self, ids: Sequence[str], labels: Sequence[str]) -> None:
        """Store the annotator's answers."""

    def predict(self) -> np.ndarray:
        """Class probabilities of the held-out vectors, one column per class in the session's order."""

    def close(self) -> None:
        """Release the session's resources (a server-side project is deleted)."""


class Driver(Protocol):
    """Opens sessions; ``name`` is unique per session of one simulation."""

    def open(self, *, name: str, ids: Sequence[str], vectors: np.ndarray, classes: Sequence[str],
             held_out: np.ndarray, model: str = "knn", exponents: Exponents = DEFAULT_EXPONENTS) -> Session:
        """A fresh project holding ``ids``/``vectors``, open to any label (the service's
        default), predicting with ``model`` and picking with the combined strategy's
        ``exponents``; ``classes`` fixes the column order of :meth:`Session.predict`, which
        predicts the ``held_out`` vectors."""


def class_columns(known: Sequence[str], proba: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """Reorder probability columns from the learner's ``known`` classes (in the order they
    were first labeled) to ``classes``; a class not labeled yet has probability 0."""
    out = np.zeros((len(proba), len(classes)), dtype=np.float64)
    column = {name: i for i, name in enumerate(classes)}
    for j, name in enumerate(known):
        out[:, column[name]] = proba[:, j]
    return out


class LearnerSession:
    """A session on an in-process learner, making the calls a project makes for the service.

    The held-out vectors are tracked (:mod:`knn_al.learner.tracked`): each evaluation offers
    them only the labels given since the previous one.
    """

    def __init__(self, learner: Learner, classes: Sequence[str], held_out: np.ndarray, *,
                 exponents: Exponents = DEFAULT_EXPONENTS) -> None:
        self.learner = learner
        self.classes = list(classes)
        self.held_out = learner.track(held_out)
        self.exponents = exponents

    def pick(self, *, strategy: str, seed: int) -> str | None:
        picks = self.learner.select(1, strategy=strategy, exponents=self.exponents, seed=seed)
        if not picks:
            return None
        self.learner.hand_out([picks[0].id])
        return picks[0].id

    def label(self, ids: Sequence[str], labels: Sequence[str]) -> None:
        self.learner.label(ids, labels)

    def predict(self) -> np.ndarray:
        return class_columns(self.learner.classes_, self.held_out.predict_proba(), self.classes)

    def close(self) -> None:
        """Nothing to release: the learner is garbage once the session is dropped."""


class LearnerDriver:
    """Runs sessions in-process.

    ``learner_options`` are :class:`~knn_al.learner.Learner` keyword arguments other than
    ``dimension`` (``k``, ``smoothing``, ``density_neighbors``, ...); the defaults are a
    service project's, so in-process and via-server runs agree.
    """

    def __init__(self, **learner_options: Any) -> None:
        self.learner_options = learner_options
        # The last pool surveyed, with its survey: a replay opens a session per strategy on
        # each fold's training set, and their surveys (a kNN search over the pool, 2.5 s
        # at 20,000 × 512) are all the same.
        self._surveyed: tuple[list[str], np.ndarray, PoolSurvey] | None = None

    def open(self, *, name: str, ids: Sequence[str], vectors: np.ndarray, classes: Sequence[str],
             held_out: np.ndarray, model: str = "knn",
             exponents: Exponents = DEFAULT_EXPONENTS) -> LearnerSession:
        learner = Learner(dimension=vectors.shape[1], model=model, **self.learner_options)
        ids = list(ids)
        last = self._surveyed
        if last is not None and last[0] == ids and np.array_equal(last[1], vectors):
            survey = last[2]
        else:
            survey = learner.survey(vectors)
            # A copy: a caller could change its array in place and open the same ids again.
            self._surveyed = (ids, np.array(vectors, copy=True), survey)
        learner.add_items(ids, vectors, survey=survey)
        return LearnerSession(learner, classes, held_out, exponents=check_exponents(exponents))
