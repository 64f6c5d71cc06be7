"""The classes a learner knows: a fixed label set, or one that grows with each new label.

Classes are coded by order of arrival (the columns of every probability the learner
returns); label names are checked here, before anything is stored.
"""
from __future__ import annotations

from collections.abc import Sequence

from knn_al.errors import InvalidInputError, UnknownLabelError, listing, shown
from knn_al.learner.limits import MAX_LABEL_BYTES

__all__ = ["LabelSet"]


class LabelSet:
    """Known class names by code. ``names``: a fixed label set, labels outside it are
    refused; ``None``: any label is accepted and becomes a known class from then on."""

    def __init__(self, names: Sequence[str] | None = None) -> None:
        self.fixed = names is not None
        #: Class names in code order.
        self.names_: list[str] = []
        self._codes: dict[str, int] = {}
        for name in names or ():
            self.code(name)

    def __len__(self) -> int:
        return len(self.names_)

    def code(self, name: str) -> int:
        """The code of class ``name``, which becomes known if it was not (check it first)."""
        code = self._codes.get(name)
        if code is None:
            code = self._codes[name] = len(self.names_)
            self.names_.append(name)
        return code

    def check(self, ids: Sequence[str], labels: Sequence[str]) -> None:
        """Raise if a label is not a non-empty string of the label set (``ids`` name the
        items in the message)."""
        for position, name in enumerate(labels):
            if not isinstance(name, str) or not name:
                raise InvalidInputError(f"the label of item {shown(ids[position])} must be a non-empty string, "
                                        f"got {shown(name)}")
            if len(name.encode("utf-8")) > MAX_LABEL_BYTES:
                raise InvalidInputError(f"label {shown(name)} (item {shown(ids[position])}) is longer than "
                                        f"{MAX_LABEL_BYTES} bytes")
            if self.fixed and name not in self._codes:
                raise UnknownLabelError(f"label {shown(name)} (item {shown(ids[position])}) is not in the project's "
                                        f"label set: {listing(self.names_)}")
