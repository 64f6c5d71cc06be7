"""TensorFlow, imported without its start-up noise on a CPU-only machine.

TensorFlow 2.21 writes, from C++ and before its log settings apply, lines a new user takes
for failures: "Could not find cuda drivers", "failed call to cuInit: ... (303)", the oneDNN
and CPU-instructions notices. ``TF_CPP_MIN_LOG_LEVEL`` does not reach most of them (measured:
with 3, only the cuInit line goes). So the import, and the first op (where the device is
probed), run with the process's stderr (file descriptor 2) captured; what was written
there meanwhile is written back, less the lines known to be that noise.

Only while this is the process's one thread: file descriptor 2 is everyone's, and in a
server a capture would hold back (for seconds) and could lose the other threads' log
lines. A server loading an image encoder shows TensorFlow's lines once, with
``TF_CPP_MIN_LOG_LEVEL`` 2 taking the cuInit one.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["NOISE", "import_tensorflow"]

#: Start-up lines of TensorFlow that report no problem on a machine without a GPU.
NOISE = re.compile(r"cuInit|could not find cuda drivers|cudart_stub|oneDNN custom operations|cpu_feature_guard|"
                   r"rebuild TensorFlow with the appropriate compiler flags|before absl::InitializeLog|"
                   r"Unable to register cu(DNN|FFT|BLAS) factory|computation_placer|TF-TRT Warning",
                   re.IGNORECASE)

_lock = threading.Lock()
_tf: Any = None


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Capture file descriptor 2 for the block; write back what is not :data:`NOISE`."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not NOISE.search(line)]
            if kept:
                os.write(2, "".join(kept).encode())


def import_tensorflow() -> Any:
    """The ``tensorflow`` module, imported (once per process) without its start-up noise."""
    global _tf
    with _lock:
        if _tf is None:
            # Warnings and info from TensorFlow's C++ at run time (after the import), unless asked.
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            alone = threading.active_count() == 1
            with _quiet_stderr() if alone else contextlib.nullcontext():
                import tensorflow as tf

                tf.constant(0.0) + 1.0  # the first op probes the devices: the cuInit line
            _tf = tf
        return _tf
