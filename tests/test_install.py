"""The base install (``pip install knn-al``, no extra): the client SDK and the CLI's client
commands in a fresh venv, with no TensorFlow and no FAISS, against a server of the full install.

The wheel is built from a copy of the sources (the checkout gets no build/ or egg-info),
then installed in a new venv with its three dependencies from the package index.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from knn_al import __version__
from knn_al.dataset import write_dataset
from knn_al.simulation.server_process import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
#: The issue's bound on a fresh venv holding the base install (pip included).
MAX_BASE_MB = 200
#: Distributions that must not come with the base install.
HEAVY = ("tensorflow", "faiss-cpu", "scipy", "numba", "tensorflow-hub", "nudity", "aiohttp", "matplotlib")


def _run(*command: str | Path, check: bool = True, **options: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_PROGRESS_BAR": "off"}
    env.pop("PYTHONPATH", None)  # the base venv must see only what it installed
    # Not from the checkout: `python -m knn_al` there would import its knn_al/ folder.
    options.setdefault("cwd", Path(command[0]).parent)
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, env=env,
                            timeout=600, **options)  # type: ignore[call-overload]
    if check and result.returncode:
        raise AssertionError(f"{command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel of this checkout with no extra."""
    root = tmp_path_factory.mktemp("base-install")
    source = root / "source"
    source.mkdir()
    for part in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / part, source / part)
    for part in ("knn_al", "server", "client", "protos"):
        shutil.copytree(ROOT / part, source / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", root / "wheel", source)
    wheel = next((root / "wheel").glob("knn_al-*.whl"))
    _run(sys.executable, "-m", "venv", root / "venv")
    _run(root / "venv" / "bin" / "python", "-m", "pip", "install", "-q", wheel)
    return root / "venv"


def _site_packages_mb(venv: Path) -> float:
    site = next((venv / "lib").glob("python3*/site-packages"))
    return sum(f.stat().st_size for f in site.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


def test_base_install_is_small_and_holds_no_tensorflow_or_faiss(base_venv: Path) -> None:
    listed = json.loads(_run(base_venv / "bin" / "python", "-m", "pip", "list", "--format", "json").stdout)
    names = {entry["name"].lower() for entry in listed}
    assert {"knn-al", "numpy", "grpcio", "protobuf"} <= names
    assert not names & set(HEAVY), f"the base install pulled {sorted(names & set(HEAVY))}"
    size = _site_packages_mb(base_venv)
    assert size < MAX_BASE_MB, f"the base install holds {size:.0f} MB"
    assert _run(base_venv / "bin" / "knn-al", "--version").stdout.strip() == f"knn-al {__version__}"
    assert _run(base_venv / "bin" / "python", "-m", "knn_al", "--version").stdout.strip() == f"knn-al {__version__}"
    typed = _run(base_venv / "bin" / "python", "-c", "import importlib.resources as r; "
                 "print(r.files('knn_al').joinpath('py.typed').is_file())").stdout.strip()
    assert typed == "True"


def test_a_command_of_a_missing_extra_names_the_extra(base_venv: Path, tmp_path: Path) -> None:
    served = _run(base_venv / "bin" / "knn-al", "serve", "--data-dir", tmp_path / "data", check=False)
    assert served.returncode == 1
    assert served.stderr.startswith("knn-al serve: knn-al serve needs the 'server' extra")
    assert "pip install 'knn-al[server]'" in served.stderr and "Traceback" not in served.stderr
    assert not (tmp_path / "data").exists()  # nothing created
    simulated = _run(base_venv / "bin" / "knn-al", "simulate", tmp_path, check=False)
    assert simulated.returncode == 1 and "pip install 'knn-al[sim]'" in simulated.stderr
    assert "Traceback" not in simulated.stderr
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"id": "a", "text": "hello"}\n', encoding="utf-8")
    embedded = _run(base_venv / "bin" / "knn-al", "embed", texts, "-o", tmp_path / "out", check=False)
    assert embedded.returncode == 1 and "pip install 'knn-al[server]'" in embedded.stderr
    assert not (tmp_path / "out").exists()
    encoder = _run(base_venv / "bin" / "python", "-c", "from knn_al.encoders import get_encoder\n"
                   "try: get_encoder('mobilenet_v1')\nexcept Exception as e: print(type(e).__name__, e)")
    assert encoder.stdout.startswith("EncoderUnavailableError the mobilenet_v1 encoder needs the 'images' extra")


CLIENT_SESSION = textwrap.dedent("""
    import json, sys
    import numpy as np
    from knn_al.client import Client

    client = Client(sys.argv[1])
    pick = client.next_sample("loaded", 1)[0]
    client.submit_label("loaded", pick.id, "a")
    rng = np.random.default_rng(0)
    client.create_project("fresh", 8)
    client.add_items("fresh", [f"f{i}" for i in range(20)], rng.normal(size=(20, 8)).astype(np.float32))
    print(json.dumps({"projects": sorted(p.name for p in client.list_projects()),
                      "labeled": client.stats("loaded").labeled,
                      "predicted": client.predict("loaded", [pick.id])[0].label,
                      "heavy": sorted(m for m in ("faiss", "tensorflow", "scipy", "numba") if m in sys.modules)}))
""")


def test_the_base_client_works_against_a_full_server(base_venv: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(30, 8)).astype(np.float32)
    dataset = write_dataset(tmp_path / "items.ds", ids=[f"i{n}" for n in range(30)], vectors=vectors, encoder="none",
                            labels=["a" if n % 2 else "b" for n in range(30)])
    with ServerProcess(tmp_path / "data") as server:
        loaded = _run(base_venv / "bin" / "knn-al", "load", dataset, "--project", "loaded", "--create", "--upload",
                      "--server", server.address)
        assert "30" in loaded.stdout + loaded.stderr
        session = json.loads(_run(base_venv / "bin" / "python", "-c", CLIENT_SESSION, server.address).stdout)
    assert session == {"projects": ["fresh", "loaded"], "labeled": 1, "predicted": "a", "heavy": []}
