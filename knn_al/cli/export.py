"""``knn-al export``: write a project's labels, optionally with the predicted label of
every other item, to a JSONL or CSV file.

Each record is ``id, label, source, confidence``; ``source`` says where the label comes
from: ``human``, ``propagated`` (a labeled duplicate), ``auto`` (a stream's confident
prediction) or ``predicted`` (the kNN prediction, with ``--predictions``). The file is
written atomically: an interrupted export leaves no partial file.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from knn_al.cli.connection import ConnectionOptionError, add_connection_arguments, connection_options
from knn_al.cli.exits import EXIT_REFUSED, EXIT_USAGE

PROG = "knn-al export"
FIELDS = ("id", "label", "source", "confidence")
FORMATS = ("jsonl", "csv")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="write a project's labels (and optionally predictions) to JSONL or CSV",
        description="Export the human labels of a project and the labels they propagated to duplicates; with "
                    "--predictions also the streams' auto labels and the predicted label and confidence of "
                    "every other pool item.",
        epilog=f"Exit codes: 0 written; {EXIT_REFUSED} the server refused or could not be reached; "
               f"{EXIT_USAGE} an unusable option.")
    parser.add_argument("--project", required=True, metavar="NAME", help="project to export")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE",
                        help="output file; its suffix (.jsonl or .csv) picks the format unless --format is given")
    parser.add_argument("--format", choices=FORMATS, help="output format (default: from the --out suffix)")
    parser.add_argument("--predictions", action="store_true",
                        help="also export auto labels and the predicted label of every unlabeled pool item")
    add_connection_arguments(parser, timeout=600.0)
    parser.set_defaults(func=run)


def render(records: Iterable[Any], fmt: str) -> bytes:
    """Records (with ``id``, ``label``, ``source``, ``confidence``) as JSONL or CSV bytes."""
    rows = [{name: getattr(r, name) for name in FIELDS} for r in records]
    if fmt == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode()


def run(args: argparse.Namespace) -> int:
    from knn_al.atomic import atomic_write

    fmt = args.format or args.out.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        print(f"{PROG}: cannot tell the format of {args.out}: name it .jsonl or .csv, or give --format",
              file=sys.stderr)
        return EXIT_USAGE
    if not args.out.parent.is_dir():
        print(f"{PROG}: directory {args.out.parent} does not exist", file=sys.stderr)
        return EXIT_USAGE
    try:
        token, tls = connection_options(args)
    except ConnectionOptionError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_USAGE

    from knn_al.client import Client, ServiceError

    try:
        with Client(args.server, token=token, tls=tls, timeout=args.timeout) as client:
            records = client.export(args.project, include_predictions=args.predictions)
    except ServiceError as exc:
        print(f"{PROG}: {exc.code.name}: {exc.message}", file=sys.stderr)
        return EXIT_REFUSED
    atomic_write(args.out, lambda f: f.write(render(records, fmt)))
    counts: dict[str, int] = {}
    for r in records:
        counts[r.source] = counts.get(r.source, 0) + 1
    summary = ", ".join(f"{n} {source}" for source, n in counts.items()) or "nothing labeled yet"
    print(f"wrote {len(records)} records to {args.out} ({summary})")
    return 0
