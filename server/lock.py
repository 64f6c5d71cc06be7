"""One data directory, one server: an exclusive lock held for the server's lifetime.

Two servers over one data directory would keep two in-memory states over one label log.
The lock is an ``flock`` on ``DATA_DIR/.knn-al.lock`` (released by the kernel when the
process dies, even by SIGKILL, so a crash never leaves a stale lock); the file holds the
pid of the holder so that a second server can say who it is.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from knn_al.errors import StateError

LOCK_FILE = ".knn-al.lock"


class DataDirInUseError(StateError):
    """Another process holds the data directory."""


class DataDirLock:
    """Hold the data directory ``data_dir`` (created if missing) until :meth:`release`."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / LOCK_FILE
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            raise DataDirInUseError(f"data directory {data_dir} is in use by another knn-al server (pid {holder}): "
                                    "stop that server first, or choose another --data-dir") from None
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            os.close(self._fd)
            raise

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
