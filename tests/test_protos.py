"""The committed stubs are what `python scripts/gen_protos.py` generates from protos/."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_committed_stubs_match_the_protos(tmp_path: Path) -> None:
    # A separate process: protoc's own protobuf runtime crashes a process that has
    # already loaded TensorFlow's (as the encoder tests do earlier in the session).
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--out", str(tmp_path)], check=True)
    generated = sorted(p for p in (tmp_path / "knn_al" / "v1").iterdir()
                       if p.name.endswith(("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")))
    assert generated, "no stubs generated"
    committed_dir = ROOT / "protos" / "knn_al" / "v1"
    committed = sorted(p.name for p in committed_dir.iterdir() if p.name.endswith(("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")))
    assert [p.name for p in generated] == committed
    stale = [p.name for p in generated if p.read_bytes() != (committed_dir / p.name).read_bytes()]
    assert not stale, f"stale stubs {stale}: run `python scripts/gen_protos.py` and commit the result"


def test_library_never_imports_grpc() -> None:
    offenders = [p.name for p in (ROOT / "knn_al").rglob("*.py") if "import grpc" in p.read_text(encoding="utf-8")]
    assert not offenders
