"""Compiled kernels made once per problem size (a literal argument to numba).

perm's max-|t| pass (per covariate count) and the nominal fits' solve (per system size) keep
such kernels; :class:`PerSize` is their cache of entry points.
"""

from __future__ import annotations

from collections.abc import Callable


class PerSize:
    """Entry points compiled for each size in ``lo..hi`` by ``make(size)``, made at first use
    (numba's disk cache keeps them between processes); other sizes get ``generic``.

    Parameters
    ----------
    lo, hi : int
        The sizes that get a kernel of their own.
    generic : callable
        The kernel for any other size (same parameters).
    make : callable
        ``make(size)`` -> the entry point for that size.
    """

    def __init__(self, lo: int, hi: int, generic: Callable, make: Callable[[int], Callable]):
        self.lo, self.hi = lo, hi
        self.generic, self.make = generic, make
        self._made: dict[int, Callable] = {}

    def __call__(self, size: int) -> Callable:
        if not self.lo <= size <= self.hi:
            return self.generic
        kernel = self._made.get(size)
        if kernel is None:
            kernel = self._made[size] = self.make(size)
        return kernel
