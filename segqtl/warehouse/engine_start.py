"""DuckDB's engine, started in the background while ``segqtl query``'s command line loads.

Importing DuckDB's engine and making the empty in-memory database that the query command
attaches the warehouse to (:func:`segqtl.warehouse.db.connect_query`) take about 35 ms; loading
the command line (click, segqtl's commands) takes longer and needs neither. :func:`start`, called
first thing by a ``segqtl query`` process, does the former in a thread beside the latter (issue
13: one phenotype's pairs in under 0.2 s, as a whole process); :func:`take` hands the database
over. Only the threading module is imported here.
"""

from __future__ import annotations

import atexit
import contextlib
import threading

_thread: threading.Thread | None = None
_ready: list = []


def start() -> None:
    """Start making the query command's in-memory database in a thread (once per process)."""
    global _thread
    if _thread is not None:
        return

    def make() -> None:
        # an error here is met again, and reported in one line, by the open that needs it
        with contextlib.suppress(Exception):
            from . import db

            _ready.append(db.locked_memory_database())

    _thread = threading.Thread(target=make, daemon=True, name="segqtl-engine")
    _thread.start()
    atexit.register(_close_unused)


def take():
    """The database :func:`start` made (waiting for it), or None: not started, taken, or
    failed (the caller then makes its own, and meets the error itself)."""
    if _thread is None:
        return None
    _thread.join()
    return _ready.pop() if _ready else None


def _close_unused() -> None:
    # a command that ended before opening the warehouse (a usage error, --help)
    if _thread is not None:
        _thread.join(timeout=5)
    while _ready:
        _ready.pop().close()
