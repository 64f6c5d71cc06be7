"""What the calls of a :class:`knn_al.projects.project.Project` return.

Plain dataclasses with no import of numpy, FAISS or SQLite at run time, so the gRPC
client returns the same ones (:mod:`knn_al.client.types`) where their fields are the same.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from knn_al.learner.types import AccuracyEstimate, Neighbor, Pick

if TYPE_CHECKING:
    from knn_al.projects.settings import ProjectSettings


@dataclass(frozen=True)
class ProjectInfo:
    """A project's settings and counts. A quarantined project (``state`` "broken") has
    only its name and ``problem``: what is wrong with its files."""

    name: str
    settings: ProjectSettings | None
    pool_size: int = 0
    labeled_count: int = 0
    leased_count: int = 0
    label_counts: dict[str, int] = field(default_factory=dict)
    state: str = "ready"
    problem: str = ""


@dataclass(frozen=True)
class LabelReceipt:
    """What a committed label batch did: the labeled count after it, and the ids of the
    duplicate-group members its labels propagated to (undone by removing the label)."""

    labeled_count: int
    propagated: list[str]


@dataclass(frozen=True)
class Progress:
    """How far labeling has come against the project's goals."""

    estimate: AccuracyEstimate
    target_accuracy: float
    label_budget: int
    #: Labels the budget still allows (leased items count as spent); None: no budget.
    budget_left: int | None
    #: Why labeling can stop (knn_al.learner.stopping: "budget_reached", "target_reached"), or "".
    stop_reason: str


@dataclass(frozen=True)
class ProjectStats:
    """Counts and quality estimates of a project."""

    labeled: int
    propagated: int
    auto_labeled: int
    leased: int
    pool_size: int
    duplicate_groups: int
    grouped_items: int
    outliers: int
    #: Mean margin uncertainty of the unlabeled candidates (sampled on large pools).
    mean_uncertainty: float
    progress: Progress


@dataclass(frozen=True)
class Decision:
    """The answer to an item of a stream.

    ``query``: ask a human; the item joined the pool and is leased until
    ``lease_expires_at``. Otherwise it was auto-labeled with ``label`` (stored as a
    prediction): because the prediction was confident (``reason`` "confident"), or because
    the budget is spent ("budget_exhausted"; ``label`` is "" before the first label).
    """

    id: str
    query: bool
    reason: str
    label: str
    confidence: float
    probabilities: dict[str, float]
    budget_left: int | None
    lease_expires_at: float = 0.0


@dataclass(frozen=True)
class ExportRecord:
    """One exported label. ``source``: "human", "propagated" (from a labeled duplicate),
    "auto" (a stream's confident prediction) or "predicted" (the kNN prediction of an
    unlabeled pool item). ``confidence`` is 1 for human and propagated labels."""

    id: str
    label: str
    source: str
    confidence: float


@dataclass(frozen=True)
class Sample:
    """An item handed out to an annotator, with the model's guess and why it was picked."""

    id: str
    metadata: dict[str, Any]
    predicted_label: str
    probabilities: dict[str, float]
    pick: Pick
    lease_expires_at: float


@dataclass(frozen=True)
class Prediction:
    """Class probabilities of one item or vector and the labeled neighbours behind them."""

    id: str
    label: str
    probabilities: dict[str, float]
    neighbors: list[Neighbor] = field(default_factory=list)
