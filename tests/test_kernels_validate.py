"""The validate-mode metrics kernel against outside references.

docs/methods.md#validate-metrics and #random-streams.  statsmodels for the HC3 calibration and
the transfer slope, scipy for the correlations, slow per-draw loops (the reference's own
formulation) for the vectorised bootstrap and permutations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

from segqtl.kernels import validate_metrics as V

from .conftest import GOLDEN


def _data(n=80, q=3, seed=0, g_scale=1.0):
    """y, ŷ, ŷ_base, g, X (intercept + q−1 columns), n_obs_used of a small synthetic phenotype."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.standard_normal((n, q - 1))])
    g = g_scale * rng.standard_normal(n)
    y = X @ rng.standard_normal(q) + 0.7 * g + rng.standard_normal(n)
    y = y - y.mean()
    theta = np.linalg.lstsq(X, y - g, rcond=None)[0]
    yhat = X @ theta + g
    yhat_base = X @ np.linalg.lstsq(X, y, rcond=None)[0]
    n_obs = rng.integers(3, 7, n)
    return y, yhat, yhat_base, g, X, n_obs


# ----------------------------------------------------------------------------- HC3 calibration
def test_calibration_hc3__matches_statsmodels_hc3():
    rng = np.random.default_rng(1)
    yhat = rng.standard_normal(60)
    y = 0.2 + 0.8 * yhat + rng.standard_normal(60) * (1 + np.abs(yhat))
    cal = V.calibration_hc3(y, yhat)
    res = sm.OLS(y, sm.add_constant(yhat)).fit(cov_type="HC3")
    assert_allclose([cal.intercept, cal.slope], res.params, rtol=1e-12)
    assert_allclose(cal.cov, res.cov_params(), rtol=1e-10)
    wald = res.wald_test((np.eye(2), np.array([0.0, 1.0])), use_f=False, scalar=True)
    assert_allclose(cal.joint_wald, float(wald.statistic), rtol=1e-10)
    assert_allclose(cal.joint_pval, float(wald.pvalue), rtol=1e-10)


def test_calibration_hc3__pvalue_from_survival_function_does_not_round_to_zero():
    rng = np.random.default_rng(2)
    yhat = rng.standard_normal(200)
    y = 1.0 + yhat + rng.standard_normal(200)
    cal = V.calibration_hc3(y, yhat)
    assert (
        1.0 - stats.chi2.cdf(cal.joint_wald, 2) == 0.0
    )  # the reference's rounding (docs/methods.md#differences)
    assert cal.joint_pval > 0.0
    assert_allclose(cal.joint_pval, np.exp(-cal.joint_wald / 2), rtol=1e-10)


def test_calibration_hc3__ols_prediction_is_perfectly_calibrated():
    y, yhat, _, _, _, _ = _data(g_scale=0.0)  # recalibrated with g ≡ 0: ŷ is an OLS fit
    cal = V.calibration_hc3(y, yhat)
    assert_allclose([cal.intercept, cal.slope], [0.0, 1.0], atol=1e-12)
    assert cal.joint_wald < 1e-20
    assert_allclose(cal.joint_pval, 1.0)


@pytest.mark.parametrize(
    "y, yhat",
    [([1.0, 2.0], [0.5, 1.5]), ([1.0, 2.0, 0.3, 4.0], [0.7, 0.7, 0.7, 0.7])],
    ids=["n_below_3", "constant_yhat"],
)
def test_calibration_hc3__nan_guards(y, yhat):
    cal = V.calibration_hc3(np.array(y), np.array(yhat))
    values = [cal.intercept, cal.slope, cal.joint_wald, cal.joint_pval]
    assert np.isnan(values).all()
    assert np.isnan(cal.cov).all()


