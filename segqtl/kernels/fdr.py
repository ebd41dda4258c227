"""Global multiple testing: Storey q-values and per-phenotype nominal thresholds.

docs/methods.md#qvalues.

pi0 is estimated with the bootstrap-MSE method of Storey, Taylor & Siegmund (2004) in the
closed form used by the ``qvalue`` package (``pi0.method = "bootstrap"``): for each λ on a grid,
``pi0(λ) = #{p >= λ} / (m (1 - λ))``; the λ minimising the estimated mean squared error
``W/(m²(1-λ)²)·(1 - W/m) + (pi0(λ) - q10)²`` (W = #{p >= λ}, q10 = 10th percentile of the
pi0(λ)) is chosen, and pi0 is capped at 1.  q-values follow Storey & Tibshirani (2003).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

LAMBDAS = np.round(np.arange(0.05, 0.951, 0.05), 10)


def pi0_bootstrap(p: np.ndarray, lambdas: np.ndarray = LAMBDAS) -> float:
    """Proportion of true null hypotheses among p-values ``p`` (m,), in (0, 1]."""
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    if m == 0:
        return 1.0
    lambdas = np.asarray(lambdas, dtype=np.float64)
    lambdas = lambdas[lambdas < p.max()] if (lambdas < p.max()).any() else lambdas[:1]
    w = np.array([(p >= lam).sum() for lam in lambdas], dtype=np.float64)
    pi0 = w / (m * (1.0 - lambdas))
    floor = np.quantile(pi0, 0.1)
    mse = (w / (m**2 * (1.0 - lambdas) ** 2)) * (1.0 - w / m) + (pi0 - floor) ** 2
    best = float(pi0[np.argmin(mse)])
    return float(min(max(best, np.finfo(float).tiny), 1.0))


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
