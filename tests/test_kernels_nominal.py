"""Tests of segqtl.kernels.nominal: the vectorised per-variant OLS kernel.

The reference for every fitted statistic is statsmodels' ``OLS`` fitted variant by variant on
the variant's own samples (the method's sample-selection and skip rules,
docs/methods.md#nominal-model and #segment-mask, are re-implemented here in plain,
loop-per-variant form).
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from segqtl.kernels.nominal import (
    CONSTANT_D,
    CONSTANT_PHENOTYPE,
    OK,
    TOO_FEW_SAMPLES,
    NominalStats,
    nominal_scan,
)
from segqtl.kernels.segments import segment_mask

RTOL = 1e-9
ATOL = 1e-12
STAT_FIELDS = (
    "beta_s",
    "se_s",
    "beta_d",
    "se_d",
    "t_stat_d",
    "nominal_p",
    "r2_alt",
    "aic_null",
    "aic_alt",
)
FIT_FIELDS = STAT_FIELDS[:-2]  # everything but the AICs
HYP = settings(max_examples=30, deadline=None)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _lr(rng: np.random.Generator, shape) -> np.ndarray:
    """log2(1 + copy number) values in 0..3, copy numbers continuous around 2."""
    return np.minimum(np.log2(1.0 + rng.gamma(4.0, 0.5, shape)), 3.0)


def _covariates(rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    """c columns: age ~ 60 ± 10, a binary sex indicator, then genotype-PC-like columns."""
    cols = []
    if c >= 1:
        cols.append(rng.normal(60.0, 10.0, n))
    if c >= 2:
        sex = np.zeros(n)
        sex[rng.permutation(n)[: n // 2]] = 1.0  # balanced, both levels in any large subset
        cols.append(sex)
    for _ in range(c - 2):
        cols.append(rng.normal(0.0, 0.05, n))
    return np.column_stack(cols) if cols else np.empty((n, 0))


def _simulate(seed: int, n: int, n_var: int, c: int):
    """Phenotype, ALTlr, REFlr and covariates; variant 0 carries a real s and d effect."""
    rng = np.random.default_rng(seed)
    alt = _lr(rng, (n_var, n))
    ref = _lr(rng, (n_var, n))
    cov = _covariates(rng, n, c)
    y = 0.4 * (ref[0] + alt[0]) + 0.8 * (ref[0] - alt[0]) + rng.normal(0.0, 1.0, n)
    if c >= 1:
        y += 0.02 * (cov[:, 0] - 60.0)
    return y, alt, ref, cov


def _used_samples(y, alt_v, ref_v, cov, pos_v=None, lb=None, ub=None) -> np.ndarray:
    use = ~np.isnan(y) & ~np.isnan(cov).any(axis=1) & ~np.isnan(alt_v) & ~np.isnan(ref_v)
    if pos_v is not None:
        with np.errstate(invalid="ignore"):
            use &= (lb <= pos_v) & (pos_v <= ub)
    return use


def _reference(y, alt, ref, cov, pos=None, lb=None, ub=None, *, min_samples=30):
    """The method, one variant at a time, with statsmodels doing the fits."""
    n_var, n = alt.shape
    cov = np.asarray(cov, dtype=np.float64).reshape(n, -1)
    out = NominalStats.empty(n_var)
    for v in range(n_var):
        use = _used_samples(y, alt[v], ref[v], cov, None if pos is None else pos[v], lb, ub)
        s = (ref[v] + alt[v])[use]
        d = (ref[v] - alt[v])[use]
        yu = y[use]
        if use.sum() < min_samples:
            out.status[v] = TOO_FEW_SAMPLES
            continue
        if np.unique(yu).size < 2:
            out.status[v] = CONSTANT_PHENOTYPE
            continue
        if np.std(d) < 1e-10:
            out.status[v] = CONSTANT_D
            continue
        ones = np.ones(use.sum())
        x_alt = np.column_stack([ones, s, d, cov[use]])
        x_null = np.column_stack([ones, s, cov[use]])
        fit = sm.OLS(yu, x_alt).fit()
        null = sm.OLS(yu, x_null).fit()
        out.status[v] = OK
        out.number_of_samples[v] = int(fit.nobs)
        out.beta_s[v], out.beta_d[v] = fit.params[1], fit.params[2]
        out.se_s[v], out.se_d[v] = fit.bse[1], fit.bse[2]
        out.t_stat_d[v] = fit.tvalues[2]
        out.nominal_p[v] = fit.pvalues[2]
        out.r2_alt[v] = fit.rsquared
        out.aic_alt[v] = fit.aic
        out.aic_null[v] = null.aic
    return out


def _assert_same(got: NominalStats, want: NominalStats, *, fields=STAT_FIELDS, rtol=RTOL):
    np.testing.assert_array_equal(got.status, want.status)
    np.testing.assert_array_equal(got.number_of_samples, want.number_of_samples)
    for f in fields:
        np.testing.assert_allclose(
            getattr(got, f), getattr(want, f), rtol=rtol, atol=ATOL, err_msg=f
        )


def _check_against_statsmodels(y, alt, ref, cov, pos=None, lb=None, ub=None, **kw):
    got = nominal_scan(y, alt, ref, cov, pos, lb, ub, record_aic=True, **kw)
    want = _reference(y, alt, ref, cov, pos, lb, ub, **kw)
    _assert_same(got, want)
    return got


def _segments(rng: np.random.Generator, n: int, n_var: int):
    """Variant positions in [1e6, 2e6] and per-sample segment bounds around them."""
    pos = np.sort(rng.integers(1_000_000, 2_000_001, n_var))
    lb = 1_000_000.0 + rng.uniform(0.0, 400_000.0, n)
    ub = 2_000_000.0 - rng.uniform(0.0, 400_000.0, n)
    return pos, lb, ub


# --------------------------------------------------------------------------------------------
# 1. agreement with statsmodels
# --------------------------------------------------------------------------------------------


def test_nominal_scan__matches_statsmodels_without_missingness():
    y, alt, ref, cov = _simulate(1, 120, 12, 3)
    got = _check_against_statsmodels(y, alt, ref, cov)
    assert (got.status == OK).all()
    assert (got.number_of_samples == 120).all()
    assert got.best() == 0  # the variant with the simulated d effect


def test_nominal_scan__matches_statsmodels_with_missing_genotypes():
    y, alt, ref, cov = _simulate(2, 120, 15, 2)
    rng = np.random.default_rng(20)
    frac = rng.uniform(0.0, 0.4, (15, 1))  # different missingness per variant
    alt[rng.random(alt.shape) < frac * 0.5] = np.nan
    ref[rng.random(ref.shape) < frac * 0.5] = np.nan
    got = _check_against_statsmodels(y, alt, ref, cov)
    assert len(set(got.number_of_samples.tolist())) > 3  # sample sets really differ


def test_nominal_scan__matches_statsmodels_with_segment_masks():
    n, n_var = 150, 20
    y, alt, ref, cov = _simulate(3, n, n_var, 2)
    rng = np.random.default_rng(30)
    pos, lb, ub = _segments(rng, n, n_var)
    lb[rng.permutation(n)[:12]] = np.nan  # samples without a segment: masked everywhere
    ub[rng.permutation(n)[:5]] = np.nan
    # closed interval: variants sitting exactly on a sample's bound keep that sample
    j, k = np.flatnonzero(np.isfinite(lb) & np.isfinite(ub))[:2]
    lb[j] = float(pos[3])
    lb[k], ub[k] = float(pos[4] - 1_000), float(pos[4])
    alt[rng.random(alt.shape) < 0.05] = np.nan
    got = _check_against_statsmodels(y, alt, ref, cov, pos, lb, ub)
    mask = segment_mask(pos, lb, ub)
    assert mask[3, j] and mask[4, k] and not mask[2, j] and not mask[5, k]
    assert (got.status == OK).sum() >= 5
    assert (got.number_of_samples[got.status == OK] < n).all()


def test_nominal_scan__matches_statsmodels_with_segment_masks_and_too_few_samples():
    n, n_var = 60, 10
    y, alt, ref, cov = _simulate(4, n, n_var, 1)
    rng = np.random.default_rng(40)
    pos = np.linspace(1_000, 10_000, n_var).astype(np.int64)
    lb = rng.uniform(0, 6_000, n)
    ub = lb + rng.uniform(2_000, 8_000, n)
    got = _check_against_statsmodels(y, alt, ref, cov, pos, lb, ub)
    assert (got.status == TOO_FEW_SAMPLES).any()
    assert (got.status == OK).any()


def test_nominal_scan__matches_statsmodels_with_shared_unsorted_segment_positions():
    n, n_var = 100, 20
    y, alt, ref, cov = _simulate(41, n, n_var, 2)
    rng = np.random.default_rng(410)
    pos = rng.integers(0, 40, n_var)  # unsorted, with repeats
    pos[:4] = [25, 3, 25, 55]  # 55 lies beyond every segment
    lb = rng.integers(-10, 15, n).astype(np.float64)
    ub = rng.integers(20, 50, n).astype(np.float64)
    lb[rng.permutation(n)[:4]] = np.nan
    alt[rng.random(alt.shape) < 0.07] = np.nan
    ref[rng.random(ref.shape) < 0.03] = np.nan
    got = _check_against_statsmodels(y, alt, ref, cov, pos, lb, ub)
    assert (got.status == OK).sum() >= 5
    assert (got.status == TOO_FEW_SAMPLES).any()


def test_nominal_scan__matches_statsmodels_with_missing_phenotype_and_covariates():
    n = 110
    y, alt, ref, cov = _simulate(5, n, 10, 3)
    rng = np.random.default_rng(50)
    y[rng.permutation(n)[:8]] = np.nan
    cov[rng.permutation(n)[:6], 0] = np.nan
    cov[rng.permutation(n)[:4], 2] = np.nan
    alt[rng.random(alt.shape) < 0.1] = np.nan
    got = _check_against_statsmodels(y, alt, ref, cov)
    assert (got.number_of_samples[got.status == OK] <= n - 8).all()


def test_nominal_scan__matches_statsmodels_without_covariates():
    y, alt, ref, _ = _simulate(6, 90, 8, 0)
    rng = np.random.default_rng(60)
    ref[rng.random(ref.shape) < 0.1] = np.nan
    _check_against_statsmodels(y, alt, ref, np.empty((90, 0)))


def test_nominal_scan__matches_statsmodels_with_several_covariates_incl_binary():
    n = 140
    y, alt, ref, cov = _simulate(7, n, 12, 5)  # age, sex (binary), 3 PCs
    rng = np.random.default_rng(70)
    pheno_cov = rng.normal(5.0, 2.0, n)  # phenotype covariate comes first
    cov = np.column_stack([pheno_cov, cov])
    y = y + 0.3 * pheno_cov + 0.5 * cov[:, 2]
    alt[rng.random(alt.shape) < 0.08] = np.nan
    assert set(np.unique(cov[:, 2])) == {0.0, 1.0}
    _check_against_statsmodels(y, alt, ref, cov)


def test_nominal_scan__aic_nan_unless_requested():
    y, alt, ref, cov = _simulate(8, 60, 4, 2)
    with_aic = nominal_scan(y, alt, ref, cov, record_aic=True)
    without = nominal_scan(y, alt, ref, cov)
    assert np.isnan(without.aic_null).all() and np.isnan(without.aic_alt).all()
    _assert_same(without, with_aic, fields=FIT_FIELDS, rtol=0)


# --------------------------------------------------------------------------------------------
# 2. skip rules
# --------------------------------------------------------------------------------------------


def _assert_skipped(stats: NominalStats, v: int, reason: int):
    assert stats.status[v] == reason
    assert stats.number_of_samples[v] == 0
    for f in STAT_FIELDS:
        assert np.isnan(getattr(stats, f)[v]), f


def test_nominal_scan__min_samples_boundary():
    n = 40
    y, alt, ref, cov = _simulate(9, n, 4, 2)
    alt[0, :11] = np.nan  # 29 usable samples
    ref[1, 5:15] = np.nan  # 30 usable samples
    alt[2, :5] = np.nan  # 35 - with min_samples=35 exactly on the boundary ...
    ref[3, 30:36] = np.nan  # ... and 34: below it
    got = _check_against_statsmodels(y, alt, ref, cov, min_samples=30)
    _assert_skipped(got, 0, TOO_FEW_SAMPLES)
    assert got.status[1] == OK and got.number_of_samples[1] == 30
    got = _check_against_statsmodels(y, alt, ref, cov, min_samples=35)
    assert got.status[2] == OK and got.number_of_samples[2] == 35
    _assert_skipped(got, 3, TOO_FEW_SAMPLES)


def test_nominal_scan__fewer_samples_than_terms_is_too_few_whatever_min_samples():
    # 8 covariates + intercept + s + d = 11 terms: a fit needs at least 12 samples (one residual
    # degree of freedom), even where --min-samples allows fewer (a run with few samples kept)
    y, alt, ref, cov = _simulate(4, 20, 3, 8)
    for n_kept, expect_fit in ((6, False), (11, False), (12, True), (20, True)):
        got = nominal_scan(
            y[:n_kept], alt[:, :n_kept], ref[:, :n_kept], cov[:n_kept], min_samples=3
        )
        if expect_fit:
            assert (got.status == OK).all()
            ref_fit = _check_against_statsmodels(
                y[:n_kept], alt[:, :n_kept], ref[:, :n_kept], cov[:n_kept], min_samples=3
            )
            assert (ref_fit.number_of_samples == n_kept).all()
        else:
            assert (got.status == TOO_FEW_SAMPLES).all()
            assert np.isnan(got.nominal_p).all()


def test_nominal_scan__a_variant_with_no_more_samples_than_terms_is_too_few():
    # 20 samples, 8 covariates: 11 terms. Missing genotypes leave variant 0 with 11 samples
    # (no residual degree of freedom) and variant 1 with 12, while the phenotype has 20
    y, alt, ref, cov = _simulate(6, 20, 3, 8)
    alt[0, :9] = np.nan
    ref[1, 12:] = np.nan
    got = nominal_scan(y, alt, ref, cov, min_samples=3)
    _assert_skipped(got, 0, TOO_FEW_SAMPLES)
    # the others are fitted, and as statsmodels fits them (which has no answer for variant 0:
    # its residual variance divides by zero degrees of freedom)
    rest = _check_against_statsmodels(y, alt[1:], ref[1:], cov, min_samples=3)
    assert (rest.status == OK).all() and list(rest.number_of_samples) == [12, 20]
    for f in FIT_FIELDS:
        np.testing.assert_array_equal(getattr(got, f)[1:], getattr(rest, f))


def test_max_t_null__fewer_samples_than_terms_gives_no_null():
    from segqtl.kernels.nominal import DosageBlock
    from segqtl.kernels.perm import max_t_null

    y, alt, ref, cov = _simulate(5, 8, 3, 8)
    out = max_t_null(
        y, np.ones(8), cov, DosageBlock.from_dosages(alt, ref), None, None, None, None,
        n_perm=10, seed=1, min_samples=3,
    )  # fmt: skip
    assert out.shape == (10,) and np.isnan(out).all()


def test_nominal_scan__min_samples_boundary_via_segments_and_missing_phenotype():
    n = 40
    y, alt, ref, cov = _simulate(10, n, 2, 1)
    y[0] = np.nan  # 39 samples with a phenotype
    pos = np.array([500, 700])
    lb = np.zeros(n)
    ub = np.full(n, 1000.0)
    ub[1:10] = 700.0  # variant 1 at 700 is still inside for these: closed interval
    lb[30:39] = 600.0  # variant 0 (500) loses 9 samples -> 39 - 9 = 30
    lb[39] = 500.0  # ... but keeps sample 39 (pos == lb)
    got = _check_against_statsmodels(y, alt, ref, cov, pos, lb, ub, min_samples=30)
    assert got.status[0] == OK and got.number_of_samples[0] == 30
    assert got.status[1] == OK and got.number_of_samples[1] == 39
    lb[29] = 600.0
    got = _check_against_statsmodels(y, alt, ref, cov, pos, lb, ub, min_samples=30)
    _assert_skipped(got, 0, TOO_FEW_SAMPLES)
    assert got.status[1] == OK


def test_nominal_scan__too_few_samples_with_phenotype_skips_everything():
    n = 40
    y, alt, ref, cov = _simulate(11, n, 3, 2)
    y[:11] = np.nan
    got = nominal_scan(y, alt, ref, cov, record_aic=True)
    for v in range(3):
        _assert_skipped(got, v, TOO_FEW_SAMPLES)
    assert got.best() == -1


def test_nominal_scan__constant_phenotype_over_variant_samples():
    n = 60
    y, alt, ref, cov = _simulate(12, n, 3, 2)
    y[:40] = 1.25  # constant on the first 40 samples only
    alt[0, 40:] = np.nan  # variant 0 only sees the constant part
    ref[1, 45:] = np.nan  # variant 1 sees 5 differing values
    got = _check_against_statsmodels(y, alt, ref, cov)
    _assert_skipped(got, 0, CONSTANT_PHENOTYPE)
    assert got.status[1] == OK and got.status[2] == OK


def test_nominal_scan__constant_phenotype_via_segment_mask():
    n = 60
    y, alt, ref, cov = _simulate(13, n, 2, 1)
    y[20:] = -3.5
    pos = np.array([100, 300])
    lb = np.where(np.arange(n) < 20, 200.0, 0.0)  # the varying samples start at 200
    ub = np.full(n, 1000.0)
    got = _check_against_statsmodels(y, alt, ref, cov, pos, lb, ub)
    _assert_skipped(got, 0, CONSTANT_PHENOTYPE)
    assert got.status[1] == OK


def test_nominal_scan__constant_d():
    n = 60
    y, alt, ref, cov = _simulate(14, n, 5, 2)
    ref[0] = alt[0]  # d == 0
    ref[1] = alt[1] + 0.75  # d == 0.75, s still varies
    ref[2] = alt[2] + 0.75 + 1e-13 * np.random.default_rng(0).normal(size=n)  # sd < 1e-10
    ref[3, :50] = alt[3, :50] - 0.5  # constant d on the variant's own samples only ...
    alt[3, 50:] = np.nan  # ... because the other samples are missing
    got = _check_against_statsmodels(y, alt, ref, cov)
    for v in range(4):
        _assert_skipped(got, v, CONSTANT_D)
    assert got.status[4] == OK


def test_nominal_scan__skip_rule_precedence():
    n = 60
    y, alt, ref, cov = _simulate(15, n, 3, 1)
    y[:45] = 2.0
    ref[:] = alt + 1.0  # constant d everywhere
    alt[0, 35:] = np.nan  # 35 samples: constant y and constant d
    alt[1, 20:] = np.nan  # 20 samples: too few, constant y and constant d
    got = nominal_scan(y, alt, ref, cov)
    _assert_skipped(got, 0, CONSTANT_PHENOTYPE)
    _assert_skipped(got, 1, TOO_FEW_SAMPLES)
    _assert_skipped(got, 2, CONSTANT_D)


# --------------------------------------------------------------------------------------------
# 3. best()
# --------------------------------------------------------------------------------------------


def test_nominal_stats_best__ties_pick_the_first():
    y, alt, ref, cov = _simulate(16, 70, 4, 2)
    # the variant carrying the effect (0) goes to rows 1 and 3; row 0 gets a null variant
    alt[[1, 3]], ref[[1, 3]] = alt[0], ref[0]
    rng = np.random.default_rng(160)
    alt[0], ref[0] = _lr(rng, 70), _lr(rng, 70)
    got = nominal_scan(y, alt, ref, cov)
    assert got.t_stat_d[1] == got.t_stat_d[3]
    assert np.abs(got.t_stat_d[1]) == np.abs(got.t_stat_d).max()
    assert got.best() == 1


def test_nominal_stats_best__ties_on_absolute_value_and_nan_ignored():
    stats = NominalStats.empty(5)
    stats.t_stat_d[:] = [np.nan, 1.5, -2.5, 2.5, np.nan]
    assert stats.best() == 2
    stats.t_stat_d[:] = [np.nan, 0.5, 0.5, -0.1, np.nan]
    assert stats.best() == 1


def test_nominal_stats_best__all_skipped_is_minus_one():
    y, alt, ref, cov = _simulate(17, 50, 3, 1)
    got = nominal_scan(y, alt, ref, cov, min_samples=51)
    assert (got.status == TOO_FEW_SAMPLES).all()
    assert got.best() == -1
    assert nominal_scan(y, alt[:0], ref[:0], cov).best() == -1
    assert NominalStats.empty(0).best() == -1


def test_nominal_stats_best__skipped_variant_first():
    y, alt, ref, cov = _simulate(18, 50, 3, 1)
    alt[0] = np.nan
    got = nominal_scan(y, alt, ref, cov)
    assert got.status[0] == TOO_FEW_SAMPLES
    assert got.best() == 1 + int(np.argmax(np.abs(got.t_stat_d[1:])))


# --------------------------------------------------------------------------------------------
# 4. properties
# --------------------------------------------------------------------------------------------


@st.composite
def scan_inputs(draw):
    """A random phenotype with its variants: optional missingness and segments."""
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(35, 80))
    n_var = draw(st.integers(1, 20))
    c = draw(st.integers(0, 3))
    miss = draw(st.sampled_from([0.0, 0.03, 0.1]))
    segmented = draw(st.booleans())
    rng = np.random.default_rng(seed)
    y, alt, ref, cov = _simulate(seed, n, n_var, c)
    if miss:
        y[rng.random(n) < miss] = np.nan
        cov[rng.random(cov.shape) < miss] = np.nan
        alt[rng.random(alt.shape) < miss] = np.nan
        ref[rng.random(ref.shape) < miss] = np.nan
    seg = (None, None, None)
    if segmented:
        # integer breakpoints and dense positions: many variants share a segment mask, many
        # sit exactly on a bound
        pos = rng.integers(0, 50, n_var)
        if draw(st.booleans()):
            pos = np.sort(pos)
        lb = rng.integers(-5, 20, n).astype(np.float64)
        ub = rng.integers(25, 55, n).astype(np.float64)
        lb[rng.random(n) < 0.05] = np.nan
        seg = (pos, lb, ub)
    return y, alt, ref, cov, seg


@HYP
@given(scan_inputs(), st.integers(0, 2**32 - 1))
def test_nominal_scan__invariant_to_sample_order(inputs, perm_seed):
    y, alt, ref, cov, (pos, lb, ub) = inputs
    perm = np.random.default_rng(perm_seed).permutation(y.size)
    got = nominal_scan(y, alt, ref, cov, pos, lb, ub, record_aic=True)
    permuted = nominal_scan(
        y[perm],
        alt[:, perm],
        ref[:, perm],
        cov[perm],
        pos,
        None if lb is None else lb[perm],
        None if ub is None else ub[perm],
        record_aic=True,
    )
    _assert_same(permuted, got, rtol=1e-8)


@HYP
@given(
    scan_inputs(),
    st.floats(0.05, 20.0),
    st.booleans(),
    st.floats(-100.0, 100.0),
)
def test_nominal_scan__affine_phenotype_transform(inputs, scale, negative, shift):
    y, alt, ref, cov, (pos, lb, ub) = inputs
    a = -scale if negative else scale
    got = nominal_scan(y, alt, ref, cov, pos, lb, ub)
    moved = nominal_scan(a * y + shift, alt, ref, cov, pos, lb, ub)
    np.testing.assert_array_equal(moved.status, got.status)
    np.testing.assert_array_equal(moved.number_of_samples, got.number_of_samples)
    close = dict(rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(moved.beta_s, a * got.beta_s, **close)
    np.testing.assert_allclose(moved.beta_d, a * got.beta_d, **close)
    np.testing.assert_allclose(moved.se_s, abs(a) * got.se_s, **close)
    np.testing.assert_allclose(moved.se_d, abs(a) * got.se_d, **close)
    np.testing.assert_allclose(moved.t_stat_d, np.sign(a) * got.t_stat_d, **close)
    np.testing.assert_allclose(moved.nominal_p, got.nominal_p, **close)
    np.testing.assert_allclose(moved.r2_alt, got.r2_alt, **close)


@HYP
@given(scan_inputs())
def test_nominal_scan__statistics_in_range(inputs):
    y, alt, ref, cov, (pos, lb, ub) = inputs
    n = y.size
    got = nominal_scan(y, alt, ref, cov, pos, lb, ub, record_aic=True)
    ok = got.status == OK
    assert np.isin(got.status, [OK, TOO_FEW_SAMPLES, CONSTANT_PHENOTYPE, CONSTANT_D]).all()
    assert ((got.number_of_samples >= 30) & (got.number_of_samples <= n))[ok].all()
    assert (got.number_of_samples[~ok] == 0).all()
    p = got.nominal_p[ok]
    assert ((p >= 0.0) & (p <= 1.0)).all()
    assert (got.se_s[ok] > 0).all() and (got.se_d[ok] > 0).all()
    r2 = got.r2_alt[ok]
    assert ((r2 >= -1e-12) & (r2 <= 1.0 + 1e-12)).all()
    # the alternative model nests the null one: RSS can only drop, so AIC rises by at most 2
    assert (got.aic_alt[ok] <= got.aic_null[ok] + 2.0 + 1e-9).all()
    for f in STAT_FIELDS:
        assert np.isfinite(getattr(got, f)[ok]).all(), f
        assert np.isnan(getattr(got, f)[~ok]).all(), f
    # sample counts match the spec's selection rule
    for v in np.flatnonzero(ok):
        use = _used_samples(y, alt[v], ref[v], cov, None if pos is None else pos[v], lb, ub)
        assert got.number_of_samples[v] == use.sum()


@HYP
@given(
    scan_inputs(),
    st.sampled_from(["random", "all_missing", "constant_d", "constant_s", "copy", "huge"]),
    st.integers(0, 2**32 - 1),
    st.integers(0, 20),
)
def test_nominal_scan__variants_are_independent(inputs, kind, extra_seed, where):
    y, alt, ref, cov, (pos, lb, ub) = inputs
    n_var, n = alt.shape
    rng = np.random.default_rng(extra_seed)
    new_alt, new_ref = _lr(rng, n), _lr(rng, n)
    if kind == "all_missing":
        new_alt[:] = np.nan
    elif kind == "constant_d":
        new_ref = new_alt + 0.5
    elif kind == "constant_s":
        new_ref = 3.0 - new_alt  # s collinear with the intercept
    elif kind == "copy":
        new_alt, new_ref = alt[0].copy(), ref[0].copy()
    elif kind == "huge":
        new_alt, new_ref = new_alt * 1e6, new_ref * 1e6
    where = min(where, n_var)
    alt2 = np.insert(alt, where, new_alt, axis=0)
    ref2 = np.insert(ref, where, new_ref, axis=0)
    pos2 = None if pos is None else np.insert(pos, where, pos[min(where, n_var - 1)])
    alone = nominal_scan(y, alt, ref, cov, pos, lb, ub, record_aic=True)
    together = nominal_scan(y, alt2, ref2, cov, pos2, lb, ub, record_aic=True)
    others = np.delete(np.arange(n_var + 1), where)
    sub = NominalStats(**{f: getattr(together, f)[others] for f in alone.__dataclass_fields__})
    _assert_same(sub, alone, rtol=1e-10)


# --------------------------------------------------------------------------------------------
# 5. segment bounds (the mask itself: test_kernels_segments.py)
# --------------------------------------------------------------------------------------------


def test_nominal_scan__segment_bounds_are_inclusive():
    n = 40
    y, alt, ref, cov = _simulate(19, n, 3, 1)
    pos = np.array([100, 200, 300])
    lb = np.full(n, 200.0)
    ub = np.full(n, 300.0)
    lb[:5] = 100.0
    got = nominal_scan(y, alt, ref, cov, pos, lb, ub, min_samples=5)
    np.testing.assert_array_equal(got.number_of_samples, [5, n, n])
    lb[5] = np.nan  # NaN bound: sample masked for every variant
    got = nominal_scan(y, alt, ref, cov, pos, lb, ub, min_samples=5)
    np.testing.assert_array_equal(got.number_of_samples, [5, n - 1, n - 1])


def test_nominal_scan__infinite_segment_bounds_do_not_mask():
    n = 50
    y, alt, ref, cov = _simulate(20, n, 3, 1)
    pos = np.array([1, 2, 3])
    lb = np.full(n, -np.inf)
    ub = np.full(n, np.inf)
    got = nominal_scan(y, alt, ref, cov, pos, lb, ub, record_aic=True)
    _assert_same(got, nominal_scan(y, alt, ref, cov, record_aic=True), rtol=0)


def test_nominal_scan__fractional_segment_bounds_are_closed_interval():
    n = 40
    y, alt, ref, cov = _simulate(21, n, 2, 1)
    pos = np.array([100, 101])
    lb = np.zeros(n)
    ub = np.full(n, 1000.0)
    ub[:5] = 100.5  # samples 0..4 hold variant 100 but not variant 101
    got = nominal_scan(y, alt, ref, cov, pos, lb, ub)
    np.testing.assert_array_equal(segment_mask(pos, lb, ub).sum(axis=1), [n, n - 5])
    np.testing.assert_array_equal(got.number_of_samples, [n, n - 5])


# --- the compiled parts, held to their plain numpy formulations -----------------------------


# a block's variants with gaps and segment masks, a selection of its rows, n_x sample columns
_MASKED_INPUTS = dict(
    seed=st.integers(0, 10_000),
    n=st.integers(5, 90),
    n_var=st.integers(1, 40),
    n_x=st.integers(0, 12),
    missing=st.sampled_from([0.0, 0.05, 0.3]),
    rows=st.sampled_from(["all", "range", "scattered", "unsorted"]),
)
_ROWS = {
    "all": lambda rng, n_var: None,
    "range": lambda rng, n_var: np.arange(n_var // 3, n_var),
    "scattered": lambda rng, n_var: np.flatnonzero(rng.random(n_var) < 0.6),
    "unsorted": lambda rng, n_var: rng.permutation(n_var),
}


@given(**_MASKED_INPUTS)
@settings(max_examples=40, deadline=None)
def test_masked_products__equal_the_numpy_products_of_masked_s_and_d(
    seed, n, n_var, n_x, missing, rows
):
    from segqtl.kernels.nominal import DosageBlock, mask_variants, masked_products

    rng = np.random.default_rng(seed)
    alt, ref = _lr(rng, (n_var, n)), _lr(rng, (n_var, n))
    gap = rng.random((n_var, n)) < missing
    alt[gap] = ref[gap] = np.nan
    block = DosageBlock.from_dosages(alt, ref)
    pos, lb, ub = _segments(rng, n, n_var)
    pick = _ROWS[rows](rng, n_var)
    sel = slice(None) if pick is None else pick
    base = rng.random(n) < 0.9
    mv = mask_variants(block, pick, base, pos[sel], lb, ub)
    x = rng.normal(size=(n, n_x))
    got = masked_products(mv, x)
    # numpy: masked copies of s and d, then matrix and row-wise products
    want = (
        mv.s @ x,
        mv.d @ x,
        np.einsum("vn,vn->v", mv.s, mv.s),
        np.einsum("vn,vn->v", mv.s, mv.d),
        np.einsum("vn,vn->v", mv.d, mv.d),
    )
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


@given(**_MASKED_INPUTS)
@settings(max_examples=40, deadline=None)
def test_masked_sums__equal_the_sparse_formulation_bit_for_bit(seed, n, n_var, n_x, missing, rows):
    from scipy import sparse

    from segqtl.kernels.nominal import DosageBlock, mask_variants, masked_sums

    rng = np.random.default_rng(seed)
    alt, ref = _lr(rng, (n_var, n)), _lr(rng, (n_var, n))
    gap = rng.random((n_var, n)) < missing
    alt[gap] = np.nan
    block = DosageBlock.from_dosages(alt, ref)
    pos, lb, ub = _segments(rng, n, n_var)
    pick = _ROWS[rows](rng, n_var)
    sel = slice(None) if pick is None else pick
    mv = mask_variants(block, pick, rng.random(n) < 0.9, pos[sel], lb, ub)
    # the excluded samples: each variant's missing genotypes inside its segment group
    observed = block.observed if pick is None else block.observed[pick]
    r, c = np.nonzero(~observed & mv.group_mask[mv.gid])
    excluded = sparse.csr_matrix((np.ones(r.size), (r, c)), shape=observed.shape)
    assert (mv.excluded != excluded).nnz == 0
    x = rng.normal(size=(n, n_x))
    np.testing.assert_array_equal(masked_sums(mv, x), (mv.group_f @ x)[mv.gid] - excluded @ x)


@given(
    seed=st.integers(0, 10_000),
    p=st.integers(1, 12),
    n_rhs=st.integers(1, 4),
    n_sys=st.integers(0, 30),
)
@settings(max_examples=40, deadline=None)
def test_batched_solve__equals_numpy_solve(seed, p, n_rhs, n_sys):
    from segqtl.kernels.nominal_compiled import batched_solve

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_sys, 3 * p + 2, p))
    a = np.einsum("vnp,vnq->vpq", x, x) + rng.normal(size=(n_sys, p, p)) * 0.1  # not symmetric
    b = rng.normal(size=(n_sys, p, n_rhs))
    out = np.empty(b.shape)
    batched_solve(a, b, out)
    np.testing.assert_allclose(out, np.linalg.solve(a, b), rtol=1e-9, atol=1e-12)


@given(
    seed=st.integers(0, 10_000),
    k=st.integers(1, 9),
    n_var=st.integers(0, 25),
    collinear=st.sampled_from([None, 1.0, -1.0]),
)
@settings(max_examples=40, deadline=None)
def test_gram_solve__equals_batched_solve_of_the_assembled_systems(seed, k, n_var, collinear):
    from segqtl.kernels.nominal import _solve, gram_matrices, symmetric_from_upper
    from segqtl.kernels.nominal_compiled import gram_solve, gram_solve_any

    rng = np.random.default_rng(seed)
    n = 3 * k + 12
    q = rng.normal(size=(n, k))
    y = rng.normal(size=n)
    s, d = rng.normal(size=(2, n_var, n))
    if collinear is not None and n_var:
        d[0] = collinear * s[0]  # exactly singular: both NaN
    m = (rng.random((n_var, n)) < 0.8).astype(float)
    iu, ju = np.triu_indices(k)
    nq = iu.size
    upper = np.column_stack([m @ (q[:, iu] * q[:, ju]), m @ (q * y[:, None])])
    x = np.column_stack([q, y, np.ones(n)])  # as the fits' masked products
    prod_s, prod_d = (s * m) @ x, (d * m) @ x
    ss, sd, dd = ((s * m) ** 2).sum(1), (s * m * d).sum(1), ((d * m) ** 2).sum(1)
    keep = np.flatnonzero(rng.random(n_var) < 0.8)
    if collinear is not None and n_var:
        keep = np.union1d(keep, [0])
    beta = np.empty((keep.size, k + 2))
    var_s, var_d = np.empty(keep.size), np.empty(keep.size)
    gram_solve(k + 2)(upper, prod_s, prod_d, ss, sd, dd, keep, beta, var_s, var_d)
    # the kernel compiled for this size and the generic one: the same numbers
    generic = np.empty((keep.size, k + 2)), np.empty(keep.size), np.empty(keep.size)
    gram_solve_any(upper, prod_s, prod_d, ss, sd, dd, keep, *generic)
    for got, want in zip((beta, var_s, var_d), generic, strict=True):
        np.testing.assert_array_equal(got, want)

    # the plain formulation: assemble the (V, p, p) and (V, p, 3) arrays, solve them
    gram = gram_matrices(
        symmetric_from_upper(upper[keep, :nq], k),
        prod_s[keep, :k], prod_d[keep, :k], ss[keep], sd[keep], dd[keep],
    )  # fmt: skip
    rhs = np.zeros((keep.size, k + 2, 3))
    rhs[:, :, 0] = np.column_stack([upper[keep, nq:], prod_s[keep, k], prod_d[keep, k]])
    rhs[:, k, 1] = rhs[:, k + 1, 2] = 1.0
    sol = _solve(gram, rhs)
    np.testing.assert_array_equal(beta, sol[:, :, 0])
    np.testing.assert_array_equal(var_s, sol[:, k, 1])
    np.testing.assert_array_equal(var_d, sol[:, k + 1, 2])
    if collinear is not None and n_var:
        assert np.isnan(beta[0]).all() and np.isnan(var_s[0]) and np.isnan(var_d[0])


def test_batched_solve__exactly_singular_systems_are_nan_as_numpy_raises():
    from segqtl.kernels.nominal_compiled import batched_solve

    a = np.stack([np.eye(3), np.ones((3, 3)), np.diag([1.0, 0.0, 2.0]), 2.0 * np.eye(3)])
    b = np.ones((4, 3, 2))
    out = np.empty(b.shape)
    batched_solve(a, b, out)
    for i in range(4):
        try:
            want = np.linalg.solve(a[i], b[i])
        except np.linalg.LinAlgError:
            assert np.isnan(out[i]).all(), i
        else:
            np.testing.assert_array_equal(out[i], want)
    assert np.isnan(out[1]).all() and np.isnan(out[2]).all()
    np.testing.assert_array_equal(out[3], 0.5)


def test_perm_inverse__equals_numpy_inverse_and_nan_for_singular():
    from segqtl.kernels.perm import _inv

    rng = np.random.default_rng(3)
    x = rng.normal(size=(20, 40, 7))
    g = np.einsum("vnp,vnq->vpq", x, x)
    g[5] = 0.0  # singular: numpy's inv raises
    got = _inv(g)
    ok = np.arange(20) != 5
    np.testing.assert_allclose(got[ok], np.linalg.inv(g[ok]), rtol=1e-10, atol=1e-14)
    assert np.isnan(got[5]).all()


@given(
    seed=st.integers(0, 10_000),
    shape=st.tuples(st.integers(0, 20), st.integers(0, 30)),
    missing=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
)
@settings(max_examples=30, deadline=None)
def test_dosage_block_from_dosages__equals_the_numpy_formulation(seed, shape, missing):
    from segqtl.kernels.nominal import DosageBlock

    rng = np.random.default_rng(seed)
    alt, ref = _lr(rng, shape), _lr(rng, shape)
    alt[rng.random(shape) < missing] = np.nan
    ref[rng.random(shape) < missing / 2] = np.inf  # not finite either
    got = DosageBlock.from_dosages(alt, ref)
    s = alt + ref
    observed = np.isfinite(s)
    want_s = np.where(observed, s, 0.0)
    want_d = np.where(observed, ref - alt, 0.0)
    np.testing.assert_array_equal(got.s, want_s)
    np.testing.assert_array_equal(got.d, want_d)
    np.testing.assert_array_equal(got.observed, observed)
    rows, cols = np.nonzero(~observed)
    np.testing.assert_array_equal(got.missing_rows, rows)
    np.testing.assert_array_equal(got.missing_cols, cols)


def test_nominal_scan__exactly_collinear_s_and_d_are_singular_designs():
    # ALT or REF zero on every sample: d = ±s exactly. Each such Gram matrix is singular and the
    # elimination must meet an exactly zero pivot (a product with 1 / pivot instead of a
    # division left ~1e-16 and reported 10-18% of them as tested, with p down to 1e-6)
    from segqtl.kernels.nominal import SINGULAR

    rng = np.random.default_rng(0)
    n, n_var = 60, 200
    y, cov = rng.standard_normal(n), rng.standard_normal((n, 2))
    dosage = rng.integers(0, 3, (n_var, n)).astype(float)
    zero = np.zeros((n_var, n))
    for alt, ref in ((zero, dosage), (dosage, zero)):
        stats = nominal_scan(y, alt, ref, cov, min_samples=10)
        assert (stats.status == SINGULAR).all(), np.bincount(stats.status)
        assert np.isnan(stats.nominal_p).all()


@pytest.mark.parametrize("kind", ["copy", "affine", "sum_of_two", "s_copy", "mix_of_s_and_d"])
def test_nominal_scan__d_or_s_in_the_covariates_span_is_a_singular_design(kind):
    # max_vif unset (plain nominal): the normal equations of such a design leave finite noise
    # (t ≈ 1e-9 was reported as tested); the exact refit finds the zero residual
    from segqtl.kernels.nominal import SINGULAR

    rng = np.random.default_rng(1)
    n, n_var = 100, 4
    alt = rng.integers(0, 3, (n_var, n)).astype(float)
    ref = rng.integers(0, 3, (n_var, n)).astype(float)
    alt[1, 3] = np.nan  # a missing genotype elsewhere changes nothing
    d, s, noise = ref - alt, ref + alt, rng.standard_normal(n)
    c1 = rng.standard_normal(n)
    column = {
        "copy": d[0],
        "affine": 2.0 * d[0] + 1.0,
        "sum_of_two": d[0] - c1,
        "s_copy": s[0],
        "mix_of_s_and_d": 0.3 * d[0] + 0.7 * s[0],
    }[kind]
    cov = np.column_stack([column, c1 if kind == "sum_of_two" else noise])
    y = rng.standard_normal(n)
    got = nominal_scan(y, alt, ref, cov, min_samples=10, record_aic=True)
    assert got.status[0] == SINGULAR
    assert got.number_of_samples[0] == 0 and np.isnan(got.nominal_p[0])
    # the other variants are untouched and still equal statsmodels
    want = _reference(y, alt[1:], ref[1:], cov, min_samples=10)
    for f in STAT_FIELDS:
        np.testing.assert_allclose(
            getattr(got, f)[1:], getattr(want, f), rtol=RTOL, atol=ATOL, err_msg=f
        )


def test_nominal_scan__collinear_only_on_a_variants_segment_is_singular_there():
    # the covariate equals d on the samples of variant 0's segment only
    from segqtl.kernels.nominal import SINGULAR

    rng = np.random.default_rng(2)
    n, n_var = 120, 3
    alt = rng.integers(0, 3, (n_var, n)).astype(float)
    ref = rng.integers(0, 3, (n_var, n)).astype(float)
    pos = np.array([100, 5000, 9000])
    lb = np.where(np.arange(n) < 80, 0.0, 4000.0)  # samples >= 80 exclude variant 0
    ub = np.full(n, 10_000.0)
    cov = rng.standard_normal((n, 1))
    cov[:80, 0] = (ref[0] - alt[0])[:80]
    y = rng.standard_normal(n)
    got = nominal_scan(y, alt, ref, cov, pos, lb, ub, min_samples=10)
    assert got.status[0] == SINGULAR
    want = _reference(y, alt[1:], ref[1:], cov, pos[1:], lb, ub, min_samples=10)
    np.testing.assert_allclose(got.t_stat_d[1:], want.t_stat_d, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("eps", [1e-5, 1e-6])
def test_nominal_scan__nearly_collinear_d_is_refit_and_matches_statsmodels(eps):
    # d is a covariate plus eps·noise: a VIF of about 1e10 to 1e12. The batched normal
    # equations lose eps_machine·VIF of accuracy (7e-6 and 8e-5 relative here); the refit from
    # the variant's samples by QR agrees with statsmodels' pinv fit to about 1e-10
    rng = np.random.default_rng(3)
    n, n_var = 150, 3
    alt = rng.integers(0, 3, (n_var, n)).astype(float)
    ref = rng.integers(0, 3, (n_var, n)).astype(float)
    alt[0, 5] = np.nan
    d0 = ref[0] - alt[0]
    cov = np.column_stack([d0 + eps * rng.standard_normal(n), rng.standard_normal(n)])
    cov[5, 0] = 0.0  # the missing-genotype sample is not in variant 0's fit
    y = rng.standard_normal(n) + 0.5 * d0
    got = nominal_scan(y, alt, ref, cov, min_samples=10, record_aic=True)
    want = _reference(y, alt, ref, cov, min_samples=10)
    assert got.status[0] == OK
    for f in STAT_FIELDS:
        np.testing.assert_allclose(
            getattr(got, f), getattr(want, f), rtol=1e-8, atol=ATOL, err_msg=f
        )


def test_exact_fit__rank_deficient_covariates_on_the_variants_samples_are_singular():
    # a covariate constant on the variant's samples duplicates the intercept there
    from segqtl.kernels.nominal import exact_fit

    rng = np.random.default_rng(0)
    m = 50
    s, d, y = rng.standard_normal((3, m))
    design0 = np.column_stack([np.ones(m), np.full(m, 3.0), rng.standard_normal(m)])
    assert exact_fit(y, design0, s, d, True) is None
    fit = exact_fit(y, design0[:, [0, 2]], s, d, True)
    ols = sm.OLS(y, np.column_stack([design0[:, [0, 2]], s, d])).fit()
    np.testing.assert_allclose(fit[:4], [ols.params[2], ols.bse[2], ols.params[3], ols.bse[3]])
    np.testing.assert_allclose(fit[4], ols.ssr)


def test_dosage_block_from_dosages__other_shapes_broadcast_or_fail_as_numpy_does():
    from segqtl.kernels.nominal import DosageBlock

    rng = np.random.default_rng(1)
    alt, ref = _lr(rng, (4, 6)), _lr(rng, (1, 6))
    got = DosageBlock.from_dosages(alt, ref)  # one REF row for every variant: broadcast
    np.testing.assert_array_equal(got.s, alt + ref)
    np.testing.assert_array_equal(got.d, ref - alt)
    with pytest.raises(ValueError):
        DosageBlock.from_dosages(alt, _lr(rng, (4, 5)))


@given(
    seed=st.integers(0, 10_000),
    n_ph=st.integers(1, 7),
    n_var=st.integers(1, 40),
    fancy=st.booleans(),
    record_aic=st.booleans(),
)
@settings(max_examples=40, deadline=None)
def test_nominal_scan_many__equals_one_scan_per_phenotype(seed, n_ph, n_var, fancy, record_aic):
    """Phenotypes sharing their masked products give, bit for bit, what each gives alone:
    overlapping and disjoint windows, empty windows, different covariate counts (not shared),
    a window that is not a run of rows (not shared), no segment bounds, missing values."""
    from segqtl.kernels.nominal import DosageBlock, nominal_scan_block, nominal_scan_many

    rng = np.random.default_rng(seed)
    n = 60
    alt, ref = _lr(rng, (n_var, n)), _lr(rng, (n_var, n))
    gap = rng.random((n_var, n)) < 0.05
    alt[gap] = np.nan
    block = DosageBlock.from_dosages(alt, ref)
    pos_all = np.sort(rng.integers(1_000_000, 2_000_001, n_var))
    jobs = []
    for p in range(n_ph):
        lo = int(rng.integers(0, n_var))
        rows = np.arange(lo, int(rng.integers(lo, n_var + 1)))
        if fancy and p == 0 and n_var > 2:
            rows = np.sort(rng.choice(n_var, n_var // 2 + 1, replace=False))
        cov = _covariates(rng, n, 2 if p % 3 else 3)
        y = rng.normal(size=n)
        y[rng.random(n) < 0.1] = np.nan
        _, lb, ub = _segments(rng, n, n_var)
        lb[rng.random(n) < 0.05] = np.nan
        pos = pos_all[rows]
        if p == 1:  # no segment filtering (negative controls)
            pos = lb = ub = None
        jobs.append(dict(y=y, rows=rows, covariates=cov, pos=pos, lb=lb, ub=ub, max_vif=None))
    got = nominal_scan_many(block, jobs, min_samples=20, record_aic=record_aic)
    assert len(got) == n_ph
    for job, stats in zip(jobs, got, strict=True):
        alone = nominal_scan_block(
            job["y"], block, job["rows"], job["covariates"], job["pos"], job["lb"], job["ub"],
            min_samples=20, record_aic=record_aic,
        )  # fmt: skip
        np.testing.assert_array_equal(stats.status, alone.status)
        np.testing.assert_array_equal(stats.number_of_samples, alone.number_of_samples)
        for f in STAT_FIELDS:
            np.testing.assert_array_equal(getattr(stats, f), getattr(alone, f))
