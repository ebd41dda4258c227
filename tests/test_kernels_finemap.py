"""Tests for the finemap kernel: its compiled loops and its Python layer.

docs/methods.md#finemap-preparation to #r2, and #numerical-reproducibility.  The compiled
solver is held to *bit equality* with the slow sequential formulation in
``tests/reference_enet.py`` (itself tested against KKT conditions, sklearn's lasso and the
ridge limit in test_kernels_enet.py); numpy's own mean/std/sum are the reference for the
moments.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from segqtl.kernels import finemap as fm
from segqtl.kernels import finemap_compiled as fc

from . import reference_enet as enet
from .conftest import run_params
from .test_kernels_enet import _kkt_violation, _problem


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(0, 700), elements=st.floats(-1e6, 1e6)))
def test_pairwise_sum__matches_numpy_sum_bit_for_bit(a):
    assert fc.pairwise_sum(np.ascontiguousarray(a), 0, a.size) == np.sum(a)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 6),
    st.integers(1, 300),
    st.floats(0.0, 0.9),
    st.integers(1, 40),
)
def test_standardise__matches_numpy_on_compacted_values(seed, p, n, missing, min_count):
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(p, n)) * 10.0 ** rng.integers(-3, 3, size=(p, 1))
    d[rng.random((p, n)) < missing] = np.nan
    cols = np.sort(rng.choice(n, size=max(1, n // 2), replace=False))
    counts, mu, sd, keep, Z = fm.standardise(d, cols, min_count)
    for v in range(p):
        o = d[v, cols][~np.isnan(d[v, cols])]
        assert counts[v] == o.size
        if o.size:
            assert mu[v] == np.mean(o) and sd[v] == np.std(o)  # bit for bit
        expect_keep = o.size >= min_count and o.size > 0 and np.std(o) >= 1e-10
        assert keep[v] == expect_keep
        if expect_keep:
            ref = np.where(np.isnan(d[v, cols]), 0.0, (d[v, cols] - np.mean(o)) / np.std(o))
            np.testing.assert_array_equal(Z[v], ref)
        else:
            assert not Z[v].any()


@pytest.mark.parametrize("missing", [0.0, 0.25])
@pytest.mark.parametrize("alpha", [0.5, 1.0, 0.05])
@pytest.mark.parametrize("frac", [0.5, 0.05, 0.01])
def test_fit__equals_the_sequential_formulation(missing, alpha, frac):
    y, Z, X = _problem(11, n=90, p=15, missing=missing)
    lam = enet.lambda_max(y, Z, X, alpha) * frac
    beta, theta, n_iter = fm.fit(y, Z, X, lam, alpha, *fm.FULL_FIT)
    ref = enet.enet_fit(y, Z, X, lam, alpha, *fm.FULL_FIT)
    np.testing.assert_array_equal(beta, ref.beta)
    np.testing.assert_array_equal(theta, ref.theta)
    assert n_iter == ref.n_iter


def test_fit__warm_start_and_iteration_cap_follow_the_schedule():
    y, Z, X = _problem(5, n=70, p=30, missing=0.2)
    lam = enet.lambda_max(y, Z, X, 0.5) * 0.001
    b0, t0, it0 = fm.fit(y, Z, X, lam * 10, 0.5, 1000, 1e-6)
    for cap in (1, 4, 5, 7):  # around the 5-sweep θ refresh
        beta, theta, n_iter = fm.fit(y, Z, X, lam, 0.5, cap, 1e-12, b0, t0)
        ref = enet.enet_fit(y, Z, X, lam, 0.5, cap, 1e-12, b0, t0)
        assert n_iter == ref.n_iter == cap
        np.testing.assert_array_equal(beta, ref.beta)
        np.testing.assert_array_equal(theta, ref.theta)


def test_fit__kkt_conditions_at_convergence():
    y, Z, X = _problem(3, n=80, p=12, missing=0.3)
    lam = enet.lambda_max(y, Z, X, 0.5) * 0.1
    beta, theta, _ = fm.fit(y, Z, X, lam, 0.5, 20000, 1e-13)
    fit = enet.EnetFit(beta=beta, theta=theta, n_iter=0, converged=True)
    assert _kkt_violation(y, Z, X, fit, lam, 0.5) < 1e-8


def test_fit__lambda_max_gives_all_zero():
    y, Z, X = _problem(8, n=60, p=10, missing=0.1)
    lmax = fm.lambda_max(y, Z, X, 0.5)
    assert lmax == enet.lambda_max(y, Z, X, 0.5)
    beta, _, _ = fm.fit(y, Z, X, lmax, 0.5, *fm.FULL_FIT)
    assert not beta.any()


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.integers(35, 120), st.integers(3, 25), st.sampled_from([0, 0.2]))
def test_cv_errors__interleaved_folds_equal_one_fold_at_a_time(seed, n, p, missing):
    y, Z, X = _problem(seed, n=n, p=p, missing=missing)
    grid = fm.lambda_grid(fm.lambda_max(y, Z, X, 0.5), 8, 0.01)
    serial = fm.cv_errors(y, Z, X, grid, 0.5, seed, interleaved=False)
    np.testing.assert_array_equal(fm.cv_errors(y, Z, X, grid, 0.5, seed), serial)
    np.testing.assert_array_equal(serial, enet.cv_error_matrix(y, Z, X, grid, 0.5, seed))


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 10_000),
    st.integers(35, 120),
    st.integers(3, 25),
    st.sampled_from([0.0, 0.2, 0.6]),
    st.integers(1, 13),
    st.sampled_from([3, 500]),
    st.sampled_from([0.02, 0.3, 1.0]),
)
def test_stability_lanes__equal_one_subsample_at_a_time(
    seed, n, p, missing, n_boot, max_iter, lam_frac
):
    # subsample fits side by side, refilled as they stop (any count, capped or converged fits,
    # subsamples where no variant has enough observations), bit for bit the sequential loop
    rng = np.random.default_rng(seed)
    y, Z, X = _problem(seed, n=n, p=p, missing=0.0)
    d = Z * rng.uniform(0.5, 2.0, size=(p, 1)) + rng.normal(size=(p, 1))
    d[rng.random(d.shape) < missing] = np.nan
    m = fm.n_subsample(n, 0.8)
    subs = np.array(fm.stability_subsamples(n, m, n_boot, seed), dtype=np.int64).reshape(-1, m)
    Zs = fm.standardise(d, np.arange(n), 1)[4]
    lam = lam_frac * fm.lambda_max(y, Zs, X, 0.5)
    args = (y, np.ascontiguousarray(X), np.ascontiguousarray(d), subs, int(0.5 * m), lam, 0.5,
            max_iter, 1e-5)  # fmt: skip
    want = fc.stability_refits(*args)
    got = fc.stability_lanes(*args)
    assert got[3] == want[3]
    for a, b in zip(got[:3] + got[4:], want[:3] + want[4:], strict=True):
        np.testing.assert_array_equal(a, b)


def _raw(seed=0, N=50, p=6):
    rng = np.random.default_rng(seed)
    return rng.normal(size=N), rng.normal(size=(p, N)), rng.normal(size=N)


def test_prepare__good_samples_centring_and_block_scaling():
    y, d, cn = _raw()
    y[3] = np.nan
    cn[7] = np.nan
    const = np.full(50, 2.0)
    prep = fm.prepare(y, [cn, const], d, has_cn=True)
    good = np.setdiff1d(np.arange(50), [3, 7])
    np.testing.assert_array_equal(prep.good, good)
    np.testing.assert_array_equal(prep.y, y[good] - np.mean(y[good]))
    np.testing.assert_array_equal(prep.X[:, 0], 1.0)
    np.testing.assert_array_equal(prep.X[:, 1], (cn[good] - cn[good].mean()) / cn[good].std())
    np.testing.assert_array_equal(prep.X[:, 2], const[good])  # constant block stays raw
    assert prep.transforms[1] == (2.0, 1.0, 2.0)
    assert prep.cn_column == 1
    np.testing.assert_array_equal(prep.d, d[:, good])


def test_prepare__status_codes():
    y, d, cn = _raw(N=40)
    assert fm.prepare(y, [cn], d[:0], has_cn=True) == fm.NO_CIS_VARIANT
    y[:11] = np.nan  # 29 good samples
    assert fm.prepare(y, [cn], d, has_cn=True) == fm.TOO_FEW_SAMPLES


def test_finemap_phenotype__coverage_filter_and_empty_rows():
    y, d, cn = _raw(N=60)
    d[0, :30] = np.nan  # 30 observed < max(30, floor(0.6 * 60)) = 36
    d[1] = 0.5  # constant
    prep = fm.prepare(y, [cn], d, has_cn=True)
    res = fm.finemap_phenotype(prep, 0, run_params(fm.FinemapParams, n_bootstrap=5, n_lambda=4))
    assert res.status == fm.OK
    np.testing.assert_array_equal(res.kept, [2, 3, 4, 5])
    assert res.n_samples == 60 and res.median_n_obs == 60.0
    d[2:] = np.nan
    res = fm.finemap_phenotype(fm.prepare(y, [cn], d, has_cn=True), 0, run_params(fm.FinemapParams))
    assert (res.status, res.n_samples) == (fm.NO_VARIANT_PASSES_COVERAGE, 60)
    res = fm.finemap_phenotype(fm.TOO_FEW_SAMPLES, 0, run_params(fm.FinemapParams))
    assert (res.status, res.n_samples) == (fm.TOO_FEW_SAMPLES, 0)


def test_finemap_phenotype__descriptive_columns():
    rng = np.random.default_rng(4)
    N = 80
    d = rng.choice([-0.5, -0.05, 0.0, 0.1, 0.3], size=(3, N))
    d[0, :10] = np.nan
    y = d[2] * 2 + rng.normal(size=N)
    prep = fm.prepare(y, [], d, has_cn=False)
    res = fm.finemap_phenotype(prep, 3, run_params(fm.FinemapParams, n_bootstrap=10, n_lambda=5))
    o = d[0, 10:]
    assert res.n_obs[0] == 70
    assert res.frac_alt_gain[0] == np.sum(o < -0.1) / 70
    assert res.frac_ref_gain[0] == np.sum(o > 0.1) / 70
    assert res.frac_balanced[0] == np.sum(np.abs(o) <= 0.1) / 70  # 0.1 itself is balanced
    assert res.median_n_obs == 80.0  # median of (70, 80, 80)
    assert np.isnan(res.beta_cnlr)
    np.testing.assert_array_equal(res.beta_full_raw, res.beta_full / res.sd_d)
    for b, text in zip(res.beta_full, res.effect_interpretation, strict=True):
        assert text == (
            fm.EFFECT_NONE
            if abs(b) < 1e-10
            else fm.EFFECT_NEGATIVE
            if b < 0
            else fm.EFFECT_POSITIVE
        )


def test_r2_summary__no_candidates_and_adjusted_formula():
    y, Z, X = _problem(2, n=50, p=4)
    beta = np.array([0.5, 0.0, -0.2, 0.3])
    stab = np.array([0.9, 0.9, 0.1, 0.6])
    out = fm.r2_summary(y, Z, X, beta, stab, 0.6)
    np.testing.assert_array_equal(out["cand"], [0, 3])  # stable and selected
    assert out["r2_n_variants"] == 2
    n, q = X.shape
    r2 = out["r2_full"]
    assert out["r2_full_adj"] == pytest.approx(1 - (1 - r2) * (n - 1) / (n - (q - 1 + 2) - 1))
    # the λ = 0 coordinate-descent fit (tol 1e-8, capped) approximates least squares on
    # [X, Z_cand] (docs/methods.md#r2: not exact OLS)
    A = np.column_stack([X, Z[[0, 3]].T])
    ols = A @ np.linalg.lstsq(A, y, rcond=None)[0]
    assert r2 == pytest.approx(1 - np.sum((y - ols) ** 2) / np.sum((y - y.mean()) ** 2), rel=1e-6)
    none = fm.r2_summary(y, Z, X, beta, np.zeros(4), 0.6)
    assert np.isnan(none["r2_full"]) and none["r2_n_variants"] is None
    assert none["r2_baseline"] == out["r2_baseline"]


def test_fit__alpha_one_is_sklearn_lasso_and_alpha_zero_is_ridge():
    # Complete data, X = intercept only: ½‖r‖² + λ‖β‖₁ = n·[(1/2n)‖r‖² + (λ/n)‖β‖₁].
    from sklearn.linear_model import Lasso

    y, Z, _ = _problem(6, p=10, q=1)
    n = y.size
    X = np.ones((n, 1))
    lam = 0.2 * fm.lambda_max(y, Z, X, 1.0)
    beta, theta, _ = fm.fit(y, Z, X, lam, 1.0, 100000, 1e-14)
    sk = Lasso(alpha=lam / n, fit_intercept=True, tol=1e-14, max_iter=100000).fit(Z.T, y)
    np.testing.assert_allclose(beta, sk.coef_, atol=1e-9)
    np.testing.assert_allclose(theta[0], sk.intercept_, atol=1e-9)
    beta, _, _ = fm.fit(y, Z, X, 25.0, 0.0, 100000, 1e-14)
    ridge = np.linalg.solve(Z @ Z.T + 25.0 * np.eye(Z.shape[0]), Z @ y)
    np.testing.assert_allclose(beta, ridge, atol=1e-7)
