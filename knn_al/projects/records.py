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
    #: The model predicting now ("knn" or "graph"; under model "auto" it changes).
    active_model: str = ""


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
    #: The model predicting now, whose leave-one-out ``estimate`` is ("knn" or "graph").
    active_model: str = ""


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
    #: Items set aside by an annotator, until unskipped.
    skipped: int = 0


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
    unlabeled pool item) or "skipped" (set aside by an annotator: ``label`` "",
    ``confidence`` 0). ``confidence`` is 1 for human and propagated labels."""

    id: str
    label: str
    source: str
    confidence: float
    #: The item's metadata ({} for an auto label of a streamed item not in the pool).
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Who gave a human label, and when (Unix seconds); "" and 0 for the other sources.
    annotator: str = ""
    labeled_at: float = 0.0


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


@dataclass(frozen=True)
class ItemRecord:
    """One pool item as a reviewer sees it.

    ``state``: "unlabeled", "labeled" (by a human), "propagated" (from a labeled
    duplicate), "leased" or "skipped". ``label``: its label, human or propagated ("" for
    none), given by ``annotator`` ("" unless a human labeled it). ``predicted_label`` and
    ``confidence`` (its probability; 0 before any label) are the kNN model's guess.
    ``outlier``: less dense than the project's outlier threshold. ``lease_annotator`` and
    ``lease_expires_at`` ("" and 0 unless leased): who holds it, until when.
    """

    id: str
    state: str
    label: str
    annotator: str
    metadata: dict[str, Any]
    predicted_label: str
    confidence: float
    probabilities: dict[str, float]
    outlier: bool
    density: float
    lease_annotator: str = ""
    lease_expires_at: float = 0.0


@dataclass(frozen=True)
class ItemPage:
    """A page of items; pass ``next_page_token`` for the next one ("" after the last)."""

    items: list[ItemRecord]
    next_page_token: str


@dataclass(frozen=True)
class SearchHit:
    """A pool item similar to what was searched for (cosine ``similarity``)."""

    id: str
    similarity: float
    state: str
    label: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Suspicion:
    """A human label that the item's leave-one-out prediction disagrees with: its
    labeled neighbours vote ``predicted_label`` with probability ``confidence``."""

    id: str
    label: str
    predicted_label: str
    confidence: float
    annotator: str


@dataclass(frozen=True)
class DuplicateGroup:
    """Items that are (near-)duplicates of one another, the group's root first; ``label``:
    the label its members carry ("" while none of them is labeled)."""

    ids: list[str]
    label: str


@dataclass(frozen=True)
class LabelEvent:
    """A current human label: who gave it and when (unix seconds)."""

    id: str
    label: str
    annotator: str
    time: float


@dataclass(frozen=True)
class AddResult:
    """What an addition did: items ``added``, ``skipped`` (already in the pool, left as
    they were), ``replaced`` (removed, then added anew), and the pool size after it."""

    added: int
    skipped: int
    replaced: int
    pool_size: int
