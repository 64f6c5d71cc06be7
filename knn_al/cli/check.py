"""``knn-al check DATA_DIR``: an offline integrity check of every project of a data directory.

Reads only, so it is safe beside a running server. One line per problem, naming the
project and the file; exit 0 when every project is whole, 1 when a problem was found,
2 when DATA_DIR is not a directory.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from knn_al.cli.connection import add_data_dir_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check", help="check every project of a data directory for missing or corrupt files",
        description="Check every project under DATA_DIR without changing anything: its files are present, their "
                    "headers and sizes agree with the operation log, and the log passes SQLite's integrity check. "
                    "Prints one line per problem. Exit code 0: all whole; 1: problems found; 2: DATA_DIR unusable.")
    add_data_dir_argument(parser, positional=True)
    parser.add_argument("--quick", action="store_true",
                        help="skip SQLite's integrity check and the parse of every item record (what a server "
                             "start checks)")
    parser.set_defaults(func=run, extra="server")


def run(args: argparse.Namespace) -> int:
    from knn_al.projects.files import check_project, classify

    data_dir: Path = args.data_dir
    if not data_dir.is_dir():
        print(f"knn-al check: {data_dir} is not a directory", file=sys.stderr)
        return 2
    projects = problems = 0
    for path in sorted(data_dir.iterdir()):
        if classify(path) != "project":
            continue  # foreign, or a temporary directory of ours that the next start removes
        projects += 1
        for problem in check_project(path, deep=not args.quick):
            problems += 1
            print(f"{path.name}: {problem}")
    if not args.quiet:
        print(f"checked {projects} project{'s' * (projects != 1)} in {data_dir}: "
              + (f"{problems} problem{'s' * (problems != 1)}" if problems else "no problems"), file=sys.stderr)
    return 1 if problems else 0
