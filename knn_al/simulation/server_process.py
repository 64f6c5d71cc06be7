"""A ``knn-al serve`` subprocess on a loopback port: for the demo, the tests and the benchmarks.

A separate process, so its callers talk to the server exactly as any client would, and the
library never imports grpc. The server starts when the object is made (``port`` 0 asks for a
free port, read back from the line the server prints once it listens) and runs until
:meth:`ServerProcess.stop` or :meth:`ServerProcess.kill`; ``with ServerProcess(...) as
server:`` stops it when the block ends.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Literal

from knn_al.errors import KnnAlError

if TYPE_CHECKING:
    from knn_al.client import Client

__all__ = ["STOP_SECONDS", "ServerProcess", "ServerStartError"]

#: How long a server may take to shut down gracefully on SIGTERM before it is killed.
STOP_SECONDS = 30
_LISTENING = re.compile(r"serving on \S*:(\d+)")
_HTTP_LISTENING = re.compile(r"HTTP on \S*:(\d+)")
_METRICS_LISTENING = re.compile(r"metrics on \S*:(\d+)")


class ServerStartError(KnnAlError, RuntimeError):
    """The server exited (or printed something else) before saying where it listens."""


class ServerProcess:
    """``knn-al serve --data-dir DATA_DIR --port PORT *ARGS``, started at once.

    Parameters
    ----------
    data_dir : the server's data directory.
    *args : further ``knn-al serve`` options, e.g. ``"--token", "s3cret"``.
    port : the port to listen on; 0 (the default) takes a free one.
    cwd : the server's working directory (one of its dataset roots); default this process's.
    log : a file for the server's stderr. Default: a pipe, read only into the error of a
        failed start. A server that logs a lot should get a file: a full pipe blocks it.

    Attributes
    ----------
    process : the running ``subprocess.Popen``.
    port : the port the server listens on (the real one when 0 was asked).
    address : ``127.0.0.1:PORT``, for a client.
    http_url : ``http://127.0.0.1:PORT`` of the HTTP API and page, with ``--http-port``; else "".
    metrics_url : ``http://127.0.0.1:PORT/metrics``, with ``--metrics-port``; else "".
    """

    process: subprocess.Popen[str]
    port: int
    address: str
    http_url: str
    metrics_url: str

    def __init__(self, data_dir: Path, *args: str, port: int = 0, cwd: Path | None = None,
                 log: Path | None = None) -> None:
        self.data_dir, self.args = data_dir, args
        self.cwd, self.log = cwd, log
        self._asked_port = port
        self._start(log_mode="w")

    def _start(self, *, log_mode: Literal["w", "a"]) -> None:
        command = [sys.executable, "-m", "knn_al.cli", "serve", "--data-dir", str(self.data_dir),
                   "--port", str(self._asked_port), *self.args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if not {"--token", "--token-file"} & set(self.args):
            # A token exported for the shell's own commands (KNN_AL_TOKEN) would make this
            # server require one its callers (the demo, the tests) do not send.
            for name in ("KNN_AL_TOKEN", "KNN_AL_TOKEN_FILE"):
                env.pop(name, None)
        if self.log is None:
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                            cwd=self.cwd, env=env)
        else:
            with open(self.log, log_mode, encoding="utf-8") as log:
                self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True,
                                                cwd=self.cwd, env=env)
        line = _pipe(self.process.stdout).readline()
        found, http, metrics = _LISTENING.search(line), None, None
        if found and "--http-port" in self.args:  # the HTTP address follows, on a line of its own
            line = _pipe(self.process.stdout).readline()
            http = _HTTP_LISTENING.search(line)
        if found and "--metrics-port" in self.args and (http or "--http-port" not in self.args):
            line = _pipe(self.process.stdout).readline()
            metrics = _METRICS_LISTENING.search(line)
        if not found or ("--http-port" in self.args and not http) or ("--metrics-port" in self.args and not metrics):
            self.process.kill()
            self.process.wait()
            said = self.log.read_text(encoding="utf-8") if self.log else _pipe(self.process.stderr).read()
            where = f"; see {self.log}" if self.log else ""
            self._close_pipes()
            raise ServerStartError(f"the server did not start ({line.strip() or 'no output'}){where}\n{said}")
        self.port = int(found.group(1))
        self.address = f"127.0.0.1:{self.port}"
        self.http_url = f"{'https' if '--tls-cert' in self.args else 'http'}://127.0.0.1:{http.group(1)}" if http else ""
        self.metrics_url = f"http://127.0.0.1:{metrics.group(1)}/metrics" if metrics else ""

    def client(self, **options: Any) -> Client:
        """A :class:`knn_al.client.Client` of this server; ``options`` go to the client."""
        from knn_al.client import Client  # grpc: only for callers who want a client

        return Client(self.address, **options)

    def stop(self, *, timeout: float = STOP_SECONDS) -> int:
        """SIGTERM (graceful shutdown); returns the exit code. A server still running after
        ``timeout`` seconds is killed, so none is left behind, and ``TimeoutExpired`` raised."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._close_pipes()
        return code

    def kill(self) -> int:
        """SIGKILL: no shutdown code runs. Returns the exit code."""
        self.process.kill()
        code = self.process.wait(timeout=STOP_SECONDS)
        self._close_pipes()
        return code

    def restart(self) -> ServerProcess:
        """Stop gracefully, then start again with the same arguments (on a new free port if
        ``port`` was 0, its log continued); returns the server itself."""
        self.stop()
        self._start(log_mode="a")
        return self

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # The caller reads ``process.returncode`` (-9 if it had to be killed); raising here
        # would hide an error of the block itself.
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.stop()

    def _close_pipes(self) -> None:
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


def _pipe(stream: IO[str] | None) -> IO[str]:
    """``stream``, a pipe this module asked for (Popen types it as optional)."""
    assert stream is not None, "not a pipe"
    return stream
