"""Predictions in Label Studio's format whose score carries knn-al's pick order.

Label Studio's uncertainty sampling hands out the unlabeled task whose prediction has the
*lowest* score first (``next_task.py``: ``order_by('predictions__score')``), and a sort by
prediction score, ascending, in the data manager does the same. So the score is not a
confidence: it is the task's rank in knn-al's pick order (the combined strategy's greedy
batch, best first), squeezed into (0, 1): the r-th pick (from 0) of n ranked tasks scores
(r + 1) / (n + 1), and a task knn-al did not rank (labeled, leased to someone else, an
outlier, past the batch) scores 1, after every ranked one. Ranks, not the strategy's raw
score, because a greedy batch is not sorted by raw score: each pick lowers its neighbours'
diversity, so only the order is what knn-al would hand out.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from knn_al.errors import InvalidInputError, UnknownLabelError, listing, shown
from knn_al.label_studio.config import LabelingConfig

__all__ = ["RANKED", "UNRANKED_SCORE", "build_prediction", "pick_scores"]

#: How many of knn-al's next picks are ranked (scored below 1), in /predict and in pushes,
#: by default. Label Studio's uncertainty sampling hands out the lowest score (to a team of
#: N annotators, one of the N + 1 lowest), so a short window serves, and it keeps pushes
#: small: the combined strategy's next picks change after each label, and a window of 100
#: cost ~150 writes (~5 s in Label Studio) per annotation, against ~20 for 10.
RANKED = 10
#: The score of a task outside knn-al's pick order: after every ranked one.
UNRANKED_SCORE = 1.0


def pick_scores(order: Sequence[str], items: Iterable[str]) -> dict[str, float]:
    """Each of ``items``' score, from ``order`` (item ids, knn-al's next pick first): lower
    means labeled sooner, so ascending score is knn-al's order, then the unranked items."""
    if len(set(order)) != len(order):
        repeated = sorted({i for i in order if order.count(i) > 1})
        raise InvalidInputError(f"a pick order lists each item once; {listing(repeated)} repeat")
    rank = {item: r for r, item in enumerate(order)}
    size = len(order) + 1
    return {item: (rank[item] + 1) / size if item in rank else UNRANKED_SCORE for item in items}


def build_prediction(*, config: LabelingConfig, label: str, score: float, model_version: str) -> dict[str, Any]:
    """One task's entry of ``/predict``'s ``results`` (and of a prediction pushed through the
    API): the predicted choice, or no region when knn-al has no labels to predict from yet
    (``label`` ""), so that the task is still ordered by its score."""
    if not (isinstance(score, (int, float)) and math.isfinite(score) and 0.0 <= score <= 1.0):
        raise InvalidInputError(f"a prediction's score must be a number in [0, 1], got {shown(score)}")
    if label and label not in config.labels:
        raise UnknownLabelError(f"predicted label {shown(label)} is not one of the labeling config's choices "
                                f"({listing(config.labels)})")
    result = [{"from_name": config.from_name, "to_name": config.to_name, "type": "choices",
               "value": {"choices": [label]}}] if label else []
    return {"result": result, "score": float(score), "model_version": model_version}
