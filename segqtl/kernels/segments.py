"""Per-phenotype preparation shared by every mode: segment bounds and the segment mask.

The rule (docs/methods.md#segment-mask): sample i may contribute variant v of a phenotype only
when the phenotype lies on a single segment of sample i and ``lb_i ≤ pos_v ≤ ub_i`` (closed
interval).  Samples without such a segment carry NaN bounds and are masked for every variant.
This module holds the one copy of that rule; nominal, perm, finemap and validate all use it.
"""

from __future__ import annotations

import numpy as np


def sample_bounds(
    n: int, sample_idx: np.ndarray, lb: np.ndarray, ub: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Scatter one phenotype's segment bounds onto the cohort's samples.

    Parameters
    ----------
    n : int
        Number of samples in the cohort.
    sample_idx : ndarray of int, shape (m,)
        Samples that have a segment holding the phenotype (distinct, in ``0..n-1``).
    lb, ub : ndarray, shape (m,)
        That segment's start and end for each of those samples.

    Returns
    -------
    lb, ub : ndarray of float64, shape (n,)
        Per-sample bounds; NaN for the samples not in ``sample_idx``.
    """
    lb_full = np.full(n, np.nan)
    ub_full = np.full(n, np.nan)
    lb_full[sample_idx] = lb
    ub_full[sample_idx] = ub
    return lb_full, ub_full


def segment_mask(pos: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """Which (variant, sample) entries the segment-consistency rule keeps.

    Parameters
    ----------
    pos : array_like of int, shape (V,)
        Variant positions.
    lb, ub : array_like of float, shape (n,)
        Per-sample bounds of the segment holding the phenotype; NaN masks the sample for every
        variant.  ``-inf``/``inf`` keep every variant.

    Returns
    -------
    ndarray of bool, shape (V, n)
        ``lb_i ≤ pos_v ≤ ub_i``.
    """
    # Positions become float64 like the bounds (exact below 2**53); NaN compares False, which
    # is the masking of unsegmented samples, so the invalid-value warning is expected.
    p = np.asarray(pos, dtype=np.float64)[:, None]
    lb = np.asarray(lb, dtype=np.float64)
    ub = np.asarray(ub, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return (p >= lb[None, :]) & (p <= ub[None, :])