# ----------------------------------------------------------------------------- transfer slope
def test_transfer_slope__matches_statsmodels_classical_ols():
    y, _, _, g, X, _ = _data(n=50, q=4, seed=3)
    ts = V.transfer_slope(y, X, g)
    res = sm.OLS(y, np.column_stack([X, g])).fit()
    assert_allclose(ts.rho, res.params[-1], rtol=1e-10)
    assert_allclose(ts.se, res.bse[-1], rtol=1e-10)
    assert_allclose(ts.pval, res.pvalues[-1], rtol=1e-9)
    r = np.zeros((1, 5))
    r[0, -1] = 1.0
    tt = res.t_test((r, np.array([1.0])))
    assert_allclose(ts.adjustment, ts.rho - 1.0)
    assert_allclose(ts.adjustment_pval, float(np.squeeze(tt.pvalue)), rtol=1e-9)


def test_transfer_slope__nan_when_g_is_zero():
    y, _, _, _, X, _ = _data(n=30)
    ts = V.transfer_slope(y, X, np.zeros(30))
    assert np.isnan([ts.rho, ts.pval, ts.adjustment, ts.adjustment_pval, ts.se]).all()


def test_transfer_slope__nan_when_n_below_q_plus_2():
    y, _, _, g, X, _ = _data(n=5, q=4, seed=4)
    assert np.isnan(V.transfer_slope(y, X, g).rho)
    # n = q + 2 is enough (df = 1).
    y, _, _, g, X, _ = _data(n=6, q=4, seed=4)
    ts = V.transfer_slope(y, X, g)
    assert np.isfinite([ts.rho, ts.pval]).all()


# ----------------------------------------------------------------------------- correlations
def test_validation_metrics__correlations_match_scipy_with_ties():
    y, yhat, yb, g, X, n_obs = _data(seed=5)
    yhat = np.round(yhat, 1)  # ties for the average ranks of spearman
    m = V.validation_metrics(y, yhat, yb, g, X, n_obs, 0, mode="recalibrated")
    pr = stats.pearsonr(y, yhat)
    sr = stats.spearmanr(y, yhat)
    assert (m.pearson_r, m.pearson_pval) == (pr.statistic, pr.pvalue)
    assert (m.spearman_rho, m.spearman_pval) == (sr.statistic, sr.pvalue)


def test_validation_metrics__constant_yhat_gives_nan_without_warning():
    y, _, yb, g, X, n_obs = _data(n=20, seed=6)
    m = V.validation_metrics(y, np.full(20, 0.3), yb, g, X, n_obs, 0, mode="frozen")
    for col in ("pearson_r", "pearson_pval", "spearman_rho", "spearman_pval"):
        assert np.isnan(getattr(m, col))
    assert np.isnan(m.calibration_slope)
    assert np.isfinite(m.rmse)


# ----------------------------------------------------------------------------- burden strata
def test_burden_strata_r2__hand_made_terciles():
    y = np.array([1.0, 2.0, 4.0, -1.0, 0.0, 2.0, 3.0, 5.0, 4.0])
    yhat = np.array([1.5, 2.0, 3.0, -0.5, 0.5, 1.0, 3.5, 4.0, 4.5])
    n_obs = np.array([1, 3, 2, 1, 2, 3, 1, 2, 3])
    # np.quantile([1,1,1,2,2,2,3,3,3], [1/3, 2/3]) = (5/3, 7/3): the strata are the values 1, 2, 3.
    expected = []
    for v in (1, 2, 3):
        ys, hs = y[n_obs == v], yhat[n_obs == v]
        expected.append(1.0 - np.sum((ys - hs) ** 2) / np.sum((ys - ys.mean()) ** 2))
    assert_allclose(V.burden_strata_r2(y, yhat, n_obs), expected, rtol=1e-14)


def test_burden_strata_r2__ties_empty_the_upper_strata():
    rng = np.random.default_rng(7)
    y, yhat = rng.standard_normal(12), rng.standard_normal(12)
    n_obs = np.array([6] * 10 + [5, 4])  # q1 = q2 = 6: everything is "low"
    low, mid, high = V.burden_strata_r2(y, yhat, n_obs)
    assert_allclose(low, V.r_squared(y, yhat), rtol=1e-14)
    assert np.isnan(mid) and np.isnan(high)


