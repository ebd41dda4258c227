"""finemap wiring: schema (migration 003), unit commits of several tables, exports, run
parameters, validation and both command lines.

None of these tests runs the finemap worker: results are hand-built frames committed with
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
from segqtl.ingest import IngestResult
from segqtl.spec import RunSpec
from segqtl.warehouse import db as wdb
from segqtl.warehouse import runs
from segqtl.warehouse.db import connect

from .conftest import as_segqtl_of_schema, cohort_kwargs, dropin_input_args

STATS_FLOATS = (
    "median_n_obs",
    "mean_d",
    "sd_d",
    "frac_alt_gain",
    "frac_ref_gain",
    "frac_balanced",
    "stability_score",
    "mean_beta",
    "sign_consistency",
    "lambda_selected",
    "beta_full",
    "beta_full_raw",
    "beta_cnlr",
)
STATS_SCHEMA = {
    "phenotype_idx": pl.Int32,
    "variant_idx": pl.Int32,
    "n_samples": pl.Int32,
    "n_variants": pl.Int32,
    "n_obs": pl.Int32,
    **dict.fromkeys(STATS_FLOATS, pl.Float64),
    "effect_interpretation": pl.Utf8,
    "status": pl.Int8,
    "message": pl.Utf8,
}
BOOT_SCHEMA = {
    "phenotype_idx": pl.Int32,
    "variant_idx": pl.Int32,
    "bootstrap_iteration": pl.Int32,
    "beta_full": pl.Float64,
}
R2_FLOATS = ("r2_baseline", "r2_baseline_adj", "r2_full", "r2_full_adj", "delta_r2", "delta_r2_adj")
R2_SCHEMA = {
    "phenotype_idx": pl.Int32,
    "n_samples": pl.Int32,
    **dict.fromkeys(R2_FLOATS, pl.Float64),
    "r2_n_variants": pl.Int32,
    "r2_variants": pl.Utf8,
}
FINEMAP_COLUMNS = [
    "phenotype",
    "variant",
    "n_samples",
    "n_variants",
    "n_obs",
    *STATS_FLOATS[:10],
    "lambda_bic",
    *STATS_FLOATS[10:],
    "effect_interpretation",
    "chr",
]
BOOT_COLUMNS = ["phenotype", "variant", "bootstrap_iteration", "beta_full"]
R2_COLUMNS = ["phenotype", "n_samples", *R2_FLOATS, "r2_n_variants", "r2_variants"]
REF_UP = "REF gain increases phenotype; ALT gain decreases phenotype"
NAN = math.nan
FINEMAP = modes.get("finemap")


# ------------------------------------------------------------------------------------ helpers
def stats_row(ph, v, n, p, n_obs, **values) -> dict:
    """A finemap_stats row; statistics not given are missing."""
    row = dict.fromkeys(STATS_SCHEMA)
    row.update(phenotype_idx=ph, variant_idx=v, n_samples=n, n_variants=p, n_obs=n_obs)
    row.update(status=0)
    row.update(values)
    return row


def empty_row(ph, n, status, message=None) -> dict:
    """A phenotype's single empty row (docs/methods.md#finemap-outputs)."""
    return stats_row(ph, None, n, 0, 0, status=status, message=message)


def frames(stats, boot=(), r2=()) -> dict[str, pl.DataFrame]:
    """The worker's frames, column order as in the contract."""
    return {
        "finemap_stats": pl.DataFrame(list(stats), schema=STATS_SCHEMA, orient="row"),
        "finemap_bootstrap_stats": pl.DataFrame(list(boot), schema=BOOT_SCHEMA, orient="row"),
        "finemap_r2_stats": pl.DataFrame(list(r2), schema=R2_SCHEMA, orient="row"),
    }


