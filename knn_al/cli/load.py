"""``knn-al load``: put a dataset directory (the output of ``knn-al embed``) into a project
of a running server.

By default the server reads the directory itself (the LoadDataset RPC: one call, no
vectors on the wire), so the path must be visible to the server at the same absolute
path. ``--upload`` reads the dataset here and streams its vectors with AddItems instead,
for a server on another machine. The client (and grpc) is imported only when the command
runs, so ``knn-al --help`` stays instant.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knn_al.cli.connection import ConnectionOptionError, add_connection_arguments, connection_options
from knn_al.cli.exits import EXIT_REFUSED, EXIT_USAGE, fail
from knn_al.errors import InvalidInputError, KnnAlError
from knn_al.learner.params import MODELS, VECTOR_DTYPES

if TYPE_CHECKING:
    from knn_al.client import Client
    from knn_al.dataset import Dataset

#: Exit codes: the server refused the request or could not be reached; bad local input.


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "load", help="load a dataset directory (from `knn-al embed`) into a project on a running server",
        description="Add every item of a dataset directory to a project of a running `knn-al serve`, "
                    "optionally creating the project and importing the labels the dataset carries. "
                    "The items are added all at once or not at all.",
        epilog=f"Exit codes: 0 loaded; {EXIT_REFUSED} the server refused the load or could not be reached; "
               f"{EXIT_USAGE} the dataset or an option is unusable here.")
    parser.add_argument("dataset", type=Path, metavar="DATASET_DIR", help="dataset directory written by `knn-al embed`")
    parser.add_argument("--project", required=True, metavar="NAME", help="project to add the items to")
    parser.add_argument("--create", action="store_true",
                        help="create the project first if it does not exist, with the dataset's dimension and, "
                             "when the dataset names a registered encoder, that encoder (so raw texts/images "
                             "can be sent to it later)")
    parser.add_argument("--encoder", metavar="NAME",
                        help="with --create: the encoder of the new project, which embeds raw texts/images sent "
                             "to it later (default: the dataset's encoder when it is a registered one; "
                             "'none': vectors only)")
    parser.add_argument("--model", choices=MODELS, default=None,
                        help="with --create: what predicts in the new project: knn (the labeled neighbours vote), "
                             "graph (labels propagate over the pool's neighbour graph) or auto (default: the "
                             "server's, knn)")
    parser.add_argument("--exponents", type=float, nargs=3, default=None, metavar=("U", "D", "V"),
                        help="with --create: the new project's exponents of uncertainty, density and diversity in "
                             "the combined strategy (default: the server's, 1 1 1)")
    parser.add_argument("--vector-dtype", choices=VECTOR_DTYPES, default=None,
                        help="with --create: how the new project stores vectors; float16 halves their memory, "
                             "similarities to ~3 decimal places (default: the server's, float32)")
    parser.add_argument("--import-labels", action="store_true",
                        help="also label the items whose dataset record carries a label (image class folders, "
                             "the `label` field of texts)")
    parser.add_argument("--on-conflict", choices=("error", "skip", "replace"), default="error",
                        help="what to do with dataset items whose id is already in the project: error (the "
                             "default: refuse the whole load), skip (leave them as they are, so that a rerun adds "
                             "only what is new), replace (remove them, with their labels, and add the dataset's)")
    parser.add_argument("--upload", action="store_true",
                        help="read the dataset here and stream its vectors to the server, for a server that "
                             "cannot see DATASET_DIR (default: the server reads the path itself)")
    # Large datasets load slowly: a long default deadline.
    add_connection_arguments(parser, timeout=600.0)
    parser.set_defaults(func=run)


def _fail(message: str, code: int) -> int:
    return fail("load", message, code)


def _project_encoder(requested: str | None, manifest: dict[str, Any]) -> str:
    """The encoder of a project created for the dataset of ``manifest``: ``requested``
    ('none': no encoder); by default the dataset's, if a project can embed raw items with it."""
    from knn_al.encoders import ENCODERS

    if requested is not None:
        return "" if requested == "none" else requested
    known = ENCODERS.get(str(manifest["encoder"]))
    return str(manifest["encoder"]) if known and known[1] == int(manifest["dimension"]) else ""


