"""Small path helpers shared by the layers (standard library only)."""

from __future__ import annotations

from pathlib import Path


def nearest_existing(path: str | Path) -> Path | None:
    """``path`` if it exists, else its nearest existing ancestor.

    Parameters
    ----------
    path : str or Path
        A file or folder that may not exist yet.

    Returns
    -------
    Path or None
        ``path`` itself (as given) or one of its absolute ancestors; None only if nothing on
        the way to the root exists (the root always exists, so in practice never).
    """
    path = Path(path)
    return next((p for p in (path, *path.absolute().parents) if p.exists()), None)
