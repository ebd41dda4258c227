"""Plain numpy reference of the permutation scan, kept for the tests.

The batched numpy formulation of :func:`segqtl.kernels.perm.max_t_null` that segqtl used before
the compiled kernel (docs/methods.md#perm-null, #permutation-stream): one ``rng.permutation``
call per permutation, every variant's right-hand sides as (variants x permutations) arrays,
the p x p systems solved by one batched ``matmul`` with the inverse Gram matrices, and ``argmax``
over variants.  ``tests/test_kernels_perm.py`` checks it against one OLS per permutation and
variant, and holds the compiled kernel to it (same permutations, same variant filter, same NaN
and tie rules; the t statistics agree to rounding).
"""

from __future__ import annotations

import numpy as np
from scipy.special import stdtr

from segqtl.kernels.nominal import (
    DosageBlock,
    d_is_constant,
    gram_matrices,
    mask_variants,
    masked_sums,
    symmetric_from_upper,
)


def permutations_numpy(n: int, n_perm: int, seed: int) -> np.ndarray:
    """The reference's permutation stream: ``default_rng(seed).permutation(n)``, n_perm times.

    Returns
    -------
    (n_perm, n) int
    """
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(n) for _ in range(n_perm)]) if n_perm else np.empty((0, n))


def _null_fit(y: np.ndarray, design: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fitted values and residuals of OLS ``y ~ design`` (design includes the intercept).

    Shapes: y (m,), design (m, p) -> two (m,) arrays.
    """
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    fitted = design @ beta
    return fitted, y - fitted


def max_t_null_numpy(
    y: np.ndarray,
    copy_number: np.ndarray,
    covariates: np.ndarray,
    block: DosageBlock,
    rows: np.ndarray | None,
    pos: np.ndarray | None,
    lb: np.ndarray | None,
    ub: np.ndarray | None,
    *,
    n_perm: int,
    seed: int,
    min_samples: int = 30,
    perm_block: int = 256,
) -> np.ndarray:
    """Best-variant permutation p-values ``p*_b`` of one phenotype (NaN where no variant).

    Parameters
    ----------
    y : (n,) float
        Phenotype (NaN = missing).
    copy_number : (n,) float
        The phenotype's copy number (NaN = missing); only in the null model.
    covariates : (n, c) float
        Phenotype covariate (if any) then sample covariates.
    block, rows, pos, lb, ub
        The cis variants, as for :func:`segqtl.kernels.nominal.nominal_scan_block`.
    n_perm : int
        Number of permutations B.
    seed : int
        ``seed + phenotype_index`` of the reference's rule.
    perm_block : int
        Permutations processed at once (memory bound).

    Returns
    -------
    (n_perm,) float
    """
    n = y.shape[0]
    covariates = np.asarray(covariates, dtype=np.float64).reshape(n, -1)
    null_set = np.isfinite(y) & np.isfinite(copy_number) & np.isfinite(covariates).all(axis=1)
    m_idx = np.flatnonzero(null_set)
    perms = permutations_numpy(m_idx.size, n_perm, seed)
    out = np.full(n_perm, np.nan)
    if m_idx.size == 0 or n_perm == 0:
        return out
    design_null = np.column_stack([np.ones(m_idx.size), copy_number[m_idx], covariates[m_idx]])
    fitted, resid = _null_fit(y[m_idx], design_null)

    base = null_set.copy()
    if pos is not None:
        base &= ~np.isnan(lb) & ~np.isnan(ub)
    cols = np.flatnonzero(base)
    n_var = block.s.shape[0] if rows is None else len(rows)
    if cols.size < min_samples or n_var == 0:
        return out
    mv = mask_variants(block, rows, base, pos, lb, ub)
    design0 = np.column_stack([np.ones(n), covariates])
    k = design0.shape[1]
    p = k + 2
    qb, rr = np.linalg.qr(design0[cols])
    if np.abs(np.diag(rr)).min() <= 1e-10 * max(1.0, np.abs(rr).max()):
        return out
    q = np.zeros((n, k))
    q[cols] = qb

    # y-independent part: each variant's Gram matrix of (q, s, d) on its own samples.
    iu, ju = np.triu_indices(k)
    sums = masked_sums(mv, np.column_stack([q[:, iu] * q[:, ju], np.ones(n)]))
    n_v = np.rint(sums[:, -1]).astype(np.int64)
    qzd = np.column_stack([q, np.ones(n)])
    prod_s = mv.s @ qzd
    prod_d = mv.d @ qzd
    dd = np.einsum("vn,vn->v", mv.d, mv.d)
    gram = gram_matrices(
        symmetric_from_upper(sums[:, :-1], k),
        prod_s[:, :k],
        prod_d[:, :k],
        np.einsum("vn,vn->v", mv.s, mv.s),
        np.einsum("vn,vn->v", mv.s, mv.d),
        dd,
    )
    # Variant filter (docs/methods.md#perm-null): enough samples, d varies, d not explained by
    # the design.
    keep = (n_v >= min_samples) & ~d_is_constant(mv, prod_d[:, k], dd, n_v, min_samples)
    df2 = n_v - p
    keep &= df2 > 0
    if not keep.any():
        return out
    kv = np.flatnonzero(keep)
    ginv = np.full((kv.size, p, p), np.nan)
    for lo in range(0, kv.size, 4096):
        part = gram[kv[lo : lo + 4096]]
        try:
            ginv[lo : lo + 4096] = np.linalg.inv(part)
        except np.linalg.LinAlgError:
            for i, g in enumerate(part):
                try:
                    ginv[lo + i] = np.linalg.inv(g)
                except np.linalg.LinAlgError:
                    pass
    # SegmentQTL's rule: the residual of d on (1, s, covariates), by least squares on the
    # variant's own samples, must have norm >= 1e-10
    ok = np.isfinite(ginv).all(axis=(1, 2))
    for j, v in enumerate(kv):
        m = mv.mask(v)
        x = np.column_stack([design0[m], mv.s_src[v, m]])
        d_v = mv.d_src[v, m]
        res_d = d_v - x @ np.linalg.lstsq(x, d_v, rcond=None)[0]
        ok[j] &= np.linalg.norm(res_d) >= 1e-10
    kv, ginv = kv[ok], ginv[ok]
    if kv.size == 0:
        return out
    excluded = mv.excluded[kv]
    group_f, gid = mv.group_f, mv.gid[kv]
    s_k, d_k = mv.s[kv], mv.d[kv]
    df_k = df2[kv].astype(np.float64)
    g_dd = ginv[:, k + 1, k + 1]

    for lo in range(0, n_perm, perm_block):
        pb = perms[lo : lo + perm_block]  # (b, |M|)
        ystar = np.zeros((n, pb.shape[0]))
        ystar[m_idx] = fitted[:, None] + resid[pb.T]
        yb = ystar[cols]
        yc = np.zeros_like(ystar)
        yc[cols] = yb - qb @ (qb.T @ yb)  # residualised on the covariate basis, once
        nb = yc.shape[1]
        # right-hand sides z_vᵀ y*_b for z = (q, s, d), and masked ||y*_b||², per variant
        per_sample = np.concatenate(
            [(q[:, :, None] * yc[:, None, :]).reshape(n, k * nb), yc * yc], axis=1
        )
        sums_b = (group_f @ per_sample)[gid] - excluded @ per_sample
        rhs = np.empty((kv.size, p, nb))
        rhs[:, :k, :] = sums_b[:, : k * nb].reshape(kv.size, k, nb)
        rhs[:, k, :] = s_k @ yc
        rhs[:, k + 1, :] = d_k @ yc
        yy = sums_b[:, k * nb :]
        beta = np.matmul(ginv, rhs)
        rss = yy - np.einsum("vpb,vpb->vb", beta, rhs)
        with np.errstate(invalid="ignore", divide="ignore"):
            sigma = np.sqrt(rss / df_k[:, None])
            t = beta[:, k + 1, :] / (sigma * np.sqrt(g_dd)[:, None])
            t = np.where((rss > 0) & (sigma > 1e-15), t, np.nan)
        abs_t = np.where(np.isfinite(t), np.abs(t), -np.inf)
        best = np.argmax(abs_t, axis=0)  # first variant on ties, as the reference's scan
        best_t = abs_t[best, np.arange(nb)]
        best_df = df_k[best]
        found = np.isfinite(best_t)
        out[lo : lo + nb] = np.where(found, 2.0 * stdtr(best_df, -best_t), np.nan)
    return out