def test_burden_strata_r2__constant_y_or_small_stratum_is_nan():
    rng = np.random.default_rng(8)
    y, yhat = rng.standard_normal(9), rng.standard_normal(9)
    n_obs = np.array([1, 1, 1, 2, 2, 2, 3, 3, 3])
    y[n_obs == 2] = 0.5  # var(y_s) = 0
    low, mid, high = V.burden_strata_r2(y, yhat, n_obs)
    assert np.isfinite(low) and np.isnan(mid) and np.isfinite(high)
    # q1 = q2 = 1 here; the two samples above form a stratum of fewer than 3
    n_obs = np.array([1, 1, 1, 1, 1, 1, 1, 2, 3])
    low, mid, high = V.burden_strata_r2(y, yhat, n_obs)
    assert np.isfinite(low) and np.isnan(mid) and np.isnan(high)


def test_burden_strata_r2__nan_below_nine_samples():
    y = np.arange(8.0)
    assert np.isnan(V.burden_strata_r2(y, y + 0.1, np.arange(8))).all()


# ----------------------------------------------------------------------------- bootstrap
def _slow_bootstrap(y, yhat, n_boot, seed):
    """The reference's per-draw loop: one ``integers`` call per draw."""
    rng = np.random.default_rng(seed)
    r2s, slopes = np.empty(n_boot), np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        yb, hb = y[idx], yhat[idx]
        if np.var(yb) <= 0 or np.std(hb) < 1e-12:
            r2s[b] = slopes[b] = np.nan
            continue
        r2s[b] = 1.0 - np.sum((yb - hb) ** 2) / np.sum((yb - yb.mean()) ** 2)
        xc, yc = hb - hb.mean(), yb - yb.mean()
        slopes[b] = (xc @ yc) / (xc @ xc)
    return r2s, slopes


def test_bootstrap_indices__one_generator_call_per_draw():
    rng = np.random.default_rng(42 + 7)
    expected = np.stack([rng.integers(0, 13, 13) for _ in range(25)])
    assert_array_equal(V.bootstrap_indices(13, 25, 42 + 7), expected)


@pytest.mark.parametrize("n", [5, 7, 64])
def test_bootstrap_stats__vectorised_matches_per_draw_loop(n):
    rng = np.random.default_rng(n)
    y = rng.standard_normal(n)
    yhat = rng.standard_normal(n)
    if n == 5:
        yhat[:4] = 1.0  # many draws see a constant ŷ_b: NaN draws must line up
        y[:3] = 2.0
    r2, slope = V.bootstrap_stats(y, yhat, V.bootstrap_indices(n, 300, 42 + n))
    r2_slow, slope_slow = _slow_bootstrap(y, yhat, 300, 42 + n)
    assert_array_equal(np.isnan(r2), np.isnan(r2_slow))
    assert_allclose(r2, r2_slow, rtol=1e-12, atol=1e-12)
    assert_allclose(slope, slope_slow, rtol=1e-12, atol=1e-12)
    if n == 5:
        assert np.isnan(r2).any() and not np.isnan(r2).all()
    ci = V.paired_bootstrap_ci(y, yhat, 300, 42 + n)
    slow_ci = [
        *np.nanquantile(r2_slow, [0.025, 0.975]),
        *np.nanquantile(slope_slow, [0.025, 0.975]),
    ]
    assert_allclose(ci, slow_ci, rtol=1e-12, atol=1e-12)


def test_bootstrap_stats__chunked_equals_unchunked(monkeypatch):
    y, yhat, *_ = _data(n=40, seed=9)
    idx = V.bootstrap_indices(40, 50, 1)
    whole = V.bootstrap_stats(y, yhat, idx)
    monkeypatch.setattr(V, "MAX_CHUNK_ELEMENTS", 40 * 7)
    assert_array_equal(V.bootstrap_stats(y, yhat, idx), whole)


