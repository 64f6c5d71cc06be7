"""What the learner returns: plain dataclasses, importable without numpy or FAISS (the
client SDK returns them too)."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_EXPONENTS", "AccuracyEstimate", "Exponents", "Neighbor", "Pick", "PropagatedLabel"]

#: The combined strategy's exponents of uncertainty, density and diversity: a, b, c of
#: S = U^a · I^b · D^c. 0 leaves a term out; a larger one weighs it more.
Exponents = tuple[float, float, float]
DEFAULT_EXPONENTS: Exponents = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class Pick:
    """One item to hand out, with the terms that chose it.

    Raw terms: ``uncertainty`` (of the strategy's measure), ``density`` (mean similarity to
    the nearest pool items), ``diversity`` (1 − max similarity to labeled or handed-out
    items at pick time). The ``*_term`` values are the factors of the combined score: the
    empirical CDFs of the raw terms over the candidates, the diversity one scaled down by
    what handed-out items took away. ``score`` is their product (with exponents) for the
    combined strategy, the uncertainty for uncertainty strategies, 0 for random.
    """

    id: str
    row: int
    score: float
    uncertainty: float
    density: float
    diversity: float
    uncertainty_term: float
    density_term: float
    diversity_term: float


@dataclass(frozen=True)
class PropagatedLabel:
    """A label a group member carries because a human labeled another member (``source``)."""

    id: str
    label: str
    source: str


@dataclass(frozen=True)
class Neighbor:
    """A labeled item behind a prediction."""

    id: str
    similarity: float
    label: str


@dataclass(frozen=True)
class AccuracyEstimate:
    """Leave-one-out accuracy of the labeled set with its 95% Wilson score interval
    (``low``, ``high``); ``accuracy`` is NaN while nothing is labeled."""

    accuracy: float
    low: float
    high: float
    labeled: int
