"""Covariates the model cannot use: constant ones and linear combinations of earlier ones.

A covariate that is the same for every sample (sex in an all-female cohort) is a copy of the
intercept, and one that is a linear combination of the intercept and the covariates before it
(a duplicated column, two indicators that add up to one) makes every phenotype's design
singular: each would be an empty ``singular_design`` row.  Such covariates add nothing to the
model (the fitted values, and so every test, are the same without them, as a least-squares
fit that drops dependent columns finds), so ingest names them with a warning and nominal and
perm runs drop them from the design, storing the warning with the run (``warning:covariates``
in its provenance, shown by ``segqtl show``).  finemap and validate keep them, as SegmentQTL
does (the modes with ``Mode.drops_redundant_covariates``).
"""

from __future__ import annotations

import numpy as np

#: A covariate is dependent when its residual on the columns kept before it is at most this
#: fraction of its own norm (the kernels' rank rule is 1e-10 on their QR diagonal).
TOLERANCE = 1e-9


def redundant_covariates(names: list[str], values) -> list[tuple[str, str]]:
    """The covariates to drop, in order, each with why (``"constant (every sample has 1)"``).

    Parameters
    ----------
    names : list of str, (c,)
        The covariates' names, in covariate order.
    values : array_like, shape (c, n)
        Their values over the cohort's samples; NaN = missing.

    Returns
    -------
    list of (str, str)
        ``(name, reason)`` of each covariate that is constant, or a linear combination of the
        intercept and the covariates kept before it, over the samples where every covariate
        is observed.  Empty when there are too few such samples to tell (the runs' own
        minimum-sample rules apply then).
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return []
    x = x.reshape(len(names), -1)
    complete = np.isfinite(x).all(axis=0)
    n = int(complete.sum())
    if n < len(names) + 2:
        return []
    x = x[:, complete]
    kept = np.ones((n, 1)) / np.sqrt(n)  # orthonormal basis of the kept columns
    out: list[tuple[str, str]] = []
    for name, column in zip(names, x, strict=True):
        norm = float(np.linalg.norm(column))
        residual = column - kept @ (kept.T @ column)
        size = float(np.linalg.norm(residual))
        if size <= TOLERANCE * max(norm, 1.0):
            if np.ptp(column) == 0:
                out.append((name, f"constant (every sample has {column[0]:g})"))
            else:
                out.append((name, "a linear combination of the covariates before it"))
            continue
        kept = np.column_stack([kept, residual / size])
    return out


def covariate_warning(dropped: list[tuple[str, str]], where: str, *, ingest: bool = False) -> str:
    """One line naming the dropped covariates and why, for stderr and the run's record
    (``ingest``: said when the file is read, before any run)."""
    parts = "; ".join(f"{name!r} is {reason}" for name, reason in dropped)
    what = "nominal and perm runs drop it from their model" if ingest else "dropped from the model"
    return (
        f"{where}: covariate {parts}: {what} (it adds nothing to it, and every phenotype's "
        "design would be singular). Fix: remove it from the covariates file to silence this"
    )
