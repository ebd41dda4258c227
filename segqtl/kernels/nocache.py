"""numba's cache turned off: the locator used when no folder at all can be written.

Named in ``NUMBA_CACHE_LOCATOR_CLASSES`` by :func:`segqtl.kernels.numba_cache_fallback` only;
numba imports this module itself when a ``cache=True`` kernel is compiled.  The locator
points at a folder that does not exist, so loading finds nothing, and saving is skipped: the
kernels compile in each process instead of failing with "no locator available".
"""

from __future__ import annotations

import errno
import os

from numba.core.caching import Cache, _CacheLocator

#: A folder that is never created (loading from it finds no index: nothing cached).
_NOWHERE = os.path.join(os.devnull + "-segqtl-no-cache")


class NoCacheLocator(_CacheLocator):
    """A cache locator that never stores anything."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno

    def ensure_cache_path(self):
        raise OSError(errno.EROFS, "no writable folder for numba's cache")

    def get_cache_path(self):
        return _NOWHERE

    def get_source_stamp(self):
        return None

    def get_disambiguator(self):
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        return cls(py_func, py_file)


_save_overload = Cache.save_overload


def _save_unless_off(self, sig, data):
    if isinstance(self._impl.locator, NoCacheLocator):
        return  # nowhere to save
    _save_overload(self, sig, data)


Cache.save_overload = _save_unless_off
