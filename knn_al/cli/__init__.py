"""The ``knn-al`` command line: a thin dispatcher over command modules.

Each command lives in its own module exposing ``register(subparsers)``, which adds a
sub-parser whose ``func`` default takes the parsed arguments and returns an exit code.
Modules are imported only when the CLI starts, and heavy imports (TensorFlow, FAISS, grpc)
stay inside each command's function, so ``knn-al --help`` is instant and works on the base
install. A command that needs an extra says so with ``parser.set_defaults(extra=NAME)``;
a module of a missing extra then becomes one line naming it (:mod:`knn_al.extras`).
"""
from __future__ import annotations

import argparse
import importlib

from knn_al import __version__

__all__ = ["build_parser", "main"]

COMMAND_MODULES = (
    "knn_al.cli.check",
    "knn_al.cli.embed",
    "knn_al.cli.export",
    "knn_al.cli.load",
    "knn_al.cli.serve",
    "knn_al.cli.simulate",
    "knn_al.cli.demo",
    "knn_al.cli.label_studio",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="knn-al",
        description="Instant active learning: pick the next item to label, learn from each label at once.",
    )
    parser.add_argument("--version", action="version", version=f"knn-al {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; an expected error (a :class:`~knn_al.errors.KnnAlError`) any command
    lets through becomes one line and its exit code (:mod:`knn_al.cli.exits`)."""
    from knn_al.cli.exits import exit_code, fail
    from knn_al.errors import KnnAlError

    from knn_al.extras import missing_extra

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KnnAlError as exc:
        return fail(args.command, str(exc), exit_code(exc))
    except ModuleNotFoundError as exc:  # an extra this command needs is not installed
        error = missing_extra(exc, needed_for=f"knn-al {args.command}", extra=getattr(args, "extra", None))
        if error is None:
            raise
        return fail(args.command, str(error), exit_code(error))

