"""A ``knn-al serve`` subprocess on a free loopback port, for the demo.

A separate process, so the demo talks to the server exactly as any client would, and the
library never imports grpc. The server's log goes to a file; the context manager stops it
gracefully (SIGTERM) and kills it only if it does not exit in time.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

STOP_SECONDS = 30


class ServerProcess:
    """``with ServerProcess(data_dir, log) as server:`` serves until the block ends;
    ``server.address`` is ``127.0.0.1:PORT``."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir, self.log = data_dir, log
        self.address = ""
        self.exit_code: int | None = None
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> ServerProcess:
        with open(self.log, "w", encoding="utf-8") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "knn_al.cli", "serve", "--data-dir", str(self.data_dir),
                 "--host", "127.0.0.1", "--port", "0"],
                stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        line = self._process.stdout.readline()
        found = re.search(r"serving on ([\d.]+:\d+)", line)
        if not found:
            self._process.kill()
            self._process.wait()
            raise RuntimeError(f"the server did not start ({line.strip() or 'no output'}); see {self.log}")
        self.address = found.group(1)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        process = self._process
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            self.exit_code = process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            self.exit_code = process.wait()
        process.stdout.close()
