"""One convention for every command's exit code and error line.

0: done. 1 (:data:`EXIT_REFUSED`): the server refused or could not be reached, or this
machine lacks what the command needs (an extra, a model it cannot load). 2 (:data:`EXIT_USAGE`): bad usage or input. An expected error
is one line on stderr, ``knn-al COMMAND: message``, never a traceback.
"""
from __future__ import annotations

import sys

from knn_al.errors import KnnAlError

__all__ = ["EXIT_OK", "EXIT_REFUSED", "EXIT_USAGE", "exit_code", "fail"]

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def exit_code(exc: KnnAlError) -> int:
    """The exit code of an expected error: refusals and unavailability 1, the rest 2."""
    from knn_al.client import ServiceError
    from knn_al.encoders import EncoderUnavailableError
    from knn_al.extras import MissingExtraError

    unavailable = (ServiceError, EncoderUnavailableError, MissingExtraError)
    return EXIT_REFUSED if isinstance(exc, unavailable) else EXIT_USAGE


def fail(command: str, message: str, code: int) -> int:
    """Print ``knn-al COMMAND: message`` on stderr and return ``code``."""
    print(f"knn-al {command}: {message}", file=sys.stderr)
    return code
