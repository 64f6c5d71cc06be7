"""What a project is created with: its settings, their defaults and rules in one table.

:data:`SETTINGS_PARAMS` states every setting's default and rule once, as the text a user
reads when it is broken (checked by :func:`knn_al.learner.params.check`). The settings the
learner shares (``dimension``, ``k``, ``duplicate_threshold``, ``outlier_quantile``) take
both from the learner's own table, :data:`knn_al.learner.params.LEARNER_PARAMS`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields, replace
from typing import Any

from knn_al.encoders import ENCODERS
from knn_al.errors import InvalidInputError
from knn_al.learner.limits import MAX_LABEL_BYTES
from knn_al.learner.params import LEARNER_PARAMS, Param, check, defaults, integer_between, number_between
from knn_al.learner.strategies import (DEFAULT_STRATEGY, EXPONENTS_RULE, STRATEGY_NAMES, check_exponents,
                                       valid_exponents)
from knn_al.learner.types import DEFAULT_EXPONENTS, Exponents

__all__ = ["LEASE_SECONDS", "NAME_PATTERN", "SETTINGS_PARAMS", "ProjectSettings"]

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _is_label_set(labels: Any) -> bool:
    return (isinstance(labels, tuple)
            and all(isinstance(label, str) and 0 < len(label.encode("utf-8")) <= MAX_LABEL_BYTES for label in labels)
            and len(set(labels)) == len(labels))


_LEARNER = {param.name: param for param in LEARNER_PARAMS}

#: The length of a lease: a project's default, and any one hand-out's (which a server
#: also bounds: :func:`knn_al.projects.leases.check_lease_seconds`).
LEASE_SECONDS = Param(name="lease_seconds", default=600.0, rule="a positive number",
                      ok=number_between(0, math.inf, low_open=True, high_open=True)[1])

#: The most shards a project's pool can be split over.
MAX_SHARDS = 256

#: Every setting's default and rule, in the order they are checked.
SETTINGS_PARAMS: tuple[Param, ...] = (
    Param(name="name", default=None, rule="1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
          ok=lambda v: isinstance(v, str) and NAME_PATTERN.fullmatch(v) is not None),
    Param(name="encoder", default="", rule=f"one of {', '.join(ENCODERS)}, or none to send vectors only",
          ok=lambda v: isinstance(v, str) and (v == "" or v in ENCODERS)),
    # 0, the default, takes the encoder's dimension (see ProjectSettings.__post_init__).
    replace(_LEARNER["dimension"], default=0,
            rule=_LEARNER["dimension"].rule + " (or name an encoder and leave dimension 0 to take the encoder's)"),
    _LEARNER["k"],
    Param(name="default_strategy", default=DEFAULT_STRATEGY, rule=f"one of {', '.join(STRATEGY_NAMES)}",
          ok=lambda v: isinstance(v, str) and v in STRATEGY_NAMES),
    Param(name="labels", default=(), ok=_is_label_set,
          rule=f"distinct non-empty strings of at most {MAX_LABEL_BYTES} bytes each (UTF-8), or none"),
    LEASE_SECONDS,
    _LEARNER["duplicate_threshold"],
    _LEARNER["outlier_quantile"],
    Param(name="target_accuracy", default=0.0, rule="in [0, 1] (0: none)", ok=number_between(0, 1)[1]),
    Param(name="label_budget", default=0, rule="0 (none) or positive", ok=integer_between(0, 2**63 - 1)[1]),
    Param(name="keep_raw", default=False, rule="true or false (true only with an encoder)",
          ok=lambda v: isinstance(v, bool)),
    _LEARNER["model"],
    Param(name="exponents", default=DEFAULT_EXPONENTS, rule=EXPONENTS_RULE, ok=valid_exponents),
    _LEARNER["vector_dtype"],
    Param(name="shards", default=1, rule=f"an integer between 1 and {MAX_SHARDS} (1: not sharded; more needs a "
          "server started with --ray, and model knn)", ok=integer_between(1, MAX_SHARDS)[1]),
)
_DEFAULT = defaults(SETTINGS_PARAMS)


@dataclass(frozen=True)
class ProjectSettings:
    """What a project is created with; fixed for its lifetime except for the goals
    (``target_accuracy``, ``label_budget``: :meth:`Project.set_goals`).

    ``encoder`` names the registered encoder (``knn_al.encoders.ENCODERS``) that embeds
    the raw texts or images sent to this project; empty: the project takes vectors only.
    ``dimension`` 0 with an encoder takes the encoder's dimension; any other value must
    equal it. ``duplicate_threshold`` and ``outlier_quantile``: see
    :class:`knn_al.learner.Learner`. ``target_accuracy`` (0: none) and ``label_budget``
    (0: none) are when labeling can stop (:mod:`knn_al.learner.stopping`). ``keep_raw``
    (only with an encoder): keep the raw texts and images received, to show them
    (:meth:`Project.raw_item`). ``model``: what predicts (see :class:`knn_al.learner.Learner`).
    ``exponents``: the combined strategy's, unless a pick names its own
    (:data:`knn_al.learner.types.DEFAULT_EXPONENTS`). ``vector_dtype``: how the pool stores
    its vectors, float32 or float16 (see :class:`knn_al.learner.Learner`). ``shards``: how
    many parts the pool is split into (:mod:`knn_al.learner.sharded`; 1: one learner).
    """

    # The field order is the key order of settings.json.
    name: str
    dimension: int = _DEFAULT["dimension"]
    k: int = _DEFAULT["k"]
    default_strategy: str = _DEFAULT["default_strategy"]
    #: A fixed label set; empty: any label is accepted.
    labels: tuple[str, ...] = _DEFAULT["labels"]
    lease_seconds: float = _DEFAULT["lease_seconds"]
    encoder: str = _DEFAULT["encoder"]
    duplicate_threshold: float = _DEFAULT["duplicate_threshold"]
    outlier_quantile: float = _DEFAULT["outlier_quantile"]
    target_accuracy: float = _DEFAULT["target_accuracy"]
    label_budget: int = _DEFAULT["label_budget"]
    keep_raw: bool = _DEFAULT["keep_raw"]
    model: str = _DEFAULT["model"]
    exponents: Exponents = _DEFAULT["exponents"]
    vector_dtype: str = _DEFAULT["vector_dtype"]
    shards: int = _DEFAULT["shards"]

    def __post_init__(self) -> None:
        # settings.json and the wire give lists
        object.__setattr__(self, "labels", tuple(self.labels))
        if valid_exponents(self.exponents):  # anything else is refused by the table
            object.__setattr__(self, "exponents", check_exponents(self.exponents))
        if isinstance(self.encoder, str) and self.encoder in ENCODERS:  # an unknown one is refused by the table
            modality, dimension = ENCODERS[self.encoder]
            if self.dimension == 0:
                object.__setattr__(self, "dimension", dimension)
            elif self.dimension != dimension:
                raise InvalidInputError(f"encoder {self.encoder!r} embeds {modality}s as {dimension}-dimensional "
                                        f"vectors, but dimension {self.dimension} was given: give {dimension} or 0")
        check(SETTINGS_PARAMS, {field.name: getattr(self, field.name) for field in fields(self)})
        if self.shards > 1 and self.model != "knn":
            raise InvalidInputError(f"a sharded project (shards={self.shards}) predicts with model knn only, got "
                                    f"model {self.model!r}: the graph model propagates over the whole pool's graph",
                                    field="model")
        if self.keep_raw and not self.encoder:
            raise InvalidInputError("keep_raw needs an encoder: a project that takes vectors receives no raw items "
                                    "to keep")

    def with_goals(self, *, target_accuracy: float | None = None, label_budget: int | None = None) -> ProjectSettings:
        """These settings with other goals (``None`` keeps a goal as it is; 0 removes it)."""
        return replace(self, target_accuracy=self.target_accuracy if target_accuracy is None else target_accuracy,
                       label_budget=self.label_budget if label_budget is None else label_budget)
