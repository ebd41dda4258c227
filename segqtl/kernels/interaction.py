"""Interaction QTL kernel: does a sample-level term change the allelic effect d?

For one phenotype, every cis variant ``v`` gets the OLS fit (docs/methods.md#interaction-model)

    y ~ 1 + covariates + i + s_v + d_v + d_v·i            (+ s_v·i with ``with_s=True``)

on the variant's own samples: the nominal model's samples (phenotype, covariates, both dosages
observed, on the phenotype's segment; docs/methods.md#segment-mask) that also have the term
``i`` observed.  The interaction p-value is the two-sided t test of the ``d·i`` coefficient.

Vectorisation follows :mod:`segqtl.kernels.nominal`: ``[1, covariates]`` is orthonormalised
once per phenotype and y residualised against it (Frisch–Waugh–Lovell keeps the coefficients
of every other column), the term ``i`` joins that per-sample block, and the per-variant columns
``(s, d, d·i[, s·i])`` enter through masked cross-products built for all variants at once; the
small systems are solved in one batched call.

Gene-level correction uses the effective number of independent tests among the phenotype's
variants (eigenMT, Davis et al. 2016): permuting the residualised phenotype would also break
the main effects of s and d, which are not part of the interaction null.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import stdtr

from .nominal import (
    CONSTANT_D,
    CONSTANT_PHENOTYPE,
    OK,
    SINGULAR,
    TOO_FEW_SAMPLES,
    DosageBlock,
    _solve,
    mask_variants,
    masked_sums,
    rank_deficient,
    symmetric_from_upper,
)

#: The term has (almost) no variance on a variant's samples: d·i is not identifiable.
CONSTANT_TERM = 20

SKIP_REASONS = {
    OK: "tested",
    TOO_FEW_SAMPLES: "too_few_samples",
    CONSTANT_PHENOTYPE: "constant_phenotype",
    CONSTANT_D: "constant_d",
    SINGULAR: "singular_design",
    CONSTANT_TERM: "constant_term",
}

#: Float statistics of :class:`InteractionStats`.
STAT_FIELDS = (
    "beta_s",
    "se_s",
    "pval_s",
    "beta_d",
    "se_d",
    "pval_d",
    "beta_i",
    "se_i",
    "pval_i",
    "beta_di",
    "se_di",
    "pval_di",
    "beta_si",
    "se_si",
    "pval_si",
)


@dataclass
class InteractionStats:
    """Per-variant statistics of one phenotype; every array has shape ``(V,)``.

    Skipped variants have ``number_of_samples == 0``, NaN statistics and their reason in
    ``status`` (:data:`SKIP_REASONS`).  ``*_si`` are NaN unless the fit had ``with_s``.
    """

    number_of_samples: np.ndarray
    status: np.ndarray
    beta_s: np.ndarray
    se_s: np.ndarray
    pval_s: np.ndarray
    beta_d: np.ndarray
    se_d: np.ndarray
    pval_d: np.ndarray
    beta_i: np.ndarray
    se_i: np.ndarray
    pval_i: np.ndarray
    beta_di: np.ndarray
    se_di: np.ndarray
    pval_di: np.ndarray
    beta_si: np.ndarray
    se_si: np.ndarray
    pval_si: np.ndarray

    @classmethod
    def empty(cls, n_variants: int) -> InteractionStats:
        nan = np.full(n_variants, np.nan)
        return cls(
            number_of_samples=np.zeros(n_variants, dtype=np.int64),
            status=np.full(n_variants, TOO_FEW_SAMPLES, dtype=np.int8),
            **{f: nan.copy() for f in STAT_FIELDS},
        )

    def best(self) -> int:
        """Index of the variant with the smallest interaction p (first on ties), or -1."""
        p = self.pval_di
        if p.size == 0 or not np.isfinite(p).any():
            return -1
        return int(np.argmin(np.where(np.isfinite(p), p, np.inf)))


def interaction_scan(
    y: np.ndarray,
    alt: np.ndarray,
    ref: np.ndarray,
    covariates: np.ndarray,
    term: np.ndarray,
    pos: np.ndarray | None = None,
    lb: np.ndarray | None = None,
    ub: np.ndarray | None = None,
    *,
    with_s: bool = False,
    min_samples: int = 30,
    min_term_sd: float = 1e-8,
) -> InteractionStats:
    """Fit the interaction model for every variant of one phenotype.

    Parameters
    ----------
    y : (n,) float
        Phenotype; NaN = missing.
    alt, ref : (V, n) float
        ALTlr and REFlr dosages; NaN = missing.
    covariates : (n, c) float
        Other predictors (as the nominal model's); NaN = missing.  The intercept is added here.
    term : (n,) float
        The interaction term (purity, a cell-type fraction, a 0/1 treatment); NaN = missing.
    pos : (V,) int, optional
        Variant positions; with ``lb``/``ub`` (n,) they define the segment masks.
    with_s : bool
        Also fit ``s·i``.
    min_samples : int
        Variants with fewer usable samples (or no residual degrees of freedom) are skipped.
    min_term_sd : float
        A term whose standard deviation on a variant's samples is below this is a per-variant
        ``constant_term`` status.

    Returns
    -------
    InteractionStats
    """
    block = DosageBlock.from_dosages(alt, ref)
    return interaction_scan_block(
        y,
        block,
        None,
        covariates,
        term,
        pos,
        lb,
        ub,
        with_s=with_s,
        min_samples=min_samples,
        min_term_sd=min_term_sd,
    )


def interaction_scan_block(
    y: np.ndarray,
    block: DosageBlock,
    rows: np.ndarray | None,
    covariates: np.ndarray,
    term: np.ndarray,
    pos: np.ndarray | None = None,
    lb: np.ndarray | None = None,
    ub: np.ndarray | None = None,
    *,
    with_s: bool = False,
    min_samples: int = 30,
    min_term_sd: float = 1e-8,
) -> InteractionStats:
    """:func:`interaction_scan` for the variants ``rows`` (None = all) of a prepared block."""
    n_var = block.s.shape[0] if rows is None else len(rows)
    n = block.s.shape[1]
    y = np.asarray(y, dtype=np.float64)
    term = np.asarray(term, dtype=np.float64).reshape(n)
    covariates = np.asarray(covariates, dtype=np.float64).reshape(n, -1)
    out = InteractionStats.empty(n_var)
    if n_var == 0:
        return out
    base = np.isfinite(y) & np.isfinite(covariates).all(axis=1) & np.isfinite(term)
    if pos is not None:
        lb = np.asarray(lb, dtype=np.float64)
        ub = np.asarray(ub, dtype=np.float64)
        base &= ~np.isnan(lb) & ~np.isnan(ub)
    if np.count_nonzero(base) < min_samples:
        return out
    mv = mask_variants(block, rows, base, pos, lb, ub)
    design0 = np.column_stack([np.ones(n), covariates])
    _fit(y, design0, np.where(base, term, 0.0), mv, with_s, min_samples, min_term_sd, out)
    return out


def _fit(y, design0, term, mv, with_s, min_samples, min_term_sd, out: InteractionStats):
    """Batched fits of one phenotype's variants (module docstring).

    Columns of each variant's design, in order: ``q`` (k, orthonormal basis of
    ``[1, covariates]`` on the usable samples), ``i``, ``s``, ``d``, ``d·i`` and, with
    ``with_s``, ``s·i``.
    """
    cols = mv.cols
    n, k = design0.shape
    if cols.size <= k:  # fewer samples than covariate terms: every variant too_few_samples
        return
    qb, rr = np.linalg.qr(design0[cols])
    if rank_deficient(rr):
        out.status[:] = SINGULAR
        return
    q = np.zeros((n, k))
    q[cols] = qb
    yb = y[cols]
    y_c = np.zeros(n)
    y_c[cols] = yb - qb @ (qb.T @ yb)
    yc0 = np.zeros(n)
    yc0[cols] = yb - yb.mean()

    # Per-sample block A = [q, i]: its masked Gram, A'y, and the sums for the skip rules.
    a_blk = np.column_stack([q, term])
    a = k + 1
    iu, ju = np.triu_indices(a)
    na = iu.size
    per_sample = np.column_stack(
        [
            a_blk[:, iu] * a_blk[:, ju],
            a_blk * y_c[:, None],
            y_c * y_c,
            yc0,
            yc0 * yc0,
            np.ones(n),
            term,
            term * term,
        ]
    )
    prod = masked_sums(mv, per_sample)
    aa = symmetric_from_upper(prod[:, :na], a)
    ay = prod[:, na : na + a]
    yy, sum1, sum2, cnt, t1, t2 = (prod[:, na + a + j] for j in range(6))
    n_v = np.rint(cnt).astype(np.int64)

    # Per-variant columns X = (s, d, d·i[, s·i]); zero outside each variant's samples.
    x_list = [mv.s, mv.d, mv.d * term]
    if with_s:
        x_list.append(mv.s * term)
    m = len(x_list)
    p = a + m
    ayz = np.column_stack([a_blk, y_c])
    ax = np.stack([xj @ ayz for xj in x_list], axis=1)  # (V, m, a+1)
    xx = np.empty((mv.s.shape[0], m, m))
    for j in range(m):
        for jj in range(j, m):
            xx[:, j, jj] = xx[:, jj, j] = np.einsum("vn,vn->v", x_list[j], x_list[jj])

    with np.errstate(invalid="ignore", divide="ignore"):
        d_sum = mv.d @ np.ones(n)
        d_var = xx[:, 1, 1] / n_v - (d_sum / n_v) ** 2
        t_var = t2 / n_v - (t1 / n_v) ** 2
        tss = sum2 - sum1 * sum1 / n_v
        const_y = tss <= 1e-10 * sum2 + 1e-300
        const_d = ~(np.sqrt(np.clip(d_var, 0, None)) >= 1e-10)
        const_t = ~(np.sqrt(np.clip(t_var, 0, None)) >= min_term_sd)
    # Recheck the one-pass variances two-pass where they are small enough to doubt.
    for v in np.flatnonzero((const_y | const_d | const_t) & (n_v >= min_samples)):
        mask = mv.mask(v)
        const_y[v] = not (y[mask].max() > y[mask].min())
        if not const_y[v]:
            tss[v] = ((y[mask] - y[mask].mean()) ** 2).sum()
        const_d[v] = not (mv.d[v, mask].std() >= 1e-10)
        const_t[v] = not (term[mask].std() >= min_term_sd)
    too_few = (n_v < min_samples) | (n_v <= p)
    status = np.select(
        [too_few, const_y, const_d, const_t],
        [TOO_FEW_SAMPLES, CONSTANT_PHENOTYPE, CONSTANT_D, CONSTANT_TERM],
        OK,
    ).astype(np.int8)
    out.status[:] = status
    keep = np.flatnonzero(status == OK)
    if keep.size == 0:
        return

    nk = keep.size
    gram = np.empty((nk, p, p))
    gram[:, :a, :a] = aa[keep]
    gram[:, a:, :a] = ax[keep, :, :a]
    gram[:, :a, a:] = np.swapaxes(ax[keep, :, :a], 1, 2)
    gram[:, a:, a:] = xx[keep]
    xty = np.concatenate([ay[keep], ax[keep, :, a]], axis=1)  # (nk, p)
    rhs = np.zeros((nk, p, 1 + p))
    rhs[:, :, 0] = xty
    rhs[:, :, 1:] = np.eye(p)
    sol = _solve(gram, rhs)
    beta = sol[:, :, 0]
    inv_diag = np.einsum("vjj->vj", sol[:, :, 1:])
    nvk = n_v[keep]
    rss = yy[keep] - np.einsum("vp,vp->v", beta, xty)
    df = nvk - p
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(np.clip(inv_diag * (rss / df)[:, None], 0.0, None))
        t = np.where((se > 0) & np.isfinite(se), beta / se, np.nan)
        pv = 2.0 * stdtr(df[:, None], -np.abs(t))

    out.number_of_samples[keep] = nvk
    names = ["i", "s", "d", "di"] + (["si"] if with_s else [])
    for j, name in enumerate(names):
        col = k + j
        getattr(out, f"beta_{name}")[keep] = beta[:, col]
        getattr(out, f"se_{name}")[keep] = se[:, col]
        getattr(out, f"pval_{name}")[keep] = pv[:, col]
    bad = keep[~np.isfinite(beta).all(axis=1)]
    if bad.size:
        out.status[bad] = SINGULAR
        out.number_of_samples[bad] = 0
        for f in STAT_FIELDS:
            getattr(out, f)[bad] = np.nan


def effective_tests(
    d: np.ndarray, observed: np.ndarray, window: int = 200, var_explained: float = 0.995
) -> float:
    """eigenMT's effective number of independent tests among a phenotype's variants.

    Variants are taken in order in blocks of ``window``; in each block the correlation matrix
    of d (missing values replaced by the variant's mean over its observed samples) is
    decomposed and the number of leading eigenvalues needed to reach ``var_explained`` of
    their sum is counted; the counts are added over blocks.

    Parameters
    ----------
    d : (V, n) float
        ``REFlr - ALTlr`` of the tested variants (any value where not observed).
    observed : (V, n) bool
        Which entries of ``d`` are observed.
    window, var_explained : int, float
        eigenMT's block size and variance share.

    Returns
    -------
    float
        Between 1 and V (1 when V is 0 or 1).
    """
    n_var = d.shape[0]
    if n_var <= 1:
        return 1.0
    total = 0
    for start in range(0, n_var, window):
        blk = np.asarray(d[start : start + window], dtype=np.float64)
        obs = observed[start : start + window]
        cnt = np.maximum(obs.sum(axis=1), 1)
        mean = np.where(obs, blk, 0.0).sum(axis=1) / cnt
        filled = np.where(obs, blk, mean[:, None])
        centred = filled - filled.mean(axis=1, keepdims=True)
        norm = np.sqrt((centred * centred).sum(axis=1))
        live = norm > 1e-12
        if not live.any():  # constant variants are not tested: they add no test
            continue
        z = centred[live] / norm[live, None]
        eig = np.clip(np.linalg.eigvalsh(z @ z.T)[::-1], 0.0, None)
        share = np.cumsum(eig) / eig.sum()
        total += int(np.searchsorted(share, var_explained - 1e-12) + 1)
    return float(min(max(total, 1), n_var))
