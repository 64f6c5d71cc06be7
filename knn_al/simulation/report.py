"""What a simulation shows: the table, the curves CSV, a JSON summary and the PNG plot.

Curves are summarised across folds as mean ± standard deviation. "Labels needed" is, per
fold, the first measured label count at which accuracy reaches ``target`` × that fold's
full-data accuracy (the kNN classifier given every training label); it is averaged over
folds only when every fold got there within the budget.

A fold whose pool ran out before the budget (see :mod:`knn_al.simulation.replay`) has no
scores past that point, and none are made up for it: at each label count, means and
standard deviations are over the folds measured there. A table cell that averages fewer
than all folds says how many, "r/F"; a count no fold of a strategy reached shows "—"
(``null`` in the JSON). The report lists, per strategy and fold, after how many labels
each pool ran out.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knn_al.simulation.metrics import labels_to_reach
from knn_al.simulation.replay import BASELINE, SimulationResult

CSV_NAME, JSON_NAME, PLOT_NAME, TABLE_NAME = "curves.csv", "summary.json", "learning_curves.png", "summary.txt"


@dataclass(frozen=True)
class Comparison:
    """A strategy against the random baseline."""

    strategy: str
    #: mean labels needed by the strategy / by random (None unless both reached the target on every fold).
    label_ratio: float | None
    #: the most negative (strategy − random) mean accuracy over the budgets measured for
    #: both, and where (None: no budget was, as both pools ran out before the first checkpoint).
    worst_gap: float | None
    worst_gap_labels: int | None
    #: random's across-fold standard deviation at that budget.
    random_std: float | None

    @property
    def within_one_std(self) -> bool | None:
        """Never below random by more than random's standard deviation, at any budget
        measured for both (None: none was)."""
        if self.worst_gap is None or self.random_std is None:
            return None
        return self.worst_gap >= -self.random_std


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


def labels_needed(result: SimulationResult, strategy: str) -> list[int | None]:
    """Per fold, labels needed to reach ``target`` × full-data accuracy (None: not within budget)."""
    return [labels_to_reach(c.labels, c.accuracy, result.target * result.full_accuracy[c.fold])
            for c in result.curves_of(strategy)]


def mean_labels_needed(result: SimulationResult, strategy: str) -> float | None:
    """Mean over folds of :func:`labels_needed`, or None if some fold did not get there."""
    needed = labels_needed(result, strategy)
    reached = [n for n in needed if n is not None]
    return None if len(reached) < len(needed) else float(np.mean(reached))


def compare(result: SimulationResult, strategy: str) -> Comparison:
    """How ``strategy`` fares against random, in labels needed and at every budget measured
    for both (on at least one fold each; means over the folds measured, see :func:`fold_stats`)."""
    points, mine = result.matrix(strategy)
    _, base = result.matrix(BASELINE)
    mine_mean, _, mine_count = fold_stats(mine)
    base_mean, base_std, base_count = fold_stats(base)
    ours, theirs = mean_labels_needed(result, strategy), mean_labels_needed(result, BASELINE)
    ratio = ours / theirs if ours is not None and theirs else None
    both = np.flatnonzero((mine_count > 0) & (base_count > 0))
    if len(both) == 0:
        return Comparison(strategy=strategy, label_ratio=ratio, worst_gap=None, worst_gap_labels=None,
                          random_std=None)
    worst = both[int(np.argmin(mine_mean[both] - base_mean[both]))]
    return Comparison(strategy=strategy, label_ratio=ratio, worst_gap=float(mine_mean[worst] - base_mean[worst]),
                      worst_gap_labels=int(points[worst]), random_std=float(base_std[worst]))


def table_points(points: np.ndarray, at: Sequence[int] | None = None) -> list[int]:
    """Budgets shown as table columns: ``at`` if given (measured ones only), else the
    measured counts among 1, 2, 3, 5 × 10^e, and the last one."""
    measured = set(points.tolist())
    if not measured:  # every pool ran out before the first checkpoint
        return []
    if at:
        return sorted(measured.intersection(at)) or [int(points[-1])]
    nice = {m * 10**e for e in range(7) for m in (1, 2, 3, 5)}
    return sorted(measured.intersection(nice) | {int(points[-1])})


def stat_cell(mean: float, std: float, count: int, *, folds: int) -> str:
    """One table cell: mean ± std, with "(r/F)" when only r of the F folds were measured
    there (the others' pools ran out earlier), "—" when none was."""
    if count == 0:
        return "—"
    text = f"{mean:.3f} ± {std:.3f}"
    return text if count == folds else f"{text} ({count}/{folds})"


def metric_lines(result: SimulationResult, metric: str, *, shown: list[int], width: int) -> list[str]:
    """The header and one row per strategy of ``metric`` at the ``shown`` label counts."""
    rows = {}
    for strategy in result.strategies:
        points, values = result.matrix(strategy, metric)
        mean, std, count = fold_stats(values)
        columns = [int(np.flatnonzero(points == p)[0]) for p in shown]
        rows[strategy] = [stat_cell(mean[i], std[i], int(count[i]), folds=result.folds) for i in columns]
    cell = max([13, *(len(c) for cells in rows.values() for c in cells)])
    lines = [f"{'strategy':<{width}}  " + "  ".join(f"{'N=' + str(p):>{cell}}" for p in shown)]
    lines += [f"{strategy:<{width}}  " + "  ".join(f"{c:>{cell}}" for c in cells) for strategy, cells in rows.items()]
    return lines


def needed_text(result: SimulationResult, strategy: str) -> str:
    """Labels needed by ``strategy``, or how many folds got there and why the others did not."""
    needed = labels_needed(result, strategy)
    reached = [n for n in needed if n is not None]
    if len(reached) == len(needed):
        return f"{np.mean(reached):.1f} ± {np.std(reached):.1f}"
    ran_out = sum(1 for n, at in zip(needed, result.pool_exhausted_at(strategy)) if n is None and at is not None)
    if ran_out:
        # "> budget" would claim more labels get there; these pools had no more to give.
        return (f"not reached ({len(reached)}/{len(needed)} folds reached it; "
                f"the pool ran out first on {ran_out} fold{'s' if ran_out > 1 else ''})")
    return f"> {result.budget} ({len(reached)}/{len(needed)} folds reached it)"


def comparison_text(c: Comparison) -> str:
    """One strategy against random, as a line of the table."""
    ratio = f"{c.label_ratio:.2f}× the labels random needs" if c.label_ratio is not None else "labels ratio n/a"
    if c.worst_gap is None:
        return f"{c.strategy} vs random: {ratio}; no label count was measured for both (their pools ran out first)"
    return (f"{c.strategy} vs random: {ratio}; lowest accuracy margin over random "
            f"{c.worst_gap:+.3f} at N={c.worst_gap_labels} (random's std there {c.random_std:.3f})")


def exhaustion_lines(result: SimulationResult, *, width: int) -> list[str]:
    """Per strategy and fold whose pool ran out before the budget, after how many labels."""
    ran_out = [c for s in result.strategies for c in result.curves_of(s) if c.pool_exhausted_at is not None]
    if not ran_out:
        return []
    lines = ["", "pools that ran out before the budget (every candidate labeled, or covered by a labeled "
                 "duplicate, or skipped as an outlier):",
             "their curves end there; a cell marked (r/F) is the mean over the r of F folds measured at N, "
             "— means none was"]
    lines += [f"{c.strategy:<{width}}  fold {c.fold}: pool exhausted after {c.pool_exhausted_at} labels "
              f"(budget {result.budget})" for c in ran_out]
    if not len(result.label_counts()):
        lines.append("no label count was scored before the pools ran out: score more often (a smaller --every)")
    return lines


def format_table(result: SimulationResult, *, at: Sequence[int] | None = None) -> str:
    """The human-readable summary: accuracy and macro-F1 at chosen budgets, labels needed,
    each strategy against random, and the pools that ran out before the budget."""
    shown = table_points(result.label_counts(), at)
    width = max(len("strategy"), *(len(s) for s in result.strategies))
    pct = round(result.target * 100)
    lines = [f"{len(result.classes)} classes, {result.folds}-fold; full-data accuracy "
             f"{result.full_accuracy.mean():.3f} ± {result.full_accuracy.std():.3f}, "
             f"macro-F1 {result.full_macro_f1.mean():.3f} ± {result.full_macro_f1.std():.3f}"]
    for metric, title in (("accuracy", "accuracy"), ("macro_f1", "macro-F1")):
        lines += ["", f"{title} (mean ± std over folds) after N labels"]
        lines += metric_lines(result, metric, shown=shown, width=width)
    lines += ["", f"labels needed to reach {pct}% of full-data accuracy (mean ± std over folds)"]
    lines += [f"{strategy:<{width}}  {needed_text(result, strategy)}" for strategy in result.strategies]
    lines += [comparison_text(compare(result, s)) for s in result.strategies if s != BASELINE]
    lines += exhaustion_lines(result, width=width)
    return "\n".join(lines)


def write_csv(result: SimulationResult, path: Path) -> None:
    """One row per (strategy, fold, label count), with the fold's full-data scores."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["strategy", "fold", "labels", "accuracy", "macro_f1", "full_accuracy", "full_macro_f1"])
        for c in result.curves:
            for n, acc, f1 in zip(c.labels, c.accuracy, c.macro_f1):
                writer.writerow([c.strategy, c.fold, int(n), f"{acc:.6f}", f"{f1:.6f}",
                                 f"{result.full_accuracy[c.fold]:.6f}", f"{result.full_macro_f1[c.fold]:.6f}"])


def measured_list(values: np.ndarray) -> list[float | None]:
    """``values`` for JSON: None where nothing was measured (JSON has no NaN)."""
    return [None if np.isnan(v) else float(v) for v in values]


def summary(result: SimulationResult) -> dict:
    """The numbers of the table, machine-readable.

    Per strategy, ``pool_exhausted_at`` lists per fold the labels given when its pool ran
    out (None: the budget was spent); means and stds at each of ``labels`` are over the
    ``folds_measured`` folds whose pool lasted that long (None: no fold's did).
    """
    out: dict = {"classes": result.classes, "folds": result.folds, "budget": result.budget, "target": result.target,
                 "full_accuracy": result.full_accuracy.tolist(), "full_macro_f1": result.full_macro_f1.tolist(),
                 "strategies": {}}
    for strategy in result.strategies:
        points, acc = result.matrix(strategy)
        _, f1 = result.matrix(strategy, "macro_f1")
        acc_mean, acc_std, count = fold_stats(acc)
        f1_mean, f1_std, _ = fold_stats(f1)
        entry = {"labels": points.tolist(), "folds_measured": count.tolist(),
                 "accuracy_mean": measured_list(acc_mean), "accuracy_std": measured_list(acc_std),
                 "macro_f1_mean": measured_list(f1_mean), "macro_f1_std": measured_list(f1_std),
                 "labels_needed": labels_needed(result, strategy),
                 "labels_needed_mean": mean_labels_needed(result, strategy),
                 "pool_exhausted_at": result.pool_exhausted_at(strategy)}
        if strategy != BASELINE:
            c = compare(result, strategy)
            entry["vs_random"] = {"label_ratio": c.label_ratio, "worst_gap": c.worst_gap,
                                  "worst_gap_labels": c.worst_gap_labels, "random_std": c.random_std,
                                  "within_one_std": c.within_one_std}
        out["strategies"][strategy] = entry
    return out


def plot(result: SimulationResult, path: Path, *, title: str = "") -> None:
    """Accuracy and macro-F1 vs labels, one line per strategy with a ±1 std band; headless."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    for ax, metric, name, full in ((axes[0], "accuracy", "accuracy", result.full_accuracy),
                                   (axes[1], "macro_f1", "macro-F1", result.full_macro_f1)):
        for strategy in result.strategies:
            points, values = result.matrix(strategy, metric)
            # Over the folds measured at each count, as in the table; NaN (no fold) is a gap.
            mean, std, _ = fold_stats(values)
            style = {"color": "0.35", "linestyle": "--"} if strategy == BASELINE else {}
            line, = ax.plot(points, mean, label=strategy, **style)
            ax.fill_between(points, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.axhline(full.mean(), color="black", linestyle=":", linewidth=1, label="all training labels")
        if metric == "accuracy":
            ax.axhline(result.target * full.mean(), color="tab:red", linestyle=":", linewidth=1,
                       label=f"{round(result.target * 100)}% of that")
        ax.set_xlabel("labels")
        ax.set_ylabel(f"held-out {name}")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize="small")
    fig.suptitle(title or f"{result.folds}-fold replay, mean ± std over folds")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(result: SimulationResult, out: Path, *, title: str = "", at: Sequence[int] | None = None) -> str:
    """Write the CSV, JSON summary, table and plot into ``out``; return the table."""
    out.mkdir(parents=True, exist_ok=True)
    table = format_table(result, at=at)
    write_csv(result, out / CSV_NAME)
    (out / JSON_NAME).write_text(json.dumps(summary(result), indent=1) + "\n", encoding="utf-8")
    (out / TABLE_NAME).write_text(table + "\n", encoding="utf-8")
    plot(result, out / PLOT_NAME, title=title)
    return table
