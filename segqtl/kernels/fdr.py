"""Global multiple testing: Storey q-values and per-phenotype nominal thresholds.

docs/methods.md#qvalues.

pi0 is estimated with the bootstrap-MSE method of Storey, Taylor & Siegmund (2004) in the
closed form used by the ``qvalue`` package (``pi0.method = "bootstrap"``): for each λ on a grid,
``pi0(λ) = #{p >= λ} / (m (1 - λ))``; the λ minimising the estimated mean squared error
``W/(m²(1-λ)²)·(1 - W/m) + (pi0(λ) - q10)²`` (W = #{p >= λ}, q10 = 10th percentile of the
pi0(λ)) is chosen, and pi0 is capped at 1.  q-values follow Storey & Tibshirani (2003).

A fixed λ (``qvalue(p, lambda = λ)``, tensorQTL's ``--qvalue_lambda``) gives
``pi0 = #{p >= λ} / (m (1 - λ))``; Benjamini–Hochberg is the q-value formula with ``pi0 = 1``.
Every estimate carries the binomial standard error ``sqrt(W (1 - W/m)) / (m (1 - λ))`` of
``pi0(λ)`` (the variance term of the MSE above) and is flagged *unstable* when ``m < 100``
(:data:`MIN_STABLE`) or that standard error exceeds 0.05 (:data:`MAX_STABLE_SE`): too few
p-values, or a λ with few p-values above it, for the estimate to be trusted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

LAMBDAS = np.round(np.arange(0.05, 0.951, 0.05), 10)

#: Fewer p-values than this make a pi0 estimate unstable.
MIN_STABLE = 100
#: A pi0 whose binomial standard error exceeds this is unstable.
MAX_STABLE_SE = 0.05


@dataclass(frozen=True)
class Pi0:
    """A pi0 estimate with how it was made.

    Attributes
    ----------
    pi0 : float
        The proportion of true nulls used by the q-values, in (0, 1].
    method : str
        ``bootstrap`` (λ chosen by the bootstrap MSE), ``fixed`` (λ given) or ``bh``
        (Benjamini–Hochberg: pi0 = 1, nothing estimated).
    lam : float or None
        The λ of the estimate (None for ``bh``).
    se : float or None
        Binomial standard error of pi0(λ) before the cap at 1 (None for ``bh``).
    m : int
        Number of p-values.
    unstable : bool or None
        ``m < MIN_STABLE`` or ``se > MAX_STABLE_SE`` (None for ``bh``).
    """

    pi0: float
    method: str
    lam: float | None
    se: float | None
    m: int
    unstable: bool | None

    def reason(self) -> str | None:
        """Why the estimate is unstable, in words (None when it is not)."""
        if not self.unstable:
            return None
        if self.m < MIN_STABLE:
            return f"only {self.m} p-values (fewer than {MIN_STABLE})"
        return f"its standard error {self.se:.3g} exceeds {MAX_STABLE_SE} at lambda {self.lam:g}"


def pi0_bootstrap(p: np.ndarray, lambdas: np.ndarray = LAMBDAS) -> float:
    """Proportion of true null hypotheses among p-values ``p`` (m,), in (0, 1]."""
    return pi0_estimate(p, lambdas=lambdas).pi0


def grid_lambdas(p_max: float, lambdas: np.ndarray = LAMBDAS) -> np.ndarray:
    """The grid points the bootstrap uses for p-values whose largest is ``p_max``: those below
    it (the first point if none is)."""
    lambdas = np.asarray(lambdas, dtype=np.float64)
    return lambdas[lambdas < p_max] if (lambdas < p_max).any() else lambdas[:1]


def pi0_estimate(p: np.ndarray, lam: float | None = None, lambdas: np.ndarray = LAMBDAS) -> Pi0:
    """pi0 of p-values ``p`` (m,): bootstrap over ``lambdas``, or at the fixed ``lam``."""
    p = np.asarray(p, dtype=np.float64)
    if lam is not None:
        return pi0_from_counts(p.size, np.array([lam]), np.array([(p >= lam).sum()]), fixed=True)
    if p.size == 0:
        return pi0_from_counts(0, np.asarray(lambdas[:1], dtype=np.float64), np.zeros(1))
    grid = grid_lambdas(p.max(), lambdas)
    w = np.array([(p >= x).sum() for x in grid], dtype=np.float64)
    return pi0_from_counts(p.size, grid, w)


def pi0_from_counts(m: int, lambdas: np.ndarray, w: np.ndarray, *, fixed: bool = False) -> Pi0:
    """pi0 from tail counts: ``w`` (k,) = #{p >= lambdas[k]} among ``m`` p-values.

    ``fixed``: ``lambdas`` holds the one given λ; otherwise the bootstrap picks among them (the
    caller passes :func:`grid_lambdas` of the p-values).  Counting in a database and estimating
    here gives the same pi0 as :func:`pi0_estimate` on the p-values themselves.
    """
    lambdas = np.asarray(lambdas, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if m == 0:
        lam = float(lambdas[0])
        return Pi0(1.0, "fixed" if fixed else "bootstrap", lam, None, 0, True)
    pi0 = w / (m * (1.0 - lambdas))
    if fixed:
        k = 0
    else:
        floor = np.quantile(pi0, 0.1)
        mse = (w / (m**2 * (1.0 - lambdas) ** 2)) * (1.0 - w / m) + (pi0 - floor) ** 2
        k = int(np.argmin(mse))
    se = float(np.sqrt(w[k] * (1.0 - w[k] / m)) / (m * (1.0 - lambdas[k])))
    value = float(min(max(float(pi0[k]), np.finfo(float).tiny), 1.0))
    return Pi0(
        value,
        "fixed" if fixed else "bootstrap",
        float(lambdas[k]),
        se,
        int(m),
        bool(m < MIN_STABLE or se > MAX_STABLE_SE),
    )


def pi0_bh(m: int) -> Pi0:
    """Benjamini–Hochberg: pi0 = 1 (nothing estimated)."""
    return Pi0(1.0, "bh", None, None, int(m), None)


def qvalues(p: np.ndarray, pi0: float | None = None) -> np.ndarray:
    """Storey q-values of ``p`` (m,); NaN p-values give NaN q-values.

    ``q_(i) = min_{j >= i} pi0·m·p_(j) / j`` over the sorted p-values, capped at 1.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    pv = p[ok]
    m = pv.size
    if m == 0:
        return q
    if pi0 is None:
        pi0 = pi0_bootstrap(pv)
    order = np.argsort(pv, kind="stable")
    ranked = pi0 * m * pv[order] / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(ranked, 1.0)
    q[ok] = out
    return q


def adjusted_p_threshold(p_adj: np.ndarray, q: np.ndarray, fdr: float) -> float:
    """The adjusted-p cut-off at ``fdr`` (as tensorQTL): midway between the largest p_adj of a
    hit (q <= fdr) and the smallest p_adj of a non-hit; NaN when nothing is significant."""
    hits = p_adj[np.isfinite(q) & (q <= fdr)]
    misses = p_adj[np.isfinite(q) & (q > fdr)]
    if hits.size == 0:
        return np.nan
    if misses.size == 0:
        return float(hits.max())
    return float((hits.max() + misses.min()) / 2.0)


def nominal_thresholds(p_threshold: float, shape1: np.ndarray, shape2: np.ndarray) -> np.ndarray:
    """Per-phenotype nominal p-value thresholds: the Beta(a, b) quantile at ``p_threshold``."""
    if not np.isfinite(p_threshold):
        return np.full(np.shape(shape1), np.nan)
    return stats.beta.ppf(p_threshold, shape1, shape2)
