"""``perm`` mode, compiled part: the permutation stream and the fused max-|t| pass.

The Python layer that drives them is :mod:`segqtl.kernels.perm`; numba is imported only when a
permutation scan runs (a nominal run never loads it).  Both kernels are compiled with
``nogil`` and ``cache=True`` (once, into numba's on-disk cache next to this file).

* :func:`shuffle_rows` replays numpy's ``Generator.permutation`` from the generator's raw
  64-bit outputs (docs/methods.md#permutation-stream): bit for bit the same permutations, at a
  fraction of the cost of one ``rng.permutation`` call per permutation.
* :func:`max_abs_t` is the per-block part of the Freedman–Lane scan (docs/methods.md#perm-null):
  from the products of each variant's s and d with the permuted, residualised phenotypes (one
  BLAS matrix product, done by the caller) it completes the right-hand sides, forms the t of d
  and keeps the running maximum over variants, without ever storing a (variants x
  permutations) array of t.

The plain numpy formulation of the same scan is ``tests/reference_perm.py``; the tests hold the
two together.
"""

from __future__ import annotations

import numba
import numpy as np

# error_model="numpy": x / 0 gives inf/nan instead of raising, which also lets loops vectorise;
# "contract" lets LLVM fuse a * b + c into one FMA (no re-association, no NaN assumptions).
_JIT = dict(nogil=True, cache=True, error_model="numpy", fastmath={"contract"})

#: Permutations per inner chunk of :func:`max_abs_t`: the per-variant work arrays
#: ((k + 3) x chunk floats) stay in the L1 cache and the chunk's phenotypes in L2.
CHUNK = 128


@numba.njit(**_JIT)
def shuffle_rows(out, row, raw, pos):  # pragma: no cover - compiled
    """Fill ``out[row:]`` with numpy's permutations, drawn from the raw outputs ``raw``.

    numpy's ``Generator.permutation(n)`` is ``arange(n)`` shuffled by Fisher–Yates: for
    ``i = n-1 … 1`` it swaps ``i`` with ``j = random_interval(i)``, which masks 32-bit draws to
    the smallest ``2^k - 1 >= i`` and rejects values above ``i``.  PCG64 serves 32-bit draws as
    the low then the high half of each 64-bit output; ``pos`` counts those halves.

    Parameters
    ----------
    out : (B, n) int64
        Rows ``row:`` are filled in order.
    row : int
        First row to fill.
    raw : (N,) uint64
        The generator's 64-bit outputs, in order.
    pos : int
        Next unused 32-bit draw (half ``pos % 2`` of ``raw[pos // 2]``, low half first).

    Returns
    -------
    (int, int)
        Rows filled and the next unused draw.  If the draws run out inside a permutation, that
        permutation is left for the next call (with more draws): the pair then points at its
        start.
    """
    n_rows, n = out.shape
    n_half = 2 * raw.shape[0]
    low = np.uint64(0xFFFFFFFF)
    shift = np.uint64(32)
    while row < n_rows:
        start = pos
        perm = out[row]
        for i in range(n):
            perm[i] = i
        complete = True
        for i in range(n - 1, 0, -1):
            mask = i  # the smallest 2^k - 1 >= i
            mask |= mask >> 1
            mask |= mask >> 2
            mask |= mask >> 4
            mask |= mask >> 8
            mask |= mask >> 16
            j = i + 1
            while j > i:
                if pos >= n_half:
                    complete = False
                    break
                word = raw[pos >> 1]
                half = (word >> shift) if pos & 1 else (word & low)
                j = np.int64(half) & mask
                pos += 1
            if not complete:
                break
            tmp = perm[i]
            perm[i] = perm[j]
            perm[j] = tmp
        if not complete:
            return row, start
        row += 1
    return row, pos


