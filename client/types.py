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
