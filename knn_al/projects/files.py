"""The files of a project directory: what they are called, how they are recognised, and
how to tell that they are whole.

Layout of a project directory::

    knn-al-project.json       the marker: format name and version; a directory without it
                              is not a project, and the store never touches it
    settings.json             ProjectSettings (rewritten atomically only by set_goals)
    log.sqlite                the operation log (WAL, :mod:`knn_al.projects.log`): pool
                              additions, label batches, label removals, in order; the
                              open leases; stream auto labels
    pool/batch-00000.npy      float32 unit vectors of one addition (memory-mappable;
                              the pool files: :mod:`knn_al.projects.pool`)
    pool/batch-00000.jsonl    {"id", "metadata"} per vector, same order
    pool/density-00000.npy    the pool survey after that addition (:mod:`knn_al.learner.survey`):
    pool/groups-00000.npy     density and duplicate group of every pool item, or, for an
                              item streamed in ("append" additions), of the new items only

knn-al deletes only what it recognises as its own: files and directories whose names
start with :data:`~knn_al.atomic.TEMP_PREFIX`, and the batch files of the one addition a
crash interrupted before its commit (:func:`knn_al.projects.pool.remove_crash_leftovers`).
Anything inconsistent is reported by :func:`check_project` (and quarantines the project
when the server opens it), never "repaired" by deletion. This module loads neither the
:class:`~knn_al.learner.Learner` nor FAISS, so ``knn-al check`` runs without them.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
from dataclasses import asdict
from pathlib import Path

import numpy as np

from knn_al.atomic import TEMP_PREFIX, atomic_write
from knn_al.errors import KnnAlError
from knn_al.projects.log import LOG, Addition, additions, create_log, dumps, open_log
from knn_al.projects.settings import NAME_PATTERN, ProjectSettings

__all__ = ["BATCH_FILE", "FORMAT", "FORMAT_VERSION", "MARKER", "POOL", "SETTINGS", "BrokenProjectError",
           "batch_paths", "check_project", "classify", "is_project_dir", "lay_out", "read_settings",
           "write_marker", "write_settings"]

MARKER = "knn-al-project.json"
FORMAT = "knn-al-project"
FORMAT_VERSION = 1
SETTINGS = "settings.json"
POOL = "pool"

#: The name of a pool file of an addition; group 1 is its batch number.
BATCH_FILE = re.compile(r"(?:batch|density|groups)-(\d{5,})\.(?:npy|jsonl)")


class BrokenProjectError(KnnAlError):
    """A project directory whose files are missing, corrupt or inconsistent. The project
    is quarantined: listed with this reason, every call on it refused, nothing removed."""

    reason = "BROKEN_PROJECT"


def write_marker(path: Path) -> None:
    atomic_write(path / MARKER, lambda f: f.write(dumps({"format": FORMAT, "version": FORMAT_VERSION}).encode()))


def write_settings(path: Path, settings: ProjectSettings) -> None:
    atomic_write(path / SETTINGS, lambda f: f.write(dumps(asdict(settings)).encode()))


def lay_out(path: Path, settings: ProjectSettings) -> None:
    """Lay out a new, empty project directory at ``path`` (which must not exist)."""
    path.mkdir()
    write_marker(path)
    (path / POOL).mkdir()
    write_settings(path, settings)
    create_log(path)


def is_project_dir(path: Path) -> bool:
    """Whether ``path`` claims to be a project: a valid project name holding the marker
    (or, from before the marker, a settings file and a log). Such a directory is opened
    or quarantined, never ignored; any other is none of knn-al's business."""
    return bool(NAME_PATTERN.fullmatch(path.name)) and (
        (path / MARKER).is_file() or ((path / SETTINGS).is_file() and (path / LOG).is_file()))


def classify(path: Path) -> str:
    """What an entry of a data directory is to knn-al: ``"project"``, ``"temporary"`` (a
    directory of ours left by an interrupted creation or deletion) or ``"foreign"``."""
    if not path.is_dir() or path.is_symlink():
        return "foreign"
    if path.name.startswith(TEMP_PREFIX):
        return "temporary"
    return "project" if is_project_dir(path) else "foreign"


def batch_paths(path: Path, batch: int) -> tuple[Path, Path, Path, Path]:
    """Vectors, records, density and groups files of addition ``batch``."""
    pool, stem = path / POOL, f"{batch:05d}"
    return (pool / f"batch-{stem}.npy", pool / f"batch-{stem}.jsonl", pool / f"density-{stem}.npy",
            pool / f"groups-{stem}.npy")


def read_settings(path: Path) -> ProjectSettings:
    """The project's settings; :class:`BrokenProjectError` saying what is wrong with the file."""
    file = path / SETTINGS
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError(f"expected a JSON object, found {type(raw).__name__}")
        settings = ProjectSettings(**raw)
    except FileNotFoundError:
        raise BrokenProjectError(f"{file} is missing") from None
    except (OSError, ValueError, TypeError) as exc:  # JSON, UTF-8, unknown or invalid fields
        raise BrokenProjectError(f"{file} is not valid settings: {exc}") from None
    if settings.name != path.name:
        raise BrokenProjectError(f"{file} names project {settings.name!r}, but its directory is {path.name!r}")
    return settings


