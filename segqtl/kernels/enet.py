"""Missing-aware elastic net for the ``finemap`` mode (SPEC_FINEMAP_VALIDATE §4, §5, §7, §14).

Pure functions on arrays: the block coordinate-descent solver (§4.3), the λ grid (§4.4), the
``cv_tau`` rule (§5) and the random index sets (CV folds §5, stability subsamples §7, §14).

Conventions
-----------
``Z`` is the **zero-filled** standardised variant matrix, shape ``(p, n)``: missing entries are
exactly 0, which is exactly the reference's "sum over observed entries" (§4.2).  ``X`` is the
unpenalised design ``[1, blocks…]``, shape ``(n, q)``.  ``y`` is the centred phenotype ``(n,)``.

Summation order (§15.1): the reference sums ``Σ_i Z_vi r_i`` sequentially over ascending i.  BLAS
dot products re-associate, so these sums are taken as the last element of ``np.cumsum`` of the
elementwise products, which numpy evaluates strictly left to right.  Element-wise residual
updates are exact regardless of vectorisation.  ``X @ θ`` goes through BLAS, as in the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Per-call-site solver settings (§4.3 table): (max_iter, tol).
CV_PATH = (1000, 1e-6)
FULL_FIT = (1000, 1e-6)
STABILITY_FIT = (500, 1e-5)
R2_FULL_FIT = (2000, 1e-8)

#: |β| above this counts as "selected" (§4.3).
SELECTED_EPS = 1e-10

#: Number of CV folds, hard-coded in the reference (§5).
N_FOLDS = 5


def _seqsum(a: np.ndarray) -> float:
    """Sequential left-to-right sum of a 1-D array (§15.1); 0.0 for an empty array."""
    if a.size == 0:
        return 0.0
    return float(np.cumsum(a)[-1])


def _lstsq(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Minimum-norm least squares, LAPACK gelsd with numpy's default rcond (§0 notation, §15.3)."""
    return np.linalg.lstsq(X, y, rcond=None)[0]


