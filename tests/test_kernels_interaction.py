"""Tests of segqtl.kernels.interaction: the batched interaction-QTL fits and eigenMT.

The reference is statsmodels' ``OLS`` fitted variant by variant on the variant's own samples
with the interaction columns built by hand; the sample and skip rules are re-implemented here
in loop form.
"""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from segqtl.kernels.interaction import (
    CONSTANT_TERM,
    STAT_FIELDS,
    InteractionStats,
    effective_tests,
    interaction_scan,
)
from segqtl.kernels.nominal import CONSTANT_D, CONSTANT_PHENOTYPE, OK, TOO_FEW_SAMPLES

RTOL = 1e-8
ATOL = 1e-12
HYP = settings(max_examples=25, deadline=None)


def _cohort(seed: int, n: int, n_var: int, c: int = 2, di: float = 0.0):
    """Dosages, covariates, a purity-like term and a phenotype with a d effect that grows with
    the term by ``di`` at variant 0."""
    rng = np.random.default_rng(seed)
    alt = np.minimum(np.log2(1.0 + rng.gamma(4.0, 0.5, (n_var, n))), 3.0)
    ref = np.minimum(np.log2(1.0 + rng.gamma(4.0, 0.5, (n_var, n))), 3.0)
    cov = np.column_stack([rng.normal(60, 10, n), rng.integers(0, 2, n)])[:, :c]
    term = rng.uniform(0.2, 0.9, n)
    d0 = ref[0] - alt[0]
    y = 0.3 * (ref[0] + alt[0]) + 0.5 * d0 + di * d0 * term + rng.normal(0, 1, n)
    return rng, y, alt, ref, cov, term


def _reference(
    y,
    alt,
    ref,
    cov,
    term,
    pos=None,
    lb=None,
    ub=None,
    *,
    with_s=False,
    min_samples=30,
    min_term_sd=1e-8,
):
    """The model one variant at a time with statsmodels."""
    n_var, n = alt.shape
    cov = np.asarray(cov, dtype=np.float64).reshape(n, -1)
    out = InteractionStats.empty(n_var)
    p = 1 + cov.shape[1] + 4 + int(with_s)
    for v in range(n_var):
        use = ~np.isnan(y) & ~np.isnan(cov).any(axis=1) & ~np.isnan(term)
        use &= ~np.isnan(alt[v]) & ~np.isnan(ref[v])
        if pos is not None:
            with np.errstate(invalid="ignore"):
                use &= (lb <= pos[v]) & (pos[v] <= ub)
        s = (ref[v] + alt[v])[use]
        d = (ref[v] - alt[v])[use]
        t = term[use]
        yu = y[use]
        if use.sum() < min_samples or use.sum() <= p:
            out.status[v] = TOO_FEW_SAMPLES
        elif np.unique(yu).size < 2:
            out.status[v] = CONSTANT_PHENOTYPE
        elif np.std(d) < 1e-10:
            out.status[v] = CONSTANT_D
        elif np.std(t) < min_term_sd:
            out.status[v] = CONSTANT_TERM
        else:
            cols = [np.ones(use.sum()), cov[use], t, s, d, d * t] + ([s * t] if with_s else [])
            fit = sm.OLS(yu, np.column_stack(cols)).fit()
            out.status[v] = OK
            out.number_of_samples[v] = int(fit.nobs)
            k = 1 + cov.shape[1]
            for j, name in enumerate(["i", "s", "d", "di"] + (["si"] if with_s else [])):
                getattr(out, f"beta_{name}")[v] = fit.params[k + j]
                getattr(out, f"se_{name}")[v] = fit.bse[k + j]
                getattr(out, f"pval_{name}")[v] = fit.pvalues[k + j]
    return out


def _assert_same(got: InteractionStats, want: InteractionStats):
    np.testing.assert_array_equal(got.status, want.status)
    np.testing.assert_array_equal(got.number_of_samples, want.number_of_samples)
    for f in STAT_FIELDS:
        np.testing.assert_allclose(
            getattr(got, f), getattr(want, f), rtol=RTOL, atol=ATOL, err_msg=f
        )


def test_interaction_scan__matches_statsmodels_without_masks():
    _, y, alt, ref, cov, term = _cohort(1, 150, 12, di=1.0)
    _assert_same(interaction_scan(y, alt, ref, cov, term), _reference(y, alt, ref, cov, term))


def test_interaction_scan__matches_statsmodels_with_s_term():
    _, y, alt, ref, cov, term = _cohort(2, 120, 8, di=0.5)
    got = interaction_scan(y, alt, ref, cov, term, with_s=True)
    _assert_same(got, _reference(y, alt, ref, cov, term, with_s=True))
    assert np.isfinite(got.pval_si).all()


def test_interaction_scan__matches_statsmodels_with_segments_and_missing_values():
    rng, y, alt, ref, cov, term = _cohort(3, 160, 20, di=0.8)
    n = y.size
    y[rng.choice(n, 6, replace=False)] = np.nan
    term[rng.choice(n, 5, replace=False)] = np.nan
    cov[rng.choice(n, 3, replace=False), 0] = np.nan
    alt[rng.random(alt.shape) < 0.05] = np.nan
    pos = np.sort(rng.integers(1_000_000, 2_000_000, 20))
    lb = rng.uniform(900_000, 1_600_000, n)
    ub = lb + rng.uniform(300_000, 1_200_000, n)
    lb[rng.choice(n, 7, replace=False)] = np.nan
    got = interaction_scan(y, alt, ref, cov, term, pos, lb, ub)
    want = _reference(y, alt, ref, cov, term, pos, lb, ub)
    _assert_same(got, want)
    assert (got.status == OK).any() and len(set(got.number_of_samples[got.status == OK])) > 1


