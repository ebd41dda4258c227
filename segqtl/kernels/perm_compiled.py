"""``perm`` mode, compiled part: the permutation stream and the fused max-|t| pass.

The Python layer that drives them is :mod:`segqtl.kernels.perm`, which imports this module only
when a permutation scan runs.  The kernels are compiled with ``nogil`` and ``cache=True`` (once,
into numba's on-disk cache next to this file; :func:`tiled_max_abs_t` once per number of
covariate columns).

* :func:`shuffle_rows` replays numpy's ``Generator.permutation`` from the generator's raw
  64-bit outputs (docs/methods.md#permutation-stream): bit for bit the same permutations, at a
  fraction of the cost of one ``rng.permutation`` call per permutation.
  :func:`shuffle_values` makes the same swaps on the values to permute and writes the permuted
  phenotypes directly (what the scan uses: no index arrays, no gather).
* :func:`max_abs_t` is the per-block part of the Freedman–Lane scan (docs/methods.md#perm-null):
  from the products of each variant's s and d with the permuted, residualised phenotypes (one
  BLAS matrix product, done by the caller) it completes the right-hand sides, forms the t of d
  and keeps the running maximum over variants, without ever storing a (variants x
  permutations) array of t.  :func:`tiled_max_abs_t` is the same pass compiled for one
  number of covariate columns (what scans use); :func:`max_abs_t` remains for bases of more
  than :data:`TILED_MAX_K` columns and as the tests' reference.
* :func:`residual_rows` completes the left-hand side of that matrix product.

The plain numpy formulation of the same scan is ``tests/reference_perm.py``; the tests hold the
two together.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .per_size import PerSize

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


def interval_masks(n: int) -> np.ndarray:
    """``masks[i]`` = the smallest ``2^k - 1 >= i`` (numpy's rejection mask), shape (n,)."""
    mask = np.arange(n, dtype=np.int64)
    for shift in (1, 2, 4, 8, 16, 32):
        mask |= mask >> shift
    return mask


@numba.njit(**_JIT)
def shuffle_values(
    out, row, raw, pos, values, masks, work, swap, at, offset
):  # pragma: no cover - compiled
    """Like :func:`shuffle_rows`, but fill columns of ``out`` with the permuted values.

    The same Fisher–Yates swaps applied to a copy of ``values`` leave ``values[π]`` in it, so
    column b of ``out`` becomes ``offset + values[π_b][at]`` without an index array or a
    gather: bit for bit what ``offset[:, None] + values[perms[:, at].T]`` gives.

    How: the draws of one permutation are consumed first, without a branch on rejection
    (``swap[i]`` is overwritten until a draw is accepted for ``i``; the mask halves as ``i``
    passes a power of two), then its swaps are made on a copy of ``values``.  Permutations are
    made ``len(work)`` at a time and written out together, so that each row of ``out`` gets a
    run of adjacent columns (one cache line) rather than a single column at a time.

    Parameters
    ----------
    out : (n_c, B) float
        Columns ``row:`` are filled in order.
    row, pos
        As for :func:`shuffle_rows`.
    raw : (N,) uint32
        The generator's 64-bit outputs viewed as 32-bit halves (low half first, as numpy
        serves them on a little-endian machine).
    values : (n,) float
        What is permuted (the null residuals on M).
    masks : (n,) int
        ``masks[i]``: the smallest ``2^k - 1 >= i`` (:func:`interval_masks`).
    work : (G, n) float
        Scratch space for G permutations at once (8: one cache line of ``out``).
    swap : (n,) int
        Scratch space.
    at : (n_c,) int
        Positions of the output rows in ``values``; ``offset`` (n_c,) is added to them.

    Returns
    -------
    (int, int)
        As for :func:`shuffle_rows`.
    """
    n_c, n_cols = out.shape
    n = values.shape[0]
    n_half = raw.shape[0]
    n_group = work.shape[0]
    while row < n_cols:
        n_done = 0
        start = pos
        while n_done < n_group and row + n_done < n_cols:
            start = pos
            i = n - 1
            complete = True
            if i > 0:
                mask = masks[i]
                half = mask >> 1
                while i > 0:
                    if pos >= n_half:
                        complete = False
                        break
                    j = np.int64(raw[pos]) & mask
                    pos += 1
                    swap[i] = j
                    i -= np.int64(j <= i)
                    if i <= half:  # i passed below a power of two: the next mask
                        mask = half
                        half >>= 1
            if not complete:
                break
            w = work[n_done]
            for i in range(n):
                w[i] = values[i]
            for i in range(n - 1, 0, -1):
                j = swap[i]
                tmp = w[i]
                w[i] = w[j]
                w[j] = tmp
            n_done += 1
        for c in range(n_c):
            a = at[c]
            o = offset[c]
            for p in range(n_done):
                out[c, row + p] = o + work[p, a]
        row += n_done
        if n_done < n_group and row < n_cols:  # the draws ran out inside a permutation
            return row, start
    return row, pos


@numba.njit(inline="always", **_JIT)
def _keep_max(rss, wd, dfv, bt, bd, b):  # pragma: no cover - compiled
    """Permutation b's t from the residual sum of squares ``rss``, ``w_d`` and the df; it
    replaces the running maximum ``bt[b]`` (and ``bd[b]``, its df) if strictly larger.

    Branch-free, so that the caller's loop over permutations vectorises: an invalid t (RSS not
    positive, σ at most 1e-15, t not finite) enters as -1 and never wins.
    """
    sigma = np.sqrt(rss / dfv)
    t = np.abs(wd / sigma)
    ok = (rss > 0.0) & (sigma > 1e-15) & (t < np.inf)
    t = t if ok else -1.0
    up = t > bt[b]
    bt[b] = t if up else bt[b]
    bd[b] = dfv if up else bd[b]


@numba.njit(inline="always", **_JIT)
def _chunk_sums(yc, q, comp_ptr, comp_idx, c0, cw, ych, full, grp):  # pragma: no cover
    """One chunk's sums of :func:`max_abs_t` and :func:`tiled_max_abs_t`.

    Copies columns ``c0:c0+cw`` of ``yc`` into ``ych`` (rows contiguous: the per-sample
    corrections read them at random), then fills ``full`` ((k + 1, CHUNK): rows ``q_jᵀ y``
    and ``||y||²`` over all the phenotype's samples) and ``grp`` ((G, k + 1, CHUNK): the same
    per segment group, the samples outside its mask subtracted).
    """
    n_c, k = q.shape
    for i in range(n_c):
        for b in range(cw):
            ych[i, b] = yc[i, c0 + b]
    full[:] = 0.0
    for i in range(n_c):
        y = ych[i]
        for j in range(k):
            qij = q[i, j]
            f = full[j]
            for b in range(cw):
                f[b] += qij * y[b]
        f = full[k]
        for b in range(cw):
            f[b] += y[b] * y[b]
    for g in range(grp.shape[0]):
        grp[g] = full
        for c in range(comp_ptr[g], comp_ptr[g + 1]):
            i = comp_idx[c]
            y = ych[i]
            for j in range(k):
                qij = q[i, j]
                f = grp[g, j]
                for b in range(cw):
                    f[b] -= qij * y[b]
            f = grp[g, k]
            for b in range(cw):
                f[b] -= y[b] * y[b]


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
        Permuted phenotypes residualised on q, on the phenotype's samples (processed
        :data:`CHUNK` columns at a time).
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
        cw = min(CHUNK, nb - c0)  # the last chunk may be short
        _chunk_sums(yc, q, comp_ptr, comp_idx, c0, cw, ych, full, grp)
        for v in range(n_var):
            g = gid[v]
            # r = the group's sums minus the variant's missing genotypes, two samples per pass
            # over r (the same operations in the same order as one at a time)
            c = exc_ptr[v]
            c_end = exc_ptr[v + 1]
            if c + 2 <= c_end:
                i1 = exc_idx[c]
                i2 = exc_idx[c + 1]
                y1 = ych[i1]
                y2 = ych[i2]
                for j in range(k):
                    q1 = q[i1, j]
                    q2 = q[i2, j]
                    rj = r[j]
                    src = grp[g, j]
                    for b in range(cw):
                        rj[b] = (src[b] - q1 * y1[b]) - q2 * y2[b]
                rj = r[k]
                src = grp[g, k]
                for b in range(cw):
                    rj[b] = (src[b] - y1[b] * y1[b]) - y2[b] * y2[b]
                c += 2
            else:
                for j in range(k + 1):
                    rj = r[j]
                    src = grp[g, j]
                    for b in range(cw):
                        rj[b] = src[b]
            while c + 4 <= c_end:
                i1 = exc_idx[c]
                i2 = exc_idx[c + 1]
                i3 = exc_idx[c + 2]
                i4 = exc_idx[c + 3]
                y1 = ych[i1]
                y2 = ych[i2]
                y3 = ych[i3]
                y4 = ych[i4]
                for j in range(k):
                    q1 = q[i1, j]
                    q2 = q[i2, j]
                    q3 = q[i3, j]
                    q4 = q[i4, j]
                    rj = r[j]
                    for b in range(cw):
                        rj[b] = (((rj[b] - q1 * y1[b]) - q2 * y2[b]) - q3 * y3[b]) - q4 * y4[b]
                rj = r[k]
                for b in range(cw):
                    rj[b] = (((rj[b] - y1[b] * y1[b]) - y2[b] * y2[b]) - y3[b] * y3[b]) - y4[
                        b
                    ] * y4[b]
                c += 4
            if c + 2 <= c_end:
                i1 = exc_idx[c]
                i2 = exc_idx[c + 1]
                y1 = ych[i1]
                y2 = ych[i2]
                for j in range(k):
                    q1 = q[i1, j]
                    q2 = q[i2, j]
                    rj = r[j]
                    for b in range(cw):
                        rj[b] = (rj[b] - q1 * y1[b]) - q2 * y2[b]
                rj = r[k]
                for b in range(cw):
                    rj[b] = (rj[b] - y1[b] * y1[b]) - y2[b] * y2[b]
                c += 2
            if c < c_end:
                i = exc_idx[c]
                y = ych[i]
                for j in range(k):
                    qij = q[i, j]
                    rj = r[j]
                    for b in range(cw):
                        rj[b] -= qij * y[b]
                rj = r[k]
                for b in range(cw):
                    rj[b] -= y[b] * y[b]
            # r_qᵀ (Q_vᵀQ_v)⁻¹ r_q from the upper triangle
            for b in range(cw):
                quad[b] = 0.0
            for a in range(k):
                ra = r[a]
                caa = cq_inv[v, a, a]
                for b in range(cw):
                    tmp[b] = caa * ra[b]
                for j in range(a + 1, k):
                    c2 = 2.0 * cq_inv[v, a, j]
                    rj = r[j]
                    for b in range(cw):
                        tmp[b] += c2 * rj[b]
                for b in range(cw):
                    quad[b] += tmp[b] * ra[b]
            dfv = df[v]
            ws = w_sd[v, c0 : c0 + cw]
            wd = w_sd[n_var + v, c0 : c0 + cw]
            yy = r[k]
            bt = best_t[c0 : c0 + cw]
            bd = best_df[c0 : c0 + cw]
            # branch-free (_keep_max), so that the loop vectorises
            for b in range(cw):
                _keep_max(yy[b] - quad[b] - ws[b] * ws[b] - wd[b] * wd[b], wd[b], dfv, bt, bd, b)


