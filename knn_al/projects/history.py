"""Who gave each current human label, and when: the recent-labels review and the
``annotator`` of an item record.

Rebuilt on replay from the log's label rows (each carries its annotator and time), kept
in memory as one entry per labeled item, in the order the labels were given: a relabel
moves its item to the end, a removed label or item drops it.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["LabelHistory", "Labeling"]


class Labeling(NamedTuple):
    annotator: str
    time: float


class LabelHistory:
    """The current human labels' annotators and times, oldest first."""

    def __init__(self) -> None:
        self._by_item: dict[str, Labeling] = {}

    def labeled(self, ids: Iterable[str], annotator: str, time: float) -> None:
        for item in ids:
            self._by_item.pop(item, None)  # a relabel is the newest label
            self._by_item[item] = Labeling(annotator, time)

    def forget(self, ids: Iterable[str]) -> None:
        for item in ids:
            self._by_item.pop(item, None)

    def get(self, item: str) -> Labeling | None:
        return self._by_item.get(item)

    def recent(self, limit: int, *, annotator: str | None = None) -> list[tuple[str, Labeling]]:
        """Up to ``limit`` labels, newest first, of ``annotator`` only if given."""
        found = []
        for item in reversed(self._by_item):
            labeling = self._by_item[item]
            if annotator is None or labeling.annotator == annotator:
                found.append((item, labeling))
                if len(found) == limit:
                    break
        return found
