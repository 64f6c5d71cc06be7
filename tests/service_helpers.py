"""Run a real ``knn-al serve`` process on a free loopback port for the service tests."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from knn_al.client import Client
from knn_al.simulation.synthetic import clustered_vectors  # noqa: F401  (re-exported for tests)

STARTUP_SECONDS = 60


class ServerProcess:
    """``knn-al serve --port 0`` over ``data_dir``; reads the port the server prints."""

    def __init__(self, data_dir: Path, *args: str) -> None:
        self.data_dir, self.args = data_dir, args
        self.process = subprocess.Popen(
            [sys.executable, "-m", "knn_al.cli", "serve", "--data-dir", str(data_dir), "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        line = self.process.stdout.readline()
        found = re.search(r"serving on [\d.]+:(\d+)", line)
        if not found:
            self.process.kill()
            raise RuntimeError(f"server did not start: {line!r}\n{self.process.stderr.read()}")
        self.port = int(found.group(1))
        self.address = f"127.0.0.1:{self.port}"

    def client(self, **kwargs: object) -> Client:
        return Client(self.address, **kwargs)

    def stop(self) -> int:
        """SIGTERM (graceful shutdown); returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        self.process.kill()
        self.process.wait(timeout=30)

    def restart(self) -> ServerProcess:
        self.stop()
        return ServerProcess(self.data_dir, *self.args)