@numba.njit(**_JIT)
def max_abs_t(
    w_sd, yc, q, comp_ptr, comp_idx, gid, exc_ptr, exc_idx, cq_inv, df, best_t, best_df
):  # pragma: no cover - compiled
    """Running max over variants of ``|t_vb|`` for one block of permutations.

    For variant v with samples ``M_v``, ``t = w_d / sqrt(RSS / df)`` with
    ``RSS = ρ − w_s² − w_d²``: ``w_s``, ``w_d`` are the products of the permuted phenotype with
    the unit-norm residuals of s on q and of d on (q, s) over ``M_v`` (the caller's matrix
    product), and ``ρ = ||y||² − r_qᵀ (Q_vᵀQ_v)⁻¹ r_q`` is the residual sum of squares of the
    phenotype on q over ``M_v`` (``r_q = Q_vᵀ y``).  This is the t of d in
    ``y ~ q + s + d`` on ``M_v`` (Frisch–Waugh–Lovell; docs/methods.md#perm-null).

    The sums over ``M_v`` are taken as the sum over all the phenotype's samples minus the
    samples outside ``M_v``: those outside its segment group (``comp``, shared by the group's
    variants) and those with a missing genotype inside it (``exc``).  Both lists are short.

    Parameters
    ----------
    w_sd : (2 V, b) float
        Rows ``v`` and ``V + v``: ``w_s`` and ``w_d`` of variant v for each permutation.
    yc : (n_c, b) float
        Permuted phenotypes residualised on q, on the phenotype's samples; ``b`` is a multiple
        of :data:`CHUNK` (zero columns pad a short block: they never give a finite t).
    q : (n_c, k) float
        The orthonormal covariate basis on the same samples.
    comp_ptr, comp_idx : (G + 1,), (.,) int
        CSR lists of each segment group's samples outside its mask (rows of ``yc``).
    gid : (V,) int
        Each variant's segment group.
    exc_ptr, exc_idx : (V + 1,), (.,) int
        CSR lists of each variant's missing-genotype samples inside its group.
    cq_inv : (V, k, k) float
        ``(Q_vᵀ Q_v)⁻¹``: inverse Gram matrix of q on ``M_v``.
    df : (V,) float
        Residual degrees of freedom ``|M_v| − (k + 2)``.
    best_t, best_df : (b,) float
        Running maximum of ``|t|`` and its variant's df, updated in place (start ``best_t`` at
        ``-inf``).  A t counts only if ``RSS > 0``, ``σ = sqrt(RSS/df) > 1e-15`` and t is
        finite; an invalid one enters as -1, so ``best_t < 0`` means "no variant".  A variant
        replaces the maximum only if strictly larger: the first variant wins ties, as
        ``argmax`` over variants in order does.
    """
    n_c, nb = yc.shape
    k = q.shape[1]
    n_var = gid.shape[0]
    n_grp = comp_ptr.shape[0] - 1
    # rows 0..k-1: q_jᵀ y; row k: ||y||² — over all samples, per group, per variant
    full = np.empty((k + 1, CHUNK))
    grp = np.empty((n_grp, k + 1, CHUNK))
    r = np.empty((k + 1, CHUNK))
    tmp = np.empty(CHUNK)
    quad = np.empty(CHUNK)
    # the chunk's phenotypes, contiguous: the per-sample corrections read rows at random
    ych = np.empty((n_c, CHUNK))
    for c0 in range(0, nb, CHUNK):
        for i in range(n_c):
            for b in range(CHUNK):
                ych[i, b] = yc[i, c0 + b]
        full[:] = 0.0
        for i in range(n_c):
            y = ych[i]
            for j in range(k):
                qij = q[i, j]
                f = full[j]
                for b in range(CHUNK):
                    f[b] += qij * y[b]
            f = full[k]
            for b in range(CHUNK):
                f[b] += y[b] * y[b]
        for g in range(n_grp):
            grp[g] = full
            for c in range(comp_ptr[g], comp_ptr[g + 1]):
                i = comp_idx[c]
                y = ych[i]
                for j in range(k):
                    qij = q[i, j]
                    f = grp[g, j]
                    for b in range(CHUNK):
                        f[b] -= qij * y[b]
                f = grp[g, k]
                for b in range(CHUNK):
                    f[b] -= y[b] * y[b]
        for v in range(n_var):
            g = gid[v]
            for j in range(k + 1):
                rj = r[j]
                src = grp[g, j]
                for b in range(CHUNK):
                    rj[b] = src[b]
            for c in range(exc_ptr[v], exc_ptr[v + 1]):
                i = exc_idx[c]
                y = ych[i]
                for j in range(k):
                    qij = q[i, j]
                    rj = r[j]
                    for b in range(CHUNK):
                        rj[b] -= qij * y[b]
                rj = r[k]
                for b in range(CHUNK):
                    rj[b] -= y[b] * y[b]
            # r_qᵀ (Q_vᵀQ_v)⁻¹ r_q from the upper triangle
            for b in range(CHUNK):
                quad[b] = 0.0
            for a in range(k):
                ra = r[a]
                caa = cq_inv[v, a, a]
                for b in range(CHUNK):
                    tmp[b] = caa * ra[b]
                for j in range(a + 1, k):
                    c2 = 2.0 * cq_inv[v, a, j]
                    rj = r[j]
                    for b in range(CHUNK):
                        tmp[b] += c2 * rj[b]
                for b in range(CHUNK):
                    quad[b] += tmp[b] * ra[b]
            dfv = df[v]
            ws = w_sd[v, c0 : c0 + CHUNK]
            wd = w_sd[n_var + v, c0 : c0 + CHUNK]
            yy = r[k]
            bt = best_t[c0 : c0 + CHUNK]
            bd = best_df[c0 : c0 + CHUNK]
            # branch-free, so that it vectorises: invalid t become -1 and never win
            for b in range(CHUNK):
                rss = yy[b] - quad[b] - ws[b] * ws[b] - wd[b] * wd[b]
                sigma = np.sqrt(rss / dfv)
                t = np.abs(wd[b] / sigma)
                ok = (rss > 0.0) & (sigma > 1e-15) & (t < np.inf)
                t = t if ok else -1.0
                up = t > bt[b]
                bt[b] = t if up else bt[b]
                bd[b] = dfv if up else bd[b]


