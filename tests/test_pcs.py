"""--phenotype-pcs / --genotype-pcs: the components (against numpy's SVD and scikit-learn's PCA
on the input files), their table, and runs equal to runs with the PCs in the covariates file."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import PCA

from segqtl import api
from segqtl.kernels.pcs import GramAccumulator, gram_pcs, phenotype_pcs, standardize
from segqtl.spec import RunSpec

from .conftest import cohort_kwargs


def _read(path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def _num(v: str) -> float:
    return np.nan if v in ("", "NA") else float(v)


def _svd_scores(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """PCs written out: standardise each feature over its observed samples (missing = mean),
    SVD of the (samples x features) matrix, scores U S, largest |score| positive."""
    keep, rows = [], []
    for row in x:
        seen = ~np.isnan(row)
        if seen.sum() < 2 or np.std(row[seen]) == 0:
            continue
        z = np.where(seen, row - row[seen].mean(), 0.0)
        rows.append(z / row[seen].std(ddof=1))
        keep.append(True)
    z = np.array(rows).T  # (n, f)
    u, s, _ = np.linalg.svd(z, full_matrices=False)
    scores = (u[:, :k] * s[:k]).T
    lead = scores[np.arange(k), np.argmax(np.abs(scores), axis=1)]
    return scores * np.sign(lead)[:, None], s[:k] ** 2 / np.sum(s**2)


def test_phenotype_pcs__equal_svd_and_sklearn_pca():
    rng = np.random.default_rng(3)
    y = rng.normal(size=(50, 30)) + rng.normal(size=(1, 30)) * rng.normal(size=(50, 1))
    y[rng.random(y.shape) < 0.05] = np.nan
    y[4] = 2.0  # a constant phenotype is left out
    scores, ratio = phenotype_pcs(y, 3)
    want, want_ratio = _svd_scores(y, 3)
    np.testing.assert_allclose(scores, want, atol=1e-10)
    np.testing.assert_allclose(ratio, want_ratio, rtol=1e-10)
    ref = PCA(3).fit(standardize(y).T)
    np.testing.assert_allclose(ratio, ref.explained_variance_ratio_, rtol=1e-10)


@settings(max_examples=25, deadline=None)
@given(st.integers(5, 40), st.integers(3, 60), st.integers(1, 4), st.integers(0, 2**31))
def test_gram_pcs__equal_phenotype_pcs_whatever_the_blocks(n, f, k, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(f, n))
    x[rng.random(x.shape) < 0.1] = np.nan
    usable = standardize(x).shape[0]
    k = min(k, n - 1, usable - 1)  # check_components: at most n - 1 and features - 1
    if k < 1:
        return
    acc = GramAccumulator(n)
    cuts = np.sort(rng.choice(np.arange(1, f), size=min(2, f - 1), replace=False))
    for part in np.split(x, cuts):
        acc.add(part)
    a, ra = gram_pcs(acc, k)
    b, rb = phenotype_pcs(x, k)
    # equal up to rounding; components of (nearly) equal eigenvalues may rotate, so compare
    # the well-separated ones only
    eig = rb * np.trace(acc.gram)
    gaps = np.abs(np.diff(np.concatenate([[np.inf], eig, [0.0]])))
    sep = np.minimum(gaps[:-1], gaps[1:]) > 1e-6 * max(eig[0], 1e-300)
    np.testing.assert_allclose(ra, rb, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(a[sep], b[sep], atol=1e-7 * max(1.0, np.abs(b).max()))


def test_pcs__too_many_components_is_refused():
    with pytest.raises(ValueError, match="at most 4"):
        phenotype_pcs(np.random.default_rng(0).normal(size=(10, 5)), 5)
    # as many components as phenotypes would fit every phenotype exactly by its own PCs
    with pytest.raises(ValueError, match="at most 2"):
        phenotype_pcs(np.random.default_rng(0).normal(size=(3, 10)), 3)


def test_pcs__computed_with_one_blas_thread(warehouse, monkeypatch):
    # the components must not depend on the core count: shards on other machines make the same
    # derived cohort (same name and checksum) and must get the same covariates
    from threadpoolctl import threadpool_info, threadpool_limits

    from segqtl.warehouse import derive

    seen = []
    real = derive._pc_components

    def spy(*args, **kwargs):
        seen.append({lib["internal_api"]: lib["num_threads"] for lib in threadpool_info()})
        return real(*args, **kwargs)

    monkeypatch.setattr(derive, "_pc_components", spy)
    db, _ = warehouse
    with threadpool_limits(2):  # whatever the caller allows (a machine of one core included)
        api.run(db, RunSpec(cohort="small", mode="nominal", chromosomes=["1"], genotype_pcs=2))
    assert len(seen) == 1 and seen[0] and set(seen[0].values()) == {1}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, small_cohort):
    out = tmp_path_factory.mktemp("pcs")
    db = out / "wh.duckdb"
    api.ingest(db, "small", **cohort_kwargs(small_cohort))
    return db, out


def test_pcs__stored_components_equal_svd_of_the_input_files(warehouse, small_cohort):
    db, _ = warehouse
    run = api.run(
        db,
        RunSpec(
            cohort="small",
            mode="nominal",
            chromosomes=["1", "2"],
            phenotype_pcs=3,
            genotype_pcs=2,
        ),  # fmt: skip
    )
    cohort = api.query(db, "SELECT cohort FROM runs WHERE run_id = $r", {"r": run})["cohort"][0]
    stored = api.query(
        db,
        'SELECT kind, pc, covariate, explained_variance_ratio AS ratio, "values" FROM '
        "cohort_pcs WHERE cohort = $c ORDER BY kind DESC, pc",
        {"c": cohort},
    )
    assert stored["covariate"].to_list() == [
        "phenotype_PC1", "phenotype_PC2", "phenotype_PC3", "genotype_PC1", "genotype_PC2",
    ]  # fmt: skip
    quant = _read(small_cohort.quantifications)
    # the warehouse orders phenotypes by chromosome, then file order
    y = np.array([[_num(v) for v in r[4:]] for r in sorted(quant[1:], key=lambda r: r[0])])
    want, want_ratio = _svd_scores(y, 3)
    got = np.array(stored.filter(stored["kind"] == "phenotype")["values"].to_list())
    np.testing.assert_allclose(got, want, atol=1e-9)
    np.testing.assert_allclose(
        stored.filter(stored["kind"] == "phenotype")["ratio"].to_numpy(), want_ratio, rtol=1e-9
    )
    d = []
    for chrom in ("chr1", "chr2"):
        alt = _read(Path(small_cohort.genotypes) / f"{chrom}_ALTlr.csv")[1:]
        ref = _read(Path(small_cohort.genotypes) / f"{chrom}_REFlr.csv")[1:]
        d += [[_num(b) - _num(a) for a, b in zip(ra[1:], rr[1:], strict=True)]
              for ra, rr in zip(alt, ref, strict=True)]  # fmt: skip
    want_g, want_g_ratio = _svd_scores(np.array(d), 2)
    got_g = np.array(stored.filter(stored["kind"] == "genotype")["values"].to_list())
    np.testing.assert_allclose(got_g, want_g, atol=1e-8)
    np.testing.assert_allclose(
        stored.filter(stored["kind"] == "genotype")["ratio"].to_numpy(), want_g_ratio, rtol=1e-8
    )
    # the long view: one row per sample and component, in sample order
    long = api.query(
        db,
        "SELECT sample_id, value FROM sample_pcs WHERE cohort = $c AND covariate = 'phenotype_PC1'",
        {"c": cohort},
    )
    assert long["sample_id"].to_list() == quant[0][4:]
    np.testing.assert_array_equal(long["value"].to_numpy(), got[0])
    params = dict(
        api.query(db, "SELECT key, value FROM run_parameters WHERE run_id = $r", {"r": run}).rows()
    )
    assert params["phenotype_pcs"] == "3" and params["genotype_pcs"] == "2"


@pytest.mark.parametrize("mode,extra", [("perm", {"num_permutations": 40})])
def test_pcs__run_equals_a_run_with_the_pcs_in_the_covariates_file(
    warehouse, small_cohort, mode, extra
):
    db, out = warehouse
    spec = dict(mode=mode, chromosomes=["1", "2"], **extra)
    a = api.run(
        db, RunSpec(cohort="small", phenotype_pcs=2, normalize="rank-inverse-normal", **spec)
    )
    cohort = api.query(db, "SELECT cohort FROM runs WHERE run_id = $r", {"r": a})["cohort"][0]
    pcs = api.query(
        db, 'SELECT covariate, "values" FROM cohort_pcs WHERE cohort = $c ORDER BY pc',
        {"c": cohort},
    )  # fmt: skip
    rows = _read(small_cohort.covariates)
    rows += [[name, *(repr(float(v)) for v in values)] for name, values in pcs.rows()]
    path = out / "covariates_with_pcs.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    api.ingest(db, "with_pcs", **{**cohort_kwargs(small_cohort), "covariates": path})
    b = api.run(db, RunSpec(cohort="with_pcs", normalize="rank-inverse-normal", **spec))
    sql = (
        "SELECT phenotype, variant, status, number_of_samples, beta_d, se_d, nominal_p, p_adj "
        "FROM perm_results WHERE run_id = $r ORDER BY chr, phenotype_idx"
    )
    got, want = api.query(db, sql, {"r": a}), api.query(db, sql, {"r": b})
    assert got.height == 24 and got.equals(want)
