"""A strategy against the random baseline: labels to reach each target, and every budget
where it does worse than random.

"Labels to reach" a target is read on the fold-averaged accuracy curve: the first label
count whose mean accuracy over the folds measured there is at least ``target`` × the mean
full-data accuracy (the kNN classifier given every training label). The per-fold counts
give its spread. A curve that never gets there within the budget still bounds the ratio
of labels: if random misses and the strategy reaches the target at N, random needs more
than the last count measured, so the ratio is below N / that count.

A strategy is *below random* at a budget where its mean accuracy is lower than random's
by more than random's across-fold standard deviation there; every such budget is listed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from knn_al.simulation.metrics import labels_to_reach
from knn_al.simulation.replay import BASELINE, SimulationResult


def fold_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per label count (column of a :meth:`~SimulationResult.matrix`): mean and standard
    deviation over the folds measured there, and how many folds that is.

    A fold whose pool ran out earlier (NaN) is left out rather than carried forward: its
    last score would be a number nobody measured at that count. A count no fold reached
    has NaN mean and std.
    """
    measured = ~np.isnan(values)
    count = measured.sum(axis=0)
    filled = np.where(measured, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 → NaN where no fold was measured
        mean = filled.sum(axis=0) / count
        std = np.sqrt(np.where(measured, (filled - mean) ** 2, 0.0).sum(axis=0) / count)
    return mean, std, count


@dataclass(frozen=True)
class Reach:
    """When a strategy's accuracy reaches ``target`` × full-data accuracy."""

    target: float
    #: the first label count at which the fold-averaged curve gets there (None: not within
    #: the labels measured).
    labels: int | None
    #: the last label count at which some fold was measured: a curve that missed the target
    #: needs more than this.
    last: int | None
    #: the same, read on each fold's own curve against that fold's full-data accuracy.
    per_fold: list[int | None]


def reach(result: SimulationResult, strategy: str, target: float) -> Reach:
    """Where ``strategy`` reaches ``target`` (see the module docstring)."""
    points, values = result.matrix(strategy)
    mean, _, count = fold_stats(values)
    measured = np.flatnonzero(count > 0)
    averaged = labels_to_reach(points[measured], mean[measured], target * float(result.full_accuracy.mean()))
    per_fold = [labels_to_reach(c.labels, c.accuracy, target * result.full_accuracy[c.fold])
                for c in result.curves_of(strategy)]
    return Reach(target=target, labels=averaged, last=int(points[measured[-1]]) if len(measured) else None,
                 per_fold=per_fold)


@dataclass(frozen=True)
class Ratio:
    """The strategy's labels to a target over random's, exact ("=") or a bound ("<": random
    missed the target, ">": the strategy did); ``value`` None when neither got there."""

    target: float
    value: float | None
    bound: Literal["=", "<", ">"] | None


def ratio(mine: Reach, theirs: Reach) -> Ratio:
    """``mine``'s labels over ``theirs``, bounded by the last count measured where one missed."""
    if mine.labels is not None and theirs.labels is not None:
        return Ratio(mine.target, mine.labels / theirs.labels, "=")
    if mine.labels is not None and theirs.last:
        return Ratio(mine.target, mine.labels / theirs.last, "<")
    if theirs.labels is not None and mine.last:
        return Ratio(mine.target, mine.last / theirs.labels, ">")
    return Ratio(mine.target, None, None)


@dataclass(frozen=True)
class Shortfall:
    """A budget where the strategy's mean accuracy is below random's by more than random's std."""

    labels: int
    gap: float
    random_std: float


@dataclass(frozen=True)
class Comparison:
    """A strategy against the random baseline."""

    strategy: str
    ratios: list[Ratio]
    #: the most negative (strategy − random) mean accuracy over the budgets measured for
    #: both, and where (None: no budget was, as both pools ran out before the first checkpoint).
    worst_gap: float | None
    worst_gap_labels: int | None
    #: random's across-fold standard deviation at that budget.
    random_std: float | None
    #: every budget where the strategy is below random by more than one std, in order.
    below: list[Shortfall]

    @property
    def within_one_std(self) -> bool | None:
        """Never below random by more than random's standard deviation, at any budget
        measured for both (None: none was)."""
        return None if self.worst_gap is None else not self.below


def compare(result: SimulationResult, strategy: str) -> Comparison:
    """How ``strategy`` fares against random, in labels to each target and at every budget
    measured for both (on at least one fold each; means over the folds measured, see
    :func:`fold_stats`)."""
    points, mine = result.matrix(strategy)
    _, base = result.matrix(BASELINE)
    mine_mean, _, mine_count = fold_stats(mine)
    base_mean, base_std, base_count = fold_stats(base)
    ratios = [ratio(reach(result, strategy, t), reach(result, BASELINE, t)) for t in result.targets]
    both = np.flatnonzero((mine_count > 0) & (base_count > 0))
    if len(both) == 0:
        return Comparison(strategy=strategy, ratios=ratios, worst_gap=None, worst_gap_labels=None, random_std=None,
                          below=[])
    gap = mine_mean[both] - base_mean[both]
    worst = int(np.argmin(gap))
    below = [Shortfall(labels=int(points[i]), gap=float(g), random_std=float(base_std[i]))
             for i, g in zip(both, gap) if g < -base_std[i]]
    return Comparison(strategy=strategy, ratios=ratios, worst_gap=float(gap[worst]),
                      worst_gap_labels=int(points[both[worst]]), random_std=float(base_std[both[worst]]),
                      below=below)
