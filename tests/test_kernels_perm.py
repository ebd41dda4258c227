"""The permutation kernel against a direct per-permutation OLS implementation and against the
plain numpy formulation of ``tests/reference_perm.py``.

The method: docs/methods.md#perm-null, #permutation-stream and #beta-approximation.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from segqtl.kernels.nominal import DosageBlock
from segqtl.kernels.perm import (
    PermutationStream,
    beta_pvalue,
    direct_pvalue,
    float32_product_bound,
    max_t_null,
    permutations,
)
from segqtl.kernels.perm_compiled import (
    CHUNK,
    TILED_MAX_K,
    interval_masks,
    max_abs_t,
    screened_max_abs_t,
    shuffle_values,
    tiled_max_abs_t,
)

from .reference_perm import max_t_null_numpy, permutations_numpy


def _cohort(seed, n=70, n_var=12, n_cov=2, missing=0.05):
    """A small cohort with masks, missing genotypes, phenotypes and copy numbers."""
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


def test_max_t_null__max_t_is_statsmodels_t_of_d():
    """The first permutations' p*, with statsmodels fitting each (permutation, variant)."""
    y, cn, cov, alt, ref, pos, lb, ub = _cohort(6, n=60, n_var=6)
    block = DosageBlock.from_dosages(alt, ref)
    got = max_t_null(y, cn, cov, block, None, pos, lb, ub, n_perm=3, seed=21)
    null_set = np.isfinite(y) & np.isfinite(cn) & np.isfinite(cov).all(axis=1)
    m = np.flatnonzero(null_set)
    null = sm.OLS(y[m], np.column_stack([np.ones(m.size), cn[m], cov[m]])).fit()
    rng = np.random.default_rng(21)
    for b in range(3):
        ystar = np.full(y.size, np.nan)
        ystar[m] = null.fittedvalues + null.resid[rng.permutation(m.size)]
        best = (-np.inf, None)
        for v in range(alt.shape[0]):
            with np.errstate(invalid="ignore"):
                mv = null_set & np.isfinite(alt[v] + ref[v]) & (pos[v] >= lb) & (pos[v] <= ub)
            d = ref[v, mv] - alt[v, mv]
            if mv.sum() < 30 or np.std(d) < 1e-10:
                continue
            x = np.column_stack([np.ones(mv.sum()), ref[v, mv] + alt[v, mv], cov[mv], d])
            fit = sm.OLS(ystar[mv], x).fit()
            if abs(fit.tvalues[-1]) > best[0]:
                best = (abs(fit.tvalues[-1]), fit.df_resid)
        assert got[b] == pytest.approx(2 * stats.t.sf(*best), rel=1e-9)


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


def _scipy_beta_pvalue(p_nominal, p_perm):
    """beta_pvalue as scipy.stats computes it: the fit, its fallback and the CDF."""
    finite = p_perm[np.isfinite(p_perm)]
    clipped = np.clip(finite, 1e-15, 1 - 1e-15)
    with np.errstate(all="ignore"):
        try:
            a, b, _, _ = stats.beta.fit(clipped, floc=0, fscale=1)
        except Exception:
            a, b = 1.0, 1.0
        cdf = stats.beta.cdf(float(np.clip(p_nominal, 1e-15, 1 - 1e-15)), a, b)
    return float(cdf), float(a), float(b)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["beta", "uniform", "constant", "edges", "u-shaped", "few"]),
    size=st.integers(1, 3000),
    p_nominal=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_beta_pvalue__identical_to_scipy_stats_beta_fit(kind, size, p_nominal, seed):
    # kernels/perm.py solves scipy's likelihood equations with scipy's solver and start instead
    # of importing scipy.stats in every worker: the same numbers, bit for bit, fallbacks too
    rng = np.random.default_rng(seed)
    p_perm = {
        "beta": lambda: rng.beta(rng.uniform(0.2, 3), rng.uniform(1, 200), size),
        "uniform": lambda: rng.uniform(size=size),
        "constant": lambda: np.full(size, rng.uniform()),
        "edges": lambda: np.where(rng.random(size) < 0.5, 1e-20, 1 - 1e-17),
        "u-shaped": lambda: rng.beta(0.05, 0.05, size),
        "few": lambda: rng.uniform(size=min(size, 3)),
    }[kind]()
    p_perm[rng.random(p_perm.size) < 0.05] = np.nan
    got = beta_pvalue(p_nominal, p_perm)
    if not np.isfinite(p_perm).any():
        assert np.isnan(got).all()
        return
    want = _scipy_beta_pvalue(p_nominal, p_perm)
    assert np.array_equal(got, want, equal_nan=True)