def names(con, chrom="chr1") -> tuple[dict[int, str], dict[int, str]]:
    """phenotype_idx -> gene_id and variant_idx -> variant_id of the small cohort."""
    genes = dict(
        con.execute(
            "SELECT phenotype_idx, gene_id FROM phenotypes WHERE cohort = 'small' AND chr = ?",
            [chrom],
        ).fetchall()
    )
    variants = dict(
        con.execute(
            "SELECT variant_idx, variant_id FROM variants WHERE cohort = 'small' AND chr = ?",
            [chrom],
        ).fetchall()
    )
    return genes, variants


def commit_run(db, spec: RunSpec, unit_results: list[tuple[dict, dict]]) -> int:
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


def unit_results_a(variants) -> list[tuple[dict, dict]]:
    """Two units of chr1 (phenotypes 0-5 and 6-11), rows deliberately out of order."""
    r2_ids = f"{variants[5]};{variants[3]}"
    unit0 = frames(
        stats=[
            empty_row(2, 0, status=8, message="LinAlgError: SVD did not converge"),
            stats_row(
                0,
                5,
                60,
                2,
                58,
                median_n_obs=56.5,
                mean_d=0.1,
                sd_d=1.25,
                frac_alt_gain=0.2,
                frac_ref_gain=0.5,
                frac_balanced=0.3,
                stability_score=0.5,
                mean_beta=0.25,
                sign_consistency=1.0,
                lambda_selected=12.5,
                beta_full=0.1,
                beta_full_raw=0.08,
                beta_cnlr=NAN,
                effect_interpretation=REF_UP,
            ),  # fmt: skip
            stats_row(
                0,
                3,
                60,
                2,
                55,
                median_n_obs=56.5,
                mean_d=-0.5,
                sd_d=2.0,
                frac_alt_gain=0.6,
                frac_ref_gain=0.1,
                frac_balanced=0.3,
                stability_score=0.0,
                mean_beta=0.0,
                sign_consistency=NAN,
                lambda_selected=12.5,
                beta_full=0.0,
                beta_full_raw=0.0,
                beta_cnlr=NAN,
                effect_interpretation="no effect",
            ),  # fmt: skip
            empty_row(1, 0, status=6),
        ],
        boot=[(0, 5, 2, 0.3), (0, 3, 1, -0.2), (0, 5, 1, 0.1)],
        r2=[(0, 60, 0.1, 0.05, 0.4, 0.35, 0.3, 0.3, 2, r2_ids)],
    )
    unit1 = frames(
        stats=[
            stats_row(
                7,
                40,
                58,
                1,
                58,
                median_n_obs=58.0,
                mean_d=0.0,
                sd_d=1.0,
                frac_alt_gain=0.25,
                frac_ref_gain=0.25,
                frac_balanced=0.5,
                stability_score=1.0,
                mean_beta=-0.5,
                sign_consistency=0.0,
                lambda_selected=3.0,
                beta_full=-0.25,
                beta_full_raw=-0.25,
                beta_cnlr=0.125,
                effect_interpretation="ALT gain increases phenotype; REF gain decreases phenotype",
            ),  # fmt: skip
            empty_row(6, 0, status=1),
        ],
        boot=[(7, 40, 1, 1e-20)],
        r2=[(7, 58, 0.2, 0.15, None, None, None, None, None, None)],
    )
    return [
        (unit0, {"tested": 1, "no_cis_variant": 1, "failed": 1}),
        (unit1, {"tested": 1, "too_few_samples": 1}),
    ]


def spec_a(**kw) -> RunSpec:
    return RunSpec(mode="finemap", cohort="small", chromosomes=["1"], phenotypes_per_unit=6, **kw)


