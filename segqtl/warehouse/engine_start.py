"""DuckDB's engine, started in the background while ``segqtl query``'s command line loads.

Making the empty in-memory database that the query command attaches the warehouse to
(:func:`segqtl.warehouse.db.connect_query`) takes about 20 ms of DuckDB's own work; loading the
command line (click, segqtl's commands) takes longer and needs neither. :func:`start`, called
first thing by a ``segqtl query`` process, makes the database in a thread beside those imports
(issue 13: one phenotype's pairs in under 0.2 s, as a whole process); :func:`take` hands it
over.

The thread imports nothing: what DuckDB's ``connect`` imports is imported first, by the caller.
Two threads importing at once can deadlock in Python's import locks when Ctrl-C arrives.
"""

from __future__ import annotations

import atexit
import contextlib
import threading

#: The settings the query command's in-memory database is made with
#: (:data:`segqtl.warehouse.db.LOCKED_SETTINGS` applies the rest once the warehouse is attached).
MEMORY_SETTINGS = (
    ("autoinstall_known_extensions", False),
    ("autoload_known_extensions", False),
)

_thread: threading.Thread | None = None
_ready: list = []


def start() -> None:
    """Start making the query command's in-memory database in a thread (once per process)."""
    global _thread
    if _thread is not None:
        return
    import pathlib  # noqa: F401  (DuckDB's connect imports it: here, not in the thread)

    import _duckdb

    def make() -> None:
        # an error here is met again, and reported in one line, by the open that needs it
        with contextlib.suppress(Exception):
            _ready.append(_duckdb.connect(":memory:", config=dict(MEMORY_SETTINGS)))

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
