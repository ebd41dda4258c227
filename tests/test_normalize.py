"""--normalize rank-inverse-normal: the transform (against scipy's definitions) and runs that
equal runs on a cohort whose phenotype file was transformed beforehand
(docs/methods.md#phenotype-normalisation)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from segqtl import api
from segqtl.kernels.normalize import normalize_rows, rank_inverse_normal
from segqtl.spec import RunSpec

from .conftest import cohort_kwargs


def _blom(values: np.ndarray) -> np.ndarray:
    """Blom's transform written out: average ranks among the observed values."""
    out = np.full(values.shape, np.nan)
    seen = ~np.isnan(values)
    x = values[seen]
    ranks = np.array([np.sum(x < v) + (np.sum(x == v) + 1) / 2 for v in x])
    out[seen] = stats.norm.ppf((ranks - 3 / 8) / (x.size + 1 / 4))
    return out


def test_rank_inverse_normal__equals_blom_with_ties_and_missing_values():
    y = np.array([3.0, np.nan, 1.0, 3.0, 7.5, -2.0, np.nan, 3.0, 0.1])
    np.testing.assert_allclose(rank_inverse_normal(y), _blom(y), rtol=1e-14, equal_nan=True)
    assert np.isnan(rank_inverse_normal(np.full(3, np.nan))).all()
    np.testing.assert_array_equal(normalize_rows(np.ones((2, 3)), "none"), np.ones((2, 3)))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(np.nan)), min_size=1, max_size=60))
def test_rank_inverse_normal__order_kept_missing_kept_symmetric(values):
    y = np.array(values, dtype=float)
    z = rank_inverse_normal(y)
    seen = ~np.isnan(y)
    assert (np.isnan(z) == ~seen).all()
    order = np.argsort(y[seen], kind="stable")
    assert np.all(np.diff(z[seen][order]) >= -1e-12)  # monotone in y
    if np.unique(y[seen]).size == seen.sum():  # without ties, Blom's scores sum to zero
        assert abs(np.sum(z[seen])) < 1e-9 * max(1, seen.sum())


@pytest.fixture(scope="module")
def two_cohorts(tmp_path_factory, small_cohort):
    """'raw' as simulated, and 'pre' whose phenotype file holds the transformed values."""
    out = tmp_path_factory.mktemp("normalize")
    db = out / "wh.duckdb"
    api.ingest(db, "raw", **cohort_kwargs(small_cohort))
    with open(small_cohort.quantifications) as fh:
        rows = list(csv.reader(fh))
    for row in rows[1:]:
        y = np.array([float(v) if v not in ("", "NA") else np.nan for v in row[4:]])
        row[4:] = ["" if np.isnan(v) else repr(float(v)) for v in rank_inverse_normal(y)]
    pre = out / "quantifications.csv"
    with open(pre, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    api.ingest(db, "pre", **{**cohort_kwargs(small_cohort), "quantifications": pre})
    return db


@pytest.mark.parametrize(
    "mode,extra",
    [("nominal", {"all_variants": True}), ("perm", {"num_permutations": 50})],
)
def test_normalize__run_equals_a_run_on_the_transformed_file(two_cohorts, mode, extra):
    db = two_cohorts
    common = dict(mode=mode, chromosomes=["1", "2"], **extra)
    a = api.run(db, RunSpec(cohort="raw", normalize="rank-inverse-normal", **common))
    b = api.run(db, RunSpec(cohort="pre", **common))
    sql = (
        "SELECT phenotype, variant, status, number_of_samples, beta_d, se_d, nominal_p, p_adj "
        "FROM nominal_results WHERE run_id = $r ORDER BY chr, phenotype_idx, variant_idx"
    )
    got, want = api.query(db, sql, {"r": a}), api.query(db, sql, {"r": b})
    assert got.height == want.height > 20
    assert got.select("phenotype", "variant", "status", "number_of_samples").equals(
        want.select("phenotype", "variant", "status", "number_of_samples")
    )
    for c in ("beta_d", "se_d", "nominal_p", "p_adj"):
        np.testing.assert_allclose(got[c].to_numpy(), want[c].to_numpy(), rtol=1e-10)
    recorded = api.query(
        db, "SELECT value FROM run_parameters WHERE run_id = $r AND key = 'normalize'", {"r": a}
    )
    assert recorded["value"].item() == '"rank-inverse-normal"'
