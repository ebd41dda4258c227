"""Nominal kernel, compiled part: each variant's masked cross-products in one pass.

:func:`masked_products` gives, for every variant, the sums over its samples that the batched
fits of :mod:`segqtl.kernels.nominal` and the permutation scan of :mod:`segqtl.kernels.perm`
start from: ``Σ s x_j``, ``Σ d x_j`` for each per-sample column ``x_j``, and ``Σ s²``,
``Σ s d``, ``Σ d²``.  numpy built them from masked copies of s and d (two (V, n) products,
two matrix products with a few columns, three row-wise dot products: eight passes over
(V, n) arrays); here each variant's rows are read once, masked on the fly and reduced.

:func:`batched_solve` solves the fits' small systems, as ``np.linalg.solve`` does but without
its cost per system.

The plain numpy formulations (masked copies and matrix products; ``np.linalg.solve``) are in
``tests/test_kernels_nominal.py``, which holds these kernels to them.  Compiled with
``cache=True`` like the other kernels (segqtl/kernels/__init__.py); a nominal run's fork server
loads them once (segqtl/engine/nominal_warm.py).
"""

from __future__ import annotations

import numba
import numpy as np

from .per_size import PerSize

# "reassoc" lets LLVM split each sum over samples into vector lanes (a fixed order for the
# compiled code, not numpy's); "contract" fuses multiply-adds.
_PRODUCTS_JIT = dict(nogil=True, cache=True, error_model="numpy", fastmath={"contract", "reassoc"})


@numba.njit(inline="always", **_PRODUCTS_JIT)
def _variant_products(sv, dv, m, xt, ps, pd, sq):  # pragma: no cover - compiled
    """One variant's masked cross-products (see :func:`masked_products`): ``sv``, ``dv``,
    ``m`` (n,), ``xt`` (K, n); fills ``ps``, ``pd`` (K,) and ``sq`` (3,)."""
    n = sv.shape[0]
    k = xt.shape[0]
    # Three columns of x per pass over the variant's samples (six sums in flight; the
    # variant's rows stay in L1 between passes); the first pass also forms the squares.
    # A short last pass repeats the last column and drops the repeats.
    for j in range(0, k, 3):
        x0 = xt[j]
        x1 = xt[min(j + 1, k - 1)]
        x2 = xt[min(j + 2, k - 1)]
        s0 = s1 = s2 = d0 = d1 = d2 = 0.0
        ss = sd = dd = 0.0
        first = j == 0
        for i in range(n):
            ai = sv[i] * m[i]
            bi = dv[i] * m[i]
            if first:
                ss += ai * ai
                sd += ai * bi
                dd += bi * bi
            s0 += ai * x0[i]
            s1 += ai * x1[i]
            s2 += ai * x2[i]
            d0 += bi * x0[i]
            d1 += bi * x1[i]
            d2 += bi * x2[i]
        if first:
            sq[0] = ss
            sq[1] = sd
            sq[2] = dd
        ps[j] = s0
        pd[j] = d0
        if j + 1 < k:
            ps[j + 1] = s1
            pd[j + 1] = d1
        if j + 2 < k:
            ps[j + 2] = s2
            pd[j + 2] = d2


@numba.njit(**_PRODUCTS_JIT)
def masked_products(s, d, gid, group_f, xt, ps, pd, sq):  # pragma: no cover - compiled
    """Masked cross-products of every variant's s and d.

    Parameters
    ----------
    s, d : (V, n) float
        The variants' s and d, zero where the genotype is missing (rows may be any strides'
        views: each is read from memory once).
    gid : (V,) int
        Each variant's segment group: its samples are ``group_f[gid[v]] == 1`` (and s, d
        non-missing, which their zeros take care of).
    group_f : (G, n) float
        Segment groups' masks as 0.0 / 1.0.
    xt : (K, n) float
        Per-sample columns, transposed (rows contiguous); K ≥ 1.
    ps, pd : (V, K) float
        Filled with ``Σ_i m_vi s_vi x_ji`` and the same with d.
    sq : (V, 3) float
        Filled with ``Σ m s²``, ``Σ m s d``, ``Σ m d²``.
    """
    for v in range(s.shape[0]):
        _variant_products(s[v], d[v], group_f[gid[v]], xt, ps[v], pd[v], sq[v])