@numba.njit(**_JIT)
def residual_rows(
    s, d, observed, group_mask, gid, kv, cols, coef_s, coef_d, out
):  # pragma: no cover - compiled
    """Unit-norm residuals of s on q and of d on (q, s), over each kept variant's samples.

    ``u_s = mask · (q c_q + c_s s)`` with the coefficients ``c`` of the normalised last column
    of ``Z (ZᵀZ)⁻¹`` (computed by the caller from the inverse Gram matrices); ``u_d`` likewise
    with (q, s, d).  The caller puts the q terms ``q c_q`` in ``out`` (one matrix product for
    all variants); this adds the s and d terms (gathered first, so that the loop that adds
    them vectorises) and applies each variant's mask.

    Parameters
    ----------
    s, d : (V_all, n) float
        s and d of all the phenotype's variants (zero where missing; each row is masked here).
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
    out : (2 V, n_c) float
        On entry rows ``v`` and ``V + v`` hold the q terms of kept variant v's ``u_s`` and
        ``u_d``; on return ``u_s`` and ``u_d`` themselves.
    """
    nk = kv.shape[0]
    k = coef_s.shape[1] - 1
    n_c = cols.shape[0]
    sv = np.empty(n_c)
    dv = np.empty(n_c)
    keep = np.empty(n_c, dtype=np.bool_)
    for v in range(nk):
        row = kv[v]
        g = gid[row]
        for c in range(n_c):  # the gathers first, then a loop that vectorises
            i = cols[c]
            sv[c] = s[row, i]
            dv[c] = d[row, i]
            keep[c] = group_mask[g, i] & observed[row, i]
        us = out[v]
        ud = out[nk + v]
        cs = coef_s[v, k]
        cd = coef_d[v, k]
        cdd = coef_d[v, k + 1]
        for c in range(n_c):
            a = us[c] + cs * sv[c]
            b = ud[c] + cd * sv[c] + cdd * dv[c]
            us[c] = a if keep[c] else 0.0
            ud[c] = b if keep[c] else 0.0