def csv_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


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
def test_migrate__003_applies_on_a_fresh_warehouse(tmp_path):
    with closing(connect(tmp_path / "wh.duckdb")) as con:
        versions = con.execute("SELECT version, name FROM schema_migrations ORDER BY 1").fetchall()
        codes = dict(con.execute("SELECT code, name FROM result_status").fetchall())
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'finemap%'"
            ).fetchall()
        }
        stats_cols = con.execute("SELECT * FROM finemap_stats LIMIT 0").description
    # Later migrations (004 validate, ...) follow; this test covers 001-003.
    assert versions[:3] == [(1, "init"), (2, "perm"), (3, "finemap")]
    assert wdb.SCHEMA_VERSION >= 3
    assert {6: "no_cis_variant", 7: "no_variant_passes_coverage", 8: "failed"}.items() <= (
        codes.items()
    )
    assert codes[0] == "tested" and codes[1] == "too_few_samples"
    # Migration 005 renamed the bootstrap and R² tables (*_stats) and gave their views the
    # result sets' names.
    assert tables == {
        "finemap_stats",
        "finemap_bootstrap_stats",
        "finemap_r2_stats",
        "finemap_results",
        "finemap_bootstrap",
        "finemap_r2",
    }
    assert [c[0] for c in stats_cols] == ["run_id", "unit_id", "chr", *STATS_SCHEMA]


def test_migrate__upgrades_a_warehouse_created_at_version_2(tmp_path, small_cohort, monkeypatch):
    # Build the warehouse with a segqtl that knows migrations 001-002 only.
    as_segqtl_of_schema(monkeypatch, 2)
    db = tmp_path / "old.duckdb"
    api.ingest(db, "small", **cohort_kwargs(small_cohort))
    run_id = api.run(db, RunSpec(mode="nominal", cohort="small", chromosomes=["1"]))
    with closing(duckdb.connect(str(db))) as con:
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchone() == (2,)
        assert not con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'finemap_stats'"
        ).fetchone()[0]
        before = con.execute(
            "SELECT * FROM nominal_results ORDER BY chr, phenotype_idx, variant_idx"
        ).fetchall()
    monkeypatch.undo()

    with pytest.raises(UsageError, match="segqtl upgrade --db"):
        connect(db, read_only=True)  # an older schema is not upgraded by a reader
    with closing(connect(db)) as con:  # a writer upgrades it
        versions = [r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()]
        after = con.execute(
            "SELECT * EXCLUDE (run_name) FROM nominal_results "
            "ORDER BY chr, phenotype_idx, variant_idx"
        ).fetchall()
        n_codes = con.execute("SELECT count(*) FROM result_status").fetchone()[0]
        spec = runs.load_spec(con, run_id)
        for view in ("finemap_results", "finemap_bootstrap", "finemap_r2"):
            assert con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,)
    assert sorted(versions) == list(range(1, wdb.SCHEMA_VERSION + 1))
    assert after == before and len(before) == 12
    assert n_codes >= 9
    assert spec.mode == "nominal" and spec.n_bootstrap == 200 and spec.phenotype_id is None