def _npy_problem(file: Path, *, dtype: str, shape: tuple[int, ...]) -> str | None:
    """What is wrong with ``file`` as an .npy of ``dtype`` and ``shape``, or None."""
    try:
        with open(file, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            found_shape, _, found_dtype = read_header(handle)
            offset = handle.tell()
    except FileNotFoundError:
        return f"{file} is missing"
    except (OSError, ValueError) as exc:
        return f"{file} is not a readable .npy file ({exc})"
    if found_dtype != np.dtype(dtype) or tuple(found_shape) != shape:
        return f"{file} holds {found_dtype} {tuple(found_shape)}, the log expects {np.dtype(dtype)} {shape}"
    needed = offset + int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    size = os.path.getsize(file)
    if size < needed:
        return f"{file} is truncated: {size} bytes, {needed} needed"
    return None


def _records_problem(file: Path, count: int, *, deep: bool) -> str | None:
    try:
        body = file.read_bytes()
    except FileNotFoundError:
        return f"{file} is missing"
    except OSError as exc:
        return f"{file} cannot be read ({exc})"
    lines = body.count(b"\n")
    if lines != count:
        return f"{file} has {lines} records, the log says {count}"
    if deep:
        for number, line in enumerate(body.splitlines(), 1):
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or not isinstance(record.get("id"), str):
                    raise ValueError("not an object with a string id")
            except ValueError as exc:
                return f"{file} line {number} is not a valid record ({exc})"
    return None


def check_project(path: Path, *, deep: bool = False) -> list[str]:
    """Every problem found in the project directory ``path``, one line each; empty when
    it is whole. Reads only.

    Checks the marker, the settings, that the log is a readable SQLite database, and that
    every committed addition's files are present with headers and sizes matching the log.
    ``deep`` also runs SQLite's ``integrity_check`` and parses every item record.
    """
    problems: list[str] = []
    try:
        marker = json.loads((path / MARKER).read_text(encoding="utf-8"))
        if not isinstance(marker, dict) or marker.get("format") != FORMAT:
            problems.append(f"{path / MARKER} is not a knn-al project marker")
        elif marker.get("version") != FORMAT_VERSION:
            problems.append(f"{path / MARKER}: format version {marker.get('version')!r}; this knn-al reads "
                            f"version {FORMAT_VERSION}")
    except FileNotFoundError:
        # A project written before the marker existed (settings and log, no marker) is
        # adopted by the server, which adds the marker; anything else claiming to be a
        # project without one is not whole.
        if not (path / LOG).is_file():
            problems.append(f"{path / MARKER} is missing")
    except (OSError, ValueError) as exc:
        problems.append(f"{path / MARKER} is unreadable ({exc})")
    try:
        settings: ProjectSettings | None = read_settings(path)
    except BrokenProjectError as exc:
        problems.append(str(exc))
        settings = None
    if not (path / LOG).is_file():
        return problems + [f"{path / LOG} is missing"]
    try:
        db = open_log(path, read_only=True)
    except sqlite3.Error as exc:
        return problems + [f"{path / LOG} cannot be opened ({exc})"]
    try:
        if deep:
            verdict = [row[0] for row in db.execute("PRAGMA integrity_check")]
            if verdict != ["ok"]:
                problems.append(f"{path / LOG} fails SQLite's integrity check: {'; '.join(verdict[:3])}")
        added = additions(db)
    except (sqlite3.Error, ValueError, KeyError, TypeError) as exc:
        return problems + [f"{path / LOG} is not a readable knn-al log ({exc})"]
    finally:
        db.close()
    if settings is not None:
        problems += _pool_problems(path, added, settings.dimension, deep=deep)
    return problems


def _pool_problems(path: Path, added: list[Addition], dimension: int, *, deep: bool) -> list[str]:
    problems: list[str] = []
    pool_size = 0
    for expected, addition in enumerate(added):
        if addition.batch != expected:
            problems.append(f"{path / LOG}: addition {expected} names batch {addition.batch}")
            return problems
        pool_size += addition.count
        vectors, records, density, groups = batch_paths(path, addition.batch)
        survey = addition.count if addition.append else pool_size
        for problem in (_npy_problem(vectors, dtype="<f4", shape=(addition.count, dimension)),
                        _records_problem(records, addition.count, deep=deep),
                        _npy_problem(density, dtype="<f4", shape=(survey,)),
                        _npy_problem(groups, dtype="<i4", shape=(survey,))):
            if problem:
                problems.append(problem)
    if (path / POOL).is_dir():
        for file in sorted((path / POOL).iterdir()):
            found = BATCH_FILE.fullmatch(file.name)
            # The next batch's files are a crash's leftover (written, never committed).
            if found and int(found.group(1)) > len(added):
                problems.append(f"{file} belongs to no committed addition (the log has {len(added)})")
    else:
        problems.append(f"{path / POOL} is missing")
    return problems