def test_perm_warm__fork_server_module_imports_no_scipy_stats():
    # scipy.stats costs each perm run 0.4 s before its first permutation
    import subprocess
    import sys

    code = "import sys, segqtl.engine.perm_warm; print('scipy.stats' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@given(
    n=st.integers(0, 50),
    cuts=st.lists(st.integers(0, 30), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=30, deadline=None)
def test_permutation_stream__blocks_do_not_change_the_stream(n, cuts, seed):
    stream = PermutationStream(n, seed)
    got = np.concatenate([stream.take(c) for c in cuts])
    assert got.shape == (sum(cuts), n)
    for row, exp in zip(got, permutations_numpy(n, sum(cuts), seed), strict=True):
        np.testing.assert_array_equal(row, exp)


def _compare_with_numpy(y, cn, cov, alt, ref, pos, lb, ub, n_perm, seed, perm_block, min_samples):
    block = DosageBlock.from_dosages(alt, ref)
    args = (y, cn, cov, block, None, pos, lb, ub)
    kw = dict(n_perm=n_perm, seed=seed, min_samples=min_samples)
    got = max_t_null(*args, **kw, perm_block=perm_block)
    expected = max_t_null_numpy(*args, **kw, perm_block=perm_block)
    assert got.shape == expected.shape == (n_perm,)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-9)


@given(
    seed=st.integers(0, 10_000),
    n=st.integers(35, 90),
    n_var=st.integers(1, 25),
    n_cov=st.integers(0, 3),
    missing=st.sampled_from([0.0, 0.05, 0.2]),
    n_perm=st.integers(1, 150),
    perm_block=st.sampled_from([1, 7, 64, 200]),
    segments=st.booleans(),
)
@settings(max_examples=40, deadline=None)
def test_max_t_null__equals_numpy_reference(
    seed, n, n_var, n_cov, missing, n_perm, perm_block, segments
):
    y, cn, cov, alt, ref, pos, lb, ub = _cohort(seed, n, n_var, n_cov, missing)
    if not segments:  # negative controls: no segment mask
        pos = lb = ub = None
    _compare_with_numpy(y, cn, cov, alt, ref, pos, lb, ub, n_perm, seed, perm_block, 30)


def test_max_t_null__degenerate_variants_as_numpy_reference():
    y, cn, cov, alt, ref, pos, lb, ub = _cohort(11, n=80, n_var=10)
    alt[2], ref[2] = 1.0, 2.0  # variant 2: d constant (filtered)
    alt[3], ref[3] = alt[4], ref[4]  # variants 3 and 4 identical: equal t, the first wins
    alt[5] = np.nan  # variant 5: no observed genotype
    ref[6] = alt[6] + cov[:, 0]  # variant 6: d = a covariate (explained by the design)
    alt[7, 40:] = np.nan  # variant 7: too few samples
    _compare_with_numpy(y, cn, cov, alt, ref, pos, lb, ub, 60, 3, 16, 30)


