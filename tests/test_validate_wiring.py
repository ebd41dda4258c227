"""validate wiring: schema (migration 004), unit commits of the three tables, exports, run
parameters, validation and both command lines.

None of these tests runs the validate worker: results are hand-built frames committed with
``runs.write_unit`` exactly as the runner commits a worker's ``(frames, counts)``.
"""

from __future__ import annotations

import math
from contextlib import closing
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

from segqtl import api, modes
from segqtl.cli import cli, dropin
from segqtl.errors import UsageError
from segqtl.ingest import CohortInputs, IngestResult
from segqtl.simulate import simulate_cohort
from segqtl.spec import RunSpec
from segqtl.warehouse import db as wdb
from segqtl.warehouse import runs
from segqtl.warehouse.db import connect

from .conftest import GOLDEN, as_segqtl_of_schema, cohort_kwargs, dropin_input_args

COUNTS = ("n_samples_main", "n_samples_val", "n_variants_main_kept", "n_variants_shared")
METRICS_A = (
    "n_variants_stable",
    "median_n_obs_val",
    "rmse",
    "mse",
    "mae",
    "r2_descriptive",
    "r2_baseline_val",
    "r2_full_val",
    "pearson_r",
    "pearson_pval",
    "spearman_rho",
    "spearman_pval",
    "rho_genetic_transfer",
    "rho_genetic_transfer_pval",
    "rho_genetic_adjustment",
    "rho_genetic_adjustment_pval",
    "r2_burden_low",
    "r2_burden_mid",
    "r2_burden_high",
    "mean_bias",
    "sd_residual",
    "lambda_selected",
)
METRICS_B = (
    "calibration_intercept",
    "calibration_slope",
    "calibration_joint_wald",
    "calibration_joint_pval",
    "r2_ci_lo",
    "r2_ci_hi",
    "cal_slope_ci_lo",
    "cal_slope_ci_hi",
    "r2_perm_pval",
    "rho_perm_pval",
)
STATS_SCHEMA = {
    "phenotype_idx": pl.Int32,
    "status": pl.Int8,
    "message": pl.Utf8,
    **dict.fromkeys(COUNTS, pl.Int32),
    **dict.fromkeys(METRICS_A, pl.Float64),
    "validation_mode": pl.Utf8,
    **dict.fromkeys(METRICS_B, pl.Float64),
}
RESID_SCHEMA = {
    "phenotype_idx": pl.Int32,
    "sample_idx": pl.Int32,
    **dict.fromkeys(("y", "y_hat", "y_hat_base", "residual", "residual_base"), pl.Float64),
    "n_obs_used": pl.Int32,
}
MODEL_SCHEMA = {
    "phenotype_idx": pl.Int32,
    "row_idx": pl.Int32,
    "block": pl.Utf8,
    "name": pl.Utf8,
    "value_main": pl.Float64,
    "value_val": pl.Float64,
    "shared_with_val": pl.Boolean,
}
# SegmentQTL's normal-row order (docs/methods.md#validate-outputs), whatever the first row is.
VALIDATE_COLUMNS = ["phenotype", *COUNTS, *METRICS_A, "validation_mode", *METRICS_B, "chr"]
RESID_COLUMNS = [
    "phenotype",
    "sample_id",
    "y",
    "y_hat",
    "y_hat_base",
    "residual",
    "residual_base",
    "n_obs_used",
    "chr",
]
MODEL_COLUMNS = ["phenotype", "block", "name", "value_main", "value_val", "shared_with_val", "chr"]
VALIDATE_FIELDS = {
    "validation_cohort": None,
    "validation_mode": "recalibrated",
    "finemap_run": None,
    "finemap_results_dir": None,
    "validate_with_bootstrap": False,
    "validation_stability_threshold": 0.6,
    "restrict_to_supported_phenotypes": False,
    "support_definition": "stability",
    "support_min_stability": 0.6,
    "bootstrap_ci": False,
    "n_boot_ci": 1000,
    "n_permutations": 0,
    "save_model_audit": False,
}
NAN = math.nan
VALIDATE = modes.get("validate")


@pytest.fixture(scope="module")
def pair_cohort(tmp_path_factory):
    """A simulated discovery cohort (60 samples) with a validation cohort (40 samples)."""
    return simulate_cohort(
        tmp_path_factory.mktemp("pair_cohort"),
        seed=11,
        n_samples=60,
        chromosomes=("1", "2"),
        n_phenotypes=12,
        n_variants=80,
        chromosome_length=6_000_000,
        missing_rate=0.03,
        n_validation_samples=40,
    )


