"""``finemap`` mode: missing-aware elastic net with stability selection, per phenotype.

The Python layer: preparation of one phenotype (docs/methods.md#finemap-preparation), the
schedule of the fits (λ grid, CV folds and the ``cv_tau`` rule, stability subsamples) and the
per-phenotype pipeline (docs/methods.md#standardisation to #r2).  The sequential loops run
compiled, in :mod:`segqtl.kernels.finemap_compiled`; how their sums are ordered to reproduce
the reference bit for bit is explained there (docs/methods.md#numerical-reproducibility).

Conventions: ``Z`` is the zero-filled standardised variant matrix, shape ``(p, n)``; ``X`` the
unpenalised design ``[1, blocks…]``, shape ``(n, q)``; ``y`` the centred phenotype, ``(n,)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .finemap_compiled import (
    SELECTED_EPS,
    cd,
    cv_fold,
    cv_lanes,
    lstsq,
    predict,
    seq_dots,
    sq_norms,
    stability_lanes,
    standardise_rows,
)
from .options import FinemapParams

#: Fewest good samples for a phenotype, and the floor of the coverage filter
#: (docs/methods.md#finemap-preparation, #standardisation).
MIN_SAMPLES = 30
#: Block standardisation: σ above this scales the column, otherwise it stays raw
#: (docs/methods.md#finemap-preparation).
BLOCK_SD_EPS = 1e-10
#: |d| above this counts as an allelic gain in the descriptive columns
#: (docs/methods.md#descriptive-columns).
GAIN_CUTOFF = 0.1

#: Solver settings (max_iter, tol) per call site (docs/methods.md#elastic-net).
CV_PATH = (1000, 1e-6)
FULL_FIT = (1000, 1e-6)
STABILITY_FIT = (500, 1e-5)
R2_FULL_FIT = (2000, 1e-8)

#: Number of CV folds, hard-coded in the reference (docs/methods.md#cross-validation).
N_FOLDS = 5

# Result status codes (shared with the warehouse's result_status table).
OK = 0
TOO_FEW_SAMPLES = 1
NO_CIS_VARIANT = 6
NO_VARIANT_PASSES_COVERAGE = 7
FAILED = 8

EFFECT_NONE = "no effect"
EFFECT_NEGATIVE = "ALT gain increases phenotype; REF gain decreases phenotype"
EFFECT_POSITIVE = "REF gain increases phenotype; ALT gain decreases phenotype"


# ----------------------------------------------------------------------------- fit schedule
def lambda_grid(lam_max: float, n_lambda: int, lambda_ratio: float) -> np.ndarray:
    """Log-spaced decreasing grid of ``max(n_lambda, 2)`` points (docs/methods.md#lambda-grid).

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
    """The ``cv_tau`` rule: index of the selected λ on the grid (docs/methods.md#cross-validation).

    ``cv_null = m_0``, ``t* = argmin m`` (first occurrence).  If ``m_{t*} ≥ cv_null`` return 0,
    else the smallest t with ``m_t ≤ cv_min + cv_tau·(cv_null − cv_min)``.

    Parameters
    ----------
    cv_mean : ndarray, shape (L,)
        Mean CV error per grid point, ``m_t``.
    cv_tau : float

    Returns
    -------
    int
    """
    m = np.asarray(cv_mean, dtype=np.float64)
    cv_null = m[0]
    cv_min = m[int(np.argmin(m))]
    if cv_min >= cv_null:
        return 0
    thr = cv_min + cv_tau * (cv_null - cv_min)
    return int(np.flatnonzero(m <= thr)[0])


def cv_fold_ids(n: int, seed: int) -> np.ndarray:
    """Fold label of each sample (docs/methods.md#cross-validation, #random-streams).

    One ``permutation(n)`` from ``default_rng(seed)`` (seed = 42 + k); sample ``π[t]`` goes to
    fold ``t mod 5``.

    Returns
    -------
    ndarray of int64, shape (n,)
        ``fold[i]`` in 0..4.
    """
    perm = np.random.default_rng(seed).permutation(n)
    fold = np.empty(n, dtype=np.int64)
    fold[perm] = np.arange(n) % N_FOLDS
    return fold


def n_subsample(n: int, subsample_frac: float) -> int:
    """Subsample size ``max(30, floor(n·subsample_frac))`` (docs/methods.md#stability-selection)."""
    return max(30, int(n * subsample_frac))


def stability_subsamples(n: int, n_sub: int, n_bootstrap: int, seed: int) -> list[np.ndarray]:
    """Stability-selection index sets (docs/methods.md#stability-selection, #random-streams).

    A fresh ``default_rng(seed)`` (seed = 42 + k, same start state as the fold generator) makes
    ``n_bootstrap`` calls ``choice(n, n_sub, replace=False)``, each sorted ascending.  Raises
    ``ValueError`` if ``n_sub > n``, as numpy does (docs/methods.md#differences).

    Returns
    -------
    list of ndarray of int, each shape (n_sub,)
    """
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(n, n_sub, replace=False)) for _ in range(n_bootstrap)]


