"""The shared segment rule (segqtl.kernels.segments, docs/methods.md#segment-mask).

``segment_mask`` replaced two copies (one in the nominal kernel, one in the finemap kernel);
the property tests hold it bit-identical to both former formulations, and the nominal kernel's
grouped masks to it.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from segqtl.kernels.nominal import DosageBlock, mask_variants
from segqtl.kernels.segments import sample_bounds, segment_mask


def _former_nominal_mask(pos, lb, ub):
    """segqtl.kernels.nominal.segment_mask before the merge."""
    p = pos.astype(np.float64)[:, None]
    with np.errstate(invalid="ignore"):
        return (p >= lb[None, :]) & (p <= ub[None, :])


def _former_finemap_mask(pos, lb, ub):
    """segqtl.kernels.finemap.segment_mask before the merge."""
    pos = np.asarray(pos, dtype=np.float64)[:, None]
    with np.errstate(invalid="ignore"):
        return (pos >= lb[None, :]) & (pos <= ub[None, :])


_BOUND = st.one_of(
    st.floats(-1e10, 1e10, allow_nan=False),
    st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 100.0, 100.5]),
)


@st.composite
def _inputs(draw):
    n = draw(st.integers(0, 12))
    pos = draw(arrays(np.int64, st.integers(0, 10), elements=st.integers(-5, 3_000_000_000)))
    lb = draw(arrays(np.float64, n, elements=_BOUND))
    ub = draw(arrays(np.float64, n, elements=_BOUND))
    return pos, lb, ub


@settings(max_examples=300, deadline=None)
@given(_inputs())
def test_segment_mask__bit_identical_to_both_former_copies(args):
    pos, lb, ub = args
    got = segment_mask(pos, lb, ub)
    assert got.dtype == np.bool_ and got.shape == (pos.size, lb.size)
    np.testing.assert_array_equal(got, _former_nominal_mask(pos, lb, ub))
    np.testing.assert_array_equal(got, _former_finemap_mask(pos, lb, ub))


def test_segment_mask__accepts_lists_and_memmap_like_positions():
    lb, ub = np.array([0.0, 15.0]), np.array([20.0, np.nan])
    want = np.array([[True, False], [True, False]])
    np.testing.assert_array_equal(segment_mask([10, 20], lb, ub), want)
    np.testing.assert_array_equal(
        segment_mask(np.array([10, 20]), [0.0, 15.0], [20.0, np.nan]), want
    )


def test_segment_mask__inclusive_bounds_and_unsegmented_samples():
    pos = np.array([10, 20, 30])
    lb = np.array([10.0, 15.0, np.nan])
    ub = np.array([20.0, 40.0, np.nan])
    expected = np.array([[True, False, False], [True, True, False], [False, True, False]])
    np.testing.assert_array_equal(segment_mask(pos, lb, ub), expected)


def test_segment_mask__closed_interval_and_nan_bounds():
    pos = np.array([10, 20, 30, 40])
    lb = np.array([10.0, 20.0, np.nan, 5.0, 15.0, -np.inf])
    ub = np.array([20.0, 30.0, 40.0, np.nan, 35.0, np.inf])
    got = segment_mask(pos, lb, ub)
    want = np.array(
        [
            [True, False, False, False, False, True],  # 10: == lb of sample 0
            [True, True, False, False, True, True],  # 20: == ub of 0, == lb of 1
            [False, True, False, False, True, True],  # 30: == ub of 1
            [False, False, False, False, False, True],
        ]
    )
    assert got.dtype == np.bool_
    assert got.shape == (4, 6)
    np.testing.assert_array_equal(got, want)


def test_segment_mask__large_positions_exact():
    pos = np.array([248_956_422, 248_956_421, 248_956_423], dtype=np.int64)
    lb = np.array([248_956_422.0, 0.0])
    ub = np.array([np.inf, 248_956_422.0])
    np.testing.assert_array_equal(
        segment_mask(pos, lb, ub), [[True, True], [False, True], [True, False]]
    )


def test_sample_bounds__scatters_bounds_and_leaves_other_samples_nan():
    lb, ub = sample_bounds(6, np.array([4, 1, 2]), np.array([10, 20, 30]), np.array([11.5, 21, 31]))
    assert lb.dtype == ub.dtype == np.float64 and lb.shape == ub.shape == (6,)
    np.testing.assert_array_equal(lb, [np.nan, 20.0, 30.0, np.nan, 10.0, np.nan])
    np.testing.assert_array_equal(ub, [np.nan, 21.0, 31.0, np.nan, 11.5, np.nan])
    lb, ub = sample_bounds(3, np.array([], dtype=np.int64), np.empty(0), np.empty(0))
    assert np.isnan(lb).all() and np.isnan(ub).all()


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(1, 30))
def test_sample_bounds__equals_the_former_engine_construction(seed, n, m):
    rng = np.random.default_rng(seed)
    idx = rng.choice(n, size=min(m, n), replace=False)
    b_lb = rng.integers(0, 10_000, idx.size).astype(np.float64)
    b_ub = b_lb + rng.integers(0, 5_000, idx.size)
    want_lb = np.full(n, np.nan)
    want_ub = np.full(n, np.nan)
    want_lb[idx] = b_lb
    want_ub[idx] = b_ub
    lb, ub = sample_bounds(n, idx, b_lb, b_ub)
    np.testing.assert_array_equal(lb, want_lb)
    np.testing.assert_array_equal(ub, want_ub)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(1, 25))
def test_mask_variants__each_variant_mask_is_the_segment_mask(seed, n, n_var):
    rng = np.random.default_rng(seed)
    alt = rng.random((n_var, n))
    alt[rng.random((n_var, n)) < 0.1] = np.nan
    block = DosageBlock.from_dosages(alt, rng.random((n_var, n)))
    pos = np.sort(rng.integers(0, 1_000, n_var))
    lb = rng.integers(0, 600, n).astype(np.float64)
    ub = lb + rng.integers(0, 600, n)
    lb[rng.random(n) < 0.2] = np.nan
    ub[rng.random(n) < 0.1] = np.inf
    base = rng.random(n) < 0.9
    base &= ~np.isnan(lb) & ~np.isnan(ub)  # as nominal_scan_block builds it
    mv = mask_variants(block, None, base, pos, lb, ub)
    want = base & segment_mask(pos, lb, ub) & block.observed
    for v in range(n_var):
        np.testing.assert_array_equal(mv.mask(v), want[v])
