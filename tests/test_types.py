"""The type hints hold: mypy over knn_al, server and client (as installed: knn_al.server, knn_al.client, knn_al.v1).

mypy cannot follow pyproject's package-dir mapping, so the test lays the installed package
out as symlinks in a temporary directory and checks that tree.
"""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_is_clean(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api", reason="mypy is in the dev extra: pip install -e '.[dev]'")
    package = tmp_path / "knn_al"
    package.mkdir()
    for entry in (ROOT / "knn_al").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name, source in (("server", ROOT / "server"), ("client", ROOT / "client"),
                         ("v1", ROOT / "protos" / "knn_al" / "v1")):
        (package / name).symlink_to(source)
    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir",
                                      str(tmp_path / ".mypy_cache"), "-p", "knn_al"])
    assert status == 0, stdout + stderr
