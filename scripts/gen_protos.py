"""Regenerate the Python stubs of the API contract: ``python scripts/gen_protos.py``.

The stubs (``*_pb2.py``, ``*_pb2.pyi``, ``*_pb2_grpc.py``) are written next to the
``.proto`` files in ``protos/knn_al/v1/`` and committed; they import as ``knn_al.v1``.
``tests/test_protos.py`` regenerates them into a temporary directory and fails if the
committed ones differ. Needs ``grpcio-tools`` (the ``test`` extra).
"""
from __future__ import annotations

from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent.parent / "protos"
PROTO_DIR = PROTO_ROOT / "knn_al" / "v1"


def generate(out_root: Path = PROTO_ROOT) -> list[Path]:
    """Compile every ``.proto`` of ``knn_al/v1`` into ``out_root/knn_al/v1``; return the files written."""
    import grpc_tools
    from grpc_tools import protoc

    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_DIR.glob("*.proto"))
    (out_root / "knn_al" / "v1").mkdir(parents=True, exist_ok=True)
    well_known = str(Path(grpc_tools.__file__).parent / "_proto")
    args = ["protoc", f"-I{PROTO_ROOT}", f"-I{well_known}", f"--python_out={out_root}",
            f"--pyi_out={out_root}", f"--grpc_python_out={out_root}", *protos]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {protos}")
    return sorted(p for p in (out_root / "knn_al" / "v1").iterdir() if p.name.endswith(("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")))


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROTO_ROOT,
                        help="root to write knn_al/v1/ stubs under (default: protos/, beside the .proto files)")
    for path in generate(parser.parse_args().out):
        print(path)
