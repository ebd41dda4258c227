"""NpyRows: the scratch genotype files written by positioned writes (no memory map)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from segqtl.warehouse.reads import NpyRows


@settings(max_examples=40, deadline=None)
@given(
    n_rows=st.integers(1, 60),
    n_cols=st.integers(1, 7),
    cuts=st.lists(st.integers(0, 60), max_size=6),
    data=st.data(),
)
def test_npy_rows__writes_in_any_batches_read_back_as_the_array(
    tmp_path_factory, n_rows, n_cols, cuts, data
):
    path = tmp_path_factory.mktemp("npy") / "a.npy"
    rng = np.random.default_rng(n_rows * 100 + n_cols)
    want = rng.normal(size=(n_rows, n_cols))
    want[rng.random(want.shape) < 0.1] = np.nan
    rows = NpyRows(str(path), np.float64, want.shape)
    # batches of rows in order, each with gaps allowed (runs of consecutive rows)
    order = np.arange(n_rows)
    for part in np.split(order, sorted({c % (n_rows + 1) for c in cuts})):
        keep = part[data.draw(st.lists(st.booleans(), min_size=part.size, max_size=part.size))]
        rows.write(keep, want[keep].ravel())
        rows.write(np.setdiff1d(part, keep), want[np.setdiff1d(part, keep)].ravel())
    rows.close()
    got = np.load(path, mmap_mode="r")
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_npy_rows__one_dimensional_positions(tmp_path):
    path = tmp_path / "pos.npy"
    want = np.array([5, 17, 23, 99, 1_000_000_000_000], dtype=np.int64)
    rows = NpyRows(str(path), np.int64, want.shape)
    rows.write(np.array([3, 4]), want[3:])
    rows.write(np.array([0, 1, 2]), want[:3])
    rows.close(sync=True)
    np.testing.assert_array_equal(np.load(path), want)