#: Largest covariate basis (k columns of q) with a kernel of its own (:func:`tiled_max_abs_t`);
#: a larger one uses :func:`max_abs_t`.  The specialised kernel unrolls its (k + 1)² work per
#: permutation, so its code and compile time grow with k².
TILED_MAX_K = 16


@intrinsic
def _stack_rows(typingctx, k, width):  # pragma: no cover - compiled
    """Room for ``k + 1`` rows of ``width`` floats on the stack; both compile-time constants.

    ``carray(_stack_rows(K, w), (K + 1, w))``.  LLVM keeps such a buffer in registers where its
    indices are constants, and knows it overlaps no other array (neither holds for a heap
    array from ``np.empty``).
    """
    if not (isinstance(k, types.IntegerLiteral) and isinstance(width, types.IntegerLiteral)):
        return None
    n = (k.literal_value + 1) * width.literal_value

    def codegen(context, builder, signature, args):
        ty = context.get_value_type(types.float64)
        return cgutils.alloca_once(builder, ty, size=context.get_constant(types.intp, n))

    return types.CPointer(types.float64)(k, width), codegen


def tiled_max_abs_t(k: int):
    """:func:`max_abs_t` for a covariate basis of exactly ``k`` columns, compiled for that k.

    The same computation, operation for operation and in the same order (only where LLVM fuses
    a multiply-add may differ: the last bit of t), arranged so that each permutation's k + 1
    right-hand-side sums stay in registers: the missing-genotype corrections are made four
    samples per pass over the permutations (the last pass padded with a zero sample), and the
    last pass also forms the quadratic form, t and the running maximum.  The generic kernel
    keeps those sums in arrays, read and written once per sample and per term of the quadratic
    form: about 1.4x slower at 2% missing genotypes.

    numba compiles one kernel per k (``k`` is a literal argument) the first time a scan with
    that many covariate columns runs (6-13 s for k = 2-12, once per installation: the kernel
    is cached on disk); k above :data:`TILED_MAX_K` gets :func:`max_abs_t` itself.

    Returns
    -------
    callable
        With :func:`max_abs_t`'s parameters.
    """
    return _TILED(k)


