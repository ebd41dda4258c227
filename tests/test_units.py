"""Typed unit payloads (segqtl.engine.units): the decoder against a direct construction, and
the payload builders' slices against the warehouse."""

from __future__ import annotations

import dataclasses
import pickle
from contextlib import closing

import numpy as np
import polars as pl
import pytest

from segqtl.engine.units import (
    CohortSlice,
    GenotypeFiles,
    NominalParams,
    UnitCohort,
    UnitPayload,
    params_from_spec,
)
from segqtl.kernels.finemap import FinemapParams
from segqtl.kernels.nominal import DosageBlock
from segqtl.spec import RunSpec
from segqtl.warehouse import reads
from segqtl.warehouse.db import connect
from segqtl.warehouse.runs import Unit

N, V = 6, 8  # samples, variants on the chromosome


def _lists(matrix: np.ndarray) -> list:
    """Rows as lists with None for NaN (as DuckDB hands them over)."""
    return [[None if np.isnan(x) else float(x) for x in row] for row in matrix]


@pytest.fixture()
def handmade(tmp_path):
    """A slice of three phenotypes built by hand, with its expected decoded arrays."""
    rng = np.random.default_rng(3)
    alt = rng.normal(size=(V, N))
    ref = rng.normal(size=(V, N))
    alt[2, 1] = np.nan
    pos = np.arange(V, dtype=np.int64) * 100 + 1000
    paths = {}
    for name, arr in (("alt", alt), ("ref", ref), ("pos", pos)):
        paths[name] = str(tmp_path / f"chr1.{name}.npy")
        np.save(paths[name], arr)
    files = GenotypeFiles("chr1", paths["alt"], paths["ref"], paths["pos"], V)

    y = rng.normal(size=(3, N))
    y[1, 4] = np.nan
    cn = rng.normal(size=(3, N))
    pcov = rng.normal(size=(3, N))
    cov = rng.normal(size=(2, N))
    phen = pl.DataFrame(
        {
            "phenotype_idx": [4, 5, 7],
            "gene_id": ["G4", "G5", "G7"],
            "values": _lists(y),
            "pcov": [_lists(pcov)[0], None, _lists(pcov)[2]],
            "cn": [None, *_lists(cn)[1:]],
        },
        schema_overrides={f: pl.List(pl.Float64) for f in ("values", "pcov", "cn")},
    )
    covariates = pl.DataFrame({"name": ["age", "sex"], "values": _lists(cov)})
    pairs = pl.DataFrame(
        {"phenotype_idx": [4, 4, 4, 5, 7, 7], "variant_idx": [1, 2, 6, 2, 6, 7]},
        schema={"phenotype_idx": pl.Int32, "variant_idx": pl.Int32},
    )
    bounds = pl.DataFrame(
        {
            "phenotype_idx": [4, 4, 5, 7],
            "sample_idx": [0, 3, 5, 2],
            "lb": [900, 1100, 1000, 1500],
            "ub": [2000, 1700, 1300, 1900],
        },
        schema={"phenotype_idx": pl.Int32, "sample_idx": pl.Int32, "lb": pl.Int64, "ub": pl.Int64},
    )
    rows = np.array([1, 2, 6, 7])
    cohort = CohortSlice(
        cohort="c",
        n_samples=N,
        phenotypes=phen,
        covariates=covariates,
        genotypes=files,
        rows=rows,
        pairs=pairs,
        bounds=bounds,
        variant_ids=[f"v{i}" for i in rows],
    )
    expected = dict(alt=alt, ref=ref, pos=pos, y=y, cn=cn, pcov=pcov, cov=cov, rows=rows)
    return cohort, expected


def test_unit_cohort__matches_direct_construction(handmade):
    cohort, e = handmade
    dec = UnitCohort(cohort)
    assert dec.n == N and dec.idx.tolist() == [4, 5, 7]
    np.testing.assert_array_equal(dec.y, e["y"])
    assert dec.cn_present.tolist() == [False, True, True]
    assert dec.pcov_present.tolist() == [True, False, True]
    assert np.isnan(dec.cn[0]).all() and np.isnan(dec.pcov[1]).all()
    np.testing.assert_array_equal(dec.cn[1:], e["cn"][1:])
    np.testing.assert_array_equal(dec.pcov[[0, 2]], e["pcov"][[0, 2]])
    np.testing.assert_array_equal(dec.cov, e["cov"])
    assert cohort.covariate_names == ["age", "sex"] and dec.ids == ["v1", "v2", "v6", "v7"]

    # windows: positions in rows of each phenotype's pairs
    assert [dec.window(i).tolist() for i in range(3)] == [[0, 1, 2], [1], [2, 3]]
    # bounds: NaN for samples without a segment
    lb, ub = dec.bounds(0)
    want_lb = np.full(N, np.nan)
    want_ub = np.full(N, np.nan)
    want_lb[[0, 3]] = [900, 1100]
    want_ub[[0, 3]] = [2000, 1700]
    np.testing.assert_array_equal(lb, want_lb)
    np.testing.assert_array_equal(ub, want_ub)
    assert lb.dtype == np.float64

    # genotypes as finemap takes them ...
    d, pos = dec.differences()
    np.testing.assert_array_equal(d, e["ref"][e["rows"]] - e["alt"][e["rows"]])
    np.testing.assert_array_equal(pos, e["pos"][e["rows"]])
    assert dec.differences()[0] is d  # read once
    # ... and as nominal takes them
    block, vidx, bpos = dec.block()
    want = DosageBlock.from_dosages(e["alt"][e["rows"]], e["ref"][e["rows"]])
    for f in ("s", "d", "observed"):
        np.testing.assert_array_equal(getattr(block, f), getattr(want, f))
    np.testing.assert_array_equal(vidx, e["rows"])
    np.testing.assert_array_equal(bpos, e["pos"][e["rows"]])


