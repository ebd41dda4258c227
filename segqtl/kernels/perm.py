"""Freedman–Lane gene-level permutation scan, vectorised over variants and permutations.

docs/methods.md#perm-null, #permutation-stream and #beta-approximation.

For a phenotype with null sample set M (phenotype, copy number and all covariates observed):

1. the null model ``y ~ 1 + CN + covariates`` is fitted on M, giving fitted values ŷ and
   residuals e;
2. permutation b gives ``y*_b = ŷ + e[π_b]`` with ``π_b = rng.permutation(|M|)`` drawn from
   ``numpy.random.default_rng(seed + phenotype_index)``, in order (the reference's stream);
3. for every variant v, the statistic is the t of d in ``y*_b ~ 1 + s + covariates + d`` on
   the variant's samples (M, genotype observed, segment-consistent) — the Freedman–Lane
   residualisation of the reference is exactly this t (Frisch–Waugh–Lovell);
4. ``p*_b = 2·T_df.sf(max_v |t_vb|)`` with the df of the maximising variant.

How it is computed
------------------
The design does not depend on b, so each variant's small Gram matrix of (q, s, d) is built and
inverted once (as in :mod:`segqtl.kernels.nominal`); the permuted phenotypes enter only through
right-hand sides.  Per block of permutations:

* the permuted phenotypes come from :class:`PermutationStream`, which replays numpy's
  ``rng.permutation`` from the generator's raw output in compiled code (the same numbers) and
  applies each permutation's swaps to the residuals directly, writing ``y*_b`` as column b;
* the permuted phenotypes are residualised once on the covariate basis q (n_c x b);
* ``s_v · y*`` and ``d_v · y*`` for all variants are one BLAS matrix product — the only
  (variants x samples x permutations) work, and the floor of the whole scan;
* :func:`segqtl.kernels.perm_compiled.tiled_max_abs_t` completes the right-hand sides (the q and
  ``||y*||²`` sums, as whole-sample sums minus the few samples outside each variant's set),
  forms t and keeps the running maximum, without a (variants x permutations) array of t.

The large work arrays (the residual rows, the permuted phenotypes, the products) live in
buffers reused from one phenotype to the next (:func:`_scratch`): fresh ones cost a page fault
per 4 KB, which was about a fifth of the scan's CPU time.

The numpy formulation that preceded it is kept in ``tests/reference_perm.py`` and the tests hold
this one to it.  ``perm_compiled`` is imported inside the functions that need it, so that
importing this module (every nominal run does) does not compile or load the scan's kernels.
"""

from __future__ import annotations

import threading

import numpy as np
from scipy.special import betainc, log1p, psi, stdtr

from .nominal import (
    DosageBlock,
    _solve,
    d_is_constant,
    gram_matrices,
    mask_variants,
    masked_products,
    masked_sums,
    rank_deficient,
    symmetric_from_upper,
)

#: Permutations per block of :func:`max_t_null` (one matrix product each).  Large enough for
#: BLAS to run near its peak rate (1,000 columns: 52-53 GFLOP/s on the benchmark machine,
#: against 49 for 512), small enough that the (2 variants x block) products stay bounded
#: (16 MB at 1,000 variants, 140 MB at 8,600).
PERM_BLOCK = 1024

#: Above this share of (variant, permutation) pairs computed exactly in a block, the rest of
#: the phenotype's scan takes double-precision products: the screen no longer pays (an exact
#: t costs about five times what single precision saves per pair).
SCREEN_FALLBACK = 0.05


#: Absolute error that float32 underflow can add per term of a product of values of magnitude
#: at most 1: a BLAS that flushes subnormal inputs and results to zero loses less than the
#: smallest normal number, 2⁻¹²⁶, on each factor's conversion and on the product (gradual
#: underflow loses 2⁻¹⁵⁰ each); doubled.  Against the relative bound (about 1e-5 of the
#: phenotype's norm, which scaling makes at least 0.5) it changes nothing but the proof.
UNDERFLOW_BOUND = 2.0**-123


