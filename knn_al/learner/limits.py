"""Bounds on the size of what a project stores, in bytes, and their checks.

Ids live in a fixed-width table (:mod:`knn_al.learner.ids`): the longest id sets the width of
every row, so one 20 KB id made every item of a 10k pool cost 20 KB (118 MB -> 514 MB
measured). Bounding ids bounds that. Labels, annotator names and metadata are kept per
label or per item in memory and in the log, so they are bounded too.
"""
from __future__ import annotations

from knn_al.errors import InvalidInputError, shown

__all__ = ["MAX_ANNOTATOR_BYTES", "MAX_ID_BYTES", "MAX_LABEL_BYTES", "MAX_METADATA_BYTES", "check_annotator",
           "not_plain_json"]

MAX_ID_BYTES = 256
MAX_LABEL_BYTES = 256
MAX_ANNOTATOR_BYTES = 256
#: One item's metadata, as compact JSON.
MAX_METADATA_BYTES = 64 * 1024


def not_plain_json(item: str, exc: Exception) -> InvalidInputError:
    """The refusal of item ``item``'s metadata, which JSON cannot hold (``exc`` says why)."""
    return InvalidInputError(f"metadata of item {shown(item)} is not plain JSON ({exc}): use strings, numbers, "
                             "booleans, null, lists and objects, with no NaN or infinity")


def check_annotator(annotator: str) -> str:
    """``annotator`` if it is a string of at most :data:`MAX_ANNOTATOR_BYTES`."""
    if not isinstance(annotator, str):
        raise InvalidInputError(f"the annotator must be a string, got {shown(annotator)}")
    if len(annotator.encode("utf-8")) > MAX_ANNOTATOR_BYTES:
        raise InvalidInputError(f"annotator name {shown(annotator)} is longer than {MAX_ANNOTATOR_BYTES} bytes")
    return annotator
