"""What a simulation shows: the table, the curves CSV, a JSON summary and the PNG plot.

Curves are summarised across folds as mean ± standard deviation. Labels needed to reach
each target share of full-data accuracy, and each strategy against random, are those of
:mod:`knn_al.simulation.compare`: read on the fold-averaged curve, with the per-fold
spread, a bound where a curve missed, and every budget where a strategy is below random.

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
from pathlib import Path

import numpy as np

from knn_al.simulation.compare import Comparison, Ratio, Reach, compare, fold_stats, reach
from knn_al.simulation.replay import BASELINE, SimulationResult

CSV_NAME, JSON_NAME, PLOT_NAME, TABLE_NAME = "curves.csv", "summary.json", "learning_curves.png", "summary.txt"


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


def reach_text(result: SimulationResult, strategy: str, found: Reach) -> str:
    """Labels ``found`` on the fold-averaged curve, then per fold: mean ± std, or how many
    folds got there and why the others did not."""
    averaged = str(found.labels) if found.labels is not None else f"> {found.last}" if found.last else "—"
    reached = [n for n in found.per_fold if n is not None]
    if len(reached) == len(found.per_fold):
        return f"{averaged:<6} (per fold {np.mean(reached):.1f} ± {np.std(reached):.1f})"
    exhausted = result.pool_exhausted_at(strategy)
    ran_out = sum(1 for n, at in zip(found.per_fold, exhausted) if n is None and at is not None)
    folds = f"{len(reached)}/{len(found.per_fold)} folds reached it"
    if ran_out:
        # "> budget" would claim more labels get there; these pools had no more to give.
        plural = "s" if ran_out > 1 else ""
        return f"{averaged:<6} (per fold: {folds}; the pool ran out first on {ran_out} fold{plural})"
    return f"{averaged:<6} (per fold: {folds} within {result.budget})"


def ratio_text(r: Ratio, *, budget: int) -> str:
    """One target's label ratio, saying which curve missed where it is a bound."""
    pct = f"{round(r.target * 100)}%"
    if r.value is None:
        return f"no ratio to reach {pct} (neither reached it within {budget} labels)"
    if r.bound == "<":
        return f"< {r.value:.2f}× random's labels to reach {pct} (random missed it within {budget} labels)"
    if r.bound == ">":
        return f"> {r.value:.2f}× random's labels to reach {pct} (it missed it within {budget} labels)"
    return f"{r.value:.2f}× random's labels to reach {pct}"


def comparison_lines(c: Comparison, *, budget: int) -> list[str]:
    """One strategy against random: its label ratios, then where it is below random."""
    ratios = "; ".join(ratio_text(r, budget=budget) for r in c.ratios)
    lines = [f"{c.strategy} vs random: {ratios}"]
    if c.worst_gap is None:
        return lines + ["  no label count was measured for both (their pools ran out first)"]
    if not c.below:
        return lines + [f"  never below random by more than one std (lowest margin {c.worst_gap:+.3f} at "
                        f"N={c.worst_gap_labels}, random's std there {c.random_std:.3f})"]
    cells = ", ".join(f"N={s.labels} {s.gap:+.3f} (std {s.random_std:.3f})" for s in c.below)
    return lines + [f"  below random by more than one std at {len(c.below)} budget{'s' if len(c.below) > 1 else ''}: "
                    f"{cells}"]


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
    lines = [f"{len(result.classes)} classes, {result.folds}-fold; full-data accuracy "
             f"{result.full_accuracy.mean():.3f} ± {result.full_accuracy.std():.3f}, "
             f"macro-F1 {result.full_macro_f1.mean():.3f} ± {result.full_macro_f1.std():.3f}"]
    for metric, title in (("accuracy", "accuracy"), ("macro_f1", "macro-F1")):
        lines += ["", f"{title} (mean ± std over folds) after N labels"]
        lines += metric_lines(result, metric, shown=shown, width=width)
    for target in result.targets:
        lines += ["", f"labels needed to reach {round(target * 100)}% of full-data accuracy "
                      "(where the fold-averaged curve reaches it; per fold: mean ± std)"]
        lines += [f"{s:<{width}}  {reach_text(result, s, reach(result, s, target))}" for s in result.strategies]
    lines.append("")
    for strategy in result.strategies:
        if strategy != BASELINE:
            lines += comparison_lines(compare(result, strategy), budget=result.budget)
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
    out: dict = {"classes": result.classes, "folds": result.folds, "budget": result.budget,
                 "targets": list(result.targets),
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
                 "labels_needed": [{"target": r.target, "fold_averaged": r.labels, "per_fold": r.per_fold}
                                   for r in (reach(result, strategy, t) for t in result.targets)],
                 "pool_exhausted_at": result.pool_exhausted_at(strategy)}
        if strategy != BASELINE:
            c = compare(result, strategy)
            entry["vs_random"] = {
                "label_ratio": [{"target": r.target, "value": r.value, "bound": r.bound} for r in c.ratios],
                "worst_gap": c.worst_gap, "worst_gap_labels": c.worst_gap_labels, "random_std": c.random_std,
                "within_one_std": c.within_one_std,
                "below_random": [{"labels": b.labels, "gap": b.gap, "random_std": b.random_std} for b in c.below]}
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
            for target in result.targets:
                ax.axhline(target * full.mean(), color="tab:red", linestyle=":", linewidth=1,
                           label=f"{round(target * 100)}% of that")
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
