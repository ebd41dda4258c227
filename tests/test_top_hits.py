"""nominal_top: each phenotype's top hit, kept with the run (sql/migrations/010_top_hits.sql)."""

from __future__ import annotations

import dataclasses

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from segqtl import api
from segqtl.spec import RunSpec
from segqtl.warehouse.db import sql_dir

# nominal_results and nominal_top share every column; these differ by run only.
_DROP = ["run_id", "run_name"]


def _rows(db, view: str, run_id: int) -> pl.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        frame = con.sql(
            f"SELECT * FROM {view} WHERE run_id = ? ORDER BY chr, phenotype_idx", params=[run_id]
        ).pl()
    return frame.drop(_DROP)


@pytest.mark.parametrize("min_samples", [10, 1000])  # 1000 > samples: nothing is fitted
def test_nominal_top__all_variants_top_equals_the_best_variant_run(small_db, min_samples):
    chromosomes = ["1", "2"]
    spec = RunSpec(mode="nominal", cohort="small", chromosomes=chromosomes, min_samples=min_samples)
    best = api.run(small_db, spec)
    every = api.run(small_db, dataclasses.replace(spec, all_variants=True))
    top = _rows(small_db, "nominal_top", every)
    reported = _rows(small_db, "nominal_results", best)
    assert top.height == reported.height > 0
    assert_frame_equal(top, reported)
    # one row per phenotype, and more pairs than top rows in the all-variants run
    assert top.select("chr", "phenotype_idx").is_duplicated().sum() == 0
    assert _rows(small_db, "nominal_results", every).height > top.height


def test_nominal_top__perm_run_top_is_its_lead_variant(small_db):
    run_id = api.run(
        small_db, RunSpec(mode="perm", cohort="small", chromosomes=["1"], num_permutations=50)
    )
    assert_frame_equal(
        _rows(small_db, "nominal_top", run_id), _rows(small_db, "nominal_results", run_id)
    )


def test_migration_010__fills_top_hits_of_earlier_runs(small_db):
    run_id = api.run(
        small_db,
        RunSpec(mode="nominal", cohort="small", chromosomes=["1"], all_variants=True),
    )
    per_unit = _rows(small_db, "nominal_top", run_id)
    migration = (sql_dir() / "migrations" / "010_top_hits.sql").read_text()
    with duckdb.connect(str(small_db)) as con:
        # as a warehouse of schema 9 had it: rows but no top table
        con.execute("DROP VIEW nominal_top")
        con.execute("DROP TABLE nominal_top_stats")
        con.execute(migration)
        con.execute((sql_dir() / "views" / "nominal_top.sql").read_text())
    assert_frame_equal(_rows(small_db, "nominal_top", run_id), per_unit)