def _tiled_entry(k: int):
    """A compiled entry point that calls :func:`_tiled_kernel` with ``k`` as a literal.

    (Called from Python, ``numba.literally`` would re-dispatch at every call.)  The closure
    holds nothing but ``k``, which numba's on-disk cache takes into the kernel's key.
    """

    @numba.njit(**_JIT)
    def entry(
        w_sd, yc, q, comp_ptr, comp_idx, gid, exc_ptr, exc_idx, cq_inv, df, best_t, best_df
    ):  # pragma: no cover - compiled
        _tiled_kernel(
            k, w_sd, yc, q, comp_ptr, comp_idx, gid, exc_ptr, exc_idx, cq_inv, df, best_t, best_df
        )

    return entry


_TILED = PerSize(1, TILED_MAX_K, max_abs_t, _tiled_entry)


@numba.njit(inline="always", **_JIT)
def _minus4(K, rl, src, sb, ych, q, i1, i2, i3, i4, b):  # noqa: N803  # pragma: no cover
    """``rl = src[:, sb]`` minus four samples' terms of permutation b (rows of ``ych``/``q``),
    in the generic kernel's order of subtraction (``src`` may be ``rl`` itself)."""
    y1 = ych[i1, b]
    y2 = ych[i2, b]
    y3 = ych[i3, b]
    y4 = ych[i4, b]
    for j in range(K):
        rl[j] = (((src[j, sb] - q[i1, j] * y1) - q[i2, j] * y2) - q[i3, j] * y3) - q[i4, j] * y4
    rl[K] = (((src[K, sb] - y1 * y1) - y2 * y2) - y3 * y3) - y4 * y4


