"""The replay: K folds × strategies, each a simulated annotator labeling picks one by one.

For every fold, the training rows become a fresh pool per strategy; each pick is answered
with its true label, and every ``every`` labels the held-out fold is predicted and
scored. A session labeled with the whole training fold gives the full-data reference the
curves are compared to. Each pick's seed depends on (seed, fold, step) only, so runs are
reproducible, and every strategy of a fold starts from the same state.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from knn_al.simulation.drivers import Driver, Session
from knn_al.simulation.folds import stratified_folds
from knn_al.simulation.metrics import accuracy, macro_f1
from knn_al.strategies import STRATEGY_NAMES

BASELINE = "random"


@dataclass(frozen=True)
class Curve:
    """One strategy's learning curve on one fold, and the items it picked, in order."""

    strategy: str
    fold: int
    labels: np.ndarray
    accuracy: np.ndarray
    macro_f1: np.ndarray
    picks: list[str]


@dataclass(frozen=True)
class SimulationResult:
    """Every curve of a simulation, with each fold's full-data reference scores."""

    strategies: list[str]
    classes: list[str]
    folds: int
    budget: int
    target: float
    curves: list[Curve]
    full_accuracy: np.ndarray
    full_macro_f1: np.ndarray

    def curves_of(self, strategy: str) -> list[Curve]:
        """The curves of ``strategy``, by fold."""
        return sorted((c for c in self.curves if c.strategy == strategy), key=lambda c: c.fold)

    def matrix(self, strategy: str, metric: str = "accuracy") -> tuple[np.ndarray, np.ndarray]:
        """(label counts, folds × counts matrix of ``metric``) for ``strategy``."""
        curves = self.curves_of(strategy)
        return curves[0].labels, np.stack([getattr(c, metric) for c in curves])


def checkpoints(budget: int, every: int) -> np.ndarray:
    """Label counts at which the held-out fold is scored: every ``every`` labels, and the budget."""
    points = list(range(every, budget + 1, every))
    if not points or points[-1] != budget:
        points.append(budget)
    return np.array(points, dtype=np.int64)


def pick_seed(seed: int, fold: int, step: int) -> int:
    """The seed of one pick, independent of the strategy and of the other folds."""
    return int(np.random.SeedSequence([seed, fold, step]).generate_state(1)[0])


def run_simulation(
    *,
    ids: Sequence[str],
    vectors: np.ndarray,
    labels: Sequence[str],
    driver: Driver,
    strategies: Sequence[str],
    folds: int = 5,
    budget: int = 200,
    every: int = 10,
    target: float = 0.95,
    seed: int = 0,
    progress: bool = False,
) -> SimulationResult:
    """Replay an annotator for each strategy (``random`` is always added) on each fold.

    ``labels`` are the true labels of ``ids``. ``budget`` is capped at the smallest
    training fold. ``target`` is recorded for the report: the share of full-data accuracy
    that "labels needed" refers to. ``progress`` draws a bar on stderr.
    """
    from tqdm import tqdm

    strategies = list(dict.fromkeys(strategies))
    unknown = [s for s in strategies if s not in STRATEGY_NAMES]
    if unknown:
        raise ValueError(f"unknown strategy {unknown[0]!r}; choose from {', '.join(STRATEGY_NAMES)}")
    if BASELINE not in strategies:
        strategies.append(BASELINE)
    if budget < 1 or every < 1:
        raise ValueError("budget and every must be at least 1")
    if not 0 < target <= 1:
        raise ValueError(f"target must be a share of full-data accuracy in (0, 1], got {target}")
    ids = list(ids)
    x = np.asarray(vectors, dtype=np.float32)
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError(f"a simulation needs at least 2 classes, found {len(classes)}")
    code_of = {name: code for code, name in enumerate(classes)}
    codes = np.array([code_of[label] for label in labels], dtype=np.int64)
    splits = stratified_folds(codes, folds=folds, seed=seed)
    budget = min(budget, min(len(train) for train, _ in splits))
    points = checkpoints(budget, every)

    curves: list[Curve] = []
    full_acc, full_f1 = np.empty(folds), np.empty(folds)
    bar = tqdm(total=folds * len(strategies) * budget, unit="label", file=sys.stderr, disable=not progress,
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

            for strategy in strategies:
                bar.set_description(f"fold {fold + 1}/{folds} {strategy}")
                session = driver.open(name=f"f{fold}-{strategy}", ids=train_ids, vectors=x[train], classes=classes,
                                      held_out=x[test])
                picks: list[str] = []
                measured: list[tuple[float, float]] = []
                try:
                    for step in range(1, budget + 1):
                        item = session.pick(strategy=strategy, seed=pick_seed(seed, fold, step))
                        if item is None:
                            raise RuntimeError(f"the pool ran out after {step - 1} picks of {budget}")
                        session.label([item], [truth[item]])
                        picks.append(item)
                        bar.update(1)
                        if step == points[len(measured)]:
                            measured.append(scores(session))
                            bar.set_postfix(accuracy=f"{measured[-1][0]:.3f}")
                finally:
                    session.close()
                acc, f1 = np.array(measured).T
                curves.append(Curve(strategy=strategy, fold=fold, labels=points, accuracy=acc, macro_f1=f1,
                                    picks=picks))
    return SimulationResult(strategies=strategies, classes=classes, folds=folds, budget=budget, target=target,
                            curves=curves, full_accuracy=full_acc, full_macro_f1=full_f1)