def test_unit_cohort__negative_control_reads_every_variant(handmade):
    cohort, e = handmade
    neg = dataclasses.replace(cohort, rows=None, pairs=None, bounds=None, variant_ids=None)
    dec = UnitCohort(neg)
    assert not dec.cis
    block, vidx, pos = dec.block()
    np.testing.assert_array_equal(vidx, np.arange(V))
    np.testing.assert_array_equal(block.d, np.nan_to_num(e["ref"] - e["alt"], nan=0.0))
    np.testing.assert_array_equal(pos, e["pos"])


def test_unit_cohort__no_genotypes_gives_empty_rows(handmade):
    cohort, _ = handmade
    empty = dataclasses.replace(
        cohort,
        genotypes=None,
        rows=np.empty(0, dtype=np.int64),
        pairs=cohort.pairs.clear(),
        variant_ids=[],
    )
    dec = UnitCohort(empty)
    d, pos = dec.differences()
    assert d.shape == (0, N) and pos.shape == (0,)
    assert dec.window(0).size == 0


def test_unit_payload__pickles(handmade):
    cohort, _ = handmade
    params = NominalParams(30, False, True, 2000, False, 100, "beta", 1)
    payload = pickle.loads(pickle.dumps(UnitPayload(main=cohort, params=params)))
    assert payload.params == params and payload.val is None
    np.testing.assert_array_equal(payload.main.rows, cohort.rows)


def test_params_from_spec__takes_every_field_from_the_spec():
    spec = RunSpec(mode="finemap", cohort="c", chromosomes=["chr1"], n_bootstrap=17, cv_tau=0.5)
    params = params_from_spec(FinemapParams, spec)
    assert params.n_bootstrap == 17 and params.cv_tau == 0.5
    for f in dataclasses.fields(FinemapParams):
        assert getattr(params, f.name) == getattr(spec, f.name)
    perm = RunSpec(mode="perm", cohort="c", chromosomes=["chr1"], seed=9)
    nominal = params_from_spec(NominalParams, perm, perm=True, all_variants=False)
    assert nominal.perm and nominal.seed == 9 and nominal.min_samples == perm.min_samples


def test_payload_builders__slices_agree_with_the_warehouse(small_db, tmp_path):
    unit = Unit(0, "chr1", 0, 5)
    with closing(connect(small_db)) as con:
        info = reads.cohort_info(con, "small")
        cov = reads.covariates_frame(con, "small")
        export = reads.GenotypeExport(con, info, "chr1", tmp_path)
        try:
            nom_spec = RunSpec(mode="nominal", cohort="small", chromosomes=["chr1"])
            nom = reads.nominal_payload(con, nom_spec, unit, info, cov, export.files)
            fm_spec = RunSpec(
                mode="finemap", cohort="small", chromosomes=["chr1"], phenotype_id="G1_003"
            )
            fm = reads.finemap_payload(con, fm_spec, unit, info, cov, export.files)
            neg_spec = dataclasses.replace(nom_spec, neg_control=True)
            neg = reads.nominal_payload(con, neg_spec, unit, info, cov, export.files)
            ids = dict(
                con.execute(
                    "SELECT variant_idx, variant_id FROM variants "
                    "WHERE cohort = 'small' AND chr = 'chr1'"
                ).fetchall()
            )
        finally:
            export.remove()
    main = nom.main
    assert main.phenotypes["phenotype_idx"].to_list() == list(range(6))
    np.testing.assert_array_equal(main.rows, np.unique(main.pairs["variant_idx"].to_numpy()))
    assert main.variant_ids is None and nom.params.perm is False
    assert main.covariate_names == cov["name"].to_list()

    one = fm.main
    assert one.phenotypes["gene_id"].to_list() == ["G1_003"]
    assert set(one.pairs["phenotype_idx"]) == set(one.bounds["phenotype_idx"]) == {3}
    np.testing.assert_array_equal(one.rows, np.unique(one.pairs["variant_idx"].to_numpy()))
    assert one.variant_ids == [ids[int(v)] for v in one.rows]
    assert isinstance(fm.params, FinemapParams)
    # the gene's window is its part of the nominal unit's
    win = main.pairs.filter(pl.col("phenotype_idx") == 3)
    assert one.pairs.equals(win)

    assert neg.main.rows is None and neg.main.pairs is None and neg.main.bounds is None
