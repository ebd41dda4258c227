"""``validate`` mode: the per-phenotype metrics (SPEC_FINEMAP_VALIDATE §12, §14, §15).

Pure array maths on what the validate pipeline (§11) hands over for one phenotype of the
validation cohort:

* ``y`` — the val-centred phenotype, shape ``(n,)``;
* ``yhat`` — the full prediction ``X·θ + g`` (frozen or recalibrated), shape ``(n,)``;
* ``yhat_base`` — the covariates-only baseline ``X_val·θ_base``, shape ``(n,)``;
* ``g`` — the genetic score ``Σ_v β_v Z_val,v``, shape ``(n,)``;
* ``X_val`` — the validation cohort's own unpenalised design ``[1, blocks…]``, shape ``(n, q)``;
* ``n_obs_used`` — shared variants observed per sample, shape ``(n,)``;
* ``k`` — the phenotype's row index in the **main** table (seeds, §14).

The reference's formulas are followed literally (``pinv`` rather than ``lstsq`` where it uses
``pinv``, BLAS dot products where it uses ``@``, numpy pairwise sums where it uses ``np.sum``),
so the deterministic metrics agree with it to the last bit or within a few ulp.  The only
deliberate change is segqtl's §0 policy: p-values come from survival functions
(``chi2.sf``, ``t.sf``) instead of ``1 − cdf``, so small p-values no longer round to 0.

The paired bootstrap and the permutation null are vectorised: the index sets are drawn first
with exactly the reference's generator calls (one ``integers``/``permutation`` call per draw,
because a single ``(B, n)`` call consumes the stream differently), stacked into a ``(B, n)``
index matrix, and every statistic is then computed for all draws at once.  This reproduces the
per-draw loop up to floating-point summation order; chunks bound the memory to
:data:`MAX_CHUNK_ELEMENTS` doubles per temporary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from .finemap import (
    MIN_SAMPLES,
    Prepared,
    _y_minus_variants,
    select_lambda_and_fit,
    stability_fits,
    standardise,
)

#: Validation modes (§11).
RECALIBRATED = "recalibrated"
FROZEN = "frozen"
MODES = (RECALIBRATED, FROZEN)

#: sd0(ŷ) / sd0(g) below this counts as constant (§12 calibration, transfer slope, bootstrap).
SD_EPS = 1e-12
#: Leverages are clipped to [0, 1 − LEVERAGE_CLIP] before the HC3 weights (§12).
LEVERAGE_CLIP = 1e-8
#: Seed offsets of the two generators (§14): bootstrap 42 + k, permutations 20240601 + k.
BOOTSTRAP_SEED = 42
PERMUTATION_SEED = 20240601
#: Fewest samples for: calibration, burden strata, bootstrap CI (§12).
MIN_N_CALIBRATION = 3
MIN_N_STRATA = 9
MIN_N_STRATUM = 3
MIN_N_BOOTSTRAP = 5
#: Largest (draws × samples) block materialised at once by the vectorised resampling.
MAX_CHUNK_ELEMENTS = 1 << 22

_NAN = float("nan")


# ----------------------------------------------------------------------------- result records
@dataclass(frozen=True)
class Calibration:
    """HC3 calibration of ``y = a + b·ŷ`` with a joint Wald test of ``(a, b) = (0, 1)`` (§12).

    Attributes
    ----------
    intercept, slope : float
        ``a`` and ``b``.
    joint_wald : float
        ``W = δᵀ V⁻¹ δ`` with ``δ = (a, b − 1)``; NaN if ``V`` is singular.
    joint_pval : float
        ``χ²₂.sf(W)``; NaN if W is not finite.
    cov : ndarray, shape (2, 2)
        The HC3 covariance ``V`` of ``(a, b)``; all NaN when the calibration is undefined.
    """

    intercept: float
    slope: float
    joint_wald: float
    joint_pval: float
    cov: np.ndarray


@dataclass(frozen=True)
class TransferSlope:
    """Genetic transfer slope ρ of ``y ~ X_val + ρ·g`` (§12).

    Attributes
    ----------
    rho, pval : float
        ρ and the two-sided classical t-test of ρ = 0 (df = n − q − 1).
    adjustment, adjustment_pval : float
        ρ − 1 and the same test of ρ = 1 (same standard error).
    se : float
        Classical standard error of ρ; NaN when the p-values are.
    """

    rho: float
    pval: float
    adjustment: float
    adjustment_pval: float
    se: float


@dataclass(frozen=True)
class ValidationMetrics:
    """The metric columns of one ``validate_<C>.csv`` row (§12, §13.1).

    Counts, ``median_n_obs_val``, ``lambda_selected``, ``validation_mode`` and ``chr`` are the
    pipeline's to add.  :meth:`as_dict` gives the columns under their CSV names.
    """

    rmse: float
    mse: float
    mae: float
    r2_descriptive: float
    r2_baseline_val: float
    r2_full_val: float
    pearson_r: float
    pearson_pval: float
    spearman_rho: float
    spearman_pval: float
    rho_genetic_transfer: float
    rho_genetic_transfer_pval: float
    rho_genetic_adjustment: float
    rho_genetic_adjustment_pval: float
    r2_burden_low: float
    r2_burden_mid: float
    r2_burden_high: float
    mean_bias: float
    sd_residual: float
    calibration_intercept: float
    calibration_slope: float
    calibration_joint_wald: float
    calibration_joint_pval: float
    r2_ci_lo: float
    r2_ci_hi: float
    cal_slope_ci_lo: float
    cal_slope_ci_hi: float
    r2_perm_pval: float
    rho_perm_pval: float

    def as_dict(self) -> dict[str, float]:
        """The metrics keyed by their ``validate_<C>.csv`` column names."""
        return asdict(self)


# ----------------------------------------------------------------------------- small pieces
def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def r_squared(y: np.ndarray, yhat: np.ndarray) -> float:
    """``1 − Σ(y − ŷ)²/Σ(y − ȳ)²`` with SST around y's own mean; NaN if SST ≤ 0 (§12).

    Parameters
    ----------
    y, yhat : ndarray, shape (n,)

    Returns
    -------
    float
    """
    y = _f64(y)
    e = y - _f64(yhat)
    sst = float(np.sum((y - y.mean()) ** 2))
    if not sst > 0:
        return _NAN
    return 1.0 - float(e @ e) / sst


def calibration_hc3(y: np.ndarray, yhat: np.ndarray) -> Calibration:
    """HC3-robust calibration regression ``y = a + b·ŷ`` and Wald test of (a, b) = (0, 1) (§12).

    The reference's recipe: ``A = [1, ŷ]``, ``M = pinv(AᵀA)``, coefficients ``M Aᵀ y``,
    leverages ``A_i M A_iᵀ`` clipped to ``[0, 1 − 1e-8]`` (so a leverage-1 point cannot divide
    by zero), sandwich ``V = M (Aᵀ diag(u²/(1−h)²) A) M``, and ``W`` by a linear solve.

    Parameters
    ----------
    y, yhat : ndarray, shape (n,)

    Returns
    -------
    Calibration
        All NaN when n < 3 or sd0(ŷ) < 1e-12 (the slope is not identified).
    """
    y = _f64(y)
    yhat = _f64(yhat)
    n = y.shape[0]
    if n < MIN_N_CALIBRATION or np.std(yhat) < SD_EPS:
        return Calibration(_NAN, _NAN, _NAN, _NAN, np.full((2, 2), _NAN))
    A = np.column_stack([np.ones(n), yhat])
    M = np.linalg.pinv(A.T @ A)
    coef = M @ A.T @ y
    u = y - A @ coef
    h = np.einsum("ij,jk,ik->i", A, M, A)
    h = np.clip(h, 0.0, 1.0 - LEVERAGE_CLIP)
    omega = u**2 / (1.0 - h) ** 2
    V = M @ ((A.T * omega) @ A) @ M
    delta = coef - np.array([0.0, 1.0])
    try:
        wald = float(delta @ np.linalg.solve(V, delta))
    except np.linalg.LinAlgError:
        wald = _NAN
    # §0: the survival function, not 1 − cdf, so a large W gives a tiny p instead of 0.
    pval = float(stats.chi2.sf(wald, df=2)) if np.isfinite(wald) else _NAN
    return Calibration(float(coef[0]), float(coef[1]), wald, pval, V)


def transfer_slope(y: np.ndarray, X_val: np.ndarray, g: np.ndarray) -> TransferSlope:
    """Genetic transfer slope: the coefficient of g in ``y ~ [X_val, g]`` (§12).

    Classical (not robust) standard error ``√(RSS/df · pinv(BᵀB)_last,last)`` with
    ``df = n − q − 1``; both p-values are two-sided from the t distribution's survival function
    (§0).  ``X_val`` is the validation cohort's own design even in frozen mode (§16.17).

    Parameters
    ----------
    y : ndarray, shape (n,)
    X_val : ndarray, shape (n, q)
    g : ndarray, shape (n,)

    Returns
    -------
    TransferSlope
        All NaN when n < q + 2 or sd0(g) < 1e-12 (e.g. every β = 0); ρ without p-values when
        df ≤ 0 or se ≤ 0.
    """
    y = _f64(y)
    X_val = _f64(X_val)
    g = _f64(g)
    n, q = X_val.shape
    if n < q + 2 or np.std(g) < SD_EPS:
        return TransferSlope(_NAN, _NAN, _NAN, _NAN, _NAN)
    B = np.column_stack([X_val, g])
    M = np.linalg.pinv(B.T @ B)
    c = M @ B.T @ y
    rho = float(c[-1])
    e = y - B @ c
    df = n - B.shape[1]
    if df <= 0:
        return TransferSlope(rho, _NAN, rho - 1.0, _NAN, _NAN)
    se = float(np.sqrt(float(e @ e) / df * M[-1, -1]))
    if not se > 0:
        return TransferSlope(rho, _NAN, rho - 1.0, _NAN, _NAN)
    p = float(2.0 * stats.t.sf(abs(rho / se), df))
    p_adj = float(2.0 * stats.t.sf(abs((rho - 1.0) / se), df))
    return TransferSlope(rho, p, rho - 1.0, p_adj, se)


def burden_strata_r2(
    y: np.ndarray, yhat: np.ndarray, n_obs_used: np.ndarray
) -> tuple[float, float, float]:
    """R² of the fixed prediction within terciles of ``n_obs_used`` (§12).

    Cut points are ``quantile(n_obs_used, [1/3, 2/3])`` with linear interpolation; strata are
    ``≤ q1``, ``(q1, q2]`` and ``> q2``.  With ties the cut points collapse and a stratum can be
    empty (§16.20).

    Parameters
    ----------
    y, yhat : ndarray, shape (n,)
    n_obs_used : ndarray, shape (n,)

    Returns
    -------
    (low, mid, high) : tuple of float
        All NaN when n < 9; a stratum is NaN with fewer than 3 samples or var(y_s) ≤ 0.
    """
    y = _f64(y)
    yhat = _f64(yhat)
    n_obs_used = np.asarray(n_obs_used)
    if y.shape[0] < MIN_N_STRATA:
        return _NAN, _NAN, _NAN
    q1, q2 = np.quantile(n_obs_used, [1 / 3, 2 / 3])
    masks = (n_obs_used <= q1, (n_obs_used > q1) & (n_obs_used <= q2), n_obs_used > q2)
    out = []
    for m in masks:
        if int(m.sum()) < MIN_N_STRATUM or not np.var(y[m]) > 0:
            out.append(_NAN)
        else:
            out.append(r_squared(y[m], yhat[m]))
    return out[0], out[1], out[2]


def _correlation(fn, y: np.ndarray, yhat: np.ndarray) -> tuple[float, float]:
    """scipy's pearsonr/spearmanr, NaN where scipy would warn about a constant input."""
    # scipy returns NaN for a constant input but also warns; the guard uses scipy's own test
    # (exact equality to the first element) so that the numbers are unchanged.
    if y.shape[0] < 2 or np.all(y == y[0]) or np.all(yhat == yhat[0]):
        return _NAN, _NAN
    res = fn(y, yhat)
    return float(res.statistic), float(res.pvalue)


