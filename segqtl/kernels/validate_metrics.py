"""``validate`` mode: the per-phenotype validation metrics (docs/methods.md#validate-metrics).

Pure array maths on what the validate pipeline (:mod:`segqtl.kernels.validate_pipeline`,
docs/methods.md#validate-pipeline) hands over for one phenotype of the validation cohort:

* ``y`` — the val-centred phenotype, shape ``(n,)``;
* ``yhat`` — the full prediction ``X·θ + g`` (frozen or recalibrated), shape ``(n,)``;
* ``yhat_base`` — the covariates-only baseline ``X_val·θ_base``, shape ``(n,)``;
* ``g`` — the genetic score ``Σ_v β_v Z_val,v``, shape ``(n,)``;
* ``X_val`` — the validation cohort's own unpenalised design ``[1, blocks…]``, shape ``(n, q)``;
* ``n_obs_used`` — shared variants observed per sample, shape ``(n,)``;
* ``k`` — the phenotype's row index in the **main** table (seeds,
  docs/methods.md#random-streams).

The reference's formulas are followed literally (``pinv`` rather than ``lstsq`` where it uses
``pinv``, BLAS dot products where it uses ``@``, numpy pairwise sums where it uses ``np.sum``),
so the deterministic metrics agree with it to the last bit or within a few ulp.  The only
deliberate change (docs/methods.md#differences): p-values come from survival functions
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

#: Validation modes (docs/methods.md#validate-pipeline).
from .options import FROZEN, MODES, RECALIBRATED  # noqa: F401  (the mode names, re-exported)

#: sd0(ŷ) / sd0(g) below this counts as constant (calibration, transfer slope, bootstrap).
SD_EPS = 1e-12
#: Leverages are clipped to [0, 1 − LEVERAGE_CLIP] before the HC3 weights.
LEVERAGE_CLIP = 1e-8
#: Seed offsets of the two generators (docs/methods.md#random-streams): bootstrap 42 + k,
#: permutations 20240601 + k.
BOOTSTRAP_SEED = 42
PERMUTATION_SEED = 20240601
#: Fewest samples for: calibration, burden strata, bootstrap CI.
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
    """HC3 calibration of ``y = a + b·ŷ`` with a joint Wald test of ``(a, b) = (0, 1)``.

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
    """Genetic transfer slope ρ of ``y ~ X_val + ρ·g``.

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
    """The metric columns of one ``validate_<C>.csv`` row (docs/methods.md#validate-outputs).

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
    """``1 − Σ(y − ŷ)²/Σ(y − ȳ)²`` with SST around y's own mean; NaN if SST ≤ 0.

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
    """HC3-robust calibration regression ``y = a + b·ŷ`` and Wald test of (a, b) = (0, 1).

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
    # The survival function, not 1 − cdf, so a large W gives a tiny p instead of 0
    # (docs/methods.md#differences).
    pval = float(stats.chi2.sf(wald, df=2)) if np.isfinite(wald) else _NAN
    return Calibration(float(coef[0]), float(coef[1]), wald, pval, V)


def transfer_slope(y: np.ndarray, X_val: np.ndarray, g: np.ndarray) -> TransferSlope:
    """Genetic transfer slope: the coefficient of g in ``y ~ [X_val, g]``.

    Classical (not robust) standard error ``√(RSS/df · pinv(BᵀB)_last,last)`` with
    ``df = n − q − 1``; both p-values are two-sided from the t distribution's survival function.
    ``X_val`` is the validation cohort's own design even in frozen mode.  Both are deliberate
    (docs/methods.md#differences).

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
    """R² of the fixed prediction within terciles of ``n_obs_used``.

    Cut points are ``quantile(n_obs_used, [1/3, 2/3])`` with linear interpolation; strata are
    ``≤ q1``, ``(q1, q2]`` and ``> q2``.  With ties the cut points collapse and a stratum can be
    empty (docs/methods.md#differences).

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
    """The paired-bootstrap index sets: ``n_boot`` × ``integers(0, n, n)``.

    docs/methods.md#random-streams.

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
    """The permutation index sets: ``n_perm`` × ``permutation(n)`` (docs/methods.md#random-streams).

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
    """R² and centred OLS slope of ``y_b`` on ``ŷ_b`` for every bootstrap draw at once.

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
    """Paired-bootstrap 95% CIs of R² and the calibration slope (docs/methods.md#random-streams).

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
    # The reference lets nanquantile warn on all-NaN input (docs/methods.md#differences); the
    # result is NaN anyway.
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
    """Null R² and ρ for every permutation of y at once.

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
    """Permutation p-values of ``r2_descriptive`` and ρ (docs/methods.md#random-streams).

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
        genetics together (docs/methods.md#differences).
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
    """All metrics of one validated phenotype (docs/methods.md#validate-metrics).

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