@numba.njit(**_PRODUCTS_JIT)
def masked_products_many(
    s, d, start, stop, row_ptr, gid, grp_ptr, group_f, xts, ps, pd, sq
):  # pragma: no cover - compiled
    """:func:`masked_products` of several phenotypes over one block of variants, each
    variant's s and d read from memory once for all of them (overlapping cis windows share
    most variants; the products are then a cache-resident computation, not a stream).

    The same sums in the same order as one :func:`masked_products` call per phenotype.

    Parameters
    ----------
    s, d : (V_block, n) float
        The block's s and d.
    start, stop : (P,) int
        Phenotype p's variants are the block's rows ``start[p]:stop[p]``.
    row_ptr : (P + 1,) int
        Phenotype p's rows of ``gid``, ``ps``, ``pd`` and ``sq`` are ``row_ptr[p]:row_ptr[p+1]``.
    gid : (ΣV,) int
        Each (phenotype, variant)'s segment group, numbered within its phenotype.
    grp_ptr : (P,) int
        Phenotype p's groups are rows ``grp_ptr[p] + gid`` of ``group_f``.
    group_f : (ΣG, n) float
        All phenotypes' group masks.
    xts : (P, K, n) float
        Each phenotype's per-sample columns, transposed.
    ps, pd : (ΣV, K) float
    sq : (ΣV, 3) float
        As for :func:`masked_products`, stacked by phenotype.
    """
    n_ph = start.shape[0]
    lo = start.min()
    hi = stop.max()
    for v in range(lo, hi):
        sv = s[v]
        dv = d[v]
        for p in range(n_ph):
            if start[p] <= v < stop[p]:
                r = row_ptr[p] + v - start[p]
                m = group_f[grp_ptr[p] + gid[r]]
                _variant_products(sv, dv, m, xts[p], ps[r], pd[r], sq[r])


@numba.njit(inline="always", fastmath={"contract"})
def _lu_solve(a, x):  # pragma: no cover - compiled
    """Solve ``a x = x`` in place by LU with partial pivoting (LAPACK's ``gesv`` algorithm).

    ``a`` (p, p) and ``x`` (p, r) are overwritten (``x`` with the solution).  Returns False,
    with ``x`` partly eliminated, when the elimination meets an exactly zero (or NaN) pivot.
    """
    p = a.shape[0]
    r = x.shape[1]
    for j in range(p):
        piv = j
        big = np.abs(a[j, j])
        for i in range(j + 1, p):
            v = np.abs(a[i, j])
            if v > big:
                big = v
                piv = i
        if not big > 0.0:  # an exactly zero (or NaN) pivot
            return False
        if piv != j:
            for c in range(p):
                t = a[j, c]
                a[j, c] = a[piv, c]
                a[piv, c] = t
            for c in range(r):
                t = x[j, c]
                x[j, c] = x[piv, c]
                x[piv, c] = t
        for i in range(j + 1, p):
            # a division, not a product with 1 / pivot: x * (1 / x) is not always 1, and an
            # exactly collinear design must leave an exactly zero pivot
            f = a[i, j] / a[j, j]
            for c in range(j + 1, p):
                a[i, c] -= f * a[j, c]
            for c in range(r):
                x[i, c] -= f * x[j, c]
    for i in range(p - 1, -1, -1):
        for c in range(r):
            acc = x[i, c]
            for jj in range(i + 1, p):
                acc -= a[i, jj] * x[jj, c]
            x[i, c] = acc / a[i, i]
    return True


@numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"contract"})
def batched_solve(a_all, b_all, out):  # pragma: no cover - compiled
    """Solve each small system ``a x = b`` by LU with partial pivoting (LAPACK's ``gesv``
    algorithm); NaN for a system whose elimination meets an exactly zero pivot (a singular
    matrix, as LAPACK reports it).  For a rank-deficient system, rounding decides whether a
    pivot comes out exactly zero, here as in LAPACK; exactly collinear columns (d = ±s, a copy
    of a variant) do.

    numpy's batched solve spends most of its time per system on its own machinery (copies to
    Fortran order, a LAPACK call): about 0.8 µs for the nominal fits' 8 x 8 systems.

    Parameters
    ----------
    a_all : (V, p, p) float
    b_all : (V, p, r) float
    out : (V, p, r) float
        Filled with the solutions.
    """
    n_sys, p, _ = a_all.shape
    a = np.empty((p, p))
    x = np.empty((p, b_all.shape[2]))
    for m in range(n_sys):
        a[:] = a_all[m]
        x[:] = b_all[m]
        if _lu_solve(a, x):
            out[m] = x
        else:
            out[m] = np.nan


