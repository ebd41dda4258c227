"""Imported by the worker pool's fork server in finemap runs: loads the compiled kernels.

numba compiles (or loads from its cache) each kernel at its first call, which costs seconds
per process.  Doing it once in the fork server means every forked worker starts warm.
"""

from __future__ import annotations

from ..kernels.finemap import warm_up
from . import finemap  # noqa: F401  (the worker module itself)

warm_up()