# ----------------------------------------------------------------------------- resampling
def bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """The paired-bootstrap index sets of §14: ``n_boot`` × ``integers(0, n, n)``.

    One generator call per draw, as the reference does: ``integers(0, n, (B, n))`` would not
    give the same stream (bounded draws buffer 32-bit halves per call).

    Returns
    -------
    ndarray of int64, shape (n_boot, n)
    """
    rng = np.random.default_rng(seed)
    out = np.empty((max(n_boot, 0), n), dtype=np.int64)
    for b in range(out.shape[0]):
        out[b] = rng.integers(0, n, n)
    return out


def permutation_indices(n: int, n_perm: int, seed: int) -> np.ndarray:
    """The permutation index sets of §14: ``n_perm`` × ``permutation(n)``.

    Returns
    -------
    ndarray of int64, shape (n_perm, n)
    """
    rng = np.random.default_rng(seed)
    out = np.empty((max(n_perm, 0), n), dtype=np.int64)
    for b in range(out.shape[0]):
        out[b] = rng.permutation(n)
    return out


def _chunks(n_rows: int, n_cols: int):
    """Row slices of a (n_rows, n_cols) block, each at most MAX_CHUNK_ELEMENTS elements."""
    step = max(1, MAX_CHUNK_ELEMENTS // max(n_cols, 1))
    for lo in range(0, n_rows, step):
        yield slice(lo, min(lo + step, n_rows))


def bootstrap_stats(
    y: np.ndarray, yhat: np.ndarray, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """R² and centred OLS slope of ``y_b`` on ``ŷ_b`` for every bootstrap draw at once (§12).

    Predictions are resampled with y (paired) and never refitted.

    Parameters
    ----------
    y, yhat : ndarray, shape (n,)
    idx : ndarray of int, shape (B, n)
        One row of sample indices per draw.

    Returns
    -------
    r2, slope : ndarray, shape (B,)
        NaN for draws with var(y_b) ≤ 0 or sd0(ŷ_b) < 1e-12.
    """
    y = _f64(y)
    yhat = _f64(yhat)
    B, n = idx.shape
    r2 = np.full(B, _NAN)
    slope = np.full(B, _NAN)
    for s in _chunks(B, n):
        Yb = y[idx[s]]
        Hb = yhat[idx[s]]
        yc = Yb - Yb.mean(axis=1, keepdims=True)
        xc = Hb - Hb.mean(axis=1, keepdims=True)
        # np.var / np.std per row are exactly these centred means of squares.
        var_y = np.mean(yc * yc, axis=1)
        sd_h = np.sqrt(np.mean(xc * xc, axis=1))
        ok = (var_y > 0) & (sd_h >= SD_EPS)
        e = Yb - Hb
        sse = np.einsum("bi,bi->b", e, e)
        sst = np.sum(yc * yc, axis=1)
        sxy = np.einsum("bi,bi->b", xc, yc)
        sxx = np.einsum("bi,bi->b", xc, xc)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2_s = np.where(ok & (sst > 0), 1.0 - sse / sst, _NAN)
            slope_s = np.where(ok & (sxx > 0), sxy / sxx, _NAN)
        r2[s] = r2_s
        slope[s] = slope_s
    return r2, slope


def paired_bootstrap_ci(
    y: np.ndarray, yhat: np.ndarray, n_boot: int, seed: int
) -> tuple[float, float, float, float]:
    """Paired-bootstrap 95% CIs of R² and the calibration slope (§12, §14).

    Parameters
    ----------
    y, yhat : ndarray, shape (n,)
    n_boot : int
        Number of draws (``--n_boot_ci``).
    seed : int
        ``42 + k``.

    Returns
    -------
    (r2_ci_lo, r2_ci_hi, cal_slope_ci_lo, cal_slope_ci_hi) : tuple of float
        NaN-ignoring 2.5% / 97.5% quantiles (linear interpolation); all NaN when n < 5 or
        n_boot ≤ 0, and a pair is NaN when every draw was NaN.
    """
    y = _f64(y)
    n = y.shape[0]
    if n < MIN_N_BOOTSTRAP or n_boot <= 0:
        return _NAN, _NAN, _NAN, _NAN
    r2, slope = bootstrap_stats(y, yhat, bootstrap_indices(n, n_boot, seed))
    return (*_nan_ci(r2), *_nan_ci(slope))


def _nan_ci(a: np.ndarray) -> tuple[float, float]:
    # The reference lets nanquantile warn on all-NaN input (§16.21); the result is NaN anyway.
    if not np.any(np.isfinite(a)):
        return _NAN, _NAN
    lo, hi = np.nanquantile(a, [0.025, 0.975])
    return float(lo), float(hi)


def permutation_stats(
    y: np.ndarray,
    yhat: np.ndarray,
    X_val: np.ndarray,
    g: np.ndarray,
    idx: np.ndarray,
    *,
    mode: str,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Null R² and ρ for every permutation of y at once (§12).

    ``y_p = y[idx_b]``; frozen mode keeps ``ŷ``, recalibrated mode refits the unpenalised block
    ``ŷ_p = X_val·(P0·X_valᵀ(y_p − g)) + g`` with ``P0 = pinv(X_valᵀX_val)``; ``ρ_p`` is the
    last row of ``pinv(BᵀB)Bᵀ`` applied to ``y_p``, B = [X_val, g].  All draws go through one
    matrix product per chunk.

    Parameters
    ----------
    y, yhat, g : ndarray, shape (n,)
    X_val : ndarray, shape (n, q)
    idx : ndarray of int, shape (K, n)
    mode : {"recalibrated", "frozen"}

    Returns
    -------
    r2 : ndarray, shape (K,)
        All NaN when SST ≤ 0 (no valid draw).
    rho : ndarray, shape (K,) or None
        None when sd0(g) ≤ 1e-12 (ρ is not estimable).
    """
    if mode not in MODES:
        raise ValueError(f"validation_mode must be one of {MODES}, got {mode!r}")
    y = _f64(y)
    yhat = _f64(yhat)
    X_val = _f64(X_val)
    g = _f64(g)
    K, n = idx.shape
    sst = float(np.sum((y - y.mean()) ** 2))  # permutation-invariant
    P0 = np.linalg.pinv(X_val.T @ X_val)
    # Only the last row of the augmented solver is needed for ρ.
    s_rho = None
    if np.std(g) > SD_EPS:
        B = np.column_stack([X_val, g])
        s_rho = (np.linalg.pinv(B.T @ B) @ B.T)[-1]
    r2 = np.full(K, _NAN)
    rho = np.full(K, _NAN) if s_rho is not None else None
    for s in _chunks(K, n):
        Yp = y[idx[s]]
        if mode == FROZEN:
            E = Yp - yhat
        else:
            # Row b: ŷ_p = X (P0 Xᵀ(y_p − g)) + g, i.e. ((Y − g) X P0ᵀ) Xᵀ + g for all rows.
            theta = ((Yp - g) @ X_val) @ P0.T
            E = Yp - (theta @ X_val.T + g)
        if sst > 0:
            r2[s] = 1.0 - np.einsum("bi,bi->b", E, E) / sst
        if rho is not None:
            rho[s] = Yp @ s_rho
    return r2, rho


def _perm_pval(null: np.ndarray | None, observed: float) -> float:
    """One-sided ``(1 + #{null ≥ observed})/(1 + #valid)``; NaN without a statistic or draws."""
    if null is None or not np.isfinite(observed):
        return _NAN
    valid = np.isfinite(null)
    n_valid = int(valid.sum())
    if n_valid == 0:
        return _NAN
    return (1 + int(np.sum(null[valid] >= observed))) / (1 + n_valid)


def permutation_pvalues(
    y: np.ndarray,
    yhat: np.ndarray,
    X_val: np.ndarray,
    g: np.ndarray,
    n_perm: int,
    seed: int,
    obs_r2: float,
    obs_rho: float,
    *,
    mode: str,
) -> tuple[float, float]:
    """Permutation p-values of ``r2_descriptive`` and ρ (§12, §14).

    Parameters
    ----------
    y, yhat, g : ndarray, shape (n,)
    X_val : ndarray, shape (n, q)
    n_perm : int
        K (``--n_permutations``).
    seed : int
        ``20240601 + k``.
    obs_r2, obs_rho : float
        The observed statistics (the unpermuted ``r2_descriptive`` and ρ).
    mode : {"recalibrated", "frozen"}

    Returns
    -------
    (r2_perm_pval, rho_perm_pval) : tuple of float
        NaN when K ≤ 0, n < q + 2, the observed statistic is NaN, or no draw was valid.  In
        recalibrated mode the null also breaks y ~ X_val, so r2_perm_pval tests covariates and
        genetics together (§16.19).
    """
    X_val = _f64(X_val)
    n, q = X_val.shape
    if n_perm <= 0 or n < q + 2:
        return _NAN, _NAN
    idx = permutation_indices(n, n_perm, seed)
    r2, rho = permutation_stats(y, yhat, X_val, g, idx, mode=mode)
    return _perm_pval(r2, obs_r2), _perm_pval(rho, obs_rho)


# ----------------------------------------------------------------------------- all metrics
def validation_metrics(
    y: np.ndarray,
    yhat: np.ndarray,
    yhat_base: np.ndarray,
    g: np.ndarray,
    X_val: np.ndarray,
    n_obs_used: np.ndarray,
    k: int,
    *,
    mode: str,
    bootstrap_ci: bool = False,
    n_boot_ci: int = 1000,
    n_permutations: int = 0,
) -> ValidationMetrics:
    """All §12 metrics of one validated phenotype.

    Parameters
    ----------
    y : ndarray, shape (n,)
        Val-centred phenotype.
    yhat : ndarray, shape (n,)
        Full prediction (``X_fz·θ_main + g`` frozen, ``X_val·θ_val + g`` recalibrated).
    yhat_base : ndarray, shape (n,)
        Baseline prediction ``X_val·θ_base``.
    g : ndarray, shape (n,)
        Genetic score.
    X_val : ndarray, shape (n, q)
        The validation cohort's own unpenalised design.
    n_obs_used : ndarray of int, shape (n,)
        Shared variants observed per val sample.
    k : int
        Row index of the phenotype in the main table (seeds 42 + k and 20240601 + k).
    mode : {"recalibrated", "frozen"}
    bootstrap_ci : bool
        Compute the paired-bootstrap CIs (``--bootstrap_ci``); otherwise they are NaN.
    n_boot_ci : int
        Bootstrap draws.
    n_permutations : int
        Permutation draws K; 0 leaves the permutation p-values NaN.

    Returns
    -------
    ValidationMetrics
    """
    if mode not in MODES:
        raise ValueError(f"validation_mode must be one of {MODES}, got {mode!r}")
    y = _f64(y)
    yhat = _f64(yhat)
    yhat_base = _f64(yhat_base)
    g = _f64(g)
    X_val = _f64(X_val)
    n = y.shape[0]

    e = y - yhat
    sse = float(e @ e)
    r2 = r_squared(y, yhat)
    r2_base = r_squared(y, yhat_base)
    if n:
        rmse, mse, mae = float(np.sqrt(sse / n)), sse / n, float(np.mean(np.abs(e)))
        mean_bias = float(np.mean(e))
    else:
        rmse = mse = mae = mean_bias = _NAN
    sd_residual = float(np.std(e, ddof=1)) if n > 1 else _NAN

    pr, pp = _correlation(stats.pearsonr, y, yhat)
    sr, sp = _correlation(stats.spearmanr, y, yhat)
    cal = calibration_hc3(y, yhat)
    ts = transfer_slope(y, X_val, g)
    lo, mid, hi = burden_strata_r2(y, yhat, n_obs_used)

    ci = (
        paired_bootstrap_ci(y, yhat, n_boot_ci, BOOTSTRAP_SEED + k)
        if bootstrap_ci
        else (_NAN, _NAN, _NAN, _NAN)
    )
    r2_perm, rho_perm = permutation_pvalues(
        y, yhat, X_val, g, n_permutations, PERMUTATION_SEED + k, r2, ts.rho, mode=mode
    )

    return ValidationMetrics(
        rmse=rmse,
        mse=mse,
        mae=mae,
        r2_descriptive=r2,
        r2_baseline_val=r2_base,
        r2_full_val=r2,
        pearson_r=pr,
        pearson_pval=pp,
        spearman_rho=sr,
        spearman_pval=sp,
        rho_genetic_transfer=ts.rho,
        rho_genetic_transfer_pval=ts.pval,
        rho_genetic_adjustment=ts.adjustment,
        rho_genetic_adjustment_pval=ts.adjustment_pval,
        r2_burden_low=lo,
        r2_burden_mid=mid,
        r2_burden_high=hi,
        mean_bias=mean_bias,
        sd_residual=sd_residual,
        calibration_intercept=cal.intercept,
        calibration_slope=cal.slope,
        calibration_joint_wald=cal.joint_wald,
        calibration_joint_pval=cal.joint_pval,
        r2_ci_lo=ci[0],
        r2_ci_hi=ci[1],
        cal_slope_ci_lo=ci[2],
        cal_slope_ci_hi=ci[3],
        r2_perm_pval=r2_perm,
        rho_perm_pval=rho_perm,
    )


# ----------------------------------------------------------------------------- §11 pipeline
#: Status of one validated phenotype (§11, §13.1).
SCORED = "scored"
EMPTY = "empty"  # the empty-metrics row, no residual and no audit rows
SKIPPED = "skipped"  # unsupported under --restrict_to_supported_phenotypes: no row at all

#: Support definitions of ``--restrict_to_supported_phenotypes`` (§11 step 4).
SUPPORT_DEFINITIONS = ("stability", "selected")

#: Metric columns of ``validate_<C>.csv`` after ``phenotype``, in normal-row order (§13.1).
ROW_COLUMNS = (
    "n_samples_main",
    "n_samples_val",
    "n_variants_main_kept",
    "n_variants_shared",
    "n_variants_stable",
    "median_n_obs_val",
    "rmse",
    "mse",
    "mae",
    "r2_descriptive",
    "r2_baseline_val",
    "r2_full_val",
    "pearson_r",
    "pearson_pval",
    "spearman_rho",
    "spearman_pval",
    "rho_genetic_transfer",
    "rho_genetic_transfer_pval",
    "rho_genetic_adjustment",
    "rho_genetic_adjustment_pval",
    "r2_burden_low",
    "r2_burden_mid",
    "r2_burden_high",
    "mean_bias",
    "sd_residual",
    "lambda_selected",
    "validation_mode",
    "calibration_intercept",
    "calibration_slope",
    "calibration_joint_wald",
    "calibration_joint_pval",
    "r2_ci_lo",
    "r2_ci_hi",
    "cal_slope_ci_lo",
    "cal_slope_ci_hi",
    "r2_perm_pval",
    "rho_perm_pval",
)


@dataclass(frozen=True)
class ValidateOptions:
    """The validate-only options of §11 (reference defaults).

    The elastic-net hyper-parameters (refit, coverage, stability selection) come from
    :class:`segqtl.kernels.finemap.FinemapParams`.
    """

    validation_mode: str = RECALIBRATED
    validate_with_bootstrap: bool = False
    validation_stability_threshold: float = 0.6
    restrict_to_supported_phenotypes: bool = False
    support_definition: str = "stability"
    support_min_stability: float = 0.6
    bootstrap_ci: bool = False
    n_boot_ci: int = 1000
    n_permutations: int = 0
    save_model_audit: bool = False

    def __post_init__(self):
        if self.validation_mode not in MODES:
            raise ValueError(
                f"validation_mode must be one of {MODES}, got {self.validation_mode!r}"
            )
        if self.support_definition not in SUPPORT_DEFINITIONS:
            raise ValueError(
                f"support_definition must be one of {SUPPORT_DEFINITIONS}, "
                f"got {self.support_definition!r}"
            )


@dataclass(frozen=True)
class FinemapRows:
    """One phenotype's rows of ``finemap_<C>.csv`` (§11 step 4, "with finemap_results_dir").

    Values as the caller read them: a stored finemap run's exact doubles, or the CSV parsed
    correctly rounded (SegmentQTL's pandas parser can be one ulp off, §15.6); ``variant``
    entries that are NaN/None mark the finemap empty row.  All arrays have one entry per CSV
    row, in file order.
    """

    variant: list
    mean_d: np.ndarray
    sd_d: np.ndarray
    stability_score: np.ndarray
    lambda_selected: np.ndarray
    beta_full: np.ndarray

    def supported(self, definition: str, min_stability: float) -> bool:
        """The support test of ``--restrict_to_supported_phenotypes`` (§11 step 4)."""
        if definition == "stability":
            s = _f64(self.stability_score)
            return bool(np.any(np.isfinite(s) & (s >= min_stability)))
        b = _f64(self.beta_full)
        return bool(np.any(np.isfinite(b) & (np.abs(b) > 0)))


@dataclass
class ValidateResult:
    """One phenotype's validate output (§13).

    ``status`` is :data:`SCORED`, :data:`EMPTY` or :data:`SKIPPED`.  Per-sample arrays have
    shape (n_val,) over the val good samples (``val_good``: positions among the val canonical
    samples).  ``audit`` holds ``(block, name, value_main, value_val, shared_with_val)`` tuples
    in §13.3 order (empty unless ``save_model_audit``).
    """

    status: str
    validation_mode: str
    n_samples_main: int = 0
    n_samples_val: int = 0
    n_variants_main_kept: int = 0
    n_variants_shared: int = 0
    n_variants_stable: float = _NAN
    median_n_obs_val: float = _NAN
    lambda_selected: float = _NAN
    metrics: ValidationMetrics | None = None
    val_good: np.ndarray | None = None
    y: np.ndarray | None = None
    y_hat: np.ndarray | None = None
    y_hat_base: np.ndarray | None = None
    n_obs_used: np.ndarray | None = None
    beta: np.ndarray | None = None
    theta_main: np.ndarray | None = None
    theta_val: np.ndarray | None = None
    theta_base: np.ndarray | None = None
    shared: np.ndarray | None = None
    audit: list = None

    def __post_init__(self):
        if self.audit is None:
            self.audit = []

    @property
    def residual(self) -> np.ndarray | None:
        return None if self.y is None else self.y - self.y_hat

    @property
    def residual_base(self) -> np.ndarray | None:
        return None if self.y is None else self.y - self.y_hat_base

    def row(self) -> dict:
        """The ``validate_<C>.csv`` fields after ``phenotype`` and before ``chr`` (§13.1).

        Normal-row column order; an EMPTY row has the four counts 0 and everything else NaN
        but ``validation_mode``.  SKIPPED phenotypes have no row (the caller drops them).
        """
        out = dict.fromkeys(ROW_COLUMNS, _NAN)
        out["validation_mode"] = self.validation_mode
        for c in ("n_samples_main", "n_samples_val", "n_variants_main_kept", "n_variants_shared"):
            out[c] = int(getattr(self, c))
        if self.status != SCORED:
            return out
        out["n_variants_stable"] = self.n_variants_stable
        out["median_n_obs_val"] = self.median_n_obs_val
        out["lambda_selected"] = self.lambda_selected
        out.update(self.metrics.as_dict())
        return out


def _is_missing_id(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def validate_phenotype(
    main,
    main_ids: list[str],
    val,
    val_ids: list[str],
    k: int,
    params,
    options: ValidateOptions | None = None,
    *,
    finemap_rows: FinemapRows | None = None,
    val_raw_blocks: np.ndarray | None = None,
    block_names: list[str] | None = None,
) -> ValidateResult:
    """The validate pipeline for one phenotype (§11 steps 2–15).

    Parameters
    ----------
    main, val : Prepared or int
        :func:`segqtl.kernels.finemap.prepare` of the two cohorts (a status code = NONE →
        EMPTY).  The caller handles step 1 (phenotype absent from val → EMPTY).
    main_ids, val_ids : list of str
        Window variant IDs of each cohort (rows of ``main.d`` / ``val.d``, before any filter).
    k : int
        Row index of the phenotype in the **main** chromosome table (seeds, §14).
    params : FinemapParams
        Elastic-net, coverage and stability hyper-parameters.
    options : ValidateOptions
    finemap_rows : FinemapRows, optional
        The phenotype's rows of ``finemap_<C>.csv`` when ``--finemap_results_dir`` is given
        (None = refit).  An object with no rows (or only a NaN variant) gives EMPTY.
    val_raw_blocks : ndarray, shape (n_val, m), optional
        The val cohort's raw unpenalised blocks on its good samples, in block order; required
        in frozen mode (§11 step 11).
    block_names : list of str, optional
        Names of the main blocks for the audit rows (``CN``, ``phenotype_cov``, covariates).

    Returns
    -------
    ValidateResult

    Raises
    ------
    RuntimeError
        The CSV's variants or μ/σ disagree with the recomputed ones (aborts the run, §11).
    ValueError
        Frozen mode with a val design whose width differs from θ_main's.
    """

    opt = options if options is not None else ValidateOptions()
    mode = opt.validation_mode
    empty = ValidateResult(status=EMPTY, validation_mode=mode)
    # step 2
    if not isinstance(main, Prepared) or not isinstance(val, Prepared):
        return empty
    # step 3
    n = main.n
    y_m = np.ascontiguousarray(main.y, dtype=np.float64)
    X_m = np.ascontiguousarray(main.X, dtype=np.float64)
    required = max(MIN_SAMPLES, int(params.coverage_tau * n))
    _, mu_all, sd_all, keep, Zall = standardise(main.d, np.arange(n), required)
    kept = np.flatnonzero(keep)
    if kept.size == 0:
        return empty
    Z_m = np.ascontiguousarray(Zall[kept])
    mu, sd = mu_all[kept], sd_all[kept]
    kept_ids = [main_ids[i] for i in kept]

    # step 4
    pi = None
    if finemap_rows is not None:
        rows = finemap_rows
        if len(rows.variant) == 0 or all(_is_missing_id(v) for v in rows.variant):
            return empty
        if opt.restrict_to_supported_phenotypes and not rows.supported(
            opt.support_definition, opt.support_min_stability
        ):
            return ValidateResult(status=SKIPPED, validation_mode=mode)
        if list(rows.variant) != kept_ids:
            raise RuntimeError(
                f"finemap results list {len(rows.variant)} variants that differ from the "
                f"{len(kept_ids)} recomputed coverage-kept variants"
            )
        if not (
            np.allclose(_f64(rows.mean_d), mu, rtol=1e-6, atol=1e-8)
            and np.allclose(_f64(rows.sd_d), sd, rtol=1e-6, atol=1e-8)
        ):
            raise RuntimeError("finemap results mean_d/sd_d differ from the recomputed ones")
        beta = np.array(rows.beta_full, dtype=np.float64)
        lam = float(rows.lambda_selected[0])
        pi = _f64(rows.stability_score)
    else:
        lam, beta, _ = select_lambda_and_fit(y_m, Z_m, X_m, k, params)
        beta = np.array(beta, dtype=np.float64)

    # step 5
    if opt.validate_with_bootstrap:
        if pi is None:
            sel, _, _, n_eff, _, _, _ = stability_fits(y_m, X_m, main.d[kept], k, lam, params)
            pi = sel / max(n_eff, 1)
        beta[pi < opt.validation_stability_threshold] = 0.0

    # step 6
    theta_main = np.linalg.lstsq(X_m, _y_minus_variants(y_m, Z_m, beta), rcond=None)[0]

    # step 7
    val_row = {}
    for i, v in enumerate(val_ids):
        val_row.setdefault(v, i)
    shared = np.array([i for i, v in enumerate(kept_ids) if v in val_row], dtype=np.int64)
    if shared.size == 0:
        return empty

    # step 8: Z_val with the main μ and σ, 0 where unobserved
    D_val = _f64(val.d)[[val_row[kept_ids[i]] for i in shared]]
    obs = ~np.isnan(D_val)
    with np.errstate(invalid="ignore"):
        Z_val = np.where(obs, (D_val - mu[shared, None]) / sd[shared, None], 0.0)
    Z_val = np.ascontiguousarray(Z_val)
    median_n_obs_val = float(np.median(obs.sum(axis=1)))
    n_obs_used = obs.sum(axis=0).astype(np.int64)
    beta_s = np.ascontiguousarray(beta[shared])

    # step 9: g from 0, variant by variant, skipping β = 0
    n_val = val.n
    g = np.zeros(n_val)
    for j in range(shared.size):
        if beta_s[j] != 0.0:
            g += beta_s[j] * Z_val[j]

    # steps 10–12
    y_v = np.ascontiguousarray(val.y, dtype=np.float64)
    X_v = np.ascontiguousarray(val.X, dtype=np.float64)
    theta_val = None
    if mode == FROZEN:
        if X_v.shape[1] != theta_main.shape[0]:
            raise ValueError(
                f"frozen validation needs {theta_main.shape[0]} unpenalised columns in the "
                f"validation cohort, got {X_v.shape[1]}"
            )
        if val_raw_blocks is None:
            raise ValueError("frozen validation needs the val cohort's raw blocks")
        raw = _f64(val_raw_blocks).reshape(n_val, -1)
        cols = [np.ones(n_val)]
        for j, (b_mu, b_sd, b_const) in enumerate(main.transforms):
            if np.isnan(b_const):
                cols.append((raw[:, j] - b_mu) / b_sd)
            else:
                cols.append(np.full(n_val, b_const))
        X_fz = np.column_stack(cols)
        yhat = X_fz @ theta_main + g
    else:
        theta_val = np.linalg.lstsq(X_v, _y_minus_variants(y_v, Z_val, beta_s), rcond=None)[0]
        yhat = X_v @ theta_val + g
    theta_base = np.linalg.lstsq(X_v, y_v, rcond=None)[0]
    yhat_base = X_v @ theta_base

    # step 13
    metrics = validation_metrics(
        y_v,
        yhat,
        yhat_base,
        g,
        X_v,
        n_obs_used,
        k,
        mode=mode,
        bootstrap_ci=opt.bootstrap_ci,
        n_boot_ci=opt.n_boot_ci,
        n_permutations=opt.n_permutations,
    )
    n_stable = _NAN
    if opt.validate_with_bootstrap:
        n_stable = float(np.sum(pi[shared] >= opt.validation_stability_threshold))

    result = ValidateResult(
        status=SCORED,
        validation_mode=mode,
        n_samples_main=n,
        n_samples_val=n_val,
        n_variants_main_kept=int(kept.size),
        n_variants_shared=int(shared.size),
        n_variants_stable=n_stable,
        median_n_obs_val=median_n_obs_val,
        lambda_selected=lam,
        metrics=metrics,
        val_good=np.asarray(val.good),
        y=y_v,
        y_hat=yhat,
        y_hat_base=yhat_base,
        n_obs_used=n_obs_used,
        beta=beta,
        theta_main=theta_main,
        theta_val=theta_val,
        theta_base=theta_base,
        shared=shared,
    )
    # step 15
    if opt.save_model_audit:
        result.audit = audit_rows(
            kept_ids, beta, mu, sd, shared, theta_main, theta_val, theta_base,
            main.transforms, val.transforms, block_names,
        )  # fmt: skip
    return result


def audit_rows(
    kept_ids: list[str],
    beta: np.ndarray,
    mu: np.ndarray,
    sd: np.ndarray,
    shared: np.ndarray,
    theta_main: np.ndarray,
    theta_val: np.ndarray | None,
    theta_base: np.ndarray,
    main_transforms: list,
    val_transforms: list,
    block_names: list[str] | None = None,
) -> list[tuple]:
    """The ``validate_model_<C>.csv`` rows of one scored phenotype (§13.3).

    Returns
    -------
    list of (block, name, value_main, value_val, shared_with_val)
        Variant rows (β, μ, σ per main kept variant), then the intercept rows, then four rows
        per main block; blocks are matched to the val cohort by position.
    """
    is_shared = np.zeros(len(kept_ids), dtype=bool)
    is_shared[shared] = True
    out: list[tuple] = []
    for i, v in enumerate(kept_ids):
        s = bool(is_shared[i])
        out.append(("beta", v, float(beta[i]), _NAN, s))
        out.append(("variant_mu", v, float(mu[i]), _NAN, s))
        out.append(("variant_sd", v, float(sd[i]), _NAN, s))

    def tv(j):
        return float(theta_val[j]) if theta_val is not None and j < theta_val.shape[0] else _NAN

    out.append(("theta", "intercept", float(theta_main[0]), tv(0), True))
    out.append(("theta_baseline", "intercept", _NAN, float(theta_base[0]), True))
    for j, (b_mu, b_sd, _) in enumerate(main_transforms):
        name = block_names[j] if block_names is not None else f"block{j}"
        has_val = j < len(val_transforms)
        out.append(("theta", name, float(theta_main[j + 1]), tv(j + 1), True))
        base = float(theta_base[j + 1]) if j + 1 < theta_base.shape[0] else _NAN
        out.append(("theta_baseline", name, _NAN, base, True))
        out.append(
            ("unpen_mu", name, float(b_mu), float(val_transforms[j][0]) if has_val else _NAN, True)
        )
        out.append(
            ("unpen_sd", name, float(b_sd), float(val_transforms[j][1]) if has_val else _NAN, True)
        )
    return out
