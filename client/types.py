"""What the client returns: plain dataclasses, free of protobuf types."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Predictions and the records of labels, goals, stats, stream decisions, exports, items,
# searches and reviews have the same fields on both sides of the wire: the library's own
# (numpy- and FAISS-free) serve.
from knn_al.learner.types import AccuracyEstimate, Neighbor
from knn_al.projects.records import (AddResult, Decision, DuplicateGroup, ExportRecord, ItemPage, ItemRecord,
                                     LabelEvent, LabelReceipt, Prediction, ProjectStats, Progress, SearchHit,
                                     Suspicion)

__all__ = ["AccuracyEstimate", "AddResult", "Decision", "DuplicateGroup", "ExportRecord", "ItemPage", "ItemRecord",
           "LabelEvent", "LabelReceipt", "Neighbor", "Prediction", "ProjectInfo", "ProjectStats", "Progress",
           "Sample", "SampleBatch", "Score", "SearchHit", "Suspicion"]


@dataclass(frozen=True)
class ProjectInfo:
    """A project's settings and counts."""

    name: str
    dimension: int
    k: int
    default_strategy: str
    labels: list[str]
    lease_seconds: float
    pool_size: int
    labeled_count: int
    leased_count: int
    label_counts: dict[str, int]
    #: The encoder embedding raw texts/images sent to the project; empty: vectors only.
    encoder: str
    duplicate_threshold: float
    outlier_quantile: float
    #: When labeling can stop (0: no such goal).
    target_accuracy: float
    label_budget: int
    #: "ready", or "broken": the project's files are damaged (``problem`` says how) and
    #: every call on it is refused; only ``name`` is meaningful then.
    state: str = "ready"
    problem: str = ""
    #: The project keeps the raw texts/images it receives (to show them to annotators).
    keep_raw: bool = False
    #: What predicts: "knn", "graph" or "auto"; and under "auto", which one does now.
    model: str = "knn"
    active_model: str = ""
    #: The combined strategy's exponents of uncertainty, density and diversity.
    exponents: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    #: How the pool stores its vectors: "float32" or "float16".
    vector_dtype: str = "float32"
    #: How many shards the pool is split over (1: not sharded).
    shards: int = 1


@dataclass(frozen=True)
class Score:
    """Why an item was picked: raw terms and the factors of the combined score."""

    score: float
    uncertainty: float
    density: float
    diversity: float
    uncertainty_term: float
    density_term: float
    diversity_term: float


@dataclass(frozen=True)
class Sample:
    """An item leased to the caller for labeling."""

    id: str
    metadata: dict[str, Any]
    predicted_label: str
    probabilities: dict[str, float]
    score: Score
    lease_expires_at: float


class SampleBatch(list[Sample]):
    """The samples of one NextSample call (a list of :class:`Sample`), with the ``progress``
    that says whether labeling can stop."""

    def __init__(self, samples: Iterable[Sample] = (), *, progress: Progress) -> None:
        super().__init__(samples)
        self.progress = progress