def run(args: argparse.Namespace) -> int:
    from knn_al.dataset import DatasetError, read_dataset, read_manifest

    try:
        token, tls = connection_options(args)
    except ConnectionOptionError as exc:
        return _fail(str(exc), EXIT_USAGE)
    for option, value in (("--encoder", args.encoder), ("--model", args.model), ("--exponents", args.exponents),
                          ("--vector-dtype", args.vector_dtype)):
        if value is not None and not args.create:
            return _fail(f"{option} is a setting of a project created with --create: add --create", EXIT_USAGE)
    path = args.dataset.resolve()
    try:
        dataset = read_dataset(path) if args.upload else None
        manifest: dict[str, Any] = ({"encoder": dataset.encoder, "dimension": dataset.dimension} if dataset
                                    else read_manifest(path) if args.create else {})
    except DatasetError as exc:
        return _fail(str(exc), EXIT_USAGE)

    from knn_al.client import Client, ServiceError

    created = False
    try:
        with Client(args.server, token=token, tls=tls, timeout=args.timeout) as client:
            if args.create:
                created = _create_if_missing(client, args.project, manifest, _project_encoder(args.encoder, manifest),
                                             model=args.model or "", exponents=args.exponents or (),
                                             vector_dtype=args.vector_dtype or "", quiet=args.quiet)
            try:
                if dataset is None:
                    added, labeled = client.load_dataset(args.project, str(path), import_labels=args.import_labels,
                                                         on_conflict=args.on_conflict)
                else:
                    added, labeled = _upload(client, args.project, dataset, import_labels=args.import_labels,
                                             on_conflict=args.on_conflict)
            except KnnAlError:  # ServiceError included
                if created:  # a refused load leaves no empty project behind
                    client.delete_project(args.project)
                    print(f"deleted the project {args.project!r} created for this load", file=sys.stderr)
                raise
            info = client.get_project(args.project)
    except ServiceError as exc:
        hint = ""
        if dataset is None and exc.message.startswith("cannot load dataset"):
            hint = f"\n(the server reads {path} on its own machine; if it cannot see it there, add --upload)"
        return _fail(f"{exc.code.name}: {exc.message}{hint}", EXIT_REFUSED)
    except KnnAlError as exc:
        return _fail(str(exc), EXIT_USAGE)
    print(f"loaded {added} items into {args.project!r} ({labeled} labels imported); "
          f"pool {info.pool_size}, labeled {info.labeled_count}")
    return 0


def _create_if_missing(client: Client, project: str, manifest: dict[str, Any], encoder: str, *, model: str,
                       exponents: Sequence[float], vector_dtype: str, quiet: bool) -> bool:
    """Create ``project`` for the dataset of ``manifest`` (its dimension) with ``model``,
    ``exponents`` and ``vector_dtype`` (empty: the server's defaults) unless it exists;
    returns whether it was created."""
    from knn_al.client import ServiceError

    try:
        client.get_project(project)
        return False
    except ServiceError as exc:
        if exc.code.name != "NOT_FOUND":
            raise
    dimension = int(manifest["dimension"])
    info = client.create_project(project, dimension, encoder=encoder, model=model, exponents=exponents,
                                 vector_dtype=vector_dtype)
    if not quiet:
        print(f"created project {project!r}: {dimension}-d" + (f", encoder {encoder}" if encoder else ", vectors only")
              + f", model {info.model}, exponents {' '.join(f'{e:g}' for e in info.exponents)}, "
              f"{info.vector_dtype} vectors", file=sys.stderr)
    return True


def _upload(client: Client, project: str, dataset: Dataset, *, import_labels: bool,
            on_conflict: str) -> tuple[int, int]:
    """Stream ``dataset`` to ``project`` with AddItems, then its labels; returns (added, labeled).

    A fixed label set is checked before anything is sent, as the server does for a load by
    path, so labels outside it never leave the items added without their labels. As in a
    load by path, only the items added get the dataset's labels: under "skip", an item
    already in the project keeps its label (a human may have corrected it since).
    """
    known = dataset.known_labels() if import_labels else {}
    allowed = client.get_project(project).labels
    outside = sorted(set(known.values()) - set(allowed)) if allowed else []
    if outside:
        raise InvalidInputError(f"the dataset has labels outside the label set of project {project!r}: {', '.join(outside)} "
                         "(load without --import-labels, or into a project without a fixed label set)")
    present = _pool_ids(client, project) if known and on_conflict == "skip" else set()
    client.add_items(project, dataset.ids, dataset.vectors, dataset.item_metadata(), on_conflict=on_conflict)
    result = client.last_add
    assert result is not None  # set by the add_items just done
    known = {item: label for item, label in known.items() if item not in present}
    if known:
        client.submit_labels(project, known, annotator="dataset")
    return result.added, len(known)


def _pool_ids(client: Client, project: str) -> set[str]:
    """Every id in ``project``'s pool, page by page (pages of the default size fit any reply)."""
    ids: set[str] = set()
    token = ""
    while True:
        page = client.list_items(project, page_token=token)
        ids.update(item.id for item in page.items)
        token = page.next_page_token
        if not token:
            return ids
