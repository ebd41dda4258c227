"""validate worker (docs/methods.md#validate-pipeline) on warehouse data: the golden main and
val cohorts are ingested, one chr1 unit's payload is read with ``validate_payload`` (genotypes
via scratch files) and ``compute_unit``'s frames are compared with SegmentQTL's golden
outputs."""

from __future__ import annotations

import dataclasses
import math
import shutil
import types
from contextlib import closing
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from segqtl import api
from segqtl.engine import validate as ve
from segqtl.spec import RunSpec
from segqtl.warehouse import reads
from segqtl.warehouse.db import connect
from segqtl.warehouse.runs import Unit
from segqtl.warehouse.validate_reads import validate_payload

from .conftest import golden_inputs

GOLDEN = Path(__file__).parent / "data" / "golden"
EXPECTED = GOLDEN / "expected"
VAL = GOLDEN / "val"

#: p-values SegmentQTL computes as 1 − cdf (docs/methods.md#differences): compared with an
#: absolute tolerance.
PVAL_COLUMNS = {
    "calibration_joint_pval",
    "rho_genetic_transfer_pval",
    "rho_genetic_adjustment_pval",
    "pearson_pval",
    "spearman_pval",
}


def _val_inputs() -> dict:
    return {
        "genotypes": VAL / "genotypes",
        "quantifications": VAL / "quantifications.csv",
        "covariates": VAL / "covariates.csv",
        "copynumber": VAL / "copynumbers.csv",
        "segmentation": VAL / "segments.csv",
    }


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    db = tmp_path_factory.mktemp("validate_wh") / "wh.duckdb"
    api.ingest(db, "main", **golden_inputs())
    api.ingest(db, "val", **_val_inputs())
    return db


def _spec(**kw):
    base = dataclasses.asdict(RunSpec(mode="finemap", cohort="main", chromosomes=["chr1"]))
    base.update(
        mode="validate",
        validation_cohort="val",
        finemap_run=None,
        finemap_results_dir=None,
        save_model_audit=True,
    )
    base.update(kw)
    return types.SimpleNamespace(**base)


UNIT = Unit(0, "chr1", 0, 39)


def _run(db: Path, scratch: Path, spec, unit=UNIT):
    with closing(connect(db)) as con:
        main_info = reads.cohort_info(con, "main")
        val_info = reads.cohort_info(con, "val")
        exports = [
            reads.GenotypeExport(con, main_info, unit.chr, scratch / "main"),
            reads.GenotypeExport(con, val_info, unit.chr, scratch / "val"),
        ]
        try:
            payload = validate_payload(
                con,
                spec,
                unit,
                main_info,
                val_info,
                reads.covariates_frame(con, "main"),
                reads.covariates_frame(con, "val"),
                exports[0].files,
                exports[1].files,
            )
            for export, part in zip(exports, (payload.main, payload.val), strict=True):
                export.ensure(int(part.rows[-1]) if part.rows.size else 0)
            frames, counts = ve.compute_unit(payload)
        finally:
            for export in exports:
                export.remove()
        phen = payload.main.phenotypes
        genes = dict(zip(phen["phenotype_idx"], phen["gene_id"], strict=True))
        samples = dict(
            con.execute("SELECT sample_idx, sample_id FROM samples WHERE cohort = 'val'").fetchall()
        )
    return frames, counts, genes, samples


def _close(got, want, c, dev, pval: bool = False) -> None:
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    assert np.array_equal(np.isnan(got), np.isnan(want)), c
    ok = ~np.isnan(want)
    got, want = got[ok], want[ok]
    if got.size == 0:
        return
    diff = np.abs(got - want)
    if pval:
        assert np.all(diff <= 1e-12), (c, diff.max())
        dev[c] = max(dev.get(c, 0.0), float(diff.max()))
        return
    # ~1e-16-sized quantities (mean_bias, calibration intercept, Wald ≈ 1e-29 in recalibrated
    # mode) are rounding noise: compare them absolutely
    rel = np.where(np.abs(want) > 1e-12, diff / np.maximum(np.abs(want), 1e-300), diff)
    assert np.all((rel <= 1e-9) | (diff <= 1e-13)), (c, rel.max())
    dev[c] = max(dev.get(c, 0.0), float(rel.max()))


def _num(frame: pl.DataFrame, c: str) -> np.ndarray:
    return frame[c].cast(pl.Float64).fill_null(np.nan).to_numpy()


def _compare(frames, genes, samples, case: str, audit: bool = True) -> dict:
    dev: dict = {}
    stats = frames["validate_stats"].filter(pl.col("status") != ve.UNSUPPORTED)
    assert stats["message"].null_count() == stats.height, stats["message"].drop_nulls().to_list()
    exp = pl.read_csv(EXPECTED / case / "validate_chr1.csv", infer_schema_length=None)
    got_ph = [genes[i] for i in stats["phenotype_idx"]]
    assert got_ph == exp["phenotype"].to_list()
    assert stats["validation_mode"].to_list() == exp["validation_mode"].to_list()
    for c in ve.STATS_SCHEMA:
        if c in ("phenotype_idx", "status", "message", "validation_mode"):
            continue
        if c.startswith("n_") and c not in ("n_variants_stable",):
            assert stats[c].to_list() == exp[c].to_list(), c
            continue
        _close(_num(stats, c), _num(exp, c), c, dev, pval=c in PVAL_COLUMNS)

    res = frames["validate_residuals_stats"]
    exp = pl.read_csv(EXPECTED / case / "validate_residuals_chr1.csv")
    assert [genes[i] for i in res["phenotype_idx"]] == exp["phenotype"].to_list()
    assert [samples[i] for i in res["sample_idx"]] == exp["sample_id"].to_list()
    assert res["n_obs_used"].to_list() == exp["n_obs_used"].to_list()
    for c in ("y", "y_hat", "y_hat_base", "residual", "residual_base"):
        _close(_num(res, c), _num(exp, c), "res_" + c, dev)

    if audit:
        model = frames["validate_model_stats"]
        exp = pl.read_csv(EXPECTED / case / "validate_model_chr1.csv")
        assert [genes[i] for i in model["phenotype_idx"]] == exp["phenotype"].to_list()
        for c in ("block", "name"):
            assert model[c].to_list() == exp[c].to_list(), c
        assert model["shared_with_val"].to_list() == [
            str(v) == "True" for v in exp["shared_with_val"].to_list()
        ]
        for c in ("value_main", "value_val"):
            _close(_num(model, c), _num(exp, c), "model_" + c, dev)
    return dev


