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
from typing import Any

from knn_al import __version__

__all__ = ["build_parser", "main"]

COMMAND_MODULES = (
    "knn_al.cli.serve",
    "knn_al.cli.embed",
    "knn_al.cli.load",
    "knn_al.cli.projects",
    "knn_al.cli.export",
    "knn_al.cli.simulate",
    "knn_al.cli.demo",
    "knn_al.cli.check",
    "knn_al.cli.label_studio",
)


class _DefaultsFormatter(argparse.HelpFormatter):
    """Help that shows every option's default: appended where the help text does not
    already say it, and where there is one (not for flags, nor for options unset by default)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        unset = default is None or default is False or default == "" or default == [] or default == ()
        if (not action.option_strings or "default" in text or unset or default == argparse.SUPPRESS
                or isinstance(action, (argparse._HelpAction, argparse._VersionAction))):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


class _Parser(argparse.ArgumentParser):
    """Every knn-al parser and sub-parser: help shows the defaults."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(**options)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="knn-al",
        description="Instant active learning: pick the next item to label, learn from each label at once.",
        epilog="Environment: KNN_AL_SERVER, KNN_AL_TOKEN, KNN_AL_TOKEN_FILE and KNN_AL_DATA_DIR give the defaults "
               "of --server, --token, --token-file and --data-dir (a flag wins over its variable). Exit codes: "
               "0 done; 1 the server refused or could not be reached, or an extra or model is missing here; "
               "2 bad usage or input.")
    parser.add_argument("--version", action="version", version=f"knn-al {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    for command in _leaves(parser):
        command.add_argument("-q", "--quiet", action="store_true",
                             help="print only results and errors: no progress bars, no notes on stderr "
                                  "(progress bars are off anyway when stderr is not a terminal)")
    return parser


def _leaves(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of every runnable command (``projects list``, not ``projects``)."""
    nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not nested:
        return [parser]
    return [leaf for action in nested for child in action.choices.values() for leaf in _leaves(child)]


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

