"""The numerical kernels: pure maths on arrays, no I/O.

The compiled kernels (``perm_compiled``, ``finemap_compiled``) ask numba to cache their machine
code on disk (``cache=True``).  numba looks for a writable folder (``$NUMBA_CACHE_DIR``, the
package's ``__pycache__``, the user's cache folder) when a module of them is imported, and
fails with "no locator available" when there is none: a read-only install run by a service
account without a home, or a container.  :func:`numba_cache_fallback` (run when this package is
imported, before numba is) then points ``NUMBA_CACHE_DIR`` at a private folder in the temporary
directory; if even that cannot be written, caching is turned off (the kernels compile in every
process, which costs seconds, not results).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def _writable(folder: Path) -> bool:
    """Whether ``folder`` exists or can be made, and a file can be created in it (as numba
    checks: permissions alone mislead for root and read-only mounts)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def _user_cache() -> Path:
    """numba's user-wide cache folder on Linux and macOS (its appdirs ``user_cache_dir``)."""
    if sys.platform == "darwin":
        return Path("~/Library/Caches/numba").expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "numba"


def numba_cache_fallback() -> str | None:
    """Make numba's on-disk cache work (or stay off) where its usual folders are read-only.

    Does nothing when ``NUMBA_CACHE_DIR`` is set or numba's own folders are writable.
    Returns the cache folder chosen, ``"off"`` when caching was turned off, else None.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    if _writable(Path(__file__).parent / "__pycache__") or _writable(_user_cache()):
        return None
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    try:
        system_temp = tempfile.gettempdir()
    except OSError:  # (FileNotFoundError: no usable temporary folder)
        system_temp = None
    for base in (os.environ.get("SEGQTL_TMPDIR"), system_temp):
        if base and _writable(Path(base) / f"segqtl-numba-{uid}"):
            folder = str(Path(base) / f"segqtl-numba-{uid}")
            os.environ["NUMBA_CACHE_DIR"] = folder  # read by numba's config when imported
            if "numba" in sys.modules:  # imported already (a notebook): its config is live
                sys.modules["numba"].config.CACHE_DIR = folder
            return folder
    # No writable folder at all: a locator that finds none makes numba compile without a cache
    os.environ["NUMBA_CACHE_LOCATOR_CLASSES"] = "segqtl.kernels.nocache.NoCacheLocator"
    if "numba" in sys.modules:
        sys.modules["numba"].config.CACHE_LOCATOR_CLASSES = os.environ[
            "NUMBA_CACHE_LOCATOR_CLASSES"
        ]
    return "off"


numba_cache_fallback()