@numba.njit(inline="always", **_JIT)
def _four(exc_idx, c, c_end, zero):  # pragma: no cover - compiled
    """The samples ``exc_idx[c : c + 4]`` of a pass of four, ``zero`` (the row of zeros) past
    ``c_end``."""
    i1 = exc_idx[c] if c < c_end else zero
    i2 = exc_idx[c + 1] if c + 1 < c_end else zero
    i3 = exc_idx[c + 2] if c + 2 < c_end else zero
    i4 = exc_idx[c + 3] if c + 3 < c_end else zero
    return i1, i2, i3, i4


@numba.njit(inline="always", **_JIT)
def _update4(K, dst, src, ych, q, i1, i2, i3, i4, cw):  # noqa: N803  # pragma: no cover
    """``dst = src`` minus four samples' terms (rows of ``ych``/``q``), in the generic kernel's
    order of subtraction."""
    rl = numba.carray(_stack_rows(K, 1), (K + 1,))
    for b in range(cw):
        _minus4(K, rl, src, b, ych, q, i1, i2, i3, i4, b)
        for j in range(K + 1):
            dst[j, b] = rl[j]


@numba.njit(inline="always", **_JIT)
def _finish(K, src, ych, q, i1, i2, i3, i4, cinv, ws, wd, dfv, bt, bd, cw):  # noqa: N803  # pragma: no cover
    """The last four samples' terms, then ``r_qᵀ C r_q``, t and the running maximum, as
    :func:`max_abs_t` computes them."""
    rl = numba.carray(_stack_rows(K, 1), (K + 1,))
    for b in range(cw):
        _minus4(K, rl, src, b, ych, q, i1, i2, i3, i4, b)
        quad = _quad_form(K, cinv, rl)
        _keep_max(rl[K] - quad - ws[b] * ws[b] - wd[b] * wd[b], wd[b], dfv, bt, bd, b)


@numba.njit(inline="always", **_JIT)
def _work_arrays(K, q, n_grp):  # noqa: N803  # pragma: no cover - compiled
    """The per-sample kernels' work arrays: q with a row of zeros below (``qz``, the padding
    sample), the chunk's full and per-group sums, and the chunk's phenotypes (``ych``, zero
    row included)."""
    n_c = q.shape[0]
    qz = np.zeros((n_c + 1, K))
    qz[:n_c] = q
    full = np.empty((K + 1, CHUNK))
    grp = np.empty((n_grp, K + 1, CHUNK))
    ych = np.zeros((n_c + 1, CHUNK))
    return qz, full, grp, ych


@numba.njit(inline="always", **_JIT)
def _leading_passes(K, r, src, ych, qz, exc_idx, c, c_end, zero, cw):  # noqa: N803  # pragma: no cover
    """A variant's missing-genotype corrections but the last pass of four, into ``r`` (if it
    has more than four: then the last pass reads ``r``, else the group's sums ``src``).

    Returns the four samples of the last pass (``zero``, the row of zeros, where fewer).
    Each call site of :func:`_update4` has one source array, so LLVM need not ask whether the
    group's sums and r overlap.
    """
    if c_end - c > 4:
        _update4(K, r, src, ych, qz, exc_idx[c], exc_idx[c + 1], exc_idx[c + 2], exc_idx[c + 3], cw)
        c += 4
        while c_end - c > 4:
            _update4(
                K, r, r, ych, qz, exc_idx[c], exc_idx[c + 1], exc_idx[c + 2], exc_idx[c + 3], cw
            )
            c += 4
    return _four(exc_idx, c, c_end, zero)