# ---------------------------------------------------------------------------------- write_unit
def test_write_unit__commits_all_three_tables_with_the_unit(small_db):
    with closing(connect(small_db)) as con:
        genes, variants = names(con)
    run_id = commit_run(small_db, spec_a(compute_r2=True), unit_results_a(variants))
    with closing(connect(small_db, read_only=True)) as con:
        counts = {
            t: con.execute(f"SELECT count(*) FROM {t} WHERE run_id = ?", [run_id]).fetchone()[0]
            for t in ("finemap_stats", "finemap_bootstrap_stats", "finemap_r2_stats")
        }
        units = con.execute(
            "SELECT unit_id, status, n_rows, n_pairs, n_pairs_tested, skipped FROM run_units "
            "WHERE run_id = ? ORDER BY unit_id",
            [run_id],
        ).fetchall()
        run = con.execute(
            "SELECT status, n_rows, n_pairs_tested, n_pairs_skipped FROM runs WHERE run_id = ?",
            [run_id],
        ).fetchone()
        results = con.execute(
            "SELECT phenotype_idx, variant_idx, phenotype, variant, status, message, "
            "lambda_selected, lambda_bic, sign_consistency, beta_cnlr, distance, "
            "pos - phenotype_start FROM finemap_results WHERE run_id = ? "
            "ORDER BY phenotype_idx, variant_idx",
            [run_id],
        ).fetchall()
        keys = con.execute(
            "SELECT DISTINCT unit_id, chr FROM finemap_bootstrap_stats WHERE run_id = ? ORDER BY 1",
            [run_id],
        ).fetchall()
    assert counts == {"finemap_stats": 6, "finemap_bootstrap_stats": 4, "finemap_r2_stats": 2}
    assert [u[:5] for u in units] == [(0, "done", 4, 3, 1), (1, "done", 2, 2, 1)]
    assert run == ("completed", 6, 2, 3)
    assert keys == [(0, "chr1"), (1, "chr1")]
    by_key = {(r[0], r[1]): r for r in results}
    fitted = by_key[(0, 5)]
    assert fitted[2:4] == (genes[0], variants[5])
    assert fitted[4:8] == ("tested", None, 12.5, 12.5)
    assert by_key[(0, 3)][8] is None and by_key[(0, 3)][9] is None  # NaN stored as NULL
    assert fitted[10] == fitted[11]
    assert by_key[(1, None)][2:6] == (genes[1], None, "no_cis_variant", None)
    assert by_key[(2, None)][4:6] == ("failed", "LinAlgError: SVD did not converge")
    assert by_key[(6, None)][4] == "too_few_samples"


def test_write_unit__a_failing_table_rolls_back_the_whole_unit(small_db):
    with closing(connect(small_db)) as con:
        _, variants = names(con)
        run_id = runs.create_run(con, spec_a(compute_r2=True))
        unit = runs.pending_units(con, run_id)[0]
        fr, counts = unit_results_a(variants)[0]
        # finemap_stats and finemap_bootstrap insert fine, then finemap_r2 breaks NOT NULL.
        fr["finemap_r2_stats"] = fr["finemap_r2_stats"].with_columns(
            pl.lit(None, pl.Int32).alias("n_samples")
        )
        with pytest.raises(duckdb.ConstraintException):
            runs.write_unit(con, run_id, FINEMAP, unit, fr, counts, 6, 0.1, "chr1")
        left = [
            con.execute(f"SELECT count(*) FROM {t} WHERE run_id = ?", [run_id]).fetchone()[0]
            for t in ("finemap_stats", "finemap_bootstrap_stats", "finemap_r2_stats")
        ]
        status = con.execute(
            "SELECT status FROM run_units WHERE run_id = ? AND unit_id = 0", [run_id]
        ).fetchone()[0]
    assert left == [0, 0, 0]
    assert status == "pending"


def test_write_unit__frames_must_match_the_tables(small_db):
    with closing(connect(small_db)) as con:
        _, variants = names(con)
        run_id = runs.create_run(con, spec_a())
        unit = runs.pending_units(con, run_id)[0]
        fr, counts = unit_results_a(variants)[0]

        def write(frames_):
            runs.write_unit(con, run_id, FINEMAP, unit, frames_, counts, 6, 0.1, "chr1")

        with pytest.raises(ValueError, match=r"missing columns \['message'\]"):
            write({**fr, "finemap_stats": fr["finemap_stats"].drop("message")})
        with pytest.raises(ValueError, match=r"unexpected columns \['variant_chr'\]"):
            write(
                {
                    **fr,
                    "finemap_r2_stats": fr["finemap_r2_stats"].with_columns(
                        variant_chr=pl.lit("chr1")
                    ),
                }
            )
        with pytest.raises(ValueError, match="cannot write tables"):
            write({**fr, "nominal_stats": fr["finemap_stats"]})
        with pytest.raises(ValueError, match="must return a finemap_stats frame"):
            write({"finemap_r2_stats": fr["finemap_r2_stats"]})
        # Column order does not matter: columns are matched by name.
        write({k: v.select(reversed(v.columns)) for k, v in fr.items()})
        n = con.execute("SELECT count(*) FROM finemap_stats WHERE run_id = ?", [run_id]).fetchone()
    assert n == (4,)


