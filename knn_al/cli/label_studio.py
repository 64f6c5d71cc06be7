"""``knn-al label-studio``: run the Label Studio ML backend (knn_al.label_studio) against a
running ``knn-al serve``, so that a Label Studio project's queue follows knn-al's picks."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from knn_al.cli.connection import ConnectionOptionError, add_connection_arguments, connection_options
from knn_al.cli.exits import EXIT_REFUSED, EXIT_USAGE
from knn_al.label_studio.predictions import RANKED

if TYPE_CHECKING:
    from knn_al.label_studio.bridge import Bridge
    from knn_al.label_studio.rest import LabelStudioApi

PROG = "knn-al label-studio"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "label-studio", help="run a Label Studio ML backend backed by a knn-al server",
        description="Serve Label Studio's ML backend protocol (GET /health, POST /setup, /predict, /webhook): "
                    "each Label Studio project gets the knn-al project label-studio-<id>, its tasks become "
                    "items, its annotations labels, and its predictions' scores knn-al's pick order.",
        epilog=f"Exit codes: 0 stopped; {EXIT_REFUSED} the knn-al server (or Label Studio, with "
               "--label-studio-url) refused or could not be reached; "
               f"{EXIT_USAGE} an unusable option or port.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 when Label Studio runs elsewhere)")
    parser.add_argument("--port", type=int, default=9090, help="port to listen on (default 9090; 0 picks a free one)")
    add_connection_arguments(parser, timeout=120.0)
    back = parser.add_argument_group(
        "calling back into Label Studio",
        "The bridge reads a project's tasks (and fetches image tasks' files) and stores predictions through "
        "Label Studio's API. By default it uses the hostname and token each project's /setup sends, which "
        "needs Label Studio's HOST setting to be a URL the bridge can reach; with these options it uses its "
        "own, for every project, from the start.")
    back.add_argument("--label-studio-url", metavar="URL", default=os.environ.get("LABEL_STUDIO_URL") or None,
                      help="Label Studio's URL, e.g. http://localhost:8080 (default: $LABEL_STUDIO_URL)")
    back.add_argument("--label-studio-token-file", type=Path, metavar="FILE",
                      help="read Label Studio's legacy API token (Account & Settings) from this file "
                           "(default: $LABEL_STUDIO_API_KEY)")
    parser.add_argument("--window", type=_window, default=RANKED, metavar="N",
                        help=f"how many of knn-al's next picks get ranked scores, the rest scoring 1 (default {RANKED}; at "
                             "least the number of annotators labeling at once + 1: Label Studio hands each of them "
                             "one of the lowest scores)")
    parser.add_argument("--project-prefix", default="label-studio", metavar="PREFIX",
                        help="Label Studio project N is served by knn-al project PREFIX-N (default label-studio; "
                             "give each Label Studio instance sharing a knn-al server its own)")
    parser.set_defaults(func=run, extra="label-studio")


def _window(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10_000:
        raise argparse.ArgumentTypeError(f"must be a whole number between 1 and 10000, got {text!r}")
    return int(text)


def label_studio_api(args: argparse.Namespace) -> LabelStudioApi | None:
    """The bridge's own way into Label Studio from the options (None: each /setup's)."""
    from knn_al.label_studio.rest import LabelStudioApi, LabelStudioError

    try:
        token = (args.label_studio_token_file.read_text(encoding="utf-8").strip() if args.label_studio_token_file
                 else os.environ.get("LABEL_STUDIO_API_KEY", "").strip())
    except OSError as exc:
        raise ConnectionOptionError(f"cannot read {exc.filename}: {exc.strerror}") from None
    if not args.label_studio_url:
        if args.label_studio_token_file:
            raise ConnectionOptionError("--label-studio-token-file needs --label-studio-url (or $LABEL_STUDIO_URL)")
        return None
    if not token:
        raise ConnectionOptionError("--label-studio-url needs Label Studio's token: --label-studio-token-file FILE "
                                    "or $LABEL_STUDIO_API_KEY")
    if token.count(".") == 2:  # a JWT: Label Studio's personal access tokens are refreshed, not sent as they are
        raise ConnectionOptionError("that is a personal access token; the bridge uses Label Studio's legacy token "
                                    "(Account & Settings > Legacy Token, enabled for the organization)")
    try:
        return LabelStudioApi(hostname=args.label_studio_url, token=token)
    except LabelStudioError as exc:
        raise ConnectionOptionError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    import asyncio

    from knn_al.client import Client, ServiceError

    from knn_al.label_studio.bridge import Bridge
    from knn_al.label_studio.rest import LabelStudioError

    try:
        token, tls = connection_options(args)
        api = label_studio_api(args)
    except ConnectionOptionError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if api is not None:
        try:  # a wrong URL or token: say so now, not at the first annotation
            api.call("GET", "/api/current-user/whoami")
        except LabelStudioError as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            return EXIT_REFUSED
    with Client(args.server, token=token, tls=tls, timeout=args.timeout) as client:
        try:
            client.list_projects()  # refused (a wrong token) or unreachable: say so now, not at /setup
        except ServiceError as exc:
            print(f"{PROG}: {args.server}: {exc.code.name}: {exc.message}", file=sys.stderr)
            return EXIT_REFUSED
        bridge = Bridge(client, prefix=args.project_prefix, ranked=args.window, label_studio=api)
        try:
            asyncio.run(_serve(bridge, host=args.host, port=args.port))
        except OSError as exc:
            print(f"{PROG}: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            pass
    return 0


async def _serve(bridge: Bridge, *, host: str, port: int) -> None:
    """Serve until SIGTERM (or Ctrl-C), printing where once listening."""
    import asyncio
    import signal

    from aiohttp import web

    from knn_al.label_studio.backend import make_app

    runner = web.AppRunner(make_app(bridge))
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