@pytest.fixture()
def pair_db(tmp_path, pair_cohort):
    """A fresh warehouse with the discovery cohort as 'small' and the validation one as 'val'."""
    db = tmp_path / "wh.duckdb"
    api.ingest(db, "small", **cohort_kwargs(pair_cohort))
    api.ingest(db, "val", **cohort_kwargs(pair_cohort.validation))
    return db


# ------------------------------------------------------------------------------------ helpers
def stats_row(ph, status=0, message=None, counts=(60, 40, 3, 2), mode="recalibrated", **values):
    row = dict.fromkeys(STATS_SCHEMA)
    row.update(zip(COUNTS, counts, strict=True))
    row.update(phenotype_idx=ph, status=status, message=message, validation_mode=mode)
    row.update(values)
    return row


def scored_row(ph, base: float, **values) -> dict:
    """A scored row whose metrics are base + i / 8 (exact in binary)."""
    metrics = {m: base + i / 8 for i, m in enumerate(METRICS_A + METRICS_B)}
    metrics.update(values)
    return stats_row(ph, **metrics)


def frames(stats, resid=(), model=()) -> dict[str, pl.DataFrame]:
    return {
        "validate_stats": pl.DataFrame(list(stats), schema=STATS_SCHEMA, orient="row"),
        "validate_residuals_stats": pl.DataFrame(list(resid), schema=RESID_SCHEMA, orient="row"),
        "validate_model_stats": pl.DataFrame(list(model), schema=MODEL_SCHEMA, orient="row"),
    }


def names(con) -> tuple[dict[int, str], dict[int, str]]:
    """chr1 phenotype_idx -> gene_id (discovery cohort), sample_idx -> sample_id (validation)."""
    genes = dict(
        con.execute(
            "SELECT phenotype_idx, gene_id FROM phenotypes WHERE cohort = 'small' AND chr = 'chr1'"
        ).fetchall()
    )
    samples = dict(
        con.execute("SELECT sample_idx, sample_id FROM samples WHERE cohort = 'val'").fetchall()
    )
    return genes, samples


def commit_run(db, spec: RunSpec, unit_results) -> int:
    """Create a run, commit one ``(frames, counts)`` per planned unit, finish it."""
    with closing(connect(db)) as con:
        run_id = runs.create_run(con, spec)
        units = runs.pending_units(con, run_id)
        assert len(units) == len(unit_results)
        for unit, (fr, counts) in zip(units, unit_results, strict=True):
            n_ph = unit.last_idx - unit.first_idx + 1
            runs.write_unit(
                con, run_id, modes.get(spec.mode), unit, fr, counts, n_ph, 0.5, unit.chr
            )
        runs.finish_run(con, run_id)
    return run_id


def unit_results_a():
    """Two units of chr1 (phenotypes 0-5 and 6-11), rows deliberately out of order."""
    unit0 = frames(
        stats=[
            stats_row(
                2, status=8, message="LinAlgError: SVD did not converge", counts=(60, 40, 0, 0)
            ),
            scored_row(0, 1.0, n_variants_stable=NAN, r2_perm_pval=NAN),
            stats_row(1, status=9, counts=(None, None, None, None), mode=None),
            stats_row(3, status=12, counts=(60, 40, 3, 0)),  # unsupported: not exported
            stats_row(4, status=10, counts=(0, 0, 0, 0)),
        ],
        resid=[(0, 2, 0.5, 0.25, 0.125, 0.25, 0.375, 2), (0, 0, -1.0, -0.5, NAN, -0.5, NAN, 1)],
        model=[
            (0, 1, "variant_mu", "1:200:A:G", 0.1, NAN, True),
            (0, 0, "beta", "1:200:A:G", 0.5, NAN, False),
            (0, 2, "theta", "intercept", 0.0, 1e-20, True),
        ],
    )
    unit1 = frames(stats=[stats_row(7, status=1, counts=(0, 0, 0, 0)), scored_row(6, 2.0)])
    return [
        (unit0, {"tested": 1, "failed": 1, "not_in_validation_cohort": 1, "unsupported": 1,
                 "no_shared_variant": 1}),
        (unit1, {"tested": 1, "too_few_samples": 1}),
    ]  # fmt: skip