# -------------------------------------------------------------------------------------- export
def test_export__finemap_files_columns_order_and_missing_values(small_db, tmp_path):
    with closing(connect(small_db)) as con:
        genes, variants = names(con)
    run_id = commit_run(small_db, spec_a(compute_r2=True), unit_results_a(variants))
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli, ["export", "--db", str(small_db), "--run", str(run_id), "--out-dir", str(out)]
    )
    assert res.exit_code == 0, res.stderr
    paths = [Path(p) for p in res.stdout.split()]
    assert [p.name for p in paths] == [
        "finemap_chr1.csv",
        "finemap_bootstrap_nonzero_chr1.csv",
        "finemap_r2_chr1.csv",
    ]
    main, boot, r2 = (csv_lines(p) for p in paths)

    assert main[0].split(",") == FINEMAP_COLUMNS
    g0, g1, g2, g6, g7 = genes[0], genes[1], genes[2], genes[6], genes[7]
    assert main[1:] == [
        f"{g0},{variants[3]},60,2,55,56.5,-0.5,2.0,0.6,0.1,0.3,0.0,0.0,,12.5,12.5,0.0,0.0,,"
        "no effect,chr1",
        f"{g0},{variants[5]},60,2,58,56.5,0.1,1.25,0.2,0.5,0.3,0.5,0.25,1.0,12.5,12.5,0.1,0.08,,"
        f"{REF_UP},chr1",
        ",".join([g1, "", "0", "0", "0", *[""] * 15, "chr1"]),  # the empty row
        ",".join([g2, "", "0", "0", "0", *[""] * 15, "chr1"]),  # failed: the same empty row
        ",".join([g6, "", "0", "0", "0", *[""] * 15, "chr1"]),
        f"{g7},{variants[40]},58,1,58,58.0,0.0,1.0,0.25,0.25,0.5,1.0,-0.5,0.0,3.0,3.0,-0.25,"
        "-0.25,0.125,ALT gain increases phenotype; REF gain decreases phenotype,chr1",
    ]
    assert boot == [
        ",".join(BOOT_COLUMNS),
        f"{g0},{variants[3]},1,-0.2",
        f"{g0},{variants[5]},1,0.1",
        f"{g0},{variants[5]},2,0.3",
        f"{g7},{variants[40]},1,1e-20",
    ]
    assert r2 == [
        ",".join(R2_COLUMNS),
        f"{g0},60,0.1,0.05,0.4,0.35,0.3,0.3,2,{variants[5]};{variants[3]}",
        f"{g7},58,0.2,0.15,,,,,,",
    ]
    # The files read back as SegmentQTL's do: numbers numeric, empty cells missing.
    frame = pl.read_csv(paths[0], infer_schema_length=None)
    assert frame["lambda_bic"].to_list() == frame["lambda_selected"].to_list()
    assert frame["variant"].null_count() == 3


