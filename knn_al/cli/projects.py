"""``knn-al projects list|create|show|stats|delete``: administer a running server's projects.

A client command (the base install is enough). ``list`` prints a table (``--json``: one
JSON array); ``create``, ``show`` and ``stats`` print the project's record as JSON, so a
script can read any field. ``delete`` destroys a project's items and labels: it asks on a
terminal and otherwise needs ``--yes``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from typing import TYPE_CHECKING, Any

from knn_al.cli.connection import add_connection_arguments, connection_options
from knn_al.cli.exits import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, fail
from knn_al.learner.params import MODELS, VECTOR_DTYPES
from knn_al.learner.strategies import STRATEGY_NAMES

if TYPE_CHECKING:
    from knn_al.client import Client

PROG = "projects"
#: The columns of ``list``: (header, ProjectInfo field).
COLUMNS = (("NAME", "name"), ("DIM", "dimension"), ("POOL", "pool_size"), ("LABELED", "labeled_count"),
           ("LEASED", "leased_count"), ("MODEL", "model"), ("ENCODER", "encoder"), ("STATE", "state"))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "projects", help="list, create, show, inspect or delete the projects of a running server",
        description="Administer the projects of a running `knn-al serve`.",
        epilog=f"Exit codes: {EXIT_OK} done; {EXIT_REFUSED} the server refused or could not be reached; "
               f"{EXIT_USAGE} bad usage.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every project with its counts, one per line")
    listing.add_argument("--json", action="store_true", help="print one JSON array instead of a table")
    create = actions.add_parser("create", help="create a project and print it as JSON")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--dimension", type=int, default=0,
                        help="the vectors' dimension (0: the encoder's; needed without --encoder)")
    create.add_argument("--encoder", default="", help="embed raw texts or images sent to the project with this "
                                                      "encoder (e.g. use-multilingual, mobilenet_v1; none: vectors only)")
    create.add_argument("--model", choices=MODELS, default="", help="what predicts (default: the server's, knn)")
    create.add_argument("--vector-dtype", choices=VECTOR_DTYPES, default="",
                        help="how the pool stores vectors: float16 halves their memory, similarities to ~3 "
                             "decimal places (default: float32)")
    create.add_argument("--shards", type=int, default=0, metavar="S",
                        help="split the pool over S Ray actors, with the same picks and predictions (needs a server "
                             "started with --ray, and model knn; default: 1, not sharded)")
    create.add_argument("--strategy", choices=STRATEGY_NAMES, default=None,
                        help="the default query strategy (default: the server's, uncertainty_density_diversity)")
    create.add_argument("--labels", nargs="+", default=(), metavar="LABEL",
                        help="fix the label set (default: any label is accepted)")
    create.add_argument("--k", type=int, default=0, help="labeled neighbours per prediction (0: the server's, 10)")
    create.add_argument("--exponents", type=float, nargs=3, default=(), metavar=("U", "D", "V"),
                        help="the combined strategy's exponents of uncertainty, density and diversity "
                             "(default: the server's, 1 1 1)")
    create.add_argument("--target-accuracy", type=float, default=0.0, help="stop when the estimate reaches it (0: no goal)")
    create.add_argument("--label-budget", type=int, default=0, help="stop after this many labels (0: no budget)")
    create.add_argument("--keep-raw", action="store_true", help="keep the raw texts and images added, to show them")
    for action, what in (("show", "a project's settings and counts"), ("stats", "a project's label counts, "
                         "duplicates, outliers and live accuracy estimate"), ("delete", "delete a project")):
        sub = actions.add_parser(action, help=what + ("" if action == "delete" else ", as JSON"))
        sub.add_argument("name", metavar="NAME")
        if action == "delete":
            sub.add_argument("--yes", action="store_true",
                             help="delete without asking (needed when stdin is not a terminal): its items and "
                                  "labels are gone for good")
    for sub in actions.choices.values():
        add_connection_arguments(sub, timeout=60.0)
    parser.set_defaults(func=run)


def _json(record: Any) -> str:
    """A record as JSON; NaN (an estimate with nothing labeled) as null."""
    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(item) for item in value]
        return value

    return json.dumps(clean(dataclasses.asdict(record)), indent=2, ensure_ascii=False)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def _delete(client: Client, args: argparse.Namespace) -> int:
    info = client.get_project(args.name)
    if not args.yes:
        if not sys.stdin.isatty():
            return fail(PROG, f"deleting {args.name!r} destroys its {info.pool_size} items and {info.labeled_count} "
                              "labels: add --yes", EXIT_USAGE)
        answer = input(f"delete project {args.name!r} with {info.pool_size} items and {info.labeled_count} labels? "
                       "[y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted", file=sys.stderr)
            return EXIT_OK
    client.delete_project(args.name)
    if not args.quiet:
        print(f"deleted project {args.name!r} ({info.pool_size} items, {info.labeled_count} labels)", file=sys.stderr)
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    from knn_al.client import Client

    token, tls = connection_options(args)
    # A refusal or an unreachable server (ServiceError) is reported by knn_al.cli.main: exit 1.
    with Client(args.server, token=token, tls=tls, timeout=args.timeout) as client:
        if args.action == "list":
            projects = client.list_projects()
            if args.json:
                print(json.dumps([json.loads(_json(p)) for p in projects], indent=2, ensure_ascii=False))
            elif projects:
                rows = [[str(getattr(p, field)) for _, field in COLUMNS] for p in projects]
                print(_table([[header for header, _ in COLUMNS], *rows]))
            elif not args.quiet:
                print("no projects", file=sys.stderr)
        elif args.action == "create":
            print(_json(client.create_project(
                args.name, args.dimension, k=args.k, default_strategy=args.strategy, labels=args.labels,
                encoder="" if args.encoder == "none" else args.encoder, model=args.model, exponents=args.exponents,
                vector_dtype=args.vector_dtype, shards=args.shards,
                target_accuracy=args.target_accuracy, label_budget=args.label_budget, keep_raw=args.keep_raw)))
        elif args.action == "show":
            print(_json(client.get_project(args.name)))
        elif args.action == "stats":
            print(_json(client.stats(args.name)))
        else:
            return _delete(client, args)
    return EXIT_OK