# ----------------------------------------------------------------------------- pipeline
@dataclass
class Prepared:
    """One phenotype's model inputs after preparation (good samples only).

    docs/methods.md#finemap-preparation.

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


def prepare(
    y_raw: np.ndarray, blocks: list[np.ndarray], d_window: np.ndarray, has_cn: bool
) -> Prepared | int:
    """Good-sample mask, centring and the unpenalised design (docs/methods.md#finemap-preparation).

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
    """Standardise the rows of ``d[:, cols]`` on their observed entries.

    docs/methods.md#standardisation (full data) and #stability-selection (subsamples).

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
    standardise_rows(d, cols, int(min_count), counts, mu, sd, keep, Z)
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
    """Compiled elastic-net fit at one λ (docs/methods.md#elastic-net).

    Cold start (β = 0, θ = lstsq(X, y)) unless ``beta_init``/``theta_init`` are given.  The
    tests hold it bit-equal to ``tests/reference_enet.py::enet_fit``.

    Parameters
    ----------
    y : ndarray, shape (n,)
    Z : ndarray, shape (p, n)
        Zero-filled standardised variants.
    X : ndarray, shape (n, q)
    lam, alpha : float
    max_iter, tol : int, float
        Sweep cap and β-change tolerance of the call site (:data:`FULL_FIT` etc.).
    beta_init : ndarray, shape (p,), optional
    theta_init : ndarray, shape (q,), optional

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
    theta = lstsq(X, y) if theta_init is None else np.array(theta_init, dtype=np.float64)
    n_iter = cd(
        y, Z, X, sq_norms(Z), float(lam), float(alpha), int(max_iter), float(tol), beta, theta
    )
    return beta, theta, int(n_iter)


def lambda_max(y: np.ndarray, Z: np.ndarray, X: np.ndarray, alpha: float) -> float:
    """λ_max on the full data (docs/methods.md#lambda-grid).

    The gradient sums are sequential like the solver's.

    Parameters
    ----------
    y : ndarray, shape (n,)
    Z : ndarray, shape (p, n)
    X : ndarray, shape (n, q)
    alpha : float

    Returns
    -------
    float
    """
    r0 = y - X @ lstsq(X, y)
    g = float(np.max(np.abs(seq_dots(Z, r0)))) if Z.shape[0] else 0.0
    lmax = g / alpha if alpha > 0 else g * 1e4
    return lmax if lmax > 0 else 1.0


def cv_errors(
    y: np.ndarray,
    Z: np.ndarray,
    X: np.ndarray,
    lambdas: np.ndarray,
    alpha: float,
    seed: int,
    interleaved: bool = True,
) -> np.ndarray:
    """CV error matrix ``E[t, f]`` over the grid and the 5 folds (docs/methods.md#cross-validation).

    ``interleaved`` runs the folds side by side (:func:`.finemap_compiled.cv_lanes`, the fast
    path); ``False`` runs them one after the other (:func:`.finemap_compiled.cv_fold`).  The
    numbers are identical.

    Parameters
    ----------
    y : ndarray, shape (n,)
    Z : ndarray, shape (p, n), C-contiguous
    X : ndarray, shape (n, q), C-contiguous
    lambdas : ndarray, shape (L,)
        The grid, walked in order by every fold.
    alpha : float
    seed : int
        Fold generator seed (42 + k).
    interleaved : bool

    Returns
    -------
    ndarray, shape (L, 5)
    """
    fold = cv_fold_ids(len(y), seed)
    lambdas = np.ascontiguousarray(lambdas, dtype=np.float64)
    args = (float(alpha), CV_PATH[0], CV_PATH[1])
    if interleaved:
        return cv_lanes(np.ascontiguousarray(y), Z, X, fold, lambdas, *args)
    return np.column_stack([cv_fold(y, Z, X, fold, f, lambdas, *args) for f in range(5)])


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
    """λ_sel by the CV rule and the full-data fit at it (folds seeded 42 + k).

    docs/methods.md#lambda-grid, #cross-validation and #full-fit.

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
    """Stability selection at λ_sel on subsamples seeded 42 + k.

    docs/methods.md#stability-selection.

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
    return stability_lanes(
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
    """The whole finemap pipeline for one phenotype (docs/methods.md#standardisation to #r2).

    Parameters
    ----------
    prep : Prepared or int
        Output of :func:`prepare` (a status code when the phenotype cannot be fitted).
    k : int
        The phenotype's row index in its chromosome's quantification rows (seeds:
        docs/methods.md#random-streams).
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
    """In-sample R² of the covariate baseline and of baseline + stable variants.

    docs/methods.md#r2.

    Returns
    -------
    dict
        ``r2_baseline``, ``r2_baseline_adj``, ``r2_full``, ``r2_full_adj``, ``delta_r2``,
        ``delta_r2_adj``, ``r2_n_variants`` and ``cand`` (indices into the kept variants).
    """
    n, q = X.shape
    base = _r2(y, X @ lstsq(X, y))
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
    full = _r2(y, predict(X, Zc, b, t))
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
    # any values compile the same kernels; small ones keep the warm-up short
    tiny = FinemapParams(
        alpha_en=0.5, coverage_tau=0.6, n_bootstrap=2, subsample_frac=0.8, n_lambda=3,
        lambda_ratio=0.01, cv_tau=0.8, min_obs_boot=20, compute_r2=True,
        r2_stability_threshold=0.6,
    )  # fmt: skip
    finemap_phenotype(prep, 0, tiny)
