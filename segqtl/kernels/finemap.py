"""``finemap`` mode: missing-aware elastic net with stability selection, per phenotype.

Pure array maths (SPEC_FINEMAP_VALIDATE §2–§9, §14, §15), compiled with numba where the work
is sequential by nature.  The reference's numbers are reproduced bit for bit, which fixes how
every sum is taken:

* dot products, squared norms and residual updates of the solver run strictly left to right
  over ascending sample index (§15.1): plain numba loops, which LLVM does not re-associate
  without fast-math;
* means and standard deviations use numpy's pairwise summation (§15.4), re-implemented in
  :func:`_pairwise_sum` so that hundreds of thousands of small (subsample, variant) moments
  are computed without a numpy call each;
* ``lstsq`` is LAPACK ``gelsd`` with numpy's default cut-off and ``X @ θ`` goes through BLAS
  ``gemv`` (§15.3); numba calls the same OpenBLAS routines as numpy.

``Z`` is the zero-filled standardised variant matrix ``(p, n)``: exactly the reference's "sum
over observed entries" (§4.2).  The slow, obviously-sequential formulation of the same solver
lives in :mod:`segqtl.kernels.enet` and the tests hold the two to bit equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from .enet import (
    CV_PATH,
    FULL_FIT,
    R2_FULL_FIT,
    SELECTED_EPS,
    STABILITY_FIT,
    cv_fold_ids,
    lambda_grid,
    n_subsample,
    select_lambda_index,
    stability_subsamples,
)

#: Fewest good samples for a phenotype, and the floor of the coverage filter (§2.6, §3).
MIN_SAMPLES = 30
#: Block standardisation: σ above this scales the column, otherwise it stays raw (§2.8).
BLOCK_SD_EPS = 1e-10
#: Variant standardisation: σ at or above this keeps the variant (§3, §7).
VARIANT_SD_EPS = 1e-10
#: |d| above this counts as an allelic gain in the descriptive columns (§8).
GAIN_CUTOFF = 0.1

# Result status codes (shared with the warehouse's result_status table).
OK = 0
TOO_FEW_SAMPLES = 1
NO_CIS_VARIANT = 6
NO_VARIANT_PASSES_COVERAGE = 7
FAILED = 8

EFFECT_NONE = "no effect"
EFFECT_NEGATIVE = "ALT gain increases phenotype; REF gain decreases phenotype"
EFFECT_POSITIVE = "REF gain increases phenotype; ALT gain decreases phenotype"

_EPS = float(np.finfo(np.float64).eps)
_JIT = dict(nogil=True, cache=True)


# ----------------------------------------------------------------------------- compiled pieces
# An explicit signature: numba's type inference cannot cache a self-recursive function.
@numba.njit("float64(float64[::1], int64, int64)", **_JIT)
def _pairwise_sum(a, lo, n):  # pragma: no cover - compiled
    """numpy's pairwise summation of ``a[lo:lo+n]`` (8 accumulators, blocks of 128)."""
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
    return _pairwise_sum(a, lo, n2) + _pairwise_sum(a, lo + n2, n - n2)


