"""Imported last by the worker pool's fork server: the server ends at once when its run ends.

The fork server stops when the process that started it exits (end of file on its pipe), then
runs Python's full shutdown: it frees every object of numpy, scipy, polars and numba one by
one, about a quarter of a second during which it still holds the run's stdout and stderr
open, so a pipeline reading segqtl's output waits for it.  Nothing in the server needs that
shutdown (its workers are gone, it writes nothing), so its first exit handler ends it.
Workers forked from the server inherit the handler but never run it (they leave through
``os._exit``); the process id check keeps it the server's in any case.
"""

from __future__ import annotations

import atexit
import os
import sys

_SERVER_PID = os.getpid()


def _exit_now() -> None:
    if os.getpid() != _SERVER_PID:
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(0)


atexit.register(_exit_now)