@numba.njit(**_JIT)
def _tiled_kernel(
    K, w_sd, yc, q, comp_ptr, comp_idx, gid, exc_ptr, exc_idx, cq_inv, df, best_t, best_df
):  # noqa: N803  # pragma: no cover - compiled
    """:func:`max_abs_t` with ``K`` (the columns of q) a compile-time constant."""
    numba.literally(K)
    n_c, nb = yc.shape
    n_var = gid.shape[0]
    zero = n_c  # a sample row of zeros: subtracting its terms changes nothing, bit for bit
    qz, full, grp, ych = _work_arrays(K, q, comp_ptr.shape[0] - 1)
    # on the stack: LLVM then knows it overlaps nothing else, and vectorises the passes
    r = numba.carray(_stack_rows(K, CHUNK), (K + 1, CHUNK))
    for c0 in range(0, nb, CHUNK):
        cw = min(CHUNK, nb - c0)
        _chunk_sums(yc, q, comp_ptr, comp_idx, c0, cw, ych, full, grp)
        for v in range(n_var):
            c = exc_ptr[v]
            c_end = exc_ptr[v + 1]
            i1, i2, i3, i4 = _leading_passes(
                K, r, grp[gid[v]], ych, qz, exc_idx, c, c_end, zero, cw
            )
            ws = w_sd[v, c0 : c0 + cw]
            wd = w_sd[n_var + v, c0 : c0 + cw]
            bt = best_t[c0 : c0 + cw]
            bd = best_df[c0 : c0 + cw]
            if exc_ptr[v + 1] - exc_ptr[v] > 4:
                _finish(K, r, ych, qz, i1, i2, i3, i4, cq_inv[v], ws, wd, df[v], bt, bd, cw)
            else:
                _finish(
                    K, grp[gid[v]], ych, qz, i1, i2, i3, i4, cq_inv[v], ws, wd, df[v], bt, bd, cw
                )


def screened_max_abs_t(k: int):
    """The max-|t| pass from single-precision products, screened, for a basis of ``k`` columns
    (1 <= k <= :data:`TILED_MAX_K`; None for other k: the caller uses the double-precision
    products and :func:`tiled_max_abs_t`).

    The matrix product ``u y*`` is the scan's dominant cost; in float32 it runs at twice the
    rate.  Its result only chooses which t to compute exactly (docs/methods.md#perm-null):

    1. From each float32 ``(w_s, w_d)`` (times ``unscale``: the caller takes the products of
       the phenotypes scaled by a power of two), with ``|ŵ − w| <= δ_b`` (``delta``; the
       caller's bound on the float32 product's error for permutation b), and the exact ``ρ``
       (computed as :func:`max_abs_t` does), an interval ``[t²_lo, t²_hi]`` holding the exact
       t² of every (variant, permutation).  A variant whose RSS is surely valid (``RSS_lo`` above
       1e-4 ρ and above the σ floor) raises the permutation's lower bound ``L_b`` to its
       ``t²_lo``; any other gets ``t²_hi = inf``.
    2. The variants with ``t²_hi (1 + 1e-9) >= L_b`` — the only ones whose exact t can be the
       largest — get the exact t: ``w_s``, ``w_d`` as float64 dot products of ``u``'s rows
       with the permuted phenotype, ``ρ`` as in step 1, then :func:`_keep_max` in variant
       order (the first variant still wins exact ties).

    So the maximum, its df and the tie rule are those of :func:`max_abs_t` given the same
    products; the products themselves are float64 sums in another order than BLAS's (the last
    bits).  The slack 1e-9 covers the rounding of the bounds.

    Returns
    -------
    callable or None
        ``f(w32, unscale, u, delta, yc, q, comp_ptr, comp_idx, gid, exc_ptr, exc_idx, cq_inv,
        df, best_t, best_df) -> int``, the number of exact evaluations; ``w32`` (2 V, b)
        float32 is ``u y*`` in single precision, times ``1 / unscale`` (a power of two), ``u``
        (2 V, n_c) float64 and ``delta`` (b,) float64 the bound in the units of ``yc``;
        the other parameters are :func:`max_abs_t`'s.
    """
    return _SCREENED(k)


