"""The plain numpy reference elastic net (tests/reference_enet.py) and the fit schedule.

The reference solver is checked against KKT conditions, scikit-learn's lasso and the ridge
limit; the schedule pieces of :mod:`segqtl.kernels.finemap` (λ grid, ``cv_tau`` rule, folds,
subsamples) against the method's rules (docs/methods.md#elastic-net, #lambda-grid,
#cross-validation, #stability-selection, #random-streams).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import Lasso

from segqtl.kernels import finemap as fm

from . import reference_enet as enet


def _problem(seed: int, n: int = 60, p: int = 8, q: int = 3, missing: float = 0.0):
    """Small random problem: zero-filled standardised Z (p, n), X = [1, std blocks], centred y."""
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(p, n))
    if missing:
        d[rng.random((p, n)) < missing] = np.nan
    obs = ~np.isnan(d)
    mu = np.nanmean(d, axis=1, keepdims=True)
    sd = np.nanstd(d, axis=1, keepdims=True)
    Z = np.where(obs, (d - mu) / sd, 0.0)
    blocks = rng.normal(size=(n, q - 1))
    X = np.column_stack([np.ones(n), (blocks - blocks.mean(0)) / blocks.std(0)])
    beta_true = np.zeros(p)
    beta_true[:3] = [1.5, -1.0, 0.7]
    y = Z.T @ beta_true + X @ rng.normal(size=q) + rng.normal(size=n)
    return y - y.mean(), Z, X


def _kkt_violation(y, Z, X, fit, lam, alpha):
    r = y - X @ fit.theta - Z.T @ fit.beta
    c = Z @ r  # = λ1·sign(β) + λ2·β on the support, |c| ≤ λ1 off it
    lam1, lam2 = lam * alpha, lam * (1 - alpha)
    nz = fit.beta != 0
    viol_nz = np.abs(c[nz] - lam1 * np.sign(fit.beta[nz]) - lam2 * fit.beta[nz])
    viol_z = np.maximum(np.abs(c[~nz]) - lam1, 0.0)
    viol_theta = np.abs(X.T @ r)
    return max(viol_nz.max(initial=0), viol_z.max(initial=0), viol_theta.max())


@pytest.mark.parametrize("missing", [0.0, 0.3])
@pytest.mark.parametrize("alpha", [0.5, 1.0, 0.1])
def test_enet_fit__kkt_at_convergence(missing, alpha):
    y, Z, X = _problem(1, missing=missing)
    lam = 0.3 * enet.lambda_max(y, Z, X, alpha)
    # tol = 0 runs to the cap: the method's stopping test looks at β only, so with a stale θ
    # it can stop away from the joint optimum; 1000 sweeps (a multiple of 5) reach it.
    fit = enet.enet_fit(y, Z, X, lam, alpha, max_iter=1000, tol=0.0)
    assert 0 < np.count_nonzero(fit.beta) < Z.shape[0] or alpha < 1
    assert _kkt_violation(y, Z, X, fit, lam, alpha) < 1e-8 * max(lam, 1.0)


def test_enet_fit__variant_without_observations_is_zero():
    y, Z, X = _problem(2, missing=0.2)
    Z[4] = 0.0
    fit = enet.enet_fit(y, Z, X, 1.0, 0.5, 1000, 1e-10)
    assert fit.beta[4] == 0.0


def test_enet_fit__iteration_cap_and_final_theta_refresh():
    y, Z, X = _problem(3, missing=0.2)
    fit = enet.enet_fit(y, Z, X, 0.0, 0.5, max_iter=3, tol=0.0)
    assert fit.n_iter == 3 and not fit.converged
    # θ is always refreshed at the end: it is the lstsq on y − Zᵀβ.
    r = y - Z.T @ fit.beta - X @ fit.theta
    np.testing.assert_allclose(X.T @ r, 0.0, atol=1e-10)


@pytest.mark.parametrize("missing", [0.0, 0.3])
@pytest.mark.parametrize("alpha", [0.5, 1.0])
def test_lambda_max__boundary(missing, alpha):
    y, Z, X = _problem(4, missing=missing)
    lmax = enet.lambda_max(y, Z, X, alpha)
    at = enet.enet_fit(y, Z, X, lmax * (1 + 1e-9), alpha, 1000, 1e-10)
    assert np.all(at.beta == 0.0)
    below = enet.enet_fit(y, Z, X, lmax * 0.99, alpha, 1000, 1e-10)
    assert np.count_nonzero(below.beta) >= 1


def test_lambda_max__alpha_zero_and_degenerate():
    y, Z, X = _problem(5)
    r0 = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    assert enet.lambda_max(y, Z, X, 0.0) == pytest.approx(np.abs(Z @ r0).max() * 1e4)
    assert enet.lambda_max(y, np.zeros_like(Z), X, 0.5) == 1.0


def test_lambda_grid__geomspace_with_exact_ends():
    grid = fm.lambda_grid(123.456, 29, 0.01)
    assert grid.shape == (29,)
    assert grid[0] == 123.456 and grid[-1] == 123.456 * 0.01
    t = np.arange(29)
    ref = 10 ** (np.log10(123.456) + t * (np.log10(1.23456) - np.log10(123.456)) / 28)
    np.testing.assert_allclose(grid, ref, rtol=1e-14)
    assert np.all(np.diff(grid) < 0)
    assert fm.lambda_grid(5.0, 1, 0.1).tolist() == [5.0, 0.5]


def test_enet_fit__alpha_one_matches_sklearn_lasso():
    # Complete data, X = intercept only: ½‖r‖² + λ‖β‖₁ = n·[(1/2n)‖r‖² + (λ/n)‖β‖₁].
    y, Z, _ = _problem(6, p=10, q=1)
    n = y.size
    X = np.ones((n, 1))
    lam = 0.2 * enet.lambda_max(y, Z, X, 1.0)
    fit = enet.enet_fit(y, Z, X, lam, 1.0, 100000, 1e-14)
    sk = Lasso(alpha=lam / n, fit_intercept=True, tol=1e-14, max_iter=100000).fit(Z.T, y)
    np.testing.assert_allclose(fit.beta, sk.coef_, atol=1e-9)
    np.testing.assert_allclose(fit.theta[0], sk.intercept_, atol=1e-9)


@pytest.mark.parametrize("alpha", [0.0, 1e-9])
def test_enet_fit__alpha_zero_approaches_ridge(alpha):
    y, Z, _ = _problem(7, p=10, q=1)
    n = y.size
    X = np.ones((n, 1))
    lam = 25.0
    fit = enet.enet_fit(y, Z, X, lam, alpha, 100000, 1e-14)
    # Z rows have mean 0 on complete data, so the intercept decouples.
    ridge = np.linalg.solve(Z @ Z.T + lam * np.eye(Z.shape[0]), Z @ y)
    np.testing.assert_allclose(fit.beta, ridge, atol=1e-7)


def test_enet_path__warm_start_chain():
    y, Z, X = _problem(8, missing=0.2)
    grid = fm.lambda_grid(enet.lambda_max(y, Z, X, 0.5), 6, 0.01)
    fits = enet.enet_path(y, Z, X, grid, 0.5, *fm.CV_PATH)
    first = enet.enet_fit(y, Z, X, grid[0], 0.5, *fm.CV_PATH)
    np.testing.assert_array_equal(fits[0].beta, first.beta)
    second = enet.enet_fit(y, Z, X, grid[1], 0.5, *fm.CV_PATH, first.beta, first.theta)
    np.testing.assert_array_equal(fits[1].beta, second.beta)
    assert np.count_nonzero(fits[-1].beta) >= np.count_nonzero(fits[0].beta)


def test_select_lambda_index__cv_tau_rule():
    m = np.array([10.0, 8.0, 6.0, 5.0, 4.0, 4.5])
    # thr = 4 + 0.8·6 = 8.8 → first t with m_t ≤ 8.8 is 1.
    assert fm.select_lambda_index(m, 0.8) == 1
    assert fm.select_lambda_index(m, 0.0) == 4
    assert fm.select_lambda_index(np.array([3.0, 4.0, 5.0]), 0.8) == 0
    assert fm.select_lambda_index(np.array([3.0, 3.0]), 0.8) == 0


@pytest.mark.parametrize("n", [30, 31, 57, 200])
def test_cv_fold_ids__reproduce_the_method_rule(n):
    seed = 42 + 7
    perm = np.random.default_rng(seed).permutation(n)
    fold = fm.cv_fold_ids(n, seed)
    for f, (train, test) in enumerate(enet.cv_folds(n, seed)):
        expected = np.sort(perm[f::5])
        np.testing.assert_array_equal(np.flatnonzero(fold == f), expected)
        np.testing.assert_array_equal(test, expected)
        np.testing.assert_array_equal(train, np.flatnonzero(fold != f))
        assert test.size == -(-(n - f) // 5)


def test_stability_subsamples__reproduce_the_method_rule():
    n, seed = 97, 42 + 3
    n_sub = fm.n_subsample(n, 0.8)
    assert n_sub == 77
    got = fm.stability_subsamples(n, n_sub, 10, seed)
    rng = np.random.default_rng(seed)
    for b in range(10):
        np.testing.assert_array_equal(got[b], np.sort(rng.choice(n, n_sub, replace=False)))
    assert fm.n_subsample(31, 0.8) == 30
    with pytest.raises(ValueError):
        fm.stability_subsamples(31, 40, 1, seed)


def test_cv_error_matrix__shape_and_null_point():
    y, Z, X = _problem(9, n=50, missing=0.2)
    grid = fm.lambda_grid(enet.lambda_max(y, Z, X, 0.5), 5, 0.05)
    E = enet.cv_error_matrix(y, Z, X, grid, 0.5, seed=42)
    assert E.shape == (5, 5) and np.all(np.isfinite(E)) and np.all(E > 0)
    t = fm.select_lambda_index(E.mean(axis=1), 0.8)
    assert 0 <= t <= int(np.argmin(E.mean(axis=1)))


# --- Partial golden check (preparation inline; NOT the finemap mode end to end) --------------

# golden copies (provenance: tests/data/golden/README.md)
GOLDEN_DATA = Path(__file__).parent / "data" / "golden"


def _prepare_golden(pheno: str, window: int = 1_000_000):
    """Minimal preparation (inputs, segment mask, standardisation) of one chr1 phenotype of
    golden/data/main (test-only)."""
    import pandas as pd  # installed with statsmodels (test extra)

    main = GOLDEN_DATA / "main"
    q = pd.read_csv(main / "quantifications.csv", index_col=3)
    q = q[q["chr"] == "chr1"]
    k = list(q.index).index(pheno)
    samples = list(q.columns[3:])
    alt = pd.read_csv(main / "genotypes" / "chr1_ALTlr.csv", index_col="ID")
    ref = pd.read_csv(main / "genotypes" / "chr1_REFlr.csv", index_col="ID")
    cn = pd.read_csv(main / "copynumbers.csv", index_col="gene_id")
    cov = pd.read_csv(main / "covariates.csv")
    cov = cov[[c for c in cov.columns if c in samples]]
    S = [s for s in samples if s in alt.columns and s in ref.columns and s in cov.columns]
    S = [s for s in S if s in cn.columns]
    seg = pd.read_csv(main / "segments.csv", index_col="sample")
    seg = seg[(seg["chr"] == "chr1") & seg.index.isin(S)]
    ids = [v for v in alt.index if v in set(ref.index)]
    pos = np.array([int(v.split(":")[1]) for v in ids])
    gs, ge = int(q.iloc[k]["start"]), int(q.iloc[k]["end"])
    win = [v for v, p_ in zip(ids, pos, strict=True) if gs - window <= p_ <= ge + window]
    wpos = np.array([int(v.split(":")[1]) for v in win])
    A = alt.loc[win, S].to_numpy(float)
    R = ref.loc[win, S].to_numpy(float)
    for j, s in enumerate(S):
        rows = seg.loc[[s]] if s in seg.index else seg.iloc[:0]
        hit = rows[(rows["startpos"] <= gs) & (gs <= rows["endpos"])]
        if len(hit) != 1:
            miss = np.ones(len(win), bool)
        else:
            lb, ub = int(hit["startpos"].iloc[0]), int(hit["endpos"].iloc[0])
            miss = np.ones(len(win), bool) if not lb <= ge <= ub else (wpos < lb) | (wpos > ub)
        A[miss, j] = np.nan
        R[miss, j] = np.nan
    d = R - A
    y = pd.to_numeric(q.loc[pheno, S], errors="coerce").to_numpy(float)
    blocks = [pd.to_numeric(cn.loc[pheno, S], errors="coerce").to_numpy(float)]
    blocks += [
        pd.to_numeric(cov.iloc[i][S], errors="coerce").to_numpy(float) for i in range(len(cov))
    ]
    good = ~np.isnan(y) & np.all([~np.isnan(b) for b in blocks], axis=0)
    n = int(good.sum())
    y = y[good] - y[good].mean()
    cols = [np.ones(n)]
    for b in blocks:
        b = b[good]
        sd = b.std()
        cols.append((b - b.mean()) / sd if sd > 1e-10 else b)
    X = np.column_stack(cols)
    d = d[:, good]
    required = max(30, int(0.6 * n))
    kept, Z, dk = [], [], []
    for v in range(len(win)):
        o = ~np.isnan(d[v])
        if o.sum() >= required and d[v, o].std() >= 1e-10:
            mu, sd = d[v, o].mean(), d[v, o].std()
            kept.append(win[v])
            dk.append(d[v])
            Z.append(np.where(o, (d[v] - mu) / sd, 0.0))
    return k, y, np.array(Z), X, kept, np.array(dk)


def test_golden_G1_007__lambda_selected_partial():
    """PARTIAL golden check: λ grid, CV and the cv_tau rule vs `lambda_selected`, and the
    full-data fit vs `beta_full`, for finemap_G1_007 (defaults of golden/README.md)."""
    exp_path = GOLDEN_DATA / "expected" / "finemap_G1_007" / "finemap_chr1_G1_007.csv"
    import pandas as pd  # installed with statsmodels (test extra)

    exp = pd.read_csv(exp_path)
    k, y, Z, X, kept, _ = _prepare_golden("G1_007")
    assert len(y) == exp["n_samples"].iloc[0]
    assert kept == list(exp["variant"])
    grid = fm.lambda_grid(enet.lambda_max(y, Z, X, 0.5), 30, 0.01)
    E = enet.cv_error_matrix(y, Z, X, grid, 0.5, seed=42 + k)
    lam_sel = grid[fm.select_lambda_index(E.mean(axis=1), 0.8)]
    np.testing.assert_allclose(lam_sel, exp["lambda_selected"].iloc[0], rtol=1e-9)
    fit = enet.enet_fit(y, Z, X, lam_sel, 0.5, *fm.FULL_FIT)
    np.testing.assert_allclose(fit.beta, exp["beta_full"].to_numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fit.theta[1], exp["beta_cnlr"].iloc[0], rtol=1e-9)


def test_golden_G1_007__stability_partial():
    """PARTIAL golden check of stability selection for finemap_G1_007: subsample index sets
    + the reference's cold fits at λ_sel reproduce `stability_score` and the bootstrap-nonzero
    β (the per-subsample re-standardisation is done inline here)."""
    exp_path = GOLDEN_DATA / "expected" / "finemap_G1_007" / "finemap_chr1_G1_007.csv"
    import pandas as pd  # installed with statsmodels (test extra)

    exp = pd.read_csv(exp_path)
    boot = pd.read_csv(exp_path.with_name("finemap_bootstrap_nonzero_chr1_G1_007.csv"))
    k, y, _, X, kept, d = _prepare_golden("G1_007")
    lam, n = exp["lambda_selected"].iloc[0], len(y)
    subs = fm.stability_subsamples(n, fm.n_subsample(n, 0.8), 200, 42 + k)
    sel, n_eff, rows = np.zeros(len(kept)), 0, []
    for b, sub in enumerate(subs):
        ds = d[:, sub]
        keep, Zb = [], []
        for v in range(len(kept)):
            o = ~np.isnan(ds[v])
            if o.sum() < 20 or ds[v, o].std() < 1e-10:
                continue
            keep.append(v)
            Zb.append(np.where(o, (ds[v] - ds[v, o].mean()) / ds[v, o].std(), 0.0))
        if not keep:
            continue
        n_eff += 1
        fit = enet.enet_fit(y[sub], np.array(Zb), X[sub], lam, 0.5, *fm.STABILITY_FIT)
        for i, v in enumerate(keep):
            if abs(fit.beta[i]) > fm.SELECTED_EPS:
                sel[v] += 1
                rows.append((kept[v], b + 1, fit.beta[i]))
    np.testing.assert_array_equal(sel / max(n_eff, 1), exp["stability_score"].to_numpy())
    assert [r[:2] for r in rows] == list(
        zip(boot["variant"], boot["bootstrap_iteration"], strict=True)
    )
    np.testing.assert_allclose([r[2] for r in rows], boot["beta_full"], rtol=1e-9)
