"""The replay simulator: right answers on data where they are known, its files, and the
same picks in-process and through a real server."""
from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from knn_al.cli import main
from knn_al.dataset import write_dataset
from knn_al.simulation import LearnerDriver, run_simulation
from knn_al.simulation.folds import stratified_folds
from knn_al.simulation.metrics import labels_to_reach, macro_f1
from knn_al.simulation.compare import compare, reach
from knn_al.simulation.replay import Curve, SimulationResult
from knn_al.simulation.server_process import ServerProcess
from knn_al.learner.strategies import DEFAULT_STRATEGY

#: Topic sizes of the synthetic set: a few big topics and a tail of small ones, which a
#: random annotator keeps missing.
TOPIC_SIZES = (240, 160, 100, 60, 40, 24, 16, 12)


def topics(*, seed: int, dimension: int = 32) -> tuple[list[str], np.ndarray, list[str]]:
    """Well-separated Gaussian topics: the classifier is perfect once each topic has a label."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(TOPIC_SIZES), dimension))
    topic = np.repeat(np.arange(len(TOPIC_SIZES)), TOPIC_SIZES)
    vectors = centres[topic] + 0.35 * rng.normal(size=(len(topic), dimension))
    return [f"item-{i:04d}" for i in range(len(topic))], vectors.astype(np.float32), [f"topic-{t}" for t in topic]


# ------------------------------------------------------------------ metrics
def test_macro_f1_and_labels_to_reach_on_hand_computed_cases() -> None:
    truth = np.array([0, 0, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 0])
    # Class F1: 0 → 2·1/(2+2) = 0.5; 1 → 2·2/(2+3) = 0.8; 2 → 0.
    assert macro_f1(truth, predicted, n_classes=4) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert labels_to_reach(np.array([5, 10, 15]), np.array([0.5, 0.9, 0.8]), 0.85) == 10
    assert labels_to_reach(np.array([5, 10]), np.array([0.5, 0.6]), 0.85) is None


def test_folds_are_stratified_and_cover_every_row_once() -> None:
    codes = np.repeat([0, 1, 2], [50, 30, 20])
    splits = stratified_folds(codes, folds=5, seed=3)
    tested = np.concatenate([test for _, test in splits])
    assert sorted(tested.tolist()) == list(range(100))
    for train, test in splits:
        assert not set(train) & set(test)
        assert np.bincount(codes[test]).tolist() == [10, 6, 4]
    assert [t.tolist() for _, t in splits] == [t.tolist() for _, t in stratified_folds(codes, folds=5, seed=3)]


# ------------------------------------------------------- against random
def constructed(curves: dict[str, list[list[float]]], *, points: list[int], targets=(0.9, 0.95)) -> SimulationResult:
    """A result whose accuracy curves are given (strategy → per fold), full-data accuracy 1."""
    folds = len(next(iter(curves.values())))
    made = [Curve(strategy=s, fold=f, labels=np.array(points[: len(acc)]), accuracy=np.array(acc),
                  macro_f1=np.array(acc), picks=[]) for s, per_fold in curves.items() for f, acc in enumerate(per_fold)]
    return SimulationResult(strategies=list(curves), classes=["a", "b"], folds=folds, budget=points[-1],
                            targets=tuple(targets), curves=made, full_accuracy=np.ones(folds),
                            full_macro_f1=np.ones(folds))


def test_labels_to_target_are_read_on_the_fold_averaged_curve_and_bounded_where_random_misses() -> None:
    points = [10, 20, 30, 40]
    result = constructed({
        # Fold 1 reaches 0.95 at 10 and fold 0 never: per fold, one miss; averaged, 20 and 30.
        "margin": [[0.80, 0.91, 0.94, 0.94], [0.95, 0.97, 0.97, 0.99]],
        "random": [[0.50, 0.60, 0.70, 0.91], [0.60, 0.70, 0.80, 0.90]],
    }, points=points)
    assert reach(result, "margin", 0.9).labels == 20 and reach(result, "margin", 0.95).labels == 30
    assert reach(result, "margin", 0.95).per_fold == [None, 10]
    assert reach(result, "random", 0.9).labels == 40 and reach(result, "random", 0.95).labels is None
    ratios = {r.target: r for r in compare(result, "margin").ratios}
    assert (ratios[0.9].bound, ratios[0.9].value) == ("=", 0.5)
    # Random needs more than 40 labels for 95%: margin's 30 is under 0.75× of that.
    assert (ratios[0.95].bound, ratios[0.95].value) == ("<", 0.75)
    reverse = compare(constructed({"random": result.matrix("margin")[1].tolist(),
                                   "margin": result.matrix("random")[1].tolist()}, points=points), "margin")
    assert [(r.bound, r.value) for r in reverse.ratios] == [("=", 2.0), (">", 40 / 30)]


def test_every_budget_below_random_by_more_than_one_std_is_listed(capsys: pytest.CaptureFixture) -> None:
    points = [10, 20, 30, 40]
    result = constructed({
        "margin": [[0.50, 0.80, 0.59, 0.90], [0.50, 0.80, 0.61, 0.90]],
        # random's std is 0.01 everywhere; margin is below it by 0.1 at 10, by 0.005 at 20, by 0.2 at 30.
        "random": [[0.59, 0.795, 0.79, 0.85], [0.61, 0.815, 0.81, 0.87]],
    }, points=points)
    c = compare(result, "margin")
    assert [(b.labels, round(b.gap, 3)) for b in c.below] == [(10, -0.1), (30, -0.2)]
    assert c.within_one_std is False and c.worst_gap_labels == 30
    from knn_al.simulation.report import format_table
    assert "below random by more than one std at 2 budgets: N=10 -0.100 (std 0.010), N=30 -0.200" in \
        format_table(result)


# ------------------------------------------------------- known right answer
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_uncertainty_sampling_beats_random_on_separated_topics(seed: int) -> None:
    ids, vectors, labels = topics(seed=seed)
    result = run_simulation(ids=ids, vectors=vectors, labels=labels, driver=LearnerDriver(),
                            strategies=["margin", "entropy"], folds=3, budget=30, every=5, seed=seed)
    assert result.strategies == ["margin", "entropy", "random"]
    _, random_acc = result.matrix("random")
    for strategy in ("margin", "entropy"):
        points, acc = result.matrix(strategy)
        # Once every topic has a label the kNN classifier is (nearly) perfect: uncertainty
        # sampling gets there within 15 labels, random keeps missing the small topics.
        assert acc.mean(axis=0)[points == 15][0] >= 0.97
        assert acc.mean() > random_acc.mean() + 0.08
        assert max(reach(result, strategy, 0.95).per_fold) <= 15
    assert max(n or 10**9 for n in reach(result, "random", 0.95).per_fold) > 15


def test_sessions_on_one_fold_share_its_survey_and_replay_as_if_each_surveyed_its_own(monkeypatch) -> None:
    import knn_al.learner.survey as survey_module

    ids, vectors, labels = topics(seed=5)
    options = dict(ids=ids, vectors=vectors, labels=labels, strategies=[DEFAULT_STRATEGY, "margin"], folds=2,
                   budget=12, every=4, seed=5)
    surveys = []
    real = survey_module.survey_pool
    monkeypatch.setattr(survey_module, "survey_pool", lambda *a, **k: surveys.append(1) or real(*a, **k))
    shared = run_simulation(driver=LearnerDriver(), **options)
    assert len(surveys) == 2  # one per fold, for its full-data session and three strategies

    class Fresh(LearnerDriver):  # forgets every survey: each session surveys its own pool
        def open(self, **kw):
            self._surveyed = None
            return super().open(**kw)

    fresh = run_simulation(driver=Fresh(), **options)
    assert len(surveys) == 2 + 8
    for mine, theirs in zip(shared.curves, fresh.curves):
        assert mine.picks == theirs.picks
        np.testing.assert_array_equal(mine.accuracy, theirs.accuracy)


def test_a_pool_changed_in_place_is_surveyed_again() -> None:
    ids, vectors, _ = topics(seed=6)
    x = np.array(vectors, dtype=np.float32)
    driver = LearnerDriver()
    first = driver.open(name="a", ids=ids, vectors=x, classes=["a"], held_out=x[:2]).learner.density_.copy()
    x[:] = np.random.default_rng(0).standard_normal(x.shape)
    again = driver.open(name="b", ids=ids, vectors=x, classes=["a"], held_out=x[:2]).learner.density_
    fresh = LearnerDriver().open(name="c", ids=ids, vectors=x, classes=["a"], held_out=x[:2]).learner.density_
    np.testing.assert_array_equal(again, fresh)
    assert not np.array_equal(again, first)


# ------------------------------------------------------------------ the CLI
def test_simulate_writes_csv_json_png_and_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ids, vectors, labels = topics(seed=0)
    labels[-3] = None  # an item without a known label is left out of the replay
    write_dataset(tmp_path / "data", ids=ids, vectors=vectors, labels=labels, encoder="test")
    out = tmp_path / "report"
    code = main(["simulate", str(tmp_path / "data"), "--strategies", "margin", DEFAULT_STRATEGY,
                 "--folds", "3", "--budget", "30", "--every", "5", "--out", str(out), "--target", "0.9", "0.95",
                 "--exponents", "1", "0.5", "2"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "labels needed to reach 90% of full-data accuracy" in printed
    assert "labels needed to reach 95% of full-data accuracy" in printed
    assert f"{DEFAULT_STRATEGY} vs random" in printed and "margin vs random" in printed

    with open(out / "curves.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 * 3 * 6  # strategies × folds × measured label counts
    assert {r["strategy"] for r in rows} == {"margin", DEFAULT_STRATEGY, "random"}
    assert sorted({int(r["labels"]) for r in rows}) == [5, 10, 15, 20, 25, 30]
    assert all(0.0 <= float(r["accuracy"]) <= 1.0 and 0.0 <= float(r["macro_f1"]) <= 1.0 for r in rows)
    assert all(float(r["full_accuracy"]) > 0.95 for r in rows)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["strategies"]["margin"]["labels"] == [5, 10, 15, 20, 25, 30]
    assert len(summary["full_accuracy"]) == 3

    with Image.open(out / "learning_curves.png") as image:
        assert image.format == "PNG" and image.size[0] > 600 and image.size[1] > 300
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10  # something was drawn


def test_simulate_refuses_a_dataset_without_labels(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ids, vectors, _ = topics(seed=0)
    write_dataset(tmp_path / "data", ids=ids, vectors=vectors, encoder="test")
    assert main(["simulate", str(tmp_path / "data"), "--out", str(tmp_path / "report")]) == 2
    assert "no known labels" in capsys.readouterr().err
    assert not (tmp_path / "report").exists()


# ---------------------------------------------------------- via the server
def test_via_server_makes_the_same_picks_and_scores_as_in_process(tmp_path: Path,
                                                                 serve: Callable[..., ServerProcess]) -> None:
    from knn_al.client.simulation import ServerDriver

    ids, vectors, labels = topics(seed=4)
    # Both models, and exponents other than the default: the server's projects must pick with them.
    options = dict(ids=ids, vectors=vectors, labels=labels, strategies=[DEFAULT_STRATEGY, "margin"],
                   models=["knn", "graph"], folds=2, budget=25, every=5, seed=11, exponents=(2.0, 0.5, 1.0))
    local = run_simulation(driver=LearnerDriver(), **options)
    default = run_simulation(driver=LearnerDriver(), **{**options, "exponents": (1.0, 1.0, 1.0)})
    assert local.curves_of(DEFAULT_STRATEGY)[0].picks != default.curves_of(DEFAULT_STRATEGY)[0].picks
    server = serve(tmp_path / "data")
    driver = ServerDriver(server.address)
    try:
        remote = run_simulation(driver=driver, **options)
        assert driver.client.list_projects() == []  # every session's project was deleted
    finally:
        driver.close()
    assert server.stop() == 0
    assert len(local.curves) == len(remote.curves) == 10
    assert local.strategies == [DEFAULT_STRATEGY, "margin", f"{DEFAULT_STRATEGY}@graph", "margin@graph", "random"]
    assert not np.array_equal(local.matrix("margin")[1], local.matrix("margin@graph")[1])  # the model applies
    for mine, theirs in zip(local.curves, remote.curves):
        assert (mine.strategy, mine.fold) == (theirs.strategy, theirs.fold)
        assert mine.picks == theirs.picks and len(set(mine.picks)) == 25
        np.testing.assert_array_equal(mine.accuracy, theirs.accuracy)
        np.testing.assert_array_equal(mine.macro_f1, theirs.macro_f1)
    np.testing.assert_array_equal(local.full_accuracy, remote.full_accuracy)
    # A different seed gives different picks: the seed is really what fixes them.
    other = run_simulation(driver=LearnerDriver(), **{**options, "seed": 12})
    assert other.curves[0].picks != local.curves[0].picks


# ---------------------------------------------------------- an exhausted pool
#: Duplicate groups of the exhaustion tests: each group is one item present that many times
#: (jittered far above the 0.95 duplicate threshold), so a pool offers one candidate per
#: group, fewer than the budget. The singletons sit in some training folds only, so the
#: folds run out at different label counts.
GROUP_SIZES = (6, 6, 6, 6, 6, 6, 5, 1, 1)


def duplicate_groups(*, seed: int, dimension: int = 16,
                     jitter: float = 0.001) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """ids, vectors, labels (group g has class g % 3) and each item's group."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(GROUP_SIZES), dimension))
    group = np.repeat(np.arange(len(GROUP_SIZES)), GROUP_SIZES)
    vectors = centres[group] + jitter * rng.normal(size=(len(group), dimension))
    return ([f"item-{i:03d}" for i in range(len(group))], vectors.astype(np.float32),
            [f"class-{g % 3}" for g in group], group)


