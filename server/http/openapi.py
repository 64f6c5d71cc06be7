"""The OpenAPI 3.1 document of the HTTP API, built from the route table (:data:`ROUTES`'s
declarations: paths, methods, fields, reply schemas), so the document cannot list a route
or a field the server does not have."""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from knn_al.server.http.api import Route
from knn_al.server.http.fields import KINDS, SETTINGS_FIELDS, Field

__all__ = ["SCHEMAS", "document"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    """A closed object with every property required (replies always carry all their fields)."""
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _list_of(key: str, item: Any) -> dict[str, Any]:
    return _object({key: {"type": "array", "items": item}})


STRING, INTEGER, NUMBER, BOOLEAN = ({"type": t} for t in ("string", "integer", "number", "boolean"))
OBJECT = {"type": "object"}
NULLABLE_NUMBER = {"type": ["number", "null"]}
MEDIA = {"type": ["string", "null"], "description": "URL of the item's media (GET it with the token), or null"}
PROBABILITIES = {"type": "object", "additionalProperties": NUMBER}

_PROGRESS = _object({
    "estimate": _object({"accuracy": {**NULLABLE_NUMBER, "description": "leave-one-out accuracy; null before labels"},
                         "low": NULLABLE_NUMBER, "high": NULLABLE_NUMBER, "labeled": INTEGER}),
    "target_accuracy": NUMBER, "label_budget": INTEGER, "budget_left": {"type": ["integer", "null"]},
    "stop_reason": {"type": "string", "enum": ["", "budget_reached", "target_reached", "pool_exhausted"]},
    "active_model": {"type": "string", "enum": ["knn", "graph"]}})
_NEIGHBOR = _object({"id": STRING, "similarity": NUMBER, "label": STRING, "metadata": OBJECT, "media": MEDIA})
_SCORE = _object({name: NUMBER for name in ("score", "uncertainty", "density", "diversity", "uncertainty_term",
                                            "density_term", "diversity_term")})
_SAMPLE = _object({"id": STRING, "metadata": OBJECT, "media": MEDIA, "predicted_label": STRING, "confidence": NUMBER,
                   "probabilities": PROBABILITIES, "score": _ref("Score"), "lease_expires_at": NUMBER,
                   "neighbors": {"type": "array", "items": _ref("Neighbor")}})
_SAMPLE["required"].remove("neighbors")  # only with explain
_SETTINGS = _object({f.name: KINDS[f.kind].schema for f in SETTINGS_FIELDS})
_STATS_COUNTS = ("labeled", "propagated", "auto_labeled", "leased", "skipped", "pool_size", "duplicate_groups",
                 "grouped_items", "outliers")

#: The reply shapes, by name (a route's ``reply``).
SCHEMAS: dict[str, Any] = {
    "Error": _object({"error": _object({"code": STRING, "message": STRING, "reason": STRING, "field": STRING})}),
    "Empty": _object({}),
    "Settings": _SETTINGS,
    "ProjectInfo": _object({"name": STRING, "state": {"type": "string", "enum": ["ready", "broken"]},
                            "problem": STRING, "pool_size": INTEGER, "labeled_count": INTEGER,
                            "leased_count": INTEGER,
                            "label_counts": {"type": "object", "additionalProperties": INTEGER},
                            "active_model": STRING,
                            "settings": {"oneOf": [_ref("Settings"), {"type": "null"}]}}),
    "ProjectList": _list_of("projects", _ref("ProjectInfo")),
    "Progress": _PROGRESS,
    "Stats": _object({**{name: INTEGER for name in _STATS_COUNTS}, "mean_uncertainty": NUMBER,
                      "progress": _ref("Progress")}),
    "Score": _SCORE,
    "Neighbor": _NEIGHBOR,
    "Sample": _SAMPLE,
    "NextItems": _object({"samples": {"type": "array", "items": _ref("Sample")}, "progress": _ref("Progress")}),
    "LabelReceipt": _object({"labeled_count": INTEGER, "propagated_ids": {"type": "array", "items": STRING},
                             "progress": _ref("Progress")}),
    "LabelCount": _object({"labeled_count": INTEGER, "progress": _ref("Progress")}),
    "Released": _object({"released": INTEGER}),
    "LeaseDeadline": _object({"lease_expires_at": NUMBER}),
    "UndoneLabel": _object({"lease_expires_at": NUMBER, "labeled_count": INTEGER, "progress": _ref("Progress")}),
    "Skipped": _object({"skipped": INTEGER, "progress": _ref("Progress")}),
    "Unskipped": _object({"unskipped": INTEGER}),
    "Predictions": _list_of("predictions", _object({
        "id": {**STRING, "description": "the item, or '' for a vector or text"}, "label": STRING,
        "confidence": NUMBER, "probabilities": PROBABILITIES,
        "neighbors": {"type": "array", "items": _ref("Neighbor")}})),
    "Item": _object({"id": STRING, "state": {"type": "string", "enum": ["unlabeled", "labeled", "propagated",
                                                                        "leased", "skipped"]},
                     "label": STRING, "annotator": STRING, "metadata": OBJECT, "predicted_label": STRING,
                     "confidence": NUMBER, "probabilities": PROBABILITIES, "outlier": BOOLEAN, "density": NUMBER,
                     "lease_annotator": STRING, "lease_expires_at": NUMBER, "media": MEDIA}),
    "Items": _list_of("items", _ref("Item")),
    "ItemPage": _object({"items": {"type": "array", "items": _ref("Item")},
                         "next_page_token": {**STRING, "description": "'' on the last page"}}),
    "AddResult": _object({"added": INTEGER, "skipped": INTEGER, "replaced": INTEGER, "pool_size": INTEGER}),
    "Removed": _object({"removed": INTEGER, "pool_size": INTEGER}),
    "Updated": _object({"updated": INTEGER}),
    "SearchHits": _list_of("hits", _object({"id": STRING, "similarity": NUMBER, "state": STRING, "label": STRING,
                                            "metadata": OBJECT, "media": MEDIA})),
    "Outliers": _list_of("outliers", _object({"id": STRING, "density": NUMBER, "metadata": OBJECT, "media": MEDIA})),
    "DuplicateGroups": _list_of("groups", _object({"ids": {"type": "array", "items": STRING}, "label": STRING,
                                                   "metadata": {"type": "array", "items": OBJECT}})),
    "Suspicious": _list_of("items", _object({"id": STRING, "label": STRING, "predicted_label": STRING,
                                             "confidence": NUMBER, "annotator": STRING, "metadata": OBJECT,
                                             "media": MEDIA})),
    "Recent": _list_of("labels", _object({"id": STRING, "label": STRING, "annotator": STRING, "time": NUMBER,
                                          "metadata": OBJECT})),
    "Export": _list_of("records", _object({"id": STRING, "label": STRING, "source": {
        "type": "string", "enum": ["human", "propagated", "auto", "predicted", "skipped"]}, "confidence": NUMBER,
        "metadata": OBJECT, "annotator": STRING, "labeled_at": NUMBER})),
}

#: The error statuses any API route may answer with, and what they mean.
ERRORS = {"400": "INVALID_ARGUMENT: the request is malformed (the message names the field or value)",
          "401": "UNAUTHENTICATED: a token is required (Authorization: Bearer TOKEN)",
          "403": "PERMISSION_DENIED: a cross-site request, or a host name on a server without a token",
          "404": "NOT_FOUND: no such project or item", "409": "ALREADY_EXISTS",
          "412": "FAILED_PRECONDITION: the items' state does not allow it", "413": "RESOURCE_EXHAUSTED: too large",
          "415": "INVALID_ARGUMENT: a POST without 'Content-Type: application/json'",
          "500": "INTERNAL", "507": "RESOURCE_EXHAUSTED: the server's disk is full"}


def _field_schema(field: Field) -> dict[str, Any]:
    schema = dict(KINDS[field.kind].schema)
    if field.choices:
        schema["enum"] = list(field.choices)
    if field.default is not None:
        schema["default"] = field.default
    if field.doc:
        schema["description"] = field.doc
    return schema


def _operation(route: Route) -> dict[str, Any]:
    params = [{"name": name, "in": "path", "required": True, "schema": STRING}
              for name in re.findall(r"\{(\w+)\}", route.path)]
    operation: dict[str, Any] = {"operationId": route.name, "summary": route.summary}
    if route.body is not None:
        operation["requestBody"] = {"required": any(f.required for f in route.fields), "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": False,
                                            "properties": {f.name: _field_schema(f) for f in route.fields},
                                            "required": [f.name for f in route.fields if f.required]}}}}
    else:
        params += [{"name": f.name, "in": "query", "required": f.required, "schema": _field_schema(f)}
                   for f in route.fields]
    if params:
        operation["parameters"] = params
    content = ({"application/json": {"schema": _ref(route.reply)}} if route.reply
               else {"*/*": {"schema": {"type": "string", "format": "binary"}}})
    operation["responses"] = {str(route.status): {"description": "success", "content": content},
                              **{code: {"description": text, "content": {"application/json": {"schema": _ref("Error")}}}
                                 for code, text in ERRORS.items()}}
    return operation


def document(routes: Sequence[Route], *, base: str) -> dict[str, Any]:
    """The OpenAPI document of ``routes`` served under ``base``."""
    paths: dict[str, dict[str, Any]] = {f"{base}/openapi.json": {"get": {
        "operationId": "getOpenApi", "summary": "This document (public)", "security": [],
        "responses": {"200": {"description": "success", "content": {"application/json": {"schema": OBJECT}}}}}}}
    for route in routes:
        paths.setdefault(base + route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "knn-al", "version": "1",
                 "description": "Instant active learning: what to label next, and the model's answers, over JSON. "
                                "Errors are {\"error\": {\"code\", \"message\"}} with the gRPC status name as code "
                                "and the same message as the gRPC API."},
        "servers": [{"url": "/"}],
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    }