def test_interaction_scan__every_status():
    rng, y, alt, ref, cov, term = _cohort(4, 100, 5)
    n = y.size
    ref[1] = alt[1] + 0.25  # d constant
    term_const = term.copy()
    pos = np.array([10, 20, 30, 40, 50])
    lb = np.full(n, 0.0)
    ub = np.full(n, 100.0)
    ub[:80] = 35.0  # variants 3 and 4 keep 20 samples: too few
    got = interaction_scan(y, alt, ref, cov, term, pos, lb, ub)
    assert got.status.tolist() == [OK, CONSTANT_D, OK, TOO_FEW_SAMPLES, TOO_FEW_SAMPLES]
    _assert_same(got, _reference(y, alt, ref, cov, term, pos, lb, ub))
    # A term constant on the samples: a per-variant status, not a crash.
    term_const[:] = 0.5
    got = interaction_scan(y, alt, ref, cov, term_const)
    assert set(got.status.tolist()) <= {CONSTANT_TERM, CONSTANT_D}
    assert (got.status == CONSTANT_TERM).sum() == 4 and np.isnan(got.pval_di).all()
    # A constant phenotype.
    got = interaction_scan(np.ones(n), alt, ref, cov, term)
    assert (got.status == CONSTANT_PHENOTYPE).all()


def test_interaction_scan__term_constant_on_one_variants_samples_only():
    # A treatment indicator that is 1 only on samples a segment mask removes for variant 1.
    rng, y, alt, ref, cov, term = _cohort(5, 120, 2)
    term = (np.arange(120) >= 90).astype(float)
    pos = np.array([10, 60])
    lb = np.zeros(120)
    ub = np.full(120, 100.0)
    ub[90:] = 50.0  # treated samples do not cover variant 1
    got = interaction_scan(y, alt, ref, cov, term, pos, lb, ub)
    assert got.status.tolist() == [OK, CONSTANT_TERM]
    _assert_same(got, _reference(y, alt, ref, cov, term, pos, lb, ub))


@HYP
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(40, 90),
    n_var=st.integers(1, 6),
    c=st.integers(0, 2),
    with_s=st.booleans(),
)
def test_interaction_scan__equals_statsmodels_on_random_cohorts(seed, n, n_var, c, with_s):
    rng, y, alt, ref, cov, term = _cohort(seed, n, n_var, c=c, di=0.3)
    alt[rng.random(alt.shape) < 0.03] = np.nan
    got = interaction_scan(y, alt, ref, cov, term, with_s=with_s)
    _assert_same(got, _reference(y, alt, ref, cov, term, with_s=with_s))


def test_interaction_scan__calibrated_under_the_null():
    # No interaction anywhere (main effects present): lambda_GC of all interaction p near 1.
    rng = np.random.default_rng(11)
    n, n_var, reps = 200, 50, 40
    chi = []
    for _ in range(reps):
        alt = np.minimum(np.log2(1.0 + rng.gamma(4.0, 0.5, (n_var, n))), 3.0)
        ref = np.minimum(np.log2(1.0 + rng.gamma(4.0, 0.5, (n_var, n))), 3.0)
        term = rng.uniform(0.2, 0.9, n)
        y = 0.6 * (ref[0] - alt[0]) + 0.4 * term + rng.normal(0, 1, n)
        p = interaction_scan(y, alt, ref, np.empty((n, 0)), term).pval_di
        chi.append(stats.chi2.isf(p, 1))
    lam = np.median(np.concatenate(chi)) / stats.chi2.ppf(0.5, 1)
    assert abs(lam - 1.0) < 0.05, lam


def test_interaction_scan__finds_a_planted_interaction():
    _, y, alt, ref, cov, term = _cohort(12, 300, 30, di=3.0)
    got = interaction_scan(y, alt, ref, cov, term)
    assert got.best() == 0 and got.pval_di[0] < 1e-5


def test_effective_tests__independent_and_duplicated_variants():
    rng = np.random.default_rng(3)
    d = rng.normal(size=(30, 400))
    obs = np.ones_like(d, dtype=bool)
    m_ind = effective_tests(d, obs)
    assert 25 <= m_ind <= 30  # nearly independent columns: close to V
    dup = np.repeat(d[:5], 6, axis=0) + rng.normal(scale=1e-4, size=(30, 400))
    assert effective_tests(dup, obs) <= 6  # six copies of five variants: about five tests
    assert effective_tests(d[:1], obs[:1]) == 1.0


def test_effective_tests__blocks_add_up():
    rng = np.random.default_rng(4)
    d = rng.normal(size=(10, 200))
    obs = rng.random(d.shape) > 0.1
    whole = effective_tests(d, obs, window=10)
    parts = effective_tests(d[:5], obs[:5], window=5) + effective_tests(d[5:], obs[5:], window=5)
    assert effective_tests(d, obs, window=5) == parts
    assert whole <= 10
