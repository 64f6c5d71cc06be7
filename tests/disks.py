"""Filling a small disk (the ``small_disk`` fixture of conftest) for the full-disk tests."""
from __future__ import annotations

import errno
import os
from pathlib import Path


def fill_disk(disk: Path, *, leave_blocks: int = 0) -> Path:
    """Fill ``disk`` to the last block with a filler file (then free ``leave_blocks`` 4 KiB
    blocks of it); returns the filler."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave_blocks * 4096))
    finally:
        os.close(fd)
    if not leave_blocks:
        assert os.statvfs(disk).f_bavail == 0
    return filler
