"""Plain numpy reference of the finemap elastic net, kept for the tests and the benchmark.

The slow, obviously-sequential formulation of the solver of :mod:`segqtl.kernels.finemap`
(docs/methods.md#elastic-net, #lambda-grid, #cross-validation): one Python loop per sweep and
per variant, no numba.  ``tests/test_kernels_enet.py`` checks it against KKT conditions,
scikit-learn's lasso and the ridge limit; ``tests/test_kernels_finemap.py`` holds the compiled
kernel to bit equality with it.  The schedule pieces it shares with the kernel (solver settings,
the λ grid, fold labels) are imported from the kernel and tested there against the method.

Conventions
-----------
``Z`` is the **zero-filled** standardised variant matrix, shape ``(p, n)``: missing entries are
exactly 0, which is exactly the reference's "sum over observed entries".  ``X`` is the
unpenalised design ``[1, blocks…]``, shape ``(n, q)``.  ``y`` is the centred phenotype ``(n,)``.

Summation order (docs/methods.md#numerical-reproducibility): the reference sums ``Σ_i Z_vi r_i``
sequentially over ascending i.  BLAS dot products re-associate, so these sums are taken as the
last element of ``np.cumsum`` of the elementwise products, which numpy evaluates strictly left
to right.  Element-wise residual updates are exact regardless of vectorisation.  ``X @ θ`` goes
through BLAS, as in the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segqtl.kernels.finemap import CV_PATH, N_FOLDS


def _seqsum(a: np.ndarray) -> float:
    """Sequential left-to-right sum of a 1-D array; 0.0 for an empty array."""
    if a.size == 0:
        return 0.0
    return float(np.cumsum(a)[-1])


def _lstsq(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Minimum-norm least squares, LAPACK gelsd with numpy's default rcond."""
    return np.linalg.lstsq(X, y, rcond=None)[0]


def _subtract_variants(y: np.ndarray, Z: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """``y − Σ_v β_v Z_v``, subtracting variant by variant in v order, skipping β_v = 0."""
    out = np.array(y, dtype=np.float64, copy=True)
    for v in np.flatnonzero(beta != 0.0):
        out -= beta[v] * Z[v]
    return out


@dataclass(frozen=True)
class EnetFit:
    """Result of one elastic-net fit.

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
    """Fit the missing-aware elastic net at one λ by block coordinate descent.

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
        Sweep cap and β-change tolerance of the call site (``segqtl.kernels.finemap.FULL_FIT``
        etc.).
    beta_init : ndarray, shape (p,), optional
    theta_init : ndarray, shape (q,), optional
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
    # G_v = Σ_i Z_vi² over observed i; zero-filled entries add exact zeros.
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
    """Prediction ``Xθ``, then ``+ β_v Z_v`` variant by variant in v order.

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
    """Fit a λ path with warm starts; the first λ is cold.

    Parameters
    ----------
    y : ndarray, shape (n,)
    Z : ndarray, shape (p, n)
    X : ndarray, shape (n, q)
    lambdas : ndarray, shape (L,)
        Grid in the order to walk (decreasing, from ``segqtl.kernels.finemap.lambda_grid``).
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
    """λ_max on the full data.

    ``g = max_v |Σ_i Z_vi r0_i|`` with ``r0 = y − X lstsq(X, y)``; ``λ_max = g/α`` (α > 0) or
    ``g·1e4`` (α = 0); a non-positive value becomes 1.
    """
    Z = np.asarray(Z, dtype=np.float64)
    r0 = y - X @ _lstsq(X, y)
    g = max((abs(_seqsum(Z[v] * r0)) for v in range(Z.shape[0])), default=0.0)
    lmax = g / alpha if alpha > 0 else g * 1e4
    return lmax if lmax > 0 else 1.0


def cv_folds(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index arrays for folds 0..4, each ascending.

    The method's rule written out: ``π = default_rng(seed).permutation(n)`` and fold f tests
    ``π[f], π[f + 5], …``.
    """
    perm = np.random.default_rng(seed).permutation(n)
    out = []
    for f in range(N_FOLDS):
        test = np.sort(perm[f::N_FOLDS])
        out.append((np.setdiff1d(np.arange(n), test), test))
    return out


def cv_error_matrix(
    y: np.ndarray, Z: np.ndarray, X: np.ndarray, lambdas: np.ndarray, alpha: float, seed: int
) -> np.ndarray:
    """CV errors ``E[t, f] = mean((y_test − pred)²)`` over the grid and the 5 folds.

    Training data are not re-centred or re-standardised; each fold walks the grid with warm
    starts (CV-path solver settings).

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