def test_paired_bootstrap_ci__nan_guards():
    y = np.arange(4.0)
    assert np.isnan(V.paired_bootstrap_ci(y, y, 100, 42)).all()  # n < 5
    y = np.arange(6.0)
    assert np.isnan(V.paired_bootstrap_ci(y, y, 0, 42)).all()  # n_boot = 0
    # every draw has a constant ŷ_b: all-NaN draws give NaN, not a RuntimeWarning
    assert np.isnan(V.paired_bootstrap_ci(y, np.ones(6), 50, 42)).all()


# ----------------------------------------------------------------------------- permutations
def _slow_permutations(y, yhat, X, g, mode, n_perm, seed, obs_r2, obs_rho):
    """The reference's per-draw loop: one ``permutation`` call per draw."""
    rng = np.random.default_rng(seed)
    P0 = np.linalg.pinv(X.T @ X)
    B = np.column_stack([X, g])
    saug = np.linalg.pinv(B.T @ B) @ B.T if np.std(g) > 1e-12 else None
    sst = np.sum((y - y.mean()) ** 2)
    r2s, rhos = [], []
    for _ in range(n_perm):
        yp = y[rng.permutation(len(y))]
        hp = yhat if mode == "frozen" else X @ (P0 @ (X.T @ (yp - g))) + g
        r2s.append(1.0 - (yp - hp) @ (yp - hp) / sst)
        if saug is not None:
            rhos.append((saug @ yp)[-1])
    r2s, rhos = np.array(r2s), np.array(rhos)
    p_r2 = (1 + np.sum(r2s >= obs_r2)) / (1 + n_perm) if np.isfinite(obs_r2) else np.nan
    p_rho = (
        (1 + np.sum(rhos >= obs_rho)) / (1 + n_perm)
        if saug is not None and np.isfinite(obs_rho)
        else np.nan
    )
    return r2s, (rhos if saug is not None else None), p_r2, p_rho


@pytest.mark.parametrize("mode", ["recalibrated", "frozen"])
def test_permutation_pvalues__vectorised_matches_per_draw_loop(mode):
    y, yhat, _, g, X, _ = _data(n=45, q=3, seed=10, g_scale=0.3)
    if mode == "frozen":
        yhat = yhat + 0.2  # a frozen prediction is not the OLS fit
    obs_r2 = V.r_squared(y, yhat)
    obs_rho = V.transfer_slope(y, X, g).rho
    idx = V.permutation_indices(45, 400, 20240601 + 3)
    r2, rho = V.permutation_stats(y, yhat, X, g, idx, mode=mode)
    r2_slow, rho_slow, p_r2, p_rho = _slow_permutations(
        y, yhat, X, g, mode, 400, 20240601 + 3, obs_r2, obs_rho
    )
    assert_allclose(r2, r2_slow, rtol=1e-12, atol=1e-12)
    assert_allclose(rho, rho_slow, rtol=1e-12, atol=1e-12)
    got = V.permutation_pvalues(y, yhat, X, g, 400, 20240601 + 3, obs_r2, obs_rho, mode=mode)
    assert got == (p_r2, p_rho)
    # a threshold in the middle of the null distribution, so that ≥ is really exercised
    mid_r2, mid_rho = float(np.median(r2_slow)), float(np.median(rho_slow))
    got = V.permutation_pvalues(y, yhat, X, g, 400, 20240601 + 3, mid_r2, mid_rho, mode=mode)
    assert got == _slow_permutations(y, yhat, X, g, mode, 400, 20240601 + 3, mid_r2, mid_rho)[2:]


