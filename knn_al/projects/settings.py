"""What a project is created with: its settings, validated as a whole."""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from knn_al.learner.duplicates import DEFAULT_DUPLICATE_THRESHOLD
from knn_al.encoders import ENCODERS
from knn_al.errors import InvalidInputError, shown
from knn_al.learner.limits import MAX_LABEL_BYTES
from knn_al.learner.strategies import DEFAULT_STRATEGY, STRATEGY_NAMES

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_DIMENSION = 65_536
MAX_K = 1_000
DEFAULT_K = 10
DEFAULT_LEASE_SECONDS = 600.0
DEFAULT_OUTLIER_QUANTILE = 0.01


@dataclass(frozen=True)
class ProjectSettings:
    """What a project is created with; fixed for its lifetime except for the goals
    (``target_accuracy``, ``label_budget``: :meth:`Project.set_goals`).

    ``encoder`` names the registered encoder (``knn_al.encoders.ENCODERS``) that embeds
    the raw texts or images sent to this project; empty: the project takes vectors only.
    ``dimension`` 0 with an encoder takes the encoder's dimension; any other value must
    equal it. ``duplicate_threshold`` and ``outlier_quantile``: see
    :class:`knn_al.learner.Learner`. ``target_accuracy`` (0: none) and ``label_budget``
    (0: none) are when labeling can stop (:mod:`knn_al.learner.stopping`).
    """

    name: str
    dimension: int = 0
    k: int = DEFAULT_K
    default_strategy: str = DEFAULT_STRATEGY
    #: A fixed label set; empty: any label is accepted.
    labels: tuple[str, ...] = ()
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    encoder: str = ""
    duplicate_threshold: float = DEFAULT_DUPLICATE_THRESHOLD
    outlier_quantile: float = DEFAULT_OUTLIER_QUANTILE
    target_accuracy: float = 0.0
    label_budget: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        if not isinstance(self.name, str) or not NAME_PATTERN.fullmatch(self.name):
            raise InvalidInputError(
                f"project name {shown(self.name)} is not valid: use 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit")
        if self.encoder:
            if self.encoder not in ENCODERS:
                raise InvalidInputError(f"unknown encoder {shown(self.encoder)}: use one of {', '.join(ENCODERS)}, "
                                        "or none to send vectors only")
            modality, dimension = ENCODERS[self.encoder]
            if self.dimension == 0:
                object.__setattr__(self, "dimension", dimension)
            elif self.dimension != dimension:
                raise InvalidInputError(f"encoder {self.encoder!r} embeds {modality}s as {dimension}-dimensional "
                                        f"vectors, but dimension {self.dimension} was given: give {dimension} or 0")
        if not 0 < self.dimension <= MAX_DIMENSION:
            raise InvalidInputError(f"dimension must be between 1 and {MAX_DIMENSION}, got {self.dimension} "
                                    "(or name an encoder and leave dimension 0 to take the encoder's)")
        if not 0 < self.k <= MAX_K:
            raise InvalidInputError(f"k must be between 1 and {MAX_K}, got {self.k}")
        if self.default_strategy not in STRATEGY_NAMES:
            raise InvalidInputError(
                f"unknown strategy {shown(self.default_strategy)}; choose one of {', '.join(STRATEGY_NAMES)}")
        if any(not isinstance(label, str) or not label for label in self.labels):
            raise InvalidInputError("every label of a fixed label set must be a non-empty string")
        too_long = next((label for label in self.labels if len(label.encode("utf-8")) > MAX_LABEL_BYTES), None)
        if too_long is not None:
            raise InvalidInputError(f"label {shown(too_long)} of the label set is longer than {MAX_LABEL_BYTES} bytes")
        repeated = [label for label, n in Counter(self.labels).items() if n > 1]
        if repeated:
            raise InvalidInputError(f"label {shown(repeated[0])} appears more than once in the label set")
        if not (math.isfinite(self.lease_seconds) and self.lease_seconds > 0):
            raise InvalidInputError(f"lease_seconds must be a positive number, got {self.lease_seconds}")
        if not 0 < self.duplicate_threshold <= 1:
            raise InvalidInputError(f"duplicate_threshold must be in (0, 1] (1: identical vectors only), "
                                    f"got {self.duplicate_threshold}")
        if not 0 <= self.outlier_quantile < 1:
            raise InvalidInputError(f"outlier_quantile must be in [0, 1) (0: no outliers), got {self.outlier_quantile}")
        if not 0 <= self.target_accuracy <= 1:
            raise InvalidInputError(f"target_accuracy must be in [0, 1] (0: none), got {self.target_accuracy}")
        if self.label_budget < 0:
            raise InvalidInputError(f"label_budget must be 0 (none) or positive, got {self.label_budget}")
