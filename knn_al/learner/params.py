"""Parameters as data: one table of defaults and rules per component, checked in one place.

A rule is stated once, as the text a user reads when it is broken ("k must be an integer
between 1 and 1000, got 0"). The learner's table is the source of the defaults and rules
of its parameters wherever they are set: a :class:`~knn_al.learner.Learner`, a project's
settings (:mod:`knn_al.projects.settings`), a simulation.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from knn_al.errors import InvalidInputError, shown

__all__ = ["DEFAULT_DUPLICATE_THRESHOLD", "LEARNER_PARAMS", "MODELS", "VECTOR_DTYPES", "Param", "between", "check", "defaults",
           "integer_between", "number_between"]


@dataclass(frozen=True)
class Param:
    """A parameter: its ``name``, ``default``, and the ``rule`` its values follow, as the
    text of the refusal (``ok`` tells whether a value follows it)."""

    name: str
    default: Any
    rule: str
    ok: Callable[[Any], bool]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def integer_between(low: int, high: int) -> tuple[str, Callable[[Any], bool]]:
    """The rule "an integer between ``low`` and ``high``" (inclusive)."""
    return (f"an integer between {low} and {high}",
            lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high)


def number_between(low: float, high: float, *, low_open: bool = False, high_open: bool = False,
                   ) -> tuple[str, Callable[[Any], bool]]:
    """The rule "a number in [low, high]", each end open or closed."""
    text = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    return text, lambda v: (_is_number(v) and (low < v if low_open else low <= v)
                            and (v < high if high_open else v <= high))


def between(name: str, default: Any, rule: tuple[str, Callable[[Any], bool]]) -> Param:
    """A :class:`Param` from a rule of :func:`integer_between` or :func:`number_between`."""
    return Param(name=name, default=default, rule=rule[0], ok=rule[1])


def check(params: Iterable[Param], values: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidInputError` for the first of ``params`` whose value in
    ``values`` breaks its rule (a missing value is not checked)."""
    for param in params:
        if param.name in values and not param.ok(values[param.name]):
            raise InvalidInputError(f"{param.name} must be {param.rule}, got {shown(values[param.name])}",
                                    field=param.name)


def defaults(params: Iterable[Param]) -> dict[str, Any]:
    """Every parameter's default, by name."""
    return {param.name: param.default for param in params}


def _hinted(rule: tuple[str, Callable[[Any], bool]], hint: str) -> tuple[str, Callable[[Any], bool]]:
    return f"{rule[0]} ({hint})", rule[1]


#: Default near-duplicate threshold (cosine similarity; :mod:`knn_al.learner.duplicates`).
#: Measured here: with mobilenet_v1 a photo re-encoded as JPEG scores 0.997 (quality 90)
#: and 0.97-0.99 (quality 40) against its PNG, different photos at most 0.47; with
#: use-multilingual the BBC News pairs above 0.93 are republished copies of one story
#: (about 330 of the 2,225 articles).
DEFAULT_DUPLICATE_THRESHOLD = 0.95

#: What a learner can predict with (its ``model``).
MODELS = ("knn", "graph", "auto")

#: How a pool can store its vectors (its ``vector_dtype``).
VECTOR_DTYPES = ("float32", "float16")

#: The learner's tunable parameters (``dimension`` has no default: every pool sets it).
LEARNER_PARAMS: tuple[Param, ...] = (
    between("dimension", None, integer_between(1, 65_536)),
    between("k", 10, integer_between(1, 1_000)),
    between("smoothing", 0.1, number_between(0, math.inf, low_open=True, high_open=True)),
    between("density_neighbors", 10, integer_between(1, 1_000)),
    between("exact_density_limit", 50_000, integer_between(0, 2**62)),
    between("duplicate_threshold", DEFAULT_DUPLICATE_THRESHOLD, _hinted(number_between(0, 1, low_open=True), "1: identical vectors only")),
    between("outlier_quantile", 0.01, _hinted(number_between(0, 1, high_open=True), "0: no outliers")),
    between("max_candidates", 20_000, integer_between(1, 2**62)),
    between("seed", 0, integer_between(0, 2**63 - 1)),
    Param(name="model", default="knn", rule="one of knn (the labeled neighbours vote), graph (labels propagate "
          "over the pool graph), auto (the one with the better leave-one-out accuracy)",
          ok=lambda v: v in MODELS),
    Param(name="vector_dtype", default="float32", rule="float32, or float16 (vectors in half precision: half "
          "the memory, similarities to about 3 decimal places)", ok=lambda v: v in VECTOR_DTYPES),
)
