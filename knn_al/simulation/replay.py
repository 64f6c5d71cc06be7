"""The replay: K folds × strategies, each a simulated annotator labeling picks one by one.

For every fold, the training rows become a fresh pool per strategy; each pick is answered
with its true label, and every ``every`` labels the held-out fold is predicted and
scored. A session labeled with the whole training fold gives the full-data reference the
curves are compared to. Each pick's seed depends on (seed, fold, step) only, so runs are
reproducible, and every strategy of a fold starts from the same state.

A pool can run out before the budget is spent: a duplicate group offers one candidate and
its label covers the whole group, and the combined strategy skips outliers. That is a
normal end, not an error: the replay of that strategy and fold stops there, its curve
ends at the last checkpoint reached, and :attr:`Curve.pool_exhausted_at` records how many
labels were given (the report lists them).
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from knn_al.errors import InvalidInputError
from knn_al.learner.params import MODELS
from knn_al.learner.strategies import STRATEGY_NAMES, check_exponents
from knn_al.learner.types import DEFAULT_EXPONENTS, Exponents
from knn_al.simulation.drivers import Driver, Session
from knn_al.simulation.folds import stratified_folds
from knn_al.simulation.metrics import accuracy, macro_f1

if TYPE_CHECKING:
    from tqdm import tqdm

BASELINE = "random"


@dataclass(frozen=True)
class Curve:
    """One strategy's learning curve on one fold, and the items it picked, in order.

    ``labels`` are the checkpoints scored; a curve whose pool ran out has none past
    ``pool_exhausted_at``, the labels given when no candidate was left (None: the whole
    budget was spent).
    """

    strategy: str
    fold: int
    labels: np.ndarray
    accuracy: np.ndarray
    macro_f1: np.ndarray
    picks: list[str]
    pool_exhausted_at: int | None = None


@dataclass(frozen=True)
class SimulationResult:
    """Every curve of a simulation, with each fold's full-data reference scores."""

    strategies: list[str]
    classes: list[str]
    folds: int
    budget: int
    #: shares of full-data accuracy the report says how many labels reach, ascending.
    targets: tuple[float, ...]
    curves: list[Curve]
    full_accuracy: np.ndarray
    full_macro_f1: np.ndarray

    def curves_of(self, strategy: str) -> list[Curve]:
        """The curves of ``strategy``, by fold."""
        return sorted((c for c in self.curves if c.strategy == strategy), key=lambda c: c.fold)

    def label_counts(self) -> np.ndarray:
        """Every label count some curve was scored at. All curves share one list of
        checkpoints and a curve that ran out of pool stops early, so each curve's counts
        are a prefix of the longest one's."""
        return max((c.labels for c in self.curves), key=len, default=np.empty(0, dtype=np.int64))

    def matrix(self, strategy: str, metric: str = "accuracy") -> tuple[np.ndarray, np.ndarray]:
        """(label counts, folds × counts matrix of ``metric``) for ``strategy``.

        A fold whose pool ran out before a count has NaN there: it was not measured, and
        nothing is invented for it (:func:`knn_al.simulation.report.fold_stats` averages
        over the folds that were measured).
        """
        points = self.label_counts()
        curves = self.curves_of(strategy)
        values = np.full((len(curves), len(points)), np.nan)
        for row, curve in zip(values, curves):
            measured = getattr(curve, metric)
            row[: len(measured)] = measured
        return points, values

    def pool_exhausted_at(self, strategy: str) -> list[int | None]:
        """Per fold, the labels given when ``strategy``'s pool ran out (None: budget spent)."""
        return [c.pool_exhausted_at for c in self.curves_of(strategy)]


def checkpoints(budget: int, every: int) -> np.ndarray:
    """Label counts at which the held-out fold is scored: every ``every`` labels, and the budget."""
    points = list(range(every, budget + 1, every))
    if not points or points[-1] != budget:
        points.append(budget)
    return np.array(points, dtype=np.int64)


def pick_seed(seed: int, fold: int, step: int) -> int:
    """The seed of one pick, independent of the strategy and of the other folds."""
    return int(np.random.SeedSequence([seed, fold, step]).generate_state(1)[0])


def replay(
    session: Session,
    *,
    strategy: str,
    fold: int,
    truth: dict[str, str],
    points: np.ndarray,
    seed: int,
    scores: Callable[[Session], tuple[float, float]],
    bar: tqdm,
) -> Curve:
    """Label ``strategy``'s picks one by one until the budget (the last of ``points``)
    is spent or the pool runs out, scoring the held-out fold at each of ``points``."""
    budget = int(points[-1])
    picks: list[str] = []
    measured: list[tuple[float, float]] = []
    exhausted_at = None
    for step in range(1, budget + 1):
        item = session.pick(strategy=strategy, seed=pick_seed(seed, fold, step))
        if item is None:
            # Not a failure: duplicate groups share one candidate (and the combined strategy
            # skips outliers), so a pool can offer fewer picks than the budget. An annotator
            # would stop here too; the curve ends at the last checkpoint reached.
            exhausted_at = step - 1
            bar.update(budget - exhausted_at)  # the labels that will never come
            break
        session.label([item], [truth[item]])
        picks.append(item)
        bar.update(1)
        if step == points[len(measured)]:
            measured.append(scores(session))
            bar.set_postfix(accuracy=f"{measured[-1][0]:.3f}")
    # reshape: a pool that ran out before the first checkpoint leaves no measurement.
    acc, f1 = np.array(measured, dtype=np.float64).reshape(-1, 2).T
    return Curve(strategy=strategy, fold=fold, labels=points[: len(measured)], accuracy=acc, macro_f1=f1,
                 picks=picks, pool_exhausted_at=exhausted_at)


