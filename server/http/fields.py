"""The fields of HTTP requests: declared once, checked strictly, and described in the OpenAPI document.

A route declares the fields of its JSON body or query string as :class:`Field` values;
:func:`parse_body` and :func:`parse_query` check a request against them (an unknown field,
a missing required one or a value of the wrong type is :class:`InvalidInputError`, naming
it), and :mod:`knn_al.server.http.openapi` describes the same declarations, so the document
cannot drift from what the server accepts.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from knn_al.errors import InvalidInputError, listing, shown
from knn_al.projects.settings import ProjectSettings

__all__ = ["Field", "KINDS", "SETTINGS_FIELDS", "parse_body", "parse_query"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _is_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


@dataclass(frozen=True)
class Kind:
    """A type of field value: its check, how to name it in a refusal, and its JSON schema."""

    ok: Callable[[Any], bool]
    text: str
    schema: Mapping[str, Any]


_NUMBERS = {"type": "array", "items": {"type": "number"}}
#: Every kind of field value, by name.
KINDS: dict[str, Kind] = {
    "string": Kind(lambda v: isinstance(v, str), "a string", {"type": "string"}),
    "integer": Kind(_is_int, "an integer", {"type": "integer"}),
    "number": Kind(_is_number, "a number", {"type": "number"}),
    "boolean": Kind(lambda v: isinstance(v, bool), "true or false", {"type": "boolean"}),
    "strings": Kind(_is_strings, "a list of strings", {"type": "array", "items": {"type": "string"}}),
    "vector": Kind(lambda v: isinstance(v, list) and all(_is_number(x) for x in v), "a list of numbers", _NUMBERS),
    "vectors": Kind(lambda v: isinstance(v, list) and all(isinstance(r, list) and all(_is_number(x) for x in r)
                                                          for r in v),
                    "a list of lists of numbers", {"type": "array", "items": _NUMBERS}),
    "labels": Kind(lambda v: _is_object(v) and all(isinstance(x, str) for x in v.values()),
                   "an object of item id to label (a string)",
                   {"type": "object", "additionalProperties": {"type": "string"}}),
    "objects": Kind(lambda v: isinstance(v, list) and all(_is_object(x) for x in v), "a list of objects",
                    {"type": "array", "items": {"type": "object"}}),
    "object_map": Kind(lambda v: _is_object(v) and all(_is_object(x) for x in v.values()),
                       "an object of item id to object",
                       {"type": "object", "additionalProperties": {"type": "object"}}),
}


@dataclass(frozen=True)
class Field:
    """A field of a request: its ``name``, ``kind`` (a key of :data:`KINDS`), whether it is
    ``required``, its ``default`` when absent (or null), and ``doc`` for the OpenAPI document.
    ``choices`` restricts a string field to those values."""

    name: str
    kind: str
    doc: str = ""
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()

    def check(self, value: Any) -> Any:
        kind = KINDS[self.kind]
        if not kind.ok(value):
            raise InvalidInputError(f"field {self.name!r} must be {kind.text}, got {shown(value)}")
        if self.choices and value not in self.choices:
            raise InvalidInputError(f"field {self.name!r} must be one of {', '.join(self.choices)}, got {shown(value)}")
        return value


def _checked(given: Mapping[str, Any], declared: Sequence[Field], *, where: str) -> dict[str, Any]:
    """``given`` checked against ``declared``: every declared field, defaults filled in."""
    names = {f.name for f in declared}
    unknown = [name for name in given if name not in names]
    if unknown:
        accepted = ", ".join(f.name for f in declared) or "none"
        raise InvalidInputError(f"unknown field{'s' if len(unknown) > 1 else ''} {listing(map(shown, unknown))} in "
                                f"the {where}: "
                                f"this route accepts {accepted}")
    values = {}
    for field in declared:
        value = given.get(field.name)
        if value is None:
            if field.required:
                raise InvalidInputError(f"field {field.name!r} is required in the {where}")
            values[field.name] = field.default
        else:
            values[field.name] = field.check(value)
    return values


def parse_body(body: Any, declared: Sequence[Field]) -> dict[str, Any]:
    """The JSON ``body`` (already decoded) checked against ``declared``."""
    if not isinstance(body, dict):
        raise InvalidInputError(f"the request body must be a JSON object, got {type(body).__name__}")
    return _checked(body, declared, where="request body")


def _from_text(field: Field, text: str) -> Any:
    """A query parameter's value as its field's kind (query strings carry text only)."""
    if field.kind == "string":
        return text
    if field.kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise InvalidInputError(f"query parameter {field.name!r} must be an integer, got {shown(text)}") from None
    if field.kind == "boolean" and text in ("true", "false"):
        return text == "true"
    raise InvalidInputError(f"query parameter {field.name!r} must be {KINDS[field.kind].text}, got {shown(text)}")


def parse_query(query: Mapping[str, str], declared: Sequence[Field]) -> dict[str, Any]:
    """A query string (one value per name) checked against ``declared``; an empty value is absent."""
    known = {f.name: f for f in declared}
    given = {name: (_from_text(known[name], text) if name in known else text)
             for name, text in query.items() if text != ""}
    return _checked(given, declared, where="query string")


#: The kind of each type a :class:`ProjectSettings` field may have (as its annotation reads).
_KIND_OF_ANNOTATION = {"str": "string", "int": "integer", "float": "number", "bool": "boolean",
                       "tuple[str, ...]": "strings", "Exponents": "vector"}

#: The body of a project's creation: every setting of :class:`ProjectSettings`, by its
#: annotation, so that a setting added there is accepted here (and documented) too.
SETTINGS_FIELDS: tuple[Field, ...] = tuple(
    Field(name=f.name, kind=_KIND_OF_ANNOTATION[str(f.type)], required=f.name == "name",
          doc="the project's name" if f.name == "name" else f"default: {f.default!r}")
    for f in fields(ProjectSettings))
