"""Options shared by the commands that talk to a running server, and the environment
variables that give them defaults.

Precedence, for every such option: the flag, then its environment variable, then the
built-in default. ``--help`` shows each variable and whether it is set (never a token's
value). The server's own ``--token``/``--token-file`` and ``--data-dir`` read the same
variables, so one shell set-up serves both ends.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from knn_al.errors import InvalidInputError

__all__ = ["ConnectionOptionError", "ENV_DATA_DIR", "ENV_SERVER", "ENV_TOKEN", "ENV_TOKEN_FILE",
           "add_connection_arguments", "add_data_dir_argument", "add_token_arguments", "connection_options",
           "token_file_of", "token_of"]

ENV_SERVER = "KNN_AL_SERVER"
ENV_TOKEN = "KNN_AL_TOKEN"
ENV_TOKEN_FILE = "KNN_AL_TOKEN_FILE"
ENV_DATA_DIR = "KNN_AL_DATA_DIR"


class ConnectionOptionError(InvalidInputError):
    """A connection option cannot be used (an unreadable or empty file)."""


def _env(name: str) -> str | None:
    """The variable's value; unset and empty alike are None."""
    return os.environ.get(name) or None


def _shown(name: str, *, secret: bool = False) -> str:
    value = _env(name)
    return f"${name}, {'set' if secret else repr(value)}" if value else f"${name}, unset"


def add_token_arguments(parser: argparse.ArgumentParser, *, serving: bool) -> None:
    """``--token`` / ``--token-file``, defaulting to $KNN_AL_TOKEN, then $KNN_AL_TOKEN_FILE."""
    auth = parser.add_mutually_exclusive_group()
    what = ("require 'authorization: Bearer TOKEN' on every call but health checks" if serving
            else "bearer token of the server (visible in `ps`: prefer --token-file)")
    auth.add_argument("--token", help=f"{what} (default: {_shown(ENV_TOKEN, secret=True)})")
    auth.add_argument("--token-file", type=Path,
                      help=f"read the token from this file, keeping it out of `ps` (default: {_shown(ENV_TOKEN_FILE)}; "
                           f"${ENV_TOKEN} wins when both are set)")


def add_connection_arguments(parser: argparse.ArgumentParser, *, timeout: float) -> None:
    """``--server``, ``--token``/``--token-file``, ``--tls-ca`` and ``--timeout``."""
    server = _env(ENV_SERVER)
    parser.add_argument("--server", required=server is None, default=server, metavar="HOST:PORT",
                        help=f"address of the running `knn-al serve` (default: {_shown(ENV_SERVER)}; "
                             "required when unset)")
    add_token_arguments(parser, serving=False)
    parser.add_argument("--tls-ca", type=Path, metavar="PEM",
                        help="connect with TLS, trusting this root certificate (the server's own, if self-signed)")
    parser.add_argument("--timeout", type=float, default=timeout,
                        help=f"seconds each call may take before giving up (default {timeout:g})")


def add_data_dir_argument(parser: argparse.ArgumentParser, *, positional: bool = False) -> None:
    """The data directory of a server: ``--data-dir`` (``DATA_DIR`` when ``positional``),
    defaulting to $KNN_AL_DATA_DIR."""
    default = _env(ENV_DATA_DIR)
    help_text = f"the directory holding one sub-directory per project (default: {_shown(ENV_DATA_DIR)}"
    if positional:
        parser.add_argument("data_dir", type=Path, metavar="DATA_DIR", nargs="?" if default else None,
                            default=Path(default) if default else None, help=f"{help_text})")
    else:
        parser.add_argument("--data-dir", type=Path, required=default is None, default=Path(default) if default else None,
                            help=f"{help_text}; required when unset)")


def token_of(args: argparse.Namespace) -> str | None:
    """The token of --token or --token-file, else of $KNN_AL_TOKEN or $KNN_AL_TOKEN_FILE;
    None when none is given. :class:`ConnectionOptionError` says what is wrong with one."""
    if args.token is not None:
        if not args.token.strip():
            raise ConnectionOptionError("--token is empty: give a token, or leave the flag out to go without one")
        return str(args.token)
    if args.token_file is not None:
        return _read_token(args.token_file, "--token-file")
    if _env(ENV_TOKEN):
        return str(_env(ENV_TOKEN)).strip()
    path = _env(ENV_TOKEN_FILE)
    return _read_token(Path(path), f"${ENV_TOKEN_FILE}") if path else None


def token_file_of(args: argparse.Namespace) -> Path | None:
    """The file :func:`token_of` read the token from, if it read one."""
    if args.token is not None or args.token_file is not None:
        return args.token_file
    path = _env(ENV_TOKEN_FILE)
    return Path(path) if path and not _env(ENV_TOKEN) else None


def _read_token(path: Path, named: str) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConnectionOptionError(f"{named} {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConnectionOptionError(f"{named} {path} cannot be read ({exc})") from None
    if not token:
        raise ConnectionOptionError(f"{named} {path} is empty")
    return token


def connection_options(args: argparse.Namespace) -> tuple[str | None, bytes | None]:
    """(token, TLS root certificate) from the parsed options and the environment."""
    token = token_of(args)
    try:
        tls = args.tls_ca.read_bytes() if args.tls_ca else None
    except OSError as exc:
        raise ConnectionOptionError(f"--tls-ca {exc.filename}: {exc.strerror}") from None
    return token, tls
