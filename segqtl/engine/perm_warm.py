"""Imported by the worker pool's fork server in perm runs: loads the compiled scan kernels.

numba compiles (or loads from its cache) each kernel at its first call, about half a second
of CPU per process.  Doing it once in the fork server means every forked worker starts warm;
the warm-up's beta fit also imports what that needs (scipy.optimize's MINPACK and
scipy.special, not scipy.stats: see :func:`segqtl.kernels.perm.beta_mle`).
"""

from __future__ import annotations

from ..kernels.perm import warm_up
from . import nominal  # noqa: F401  (the worker module itself)

warm_up()