@numba.njit(**_JIT)
def residual_rows(
    q, s, d, observed, group_mask, gid, kv, cols, coef_s, coef_d
):  # pragma: no cover - compiled
    """Unit-norm residuals of s on q and of d on (q, s), over each kept variant's samples.

    ``u_s = mask · (q c_q) + c_s s`` with the coefficients ``c`` of the normalised last column
    of ``Z (ZᵀZ)⁻¹`` (computed by the caller from the inverse Gram matrices); ``u_d`` likewise
    with (q, s, d).  One pass over the (variants x samples) arrays.

    Parameters
    ----------
    q : (n_c, k) float
        Covariate basis on ``cols``.
    s, d : (V_all, n) float
        Masked s and d of all the phenotype's variants (zero outside each variant's samples).
    observed : (V_all, n) bool
        Genotype observed.
    group_mask : (G_all, n) bool
        Segment groups' masks; ``gid`` (V_all,) each variant's group.
    kv : (V,) int
        Kept variants; ``cols`` (n_c,) the phenotype's samples.
    coef_s : (V, k + 1) float
        Coefficients of (q, s) in ``u_s``.
    coef_d : (V, k + 2) float
        Coefficients of (q, s, d) in ``u_d``.

    Returns
    -------
    (2 V, n_c) float
        Rows ``v``: ``u_s`` of kept variant v; rows ``V + v``: ``u_d``.
    """
    n_c, k = q.shape
    nk = kv.shape[0]
    out = np.empty((2 * nk, n_c))
    for v in range(nk):
        row = kv[v]
        g = gid[row]
        for c in range(n_c):
            i = cols[c]
            if group_mask[g, i] and observed[row, i]:
                qs = 0.0
                qd = 0.0
                for j in range(k):
                    qs += coef_s[v, j] * q[c, j]
                    qd += coef_d[v, j] * q[c, j]
                out[v, c] = qs + coef_s[v, k] * s[row, i]
                out[nk + v, c] = qd + coef_d[v, k] * s[row, i] + coef_d[v, k + 1] * d[row, i]
            else:
                out[v, c] = 0.0
                out[nk + v, c] = 0.0
    return out