@numba.njit(**_JIT)
def _standardise(D, cols, min_count, counts, mu, sd, keep, Z):  # pragma: no cover - compiled
    """Standardise the rows of ``D[:, cols]`` on their observed entries (§3, §7).

    ``D`` (p, N) raw d with NaN; ``cols`` (m,) column indices.  Fills ``counts``, ``mu``,
    ``sd``, ``keep`` (``count ≥ min_count`` and ``sd ≥ 1e-10``) and ``Z`` (p, m): zero-filled
    ``(d − μ)/σ`` for kept rows, all zero otherwise.  Mean and SD are numpy's ``mean`` and
    ``std`` (pairwise sums) of the compacted observed values.
    """
    p = D.shape[0]
    m = cols.shape[0]
    buf = np.empty(m)
    sq = np.empty(m)
    for v in range(p):
        c = 0
        for i in range(m):
            x = D[v, cols[i]]
            if x == x:
                buf[c] = x
                c += 1
        counts[v] = c
        if c == 0:
            mu[v] = np.nan
            sd[v] = np.nan
            keep[v] = False
        else:
            mean = _pairwise_sum(buf, 0, c) / c
            for i in range(c):
                dev = buf[i] - mean
                sq[i] = dev * dev
            s = np.sqrt(_pairwise_sum(sq, 0, c) / c)
            mu[v] = mean
            sd[v] = s
            keep[v] = c >= min_count and s >= VARIANT_SD_EPS
        if keep[v]:
            mean = mu[v]
            s = sd[v]
            for i in range(m):
                x = D[v, cols[i]]
                Z[v, i] = (x - mean) / s if x == x else 0.0
        else:
            for i in range(m):
                Z[v, i] = 0.0


@numba.njit(**_JIT)
def _lstsq(X, y):  # pragma: no cover - compiled
    """Minimum-norm least squares, gelsd with numpy's default cut-off ``eps·max(m, q)``."""
    return np.linalg.lstsq(X, y, rcond=_EPS * max(X.shape[0], X.shape[1]))[0]


@numba.njit(**_JIT)
def _sq_norms(Z):  # pragma: no cover - compiled
    """``G_v = Σ_i Z_vi²``, sequential over i (§4.3)."""
    p, n = Z.shape
    G = np.empty(p)
    for v in range(p):
        s = 0.0
        for i in range(n):
            s += Z[v, i] * Z[v, i]
        G[v] = s
    return G


@numba.njit(**_JIT)
def _y_minus_variants(y, Z, beta):  # pragma: no cover - compiled
    """``y − Σ_v β_v Z_v``: start from y, subtract variant by variant, skipping β_v = 0."""
    out = y.copy()
    n = y.shape[0]
    for v in range(Z.shape[0]):
        b = beta[v]
        if b != 0.0:
            for i in range(n):
                out[i] -= b * Z[v, i]
    return out


@numba.njit(**_JIT)
def _cd(y, Z, X, G, lam, alpha, max_iter, tol, beta, theta):  # pragma: no cover - compiled
    """Block coordinate descent at one λ, updating ``beta`` and ``theta`` in place (§4.3).

    The caller sets the start (cold: β = 0 and θ = lstsq(X, y)).  Returns the number of
    sweeps.  Between the 5-sweep θ refreshes θ is stale, the stopping rule watches β only,
    and θ is refreshed once more at the end: the reference's schedule, which capped fits
    depend on.
    """
    p, n = Z.shape
    lam1 = lam * alpha
    lam2 = lam * (1.0 - alpha)
    r = _y_minus_variants(y - np.dot(X, theta), Z, beta)
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
            z = s + old * g
            if z > lam1:
                new = (z - lam1) / (g + lam2)
            elif z < -lam1:
                new = (z + lam1) / (g + lam2)
            else:
                new = 0.0
            if new != old:
                delta = old - new
                for i in range(n):
                    r[i] += Z[v, i] * delta
                chg = abs(new - old)
                if chg > maxchg:
                    maxchg = chg
                beta[v] = new
        if it % 5 == 0:
            y_adj = _y_minus_variants(y, Z, beta)
            theta[:] = _lstsq(X, y_adj)
            r = y_adj - np.dot(X, theta)
        if maxchg < tol:
            break
    theta[:] = _lstsq(X, _y_minus_variants(y, Z, beta))
    return it


@numba.njit(**_JIT)
def _predict(X, Z, beta, theta):  # pragma: no cover - compiled
    """``Xθ`` (BLAS), then ``+ β_v Z_v`` variant by variant (§5, §15.2)."""
    pred = np.dot(X, theta)
    m = pred.shape[0]
    for v in range(Z.shape[0]):
        b = beta[v]
        if b != 0.0:
            for i in range(m):
                pred[i] += b * Z[v, i]
    return pred