#: Systems of up to this many columns (k + 2) get a kernel compiled for their size.
GRAM_SOLVE_MAX_P = 18


def gram_solve(p: int):
    """The compiled kernel that assembles and solves the nominal fits' systems of ``p = k + 2``
    columns (:func:`gram_solve_any`'s parameters and numbers).

    Compiled once per p (a literal argument): with the sizes known, LLVM unrolls the small
    loops of the assembly and the LU, 20-25% faster at p = 9.  The first run with a new p
    compiles it (about 0.7 s, once per installation: numba's disk cache); p above
    :data:`GRAM_SOLVE_MAX_P` gets :func:`gram_solve_any` itself.

    Returns
    -------
    callable
    """
    return _GRAM_SOLVE(p)


def _gram_solve_entry(p: int):
    """A compiled entry point that calls :func:`_gram_solve_p` with ``p`` as a literal (the
    closure holds nothing but ``p``, which numba's disk cache takes into the kernel's key)."""

    @numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"contract"})
    def entry(upper, prod_s, prod_d, ss, sd, dd, keep, beta, var_s, var_d):  # pragma: no cover
        _gram_solve_p(p, upper, prod_s, prod_d, ss, sd, dd, keep, beta, var_s, var_d)

    return entry


@numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"contract"})
def _gram_solve_p(P, upper, prod_s, prod_d, ss, sd, dd, keep, beta, var_s, var_d):  # noqa: N803  # pragma: no cover
    """:func:`gram_solve_any` with ``P`` (the columns) a compile-time constant."""
    numba.literally(P)
    _gram_solve_body(P, upper, prod_s, prod_d, ss, sd, dd, keep, beta, var_s, var_d)


@numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"contract"})
def gram_solve_any(upper, prod_s, prod_d, ss, sd, dd, keep, beta, var_s, var_d):  # pragma: no cover
    """The nominal fits' systems, each assembled from its parts and solved as
    :func:`batched_solve` solves it.

    Variant ``v = keep[m]`` has the Gram matrix of ``(q, s, d)`` (``p = k + 2`` columns) with
    its q-block from ``upper`` (``np.triu_indices(k)`` order), its q-s and q-d blocks from
    ``prod_s``/``prod_d`` and ``ss``, ``sd``, ``dd``; the right-hand sides are ``(qᵀỹ, sᵀỹ,
    dᵀỹ)`` and the unit vectors of s and d.  The same numbers as :func:`batched_solve` on
    ``gram_matrices(...)`` (the plain formulation in the tests), without making the (V, p, p)
    and (V, p, 3) arrays.

    Parameters
    ----------
    upper : (V, ≥ k(k+1)/2 + k) float
        ``Σ q_i q_j`` (upper triangle) then ``Σ q_j ỹ``, per variant.
    prod_s, prod_d : (V, ≥ k+1) float
        ``Σ s q_j`` then ``Σ s ỹ`` (and the same with d).
    ss, sd, dd : (V,) float
    keep : (M,) int
        The variants to solve.
    beta : (M, p) float
        Filled with the coefficients of ``(q, s, d)``; NaN for a singular system.
    var_s, var_d : (M,) float
        Filled with the (s, s) and (d, d) entries of the inverse Gram matrix.
    """
    _gram_solve_body(beta.shape[1], upper, prod_s, prod_d, ss, sd, dd, keep, beta, var_s, var_d)


