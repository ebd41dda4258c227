"""The permutation kernel against a direct per-permutation OLS implementation.

The method: docs/methods.md#perm-null, #permutation-stream and #beta-approximation.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from segqtl.kernels.nominal import DosageBlock
from segqtl.kernels.perm import beta_pvalue, direct_pvalue, max_t_null, permutations


def _cohort(seed, n=70, n_var=12, n_cov=2, missing=0.05):
    rng = np.random.default_rng(seed)
    alt = np.log2(1 + rng.integers(0, 4, (n_var, n)).astype(float))
    ref = np.log2(1 + rng.integers(0, 4, (n_var, n)).astype(float))
    gap = rng.random((n_var, n)) < missing
    alt[gap] = np.nan
    ref[gap] = np.nan
    cov = rng.normal(size=(n, n_cov))
    cn = rng.normal(size=n)
    y = 0.5 * cn + cov @ rng.normal(size=n_cov) + 0.8 * (ref[0] - alt[0]) + rng.normal(size=n)
    y[rng.random(n) < 0.05] = np.nan
    cn[rng.random(n) < 0.05] = np.nan
    pos = np.sort(rng.choice(np.arange(1000, 2000), n_var, replace=False))
    lb = rng.integers(900, 1400, n).astype(float)
    ub = lb + rng.integers(300, 1200, n)
    lb[:3] = np.nan
    return y, cn, cov, alt, ref, pos, lb, ub


def _reference(y, cn, cov, alt, ref, pos, lb, ub, n_perm, seed, min_samples=30):
    """The method step by step: one OLS per permutation and variant."""
    n = y.size
    null_set = np.isfinite(y) & np.isfinite(cn) & np.isfinite(cov).all(axis=1)
    m = np.flatnonzero(null_set)
    x0 = np.column_stack([np.ones(m.size), cn[m], cov[m]])
    beta, *_ = np.linalg.lstsq(x0, y[m], rcond=None)
    fitted = x0 @ beta
    resid = y[m] - fitted
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_perm):
        ystar = np.full(n, np.nan)
        ystar[m] = fitted + resid[rng.permutation(m.size)]
        best_t, best_df = -np.inf, None
        for v in range(alt.shape[0]):
            with np.errstate(invalid="ignore"):
                mv = (
                    null_set
                    & np.isfinite(alt[v])
                    & np.isfinite(ref[v])
                    & (pos[v] >= lb)
                    & (pos[v] <= ub)
                )
            if mv.sum() < min_samples:
                continue
            s = ref[v, mv] + alt[v, mv]
            d = ref[v, mv] - alt[v, mv]
            if np.std(d) < 1e-10:
                continue
            c = np.column_stack([np.ones(mv.sum()), s, cov[mv]])
            x = np.column_stack([c, d])
            df2 = mv.sum() - np.linalg.matrix_rank(c) - 1
            fit = np.linalg.lstsq(x, ystar[mv], rcond=None)
            res = ystar[mv] - x @ fit[0]
            sigma2 = res @ res / df2
            se = np.sqrt(sigma2 * np.linalg.inv(x.T @ x)[-1, -1])
            t = abs(fit[0][-1] / se)
            if t > best_t:
                best_t, best_df = t, df2
        out.append(2 * stats.t.sf(best_t, best_df) if best_df is not None else np.nan)
    return np.array(out)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_max_t_null__equals_per_permutation_ols(seed):
    y, cn, cov, alt, ref, pos, lb, ub = _cohort(seed)
    block = DosageBlock.from_dosages(alt, ref)
    got = max_t_null(
        y, cn, cov, block, None, pos, lb, ub, n_perm=40, seed=100 + seed, perm_block=16
    )
    expected = _reference(y, cn, cov, alt, ref, pos, lb, ub, 40, 100 + seed)
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_max_t_null__block_size_changes_only_rounding():
    y, cn, cov, alt, ref, pos, lb, ub = _cohort(4)
    block = DosageBlock.from_dosages(alt, ref)
    a = max_t_null(y, cn, cov, block, None, pos, lb, ub, n_perm=50, seed=7, perm_block=7)
    b = max_t_null(y, cn, cov, block, None, pos, lb, ub, n_perm=50, seed=7, perm_block=50)
    # BLAS may round differently for other block shapes; runs always use the same block size
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_max_t_null__no_testable_variant_gives_nan():
    y, cn, cov, alt, ref, pos, lb, ub = _cohort(5)
    block = DosageBlock.from_dosages(alt, ref)
    got = max_t_null(y, cn, cov, block, None, pos, lb, ub, n_perm=5, seed=1, min_samples=1000)
    assert np.isnan(got).all()


@given(n=st.integers(1, 60), n_perm=st.integers(0, 20), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_permutations__are_the_reference_stream(n, n_perm, seed):
    rng = np.random.default_rng(seed)
    expected = [rng.permutation(n) for _ in range(n_perm)]
    got = permutations(n, n_perm, seed)
    assert got.shape == (n_perm, n)
    for row, exp in zip(got, expected, strict=True):
        np.testing.assert_array_equal(row, exp)


def test_direct_pvalue__hand_worked():
    p_perm = np.array([0.01, 0.2, np.nan, 0.05, 0.5])
    assert direct_pvalue(0.05, p_perm) == (1 + 2) / (1 + 4)
    assert direct_pvalue(0.001, p_perm) == 1 / 5
    assert np.isnan(direct_pvalue(np.nan, p_perm))
    assert np.isnan(direct_pvalue(0.1, np.array([np.nan])))


def test_beta_pvalue__matches_scipy_fit_and_uniform_limit():
    rng = np.random.default_rng(0)
    p_perm = rng.beta(0.8, 20, size=2000)
    p_adj, a, b = beta_pvalue(0.01, p_perm)
    fa, fb, _, _ = stats.beta.fit(np.clip(p_perm, 1e-15, 1 - 1e-15), floc=0, fscale=1)
    assert (a, b) == (fa, fb)
    assert p_adj == stats.beta.cdf(0.01, fa, fb)
    uniform = rng.uniform(size=5000)
    assert beta_pvalue(0.3, uniform)[0] == pytest.approx(0.3, abs=0.03)
    assert np.isnan(beta_pvalue(0.3, np.array([np.nan]))[0])