def spec_a(**kw) -> RunSpec:
    kw.setdefault("validation_cohort", "val")
    kw.setdefault("phenotypes_per_unit", 6)
    return RunSpec(mode="validate", cohort="small", chromosomes=["1"], **kw)


def csv_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def fmt(x: float) -> str:
    return repr(float(x))


def scored_line(gene: str, base: float, mode="recalibrated", counts=(60, 40, 3, 2), **cells):
    values = {m: fmt(base + i / 8) for i, m in enumerate(METRICS_A + METRICS_B)}
    values.update(cells)
    return ",".join(
        [gene, *map(str, counts), *(values[m] for m in METRICS_A), mode]
        + [values[m] for m in METRICS_B]
        + ["chr1"]
    )


def empty_line(gene: str, mode="recalibrated") -> str:
    return ",".join(
        [gene, "0", "0", "0", "0", *[""] * len(METRICS_A), mode, *[""] * len(METRICS_B), "chr1"]
    )


def assert_one_line_error(result, *fragments: str) -> str:
    """Exit code 2, nothing on stdout, one 'segqtl: error: ... Fix: ...' line on stderr."""
    err = result.stderr
    assert result.exit_code == 2, (result.exit_code, err)
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("segqtl: error: "), lines[0]
    assert "Fix: " in lines[0], lines[0]
    assert "Traceback" not in err and "internal error" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# ---------------------------------------------------------------------------------- migration
def test_migrate__004_applies_on_a_fresh_warehouse(tmp_path):
    with closing(connect(tmp_path / "wh.duckdb")) as con:
        versions = con.execute("SELECT version, name FROM schema_migrations ORDER BY 1").fetchall()
        codes = dict(con.execute("SELECT code, name FROM result_status").fetchall())
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'validate%'"
            ).fetchall()
        }
        cols = {
            t: [c[0] for c in con.execute(f"SELECT * FROM {t} LIMIT 0").description]
            for t in ("validate_stats", "validate_residuals_stats", "validate_model_stats")
        }
    assert versions[3] == (4, "validate")
    assert wdb.SCHEMA_VERSION >= 4
    assert {
        9: "not_in_validation_cohort",
        10: "no_shared_variant",
        11: "no_finemap_result",
        12: "unsupported",
    }.items() <= codes.items()
    assert {0: "tested", 1: "too_few_samples", 6: "no_cis_variant", 8: "failed"}.items() <= (
        codes.items()
    )
    # Migration 005 renamed the residual and model tables (*_stats) and gave their views the
    # result sets' names.
    assert tables == {
        "validate_stats",
        "validate_residuals_stats",
        "validate_model_stats",
        "validate_runs",
        "validate_results",
        "validate_residuals",
        "validate_model",
    }
    keys = ["run_id", "unit_id", "chr"]
    assert cols["validate_stats"] == [*keys, *STATS_SCHEMA]
    assert cols["validate_residuals_stats"] == [*keys, *RESID_SCHEMA]
    assert cols["validate_model_stats"] == [*keys, *MODEL_SCHEMA]


def test_migrate__upgrades_a_warehouse_created_at_version_3(tmp_path, small_cohort, monkeypatch):
    as_segqtl_of_schema(monkeypatch, 3)
    db = tmp_path / "old.duckdb"
    api.ingest(db, "small", **cohort_kwargs(small_cohort))
    run_id = api.run(db, RunSpec(mode="nominal", cohort="small", chromosomes=["1"]))
    with closing(duckdb.connect(str(db))) as con:
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchone() == (3,)
        assert not con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'validate_stats'"
        ).fetchone()[0]
        before = con.execute(
            "SELECT * FROM nominal_results ORDER BY chr, phenotype_idx, variant_idx"
        ).fetchall()
    monkeypatch.undo()

    with pytest.raises(UsageError, match="segqtl upgrade --db"):
        connect(db, read_only=True)
    with closing(connect(db)) as con:
        versions = [r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()]
        after = con.execute(
            "SELECT * EXCLUDE (run_name) FROM nominal_results "
            "ORDER BY chr, phenotype_idx, variant_idx"
        ).fetchall()
        n_codes = con.execute("SELECT count(*) FROM result_status").fetchone()[0]
        spec = runs.load_spec(con, run_id)
        for view in (
            "validate_runs",
            "validate_results",
            "validate_residuals",
            "validate_model",
        ):
            assert con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,)
    assert sorted(versions)[:4] == [1, 2, 3, 4]
    assert after == before and len(before) == 12
    assert n_codes >= 13
    assert spec.mode == "nominal"
    assert {k: getattr(spec, k) for k in VALIDATE_FIELDS} == VALIDATE_FIELDS


