"""A learner saved to a directory and loaded back (:meth:`Learner.save`, :meth:`Learner.load`),
for in-process users; the service keeps projects its own way (:mod:`knn_al.projects`).

The one module of the learner that reads and writes files. The format holds what a user
gave, not the learner's tables, and no pickle (nothing in it runs code when loaded):

``learner.json``
    ``{"format": "knn-al-learner", "version": 1, "params": {...}, "known_classes": [...],
    "active_model": "knn", "labels": [[id, label], ...], "skipped": [id, ...]}``: the
    parameters (those of :data:`~knn_al.learner.params.LEARNER_PARAMS` and ``classes``, the
    fixed label set or null), every class known so far in column order (with none left
    labeled too), the model predicting now (under "auto"), the human labels, the skipped items.
``ids.json``
    the pool's ids, in pool order (removed items are not kept).
``vectors.npy``
    their unit vectors, float32, one row per id (``numpy.save``, read with ``allow_pickle=False``).

Loading rebuilds the learner from them: the same items, labels and skips give the same
tables, so the same predictions (the graph model's scores agree within its push tolerance)
and, for the same seed, the same picks. One exception: the pool is surveyed afresh
(density, duplicate groups), while a learner that removed items keeps the densities
measured with them until its next addition, so after removals picks can differ where
those densities count. Items handed out are not saved: a loaded learner has none.
:meth:`Learner.save` writes into a new directory and refuses an existing one, so it never
overwrites or deletes anything.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from knn_al.errors import AlreadyExistsError, InvalidInputError

__all__ = ["FORMAT", "VERSION", "SavedLearner", "read_learner", "write_learner"]

FORMAT, VERSION = "knn-al-learner", 1


@dataclass(frozen=True)
class SavedLearner:
    """What a saved learner holds: its constructor's ``params``, its items (``ids`` and
    their ``vectors``, in pool order), its ``known_classes`` in column order, its
    ``active_model``, the human ``labels`` (id, label) and the ``skipped`` ids."""

    params: dict[str, Any]
    ids: list[str]
    vectors: np.ndarray
    known_classes: list[str]
    active_model: str
    labels: list[tuple[str, str]]
    skipped: list[str]


def write_learner(saved: SavedLearner, path: str | os.PathLike[str]) -> Path:
    """Write ``saved`` to the new directory ``path`` (its parent must exist), whole or not at all."""
    target = Path(path)
    if target.exists():
        raise AlreadyExistsError(f"{target} exists: save a learner into a new directory")
    state = {"format": FORMAT, "version": VERSION, "params": saved.params, "known_classes": saved.known_classes,
             "active_model": saved.active_model, "labels": [list(pair) for pair in saved.labels],
             "skipped": saved.skipped}
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.mkdir()
    except FileExistsError:
        raise AlreadyExistsError(f"{partial} exists, perhaps left by a save that failed: it is not knn-al's to "
                                 "remove; remove it or save elsewhere") from None
    try:
        (partial / "ids.json").write_text(json.dumps(saved.ids, ensure_ascii=False), encoding="utf-8")
        np.save(partial / "vectors.npy", np.ascontiguousarray(saved.vectors, dtype=np.float32))
        (partial / "learner.json").write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
        partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # made here, just now: nothing of the user's
        raise
    return target


def read_learner(path: str | os.PathLike[str]) -> SavedLearner:
    """What :func:`write_learner` wrote to ``path``; :class:`InvalidInputError` naming what is wrong."""
    source = Path(path)
    try:
        state = json.loads((source / "learner.json").read_text(encoding="utf-8"))
        ids = json.loads((source / "ids.json").read_text(encoding="utf-8"))
        vectors = np.load(source / "vectors.npy", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{source} is not a saved learner ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InvalidInputError(f"{source / 'learner.json'} is not a knn-al learner")
    if state.get("version") != VERSION:
        raise InvalidInputError(f"{source} holds learner format version {state.get('version')!r}; this knn-al "
                                f"reads version {VERSION}")
    if not isinstance(ids, list) or len(ids) != len(vectors):
        raise InvalidInputError(f"{source}: ids.json and vectors.npy do not have one row per id")
    return SavedLearner(params=state["params"], ids=ids, vectors=vectors, known_classes=list(state["known_classes"]),
                        active_model=state["active_model"],
                        labels=[(item, label) for item, label in state["labels"]], skipped=list(state["skipped"]))