@pytest.mark.parametrize("kind", ["affine", "sum", "with_s"])
def test_max_t_null__d_in_the_designs_span_leaves_the_null_as_numpy_reference(kind):
    # d exactly a combination of the design's columns: the normal equations leave a residual of
    # rounding noise (about 1e-14 · |d|, above the old Gram-based 1e-20 bound on its square); the
    # variant must be dropped as SegmentQTL drops it (residual norm < 1e-10)
    y, cn, cov, alt, ref, pos, lb, ub = _cohort(12, n=80, n_var=8)
    cov = np.column_stack([cov, np.zeros(80)])
    d1 = ref[1] - alt[1]
    s1 = ref[1] + alt[1]
    if kind == "affine":
        cov[:, -1] = 3.0 * d1 - 2.0
    elif kind == "sum":
        cov[:, -1] = d1 - cov[:, 0]
    else:
        cov[:, -1] = d1 - 0.5 * s1
    cov[np.isnan(d1), -1] = 0.5
    block = DosageBlock.from_dosages(alt, ref)
    _compare_with_numpy(y, cn, cov, alt, ref, pos, lb, ub, 60, 3, 16, 30)
    # and the variant's |t| never is a permutation's maximum: without it, the same null
    mask = np.ones(8, dtype=bool)
    mask[1] = False
    alone = DosageBlock.from_dosages(alt[mask], ref[mask])
    got = max_t_null(y, cn, cov, block, None, pos, lb, ub, n_perm=60, seed=3, perm_block=16)
    without = max_t_null(
        y, cn, cov, alone, None, pos[mask], lb, ub, n_perm=60, seed=3, perm_block=16
    )
    np.testing.assert_allclose(got, without, rtol=1e-12)


def test_max_t_null__missing_phenotype_copy_number_and_covariates_as_numpy_reference():
    y, cn, cov, alt, ref, pos, lb, ub = _cohort(12, n=90, n_var=8)
    y[:10] = np.nan
    cn[10:15] = np.nan
    cov[15:20, 1] = np.nan
    lb[20:25] = np.nan
    _compare_with_numpy(y, cn, cov, alt, ref, pos, lb, ub, 50, 9, 50, 30)


def test_max_t_null__nothing_to_permute_gives_nan():
    y, cn, cov, alt, ref, pos, lb, ub = _cohort(13)
    block = DosageBlock.from_dosages(alt, ref)
    none = np.full_like(y, np.nan)
    assert np.isnan(max_t_null(none, cn, cov, block, None, pos, lb, ub, n_perm=4, seed=1)).all()
    assert max_t_null(y, cn, cov, block, None, pos, lb, ub, n_perm=0, seed=1).shape == (0,)
    empty = DosageBlock.from_dosages(alt[:0], ref[:0])
    got = max_t_null(y, cn, cov, empty, None, pos[:0], lb, ub, n_perm=3, seed=1)
    assert np.isnan(got).all()


def _kernel_inputs(ws, wd, df, yy=20.0):
    """max_abs_t inputs for variants sharing one sample set with ||y||² = yy and no q part."""
    n_var = len(ws)
    yc = np.zeros((2, CHUNK))
    yc[0, 0] = np.sqrt(yy)  # the other columns are padding: y = 0
    w_sd = np.zeros((2 * n_var, CHUNK))
    w_sd[:n_var, 0] = ws
    w_sd[n_var:, 0] = wd
    return dict(
        w_sd=w_sd,
        yc=yc,
        q=np.zeros((2, 1)),
        comp_ptr=np.zeros(2, dtype=np.int64),
        comp_idx=np.zeros(0, dtype=np.int64),
        gid=np.zeros(n_var, dtype=np.int64),
        exc_ptr=np.zeros(n_var + 1, dtype=np.int64),
        exc_idx=np.zeros(0, dtype=np.int64),
        cq_inv=np.zeros((n_var, 1, 1)),
        df=np.asarray(df, dtype=np.float64),
        best_t=np.full(CHUNK, -np.inf),
        best_df=np.ones(CHUNK),
    )


@pytest.mark.parametrize(("order", "winner_df"), [((0, 1), 4.0), ((1, 0), 3.0)])
def test_max_abs_t__first_variant_wins_exact_ties(order, winner_df):
    # t = w_d / sqrt((yy - w_s² - w_d²) / df): 2 / sqrt(16 / 4) = 2 / sqrt(12 / 3) = 1 exactly
    ws, wd, df = np.array([0.0, 2.0]), np.array([2.0, 2.0]), np.array([4.0, 3.0])
    idx = list(order)
    kw = _kernel_inputs(ws[idx], wd[idx], df[idx])
    max_abs_t(**kw)
    assert kw["best_t"][0] == 1.0
    assert kw["best_df"][0] == winner_df


