"""Atomic file writes: a reader (or a restart after a crash) sees the old file or the
complete new one, never a torn one."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

#: Prefix of every temporary file and directory knn-al creates. Unambiguous, so that the
#: leftovers of a crash can be recognised as ours and removed without touching anything
#: a user put beside them.
TEMP_PREFIX = ".knn-al-tmp-"


def temporary_path(path: Path) -> Path:
    """Where :func:`atomic_write` stages ``path`` before renaming it into place."""
    return path.with_name(f"{TEMP_PREFIX}{path.name}")


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` through ``write(handle)`` into a temporary file, fsync it, then
    ``os.replace`` it into place and fsync the directory so the rename is durable too.

    On any failure (a full disk included) the temporary file is removed and ``path`` is
    left as it was.
    """
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make renames and creations inside directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
