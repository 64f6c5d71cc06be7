"""``knn-al embed``: the batch embedding job on the command line."""
from __future__ import annotations

import argparse
import sys

from knn_al.encoders import DEFAULT_ENCODER, ENCODERS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``embed`` sub-command to the ``knn-al`` parser."""
    parser = subparsers.add_parser(
        "embed", help="embed a folder of images or a JSONL/CSV of texts into a dataset directory",
        description="Embed raw items into a dataset directory (vector shards, ids, metadata, manifest). "
                    "Rerunning the same command after an interruption resumes it: finished shards are kept.",
)
    parser.add_argument("input", help="a folder of images (optionally one sub-folder per class, whose name "
                                      "becomes the known label) or a .jsonl/.csv file of texts with fields "
                                      "id, text and optionally label")
    parser.add_argument("-o", "--output", required=True, help="the dataset directory to write (new or empty, "
                                                              "or one left by an interrupted run to resume)")
    parser.add_argument("--encoder", default=None,
                        help=f"encoder name ({', '.join(ENCODERS)}) or a local SavedModel directory; default: "
                             f"{DEFAULT_ENCODER['text']} for texts, {DEFAULT_ENCODER['image']} for images")
    parser.add_argument("--handle", default=None,
                        help="for mobilenet_v2/use: a TF-Hub/Kaggle URL or local SavedModel directory replacing "
                             "the default TF-Hub handle (TFHUB_CACHE_DIR is honoured for mirrored caches)")
    parser.add_argument("--batch-size", type=int, default=64, help="items encoded per call of the encoder (default: %(default)s)")
    parser.add_argument("--shard-size", type=int, default=4096,
                        help="items per vector shard; the unit of resumption after an interruption "
                             "(default: %(default)s)")
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local (default): in this process; ray: Ray Data actors (a local Ray unless "
                             "--ray-address)")
    parser.add_argument("--ray-address", default=None, help="address of a running Ray cluster (engine ray)")
    parser.add_argument("--ray-actors", type=int, default=1, help="encoder actors to run (engine ray; default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the job; exit 0 when the dataset is complete (failed items are listed, not
    fatal), 2 on unusable input or options, 1 when the encoder's model cannot be loaded,
    130 when interrupted (rerun to resume)."""
    from knn_al.embedding.job import run_embedding
    from knn_al.encoders import EncoderUnavailableError
    from knn_al.errors import KnnAlError

    if args.ray_actors < 1:
        print("knn-al embed: error: --ray-actors must be at least 1", file=sys.stderr)
        return 2
    if args.engine != "ray" and (args.ray_address or args.ray_actors != 1):
        print("knn-al embed: error: --ray-address and --ray-actors need --engine ray", file=sys.stderr)
        return 2
    try:
        summary = run_embedding(
            args.input, args.output, encoder=args.encoder,
            encoder_options={"handle": args.handle} if args.handle else None,
            batch_size=args.batch_size, shard_size=args.shard_size, engine=args.engine,
            ray_address=args.ray_address, ray_actors=args.ray_actors, progress=not args.quiet)
    except EncoderUnavailableError as exc:
        print(f"knn-al embed: error: {exc}", file=sys.stderr)
        return 1
    except KnnAlError as exc:  # InputError, DatasetError, UnknownEncoderError, ...
        print(f"knn-al embed: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"knn-al embed: interrupted; rerun the same command to resume {args.output}", file=sys.stderr)
        return 130
    for failure in summary.failed:
        print(f"failed: {failure['id']}: {failure['error']}", file=sys.stderr)
    print(f"embedded {summary.count} items with {summary.encoder} ({summary.dimension}-d) into {summary.output} "
          f"in {summary.seconds:.1f} s; "
          f"{len(summary.failed)} failed and skipped"
          + (f"; {summary.resumed_shards} of {summary.shard_count} shards reused from an earlier run"
             if summary.resumed_shards else ""))
    return 0