# ---------------------------------------------------------------------------------- write_unit
def test_write_unit__commits_all_three_tables_and_the_views_name_them(pair_db):
    with closing(connect(pair_db)) as con:
        genes, samples = names(con)
    run_id = commit_run(pair_db, spec_a(), unit_results_a())
    with closing(connect(pair_db, read_only=True)) as con:
        counts = {
            t: con.execute(f"SELECT count(*) FROM {t} WHERE run_id = ?", [run_id]).fetchone()[0]
            for t in ("validate_stats", "validate_residuals_stats", "validate_model_stats")
        }
        units = con.execute(
            "SELECT unit_id, status, n_rows, n_pairs, n_pairs_tested FROM run_units "
            "WHERE run_id = ? ORDER BY unit_id",
            [run_id],
        ).fetchall()
        results = con.execute(
            "SELECT phenotype_idx, phenotype, cohort, validation_cohort, status, message, "
            "validation_mode, n_variants_stable, rmse FROM validate_results WHERE run_id = ? "
            "ORDER BY phenotype_idx",
            [run_id],
        ).fetchall()
        resid = con.execute(
            "SELECT phenotype, sample_idx, sample_id, validation_cohort, y_hat_base "
            "FROM validate_residuals WHERE run_id = ? ORDER BY sample_idx",
            [run_id],
        ).fetchall()
        model = con.execute(
            "SELECT phenotype, row_idx, block, shared_with_val FROM validate_model "
            "WHERE run_id = ? ORDER BY row_idx",
            [run_id],
        ).fetchall()
        val_inputs = con.execute(
            "SELECT count(*) FROM run_parameters WHERE run_id = ? AND key LIKE 'input:val:%'",
            [run_id],
        ).fetchone()[0]
    assert counts == {"validate_stats": 7, "validate_residuals_stats": 2, "validate_model_stats": 3}
    assert units == [(0, "done", 5, 5, 1), (1, "done", 2, 2, 1)]
    by_idx = {r[0]: r for r in results}
    assert by_idx[0][1:5] == (genes[0], "small", "val", "tested")
    assert by_idx[0][7] is None  # NaN stored as NULL
    assert by_idx[0][8] == 1.0 + METRICS_A.index("rmse") / 8
    assert by_idx[1][4:7] == ("not_in_validation_cohort", None, "recalibrated")  # mode filled in
    assert by_idx[2][4:6] == ("failed", "LinAlgError: SVD did not converge")
    assert [by_idx[i][4] for i in (3, 4, 6, 7)] == [
        "unsupported",
        "no_shared_variant",
        "tested",
        "too_few_samples",
    ]
    # sample_id comes from the validation cohort's samples.
    assert resid == [
        (genes[0], 0, samples[0], "val", None),
        (genes[0], 2, samples[2], "val", 0.125),
    ]
    assert model == [
        (genes[0], 0, "beta", False),
        (genes[0], 1, "variant_mu", True),
        (genes[0], 2, "theta", True),
    ]
    assert val_inputs >= 3  # the validation cohort's input checksums are recorded


def test_write_unit__frames_must_match_the_tables(pair_db):
    with closing(connect(pair_db)) as con:
        run_id = runs.create_run(con, spec_a())
        unit = runs.pending_units(con, run_id)[0]
        fr, counts = unit_results_a()[0]

        def write(frames_):
            runs.write_unit(con, run_id, VALIDATE, unit, frames_, counts, 6, 0.1, "chr1")

        with pytest.raises(ValueError, match=r"missing columns \['message'\]"):
            write({**fr, "validate_stats": fr["validate_stats"].drop("message")})
        with pytest.raises(ValueError, match=r"unexpected columns \['sample_id'\]"):
            write(
                {
                    **fr,
                    "validate_residuals_stats": fr["validate_residuals_stats"].with_columns(
                        sample_id=pl.lit("S1")
                    ),
                }
            )
        with pytest.raises(ValueError, match="cannot write tables"):
            write({**fr, "finemap_stats": fr["validate_stats"]})
        with pytest.raises(ValueError, match="must return a validate_stats frame"):
            write({"validate_model_stats": fr["validate_model_stats"]})
        write({k: v.select(reversed(v.columns)) for k, v in fr.items()})
        n = con.execute("SELECT count(*) FROM validate_stats WHERE run_id = ?", [run_id]).fetchone()
    assert n == (5,)