def test_permutation_pvalues__nan_guards():
    y, yhat, _, g, X, _ = _data(n=30, q=3, seed=11)
    r2 = V.r_squared(y, yhat)
    # g ≡ 0: ρ is not estimable, the R² test still runs
    p_r2, p_rho = V.permutation_pvalues(y, yhat, X, np.zeros(30), 50, 1, r2, np.nan, mode="frozen")
    assert np.isfinite(p_r2) and np.isnan(p_rho)
    assert np.isnan(V.permutation_pvalues(y, yhat, X, g, 0, 1, r2, 1.0, mode="frozen")).all()
    assert np.isnan(
        V.permutation_pvalues(y, yhat, X, g, 50, 1, np.nan, np.nan, mode="frozen")
    ).all()
    y, yhat, _, g, X, _ = _data(n=4, q=3, seed=11)  # n < q + 2
    assert np.isnan(V.permutation_pvalues(y, yhat, X, g, 50, 1, 0.1, 1.0, mode="frozen")).all()


def test_permutation_stats__unknown_mode_raises():
    y, yhat, _, g, X, _ = _data(n=10)
    with pytest.raises(ValueError, match="validation_mode"):
        V.permutation_stats(y, yhat, X, g, V.permutation_indices(10, 2, 0), mode="refit")


# ----------------------------------------------------------------------------- all metrics
def test_validation_metrics__descriptive_columns_by_hand():
    y, yhat, yb, g, X, n_obs = _data(seed=12)
    m = V.validation_metrics(y, yhat, yb, g, X, n_obs, 0, mode="recalibrated")
    e = y - yhat
    sst = np.sum((y - y.mean()) ** 2)
    assert_allclose(m.mse, np.mean(e**2), rtol=1e-14)
    assert_allclose(m.rmse, np.sqrt(np.mean(e**2)), rtol=1e-14)
    assert_allclose(m.mae, np.mean(np.abs(e)), rtol=1e-14)
    assert_allclose(m.r2_descriptive, 1 - np.sum(e**2) / sst, rtol=1e-14)
    assert m.r2_full_val == m.r2_descriptive
    assert_allclose(m.r2_baseline_val, 1 - np.sum((y - yb) ** 2) / sst, rtol=1e-14)
    assert_allclose(m.mean_bias, 0.0, atol=1e-14)  # recalibrated: OLS residuals have mean 0
    assert_allclose(m.sd_residual, np.std(e, ddof=1), rtol=1e-14)
    assert m.rho_genetic_transfer == V.transfer_slope(y, X, g).rho
    assert (m.r2_burden_low, m.r2_burden_mid, m.r2_burden_high) == V.burden_strata_r2(
        y, yhat, n_obs
    )
    cols = list(m.as_dict())
    assert cols[:4] == ["rmse", "mse", "mae", "r2_descriptive"]
    assert cols[-2:] == ["r2_perm_pval", "rho_perm_pval"]
    # off by default
    for col in ("r2_ci_lo", "r2_ci_hi", "cal_slope_ci_lo", "cal_slope_ci_hi"):
        assert np.isnan(getattr(m, col))
    assert np.isnan(m.r2_perm_pval) and np.isnan(m.rho_perm_pval)


def test_validation_metrics__seeds_follow_k():
    y, yhat, yb, g, X, n_obs = _data(n=40, seed=13)
    k = 5
    m = V.validation_metrics(
        y, yhat, yb, g, X, n_obs, k, mode="frozen", bootstrap_ci=True, n_boot_ci=80,
        n_permutations=60,
    )  # fmt: skip
    ci = V.paired_bootstrap_ci(y, yhat, 80, 42 + k)
    assert (m.r2_ci_lo, m.r2_ci_hi, m.cal_slope_ci_lo, m.cal_slope_ci_hi) == ci
    pp = V.permutation_pvalues(
        y, yhat, X, g, 60, 20240601 + k, m.r2_descriptive, m.rho_genetic_transfer, mode="frozen"
    )
    assert (m.r2_perm_pval, m.rho_perm_pval) == pp