def test_max_abs_t__nonpositive_rss_and_nan_never_win():
    # variant 0: RSS = 0; variant 1: w_d NaN; variant 2: the only valid t = 1 / sqrt(15 / 5)
    kw = _kernel_inputs([0.0, 0.0, 0.0], [4.0, np.nan, 1.0], [5.0, 5.0, 5.0], yy=16.0)
    max_abs_t(**kw)
    assert kw["best_t"][0] == pytest.approx(1 / np.sqrt(3.0), rel=1e-15)
    assert kw["best_df"][0] == 5.0
    assert (kw["best_t"][1:] < 0).all()  # padding columns (y = 0): no valid t


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


@given(
    n=st.integers(0, 50),
    cuts=st.lists(st.integers(0, 30), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
@settings(max_examples=30, deadline=None)
def test_permutation_stream__take_values_is_the_permuted_values(n, cuts, seed, data):
    """Columns offset + values[π_b][at], π_b the reference stream, however the stream is cut
    (and whether a cut takes indices or values)."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=n)
    at = np.sort(data.draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=n if n else 0)))
    at = np.asarray(at, dtype=np.int64)
    offset = rng.normal(size=at.size)
    stream = PermutationStream(n, seed)
    perms = permutations_numpy(n, sum(cuts), seed).astype(np.int64)
    lo = 0
    for i, c in enumerate(cuts):
        if i % 2:  # indices, then values: one stream
            np.testing.assert_array_equal(stream.take(c), perms[lo : lo + c].reshape(c, n))
        else:
            got = np.full((at.size, c), np.nan)
            stream.take_values(got, values, at, offset)
            expected = offset[:, None] + values[perms[lo : lo + c][:, at].T]
            np.testing.assert_array_equal(got, expected)
        lo += c


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 17, 64, 65, 400, 70_000])
def test_interval_masks__smallest_all_ones_at_least_i(n):
    masks = interval_masks(n)
    i = np.arange(n)
    assert masks.shape == (n,)
    assert (masks >= i).all()
    assert ((masks & (masks + 1)) == 0).all()  # 2^k - 1
    assert ((masks >> 1) < np.maximum(i, 1)).all()  # the smallest such: half of it is below i


@pytest.mark.parametrize("n_perm", [CHUNK - 1, CHUNK + 5, 3 * CHUNK])
def test_max_t_null__blocks_of_partial_chunks_as_numpy_reference(n_perm):
    """Blocks whose width is no multiple of the kernel's chunk (padded with zero columns)."""
    y, cn, cov, alt, ref, pos, lb, ub = _cohort(14, n=80, n_var=9, missing=0.2)
    _compare_with_numpy(y, cn, cov, alt, ref, pos, lb, ub, n_perm, 5, n_perm, 30)


def test_max_t_null__reused_scratch_does_not_leak_between_phenotypes():
    """A large phenotype then a small one (the buffers are reused): each as computed alone."""
    big = _cohort(15, n=90, n_var=20)
    small = _cohort(16, n=50, n_var=4)

    def run(c, seed):
        y, cn, cov, alt, ref, pos, lb, ub = c
        block = DosageBlock.from_dosages(alt, ref)
        return max_t_null(y, cn, cov, block, None, pos, lb, ub, n_perm=70, seed=seed)

    alone = run(small, 2)
    run(big, 1)
    np.testing.assert_array_equal(run(small, 2), alone)
    expected = max_t_null_numpy(
        *small[:3],
        DosageBlock.from_dosages(small[3], small[4]),
        None,
        *small[5:],
        n_perm=70,
        seed=2,
        perm_block=70,
    )
    np.testing.assert_allclose(alone, expected, rtol=1e-9)


@pytest.mark.parametrize("n", [1, 2, 20, 70])
def test_shuffle_values__draws_running_out_resume_at_the_permutation(n):
    """The raw draws arrive a few at a time: every call stops at a permutation's start and
    the next one picks it up, so the columns are still the reference stream's."""
    n_cols, seed = 13, 8
    rng = np.random.default_rng(1)
    values = rng.normal(size=n)
    at = np.arange(n - 1, -1, -2, dtype=np.int64)
    offset = rng.normal(size=at.size)
    raw = np.random.default_rng(seed).bit_generator.random_raw(4 * n * n_cols + 8)
    raw32 = raw.view(np.uint32)
    out = np.full((at.size, n_cols), np.nan)
    work, swap = np.empty((8, n)), np.empty(n, dtype=np.int64)
    row = pos = 0
    for available in range(0, raw32.size + 1, 5):
        row, pos = shuffle_values(
            out, row, raw32[:available], pos, values, interval_masks(n), work, swap, at, offset
        )
        if row == n_cols:
            break
    assert row == n_cols
    perms = permutations_numpy(n, n_cols, seed).astype(np.int64)
    np.testing.assert_array_equal(out, offset[:, None] + values[perms[:, at].T])


def test_warm_up__compiles_every_scan_kernel():
    """The fork server's warm-up (segqtl/engine/perm_warm.py) leaves no kernel to compile."""
    import numba

    from segqtl.kernels import nominal_compiled, perm_compiled
    from segqtl.kernels.perm import warm_up

    warm_up()
    kernels = [
        f
        for module in (perm_compiled, nominal_compiled)
        for f in vars(module).values()
        if isinstance(f, numba.core.registry.CPUDispatcher)
    ]
    assert len(kernels) > 1
    cold = {f.__name__ for f in kernels if not f.signatures}
    # shuffle_rows serves permutations() (the permutation indices), which runs do not call;
    # max_abs_t is the generic kernel, for bases above TILED_MAX_K columns; _tiled_kernel
    # (with _update4 and _finish inlined) is compiled into each basis size's entry point; the
    # kernels inline _chunk_sums, _minus4 and _keep_max; the solves inline _lu_solve; the
    # nominal fits' solve is compiled per size like _tiled_kernel (gram_solve_any: above 18)
    inlined = {"_update4", "_finish", "_chunk_sums", "_minus4", "_keep_max", "_lu_solve"}
    inlined |= {"_leading_passes", "_quad_form", "_bounds", "_dot", "_exact_rho"}
    inlined |= {"_variant_products", "_work_arrays", "_four"}
    per_size = {"_tiled_kernel", "_screened_kernel"}
    per_size |= {"_gram_solve_p", "_gram_solve_body", "gram_solve_any"}
    assert cold <= {"shuffle_rows", "max_abs_t", *per_size, *inlined}, cold
    warm = {"masked_products", "batched_solve", "minus_excluded", "shuffle_values"}
    warm |= {"masked_products_many"}
    assert warm.isdisjoint(cold) and "residual_rows" not in cold
    assert nominal_compiled.gram_solve(4).signatures  # the nominal warm-up: 1 + 1 covariate
    assert tiled_max_abs_t(3).signatures  # the warm-up's basis: intercept and 2 covariates
    assert screened_max_abs_t(3).signatures


#: The max-|t| kernels' problem sizes, shared by their property tests.
_KERNEL_SIZES = dict(
    seed=st.integers(0, 10_000),
    k=st.sampled_from([1, 2, 4]),
    n_c=st.integers(12, 60),
    n_grp=st.integers(1, 4),
)


@given(
    **_KERNEL_SIZES,
    n_var=st.integers(1, 30),
    max_exc=st.sampled_from([0, 3, 4, 5, 8, 9, 13]),
    nb=st.sampled_from([1, 5, CHUNK - 1, CHUNK, CHUNK + 3, 3 * CHUNK + 17]),
)
@settings(max_examples=40, deadline=None)
def test_tiled_max_abs_t__equals_generic_kernel(seed, k, n_c, n_var, n_grp, max_exc, nb):
    # any inputs: the two kernels make the same operations in the same order, including
    # variants with 0..13 missing-genotype samples (passes of four, a padded last pass),
    # partial chunks, invalid t (RSS <= 0) and ties; only LLVM's choice of where to fuse a
    # multiply-add may differ (the last bit)
    rng = np.random.default_rng(seed)
    _, kw = _screen_inputs(rng, k, n_c, n_var, n_grp, max_exc, nb, near_ties=False)
    w_sd = rng.normal(size=(2 * n_var, nb))
    w_sd[n_var + 1 :: 3] = w_sd[n_var]  # equal w_d: ties between variants
    kw["w_sd"] = w_sd
    out = {}
    for name, kernel in (("generic", max_abs_t), ("tiled", tiled_max_abs_t(k))):
        best_t, best_df = np.full(nb, -np.inf), np.ones(nb)
        kernel(**kw, best_t=best_t, best_df=best_df)
        out[name] = best_t, best_df
    assume((out["generic"][0] > 0).any())  # some valid t: the comparison is not vacuous
    tiled, generic = out["tiled"][0], out["generic"][0]
    np.testing.assert_array_equal(tiled > 0, generic > 0)
    np.testing.assert_allclose(tiled, generic, rtol=1e-13)
    same = tiled == generic
    # a last-bit difference is rare: at most one permutation in ten (or one in a small block)
    assert (~same).sum() <= max(1, 0.1 * same.size)
    np.testing.assert_array_equal(out["tiled"][1][same], out["generic"][1][same])


def test_tiled_max_abs_t__large_bases_use_the_generic_kernel():
    assert tiled_max_abs_t(TILED_MAX_K + 1) is max_abs_t
    assert tiled_max_abs_t(0) is max_abs_t
    assert tiled_max_abs_t(3) is tiled_max_abs_t(3)  # made once per k


def _screen_inputs(rng, k, n_c, n_var, n_grp, max_exc, nb, near_ties):
    """Inputs of the double-precision and the screened max-|t| kernels: rows ``u`` whose
    products with the permuted phenotypes ``yc`` are w_s and w_d, segment groups,
    missing-genotype lists (0..max_exc per variant), inverse Gram matrices and df."""
    comp = [
        np.sort(rng.choice(n_c, rng.integers(0, n_c // 3), replace=False)) for _ in range(n_grp)
    ]
    gid = rng.integers(0, n_grp, n_var)
    n_exc = min(max_exc, n_c // 3)  # comp and exc leave at least a third of the samples
    exc = [np.sort(rng.choice(n_c, rng.integers(0, n_exc + 1), replace=False)) for _ in gid]
    u = rng.normal(size=(2 * n_var, n_c)) / np.sqrt(n_c)
    if near_ties:
        # variants 1.. copy variant 0 up to relative 1e-7: their t differ by about as much,
        # far below what the float32 products resolve (all are computed exactly) and far above
        # the rounding of the exact t (a wrong winner fails the comparison)
        gid[:] = gid[0]
        exc = [exc[0]] * n_var
        u[1:n_var] = u[0] * (1 + 1e-7 * rng.normal(size=(n_var - 1, 1)))
        u[n_var + 1 :] = u[n_var] * (1 + 1e-7 * rng.normal(size=(n_var - 1, 1)))
    yc = rng.normal(size=(n_c, nb)) * 2.0
    cq = np.stack([(lambda a: a @ a.T)(rng.normal(size=(k, k)) * 0.2) for _ in gid])
    if near_ties:
        cq[:] = cq[0]
    return u, dict(
        yc=yc,
        q=rng.normal(size=(n_c, k)) * 0.3,
        comp_ptr=np.cumsum([0] + [c.size for c in comp]).astype(np.int64),
        comp_idx=np.concatenate(comp).astype(np.int64),
        gid=gid.astype(np.int64),
        exc_ptr=np.cumsum([0] + [e.size for e in exc]).astype(np.int64),
        exc_idx=np.concatenate(exc).astype(np.int64),
        cq_inv=cq,
        df=np.full(n_var, float(n_c)) if near_ties else rng.integers(1, 50, n_var) * 1.0,
    )


@given(
    **_KERNEL_SIZES,
    n_var=st.integers(2, 30),
    max_exc=st.sampled_from([0, 3, 4, 5, 9]),
    nb=st.sampled_from([1, 5, CHUNK + 3, 2 * CHUNK + 17]),
    near_ties=st.booleans(),
)
@settings(max_examples=40, deadline=None)
def test_screened_max_abs_t__same_maximum_as_double_precision(
    seed, k, n_c, n_var, n_grp, max_exc, nb, near_ties
):
    # the float32 products only choose which t to compute exactly: the maxima are the double
    # precision kernel's up to the order of the products' sums (relative 1e-11: t near 10 on
    # a dozen samples leaves an RSS small against ||y||², which magnifies that rounding), also
    # among near-ties
    rng = np.random.default_rng(seed)
    u, kw = _screen_inputs(rng, k, n_c, n_var, n_grp, max_exc, nb, near_ties)
    yc = kw["yc"]
    exact_t, exact_df = np.full(nb, -np.inf), np.ones(nb)
    tiled_max_abs_t(k)(w_sd=u @ yc, **kw, best_t=exact_t, best_df=exact_df)
    w32 = u.astype(np.float32) @ yc.astype(np.float32)
    norm_u = np.sqrt((u * u).sum(axis=1).max())
    delta = float32_product_bound(n_c) * norm_u * np.sqrt((yc * yc).sum(axis=0))
    assert (np.abs(w32 - u @ yc) <= delta).all()  # the bound holds
    best_t, best_df = np.full(nb, -np.inf), np.ones(nb)
    n_exact = screened_max_abs_t(k)(w32, 1.0, u, delta, **kw, best_t=best_t, best_df=best_df)
    assume((exact_t > 0).any())
    np.testing.assert_array_equal(best_t > 0, exact_t > 0)
    # (atol: a t near 0 is a small difference of products; their rounding is absolute)
    np.testing.assert_allclose(best_t, exact_t, rtol=1e-11, atol=1e-12)
    assert nb <= n_exact <= n_var * nb  # each permutation's best computed exactly, at least
    np.testing.assert_array_equal(best_df, exact_df)


def test_screened_max_abs_t__first_variant_wins_exact_ties():
    # as test_max_abs_t__first_variant_wins_exact_ties, with the products made by u · y*
    # (y* = (4, 0), so w = 4 u exactly): t = 2 / sqrt(12 / 3) = 2 / sqrt(8 / 2) = 1
    for order, winner_df in (((0, 1), 3.0), ((1, 0), 2.0)):
        ws, wd, df = np.array([0.0, 2.0]), np.array([2.0, 2.0]), np.array([3.0, 2.0])
        idx = list(order)
        u = np.zeros((4, 2))
        u[:2, 0] = ws[idx] / 4
        u[2:, 0] = wd[idx] / 4
        kw = _kernel_inputs(ws[idx], wd[idx], df[idx], yy=16.0)
        del kw["w_sd"]
        yc = kw["yc"]
        w32 = (u @ yc).astype(np.float32)
        delta = float32_product_bound(2) * np.sqrt((yc * yc).sum(axis=0))
        screened_max_abs_t(1)(w32, 1.0, u, delta, **kw)
        assert kw["best_t"][0] == 1.0
        assert kw["best_df"][0] == winner_df


@given(
    n=st.integers(1, 2000),
    seed=st.integers(0, 10_000),
    shape=st.sampled_from(["normal", "positive", "spread"]),
)
@settings(max_examples=60, deadline=None)
def test_float32_product_bound__holds_for_blas_products(n, seed, shape):
    # float32 BLAS products of float64 vectors (rounded) against the exact products (fsum of
    # the float64 terms, exact to one rounding): the error stays within g ||x|| ||y||, also for
    # all-positive terms (no cancellation to hide behind) and widely spread magnitudes
    import math

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(8, n))
    y = rng.normal(size=(n, 3))
    if shape == "positive":
        x, y = np.abs(x) + 1.0, np.abs(y) + 1.0
    elif shape == "spread":
        x *= 10.0 ** rng.integers(-6, 6, size=(1, n))
    got = x.astype(np.float32) @ y.astype(np.float32)
    g = float32_product_bound(n)
    for i in range(8):
        for j in range(3):
            exact = math.fsum(x[i] * y[:, j])  # products exact to float64 rounding: << g
            bound = g * np.linalg.norm(x[i]) * np.linalg.norm(y[:, j])
            assert abs(float(got[i, j]) - exact) <= bound


def test_max_t_null__duplicate_variants_fall_back_to_double_precision(monkeypatch):
    """Every variant a copy of one: all t tie in every permutation, so the screen computes
    them all exactly; after the first block the scan takes double-precision products."""
    from segqtl.kernels import perm_compiled

    y, cn, cov, alt, ref, pos, lb, ub = _cohort(17, n=90, n_var=12, missing=0.0)
    alt[:] = alt[0]
    ref[:] = ref[0]
    lb[:] = 0.0  # one segment group: identical masks
    ub[:] = 1e9
    calls = []
    real = perm_compiled.tiled_max_abs_t

    def counting(k):
        kernel = real(k)

        def run(*args):
            calls.append(args[0].shape[1])
            return kernel(*args)

        return run

    monkeypatch.setattr(perm_compiled, "tiled_max_abs_t", counting)
    block = DosageBlock.from_dosages(alt, ref)
    got = max_t_null(y, cn, cov, block, None, pos, lb, ub, n_perm=50, seed=4, perm_block=20)
    assert calls == [20, 10]  # the first block screened, the two others in double precision
    monkeypatch.setattr(perm_compiled, "tiled_max_abs_t", real)
    plain = max_t_null(
        y, cn, cov, block, None, pos, lb, ub, n_perm=50, seed=4, perm_block=20, screen=False
    )
    np.testing.assert_allclose(got, plain, rtol=1e-13)
    expected = max_t_null_numpy(y, cn, cov, block, None, pos, lb, ub, n_perm=50, seed=4)
    np.testing.assert_allclose(got, expected, rtol=1e-9)


@pytest.mark.parametrize("scale", [2.0**-60, 0.5, 3.0, 1e-20, 1e-300, 1e100])
def test_max_t_null__free_of_the_phenotypes_scale(scale):
    # t is scale-free: the null equals the unscaled one (bit for bit under a power of two),
    # also for phenotypes in units so small that σ was below the scan's floor of 1e-15
    y, cn, cov, alt, ref, pos, lb, ub = _cohort(18, n=80, n_var=15)
    block = DosageBlock.from_dosages(alt, ref)
    kw = dict(n_perm=200, seed=7, perm_block=64)
    base = max_t_null(y, cn, cov, block, None, pos, lb, ub, **kw)
    got = max_t_null(y * scale, cn, cov, block, None, pos, lb, ub, **kw)
    assert np.isfinite(got).all()
    if np.frexp(scale)[0] == 0.5:  # a power of two
        np.testing.assert_array_equal(got, base)
    np.testing.assert_allclose(got, base, rtol=1e-12)


@pytest.mark.parametrize("scale", [1e-300, 1e-40, 1e-12, 1e-5, 1e20, 1e35, 1e40, 1e120])
def test_max_t_null__screen_holds_at_any_phenotype_scale(scale):
    """The screened scan equals the double-precision one at any phenotype scale: float32
    products of a tiny phenotype would underflow and of a huge one overflow (the products are
    taken on the phenotypes scaled by a power of two)."""
    y, cn, cov, alt, ref, pos, lb, ub = _cohort(18, n=80, n_var=15)
    block = DosageBlock.from_dosages(alt, ref)
    args = (y * scale, cn, cov, block, None, pos, lb, ub)
    kw = dict(n_perm=300, seed=7, perm_block=128)
    plain = max_t_null(*args, **kw, screen=False)
    got = max_t_null(*args, **kw)
    assert np.isfinite(plain).sum() > 250  # the σ floor is relative (perm.unit_scale)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(plain))
    np.testing.assert_allclose(got, plain, rtol=1e-12)