@numba.njit(**_JIT)
def _take_cols(Z, idx):  # pragma: no cover - compiled
    out = np.empty((Z.shape[0], idx.shape[0]))
    for v in range(Z.shape[0]):
        for i in range(idx.shape[0]):
            out[v, i] = Z[v, idx[i]]
    return out


@numba.njit(**_JIT)
def _take_rows(X, idx):  # pragma: no cover - compiled
    out = np.empty((idx.shape[0], X.shape[1]))
    for i in range(idx.shape[0]):
        for j in range(X.shape[1]):
            out[i, j] = X[idx[i], j]
    return out


@numba.njit(**_JIT)
def _cv_fold(y, Z, X, fold, f, lambdas, alpha, max_iter, tol):  # pragma: no cover - compiled
    """One fold's warm-started λ path; returns the test MSE per grid point (§5)."""
    train = np.flatnonzero(fold != f)
    test = np.flatnonzero(fold == f)
    Ztr = _take_cols(Z, train)
    Zte = _take_cols(Z, test)
    Xtr = _take_rows(X, train)
    Xte = _take_rows(X, test)
    ytr = y[train]
    yte = y[test]
    G = _sq_norms(Ztr)
    beta = np.zeros(Z.shape[0])
    theta = _lstsq(Xtr, ytr)
    L = lambdas.shape[0]
    err = np.empty(L)
    m = test.shape[0]
    for t in range(L):
        _cd(ytr, Ztr, Xtr, G, lambdas[t], alpha, max_iter, tol, beta, theta)
        res = yte - _predict(Xte, Zte, beta, theta)
        err[t] = _pairwise_sum(res * res, 0, m) / m
    return err


@numba.njit(**_JIT)
def _stability(y, X, D, subs, min_obs, lam, alpha, max_iter, tol):  # pragma: no cover
    """Cold fits at λ_sel on every subsample (§7).

    Returns selection counts, β sums and positive counts per variant, the number of usable
    subsamples, and the nonzero records (subsample b, variant v, β) in (b, v) order.
    """
    p = D.shape[0]
    B, m = subs.shape
    sel = np.zeros(p)
    bsum = np.zeros(p)
    npos = np.zeros(p)
    counts = np.empty(p, dtype=np.int64)
    mu = np.empty(p)
    sd = np.empty(p)
    keep = np.empty(p, dtype=np.bool_)
    Zb = np.empty((p, m))
    rec_b = np.empty(B * p, dtype=np.int64)
    rec_v = np.empty(B * p, dtype=np.int64)
    rec_beta = np.empty(B * p)
    n_rec = 0
    n_eff = 0
    for b in range(B):
        sub = subs[b]
        _standardise(D, sub, min_obs, counts, mu, sd, keep, Zb)
        usable = False
        for v in range(p):
            usable = usable or keep[v]
        if not usable:
            continue
        n_eff += 1
        ys = y[sub]
        Xs = _take_rows(X, sub)
        G = _sq_norms(Zb)
        beta = np.zeros(p)
        theta = _lstsq(Xs, ys)
        _cd(ys, Zb, Xs, G, lam, alpha, max_iter, tol, beta, theta)
        for v in range(p):
            bv = beta[v]
            if keep[v] and abs(bv) > SELECTED_EPS:
                sel[v] += 1.0
                bsum[v] += bv
                if bv > 0:
                    npos[v] += 1.0
                rec_b[n_rec] = b
                rec_v[n_rec] = v
                rec_beta[n_rec] = bv
                n_rec += 1
    return sel, bsum, npos, n_eff, rec_b[:n_rec], rec_v[:n_rec], rec_beta[:n_rec]


