"""Imported by the worker pool's fork server in perm runs: loads the compiled scan kernels.

numba compiles (or loads from its cache) each kernel at its first call, about half a second
of CPU per process.  Doing it once in the fork server means every forked worker starts warm;
scipy.stats (the beta approximation's fit) is imported here for the same reason.
"""

from __future__ import annotations

import scipy.stats  # noqa: F401  (the beta fit's; kernels/perm.py imports it where used)

from ..kernels.perm import warm_up
from . import nominal  # noqa: F401  (the worker module itself)

warm_up()