def float32_product_bound(n: int) -> float:
    """``g`` with ``|fl32(x · y) − x · y| <= g ||x|| ||y||`` for float64 vectors of length n
    rounded to float32 and multiplied by any float32 BLAS (any order of summation, fused or
    not): twice the classical ``γ_{n+2} = (n + 2) u / (1 − (n + 2) u)`` with ``u = 2⁻²⁴`` (two
    roundings of the inputs, n − 1 additions, n products; Cauchy–Schwarz for the sum of
    ``|x_i y_i|``).  The factor 2 covers the rounding of the bound's own arithmetic.
    """
    e = (n + 2) * 2.0**-24
    return 2.0 * e / (1.0 - e)


class PermutationStream:
    """The reference's permutations ``default_rng(seed).permutation(n)``, in order, in blocks.

    docs/methods.md#permutation-stream.  ``take(b)`` returns the next b permutations: exactly
    the rows that b further ``rng.permutation(n)`` calls would return.  The generator's raw
    64-bit outputs are drawn in bulk and the shuffles replayed in compiled code
    (:func:`segqtl.kernels.perm_compiled.shuffle_rows`); surplus draws are kept for the next
    block, so how the stream is cut into blocks never changes it.  ``take_values`` continues
    the same stream but returns the permuted values themselves (what the scan needs).

    Parameters
    ----------
    n : int
        Length of each permutation, ``|M|``.
    seed : int
        ``seed + phenotype_index``.
    """

    def __init__(self, n: int, seed: int):
        self.n = n
        self._bitgen = np.random.default_rng(seed).bit_generator
        self._raw = np.empty(0, dtype=np.uint64)
        self._pos = 0  # next unused 32-bit half of self._raw

    def take(self, count: int) -> np.ndarray:
        """The next ``count`` permutations. Shape ``(count, n)``, int64."""
        from .perm_compiled import shuffle_rows

        out = np.empty((count, self.n), dtype=np.int64)
        self._fill(count, lambda row, raw, pos: shuffle_rows(out, row, raw, pos))
        return out

    def take_values(
        self, out: np.ndarray, values: np.ndarray, at: np.ndarray, offset: np.ndarray
    ) -> None:
        """Fill the columns of ``out`` with the next permutations applied to ``values``.

        Column b becomes ``offset + values[π_b][at]``: bit for bit
        ``offset[:, None] + values[take(B)[:, at].T]``, without the index arrays.

        Parameters
        ----------
        out : (n_c, B) float, C-contiguous
        values : (n,) float
        at : (n_c,) int64
            Positions in ``values`` of the rows of ``out``.
        offset : (n_c,) float
        """
        from .perm_compiled import interval_masks, shuffle_values

        masks = interval_masks(self.n)
        work = np.empty((8, self.n))  # 8 permutations at a time: one cache line of ``out``
        swap = np.empty(self.n, dtype=np.int64)
        self._fill(
            out.shape[1],
            lambda row, raw, pos: shuffle_values(
                out, row, raw.view(np.uint32), pos, values, masks, work, swap, at, offset
            ),
        )

    def _fill(self, count: int, shuffle) -> None:
        """Run ``shuffle(row, raw, pos) -> (row, pos)`` until ``count`` rows are filled,
        drawing more raw outputs whenever the draws run out inside a permutation."""
        row = 0
        while True:
            row, self._pos = shuffle(row, self._raw, self._pos)
            if row == count:
                return
            # A shuffle takes about 1.4 32-bit draws per element (rejection sampling); 1.5 per
            # element makes a second round rare, and any surplus stays for the next block.
            n_raw = (3 * (count - row) * self.n) // 4 + 16
            left = self._raw[self._pos // 2 :]
            fresh = self._bitgen.random_raw(n_raw)
            self._raw = np.concatenate([left, fresh]) if left.size else fresh
            self._pos %= 2


def permutations(n: int, n_perm: int, seed: int) -> np.ndarray:
    """The reference's permutation stream: ``default_rng(seed).permutation(n)``, n_perm times.

    Returns
    -------
    (n_perm, n) int
    """
    if n_perm == 0:
        return np.empty((0, n))
    return PermutationStream(n, seed).take(n_perm)


def null_fit(y: np.ndarray, design: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fitted values and residuals of OLS ``y ~ design`` (design includes the intercept).

    Shapes: y (m,), design (m, p) -> two (m,) arrays.
    """
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    fitted = design @ beta
    return fitted, y - fitted


def max_t_null(
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
    perm_block: int = PERM_BLOCK,
    screen: bool = True,
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
    min_samples : int
        Variants with fewer null samples take no part.
    perm_block : int
        Permutations processed at once (memory bound; changes only rounding).
    screen : bool
        Take the products with the permuted phenotypes in single precision and compute exactly
        only the t that can be each permutation's largest
        (:func:`.perm_compiled.screened_max_abs_t`); False: all in double precision.  The two
        differ in the last bits of the products (their order of summation).

    Returns
    -------
    (n_perm,) float
    """
    n = y.shape[0]
    covariates = np.asarray(covariates, dtype=np.float64).reshape(n, -1)
    null_set = np.isfinite(y) & np.isfinite(copy_number) & np.isfinite(covariates).all(axis=1)
    m_idx = np.flatnonzero(null_set)
    out = np.full(n_perm, np.nan)
    if m_idx.size == 0 or n_perm == 0:
        return out
    design_null = np.column_stack([np.ones(m_idx.size), copy_number[m_idx], covariates[m_idx]])
    fitted, resid = null_fit(y[m_idx], design_null)
    fitted, resid = unit_scale(fitted, resid)

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
    if cols.size <= p:  # no variant has a residual degree of freedom (df2 below)
        return out
    qb, rr = np.linalg.qr(design0[cols])
    if rank_deficient(rr):
        return out
    q = np.zeros((n, k))
    q[cols] = qb

    # y-independent part: each variant's Gram matrix of (q, s, d) on its own samples.
    iu, ju = np.triu_indices(k)
    sums = masked_sums(mv, np.column_stack([q[:, iu] * q[:, ju], np.ones(n)]))
    n_v = np.rint(sums[:, -1]).astype(np.int64)
    prod_s, prod_d, ss, sd, dd = masked_products(mv, np.column_stack([q, np.ones(n)]))
    gram = gram_matrices(
        symmetric_from_upper(sums[:, :-1], k), prod_s[:, :k], prod_d[:, :k], ss, sd, dd
    )
    # Variant filter (docs/methods.md#perm-null): enough samples, d varies, d not explained by
    # the design.
    keep = (n_v >= min_samples) & ~d_is_constant(mv, prod_d[:, k], dd, n_v, min_samples)
    df2 = n_v - p
    keep &= df2 > 0
    if not keep.any():
        return out
    kv = np.flatnonzero(keep)
    ginv = _inv(gram[kv])
    with np.errstate(invalid="ignore", divide="ignore"):
        # ||residual of d on (1, s, covariates)||² = 1 / (G⁻¹)_dd
        ok = np.isfinite(ginv).all(axis=(1, 2)) & (1.0 / ginv[:, k + 1, k + 1] >= 1e-20)
    kv, ginv = kv[ok], ginv[ok]
    if kv.size == 0:
        return out
    df_k = df2[kv].astype(np.float64)
    return _scan(
        out, kv, gram[kv], ginv, df_k, mv, cols, qb, m_idx, fitted, resid, seed, perm_block,
        screen,
    )  # fmt: skip


def _scan(out, kv, gram, ginv, df_k, mv, cols, qb, m_idx, fitted, resid, seed, perm_block, screen):
    """The permutation loop of :func:`max_t_null` for the kept variants ``kv``.

    Parameters
    ----------
    out : (B,) float
        Filled with ``p*_b``.
    kv : (V,) int
        Kept variants (rows of ``mv``); ``gram``/``ginv`` (V, k+2, k+2) their Gram matrices of
        (q, s, d) and inverses, ``df_k`` (V,) their residual df.
    mv : MaskedVariants
    cols : (n_c,) int
        The phenotype's samples; ``qb`` (n_c, k) the orthonormal covariate basis on them.
    m_idx, fitted, resid
        The null sample set M (|M|,) and the null fit's fitted values and residuals on it.

    Everything lives on ``cols``: a variant's samples are ``cols`` minus its group's
    complement minus its missing genotypes (see :func:`.perm_compiled.max_abs_t`).
    """
    from .perm_compiled import residual_rows, screened_max_abs_t, tiled_max_abs_t

    n_perm = out.shape[0]
    nk = kv.size
    n_c = cols.size
    k = qb.shape[1]
    q = np.ascontiguousarray(qb)
    # Unit-norm residuals of s on q and of d on (q, s), over each variant's samples: their
    # products with y* are w_s and w_d of max_abs_t.  From the inverse Gram matrices: the last
    # column of Z (ZᵀZ)⁻¹ is the residual of the last column over its squared norm.
    with np.errstate(invalid="ignore", divide="ignore"):
        cinv = _inv(gram[:, : k + 1, : k + 1])  # (q, s)
        cq_inv = _inv(gram[:, :k, :k])  # q alone
        coef_s = cinv[:, :, k] / np.sqrt(cinv[:, k, k])[:, None]
        coef_d = ginv[:, :, k + 1] / np.sqrt(ginv[:, k + 1, k + 1])[:, None]
    # A variant whose q or (q, s) block cannot be inverted contributes nothing (its G would
    # not be invertible either).
    fine = np.isfinite(coef_s).all(axis=1) & np.isfinite(cq_inv).all(axis=(1, 2))
    if not fine.all():
        kv, coef_s, coef_d, cq_inv, df_k = (x[fine] for x in (kv, coef_s, coef_d, cq_inv, df_k))
        nk = kv.size
        if nk == 0:
            return out
    u = _scratch("u", (2 * nk, n_c))
    np.matmul(coef_s[:, :k], q.T, out=u[:nk])  # the q terms, completed by residual_rows
    np.matmul(coef_d[:, :k], q.T, out=u[nk:])
    residual_rows(
        mv.s_src,
        mv.d_src,
        mv.observed,
        mv.group_mask,
        mv.gid,
        kv.astype(np.int64),
        cols.astype(np.int64),
        np.ascontiguousarray(coef_s),
        np.ascontiguousarray(coef_d),
        u,
    )
    # Segment groups of the kept variants, renumbered; each group's samples outside its mask.
    used, gid = np.unique(mv.gid[kv], return_inverse=True)
    g_rows, g_cols = np.nonzero(~mv.group_mask[np.ix_(used, cols)])
    comp_ptr = np.searchsorted(g_rows, np.arange(used.size + 1)).astype(np.int64)
    comp_idx = g_cols.astype(np.int64)
    # Each variant's missing genotypes inside its group (all inside ``cols``).
    col_pos = np.full(mv.s_src.shape[1], -1, dtype=np.int64)
    col_pos[cols] = np.arange(n_c)
    exc = mv.excluded[kv]
    exc.sort_indices()
    exc_ptr = exc.indptr.astype(np.int64)
    exc_idx = col_pos[exc.indices]
    gid = gid.astype(np.int64)
    cq_inv = np.ascontiguousarray(cq_inv)

    pos_m = np.searchsorted(m_idx, cols)  # cols ⊆ M: each sample's position in M
    fitted_c = fitted[pos_m]
    stream = PermutationStream(m_idx.size, seed)
    max_abs_t = tiled_max_abs_t(k)
    screened = screened_max_abs_t(k) if screen else None
    if screened is not None:
        u32 = _scratch("u32", u.shape, np.float32)
        u32[...] = u
        # |fl32(u_v · y) − u_v · y| <= gamma ||u_v|| ||y|| (docs/methods.md#perm-null)
        gamma = float32_product_bound(n_c) * np.sqrt(np.einsum("ij,ij->i", u, u).max())
    for lo in range(0, n_perm, perm_block):
        nb = min(perm_block, n_perm - lo)
        yc = _scratch("yc", (n_c, nb))
        stream.take_values(yc, resid, pos_m, fitted_c)  # y*_b on cols
        # residualised on the covariate basis, once (in place: yc - q (qᵀ yc))
        np.subtract(yc, np.matmul(q, q.T @ yc, out=_scratch("qy", (n_c, nb))), out=yc)
        best_t = np.full(nb, -np.inf)
        best_df = np.ones(nb)
        if screened is not None:
            # In float32 the phenotypes are scaled by a power of two (exact) to at most 1 in
            # magnitude: neither the conversion nor the products can overflow, and underflow
            # adds at most UNDERFLOW_BOUND to a product (docs/methods.md#perm-null).
            peak = float(np.abs(yc).max())
            scale = float(np.ldexp(1.0, -np.frexp(peak)[1])) if 0.0 < peak < np.inf else 1.0
            y32 = _scratch("y32", (n_c, nb), np.float32)
            np.multiply(yc, scale, out=y32, casting="same_kind")
            # the only (variants x samples x permutations) work, in single precision
            w32 = np.matmul(u32, y32, out=_scratch("w32", (2 * nk, nb), np.float32))
            # the bound in the units of yc (the kernel unscales the products likewise)
            delta = gamma * np.sqrt(np.einsum("ij,ij->j", yc, yc))
            delta += (n_c + 2) * UNDERFLOW_BOUND / scale
            n_exact = screened(
                w32, 1.0 / scale, u, delta, yc, q, comp_ptr, comp_idx, gid, exc_ptr, exc_idx,
                cq_inv, df_k, best_t, best_df,
            )  # fmt: skip
            if n_exact > SCREEN_FALLBACK * nk * nb:  # too many near-ties: double precision
                screened = None
        else:
            # the only (variants x samples x permutations) work
            w_sd = np.matmul(u, yc, out=_scratch("w_sd", (2 * nk, nb)))
            max_abs_t(
                w_sd, yc, q, comp_ptr, comp_idx, gid, exc_ptr, exc_idx, cq_inv, df_k, best_t,
                best_df,
            )  # fmt: skip
        found = np.isfinite(best_t) & (best_t >= 0)
        out[lo : lo + nb] = np.where(found, 2.0 * stdtr(best_df, -best_t), np.nan)
    return out


_WORKSPACE = threading.local()


def _scratch(name: str, shape: tuple[int, int], dtype=np.float64) -> np.ndarray:
    """A C-contiguous array of ``shape`` (float64 unless ``dtype``) in this thread's reusable
    scratch space.

    The scan's large work arrays (a few megabytes each, per block of permutations) are taken
    from buffers kept between calls: fresh ones cost a page fault per 4 KB on every phenotype
    (about a fifth of the scan's CPU time).  Each name is one buffer: a caller must not hold
    two arrays of the same name at once, nor return one.
    """
    size = shape[0] * shape[1]
    buffers = _WORKSPACE.__dict__.setdefault("buffers", {})
    buf = buffers.get(name)
    if buf is None or buf.size < size:
        buf = np.empty(max(size, 2 * (0 if buf is None else buf.size)), dtype=dtype)
        buffers[name] = buf
    return buf[:size].reshape(shape)


def _inv(mats: np.ndarray) -> np.ndarray:
    """Batched inverse; NaN for the matrices that cannot be inverted (an exactly zero pivot in
    the elimination). (V, p, p) -> (V, p, p).

    The nominal fits' compiled solve against the identity: numpy's batched ``inv`` costs about a
    microsecond per small matrix.
    """
    return _solve(mats, np.broadcast_to(np.eye(mats.shape[1]), mats.shape))


def unit_scale(fitted: np.ndarray, resid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The null fit's fitted values and residuals ``(|M|,)`` times the power of two that brings
    their largest magnitude into [1, 2).

    t is free of the phenotype's scale and a power of two scales every sum exactly, so the
    statistics do not change; what it changes is the σ floor of the scan (1e-15,
    :func:`.perm_compiled._keep_max`), which thereby counts relative to the phenotype's
    magnitude: a phenotype in tiny units (1e-20) keeps its permutation t's.
    """
    big = max(float(np.max(np.abs(fitted), initial=0.0)), float(np.max(np.abs(resid), initial=0.0)))
    if not (big > 0.0 and np.isfinite(big)):
        return fitted, resid
    shift = 1 - int(np.frexp(big)[1])
    return np.ldexp(fitted, shift), np.ldexp(resid, shift)


def direct_pvalue(p_nominal: float, p_perm: np.ndarray) -> float:
    """``(1 + #{p*_b <= p_nom}) / (1 + B')`` over the finite p*_b; NaN if none."""
    finite = p_perm[np.isfinite(p_perm)]
    if not np.isfinite(p_nominal) or finite.size == 0:
        return np.nan
    return float((1.0 + np.sum(finite <= p_nominal)) / (1.0 + finite.size))


def beta_pvalue(p_nominal: float, p_perm: np.ndarray) -> tuple[float, float, float]:
    """Beta-approximated adjusted p-value and the fitted shape parameters.

    The beta distribution is fitted by maximum likelihood on [0, 1] to the finite p*_b clipped
    to [1e-15, 1 - 1e-15] (fallback a = b = 1, :func:`beta_mle`); returns ``(p_adj, a, b)``
    with ``p_adj`` the fitted distribution's CDF at ``p_nominal`` (clipped the same way).
    """
    finite = p_perm[np.isfinite(p_perm)]
    if not np.isfinite(p_nominal) or finite.size == 0:
        return np.nan, np.nan, np.nan
    clipped = np.clip(finite, 1e-15, 1 - 1e-15)
    try:
        a, b = beta_mle(clipped)
    except Exception:  # the reference falls back to the uniform on any fitting failure
        a, b = 1.0, 1.0
    p_clip = float(np.clip(p_nominal, 1e-15, 1 - 1e-15))
    # the CDF as scipy.stats.beta.cdf gives it inside (0, 1): NaN for shapes that are not > 0
    cdf = betainc(a, b, p_clip) if a > 0 and b > 0 else np.nan
    return float(cdf), float(a), float(b)


class BetaFitError(ValueError):
    """MINPACK did not report convergence of the beta likelihood equations."""


def beta_mle(x: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood shapes ``(a, b)`` of a beta distribution on [0, 1] for ``x``.

    The numbers of ``scipy.stats.beta.fit(x, floc=0, fscale=1)``, computed as it computes
    them: the likelihood equations ``ψ(a) − ψ(a + b) = mean(log x)`` and
    ``ψ(b) − ψ(a + b) = mean(log(1 − x))`` solved by MINPACK's hybrd (``scipy.optimize.
    fsolve``, default tolerances) from the method-of-moments start. Without importing
    ``scipy.stats``, which costs each perm worker 0.4 s before its first permutation
    (docs/methods.md#beta-approximation).

    Parameters
    ----------
    x : (B,) float
        Values strictly inside (0, 1).

    Raises
    ------
    BetaFitError
        MINPACK stopped without converging (scipy raises its FitSolverError there).
    """
    from scipy.optimize import fsolve  # here: 0.1 s to import, and nominal workers never fit

    xbar = x.mean()
    s1 = np.log(x).sum()
    s2 = log1p(-x).sum()
    # values all equal: no variance, an infinite start, and MINPACK reports no convergence
    with np.errstate(divide="ignore", invalid="ignore"):
        fac = xbar * (1 - xbar) / x.var(ddof=0) - 1
        theta, _, ier, message = fsolve(
            _beta_score, [xbar * fac, (1 - xbar) * fac], args=(len(x), s1, s2), full_output=True
        )
    if ier != 1:
        raise BetaFitError(message)
    return theta[0], theta[1]


def _beta_score(theta, n, s1, s2):
    """The beta log-likelihood's gradient in (a, b), up to sign: zero at the MLE."""
    a, b = theta
    psiab = psi(a + b)
    return [s1 - n * (-psiab + psi(a)), s2 - n * (-psiab + psi(b))]


def warm_up() -> None:
    """Compile (or load from numba's cache) the scan's kernels with a tiny problem: a few
    permutations over variants with missing genotypes and segment bounds, and a beta fit;
    and the nominal scan's, which perm runs also call."""
    from .nominal import warm_up as nominal_warm_up

    nominal_warm_up()
    rng = np.random.default_rng(0)
    n, n_var = 48, 6
    alt = rng.integers(0, 3, (n_var, n)).astype(float)
    ref = rng.integers(0, 3, (n_var, n)).astype(float)
    alt[0, :2] = ref[0, :2] = np.nan  # the missing-genotype corrections
    y = rng.standard_normal(n)
    pos = np.arange(1000, 1000 + 10 * n_var, 10)
    lb = np.full(n, 900.0)
    ub = np.full(n, 2000.0)
    lb[0] = 1025.0  # a mask that drops a sample for some variants
    cn, cov = rng.standard_normal(n), rng.standard_normal((n, 2))
    block = DosageBlock.from_dosages(alt, ref)
    for screen in (False, True):  # the screened scan, and the double-precision one it may fall to
        p_null = max_t_null(
            y, cn, cov, block, None, pos, lb, ub, n_perm=12, seed=1, min_samples=10,
            perm_block=5, screen=screen,
        )  # fmt: skip
    beta_pvalue(0.01, p_null)
