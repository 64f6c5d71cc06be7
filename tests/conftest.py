"""Fixtures shared by the tests (pytest makes them visible to every test module).

- ``serve``: starts real ``knn-al serve`` processes and stops each one at teardown;
- ``clock``: a clock the test moves by hand (``clock.now += 61``);
- ``small_disk``: a 3 MiB tmpfs to fill (root only: skipped with the reason elsewhere);
- ``label_studio``: one real Label Studio for the whole session (tests/label_studio_helpers.py);
  defined here, not imported into each module, where each import would start its own.

What tests share with the benchmarks and the demo lives in the package:
:class:`knn_al.simulation.server_process.ServerProcess` and
:func:`knn_al.simulation.synthetic.clustered_vectors`.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from knn_al.simulation.server_process import ServerProcess
from tests.label_studio_helpers import LabelStudio, running_label_studio


@pytest.fixture
def serve() -> Iterator[Callable[..., ServerProcess]]:
    """``serve(data_dir, *args, **options)``: a started :class:`ServerProcess` (same
    arguments). Every server it started is stopped at teardown, whatever the test did to it
    (stopped, killed and restarted servers included)."""
    with contextlib.ExitStack() as started:  # stops them all even if one fails to stop

        def start(data_dir: Path, *args: str, **options: Any) -> ServerProcess:
            server = ServerProcess(data_dir, *args, **options)
            started.callback(server.stop)
            return server

        yield start


class FakeClock:
    """A clock for the project store that moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs mounted for the test (skipped, with the reason, where mounting fails)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no `mount` command: cannot mount a small tmpfs to fill")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 3 MiB tmpfs to fill (needs root or CAP_SYS_ADMIN): "
                    f"{done.stderr.strip() or f'mount exited {done.returncode}'}")
    try:
        stat = os.statvfs(mount)
        assert stat.f_blocks * stat.f_frsize <= 4 * 2**20, "the tmpfs is not the small one asked for"
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudio]:
    """One Label Studio for the session (see tests/label_studio_helpers.py)."""
    with running_label_studio(tmp_path_factory.mktemp("label-studio")) as server:
        yield server
