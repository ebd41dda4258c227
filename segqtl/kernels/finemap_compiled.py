"""``finemap`` mode, compiled part: the numba loops of the missing-aware elastic net.

Sequential by nature (coordinate descent, one variant after another), so compiled with numba
(``nogil``, and ``cache=True``: compiled once into numba's on-disk cache next to this file).
The Python layer that drives them is :mod:`segqtl.kernels.finemap`.

The reference's numbers are reproduced bit for bit, which fixes how every sum is taken
(docs/methods.md#numerical-reproducibility):

* dot products, squared norms and residual updates of the solver run strictly left to right
  over ascending sample index: plain numba loops, which LLVM does not re-associate without
  fast-math;
* means and standard deviations use numpy's pairwise summation, re-implemented in
  :func:`pairwise_sum` so that hundreds of thousands of small (subsample, variant) moments
  are computed without a numpy call each;
* ``lstsq`` is LAPACK ``gelsd`` with numpy's default cut-off and ``X @ θ`` goes through BLAS
  ``gemv``; numba calls the same OpenBLAS routines as numpy.

``Z`` is the zero-filled standardised variant matrix ``(p, n)``: exactly the reference's "sum
over observed entries" (docs/methods.md#elastic-net).  The slow, obviously-sequential
formulation of the same solver lives in ``tests/reference_enet.py`` and the tests hold the two
to bit equality.
"""

from __future__ import annotations

import numba
import numpy as np

# The constants the compiled code reads live here, not in the Python layer: numba freezes
# globals into the compiled code and its cache is invalidated only by edits to this file.
#: Variant standardisation: σ at or above this keeps the variant
#: (docs/methods.md#standardisation).
VARIANT_SD_EPS = 1e-10
#: |β| above this counts as "selected" (docs/methods.md#elastic-net).
SELECTED_EPS = 1e-10

_EPS = float(np.finfo(np.float64).eps)
_JIT = dict(nogil=True, cache=True)