def _screened_entry(k: int):
    """As :func:`_tiled_entry`, for :func:`_screened_kernel`."""

    @numba.njit(**_JIT)
    def entry(
        w32, unscale, u, delta, yc, q, comp_ptr, comp_idx, gid, exc_ptr, exc_idx, cq_inv, df,
        best_t, best_df,
    ):  # fmt: skip  # pragma: no cover - compiled
        return _screened_kernel(
            k, w32, unscale, u, delta, yc, q, comp_ptr, comp_idx, gid, exc_ptr, exc_idx, cq_inv,
            df, best_t, best_df,
        )  # fmt: skip

    return entry


_SCREENED = PerSize(1, TILED_MAX_K, None, _screened_entry)

#: Relative slack of the screen's comparison: far above the rounding of the bounds and of the
#: exact t (a few units of 1e-16 each), far below any gap the float32 bound leaves.
SCREEN_SLACK = 1e-9


@numba.njit(inline="always", **_JIT)
def _quad_form(K, cinv, rl):  # noqa: N803  # pragma: no cover - compiled
    """``r_qᵀ C r_q`` from the upper triangle of C, in :func:`max_abs_t`'s order."""
    quad = 0.0
    for a in range(K):
        tmp = cinv[a, a] * rl[a]
        for j in range(a + 1, K):
            tmp += 2.0 * cinv[a, j] * rl[j]
        quad += tmp * rl[a]
    return quad


@numba.njit(inline="always", **_JIT)
def _bounds(K, src, ych, q, i1, i2, i3, i4, cinv, ws, wd, unscale, delta, dfv, hi, lmax, cw):  # noqa: N803  # pragma: no cover
    """Step 1 of :func:`screened_max_abs_t` for one variant: the last four samples' terms and
    ``ρ`` as :func:`_finish` computes them, then ``t²_hi`` into ``hi`` and ``L_b`` into
    ``lmax``."""
    rl = numba.carray(_stack_rows(K, 1), (K + 1,))
    for b in range(cw):
        _minus4(K, rl, src, b, ych, q, i1, i2, i3, i4, b)
        rho = rl[K] - _quad_form(K, cinv, rl)
        d = delta[b]
        s = np.abs(np.float64(ws[b]) * unscale)  # a power of two: exact
        a = np.abs(np.float64(wd[b]) * unscale)
        sh = s + d
        ah = a + d
        sl = max(s - d, 0.0)
        al = max(a - d, 0.0)
        r_lo = (rho - sh * sh) - ah * ah  # the smallest RSS the interval allows
        r_hi = (rho - sl * sl) - al * al
        sure = (r_lo > 1e-4 * rho) & (r_lo > 2e-30 * dfv)
        hi[b] = ah * ah * dfv / r_lo if sure else np.inf
        lo = al * al * dfv / r_hi
        lmax[b] = max(lmax[b], lo) if sure else lmax[b]


@numba.njit(inline="always", **_JIT)
def _dot(x, y):  # pragma: no cover - compiled
    """``x · y`` of two contiguous float64 vectors, in eight interleaved partial sums (a fixed
    order, fast enough for the screen's few exact products)."""
    n = x.shape[0]
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    n8 = n - n % 8
    for i in range(0, n8, 8):
        a0 += x[i] * y[i]
        a1 += x[i + 1] * y[i + 1]
        a2 += x[i + 2] * y[i + 2]
        a3 += x[i + 3] * y[i + 3]
        a4 += x[i + 4] * y[i + 4]
        a5 += x[i + 5] * y[i + 5]
        a6 += x[i + 6] * y[i + 6]
        a7 += x[i + 7] * y[i + 7]
    for i in range(n8, n):
        a0 += x[i] * y[i]
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