# ------------------------------------------------------------------------------ python layer
@dataclass(frozen=True)
class FinemapParams:
    """Hyper-parameters of finemap (reference defaults; §3–§9)."""

    alpha_en: float = 0.5
    coverage_tau: float = 0.6
    n_bootstrap: int = 200
    subsample_frac: float = 0.8
    n_lambda: int = 30
    lambda_ratio: float = 0.01
    cv_tau: float = 0.8
    min_obs_boot: int = 20
    compute_r2: bool = False
    r2_stability_threshold: float = 0.6


@dataclass
class Prepared:
    """One phenotype's model inputs after §2 (good samples only).

    Attributes
    ----------
    y : ndarray, shape (n,)
        Centred phenotype.
    X : ndarray, shape (n, q)
        ``[1, blocks…]``, each block standardised (or raw if constant).
    d : ndarray, shape (p_w, n)
        Raw d of every window variant, NaN = missing.
    good : ndarray of int, shape (n,)
        Positions of the good samples among the input samples.
    cn_column : int or None
        Column of X holding copy number (1), if present.
    transforms : list of (mean, sd, const)
        Per block: ``const`` is the mean when the block was left raw, else NaN.
    """

    y: np.ndarray
    X: np.ndarray
    d: np.ndarray
    good: np.ndarray
    cn_column: int | None
    transforms: list = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.y.shape[0])


