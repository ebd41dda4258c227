"""The command line's entry points (``segqtl`` and ``python -m segqtl``).

They import :mod:`segqtl.cli` themselves, so that a Ctrl-C while it loads (numpy, polars,
click: the better part of a second) ends as one at any later moment does: ``segqtl:
interrupted`` and exit code 130, without Python's traceback.  This module imports nothing else.
"""

from __future__ import annotations

import sys


def start(prog: str = "segqtl") -> None:
    """Import the command line and run it (:func:`segqtl.cli.main`)."""
    try:
        from .cli import main
    except KeyboardInterrupt:
        sys.stderr.write("segqtl: interrupted\n")
        sys.exit(130)
    main(prog=prog)
