"""Command-line options shared by the commands that talk to a running server."""
from __future__ import annotations

import argparse
from pathlib import Path

from knn_al.errors import InvalidInputError


class ConnectionOptionError(InvalidInputError):
    """A connection option cannot be used (an unreadable or empty file)."""


def add_connection_arguments(parser: argparse.ArgumentParser, *, timeout: float) -> None:
    """``--server``, ``--token``/``--token-file``, ``--tls-ca`` and ``--timeout``."""
    parser.add_argument("--server", required=True, metavar="HOST:PORT", help="address of the running `knn-al serve`")
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument("--token", help="bearer token of the server (visible in `ps`: prefer --token-file)")
    auth.add_argument("--token-file", type=Path, help="read the server's bearer token from this file")
    parser.add_argument("--tls-ca", type=Path, metavar="PEM",
                        help="connect with TLS, trusting this root certificate (the server's own, if self-signed)")
    parser.add_argument("--timeout", type=float, default=timeout,
                        help=f"seconds each call may take before giving up (default {timeout:g})")


def connection_options(args: argparse.Namespace) -> tuple[str | None, bytes | None]:
    """(token, TLS root certificate) from the parsed options."""
    try:
        token = args.token_file.read_text(encoding="utf-8").strip() if args.token_file else args.token
        tls = args.tls_ca.read_bytes() if args.tls_ca else None
    except OSError as exc:
        raise ConnectionOptionError(f"cannot read {exc.filename}: {exc.strerror}") from None
    if args.token_file and not token:
        raise ConnectionOptionError(f"{args.token_file} is empty")
    return token, tls
