"""The push planner (knn_al.label_studio.push): the writes that make ascending score knn-al's
pick order again, and as few as can be. Applied to a model of Label Studio's prediction
table, any plan must leave each unannotated task one prediction of the bridge, its label
the predicted one, and ascending score the window's order, then the rest at 1."""
from __future__ import annotations

import random
from typing import Any

import pytest

from knn_al.label_studio.config import parse_config
from knn_al.label_studio.predictions import UNRANKED_SCORE
from knn_al.label_studio.push import PushPlan, order_scores, plan_push

CONFIG = parse_config('<View><Text name="text" value="$text"/><Choices name="c" toName="text">'
                      '<Choice value="a"/><Choice value="b"/><Choice value="c"/></Choices></View>')


def apply(plan: PushPlan, table: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Label Studio's predictions (id -> prediction) after the plan's requests."""
    table = {k: dict(v) for k, v in table.items()}
    for prediction in plan.delete:
        del table[prediction]
    for prediction, fields in [*plan.update, *plan.labels]:
        table[prediction].update(fields)
    for new in plan.create:
        table[max(table, default=0) + 1] = {"id": max(table, default=0) + 1, **new}
    return table


def push(order: list[int], labels: dict[int, str], table: dict[int, dict[str, Any]]) -> PushPlan:
    return plan_push(order=order, labels=labels, stored=list(table.values()), config=CONFIG, model_version="knn-al")


def check(order: list[int], labels: dict[int, str], table: dict[int, dict[str, Any]]) -> None:
    by_task = {p["task"]: p for p in table.values()}
    assert len(by_task) == len(table)  # one prediction per task
    assert set(labels) <= set(by_task)
    for task, label in labels.items():
        assert [r["value"]["choices"] for r in by_task[task]["result"]] == ([[label]] if label else [])
    window = [t for t in order if t in labels]
    ranked = sorted(labels, key=lambda t: by_task[t]["score"])
    assert ranked[:len(window)] == window
    assert all(0 < by_task[t]["score"] < 1 for t in window)
    assert all(by_task[t]["score"] == UNRANKED_SCORE for t in ranked[len(window):])


@pytest.mark.parametrize("seed", range(30))
def test_any_sequence_of_pushes_leaves_label_studio_in_knn_al_order(seed: int) -> None:
    rng = random.Random(seed)
    tasks = list(range(1, rng.randint(2, 80)))
    table: dict[int, dict[str, Any]] = {}
    for _ in range(12):
        unannotated = [t for t in tasks if rng.random() < 0.85]
        labels = {t: rng.choice(["", "a", "b", "c"]) for t in unannotated}
        order = rng.sample(unannotated, rng.randint(0, min(30, len(unannotated))))
        if rng.random() < 0.2 and table:  # a stray second prediction of one task
            extra = rng.choice(list(table.values()))
            table[max(table) + 1] = {**extra, "id": max(table) + 1}
        table = apply(push(order, labels, table), table)
        check(order, labels, table)
        assert len(push(order, labels, table)) == 0  # a push right after has nothing to do


def test_labeling_the_top_pick_costs_one_write_not_a_window() -> None:
    labels = {t: "a" for t in range(1, 201)}
    table = apply(push(list(range(1, 101)), labels, {}), {})
    del labels[1]  # annotated: its prediction stays, it is no longer anybody's concern
    plan = push(list(range(2, 102)), labels, table)
    assert (len(plan.update), len(plan.create), len(plan.delete), len(plan.labels)) == (1, 0, 0, 0)
    assert plan.update[0][1]["score"] < 1  # task 101 enters after 100; nothing leaves
    table = apply(plan, table)
    check(list(range(2, 102)), labels, table)
    plan = push([*range(3, 102), 150], {t: lab for t, lab in labels.items() if t != 2}, table)
    assert len(plan.update) == 1  # 150 enters at the end


def test_label_changes_outside_the_window_come_last_and_change_no_order() -> None:
    labels = {t: "" for t in range(1, 51)}
    table = apply(push(list(range(1, 11)), labels, {}), {})
    relabeled = {t: "b" for t in labels}
    plan = push(list(range(1, 11)), relabeled, table)
    assert len(plan.update) == 10 and len(plan.labels) == 40
    assert all(set(fields) == {"result", "score"} and fields["score"] == UNRANKED_SCORE
               for _, fields in plan.labels)


def test_scores_keep_the_longest_ascending_run_and_fill_the_gaps() -> None:
    assert order_scores([]) == []
    assert order_scores([None, None, None]) == [0.25, 0.5, 0.75]
    scores = order_scores([0.2, 0.9, 0.3, 0.4, None, 1.0])
    assert [scores[i] for i in (0, 2, 3)] == [0.2, 0.3, 0.4] and scores == sorted(scores) and scores[-1] < 1
    assert 0.2 < scores[1] < 0.3  # 0.9 broke the run: rescored
    # No room left between two kept scores: the window is scored afresh.
    tight = order_scores([0.5, None, 0.5 + 1e-12])
    assert tight == [0.25, 0.5, 0.75]