def test_validation_metrics__tiny_n_is_all_nan_but_descriptives():
    y, yhat = np.array([0.5, -0.5]), np.array([0.4, -0.1])
    X = np.ones((2, 1))
    m = V.validation_metrics(
        y, yhat, np.zeros(2), np.array([0.1, 0.2]), X, np.array([1, 1]), 0,
        mode="recalibrated", bootstrap_ci=True, n_permutations=10,
    )  # fmt: skip
    assert np.isfinite([m.rmse, m.mae, m.r2_descriptive, m.sd_residual]).all()
    nan_cols = [
        "calibration_slope", "rho_genetic_transfer", "r2_burden_low", "r2_ci_lo",
        "r2_perm_pval", "rho_perm_pval", "spearman_pval",
    ]  # fmt: skip
    assert np.isnan([getattr(m, c) for c in nan_cols]).all()


def test_validation_metrics__unknown_mode_raises():
    y, yhat, yb, g, X, n_obs = _data(n=10)
    with pytest.raises(ValueError, match="validation_mode"):
        V.validation_metrics(y, yhat, yb, g, X, n_obs, 0, mode="refit")


# ----------------------------------------------------------------------------- golden (partial)
#: Metrics that need only y, ŷ, ŷ_base and n_obs_used (g and X_val are not in the golden files).
GOLDEN_COLUMNS = [
    "rmse", "mse", "mae", "r2_descriptive", "r2_baseline_val", "r2_full_val", "pearson_r",
    "pearson_pval", "spearman_rho", "spearman_pval", "r2_burden_low", "r2_burden_mid",
    "r2_burden_high", "mean_bias", "sd_residual", "calibration_intercept", "calibration_slope",
    "calibration_joint_wald", "calibration_joint_pval",
]  # fmt: skip


def check_golden_metrics(case_dir: Path, chromosome: str) -> int:
    """Recompute the y/ŷ-only metrics from the golden residual file; returns the rows checked.

    ``calibration_joint_pval`` is compared with an absolute tolerance: segqtl takes χ².sf where
    the reference takes 1 − cdf (docs/methods.md#differences), which differs by ~1e-16 absolute.
    """
    import polars as pl

    res = pl.read_csv(case_dir / f"validate_residuals_{chromosome}.csv")
    exp = pl.read_csv(case_dir / f"validate_{chromosome}.csv", infer_schema_length=None)
    checked = 0
    for row in exp.iter_rows(named=True):
        r = res.filter(pl.col("phenotype") == row["phenotype"])
        if r.height == 0:
            continue
        y = r["y"].to_numpy()
        n = len(y)
        m = V.validation_metrics(
            y, r["y_hat"].to_numpy(), r["y_hat_base"].to_numpy(), np.zeros(n), np.ones((n, 1)),
            r["n_obs_used"].to_numpy(), 0, mode=row["validation_mode"],
        ).as_dict()  # fmt: skip
        for col in GOLDEN_COLUMNS:
            want = np.nan if row[col] is None else float(row[col])
            assert_allclose(
                m[col], want, rtol=1e-9, atol=1e-12, err_msg=f"{row['phenotype']} {col}"
            )
        checked += 1
    return checked


@pytest.mark.parametrize(
    ("case", "chromosome", "rows"),
    [
        ("validate_refit", "chr1", 40),
        ("validate_refit", "chr2", 40),
        ("validate_from_finemap", "chr1", 40),
        ("validate_frozen_full", "chr1", 18),
    ],
)
def test_validation_metrics__golden_y_yhat_columns(case, chromosome, rows):
    """PARTIAL golden check: the metrics that need only y, ŷ, ŷ_base and n_obs_used, recomputed
    from the reference's residual file (the pipeline itself: test_kernels_validate_pipeline.py)."""
    assert check_golden_metrics(GOLDEN / "expected" / case, chromosome) == rows
