"""``knn-al serve``: run the gRPC service (and, with --http-port, the HTTP/JSON API and the labeling page)
over a data directory of projects."""
from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

from knn_al.cli.connection import add_data_dir_argument, add_token_arguments, token_file_of, token_of
from knn_al.errors import KnnAlError
from knn_al.server.config import default_of
from knn_al.server.logs import FORMATS, LEVELS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the gRPC service over a data directory of projects",
        description="Serve the knn_al.v1.ActiveLearning gRPC service (with health checking and reflection) "
                    "for every project under --data-dir; with --http-port, also an HTTP/JSON API (/api/v1, described "
                    "at /api/v1/openapi.json) and the labeling page (/). Stops gracefully on SIGTERM/SIGINT.")
    add_data_dir_argument(parser)
    parser.add_argument("--host", default=default_of("host"),
                        help="interface to listen on (0.0.0.0 / [::] for all); without a token, the HTTP API answers "
                             "only to IP addresses, localhost and this name")
    parser.add_argument("--port", type=int, default=default_of("port"), help="port to listen on; 0 picks a free one (printed)")
    parser.add_argument("--http-port", type=int, default=default_of("http_port"), metavar="PORT",
                        help="also serve the HTTP/JSON API and the labeling page on this port (0 picks a free one, "
                             "printed); same token and TLS as gRPC")
    parser.add_argument("--media-root", type=Path, action="append", default=[], metavar="DIR",
                        help="a directory whose files the HTTP API may serve as items' images, when their metadata "
                             "names them (repeatable); no other file is served")
    add_token_arguments(parser, serving=True)
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate chain; serve TLS (with --tls-key)")
    parser.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    parser.add_argument("--max-message-mb", type=float, default=default_of("max_message_mb"),
                        help="largest request or response message, in MiB (larger ones: RESOURCE_EXHAUSTED)")
    parser.add_argument("--max-upload-items", type=int, default=default_of("max_upload_items"),
                        help="most items one AddItems stream may carry")
    parser.add_argument("--max-upload-mb", type=float, default=default_of("max_upload_mb"),
                        help="most MiB one AddItems stream may carry (refused at the chunk that crosses it)")
    parser.add_argument("--max-lease", type=float, default=default_of("max_lease_seconds"), metavar="SECONDS",
                        help="longest lease any call or project may ask for, in seconds (default: 24 h)")
    parser.add_argument("--dataset-root", type=Path, action="append", default=[], metavar="DIR",
                        help="a directory LoadDataset may read datasets from (repeatable); the data directory and "
                             "the working directory always are")
    parser.add_argument("--workers", type=int, default=default_of("workers"), help="threads running learner work off the event loop")
    parser.add_argument("--grace", type=float, default=default_of("grace_seconds"), help="seconds in-flight calls get to finish at shutdown")
    parser.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                        help="serve Prometheus metrics at http://HOST:PORT/metrics (0 picks a free one, printed): "
                             "per-call latency and status counts, labels by annotator, per-project gauges; no token "
                             "or TLS, so keep the port private (default: no metrics)")
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="serve sharded projects (shards > 1) with one Ray actor per shard: join the Ray cluster "
                             "at ADDRESS (e.g. auto, ray://head:10001), or without ADDRESS start one on this machine")
    parser.add_argument("--log-level", choices=LEVELS, default="info",
                        help="least severe log records shown (--quiet: warning)")
    parser.add_argument("--log-format", choices=FORMATS, default="text",
                        help="text, or json: one JSON object per line, with an access-log line per call (method, "
                             "project, annotator, ms, status)")
    parser.set_defaults(func=run, extra="server")


#: The flag of each ServerConfig field whose name differs from it.
_FLAG_OF = {"max_lease_seconds": "--max-lease", "grace_seconds": "--grace", "max_message_mb": "--max-message-mb",
            "max_upload_items": "--max-upload-items", "max_upload_mb": "--max-upload-mb", "workers": "--workers",
            "port": "--port", "http_port": "--http-port", "media_roots": "--media-root",
            "metrics_port": "--metrics-port"}


def run(args: argparse.Namespace) -> int:
    """Serve; a start-up problem is one line on stderr and exit code 2, with nothing created."""
    import asyncio

    from knn_al.server.app import StartupError, serve
    from knn_al.server.config import ServerConfig
    from knn_al.server.logs import configure as configure_logging

    configure_logging(level="warning" if args.quiet and args.log_level == "info" else args.log_level,
                      fmt=args.log_format)
    try:
        token = token_of(args)
        config = ServerConfig(data_dir=args.data_dir, host=args.host, port=args.port, token=token,
                              token_file=token_file_of(args),
                              tls_cert=args.tls_cert, tls_key=args.tls_key, max_message_mb=args.max_message_mb,
                              max_upload_items=args.max_upload_items, max_upload_mb=args.max_upload_mb,
                              max_lease_seconds=args.max_lease, dataset_roots=tuple(args.dataset_root),
                              workers=args.workers, grace_seconds=args.grace, http_port=args.http_port,
                              media_roots=tuple(args.media_root), metrics_port=args.metrics_port,
                              ray=args.ray)
    except KnnAlError as exc:
        # ServerConfig names its fields; the user typed flags.
        message = re.sub(r"\b\w+\b", lambda word: _FLAG_OF.get(word.group(), word.group()), str(exc))
        print(f"knn-al serve: {message}", file=sys.stderr)
        return 2
    if token and not args.tls_cert and args.host not in ("127.0.0.1", "localhost", "::1"):
        logging.warning("a token without TLS travels in clear text; add --tls-cert/--tls-key")
    try:
        asyncio.run(serve(config))
    except (StartupError, OSError) as exc:
        print(f"knn-al serve: {exc}", file=sys.stderr)
        return 2
    return 0