@numba.njit(inline="always", error_model="numpy", fastmath={"contract"})
def _gram_solve_body(
    p, upper, prod_s, prod_d, ss, sd, dd, keep, beta, var_s, var_d
):  # pragma: no cover
    k = p - 2
    nq = k * (k + 1) // 2
    a = np.empty((p, p))
    x = np.empty((p, 3))
    for m in range(keep.shape[0]):
        v = keep[m]
        t = 0
        for i in range(k):
            for j in range(i, k):
                a[i, j] = upper[v, t]
                a[j, i] = upper[v, t]
                t += 1
            a[i, k] = prod_s[v, i]
            a[k, i] = prod_s[v, i]
            a[i, k + 1] = prod_d[v, i]
            a[k + 1, i] = prod_d[v, i]
            x[i, 0] = upper[v, nq + i]
        a[k, k] = ss[v]
        a[k, k + 1] = sd[v]
        a[k + 1, k] = sd[v]
        a[k + 1, k + 1] = dd[v]
        x[k, 0] = prod_s[v, k]
        x[k + 1, 0] = prod_d[v, k]
        x[:, 1:] = 0.0
        x[k, 1] = 1.0
        x[k + 1, 2] = 1.0
        if _lu_solve(a, x):
            for i in range(p):
                beta[m, i] = x[i, 0]
            var_s[m] = x[k, 1]
            var_d[m] = x[k + 1, 2]
        else:
            beta[m] = np.nan
            var_s[m] = np.nan
            var_d[m] = np.nan


@numba.njit(nogil=True, cache=True, error_model="numpy")
def minus_excluded(out, indptr, indices, per_sample):  # pragma: no cover - compiled
    """``out[v] -= Σ_{i ∈ excluded(v)} per_sample[i]``, the excluded samples of a CSR pattern.

    Each row's terms are summed first, from zero and in the pattern's order, then subtracted:
    scipy's ``csr_matrix @ per_sample`` (with unit values) followed by the subtraction, bit for
    bit, without the product's (V, K) array.

    Parameters
    ----------
    out : (V, K) float
        The group sums of each variant, updated in place.
    indptr : (V + 1,) int
    indices : (nnz,) int
        The CSR pattern of each variant's excluded samples.
    per_sample : (n, K) float
    """
    k = out.shape[1]
    acc = np.empty(k)
    for v in range(out.shape[0]):
        lo = indptr[v]
        hi = indptr[v + 1]
        if lo == hi:
            continue
        acc[:] = 0.0
        for p in range(lo, hi):
            row = per_sample[indices[p]]
            for j in range(k):
                acc[j] += row[j]
        for j in range(k):
            out[v, j] -= acc[j]


@numba.njit(nogil=True, cache=True, error_model="numpy")
def split_dosages(alt, ref, s, d, observed):  # pragma: no cover - compiled
    """``s = alt + ref``, ``d = ref - alt`` and ``observed = isfinite(s)``, zero where missing,
    in one pass (numpy took five over the block).

    Parameters
    ----------
    alt, ref : (V, n) float
    s, d : (V, n) float
        Filled.
    observed : (V, n) bool
        Filled.

    Returns
    -------
    int
        The number of missing genotypes.
    """
    n_var, n = alt.shape
    n_missing = 0
    for v in range(n_var):
        for i in range(n):
            a = alt[v, i]
            r = ref[v, i]
            sv = a + r
            ok = np.isfinite(sv)
            observed[v, i] = ok
            s[v, i] = sv if ok else 0.0
            d[v, i] = (r - a) if ok else 0.0
            n_missing += 0 if ok else 1
    return n_missing


@numba.njit(nogil=True, cache=True, error_model="numpy")
def missing_coordinates(observed, count):  # pragma: no cover - compiled
    """``np.nonzero(~observed)`` for a block with ``count`` missing genotypes, without the
    negated copy: each row is counted (a vectorised sum), and only rows with a missing
    genotype are searched.

    Parameters
    ----------
    observed : (V, n) bool
    count : int
        The number of False entries (:func:`split_dosages`' result).

    Returns
    -------
    rows, cols : ndarray of int64, shape (count,)
        Row-major.
    """
    n_var, n = observed.shape
    rows = np.empty(count, dtype=np.int64)
    cols = np.empty(count, dtype=np.int64)
    at = 0
    for v in range(n_var):
        present = 0
        for i in range(n):
            present += observed[v, i]
        if present == n:
            continue
        for i in range(n):
            if not observed[v, i]:
                rows[at] = v
                cols[at] = i
                at += 1
    return rows, cols


_GRAM_SOLVE = PerSize(2, GRAM_SOLVE_MAX_P, gram_solve_any, _gram_solve_entry)