def groups_per_training_fold(labels: list[str], group: np.ndarray, *, folds: int, seed: int) -> list[int]:
    """Candidates each fold's pool offers: its distinct duplicate groups."""
    classes = sorted(set(labels))
    codes = np.array([classes.index(label) for label in labels])
    return [len(set(group[train])) for train, _ in stratified_folds(codes, folds=folds, seed=seed)]


EXHAUSTION = dict(strategies=[DEFAULT_STRATEGY, "margin"], folds=3, budget=20, every=1, seed=0)


def no_nan(text: str) -> float:
    raise AssertionError(f"summary.json holds {text}: an unmeasured score was written as a number")


def test_an_exhausted_pool_ends_the_curves_there_and_the_report_says_after_how_many_labels(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ids, vectors, labels, group = duplicate_groups(seed=0)
    pools = groups_per_training_fold(labels, group, folds=3, seed=0)
    assert pools == [8, 8, 9]  # fewer candidates than the budget of 20, and not the same on every fold
    result = run_simulation(ids=ids, vectors=vectors, labels=labels, driver=LearnerDriver(), **EXHAUSTION)
    assert result.budget == 20
    for curve in result.curves:
        ran_out = pools[curve.fold]
        assert curve.pool_exhausted_at == ran_out
        assert len(set(curve.picks)) == len(curve.picks) == ran_out
        assert len(set(group[[ids.index(i) for i in curve.picks]])) == ran_out  # one pick per group
        assert curve.labels.tolist() == list(range(1, ran_out + 1))  # no points past the end
        assert len(curve.accuracy) == len(curve.macro_f1) == ran_out
    points, acc = result.matrix("margin")
    assert points.tolist() == list(range(1, 10))
    assert np.isnan(acc[:2, 8]).all() and not np.isnan(acc[2]).any()  # not carried forward
    reach(result, "margin", 0.95)  # curves that end early are fine here too

    write_dataset(tmp_path / "data", ids=ids, vectors=vectors, labels=labels, encoder="test")
    out = tmp_path / "report"
    code = main(["simulate", str(tmp_path / "data"), "--strategies", "margin", "--folds", "3", "--budget", "20",
                 "--every", "1", "--table-at", "5", "9", "20", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    for strategy in ("margin", "random"):
        for fold, ran_out in enumerate(pools):
            assert f"fold {fold}: pool exhausted after {ran_out} labels (budget 20)" in printed
    assert "(1/3)" in printed  # N=9: the mean of the one fold whose pool lasted that long
    summary = json.loads((out / "summary.json").read_text(), parse_constant=no_nan)
    margin = summary["strategies"]["margin"]
    assert margin["pool_exhausted_at"] == pools
    assert margin["labels"] == list(range(1, 10)) and margin["folds_measured"] == [3] * 8 + [1]
    with open(out / "curves.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for fold, ran_out in enumerate(pools):
        assert max(int(r["labels"]) for r in rows if r["strategy"] == "margin" and r["fold"] == str(fold)) == ran_out


def test_the_duplicate_threshold_option_decides_which_copies_share_a_pick(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    # Copies about 0.9998 similar: one group each at the default threshold, none at 1 (identical only).
    ids, vectors, labels, _ = duplicate_groups(seed=0, jitter=0.02)
    write_dataset(tmp_path / "data", ids=ids, vectors=vectors, labels=labels, encoder="test")
    for threshold, runs_out in (("0.95", True), ("1", False)):
        code = main(["simulate", str(tmp_path / "data"), "--strategies", "margin", "--folds", "3", "--budget", "20",
                     "--every", "5", "--duplicate-threshold", threshold, "--out", str(tmp_path / threshold)])
        assert code == 0 and ("pool exhausted" in capsys.readouterr().out) == runs_out


def test_via_server_runs_out_of_pool_where_in_process_does_and_reports_the_same(
        tmp_path: Path, capsys: pytest.CaptureFixture, serve: Callable[..., ServerProcess]) -> None:
    from knn_al.client.simulation import ServerDriver

    ids, vectors, labels, _ = duplicate_groups(seed=0)
    local = run_simulation(ids=ids, vectors=vectors, labels=labels, driver=LearnerDriver(), **EXHAUSTION)
    write_dataset(tmp_path / "data", ids=ids, vectors=vectors, labels=labels, encoder="test")
    command = ["simulate", str(tmp_path / "data"), "--strategies", "margin", "--folds", "3", "--budget", "20",
               "--every", "2"]
    assert main([*command, "--out", str(tmp_path / "local")]) == 0
    local_table = capsys.readouterr().out
    server = serve(tmp_path / "server")
    driver = ServerDriver(server.address)
    try:
        remote = run_simulation(ids=ids, vectors=vectors, labels=labels, driver=driver, **EXHAUSTION)
        assert driver.client.list_projects() == []
    finally:
        driver.close()
    assert main([*command, "--out", str(tmp_path / "remote"), "--via-server", server.address]) == 0
    remote_table = capsys.readouterr().out
    assert server.stop() == 0
    for mine, theirs in zip(local.curves, remote.curves):
        assert (mine.strategy, mine.fold, mine.pool_exhausted_at) == (theirs.strategy, theirs.fold,
                                                                      theirs.pool_exhausted_at)
        assert mine.picks == theirs.picks
        np.testing.assert_array_equal(mine.accuracy, theirs.accuracy)
    assert "pool exhausted after 8 labels (budget 20)" in remote_table
    # Everything but the closing "wrote DIR/" line, which names each run's own directory.
    assert remote_table.split("\nwrote ")[0] == local_table.split("\nwrote ")[0]


# ------------------------------------------------------------------ the demo
def test_demo_runs_end_to_end_on_a_subset_and_reuses_its_embedding(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    args = ["demo", "--out", str(tmp_path / "demo"), "--per-class", "8", "--folds", "2", "--budget", "10",
            "--every", "5", "--max-chars", "200"]
    assert main(args) == 0
    first = capsys.readouterr()
    assert "embedding 40 BBC News articles" in first.err
    assert f"{DEFAULT_STRATEGY} vs random" in first.out and "BBC News, 40 articles, 5 topics" in first.out
    assert (tmp_path / "demo" / "learning_curves.png").stat().st_size > 0
    # The server stopped cleanly and its temporary data directory is gone.
    assert not list((tmp_path / "demo").glob(".server-*"))
    assert main(args) == 0
    second = capsys.readouterr()
    assert "embedding" not in second.err
    assert second.out.splitlines()[:12] == first.out.splitlines()[:12]  # same seed, same table
