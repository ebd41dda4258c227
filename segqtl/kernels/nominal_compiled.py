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


# "reassoc" lets LLVM split each sum over samples into vector lanes (a fixed order for the
# compiled code, not numpy's); "contract" fuses multiply-adds.
@numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"contract", "reassoc"})
def masked_products(s, d, gid, group_f, xt, ps, pd, sq):  # pragma: no cover - compiled
    """Masked cross-products of every variant's s and d.

    Parameters
    ----------
    s, d : (V, n) float
        The variants' s and d, zero where the genotype is missing (rows may be any strides'
        views: each is read once).
    gid : (V,) int
        Each variant's segment group: its samples are ``group_f[gid[v]] == 1`` (and s, d
        non-missing, which their zeros take care of).
    group_f : (G, n) float
        Segment groups' masks as 0.0 / 1.0.
    xt : (K, n) float
        Per-sample columns, transposed (rows contiguous).
    ps, pd : (V, K) float
        Filled with ``Σ_i m_vi s_vi x_ji`` and the same with d.
    sq : (V, 3) float
        Filled with ``Σ m s²``, ``Σ m s d``, ``Σ m d²``.
    """
    n_var, n = s.shape
    k = xt.shape[0]
    a = np.empty(n)
    b = np.empty(n)
    for v in range(n_var):
        m = group_f[gid[v]]
        sv = s[v]
        dv = d[v]
        ss = 0.0
        sd = 0.0
        dd = 0.0
        for i in range(n):
            ai = sv[i] * m[i]
            bi = dv[i] * m[i]
            a[i] = ai
            b[i] = bi
            ss += ai * ai
            sd += ai * bi
            dd += bi * bi
        sq[v, 0] = ss
        sq[v, 1] = sd
        sq[v, 2] = dd
        for j in range(k):
            xj = xt[j]
            acc_s = 0.0
            acc_d = 0.0
            for i in range(n):
                acc_s += a[i] * xj[i]
                acc_d += b[i] * xj[i]
            ps[v, j] = acc_s
            pd[v, j] = acc_d


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
    r = b_all.shape[2]
    a = np.empty((p, p))
    x = np.empty((p, r))
    for m in range(n_sys):
        a[:] = a_all[m]
        x[:] = b_all[m]
        singular = False
        for j in range(p):
            piv = j
            big = np.abs(a[j, j])
            for i in range(j + 1, p):
                v = np.abs(a[i, j])
                if v > big:
                    big = v
                    piv = i
            if not big > 0.0:  # an exactly zero (or NaN) pivot
                singular = True
                break
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
                # a division, not a product with 1 / pivot: x * (1 / x) is not always 1, and
                # an exactly collinear design must leave an exactly zero pivot
                f = a[i, j] / a[j, j]
                for c in range(j + 1, p):
                    a[i, c] -= f * a[j, c]
                for c in range(r):
                    x[i, c] -= f * x[j, c]
        if singular:
            out[m] = np.nan
            continue
        for i in range(p - 1, -1, -1):
            for c in range(r):
                acc = x[i, c]
                for jj in range(i + 1, p):
                    acc -= a[i, jj] * x[jj, c]
                x[i, c] = acc / a[i, i]
        out[m] = x


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