def test_export__single_phenotype_suffix_header_only_bootstrap_and_no_r2(small_db, tmp_path):
    out = tmp_path / "out"
    with closing(connect(small_db)) as con:
        genes, variants = names(con)
    gene = genes[3]
    # compute_r2 on, but no R² row: the phenotype did not reach the elastic net.
    spec = RunSpec(
        mode="finemap", cohort="small", chromosomes=["1", "2"], phenotype_id=gene, compute_r2=True
    )
    fr = frames(stats=[empty_row(3, 60, status=7)])
    run_id = commit_run(small_db, spec, [(fr, {"no_variant_passes_coverage": 1})])
    with closing(connect(small_db, read_only=True)) as con:
        planned = con.execute(
            "SELECT chr, first_phenotype_idx, last_phenotype_idx FROM run_units WHERE run_id = ?",
            [run_id],
        ).fetchall()
    assert planned == [("chr1", 3, 3)]  # the phenotype keeps its row (its seed index)
    paths = api.export(small_db, run_id, out)
    # Files only for the chromosome holding the phenotype, with the _<P> suffix.
    assert [p.name for p in paths] == [
        f"finemap_chr1_{gene}.csv",
        f"finemap_bootstrap_nonzero_chr1_{gene}.csv",
    ]
    assert csv_lines(paths[0])[1:] == [",".join([gene, "", "60", "0", "0", *[""] * 15, "chr1"])]
    assert csv_lines(paths[1]) == [",".join(BOOT_COLUMNS)]  # header only
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)

    # compute_r2 off: no R² file even with bootstrap rows; overwriting warns.
    run_b = commit_run(small_db, spec_a(), unit_results_a(variants))
    with pytest.warns(UserWarning, match="overwriting"):
        api.export(small_db, run_b, out)
        api.export(small_db, run_b, out)
    assert not (out / "finemap_r2_chr1.csv").exists()
    assert (out / "finemap_chr1.csv").exists()


def test_export__unfinished_finemap_run_is_refused(small_db, tmp_path):
    with closing(connect(small_db)) as con:
        run_id = runs.create_run(con, spec_a())
    with pytest.raises(UsageError, match="is running, not completed"):
        api.export(small_db, run_id, tmp_path)


# ------------------------------------------------------------------------------------ RunSpec
def test_runspec__from_rows_of_an_older_run_takes_the_defaults():
    # A perm run recorded before finemap and validate existed has none of their rows; its
    # provenance rows (input:*) are not fields.
    later = {n for n, p in modes.params().items() if not p.applies_to("perm")}
    finemap_fields = {p.name for p in FINEMAP.params}
    assert finemap_fields <= later
    old = RunSpec(mode="perm", cohort="c", chromosomes=["chr2"], num_permutations=100)
    rows = [(k, v) for k, v in old.to_rows() if k not in later]
    rows += [("input:quantifications", '"abc"'), ("input:val:genotypes", '"def"')]
    rows += [("skipped_by_reason", "{}")]
    spec = RunSpec.from_rows(rows)
    assert spec == old
    assert {k: getattr(spec, k) for k in later} == {k: modes.param(k).default for k in later}
    # SegmentQTL's defaults.
    assert (spec.alpha_en, spec.coverage_tau, spec.n_bootstrap, spec.subsample_frac) == (
        0.5,
        0.6,
        200,
        0.8,
    )
    assert (spec.n_lambda, spec.lambda_ratio, spec.cv_tau, spec.min_obs_boot) == (30, 0.01, 0.8, 20)
    assert (spec.compute_r2, spec.r2_stability_threshold, spec.phenotype_id) == (False, 0.6, None)


# --------------------------------------------------------------------------------- validation
# Every declared range is checked by tests/test_modes.py; these are the rules FinemapMode.check
# adds.
BAD_FINEMAP = [
    (["--all-variants"], "--all-variants is not a finemap option (finemap reports on every "
     "phenotype; --phenotype-id GENE selects one phenotype). Fix: drop --all-variants"),
    (["--all_variants", "G1_003"], "--all_variants is not a finemap option"),
    (["--neg-control"], "--neg-control is not a finemap option (negative controls belong to "
     "nominal and perm modes). Fix: drop --neg-control"),
    (["--record-aic"], "--record-aic is not a finemap option (AIC belongs to nominal and perm "
     "modes). Fix: drop --record-aic"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "message"), BAD_FINEMAP, ids=[" ".join(f) for f, _ in BAD_FINEMAP]
)
def test_cli_run__finemap_refuses_nominal_and_perm_options(tmp_path, flags, message):
    db = tmp_path / "wh.duckdb"
    args = ["run", "--db", str(db), "--cohort", "small", "--chromosome", "1", "--mode", "finemap"]
    res = CliRunner().invoke(cli, [*args, *flags])
    assert_one_line_error(res, message)
    assert not db.exists()  # rejected before the warehouse is opened