def segment_mask(pos: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """Which (variant, sample) entries survive the segment-consistency filter (§2.2).

    Parameters
    ----------
    pos : ndarray of int, shape (p_w,)
        Window variants' positions.
    lb, ub : ndarray, shape (N,)
        Per sample, the bounds of its single segment containing the phenotype (start and
        end); NaN for samples without one (every variant masked).

    Returns
    -------
    ndarray of bool, shape (p_w, N)
    """
    pos = np.asarray(pos, dtype=np.float64)[:, None]
    with np.errstate(invalid="ignore"):
        return (pos >= lb[None, :]) & (pos <= ub[None, :])


def prepare(
    y_raw: np.ndarray, blocks: list[np.ndarray], d_window: np.ndarray, has_cn: bool
) -> Prepared | int:
    """Good-sample mask, centring and the unpenalised design (§2.3–§2.9).

    Parameters
    ----------
    y_raw : ndarray, shape (N,)
        Phenotype values, NaN = missing.
    blocks : list of ndarray, each shape (N,)
        Unpenalised blocks in order: copy number (if present), phenotype covariate (if
        present), then each sample covariate.
    d_window : ndarray, shape (p_w, N)
        ``REF − ALT`` of the window variants with the segment mask applied (NaN = missing).
    has_cn : bool
        Whether ``blocks[0]`` is copy number.

    Returns
    -------
    Prepared, or a status code (:data:`NO_CIS_VARIANT`, :data:`TOO_FEW_SAMPLES`).
    """
    if d_window.shape[0] == 0:
        return NO_CIS_VARIANT
    good = ~np.isnan(y_raw)
    for b in blocks:
        good &= ~np.isnan(b)
    idx = np.flatnonzero(good)
    n = idx.size
    if n < MIN_SAMPLES:
        return TOO_FEW_SAMPLES
    y = y_raw[idx]
    y = y - np.mean(y)
    cols = [np.ones(n)]
    transforms = []
    for b in blocks:
        b = b[idx]
        mu, sd = float(np.mean(b)), float(np.std(b))
        if sd > BLOCK_SD_EPS:
            cols.append((b - mu) / sd)
            transforms.append((mu, sd, np.nan))
        else:
            cols.append(b)
            transforms.append((mu, 1.0, mu))
    X = np.ascontiguousarray(np.column_stack(cols))
    d = np.ascontiguousarray(d_window[:, idx])
    return Prepared(y, X, d, idx, 1 if has_cn else None, transforms)


def standardise(d: np.ndarray, cols: np.ndarray, min_count: int):
    """Standardise the rows of ``d[:, cols]`` on their observed entries (§3, §7).

    Parameters
    ----------
    d : ndarray, shape (p, n)
        Raw d, NaN = missing.
    cols : ndarray of int, shape (m,)
    min_count : int
        Fewest observed entries for a row to be kept.

    Returns
    -------
    counts, mu, sd : ndarray, shape (p,)
    keep : ndarray of bool, shape (p,)
    Z : ndarray, shape (p, m)
        Zero-filled standardised rows (all zero where not kept).
    """
    d = np.ascontiguousarray(d, dtype=np.float64)
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    p, m = d.shape[0], cols.shape[0]
    counts = np.empty(p, dtype=np.int64)
    mu, sd = np.empty(p), np.empty(p)
    keep = np.empty(p, dtype=np.bool_)
    Z = np.empty((p, m))
    _standardise(d, cols, int(min_count), counts, mu, sd, keep, Z)
    return counts, mu, sd, keep, Z


def fit(
    y: np.ndarray,
    Z: np.ndarray,
    X: np.ndarray,
    lam: float,
    alpha: float,
    max_iter: int,
    tol: float,
    beta_init: np.ndarray | None = None,
    theta_init: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Compiled elastic-net fit at one λ (same contract as :func:`enet.enet_fit`).

    Returns
    -------
    beta : ndarray, shape (p,)
    theta : ndarray, shape (q,)
    n_iter : int
    """
    y = np.ascontiguousarray(y, dtype=np.float64)
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    X = np.ascontiguousarray(X, dtype=np.float64)
    beta = np.zeros(Z.shape[0]) if beta_init is None else np.array(beta_init, dtype=np.float64)
    theta = _lstsq(X, y) if theta_init is None else np.array(theta_init, dtype=np.float64)
    n_iter = _cd(
        y, Z, X, _sq_norms(Z), float(lam), float(alpha), int(max_iter), float(tol), beta, theta
    )
    return beta, theta, int(n_iter)


def lambda_max(y: np.ndarray, Z: np.ndarray, X: np.ndarray, alpha: float) -> float:
    """λ_max on the full data (§4.4); the gradient sums are sequential like the solver's."""
    r0 = y - X @ _lstsq(X, y)
    g = float(np.max(np.abs(_seq_dots(Z, r0)))) if Z.shape[0] else 0.0
    lmax = g / alpha if alpha > 0 else g * 1e4
    return lmax if lmax > 0 else 1.0


@numba.njit(**_JIT)
def _seq_dots(Z, r):  # pragma: no cover - compiled
    out = np.empty(Z.shape[0])
    for v in range(Z.shape[0]):
        s = 0.0
        for i in range(Z.shape[1]):
            s += Z[v, i] * r[i]
        out[v] = s
    return out


@numba.njit(**_JIT)
def _cv_lanes(y, Z, X, fold, lambdas, alpha, max_iter, tol):  # pragma: no cover - compiled
    """The 5 folds' λ paths advanced side by side; returns ``E`` (L, 5) (§5).

    Each fold is exactly the sequential computation of :func:`_cv_fold` (same sweeps, same
    sums in the same order).  What changes is the schedule: one pass over the variants
    serves all five folds, so the five dot products of a variant are five independent
    dependency chains in one loop.  A sequential sum is latency-bound (one add in flight);
    five chains keep the adder busy without re-associating any sum.  All folds read the one
    full ``Z`` (which stays in cache, unlike five training copies): each fold's residual
    vector spans all n samples and holds exact zeros at its test samples, so those terms add
    exact zeros and the training terms are summed in the same ascending order as in
    :func:`_cv_fold`.
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
        Ztr = _take_cols(Z, train)
        M[f, train] = 1.0
        G[f] = _sq_norms(Ztr)
        train_idx.append(train)
        trains.append((y[train], Ztr, _take_rows(X, train)))
        tests.append((y[test], _take_cols(Z, test), _take_rows(X, test)))
    E = np.empty((L, K))
    t = np.zeros(K, dtype=np.int64)
    it = np.zeros(K, dtype=np.int64)
    maxchg = np.zeros(K)
    running = np.ones(K, dtype=np.bool_)
    for f in range(K):  # the first λ of each fold starts cold
        ytr, Ztr, Xtr = trains[f]
        T[f] = _lstsq(Xtr, ytr)
        R[f, train_idx[f]] = _y_minus_variants(ytr - np.dot(Xtr, T[f]), Ztr, B[f])
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
                z = s[f] + old * g
                if z > lam1[f]:
                    new = (z - lam1[f]) / (g + lam2[f])
                elif z < -lam1[f]:
                    new = (z + lam1[f]) / (g + lam2[f])
                else:
                    new = 0.0
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
                y_adj = _y_minus_variants(ytr, Ztr, B[f])
                T[f] = _lstsq(Xtr, y_adj)
                R[f, train_idx[f]] = y_adj - np.dot(Xtr, T[f])
            if maxchg[f] < tol or it[f] >= max_iter:
                # the fit at λ_t is done: final θ refresh, test error, warm start of λ_t+1
                T[f] = _lstsq(Xtr, _y_minus_variants(ytr, Ztr, B[f]))
                yte, Zte, Xte = tests[f]
                res = yte - _predict(Xte, Zte, B[f], T[f])
                E[t[f], f] = _pairwise_sum(res * res, 0, res.shape[0]) / res.shape[0]
                t[f] += 1
                if t[f] == L:
                    running[f] = False
                    n_running -= 1
                    continue
                it[f] = 0
                lam1[f] = lambdas[t[f]] * alpha
                lam2[f] = lambdas[t[f]] * (1.0 - alpha)
                R[f, train_idx[f]] = _y_minus_variants(ytr - np.dot(Xtr, T[f]), Ztr, B[f])
    return E


def cv_errors(
    y: np.ndarray,
    Z: np.ndarray,
    X: np.ndarray,
    lambdas: np.ndarray,
    alpha: float,
    seed: int,
    interleaved: bool = True,
) -> np.ndarray:
    """CV error matrix ``E[t, f]`` over the grid and the 5 folds (§5).

    ``interleaved`` runs the folds side by side (:func:`_cv_lanes`, the fast path);
    ``False`` runs them one after the other (:func:`_cv_fold`).  The numbers are identical.

    Returns
    -------
    ndarray, shape (L, 5)
    """
    fold = cv_fold_ids(len(y), seed)
    lambdas = np.ascontiguousarray(lambdas, dtype=np.float64)
    args = (float(alpha), CV_PATH[0], CV_PATH[1])
    if interleaved:
        return _cv_lanes(np.ascontiguousarray(y), Z, X, fold, lambdas, *args)
    return np.column_stack([_cv_fold(y, Z, X, fold, f, lambdas, *args) for f in range(5)])


@dataclass
class FinemapResult:
    """One phenotype's finemap output.

    ``status`` is :data:`OK` or why the phenotype has a single empty row.  ``n_samples``
    follows the reference: 0 when preparation failed, else the good-sample count.  Per-variant
    arrays have shape (p,) over the coverage-kept variants (``kept``: rows of the window).
    """

    status: int
    n_samples: int
    kept: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    n_obs: np.ndarray | None = None
    median_n_obs: float = np.nan
    mean_d: np.ndarray | None = None
    sd_d: np.ndarray | None = None
    frac_alt_gain: np.ndarray | None = None
    frac_ref_gain: np.ndarray | None = None
    frac_balanced: np.ndarray | None = None
    stability_score: np.ndarray | None = None
    mean_beta: np.ndarray | None = None
    sign_consistency: np.ndarray | None = None
    lambda_selected: float = np.nan
    beta_full: np.ndarray | None = None
    beta_full_raw: np.ndarray | None = None
    beta_cnlr: float = np.nan
    effect_interpretation: list[str] = field(default_factory=list)
    boot_iteration: np.ndarray | None = None  # b + 1
    boot_variant: np.ndarray | None = None  # index into kept
    boot_beta: np.ndarray | None = None
    r2: dict | None = None


def select_lambda_and_fit(
    y: np.ndarray, Z: np.ndarray, X: np.ndarray, k: int, params: FinemapParams
) -> tuple[float, np.ndarray, np.ndarray]:
    """λ_sel by the CV rule and the full-data fit at it (§4.4–§6; folds seeded 42 + k).

    Returns
    -------
    lam : float
    beta : ndarray, shape (p,)
    theta : ndarray, shape (q,)
    """
    alpha = float(params.alpha_en)
    grid = lambda_grid(lambda_max(y, Z, X, alpha), params.n_lambda, params.lambda_ratio)
    E = cv_errors(y, Z, X, grid, alpha, 42 + k)
    lam = float(grid[select_lambda_index(E.mean(axis=1), params.cv_tau)])
    beta, theta, _ = fit(y, Z, X, lam, alpha, *FULL_FIT)
    return lam, beta, theta


def stability_fits(
    y: np.ndarray, X: np.ndarray, d_kept: np.ndarray, k: int, lam: float, params: FinemapParams
):
    """Stability selection at λ_sel on subsamples seeded 42 + k (§7).

    Parameters
    ----------
    y : ndarray, shape (n,)
    X : ndarray, shape (n, q)
    d_kept : ndarray, shape (p, n)
        Raw d of the coverage-kept variants, NaN = missing.

    Returns
    -------
    sel, bsum, npos : ndarray, shape (p,)
        Selection counts, sums of selected β and counts of positive β.
    n_eff : int
        Subsamples in which any variant survived.
    rec_b, rec_v, rec_beta : ndarray, shape (m,)
        The nonzero subsample coefficients: subsample, variant, β.
    """
    n = y.shape[0]
    n_sub = n_subsample(n, params.subsample_frac)
    subs = np.array(stability_subsamples(n, n_sub, params.n_bootstrap, 42 + k), dtype=np.int64)
    return _stability(
        np.ascontiguousarray(y),
        np.ascontiguousarray(X),
        np.ascontiguousarray(d_kept),
        subs.reshape(params.n_bootstrap, n_sub),
        int(params.min_obs_boot),
        float(lam),
        float(params.alpha_en),
        STABILITY_FIT[0],
        STABILITY_FIT[1],
    )


def finemap_phenotype(prep: Prepared | int, k: int, params: FinemapParams) -> FinemapResult:
    """The whole finemap pipeline for one phenotype (§3–§9).

    Parameters
    ----------
    prep : Prepared or int
        Output of :func:`prepare` (a status code when the phenotype cannot be fitted).
    k : int
        The phenotype's row index in its chromosome's quantification rows (seeds, §14).
    params : FinemapParams

    Returns
    -------
    FinemapResult
    """
    if not isinstance(prep, Prepared):
        return FinemapResult(status=int(prep), n_samples=0)
    n = prep.n
    y, X = np.ascontiguousarray(prep.y), prep.X
    required = max(MIN_SAMPLES, int(params.coverage_tau * n))
    counts, mu, sd, keep, Zall = standardise(prep.d, np.arange(n), required)
    kept = np.flatnonzero(keep)
    if kept.size == 0:
        return FinemapResult(status=NO_VARIANT_PASSES_COVERAGE, n_samples=n)
    Z = np.ascontiguousarray(Zall[kept])

    lam, beta, theta = select_lambda_and_fit(y, Z, X, k, params)

    d_kept = np.ascontiguousarray(prep.d[kept])
    sel, bsum, npos, n_eff, rec_b, rec_v, rec_beta = stability_fits(y, X, d_kept, k, lam, params)
    stability = sel / max(n_eff, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_beta = np.where(sel > 0, bsum / sel, 0.0)
        sign = np.where(sel > 0, npos / sel, np.nan)

    n_obs = counts[kept]
    obs = ~np.isnan(d_kept)
    with np.errstate(invalid="ignore"):
        alt_gain = ((d_kept < -GAIN_CUTOFF) & obs).sum(axis=1) / n_obs
        ref_gain = ((d_kept > GAIN_CUTOFF) & obs).sum(axis=1) / n_obs
        balanced = ((np.abs(d_kept) <= GAIN_CUTOFF) & obs).sum(axis=1) / n_obs
    effect = [
        EFFECT_NONE if abs(b) < SELECTED_EPS else EFFECT_NEGATIVE if b < 0 else EFFECT_POSITIVE
        for b in beta
    ]
    result = FinemapResult(
        status=OK,
        n_samples=n,
        kept=kept,
        n_obs=n_obs,
        median_n_obs=float(np.median(n_obs)),
        mean_d=mu[kept],
        sd_d=sd[kept],
        frac_alt_gain=alt_gain,
        frac_ref_gain=ref_gain,
        frac_balanced=balanced,
        stability_score=stability,
        mean_beta=mean_beta,
        sign_consistency=sign,
        lambda_selected=lam,
        beta_full=beta,
        beta_full_raw=beta / sd[kept],
        beta_cnlr=float(theta[prep.cn_column]) if prep.cn_column is not None else np.nan,
        effect_interpretation=effect,
        boot_iteration=rec_b + 1,
        boot_variant=rec_v,
        boot_beta=rec_beta,
    )
    if params.compute_r2:
        result.r2 = r2_summary(y, Z, X, beta, stability, params.r2_stability_threshold)
    return result


def _r2(y: np.ndarray, yhat: np.ndarray) -> float:
    ss_tot = float(np.sum((y - np.mean(y)) ** 2))
    if ss_tot == 0:
        return np.nan
    return 1.0 - float(np.sum((y - yhat) ** 2)) / ss_tot


def _adj(r2: float, n: int, k: int) -> float:
    if n - k - 1 <= 0:
        return np.nan
    return 1.0 - (1.0 - r2) * (n - 1) / (n - k - 1)


def r2_summary(
    y: np.ndarray,
    Z: np.ndarray,
    X: np.ndarray,
    beta: np.ndarray,
    stability: np.ndarray,
    threshold: float,
) -> dict:
    """In-sample R² of the covariate baseline and of baseline + stable variants (§9).

    Returns
    -------
    dict
        ``r2_baseline``, ``r2_baseline_adj``, ``r2_full``, ``r2_full_adj``, ``delta_r2``,
        ``delta_r2_adj``, ``r2_n_variants`` and ``cand`` (indices into the kept variants).
    """
    n, q = X.shape
    base = _r2(y, X @ _lstsq(X, y))
    base_adj = _adj(base, n, q - 1)
    cand = np.flatnonzero((stability >= threshold) & (np.abs(beta) > SELECTED_EPS))
    out = {
        "r2_baseline": base,
        "r2_baseline_adj": base_adj,
        "r2_full": np.nan,
        "r2_full_adj": np.nan,
        "delta_r2": np.nan,
        "delta_r2_adj": np.nan,
        "r2_n_variants": None,
        "cand": cand,
    }
    if cand.size == 0:
        return out
    Zc = np.ascontiguousarray(Z[cand])
    b, t, _ = fit(y, Zc, X, 0.0, 0.5, *R2_FULL_FIT)
    full = _r2(y, _predict(X, Zc, b, t))
    full_adj = _adj(full, n, q - 1 + cand.size)
    out.update(
        r2_full=full,
        r2_full_adj=full_adj,
        delta_r2=full - base,
        delta_r2_adj=full_adj - base_adj,
        r2_n_variants=int(cand.size),
    )
    return out


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel with a tiny problem."""
    rng = np.random.default_rng(0)
    n, p = 40, 3
    d = rng.standard_normal((p, n))
    d[0, :3] = np.nan
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    prep = Prepared(rng.standard_normal(n), X, d, np.arange(n), 1)
    finemap_phenotype(prep, 0, FinemapParams(n_bootstrap=2, n_lambda=3, compute_r2=True))
