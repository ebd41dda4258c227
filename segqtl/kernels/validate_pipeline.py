"""``validate`` mode: the per-phenotype pipeline (docs/methods.md#validate-pipeline).

One phenotype of the main cohort, prepared in both cohorts exactly as finemap prepares it
(:func:`segqtl.kernels.finemap.prepare`), goes through the pipeline's steps: coverage filter and
elastic-net refit (or the stored finemap rows) on the main cohort, stability mask, the shared
variants standardised with the main cohort's μ and σ, the genetic score and the unpenalised
refit (recalibrated) or the main cohort's θ (frozen) on the validation cohort, then the metrics
of :mod:`segqtl.kernels.validate_metrics`.  The step numbers in the comments are those of
docs/methods.md#validate-pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .finemap import MIN_SAMPLES, Prepared, select_lambda_and_fit, stability_fits, standardise
from .finemap_compiled import y_minus_variants
from .options import FROZEN, ValidateOptions
from .validate_metrics import ValidationMetrics, validation_metrics

_NAN = float("nan")


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


#: Status of one validated phenotype (docs/methods.md#validate-pipeline, #validate-outputs).
SCORED = "scored"
EMPTY = "empty"  # the empty-metrics row, no residual and no audit rows
SKIPPED = "skipped"  # unsupported under --restrict_to_supported_phenotypes: no row at all

#: Why a phenotype was not scored (:attr:`ValidateResult.reason`), by pipeline step.  The kernel
#: says it because only the kernel knows which step stopped; the engine maps these to its codes.
NOT_PREPARED = "not_prepared"  # step 2: a cohort's preparation gave a status code (EMPTY)
NO_VARIANT_PASSES_COVERAGE = "no_variant_passes_coverage"  # step 3 (EMPTY)
NO_FINEMAP_RESULT = "no_finemap_result"  # step 4: no finemap rows for the phenotype (EMPTY)
UNSUPPORTED = "unsupported"  # step 4: --restrict_to_supported_phenotypes (SKIPPED)
NO_SHARED_VARIANT = "no_shared_variant"  # step 7 (EMPTY)

#: Support definitions of ``--restrict_to_supported_phenotypes`` (docs/methods.md#validate-pipeline,
#: step 4).

#: Metric columns of ``validate_<C>.csv`` after ``phenotype``, in normal-row order
#: (docs/methods.md#validate-outputs).
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
class FinemapRows:
    """One phenotype's rows of ``finemap_<C>.csv`` (docs/methods.md#validate-pipeline, step 4).

    Values as the caller read them: a stored finemap run's exact doubles, or the CSV parsed
    correctly rounded (SegmentQTL's pandas parser can be one ulp off,
    docs/methods.md#numerical-reproducibility); ``variant``
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
        """The support test of ``--restrict_to_supported_phenotypes`` (step 4)."""
        if definition == "stability":
            s = _f64(self.stability_score)
            return bool(np.any(np.isfinite(s) & (s >= min_stability)))
        b = _f64(self.beta_full)
        return bool(np.any(np.isfinite(b) & (np.abs(b) > 0)))


@dataclass
class ValidateResult:
    """One phenotype's validate output (docs/methods.md#validate-outputs).

    ``status`` is :data:`SCORED`, :data:`EMPTY` or :data:`SKIPPED`; ``reason`` says why a
    phenotype was not scored (:data:`NO_VARIANT_PASSES_COVERAGE`, :data:`NO_FINEMAP_RESULT`,
    :data:`NO_SHARED_VARIANT`, :data:`UNSUPPORTED` or :data:`NOT_PREPARED`; None when
    scored).  Per-sample arrays have
    shape (n_val,) over the val good samples (``val_good``: positions among the val canonical
    samples).  ``audit`` holds ``(block, name, value_main, value_val, shared_with_val)`` tuples
    in validate_model row order (empty unless ``save_model_audit``).
    """

    status: str
    validation_mode: str
    reason: str | None = None
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
        """The ``validate_<C>.csv`` fields after ``phenotype`` and before ``chr``.

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
    options: ValidateOptions,
    *,
    finemap_rows: FinemapRows | None = None,
    val_raw_blocks: np.ndarray | None = None,
    block_names: list[str] | None = None,
) -> ValidateResult:
    """The validate pipeline for one phenotype (docs/methods.md#validate-pipeline, steps 2–15).

    Parameters
    ----------
    main, val : Prepared or int
        :func:`segqtl.kernels.finemap.prepare` of the two cohorts (a status code gives EMPTY,
        reason :data:`NOT_PREPARED`).  The caller handles step 1 (phenotype absent from val).
    main_ids, val_ids : list of str
        Window variant IDs of each cohort (rows of ``main.d`` / ``val.d``, before any filter).
    k : int
        Row index of the phenotype in the **main** chromosome table (seeds:
        docs/methods.md#random-streams).
    params : FinemapParams
        Elastic-net, coverage and stability hyper-parameters.
    options : ValidateOptions
    finemap_rows : FinemapRows, optional
        The phenotype's rows of ``finemap_<C>.csv`` when ``--finemap_results_dir`` is given
        (None = refit).  An object with no rows (or only a NaN variant) gives EMPTY.
    val_raw_blocks : ndarray, shape (n_val, m), optional
        The val cohort's raw unpenalised blocks on its good samples, in block order; required
        in frozen mode (step 11).
    block_names : list of str, optional
        Names of the main blocks for the audit rows (``CN``, ``phenotype_cov``, covariates).

    Returns
    -------
    ValidateResult

    Raises
    ------
    RuntimeError
        The CSV's variants or μ/σ disagree with the recomputed ones (aborts the run).
    ValueError
        Frozen mode with a val design whose width differs from θ_main's.
    """

    opt = options
    mode = opt.validation_mode

    def empty(reason: str) -> ValidateResult:
        return ValidateResult(status=EMPTY, validation_mode=mode, reason=reason)

    # step 2
    if not isinstance(main, Prepared) or not isinstance(val, Prepared):
        return empty(NOT_PREPARED)
    # step 3
    n = main.n
    y_m = np.ascontiguousarray(main.y, dtype=np.float64)
    X_m = np.ascontiguousarray(main.X, dtype=np.float64)
    required = max(MIN_SAMPLES, int(params.coverage_tau * n))
    _, mu_all, sd_all, keep, Zall = standardise(main.d, np.arange(n), required)
    kept = np.flatnonzero(keep)
    if kept.size == 0:
        return empty(NO_VARIANT_PASSES_COVERAGE)
    Z_m = np.ascontiguousarray(Zall[kept])
    mu, sd = mu_all[kept], sd_all[kept]
    kept_ids = [main_ids[i] for i in kept]

    # step 4
    pi = None
    if finemap_rows is not None:
        rows = finemap_rows
        if len(rows.variant) == 0 or all(_is_missing_id(v) for v in rows.variant):
            return empty(NO_FINEMAP_RESULT)
        if opt.restrict_to_supported_phenotypes and not rows.supported(
            opt.support_definition, opt.support_min_stability
        ):
            return ValidateResult(status=SKIPPED, validation_mode=mode, reason=UNSUPPORTED)
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
    theta_main = np.linalg.lstsq(X_m, y_minus_variants(y_m, Z_m, beta), rcond=None)[0]

    # step 7
    val_row = {}
    for i, v in enumerate(val_ids):
        val_row.setdefault(v, i)
    shared = np.array([i for i, v in enumerate(kept_ids) if v in val_row], dtype=np.int64)
    if shared.size == 0:
        return empty(NO_SHARED_VARIANT)

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
        theta_val = np.linalg.lstsq(X_v, y_minus_variants(y_v, Z_val, beta_s), rcond=None)[0]
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
    """The ``validate_model_<C>.csv`` rows of one scored phenotype.

    docs/methods.md#validate-outputs.

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
