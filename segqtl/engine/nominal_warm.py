"""Imported by the worker pool's fork server in nominal runs: loads the compiled kernels.

numba loads each kernel from its cache (or compiles it) at its first call: about half a second
of CPU for the first one in a process.  Doing it once in the fork server, while the parent
starts, means every forked worker starts warm.
"""

from __future__ import annotations

from ..kernels.nominal import warm_up
from . import nominal  # noqa: F401  (the worker module itself)

warm_up()
