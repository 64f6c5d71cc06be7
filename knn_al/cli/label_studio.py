"""``knn-al label-studio``: run the Label Studio ML backend (knn_al.label_studio) against a
running ``knn-al serve``, so that a Label Studio project's queue follows knn-al's picks."""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from knn_al.cli.connection import ConnectionOptionError, add_connection_arguments, connection_options
from knn_al.cli.exits import EXIT_REFUSED, EXIT_USAGE

if TYPE_CHECKING:
    from knn_al.client import Client

PROG = "knn-al label-studio"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "label-studio", help="run a Label Studio ML backend backed by a knn-al server",
        description="Serve Label Studio's ML backend protocol (GET /health, POST /setup, /predict, /webhook): "
                    "each Label Studio project gets the knn-al project label-studio-<id>, its tasks become "
                    "items, its annotations labels, and its predictions' scores knn-al's pick order.",
        epilog=f"Exit codes: 0 stopped; {EXIT_REFUSED} the knn-al server refused or could not be reached; "
               f"{EXIT_USAGE} an unusable option or port.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 when Label Studio runs elsewhere)")
    parser.add_argument("--port", type=int, default=9090, help="port to listen on (default 9090; 0 picks a free one)")
    add_connection_arguments(parser, timeout=120.0)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from knn_al.client import Client, ServiceError

    try:
        token, tls = connection_options(args)
    except ConnectionOptionError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with Client(args.server, token=token, tls=tls, timeout=args.timeout) as client:
        try:
            client.list_projects()  # refused (a wrong token) or unreachable: say so now, not at /setup
        except ServiceError as exc:
            print(f"{PROG}: {args.server}: {exc.code.name}: {exc.message}", file=sys.stderr)
            return EXIT_REFUSED
        try:
            asyncio.run(_serve(client, host=args.host, port=args.port))
        except OSError as exc:
            print(f"{PROG}: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            pass
    return 0


async def _serve(client: Client, *, host: str, port: int) -> None:
    """Serve until SIGTERM (or Ctrl-C), printing where once listening."""
    import asyncio
    import signal

    from aiohttp import web

    from knn_al.label_studio.backend import make_app
    from knn_al.label_studio.bridge import Bridge

    runner = web.AppRunner(make_app(Bridge(client)))
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        bound = runner.addresses[0]
        print(f"knn-al label-studio backend on {host}:{bound[1]}", flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
