"""What a push writes into Label Studio: the fewest prediction changes that make ascending
score knn-al's pick order again.

Each write is a request Label Studio answers in ~30 ms (one SQLite transaction), and a push
follows every annotation, so writes are what a push costs: rewriting all of a 100-task
window's scores after each label (every rank moves up by one) took seconds. A label usually
moves few tasks *relative to each other*, so the planner keeps the scores of the longest
run of window tasks whose stored scores already ascend in the new order (a longest
increasing subsequence) and gives new scores only to the others, spread in the gaps
between kept neighbours. When the top pick is labeled and the rest move up by one, that is
one write: the task entering the window (plus one per task leaving it, if others do).

Writes come in two parts. ``order_writes`` decide what Label Studio hands out next and go
first: window tasks with a new score (or a new predicted label), tasks leaving the window
(back to :data:`UNRANKED_SCORE`), tasks with no prediction yet (one bulk import), extra
predictions of one task (deleted: two rows of one model version would both rank it).
``label_writes`` refresh the predicted label of tasks outside the window; they change no
order, so a push may stop them when a newer push waits, which redoes what is left.
"""
from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from knn_al.label_studio.config import LabelingConfig
from knn_al.label_studio.predictions import UNRANKED_SCORE, build_prediction

__all__ = ["PushPlan", "order_scores", "plan_push"]

#: Narrowest gap between two kept scores the planner fills; below it the window is scored
#: afresh (every score rewritten). Doubles have ~1e-16 resolution near 1, so this leaves
#: room for dozens of halvings at one spot before it happens.
_MIN_GAP = 1e-9


@dataclass
class PushPlan:
    """Requests to make, in this order: ``delete`` (prediction ids), ``update`` ((prediction
    id, {"result", "score"})), ``create`` (predictions to import, each with its ``task``),
    then ``labels`` (updates that change no order)."""

    delete: list[int] = field(default_factory=list)
    update: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    create: list[dict[str, Any]] = field(default_factory=list)
    labels: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.delete) + len(self.update) + len(self.create) + len(self.labels)


def _kept(scores: Sequence[float | None]) -> list[int]:
    """Positions of a longest strictly increasing run (subsequence) of the scores in (0, 1)."""
    tails: list[float] = []  # tails[j]: the smallest last score of an increasing run of length j + 1
    tail_at: list[int] = []
    before = [-1] * len(scores)
    for position, score in enumerate(scores):
        if score is None or not 0.0 < score < UNRANKED_SCORE:
            continue
        j = bisect.bisect_left(tails, score)
        if j == len(tails):
            tails.append(score)
            tail_at.append(position)
        else:
            tails[j], tail_at[j] = score, position
        before[position] = tail_at[j - 1] if j else -1
    run, position = [], tail_at[-1] if tail_at else -1
    while position >= 0:
        run.append(position)
        position = before[position]
    return run[::-1]


def order_scores(stored: Sequence[float | None]) -> list[float]:
    """Scores for the window's tasks, in pick order, given their stored scores (None: no
    prediction): ascending, in (0, 1), keeping as many stored scores as can be kept."""
    n = len(stored)
    kept = _kept(stored)
    scores: list[float] = [0.0] * n
    bounds = [-1, *kept, n]
    for left, right in zip(bounds, bounds[1:]):
        low = stored[left] if left >= 0 else 0.0
        high = stored[right] if right < n else UNRANKED_SCORE
        assert low is not None and high is not None  # kept positions hold scores
        if right < n:
            scores[right] = high
        gap = (high - low) / (right - left)
        if right - left > 1 and gap < _MIN_GAP:
            return [(r + 1) / (n + 1) for r in range(n)]  # no room left: score the window afresh
        for position in range(left + 1, right):
            scores[position] = low + gap * (position - left)
    return scores


def plan_push(*, order: Sequence[int], labels: Mapping[int, str], stored: Iterable[Mapping[str, Any]],
              config: LabelingConfig, model_version: str) -> PushPlan:
    """The requests that bring the bridge's predictions in Label Studio to knn-al's state.

    ``order``: the window, knn-al's next picks as Label Studio tasks, best first;
    ``labels``: every unannotated task's predicted label ("" for none yet), the window's
    included; ``stored``: the bridge's predictions in Label Studio (``id``, ``task``,
    ``result``, ``score``), other model versions left out by the caller."""
    plan = PushPlan()
    current: dict[int, Mapping[str, Any]] = {}
    for kept in sorted(stored, key=lambda p: p["id"]):
        if kept["task"] in current:
            plan.delete.append(kept["id"])
        else:
            current[kept["task"]] = kept
    window = [t for t in order if t in labels]
    in_window = set(window)
    old = [current[t]["score"] if t in current else None for t in window]
    wanted = dict(zip(window, order_scores(old)))
    for task, label in labels.items():
        new = build_prediction(config=config, label=label, score=wanted.get(task, UNRANKED_SCORE),
                               model_version=model_version)
        prediction = current.get(task)
        if prediction is None:
            plan.create.append({**new, "task": task})
            continue
        if (prediction["result"], prediction["score"]) == (new["result"], new["score"]):
            continue
        write = (prediction["id"], {"result": new["result"], "score": new["score"]})
        reorders = task in in_window or prediction["score"] != new["score"]
        (plan.update if reorders else plan.labels).append(write)
    return plan
