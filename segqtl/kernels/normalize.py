"""Phenotype normalisation before a scan (docs/methods.md#phenotype-normalisation)."""

from __future__ import annotations

import numpy as np

#: The ``--normalize`` choices.
METHODS = ("none", "rank-inverse-normal")


def rank_inverse_normal(y: np.ndarray) -> np.ndarray:
    """Blom's rank-based inverse normal transform of one phenotype over its observed samples.

    ``Φ⁻¹((r − 3/8) / (n + 1/4))`` with ``r`` the average rank among the ``n`` finite values
    (ties share their mean rank); missing (NaN) values stay missing.

    Parameters
    ----------
    y : (n_samples,) float

    Returns
    -------
    (n_samples,) float
    """
    # here, not at the top: the run's parent imports this module and never transforms (scipy.stats
    # alone costs it half a second of start-up)
    from scipy.special import ndtri
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=np.float64)
    out = np.full(y.shape, np.nan)
    seen = np.isfinite(y)
    n = int(seen.sum())
    if n:
        out[seen] = ndtri((rankdata(y[seen]) - 0.375) / (n + 0.25))
    return out


def normalize_rows(y: np.ndarray, method: str) -> np.ndarray:
    """Apply ``method`` (:data:`METHODS`) to every row (phenotype) of ``y`` (m, n)."""
    if method == "none":
        return y
    if method == "rank-inverse-normal":
        return np.vstack([rank_inverse_normal(row) for row in y]) if len(y) else y
    raise ValueError(f"unknown normalisation {method!r}")