def _subtract_variants(y: np.ndarray, Z: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """``y − Σ_v β_v Z_v``, subtracting variant by variant in v order, skipping β_v = 0 (§4.3)."""
    out = np.array(y, dtype=np.float64, copy=True)
    for v in np.flatnonzero(beta != 0.0):
        out -= beta[v] * Z[v]
    return out


@dataclass(frozen=True)
class EnetFit:
    """Result of one elastic-net fit (§4.3).

    Attributes
    ----------
    beta : ndarray, shape (p,)
        Penalised coefficients (standardised-d units).
    theta : ndarray, shape (q,)
        Unpenalised coefficients, after the final refresh.
    n_iter : int
        Sweeps run (``max_iter`` if the cap was hit).
    converged : bool
        Whether the β-change test passed before the cap.
    """

    beta: np.ndarray
    theta: np.ndarray
    n_iter: int
    converged: bool


def enet_fit(
    y: np.ndarray,
    Z: np.ndarray,
    X: np.ndarray,
    lam: float,
    alpha: float,
    max_iter: int,
    tol: float,
    beta_init: np.ndarray | None = None,
    theta_init: np.ndarray | None = None,
) -> EnetFit:
    """Fit the missing-aware elastic net at one λ by block coordinate descent (§4.1, §4.3).

    Minimises ``½‖y − Xθ − Zᵀβ‖² + λα‖β‖₁ + ½λ(1−α)‖β‖²`` (no 1/n factor) following the
    reference schedule exactly: cyclic sweeps over v, θ refreshed by ``lstsq`` every 5 sweeps,
    stop when the largest |Δβ| of a sweep is below ``tol`` (θ is not part of the test), and a
    final θ refresh that is always done.

    Parameters
    ----------
    y : ndarray, shape (n,)
    Z : ndarray, shape (p, n)
        Zero-filled standardised variants.
    X : ndarray, shape (n, q)
        Unpenalised design (intercept in column 0).
    lam, alpha : float
        Penalty λ ≥ 0 and mixing α.
    max_iter, tol : int, float
        Sweep cap and β-change tolerance of the call site (see the module constants).
    beta_init, theta_init : ndarray, optional
        Warm start; cold start is β = 0 and θ = lstsq(X, y).

    Returns
    -------
    EnetFit
    """
    y = np.asarray(y, dtype=np.float64)
    Z = np.asarray(Z, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    p = Z.shape[0]
    lam1 = lam * alpha
    lam2 = lam * (1.0 - alpha)
    theta = _lstsq(X, y) if theta_init is None else np.array(theta_init, dtype=np.float64)
    beta = np.zeros(p) if beta_init is None else np.array(beta_init, dtype=np.float64)

    r = _subtract_variants(y - X @ theta, Z, beta)
    # G_v = Σ_i Z_vi² over observed i; zero-filled entries add exact zeros (§4.2).
    G = np.array([_seqsum(Z[v] * Z[v]) for v in range(p)])
    active = np.flatnonzero(G != 0.0)  # variants with no observed entries are skipped

    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        maxchg = 0.0
        for v in active:
            zv = Z[v]
            old = beta[v]
            z = _seqsum(zv * r) + old * G[v]
            if z > lam1:
                new = (z - lam1) / (G[v] + lam2)
            elif z < -lam1:
                new = (z + lam1) / (G[v] + lam2)
            else:
                new = 0.0
            if new != old:
                r += zv * (old - new)
                maxchg = max(maxchg, abs(new - old))
                beta[v] = new
        if it % 5 == 0:
            # Block-Gauss–Seidel refresh of the unpenalised block (θ is stale in between).
            y_adj = _subtract_variants(y, Z, beta)
            theta = _lstsq(X, y_adj)
            r = y_adj - X @ theta
        if maxchg < tol:
            converged = True
            break
    theta = _lstsq(X, _subtract_variants(y, Z, beta))
    return EnetFit(beta=beta, theta=theta, n_iter=it, converged=converged)


def predict(X: np.ndarray, Z: np.ndarray, fit: EnetFit) -> np.ndarray:
    """Prediction ``Xθ``, then ``+ β_v Z_v`` variant by variant in v order (§5, §15.2).

    Parameters
    ----------
    X : ndarray, shape (m, q)
    Z : ndarray, shape (p, m)
        Zero-filled; missing entries contribute 0.
    fit : EnetFit

    Returns
    -------
    ndarray, shape (m,)
    """
    pred = X @ fit.theta
    for v in np.flatnonzero(fit.beta != 0.0):
        pred = pred + fit.beta[v] * Z[v]
    return pred


def enet_path(
    y: np.ndarray,
    Z: np.ndarray,
    X: np.ndarray,
    lambdas: np.ndarray,
    alpha: float,
    max_iter: int = CV_PATH[0],
    tol: float = CV_PATH[1],
) -> list[EnetFit]:
    """Fit a λ path with warm starts; the first λ is cold (§4.3 table, §5).

    Parameters
    ----------
    y : ndarray, shape (n,)
    Z : ndarray, shape (p, n)
    X : ndarray, shape (n, q)
    lambdas : ndarray, shape (L,)
        Grid in the order to walk (decreasing, from :func:`lambda_grid`).
    alpha, max_iter, tol
        As in :func:`enet_fit`.

    Returns
    -------
    list of EnetFit, one per λ.
    """
    fits: list[EnetFit] = []
    beta = theta = None
    for lam in lambdas:
        f = enet_fit(y, Z, X, float(lam), alpha, max_iter, tol, beta, theta)
        fits.append(f)
        beta, theta = f.beta, f.theta
    return fits


def lambda_max(y: np.ndarray, Z: np.ndarray, X: np.ndarray, alpha: float) -> float:
    """λ_max on the full data (§4.4).

    ``g = max_v |Σ_i Z_vi r0_i|`` with ``r0 = y − X lstsq(X, y)``; ``λ_max = g/α`` (α > 0) or
    ``g·1e4`` (α = 0); a non-positive value becomes 1.
    """
    Z = np.asarray(Z, dtype=np.float64)
    r0 = y - X @ _lstsq(X, y)
    g = max((abs(_seqsum(Z[v] * r0)) for v in range(Z.shape[0])), default=0.0)
    lmax = g / alpha if alpha > 0 else g * 1e4
    return lmax if lmax > 0 else 1.0


def lambda_grid(lam_max: float, n_lambda: int, lambda_ratio: float) -> np.ndarray:
    """Log-spaced decreasing grid of ``max(n_lambda, 2)`` points (§4.4).

    ``np.geomspace`` semantics from λ_max to ``λ_min = λ_max·lambda_ratio``, with the end points
    overwritten by λ_max and λ_min exactly.

    Returns
    -------
    ndarray, shape (max(n_lambda, 2),)
    """
    lam_min = lam_max * lambda_ratio
    grid = np.geomspace(lam_max, lam_min, max(int(n_lambda), 2))
    grid[0] = lam_max
    grid[-1] = lam_min
    return grid


def select_lambda_index(cv_mean: np.ndarray, cv_tau: float) -> int:
    """The ``cv_tau`` rule: index of the selected λ on the grid (§5).

    ``cv_null = m_0``, ``t* = argmin m`` (first occurrence).  If ``m_{t*} ≥ cv_null`` return 0,
    else the smallest t with ``m_t ≤ cv_min + cv_tau·(cv_null − cv_min)``.

    Parameters
    ----------
    cv_mean : ndarray, shape (L,)
        Mean CV error per grid point, ``m_t``.
    cv_tau : float
    """
    m = np.asarray(cv_mean, dtype=np.float64)
    cv_null = m[0]
    cv_min = m[int(np.argmin(m))]
    if cv_min >= cv_null:
        return 0
    thr = cv_min + cv_tau * (cv_null - cv_min)
    return int(np.flatnonzero(m <= thr)[0])


def cv_fold_ids(n: int, seed: int) -> np.ndarray:
    """Fold label of each sample (§5, §14).

    One ``permutation(n)`` from ``default_rng(seed)`` (seed = 42 + k); sample ``π[t]`` goes to
    fold ``t mod 5``.

    Returns
    -------
    ndarray of int, shape (n,)
        ``fold[i]`` in 0..4.
    """
    perm = np.random.default_rng(seed).permutation(n)
    fold = np.empty(n, dtype=np.int64)
    fold[perm] = np.arange(n) % N_FOLDS
    return fold


def cv_folds(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index arrays for folds 0..4, each in ascending order (§5, §14)."""
    fold = cv_fold_ids(n, seed)
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(N_FOLDS)]


def cv_error_matrix(
    y: np.ndarray, Z: np.ndarray, X: np.ndarray, lambdas: np.ndarray, alpha: float, seed: int
) -> np.ndarray:
    """CV errors ``E[t, f] = mean((y_test − pred)²)`` over the grid and the 5 folds (§5).

    Training data are not re-centred or re-standardised; each fold walks the grid with warm
    starts (CV-path settings of §4.3).

    Returns
    -------
    ndarray, shape (L, 5)
    """
    E = np.empty((len(lambdas), N_FOLDS))
    for f, (tr, te) in enumerate(cv_folds(len(y), seed)):
        fits = enet_path(y[tr], Z[:, tr], X[tr], lambdas, alpha, *CV_PATH)
        Zte, Xte = Z[:, te], X[te]
        for t, fit in enumerate(fits):
            E[t, f] = np.mean((y[te] - predict(Xte, Zte, fit)) ** 2)
    return E


def n_subsample(n: int, subsample_frac: float) -> int:
    """Subsample size ``max(30, floor(n·subsample_frac))`` (§7)."""
    return max(30, int(n * subsample_frac))


def stability_subsamples(n: int, n_sub: int, n_bootstrap: int, seed: int) -> list[np.ndarray]:
    """Stability-selection index sets (§7, §14).

    A fresh ``default_rng(seed)`` (seed = 42 + k, same start state as the fold generator) makes
    ``n_bootstrap`` calls ``choice(n, n_sub, replace=False)``, each sorted ascending.  Raises
    ``ValueError`` if ``n_sub > n`` (as numpy does; §16.5).

    Returns
    -------
    list of ndarray of int, each shape (n_sub,)
    """
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(n, n_sub, replace=False)) for _ in range(n_bootstrap)]
