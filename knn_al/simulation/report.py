"""What a simulation shows: the table, the curves CSV, a JSON summary and the PNG plot.

Curves are summarised across folds as mean ± standard deviation. "Labels needed" is, per
fold, the first measured label count at which accuracy reaches ``target`` × that fold's
full-data accuracy (the kNN classifier given every training label); it is averaged over
folds only when every fold got there within the budget.
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
    #: the most negative (strategy − random) mean accuracy over the measured budgets, and where.
    worst_gap: float
    worst_gap_labels: int
    #: random's across-fold standard deviation at that budget.
    random_std: float

    @property
    def within_one_std(self) -> bool:
        """Never below random by more than random's standard deviation, at any measured budget."""
        return self.worst_gap >= -self.random_std


def labels_needed(result: SimulationResult, strategy: str) -> list[int | None]:
    """Per fold, labels needed to reach ``target`` × full-data accuracy (None: not within budget)."""
    return [labels_to_reach(c.labels, c.accuracy, result.target * result.full_accuracy[c.fold])
            for c in result.curves_of(strategy)]


def mean_labels_needed(result: SimulationResult, strategy: str) -> float | None:
    """Mean over folds of :func:`labels_needed`, or None if some fold did not get there."""
    needed = labels_needed(result, strategy)
    return None if any(n is None for n in needed) else float(np.mean(needed))


def compare(result: SimulationResult, strategy: str) -> Comparison:
    """How ``strategy`` fares against random, in labels needed and at every measured budget."""
    points, mine = result.matrix(strategy)
    _, base = result.matrix(BASELINE)
    gap = mine.mean(axis=0) - base.mean(axis=0)
    worst = int(np.argmin(gap))
    ours, theirs = mean_labels_needed(result, strategy), mean_labels_needed(result, BASELINE)
    ratio = ours / theirs if ours is not None and theirs else None
    return Comparison(strategy=strategy, label_ratio=ratio, worst_gap=float(gap[worst]),
                      worst_gap_labels=int(points[worst]), random_std=float(base.std(axis=0)[worst]))


def table_points(points: np.ndarray, at: Sequence[int] | None = None) -> list[int]:
    """Budgets shown as table columns: ``at`` if given (measured ones only), else the
    measured counts among 1, 2, 3, 5 × 10^e, and the last one."""
    measured = set(points.tolist())
    if at:
        return sorted(measured.intersection(at)) or [int(points[-1])]
    nice = {m * 10**e for e in range(7) for m in (1, 2, 3, 5)}
    return sorted(measured.intersection(nice) | {int(points[-1])})


def format_table(result: SimulationResult, *, at: Sequence[int] | None = None) -> str:
    """The human-readable summary: accuracy and macro-F1 at chosen budgets, labels needed,
    and each strategy against random."""
    points = result.curves[0].labels
    shown = table_points(points, at)
    columns = [int(np.flatnonzero(points == p)[0]) for p in shown]
    width = max(len("strategy"), *(len(s) for s in result.strategies))
    pct = round(result.target * 100)
    lines = [f"{len(result.classes)} classes, {result.folds}-fold; full-data accuracy "
             f"{result.full_accuracy.mean():.3f} ± {result.full_accuracy.std():.3f}, "
             f"macro-F1 {result.full_macro_f1.mean():.3f} ± {result.full_macro_f1.std():.3f}"]
    for metric, title in (("accuracy", "accuracy"), ("macro_f1", "macro-F1")):
        lines += ["", f"{title} (mean ± std over folds) after N labels",
                  f"{'strategy':<{width}}  " + "  ".join(f"{'N=' + str(p):>13}" for p in shown)]
        for strategy in result.strategies:
            _, values = result.matrix(strategy, metric)
            cells = (f"{values[:, i].mean():.3f} ± {values[:, i].std():.3f}" for i in columns)
            lines.append(f"{strategy:<{width}}  " + "  ".join(f"{cell:>13}" for cell in cells))
    lines += ["", f"labels needed to reach {pct}% of full-data accuracy (mean ± std over folds)"]
    for strategy in result.strategies:
        needed = labels_needed(result, strategy)
        reached = [n for n in needed if n is not None]
        if len(reached) == len(needed):
            text = f"{np.mean(reached):.1f} ± {np.std(reached):.1f}"
        else:
            text = f"> {result.budget} ({len(reached)}/{len(needed)} folds reached it)"
        lines.append(f"{strategy:<{width}}  {text}")
    for strategy in result.strategies:
        if strategy == BASELINE:
            continue
        c = compare(result, strategy)
        ratio = f"{c.label_ratio:.2f}× the labels random needs" if c.label_ratio is not None else "labels ratio n/a"
        lines.append(f"{strategy} vs random: {ratio}; lowest accuracy margin over random "
                     f"{c.worst_gap:+.3f} at N={c.worst_gap_labels} (random's std there {c.random_std:.3f})")
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


def summary(result: SimulationResult) -> dict:
    """The numbers of the table, machine-readable."""
    out: dict = {"classes": result.classes, "folds": result.folds, "budget": result.budget, "target": result.target,
                 "full_accuracy": result.full_accuracy.tolist(), "full_macro_f1": result.full_macro_f1.tolist(),
                 "strategies": {}}
    for strategy in result.strategies:
        points, acc = result.matrix(strategy)
        _, f1 = result.matrix(strategy, "macro_f1")
        entry = {"labels": points.tolist(), "accuracy_mean": acc.mean(axis=0).tolist(),
                 "accuracy_std": acc.std(axis=0).tolist(), "macro_f1_mean": f1.mean(axis=0).tolist(),
                 "macro_f1_std": f1.std(axis=0).tolist(), "labels_needed": labels_needed(result, strategy),
                 "labels_needed_mean": mean_labels_needed(result, strategy)}
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
            mean, std = values.mean(axis=0), values.std(axis=0)
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
