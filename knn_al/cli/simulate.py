"""``knn-al simulate``: replay a labeled dataset directory and report labels vs accuracy."""
from __future__ import annotations

import argparse
from pathlib import Path

from knn_al.cli.connection import add_token_arguments, token_of
from knn_al.learner.strategies import STRATEGY_NAMES
from knn_al.learner.types import DEFAULT_EXPONENTS
from knn_al.learner.params import MODELS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate", help="measure how many labels each strategy needs, on a labeled dataset",
        description="Replay a labeled dataset directory (the output of `knn-al embed` on data with known labels) "
                    "as if an annotator answered every pick with the true label: K-fold, one learning curve per "
                    "strategy (random always included), scored on the held-out fold. Writes curves.csv, "
                    "summary.json, summary.txt and learning_curves.png to --out and prints the table. A pool "
                    "that runs out of candidates before the budget (near-duplicates share one pick) ends its "
                    "replay there; the report says after how many labels.")
    add_replay_arguments(parser)
    parser.add_argument("dataset", type=Path, metavar="DATASET_DIR", help="dataset directory with known labels")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGY_NAMES), choices=STRATEGY_NAMES,
                        metavar="STRATEGY", help=f"strategies to compare (default: all: {' '.join(STRATEGY_NAMES)})")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: ./simulation-DATASET)")
    parser.add_argument("--via-server", metavar="ADDRESS", default=None,
                        help="drive a running `knn-al serve` at HOST:PORT through gRPC instead of in-process")
    add_token_arguments(parser, serving=False)
    parser.set_defaults(func=run, extra="sim")


def add_replay_arguments(parser: argparse.ArgumentParser, *, budget: int = 200, every: int = 10) -> None:
    """The replay options shared by ``simulate`` and ``demo``."""
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument("--budget", type=int, default=budget, help=f"labels per replay (default {budget})")
    parser.add_argument("--every", type=int, default=every, help=f"score the held-out fold every N labels (default {every})")
    parser.add_argument("--target", type=float, nargs="+", default=[0.95], metavar="SHARE",
                        help="report labels needed to reach these shares of full-data accuracy, e.g. 0.9 0.95 "
                             "(default 0.95)")
    parser.add_argument("--k", type=int, default=None, help="labeled neighbours per prediction (default: the learner's)")
    parser.add_argument("--duplicate-threshold", type=float, default=None, metavar="T",
                        help="items at least this similar form a duplicate group whose members share one pick "
                             "and one label (default: the learner's, 0.95; 1: identical vectors only)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=["knn"], metavar="MODEL",
                        help="what predicts, each model with every strategy: knn (the labeled neighbours vote), "
                             "graph (labels propagate over the pool's neighbour graph), auto (the one with the "
                             "better leave-one-out accuracy so far); curves of graph and auto are named "
                             "STRATEGY@MODEL; random with knn is the baseline (default: knn)")
    parser.add_argument("--exponents", type=float, nargs=3, default=list(DEFAULT_EXPONENTS), metavar=("U", "D", "V"),
                        help="the combined strategy's exponents of uncertainty, density and diversity, in every "
                             "replay (default: 1 1 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the folds and of every pick (default 0)")
    parser.add_argument("--table-at", type=int, nargs="+", default=None, metavar="N",
                        help="label counts shown in the table (default: 1, 2, 3, 5 × 10^e and the budget)")


def replay_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of :func:`~knn_al.simulation.execute.simulate_dataset` set by
    :func:`add_replay_arguments`."""
    return {"folds": args.folds, "budget": args.budget, "every": args.every, "targets": args.target,
            "exponents": tuple(args.exponents),
            "seed": args.seed, "k": args.k, "duplicate_threshold": args.duplicate_threshold, "models": args.models,
            "table_at": args.table_at}


def run(args: argparse.Namespace) -> int:
    from knn_al.dataset import read_dataset
    from knn_al.simulation.execute import simulate_dataset

    # An unusable dataset or option (exit 2) or a server's refusal (exit 1) is reported by
    # knn_al.cli.main, in one line.
    dataset = read_dataset(args.dataset)
    out = args.out or Path(f"simulation-{args.dataset.resolve().name}")
    token = token_of(args) if args.via_server else None
    _, table = simulate_dataset(dataset, out=out, strategies=args.strategies, via_server=args.via_server,
                                token=token, title=f"{args.dataset.name}: {args.folds}-fold replay",
                                progress=not args.quiet, **replay_options(args))
    print(table)
    print(f"\nwrote {out}/: curves.csv, summary.json, summary.txt, learning_curves.png")
    return 0
