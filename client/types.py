"""What the client returns: plain dataclasses, free of protobuf types."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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


@dataclass(frozen=True)
class Neighbor:
    """A labeled item behind a prediction."""

    id: str
    similarity: float
    label: str


@dataclass(frozen=True)
class Prediction:
    """The predicted label (empty before any label), class probabilities and the explanation."""

    id: str
    label: str
    probabilities: dict[str, float]
    neighbors: list[Neighbor] = field(default_factory=list)


class SampleBatch(list):
    """The samples of one NextSample call (a list of :class:`Sample`), with the ``progress``
    that says whether labeling can stop."""

    def __init__(self, samples=(), *, progress: Progress) -> None:
        super().__init__(samples)
        self.progress = progress


@dataclass(frozen=True)
class LabelReceipt:
    """A committed label: the labeled count, and the duplicates the label propagated to."""

    labeled_count: int
    propagated: list[str]


@dataclass(frozen=True)
class AccuracyEstimate:
    """Leave-one-out accuracy of the labeled set, with a 95% interval (NaN: no labels yet)."""

    accuracy: float
    low: float
    high: float
    labeled: int


@dataclass(frozen=True)
class Progress:
    """The accuracy estimate against the goals; ``stop_reason`` is "budget_reached",
    "target_reached" or "" (keep labeling); ``budget_left`` None: no budget."""

    estimate: AccuracyEstimate
    target_accuracy: float
    label_budget: int
    budget_left: int | None
    stop_reason: str


@dataclass(frozen=True)
class ProjectStats:
    """Label counts by kind, duplicate groups, outliers and quality estimates."""

    labeled: int
    propagated: int
    auto_labeled: int
    leased: int
    pool_size: int
    duplicate_groups: int
    grouped_items: int
    outliers: int
    mean_uncertainty: float
    progress: Progress


@dataclass(frozen=True)
class Decision:
    """A stream's answer for one item: ``query`` (ask a human; the item is leased) or an
    auto label (``label`` with ``confidence``); ``reason`` is "confident", "uncertain" or
    "budget_exhausted"."""

    id: str
    query: bool
    reason: str
    label: str
    confidence: float
    probabilities: dict[str, float]
    budget_left: int | None
    lease_expires_at: float


@dataclass(frozen=True)
class ExportRecord:
    """An exported label; ``source`` is "human", "propagated", "auto" or "predicted"."""

    id: str
    label: str
    source: str
    confidence: float