@numba.njit(inline="always", **_JIT)
def _exact_rho(K, src, ych, qz, exc_idx, c, c_end, zero, cinv, b):  # noqa: N803  # pragma: no cover
    """``ρ`` of one (variant, permutation b), with the same passes of four and in the same
    order as :func:`_leading_passes` then :func:`_bounds` (only LLVM's fusing of a
    multiply-add may differ)."""
    at = _stack_rows(K, 1)
    rl = numba.carray(at, (K + 1,))
    own = numba.carray(at, (K + 1, 1))  # rl as the source column of the later passes
    i1, i2, i3, i4 = _four(exc_idx, c, c_end, zero)
    _minus4(K, rl, src, b, ych, qz, i1, i2, i3, i4, b)
    for c4 in range(c + 4, c_end, 4):
        i1, i2, i3, i4 = _four(exc_idx, c4, c_end, zero)
        _minus4(K, rl, own, 0, ych, qz, i1, i2, i3, i4, b)
    return rl[K] - _quad_form(K, cinv, rl)


@numba.njit(**_JIT)
def _screened_kernel(
    K, w32, unscale, u, delta, yc, q, comp_ptr, comp_idx, gid, exc_ptr, exc_idx, cq_inv, df,
    best_t, best_df,
):  # noqa: N803  # fmt: skip  # pragma: no cover - compiled
    """:func:`screened_max_abs_t` with ``K`` a compile-time constant."""
    numba.literally(K)
    n_c, nb = yc.shape
    n_var = gid.shape[0]
    zero = n_c
    qz, full, grp, ych = _work_arrays(K, q, comp_ptr.shape[0] - 1)
    r = numba.carray(_stack_rows(K, CHUNK), (K + 1, CHUNK))
    hi = np.empty((n_var, CHUNK))
    lmax = np.empty(CHUNK)
    ycols = np.empty((CHUNK, n_c))  # the chunk's permuted phenotypes, one per row
    n_exact = 0
    for c0 in range(0, nb, CHUNK):
        cw = min(CHUNK, nb - c0)
        _chunk_sums(yc, q, comp_ptr, comp_idx, c0, cw, ych, full, grp)
        lmax[:] = -np.inf
        dl = delta[c0 : c0 + cw]
        for v in range(n_var):
            i1, i2, i3, i4 = _leading_passes(
                K, r, grp[gid[v]], ych, qz, exc_idx, exc_ptr[v], exc_ptr[v + 1], zero, cw
            )
            ws = w32[v, c0 : c0 + cw]
            wd = w32[n_var + v, c0 : c0 + cw]
            if exc_ptr[v + 1] - exc_ptr[v] > 4:
                _bounds(
                    K, r, ych, qz, i1, i2, i3, i4, cq_inv[v], ws, wd, unscale, dl, df[v], hi[v],
                    lmax, cw,
                )  # fmt: skip
            else:
                _bounds(
                    K, grp[gid[v]], ych, qz, i1, i2, i3, i4, cq_inv[v], ws, wd, unscale, dl,
                    df[v], hi[v], lmax, cw,
                )  # fmt: skip
        # step 2: the chunk's phenotypes as rows (contiguous for the exact products), then
        # variant by variant; each permutation still meets its variants in order (the tie
        # rule), and the screen reads ``hi`` along its rows
        for i in range(n_c):
            for b in range(cw):
                ycols[b, i] = ych[i, b]
        for v in range(n_var):
            hv = hi[v]
            for b in range(cw):
                if hv[b] * (1.0 + SCREEN_SLACK) >= lmax[b]:
                    ws_v = _dot(u[v], ycols[b])
                    wd_v = _dot(u[n_var + v], ycols[b])
                    rho = _exact_rho(
                        K, grp[gid[v]], ych, qz, exc_idx, exc_ptr[v], exc_ptr[v + 1], zero,
                        cq_inv[v], b,
                    )  # fmt: skip
                    _keep_max(
                        rho - ws_v * ws_v - wd_v * wd_v, wd_v, df[v], best_t[c0:], best_df[c0:], b
                    )
                    n_exact += 1
    return n_exact