# -------------------------------------------------------------------------------------- export
def test_export__validate_columns_order_empty_rows_and_no_unsupported_rows(pair_db, tmp_path):
    with closing(connect(pair_db)) as con:
        genes, samples = names(con)
    run_id = commit_run(pair_db, spec_a(), unit_results_a())
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli, ["export", "--db", str(pair_db), "--run", str(run_id), "--out-dir", str(out)]
    )
    assert res.exit_code == 0, res.stderr
    paths = [Path(p) for p in res.stdout.split()]
    # No audit file without save_model_audit.
    assert [p.name for p in paths] == ["validate_chr1.csv", "validate_residuals_chr1.csv"]
    main, resid = (csv_lines(p) for p in paths)
    assert main[0].split(",") == VALIDATE_COLUMNS
    assert main[1:] == [
        scored_line(genes[0], 1.0, n_variants_stable="", r2_perm_pval=""),
        empty_line(genes[1]),  # not in the validation cohort: mode filled in from the run
        empty_line(genes[2]),  # failed: the same EMPTY row, counts 0
        empty_line(genes[4]),  # genes[3] is unsupported: no row
        scored_line(genes[6], 2.0),
        empty_line(genes[7]),
    ]
    assert resid == [
        ",".join(RESID_COLUMNS),
        f"{genes[0]},{samples[0]},-1.0,-0.5,,-0.5,,1,chr1",
        f"{genes[0]},{samples[2]},0.5,0.25,0.125,0.25,0.375,2,chr1",
    ]
    frame = pl.read_csv(paths[0], infer_schema_length=None)
    assert frame.height == 6 and frame["rmse"].null_count() == 4


def test_export__audit_only_with_the_flag_in_row_order_with_pandas_booleans(pair_db, tmp_path):
    with closing(connect(pair_db)) as con:
        genes, _ = names(con)
    run_id = commit_run(
        pair_db, spec_a(save_model_audit=True, validation_mode="frozen"), unit_results_a()
    )
    paths = api.export(pair_db, run_id, tmp_path)
    assert [p.name for p in paths] == [
        "validate_chr1.csv",
        "validate_residuals_chr1.csv",
        "validate_model_chr1.csv",
    ]
    assert csv_lines(paths[2]) == [
        ",".join(MODEL_COLUMNS),
        f"{genes[0]},beta,1:200:A:G,0.5,,False,chr1",
        f"{genes[0]},variant_mu,1:200:A:G,0.1,,True,chr1",
        f"{genes[0]},theta,intercept,0.0,1e-20,True,chr1",
    ]
    # The row's own validation_mode wins; a row without one takes the run's (frozen).
    main = csv_lines(paths[0])
    assert main[2] == empty_line(genes[1], mode="frozen")
    assert main[1].split(",")[VALIDATE_COLUMNS.index("validation_mode")] == "recalibrated"


def test_export__single_phenotype_suffix_and_full_headers_without_rows(pair_db, tmp_path):
    with closing(connect(pair_db)) as con:
        genes, _ = names(con)
    gene = genes[3]
    spec = spec_a(phenotype_id=gene, save_model_audit=True, phenotypes_per_unit=None)
    spec.chromosomes = ["chr1", "chr2"]
    fr = frames(stats=[stats_row(3, status=7, counts=(60, 0, 0, 0))])
    run_id = commit_run(pair_db, spec, [(fr, {"no_variant_passes_coverage": 1})])
    paths = api.export(pair_db, run_id, tmp_path)
    assert [p.name for p in paths] == [
        f"validate_chr1_{gene}.csv",
        f"validate_residuals_chr1_{gene}.csv",
        f"validate_model_chr1_{gene}.csv",
    ]
    assert csv_lines(paths[0]) == [",".join(VALIDATE_COLUMNS), empty_line(gene)]
    assert csv_lines(paths[1]) == [",".join(RESID_COLUMNS)]
    assert csv_lines(paths[2]) == [",".join(MODEL_COLUMNS)]


def test_export__unfinished_validate_run_is_refused(pair_db, tmp_path):
    with closing(connect(pair_db)) as con:
        run_id = runs.create_run(con, spec_a())
    with pytest.raises(UsageError, match="is running, not completed"):
        api.export(pair_db, run_id, tmp_path)


