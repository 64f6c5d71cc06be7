"""``knn-al export``: write a project's labels, optionally with the predicted label of
every other item, as JSONL, CSV, Parquet or Label Studio's import JSON, to a file or stdout.

Each record is ``id, label, source, confidence, annotator, labeled_at, metadata``;
``source`` says where the label comes from: ``human``, ``propagated`` (a labeled
duplicate), ``auto`` (a stream's confident prediction), ``predicted`` (with
``--predictions``) or ``skipped``. ``labeled_at`` is an ISO 8601 UTC time for a human label
(empty otherwise). A file is written atomically: an interrupted export leaves no partial file.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from knn_al.cli.connection import add_connection_arguments, connection_options
from knn_al.cli.exits import EXIT_REFUSED, EXIT_USAGE, fail
from knn_al.projects.records import ExportRecord

PROG = "export"
FIELDS = ("id", "label", "source", "confidence", "annotator", "labeled_at", "metadata")
FORMATS = ("jsonl", "csv", "parquet", "label-studio")
#: The format of each file suffix; stdout (``-o -``) is JSONL unless --format says otherwise.
SUFFIXES = {".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet", ".json": "label-studio"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="write a project's labels (and optionally predictions) as JSONL, CSV, Parquet or Label "
                       "Studio tasks",
        description="Export the human labels of a project (with annotator and time) and the labels they propagated "
                    "to duplicates, each with its item's metadata; with --predictions also the streams' auto labels "
                    "and the predicted label and confidence of every other pool item. Label Studio's import JSON "
                    "makes human labels annotations and the others predictions.",
        epilog=f"Exit codes: 0 written; {EXIT_REFUSED} the server refused or could not be reached (or pyarrow is "
               f"missing, for Parquet); {EXIT_USAGE} an unusable option.")
    parser.add_argument("--project", required=True, metavar="NAME", help="project to export")
    parser.add_argument("-o", "--out", required=True, metavar="FILE",
                        help="output file, or - for stdout; its suffix (.jsonl, .csv, .parquet, .json for Label "
                             "Studio) picks the format unless --format is given")
    parser.add_argument("--format", choices=FORMATS, help="output format (default: from the --out suffix; "
                                                          "JSONL on stdout)")
    parser.add_argument("--predictions", action="store_true",
                        help="also export auto labels and the predicted label of every unlabeled pool item")
    parser.add_argument("--label-config", type=Path, metavar="XML",
                        help="with --format label-studio: the Label Studio project's labeling config, whose "
                             "<Choices> the annotations fill (default: <Choices name=\"label\" toName=\"text\">)")
    add_connection_arguments(parser, timeout=600.0)
    parser.set_defaults(func=run)


def _time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z") \
        if seconds else ""


def _rows(records: Sequence[ExportRecord]) -> list[dict[str, Any]]:
    return [{"id": r.id, "label": r.label, "source": r.source, "confidence": r.confidence, "annotator": r.annotator,
             "labeled_at": _time(r.labeled_at), "metadata": r.metadata} for r in records]


def render(records: Sequence[ExportRecord], fmt: str, *, label_config: str | None = None) -> bytes:
    """Records in format ``fmt`` (one of :data:`FORMATS`), as the bytes of a file."""
    if fmt == "label-studio":
        from knn_al.label_studio.config import parse_config
        from knn_al.label_studio.tasks import default_config, import_tasks

        config = parse_config(label_config) if label_config else default_config(r.label for r in records)
        return json.dumps(import_tasks(records, config), ensure_ascii=False, indent=1).encode()
    rows = _rows(records)
    if fmt == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
    for row in rows:  # a flat table: metadata as a JSON text
        row["metadata"] = json.dumps(row["metadata"], ensure_ascii=False)
    if fmt == "csv":
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return text.getvalue().encode()
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({name: [row[name] for row in rows] for name in FIELDS},
                     schema=pa.schema([(name, pa.float64() if name == "confidence" else pa.string())
                                       for name in FIELDS]))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def run(args: argparse.Namespace) -> int:
    from knn_al.atomic import atomic_write

    to_stdout = args.out == "-"
    out = None if to_stdout else Path(args.out)
    fmt = args.format or ("jsonl" if out is None else SUFFIXES.get(out.suffix.lower(), ""))
    if not fmt:
        return fail(PROG, f"cannot tell the format of {args.out}: name it {', '.join(SUFFIXES)}, or give --format",
                    EXIT_USAGE)
    if args.label_config and fmt != "label-studio":
        return fail(PROG, "--label-config is for --format label-studio", EXIT_USAGE)
    if out is not None and not out.parent.is_dir():
        return fail(PROG, f"directory {out.parent} does not exist", EXIT_USAGE)
    try:
        label_config = args.label_config.read_text(encoding="utf-8") if args.label_config else None
    except (OSError, UnicodeDecodeError) as exc:
        return fail(PROG, f"--label-config {args.label_config}: {exc}", EXIT_USAGE)
    token, tls = connection_options(args)
    if fmt == "parquet":
        import pyarrow  # noqa: F401  (before the export is fetched: a missing extra is said at once)

    from knn_al.client import Client

    # A refusal or an unreachable server (ServiceError) is reported by knn_al.cli.main: exit 1;
    # a label outside --label-config's choices (an InvalidInputError of render): exit 2.
    with Client(args.server, token=token, tls=tls, timeout=args.timeout) as client:
        records = client.export(args.project, include_predictions=args.predictions)
    content = render(records, fmt, label_config=label_config)
    if out is None:
        try:
            sys.stdout.buffer.write(content)
            sys.stdout.flush()
        except BrokenPipeError:  # `knn-al export -o - | head`: the reader has had enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            return 0
    else:
        atomic_write(out, lambda f: f.write(content))
    if not args.quiet:
        counts: dict[str, int] = {}
        for r in records:
            counts[r.source] = counts.get(r.source, 0) + 1
        summary = ", ".join(f"{n} {source}" for source, n in counts.items()) or "nothing labeled yet"
        print(f"wrote {len(records)} records to {'stdout' if out is None else out} as {fmt} ({summary})",
              file=sys.stderr)
    return 0