def _report(dev: dict) -> None:
    print({c: f"{v:.1e}" for c, v in sorted(dev.items()) if v})


def _check_schemas(frames) -> None:
    assert dict(frames["validate_stats"].schema) == ve.STATS_SCHEMA
    assert dict(frames["validate_residuals_stats"].schema) == ve.RESIDUALS_SCHEMA
    assert dict(frames["validate_model_stats"].schema) == ve.MODEL_SCHEMA
    for name, frame in frames.items():
        for c, dtype in frame.schema.items():
            if dtype == pl.Float64:
                assert not frame[c].is_nan().any(), (name, c)


def test_validate_refit__golden_chr1(warehouse, tmp_path):
    frames, counts, genes, samples = _run(warehouse, tmp_path, _spec())
    _check_schemas(frames)
    assert counts["tested"] + counts["no_shared_variant"] + counts["no_variant_passes_coverage"] > 0
    assert counts["failed"] == 0
    _report(_compare(frames, genes, samples, "validate_refit"))


def test_validate_from_finemap__golden_chr1(warehouse, tmp_path):
    spec = _spec(finemap_results_dir=str(EXPECTED / "finemap"))
    frames, counts, genes, samples = _run(warehouse, tmp_path, spec)
    _check_schemas(frames)
    assert counts["failed"] == 0
    _report(_compare(frames, genes, samples, "validate_from_finemap"))


def test_validate_frozen_full__golden_chr1(warehouse, tmp_path):
    spec = _spec(
        finemap_results_dir=str(EXPECTED / "finemap"),
        validation_mode="frozen",
        validate_with_bootstrap=True,
        bootstrap_ci=True,
        n_boot_ci=200,
        n_permutations=200,
        restrict_to_supported_phenotypes=True,
    )
    frames, counts, genes, samples = _run(warehouse, tmp_path, spec)
    _check_schemas(frames)
    assert counts["unsupported"] > 0 and counts["failed"] == 0
    _report(_compare(frames, genes, samples, "validate_frozen_full"))


def test_validate_csv_mismatch__reported_as_failed(warehouse, tmp_path):
    """A finemap CSV whose variants disagree with the recomputed ones fails that phenotype only
    (docs/methods.md#differences; SegmentQTL aborts the run)."""
    src = pl.read_csv(EXPECTED / "finemap" / "finemap_chr1.csv", infer_schema=False)
    bad = pl.concat(
        [
            src.filter(pl.col("phenotype") == "G1_000").reverse(),
            src.filter(pl.col("phenotype") != "G1_000"),
        ]
    )
    bad.write_csv(tmp_path / "finemap_chr1.csv")
    spec = _spec(finemap_results_dir=str(tmp_path), phenotype_id=None)
    frames, counts, genes, _ = _run(warehouse, tmp_path / "scratch", spec, Unit(0, "chr1", 0, 1))
    stats = frames["validate_stats"]
    assert stats["status"].to_list() == [ve.fm.FAILED, ve.SCORED]
    assert "RuntimeError" in stats["message"][0]
    assert stats["n_samples_main"][0] == 0 and stats["rmse"][0] is None
    assert counts == {**dict.fromkeys(ve.STATUS_NAMES.values(), 0), "failed": 1, "tested": 1}


def test_validate_missing_gene__not_in_validation_cohort(warehouse, tmp_path):
    """A main phenotype without a val row gets status 9 and no residual rows."""
    db = tmp_path / "copy.duckdb"
    shutil.copy(warehouse, db)
    with closing(connect(db)) as con:
        con.execute("DELETE FROM phenotypes WHERE cohort = 'val' AND gene_id = 'G1_001'")
    spec = _spec(finemap_results_dir=str(EXPECTED / "finemap"))
    frames, counts, genes, _ = _run(db, tmp_path, spec, Unit(0, "chr1", 0, 1))
    stats = frames["validate_stats"]
    assert stats["status"].to_list() == [ve.SCORED, ve.NOT_IN_VALIDATION_COHORT]
    assert set(frames["validate_residuals_stats"]["phenotype_idx"]) == {0}
    assert counts["not_in_validation_cohort"] == 1
    assert not math.isnan(stats["rmse"][0]) and stats["rmse"][1] is None


def test_validate_from_finemap_run__golden_chr1(warehouse, tmp_path):
    """β/λ/π read from a stored finemap run (exact doubles) give validate_from_finemap."""
    db = tmp_path / "copy.duckdb"
    shutil.copy(warehouse, db)
    run_id = api.run(db, RunSpec(mode="finemap", cohort="main", chromosomes=["chr1"]))
    frames, counts, genes, samples = _run(db, tmp_path, _spec(finemap_run=run_id))
    _check_schemas(frames)
    assert counts["failed"] == 0
    _report(_compare(frames, genes, samples, "validate_from_finemap"))