# An explicit signature: numba's type inference cannot cache a self-recursive function.
@numba.njit("float64(float64[::1], int64, int64)", **_JIT)
def pairwise_sum(a, lo, n):  # pragma: no cover - compiled
    """numpy's pairwise summation of ``a[lo:lo+n]`` (8 accumulators, blocks of 128).

    Parameters
    ----------
    a : ndarray, shape (N,), C-contiguous
    lo, n : int
        First element and number of elements summed.

    Returns
    -------
    float
        Bit-identical to ``np.sum(a[lo:lo+n])``.
    """
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    if n <= 128:
        r0 = a[lo]
        r1 = a[lo + 1]
        r2 = a[lo + 2]
        r3 = a[lo + 3]
        r4 = a[lo + 4]
        r5 = a[lo + 5]
        r6 = a[lo + 6]
        r7 = a[lo + 7]
        i = 8
        m = n - (n % 8)
        while i < m:
            j = lo + i
            r0 += a[j]
            r1 += a[j + 1]
            r2 += a[j + 2]
            r3 += a[j + 3]
            r4 += a[j + 4]
            r5 += a[j + 5]
            r6 += a[j + 6]
            r7 += a[j + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[lo + i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return pairwise_sum(a, lo, n2) + pairwise_sum(a, lo + n2, n - n2)


@numba.njit(**_JIT)
def standardise_rows(D, cols, min_count, counts, mu, sd, keep, Z):  # pragma: no cover - compiled
    """Standardise the rows of ``D[:, cols]`` on their observed entries, in place.

    docs/methods.md#standardisation (full data) and #stability-selection (subsamples).  Mean
    and SD are numpy's ``mean`` and ``std`` (pairwise sums) of the compacted observed values.

    Parameters
    ----------
    D : ndarray, shape (p, N)
        Raw d, NaN = missing.
    cols : ndarray of int64, shape (m,)
        Column indices (samples) to standardise over.
    min_count : int
        Fewest observed entries for a row to be kept.
    counts : ndarray of int64, shape (p,)
        Output: observed entries per row.
    mu, sd : ndarray, shape (p,)
        Output: mean and population SD of the observed entries (NaN when none).
    keep : ndarray of bool, shape (p,)
        Output: ``count ≥ min_count`` and ``sd ≥ VARIANT_SD_EPS``.
    Z : ndarray, shape (p, m)
        Output: zero-filled ``(d − μ)/σ`` for kept rows, all zero otherwise.
    """
    p = D.shape[0]
    m = cols.shape[0]
    row = np.empty(m)
    buf = np.empty(m)
    sq = np.empty(m)
    for v in range(p):
        # the row's values over cols, gathered once: the fill below then runs without gathers
        # or branches (it vectorises)
        for i in range(m):
            row[i] = D[v, cols[i]]
        c = 0
        for i in range(m):
            x = row[i]
            if x == x:
                buf[c] = x
                c += 1
        counts[v] = c
        if c == 0:
            mu[v] = np.nan
            sd[v] = np.nan
            keep[v] = False
        else:
            mean = pairwise_sum(buf, 0, c) / c
            for i in range(c):
                dev = buf[i] - mean
                sq[i] = dev * dev
            s = np.sqrt(pairwise_sum(sq, 0, c) / c)
            mu[v] = mean
            sd[v] = s
            keep[v] = c >= min_count and s >= VARIANT_SD_EPS
        if keep[v]:
            mean = mu[v]
            s = sd[v]
            for i in range(m):
                x = row[i]
                z = (x - mean) / s
                Z[v, i] = z if x == x else 0.0
        else:
            for i in range(m):
                Z[v, i] = 0.0


@numba.njit(**_JIT)
def lstsq(X, y):  # pragma: no cover - compiled
    """Minimum-norm least squares, gelsd with numpy's default cut-off ``eps·max(m, q)``.

    Parameters
    ----------
    X : ndarray, shape (m, q)
    y : ndarray, shape (m,)

    Returns
    -------
    ndarray, shape (q,)
    """
    return np.linalg.lstsq(X, y, rcond=_EPS * max(X.shape[0], X.shape[1]))[0]


@numba.njit(**_JIT)
def sq_norms(Z):  # pragma: no cover - compiled
    """``G_v = Σ_i Z_vi²``, sequential over i (docs/methods.md#elastic-net).

    Parameters
    ----------
    Z : ndarray, shape (p, n)

    Returns
    -------
    ndarray, shape (p,)
    """
    p, n = Z.shape
    G = np.empty(p)
    for v in range(p):
        s = 0.0
        for i in range(n):
            s += Z[v, i] * Z[v, i]
        G[v] = s
    return G


@numba.njit(**_JIT)
def y_minus_variants(y, Z, beta):  # pragma: no cover - compiled
    """``y − Σ_v β_v Z_v``: start from y, subtract variant by variant, skipping β_v = 0.

    Parameters
    ----------
    y : ndarray, shape (n,)
    Z : ndarray, shape (p, n)
    beta : ndarray, shape (p,)

    Returns
    -------
    ndarray, shape (n,)
    """
    out = y.copy()
    n = y.shape[0]
    for v in range(Z.shape[0]):
        b = beta[v]
        if b != 0.0:
            for i in range(n):
                out[i] -= b * Z[v, i]
    return out


@numba.njit(inline="always", **_JIT)
def _coordinate(z, g, lam1, lam2):  # pragma: no cover - compiled
    """A variant's new β from ``z = Σ_i Z_vi r_i + β_v G_v``: the soft-threshold update of
    docs/methods.md#elastic-net (``g = G_v``)."""
    if z > lam1:
        return (z - lam1) / (g + lam2)
    if z < -lam1:
        return (z + lam1) / (g + lam2)
    return 0.0


@numba.njit(**_JIT)
def cd(y, Z, X, G, lam, alpha, max_iter, tol, beta, theta):  # pragma: no cover - compiled
    """Block coordinate descent at one λ, updating ``beta`` and ``theta`` in place.

    docs/methods.md#elastic-net.  The caller sets the start (cold: β = 0 and
    θ = lstsq(X, y)).  Between the 5-sweep θ refreshes θ is stale, the stopping rule watches β
    only, and θ is refreshed once more at the end: the reference's schedule, which capped fits
    depend on.

    Parameters
    ----------
    y : ndarray, shape (n,)
    Z : ndarray, shape (p, n)
        Zero-filled standardised variants.
    X : ndarray, shape (n, q)
        Unpenalised design.
    G : ndarray, shape (p,)
        :func:`sq_norms` of ``Z``.
    lam, alpha : float
        Penalty λ and mixing α.
    max_iter : int
        Sweep cap.
    tol : float
        Stop when the largest |Δβ| of a sweep is below this.
    beta : ndarray, shape (p,)
        Start, overwritten with the fit.
    theta : ndarray, shape (q,)
        Start, overwritten with the fit.

    Returns
    -------
    int
        Sweeps run.
    """
    p, n = Z.shape
    lam1 = lam * alpha
    lam2 = lam * (1.0 - alpha)
    r = y_minus_variants(y - np.dot(X, theta), Z, beta)
    it = 0
    while it < max_iter:
        it += 1
        maxchg = 0.0
        for v in range(p):
            g = G[v]
            if g == 0.0:
                continue
            s = 0.0
            for i in range(n):
                s += Z[v, i] * r[i]
            old = beta[v]
            new = _coordinate(s + old * g, g, lam1, lam2)
            if new != old:
                delta = old - new
                for i in range(n):
                    r[i] += Z[v, i] * delta
                chg = abs(new - old)
                if chg > maxchg:
                    maxchg = chg
                beta[v] = new
        if it % 5 == 0:
            y_adj = y_minus_variants(y, Z, beta)
            theta[:] = lstsq(X, y_adj)
            r = y_adj - np.dot(X, theta)
        if maxchg < tol:
            break
    theta[:] = lstsq(X, y_minus_variants(y, Z, beta))
    return it


@numba.njit(**_JIT)
def predict(X, Z, beta, theta):  # pragma: no cover - compiled
    """``Xθ`` (BLAS), then ``+ β_v Z_v`` variant by variant.

    The order of docs/methods.md#cross-validation and #numerical-reproducibility.

    Parameters
    ----------
    X : ndarray, shape (m, q)
    Z : ndarray, shape (p, m)
    beta : ndarray, shape (p,)
    theta : ndarray, shape (q,)

    Returns
    -------
    ndarray, shape (m,)
    """
    pred = np.dot(X, theta)
    m = pred.shape[0]
    for v in range(Z.shape[0]):
        b = beta[v]
        if b != 0.0:
            for i in range(m):
                pred[i] += b * Z[v, i]
    return pred


@numba.njit(**_JIT)
def take_cols(Z, idx):  # pragma: no cover - compiled
    """``Z[:, idx]`` as a fresh C-contiguous (p, len(idx)) array."""
    out = np.empty((Z.shape[0], idx.shape[0]))
    for v in range(Z.shape[0]):
        for i in range(idx.shape[0]):
            out[v, i] = Z[v, idx[i]]
    return out


@numba.njit(**_JIT)
def take_rows(X, idx):  # pragma: no cover - compiled
    """``X[idx]`` as a fresh C-contiguous (len(idx), q) array."""
    out = np.empty((idx.shape[0], X.shape[1]))
    for i in range(idx.shape[0]):
        for j in range(X.shape[1]):
            out[i, j] = X[idx[i], j]
    return out


@numba.njit(**_JIT)
def cv_fold(y, Z, X, fold, f, lambdas, alpha, max_iter, tol):  # pragma: no cover - compiled
    """One fold's warm-started λ path (docs/methods.md#cross-validation).

    Parameters
    ----------
    y : ndarray, shape (n,)
    Z : ndarray, shape (p, n)
    X : ndarray, shape (n, q)
    fold : ndarray of int64, shape (n,)
        Fold label of each sample.
    f : int
        The fold held out.
    lambdas : ndarray, shape (L,)
        The grid, walked in order (the first λ starts cold).
    alpha, max_iter, tol
        As in :func:`cd`.

    Returns
    -------
    ndarray, shape (L,)
        Test MSE per grid point.
    """
    train = np.flatnonzero(fold != f)
    test = np.flatnonzero(fold == f)
    Ztr = take_cols(Z, train)
    Zte = take_cols(Z, test)
    Xtr = take_rows(X, train)
    Xte = take_rows(X, test)
    ytr = y[train]
    yte = y[test]
    G = sq_norms(Ztr)
    beta = np.zeros(Z.shape[0])
    theta = lstsq(Xtr, ytr)
    L = lambdas.shape[0]
    err = np.empty(L)
    m = test.shape[0]
    for t in range(L):
        cd(ytr, Ztr, Xtr, G, lambdas[t], alpha, max_iter, tol, beta, theta)
        res = yte - predict(Xte, Zte, beta, theta)
        err[t] = pairwise_sum(res * res, 0, m) / m
    return err


@numba.njit(**_JIT)
def _tally(betas, keeps, usable):  # pragma: no cover - compiled
    """The stability counts of the subsample fits, summed in subsample order.

    Parameters
    ----------
    betas : ndarray, shape (B, p)
        Each subsample's β.
    keeps : ndarray of bool, shape (B, p)
        The variants each subsample kept.
    usable : ndarray of bool, shape (B,)
        Subsamples in which any variant survived (the others are not counted).

    Returns
    -------
    The returns of :func:`stability_refits`.
    """
    n_b, p = betas.shape
    sel = np.zeros(p)
    bsum = np.zeros(p)
    npos = np.zeros(p)
    rec_b = np.empty(n_b * p, dtype=np.int64)
    rec_v = np.empty(n_b * p, dtype=np.int64)
    rec_beta = np.empty(n_b * p)
    n_rec = 0
    n_eff = 0
    for b in range(n_b):
        if not usable[b]:
            continue
        n_eff += 1
        for v in range(p):
            bv = betas[b, v]
            if keeps[b, v] and abs(bv) > SELECTED_EPS:
                sel[v] += 1.0
                bsum[v] += bv
                if bv > 0:
                    npos[v] += 1.0
                rec_b[n_rec] = b
                rec_v[n_rec] = v
                rec_beta[n_rec] = bv
                n_rec += 1
    return sel, bsum, npos, n_eff, rec_b[:n_rec], rec_v[:n_rec], rec_beta[:n_rec]


@numba.njit(**_JIT)
def stability_refits(y, X, D, subs, min_obs, lam, alpha, max_iter, tol):  # pragma: no cover
    """Cold fits at λ_sel on every subsample (docs/methods.md#stability-selection).

    Parameters
    ----------
    y : ndarray, shape (n,)
    X : ndarray, shape (n, q)
    D : ndarray, shape (p, n)
        Raw d of the coverage-kept variants, NaN = missing; re-standardised per subsample.
    subs : ndarray of int64, shape (B, m)
        Sample indices of each subsample, ascending.
    min_obs : int
        Fewest observed entries for a variant to enter a subsample's fit.
    lam, alpha, max_iter, tol
        As in :func:`cd`.

    Returns
    -------
    sel, bsum, npos : ndarray, shape (p,)
        Selection counts, sums of selected β and counts of positive β.
    n_eff : int
        Subsamples in which any variant survived.
    rec_b, rec_v : ndarray of int64, shape (r,)
    rec_beta : ndarray, shape (r,)
        The nonzero records (subsample b, variant v, β) in (b, v) order.
    """
    p = D.shape[0]
    B, m = subs.shape
    counts = np.empty(p, dtype=np.int64)
    mu = np.empty(p)
    sd = np.empty(p)
    keeps = np.zeros((B, p), dtype=np.bool_)
    usable = np.zeros(B, dtype=np.bool_)
    betas = np.zeros((B, p))
    Zb = np.empty((p, m))
    for b in range(B):
        sub = subs[b]
        keep = keeps[b]
        standardise_rows(D, sub, min_obs, counts, mu, sd, keep, Zb)
        for v in range(p):
            usable[b] = usable[b] or keep[v]
        if not usable[b]:
            continue
        ys = y[sub]
        Xs = take_rows(X, sub)
        G = sq_norms(Zb)
        theta = lstsq(Xs, ys)
        cd(ys, Zb, Xs, G, lam, alpha, max_iter, tol, betas[b], theta)
    return _tally(betas, keeps, usable)


#: Subsample fits walked side by side by :func:`stability_lanes`.
STABILITY_LANES = 4


@numba.njit(**_JIT)
def _lane_start(D, subs, b, min_obs, y, X, lane, lanes, keeps, work):  # pragma: no cover
    """Load subsample ``b`` into lane ``lane`` for a cold fit (as :func:`stability_refits` does
    before its :func:`cd`); returns whether any variant is kept (else the lane stays free).

    ``lanes`` = (Z, R, G, B, T, Y, XS): per lane its standardised variants (p, m), residual
    (m,), squared norms (p,), β (p,), θ (q,), y (m,) and X rows (m, q); ``work`` = (counts,
    mu, sd) of :func:`standardise_rows`.
    """
    Zs, R, G, B, T, Y, XS = lanes
    counts, mu, sd = work
    sub = subs[b]
    keep = keeps[b]
    standardise_rows(D, sub, min_obs, counts, mu, sd, keep, Zs[lane])
    usable = False
    for v in range(D.shape[0]):
        usable = usable or keep[v]
    if not usable:
        return False
    Y[lane] = y[sub]
    XS[lane] = take_rows(X, sub)
    G[lane] = sq_norms(Zs[lane])
    B[lane, :] = 0.0
    T[lane] = lstsq(XS[lane], Y[lane])
    R[lane] = Y[lane] - np.dot(XS[lane], T[lane])  # y − Xθ; no β_v ≠ 0 to subtract yet
    return True


@numba.njit(**_JIT)
def _lane_fill(
    D, subs, next_b, min_obs, y, X, lane, lanes, keeps, work, usable, lane_b
):  # pragma: no cover - compiled
    """Give the free lane ``lane`` the next subsample from ``next_b`` on that keeps a variant
    (:func:`_lane_start`), marking it in ``usable`` and ``lane_b``; subsamples without one are
    passed over.  Returns the subsample after the last one tried."""
    while next_b < subs.shape[0] and lane_b[lane] < 0:
        b = next_b
        next_b += 1
        if _lane_start(D, subs, b, min_obs, y, X, lane, lanes, keeps, work):
            usable[b] = True
            lane_b[lane] = b
    return next_b


@numba.njit(**_JIT)
def stability_lanes(y, X, D, subs, min_obs, lam, alpha, max_iter, tol):  # pragma: no cover
    """:func:`stability_refits` with :data:`STABILITY_LANES` subsample fits side by side.

    Same arguments, same returns, bit for bit.  Each fit is exactly :func:`cd`'s sequence of
    operations (cold start, sweeps, 5-sweep θ refresh, stopping rule); what changes is the
    schedule: one pass over the variants advances every lane's sweep, so the lanes' dot
    products (each a sequential sum over its own subsample) are independent dependency
    chains in one loop, as the CV folds are in :func:`cv_lanes`.  A lane whose fit stops takes
    the next subsample.  The final θ refresh of :func:`cd` is left out: it does not change β.
    The fits' β are kept per subsample and summed in subsample order at the end, so every sum
    is taken in the order of :func:`stability_refits`.
    """
    K = STABILITY_LANES
    p = D.shape[0]
    n_b, m = subs.shape
    q = X.shape[1]
    lam1 = lam * alpha
    lam2 = lam * (1.0 - alpha)
    Zs = np.zeros((K, p, m))
    R = np.zeros((K, m))
    G = np.zeros((K, p))
    B = np.zeros((K, p))
    T = np.zeros((K, q))
    keeps = np.zeros((n_b, p), dtype=np.bool_)
    usable = np.zeros(n_b, dtype=np.bool_)
    betas = np.zeros((n_b, p))
    counts = np.empty(p, dtype=np.int64)
    mu = np.empty(p)
    sd = np.empty(p)
    Y = np.zeros((K, m))
    XS = np.zeros((K, m, q))
    lanes = (Zs, R, G, B, T, Y, XS)
    work = (counts, mu, sd)
    lane_b = np.full(K, -1, dtype=np.int64)  # the subsample each lane fits (-1: free)
    it = np.zeros(K, dtype=np.int64)
    maxchg = np.zeros(K)
    dl = np.zeros(K)
    s = np.zeros(K)
    next_b = 0
    active = 0
    for lane in range(K):
        next_b = _lane_fill(
            D, subs, next_b, min_obs, y, X, lane, lanes, keeps, work, usable, lane_b
        )
        active += lane_b[lane] >= 0
    while active > 0:
        maxchg[:] = 0.0
        for v in range(p):
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            s3 = 0.0
            for i in range(m):
                s0 += Zs[0, v, i] * R[0, i]
                s1 += Zs[1, v, i] * R[1, i]
                s2 += Zs[2, v, i] * R[2, i]
                s3 += Zs[3, v, i] * R[3, i]
            s[0] = s0
            s[1] = s1
            s[2] = s2
            s[3] = s3
            for lane in range(K):
                dl[lane] = 0.0
                g = G[lane, v]
                if lane_b[lane] < 0 or g == 0.0:
                    continue
                old = B[lane, v]
                new = _coordinate(s[lane] + old * g, g, lam1, lam2)
                if new != old:
                    dl[lane] = old - new
                    chg = abs(new - old)
                    if chg > maxchg[lane]:
                        maxchg[lane] = chg
                    B[lane, v] = new
            for lane in range(K):
                delta = dl[lane]
                if delta != 0.0:
                    for i in range(m):
                        R[lane, i] += Zs[lane, v, i] * delta
        for lane in range(K):
            b = lane_b[lane]
            if b < 0:
                continue
            it[lane] += 1
            if it[lane] % 5 == 0:
                y_adj = y_minus_variants(Y[lane], Zs[lane], B[lane])
                T[lane] = lstsq(XS[lane], y_adj)
                R[lane] = y_adj - np.dot(XS[lane], T[lane])
            if maxchg[lane] < tol or it[lane] >= max_iter:
                betas[b] = B[lane]
                lane_b[lane] = -1
                active -= 1
                it[lane] = 0
                next_b = _lane_fill(
                    D, subs, next_b, min_obs, y, X, lane, lanes, keeps, work, usable, lane_b
                )
                active += lane_b[lane] >= 0
    return _tally(betas, keeps, usable)


@numba.njit(**_JIT)
def seq_dots(Z, r):  # pragma: no cover - compiled
    """``Σ_i Z_vi r_i`` per row, sequential over i: ``Z`` (p, n), ``r`` (n,) -> (p,)."""
    out = np.empty(Z.shape[0])
    for v in range(Z.shape[0]):
        s = 0.0
        for i in range(Z.shape[1]):
            s += Z[v, i] * r[i]
        out[v] = s
    return out


@numba.njit(**_JIT)
def cv_lanes(y, Z, X, fold, lambdas, alpha, max_iter, tol):  # pragma: no cover - compiled
    """The 5 folds' λ paths advanced side by side (docs/methods.md#cross-validation).

    Each fold is exactly the sequential computation of :func:`cv_fold` (same sweeps, same
    sums in the same order).  What changes is the schedule: one pass over the variants
    serves all five folds, so the five dot products of a variant are five independent
    dependency chains in one loop.  A sequential sum is latency-bound (one add in flight);
    five chains keep the adder busy without re-associating any sum.  All folds read the one
    full ``Z`` (which stays in cache, unlike five training copies): each fold's residual
    vector spans all n samples and holds exact zeros at its test samples, so those terms add
    exact zeros and the training terms are summed in the same ascending order as in
    :func:`cv_fold`.

    Parameters
    ----------
    y, Z, X, fold, lambdas, alpha, max_iter, tol
        As in :func:`cv_fold`.

    Returns
    -------
    ndarray, shape (L, 5)
        ``E[t, f]``: test MSE of fold f at grid point t.
    """
    K = 5
    p = Z.shape[0]
    q = X.shape[1]
    L = lambdas.shape[0]
    lam1 = np.empty(K)
    lam2 = np.empty(K)
    n = Z.shape[1]
    R = np.zeros((K, n))
    M = np.zeros((K, n))  # 1 at a fold's training samples, 0 at its test samples
    B = np.zeros((K, p))
    T = np.zeros((K, q))
    G = np.empty((K, p))
    trains = []
    tests = []
    train_idx = []
    for f in range(K):
        train = np.flatnonzero(fold != f)
        test = np.flatnonzero(fold == f)
        Ztr = take_cols(Z, train)
        M[f, train] = 1.0
        G[f] = sq_norms(Ztr)
        train_idx.append(train)
        trains.append((y[train], Ztr, take_rows(X, train)))
        tests.append((y[test], take_cols(Z, test), take_rows(X, test)))
    E = np.empty((L, K))
    t = np.zeros(K, dtype=np.int64)
    it = np.zeros(K, dtype=np.int64)
    maxchg = np.zeros(K)
    running = np.ones(K, dtype=np.bool_)
    for f in range(K):  # the first λ of each fold starts cold
        ytr, Ztr, Xtr = trains[f]
        T[f] = lstsq(Xtr, ytr)
        R[f, train_idx[f]] = y_minus_variants(ytr - np.dot(Xtr, T[f]), Ztr, B[f])
        lam1[f] = lambdas[0] * alpha
        lam2[f] = lambdas[0] * (1.0 - alpha)
    s = np.empty(K)
    n_running = K
    while n_running > 0:
        maxchg[:] = 0.0
        for v in range(p):
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            s3 = 0.0
            s4 = 0.0
            for i in range(n):
                zi = Z[v, i]
                s0 += zi * R[0, i]
                s1 += zi * R[1, i]
                s2 += zi * R[2, i]
                s3 += zi * R[3, i]
                s4 += zi * R[4, i]
            s[0] = s0
            s[1] = s1
            s[2] = s2
            s[3] = s3
            s[4] = s4
            for f in range(K):
                g = G[f, v]
                if not running[f] or g == 0.0:
                    continue
                old = B[f, v]
                new = _coordinate(s[f] + old * g, g, lam1[f], lam2[f])
                if new != old:
                    delta = old - new
                    for i in range(n):
                        R[f, i] += Z[v, i] * delta * M[f, i]
                    chg = abs(new - old)
                    if chg > maxchg[f]:
                        maxchg[f] = chg
                    B[f, v] = new
        for f in range(K):
            if not running[f]:
                continue
            ytr, Ztr, Xtr = trains[f]
            it[f] += 1
            if it[f] % 5 == 0:
                y_adj = y_minus_variants(ytr, Ztr, B[f])
                T[f] = lstsq(Xtr, y_adj)
                R[f, train_idx[f]] = y_adj - np.dot(Xtr, T[f])
            if maxchg[f] < tol or it[f] >= max_iter:
                # the fit at λ_t is done: final θ refresh, test error, warm start of λ_t+1
                T[f] = lstsq(Xtr, y_minus_variants(ytr, Ztr, B[f]))
                yte, Zte, Xte = tests[f]
                res = yte - predict(Xte, Zte, B[f], T[f])
                E[t[f], f] = pairwise_sum(res * res, 0, res.shape[0]) / res.shape[0]
                t[f] += 1
                if t[f] == L:
                    running[f] = False
                    n_running -= 1
                    continue
                it[f] = 0
                lam1[f] = lambdas[t[f]] * alpha
                lam2[f] = lambdas[t[f]] * (1.0 - alpha)
                R[f, train_idx[f]] = y_minus_variants(ytr - np.dot(Xtr, T[f]), Ztr, B[f])
    return E