# --------------------------------------------------------------------------------- validation
def run_args(db, *flags):
    return ["run", "--db", str(db), "--cohort", "small", "--chromosome", "1", *flags]


# Every declared range is checked by tests/test_modes.py; these are validate's choices and the
# rules ValidateMode.check adds (docs/methods.md#validate-pipeline).
BAD_VALIDATE = [
    ([], "segqtl: error: --mode validate needs a validation cohort. Fix: give "
     "--validation-cohort NAME (an ingested cohort), or the drop-in's --val_genotypes, "
     "--val_quantifications and --val_segmentation"),
    (["--validation-cohort", "val", "--validation-mode", "thawed"],
     "--validation-mode is not one of recalibrated, frozen (got 'thawed'). Fix: select "
     "recalibrated or frozen"),
    (["--validation_cohort", "val", "--support-definition", "x"],
     "--support-definition is not one of stability, selected (got 'x'). Fix: select stability "
     "or selected"),
    (["--validation-cohort", "val", "--restrict-to-supported-phenotypes"],
     "--restrict-to-supported-phenotypes needs finemap results (the support test reads their "
     "stability scores or betas). Fix: add --finemap-run RUN_ID or --finemap-results-dir DIR"),
    (["--validation-cohort", "val", "--finemap-run", "1", "--finemap-results-dir", "."],
     "--finemap-run and --finemap-results-dir both give the finemap models. Fix: give only one "
     "of them"),
    (["--validation-cohort", "val", "--finemap_run", "1", "--finemap_results_dir", "."],
     "--finemap_run and --finemap_results_dir both give the finemap models"),
    (["--validation-cohort", "val", "--all-variants"],
     "--all-variants is not a validate option (validate reports on every phenotype; "
     "--phenotype-id GENE selects one phenotype). Fix: drop --all-variants"),
    (["--validation-cohort", "val", "--neg-control"],
     "--neg-control is not a validate option (negative controls belong to nominal and perm "
     "modes). Fix: drop --neg-control"),
    (["--validation-cohort", "val", "--finemap-results-dir", "/no/such/dir"],
     "--finemap-results-dir is not a folder (got '/no/such/dir'). Fix: give the output folder of a "
     "finemap run (it holds finemap_<C>.csv)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "message"),
    BAD_VALIDATE,
    ids=[" ".join(f) or "no --validation-cohort" for f, _ in BAD_VALIDATE],
)
def test_cli_run__validate_bad_options_are_one_line_errors(tmp_path, flags, message):
    db = tmp_path / "wh.duckdb"
    res = CliRunner().invoke(cli, run_args(db, "--mode", "validate", *flags))
    assert_one_line_error(res, message)
    assert not db.exists()  # rejected before the warehouse is opened


def test_cli_run__finemap_results_dir_needs_each_chromosome_file(tmp_path):
    folder = tmp_path / "fm"
    folder.mkdir()
    (folder / "finemap_chr1.csv").write_text("phenotype\n")
    (folder / "finemap_chr2_G1_003.csv").write_text("phenotype\n")  # suffixed files do not count
    db = tmp_path / "wh.duckdb"
    args = [*run_args(db, "--chromosome", "2"), "--mode", "validate"]
    args += ["--validation-cohort", "val", "--finemap-results-dir", str(folder)]
    res = CliRunner().invoke(cli, args)
    assert_one_line_error(
        res,
        f"--finemap-results-dir has no finemap_chr2.csv (got '{folder.resolve()}'). Fix: run "
        "finemap on these chromosomes into that folder first (without --phenotype-id)",
    )


@pytest.mark.parametrize(
    "flag",
    ["--validation-cohort", "--finemap-run", "--finemap-results-dir", "--finemap_results_dir"],
)
def test_cli_run__validate_sources_are_refused_by_finemap(tmp_path, flag):
    # Ignoring them would silently fine-map instead of validating (STRICT in modes/validate.py).
    value = "3" if flag == "--finemap-run" else "x"
    db = tmp_path / "wh.duckdb"
    res = CliRunner().invoke(cli, run_args(db, "--mode", "finemap", flag, value))
    assert_one_line_error(
        res,
        f"segqtl: error: {flag} is a validate option, not a finemap one. Fix: use --mode "
        f"validate, or drop {flag}",
    )
    assert not db.exists()


def finemap_run(db, *, cohort="small", complete=True, **kw) -> int:
    """A finemap run of chr1 with empty results (completed unless told otherwise)."""
    spec = RunSpec(mode="finemap", cohort=cohort, chromosomes=["1"], phenotypes_per_unit=12, **kw)
    with closing(connect(db)) as con:
        run_id = runs.create_run(con, spec)
        if complete:
            for unit in runs.pending_units(con, run_id):
                con.execute(
                    "UPDATE run_units SET status = 'done', n_phenotypes = 0, n_pairs = 0, "
                    "n_pairs_tested = 0, n_rows = 0 WHERE run_id = ? AND unit_id = ?",
                    [run_id, unit.unit_id],
                )
            runs.finish_run(con, run_id)
    return run_id


def test_cli_run__warehouse_checks_of_the_validation_cohort_and_finemap_run(pair_db):
    fm_ok = finemap_run(pair_db)
    fm_running = finemap_run(pair_db, complete=False)
    fm_val = finemap_run(pair_db, cohort="val")
    fm_window = finemap_run(pair_db, window=500_000)
    nominal = api.run(pair_db, RunSpec(mode="nominal", cohort="small", chromosomes=["1"]))
    base = ["--mode", "validate", "--validation-cohort", "val"]
    cases = [
        (["--mode", "validate", "--validation-cohort", "nope"], "validation cohort 'nope' is not"),
        ([*base, "--finemap-run", "99"], "--finemap-run 99 does not exist"),
        ([*base, "--finemap-run", str(nominal)], f"--finemap-run {nominal} is a nominal run"),
        ([*base, "--finemap-run", str(fm_val)], f"--finemap-run {fm_val} analysed cohort 'val'"),
        ([*base, "--finemap-run", str(fm_running)], f"--finemap-run {fm_running} is running"),
        ([*base, "--finemap-run", str(fm_window)], "used --window 500000"),
        ([*base, "--finemap-run", str(fm_ok), "--chromosome", "2"], "does not cover chr2"),
    ]
    for flags, message in cases:
        res = CliRunner().invoke(cli, run_args(pair_db, *flags))
        assert_one_line_error(res, message)
    with closing(connect(pair_db, read_only=True)) as con:
        recorded = [r[0] for r in con.execute("SELECT mode FROM runs ORDER BY run_id").fetchall()]
    assert "validate" not in recorded  # nothing was recorded
    # A good finemap run passes the checks and is recorded with the run.
    with closing(connect(pair_db)) as con:
        run_id = runs.create_run(con, spec_a(finemap_run=fm_ok, phenotypes_per_unit=None))
        assert runs.load_spec(con, run_id).finemap_run == fm_ok


# ------------------------------------------------------------------------------------- drop-in
VAL = GOLDEN / "val"


def val_args(*, required_only: bool = False) -> list[str]:
    args = [
        "--val_genotypes", str(VAL / "genotypes"),
        "--val_quantifications", str(VAL / "quantifications.csv"),
        "--val_segmentation", str(VAL / "segments.csv"),
    ]  # fmt: skip
    if not required_only:
        args += ["--val_covariates", str(VAL / "covariates.csv")]
        args += ["--val_copynumber", str(VAL / "copynumbers.csv")]
    return args


def dropin_args(out: Path, *flags: str, mode: str = "validate") -> list[str]:
    return [
        "--mode",
        mode,
        "--chromosome",
        "1",
        *dropin_input_args(),
        "--out_dir",
        str(out),
        *flags,
    ]


DROPIN_BAD = [
    (["--validation_mode", "x", *val_args()],
     "--validation_mode is not one of recalibrated, frozen (got 'x'). Fix: select recalibrated "
     "or frozen"),
    (["--support_definition", "y", *val_args()],
     "--support_definition is not one of stability, selected (got 'y'). Fix: select stability "
     "or selected"),
    (["--restrict_to_supported_phenotypes", *val_args()],
     "--restrict_to_supported_phenotypes needs finemap results (the support test reads their "
     "stability scores or betas). Fix: add "),
    (["--finemap_results_dir", "/no/such", *val_args()],
     "--finemap_results_dir is not a folder (got '/no/such')"),
    ([], "--mode validate requires --val_genotypes, --val_quantifications, --val_segmentation. "
     "Fix: give the validation cohort's files with --val_genotypes, --val_quantifications and "
     "--val_segmentation"),
    (val_args()[:4], "--mode validate requires --val_segmentation. Fix: "),
]  # fmt: skip


def _dropin_id(flags: list[str]) -> str:
    """The test id: the flags, a --val_* flag by its name only."""
    return " ".join(f for f in flags if not f.startswith("/")) or "no --val_*"


@pytest.mark.parametrize(
    ("flags", "message"), DROPIN_BAD, ids=[_dropin_id(f) for f, _ in DROPIN_BAD]
)
def test_dropin__validate_bad_options_are_one_line_errors(tmp_path, flags, message):
    res = CliRunner().invoke(dropin, dropin_args(tmp_path / "out", *flags))
    assert_one_line_error(res, message)
    assert not (tmp_path / "out" / "segqtl.duckdb").exists()  # rejected before any ingest


def test_dropin__val_flags_belong_to_validate(tmp_path):
    res = CliRunner().invoke(dropin, dropin_args(tmp_path / "out", *val_args(), mode="finemap"))
    assert_one_line_error(
        res,
        "segqtl: error: --val_genotypes is a validate option. Fix: use --mode validate, or drop it",
    )


def test_dropin__val_inputs_become_the_validation_cohort(tmp_path, monkeypatch):
    captured, ensured = [], []

    def ensure(db, inputs):
        ensured.append(inputs)
        name = "cohort_main" if len(ensured) % 2 else "cohort_val"
        return IngestResult(name, "x", 10, 10, 10, reused=True)

    monkeypatch.setattr(api, "ensure_cohort", ensure)
    monkeypatch.setattr(api, "run", lambda db, spec, **kw: captured.append(spec) or 3)
    monkeypatch.setattr(
        api, "export", lambda db, run_id, out, **k: [Path(out) / "validate_chr1.csv"]
    )
    res = CliRunner().invoke(dropin, dropin_args(tmp_path / "out", "-q", *val_args()))
    assert res.exit_code == 0, res.stderr
    assert res.stdout.strip() == str(tmp_path / "out" / "validate_chr1.csv")
    assert captured[0] == RunSpec(
        mode="validate", cohort="cohort_main", chromosomes=["1"], validation_cohort="cohort_val"
    )
    assert ensured[1] == CohortInputs(
        genotypes=str(VAL / "genotypes"),
        quantifications=str(VAL / "quantifications.csv"),
        segmentation=str(VAL / "segments.csv"),
        covariates=str(VAL / "covariates.csv"),
        copynumber=str(VAL / "copynumbers.csv"),
    )
    # The validation cohort's covariates and copy number are optional.
    res = CliRunner().invoke(
        dropin, dropin_args(tmp_path / "out", "-q", *val_args(required_only=True))
    )
    assert res.exit_code == 0, res.stderr
    assert captured[1] == captured[0]
    assert ensured[3] == CohortInputs(
        genotypes=str(VAL / "genotypes"),
        quantifications=str(VAL / "quantifications.csv"),
        segmentation=str(VAL / "segments.csv"),
    )


def test_dropin__ingests_the_validation_cohort_into_the_warehouse(tmp_path, monkeypatch):
    captured = []
    monkeypatch.setattr(api, "run", lambda db, spec, **kw: captured.append(spec) or 1)
    monkeypatch.setattr(api, "export", lambda db, run_id, out, **k: [])
    db = tmp_path / "wh.duckdb"
    res = CliRunner().invoke(dropin, dropin_args(tmp_path / "out", *val_args(), "--db", str(db)))
    assert res.exit_code == 0, res.stderr
    assert "ingested validation cohort" in res.stderr
    with closing(connect(db, read_only=True)) as con:
        cohorts = dict(con.execute("SELECT cohort, n_samples FROM cohorts").fetchall())
    spec = captured[0]
    assert set(cohorts) == {spec.cohort, spec.validation_cohort}
    assert spec.cohort != spec.validation_cohort
    # A second call reuses both cohorts.
    res = CliRunner().invoke(dropin, dropin_args(tmp_path / "out", *val_args(), "--db", str(db)))
    assert res.exit_code == 0, res.stderr
    assert "reusing validation cohort" in res.stderr
    assert captured[1] == spec


# ----------------------------------------------------------------------------------------- fdr
def test_cli_fdr__validate_run_is_a_clear_error(pair_db):
    run_id = commit_run(pair_db, spec_a(), unit_results_a())
    res = CliRunner().invoke(cli, ["fdr", "--db", str(pair_db), "--run", str(run_id)])
    assert_one_line_error(
        res,
        f"run {run_id} is a validate run, which has no p-values for q-values. Fix: use a "
        "perm run (gene level) or an all-variants nominal run (pair level)",
    )