def run_simulation(
    *,
    ids: Sequence[str],
    vectors: np.ndarray,
    labels: Sequence[str],
    driver: Driver,
    strategies: Sequence[str],
    models: Sequence[str] = ("knn",),
    folds: int = 5,
    budget: int = 200,
    every: int = 10,
    targets: Sequence[float] = (0.95,),
    exponents: Exponents = DEFAULT_EXPONENTS,
    seed: int = 0,
    progress: bool = False,
) -> SimulationResult:
    """Replay an annotator for each strategy and model (``random`` with ``knn``, the
    baseline, is always added) on each fold. A curve of a model other than ``knn`` is
    named ``strategy@model``; the full-data reference is the kNN model's.

    ``labels`` are the true labels of ``ids``. ``budget`` is capped at the smallest
    training fold; a replay whose pool runs out before it stops there (see :class:`Curve`).
    ``targets`` are recorded for the report: the shares of full-data accuracy that "labels
    needed" refers to. ``exponents``: the combined strategy's, in every session.
    ``progress`` draws a bar on stderr, when it is a terminal.
    """
    from tqdm import tqdm

    strategies = list(dict.fromkeys(strategies))
    unknown = [s for s in strategies if s not in STRATEGY_NAMES]
    if unknown:
        raise InvalidInputError(f"unknown strategy {unknown[0]!r}; choose from {', '.join(STRATEGY_NAMES)}")
    models = list(dict.fromkeys(models))
    wrong = [m for m in models if m not in MODELS]
    if wrong or not models:
        raise InvalidInputError(f"unknown model {wrong[0] if wrong else None!r}; choose from {', '.join(MODELS)}")
    arms = [(s, m) for m in models for s in strategies]
    if (BASELINE, "knn") not in arms:
        arms.append((BASELINE, "knn"))
    exponents = check_exponents(exponents)
    if budget < 1 or every < 1:
        raise InvalidInputError("budget and every must be at least 1")
    targets = tuple(sorted(set(float(t) for t in targets)))
    wrong_target = [t for t in targets if not 0 < t <= 1]
    if wrong_target or not targets:
        raise InvalidInputError("each target must be a share of full-data accuracy in (0, 1], got "
                                f"{wrong_target[0] if wrong_target else 'none'}")
    ids = list(ids)
    x = np.asarray(vectors, dtype=np.float32)
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise InvalidInputError(f"a simulation needs at least 2 classes, found {len(classes)}")
    code_of = {name: code for code, name in enumerate(classes)}
    codes = np.array([code_of[label] for label in labels], dtype=np.int64)
    splits = stratified_folds(codes, folds=folds, seed=seed)
    budget = min(budget, min(len(train) for train, _ in splits))
    points = checkpoints(budget, every)

    curves: list[Curve] = []
    full_acc, full_f1 = np.empty(folds), np.empty(folds)
    bar = tqdm(total=folds * len(arms) * budget, unit="label", file=sys.stderr, disable=None if progress else True,
               desc="simulate", dynamic_ncols=True)
    with bar:
        for fold, (train, test) in enumerate(splits):
            train_ids = [ids[i] for i in train]
            train_labels = [classes[c] for c in codes[train]]
            truth = dict(zip(train_ids, train_labels))

            def scores(session: Session) -> tuple[float, float]:
                predicted = np.argmax(session.predict(), axis=1)
                return accuracy(codes[test], predicted), macro_f1(codes[test], predicted, n_classes=len(classes))

            session = driver.open(name=f"f{fold}-full", ids=train_ids, vectors=x[train], classes=classes,
                                  held_out=x[test])
            try:
                session.label(train_ids, train_labels)
                full_acc[fold], full_f1[fold] = scores(session)
            finally:
                session.close()

            for strategy, model in arms:
                arm = arm_name(strategy, model)
                bar.set_description(f"fold {fold + 1}/{folds} {arm}")
                session = driver.open(name=f"f{fold}-{strategy}" + ("" if model == "knn" else f"-{model}"),
                                      ids=train_ids, vectors=x[train], classes=classes, held_out=x[test],
                                      model=model, exponents=exponents)
                try:
                    curve = replay(session, strategy=strategy, fold=fold, truth=truth, points=points,
                                   seed=seed, scores=scores, bar=bar)
                    curves.append(replace(curve, strategy=arm))
                finally:
                    session.close()
    return SimulationResult(strategies=[arm_name(s, m) for s, m in arms], classes=classes, folds=folds,
                            budget=budget, targets=targets, curves=curves, full_accuracy=full_acc,
                            full_macro_f1=full_f1)


def arm_name(strategy: str, model: str) -> str:
    """The name a strategy's curves go by with ``model``: the strategy's own for kNN."""
    return strategy if model == "knn" else f"{strategy}@{model}"