def test_cli_run__phenotype_id_is_refused_by_nominal(tmp_path):
    db = tmp_path / "wh.duckdb"
    args = ["run", "--db", str(db), "--cohort", "small", "--chromosome", "1"]
    res = CliRunner().invoke(cli, [*args, "--mode", "nominal", "--phenotype-id", "G1_003"])
    assert_one_line_error(
        res,
        "segqtl: error: --phenotype-id is a finemap and validate option, not a nominal one. "
        "Fix: use --mode finemap, or drop --phenotype-id",
    )
    assert not db.exists()


@pytest.mark.parametrize("chrom", ["1", "2"])
def test_cli_run__finemap_phenotype_must_be_on_the_chromosome(small_db, chrom):
    gene = "NOT_A_GENE" if chrom == "1" else "G1_003"  # G1_003 exists, on chr1
    args = ["run", "--db", str(small_db), "--cohort", "small", "--chromosome", chrom]
    res = CliRunner().invoke(cli, [*args, "--mode", "finemap", "--phenotype-id", gene])
    assert_one_line_error(res, f"phenotype {gene!r} is not on chr{chrom}")
    with closing(connect(small_db, read_only=True)) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (0,)


# ------------------------------------------------------------------------------------- drop-in
def dropin_args(out: Path, *flags: str, copynumber: bool = True) -> list[str]:
    inputs = dropin_input_args()
    if not copynumber:
        i = inputs.index("--copynumber")
        del inputs[i : i + 2]
    return ["--mode", "finemap", "--chromosome", "1", *inputs, "--out_dir", str(out), *flags]


DROPIN_BAD = [
    (["--all_variants"], "--all_variants is not a finemap option"),
    (["--neg_control"], "--neg_control is not a finemap option"),
    (["--record_aic"], "--record_aic is not a finemap option"),
]


@pytest.mark.parametrize(("flags", "message"), DROPIN_BAD, ids=[" ".join(f) for f, _ in DROPIN_BAD])
def test_dropin__finemap_refuses_nominal_and_perm_options(tmp_path, flags, message):
    res = CliRunner().invoke(dropin, dropin_args(tmp_path / "out", *flags))
    line = assert_one_line_error(res, message)
    assert line.endswith(f"Fix: drop {flags[0]}")
    assert not (tmp_path / "out" / "segqtl.duckdb").exists()  # rejected before any ingest


def test_dropin__finemap_runs_without_copy_number(tmp_path, monkeypatch):
    captured = []
    cohort = IngestResult("cohort_x", "x", 120, 80, 300, reused=True)
    monkeypatch.setattr(api, "ensure_cohort", lambda db, inputs: cohort)
    monkeypatch.setattr(api, "run", lambda db, spec, **kw: captured.append(spec) or 3)
    monkeypatch.setattr(
        api, "export", lambda db, run_id, out, **k: [Path(out) / "finemap_chr1.csv"]
    )
    # Copy number is optional in finemap mode (perm needs it).
    res = CliRunner().invoke(dropin, dropin_args(tmp_path / "out", "-q", copynumber=False))
    assert res.exit_code == 0, res.stderr
    assert res.stdout.strip() == str(tmp_path / "out" / "finemap_chr1.csv")
    assert captured == [RunSpec(mode="finemap", cohort="cohort_x", chromosomes=["1"])]


# ----------------------------------------------------------------------------------------- fdr
def test_cli_fdr__finemap_run_is_a_clear_error(small_db):
    with closing(connect(small_db)) as con:
        _, variants = names(con)
    run_id = commit_run(small_db, spec_a(), unit_results_a(variants))
    res = CliRunner().invoke(cli, ["fdr", "--db", str(small_db), "--run", str(run_id)])
    assert_one_line_error(
        res,
        f"run {run_id} is a finemap run, which has no p-values for q-values. Fix: use a "
        "perm run (gene level) or an all-variants nominal run (pair level)",
    )
