"""The stable SQL surface and the commands that read it: runs, show, query (issue 6).

One warehouse with a run of every mode (module fixture), then assertions on the views, the
run records and the command output.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

from segqtl import api
from segqtl.cli import cli
from segqtl.errors import UsageError
from segqtl.spec import RunSpec
from segqtl.warehouse import db as wdb
from segqtl.warehouse.db import connect

from .conftest import as_segqtl_of_schema, cohort_kwargs

FAST = dict(n_bootstrap=12, n_lambda=6)
ANNOTATIONS = ["pos", "ref", "alt", "phenotype_start", "phenotype_end", "distance"]
RESULT_VIEWS = {
    # view -> annotation columns it must carry (besides run_id, run_name, cohort, phenotype)
    "nominal_results": ANNOTATIONS + ["variant"],
    "perm_results": ANNOTATIONS + ["variant", "beta_shape1"],
    "qvalues": ANNOTATIONS + ["variant", "qvalue", "is_hit"],
    "finemap_results": ANNOTATIONS + ["variant"],
    "finemap_bootstrap": ANNOTATIONS + ["variant", "bootstrap_iteration"],
    "finemap_r2": ["phenotype_start", "phenotype_end", "r2_full"],
    "validate_results": ["phenotype_start", "phenotype_end", "validation_cohort"],
    "validate_residuals": ["phenotype_start", "phenotype_end", "sample_id"],
    "validate_model": ANNOTATIONS + ["block", "name", "validation_cohort"],
}


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    """A warehouse with cohorts 'small' and 'val' and one run of every mode.

    Returns a dict: db path, the run ids by mode and the simulated cohort.
    """
    from segqtl.simulate import simulate_cohort

    tmp = tmp_path_factory.mktemp("surface")
    db = tmp / "wh.duckdb"
    cohort = simulate_cohort(
        tmp / "sim", seed=7, n_samples=60, chromosomes=("1",), n_phenotypes=12, n_variants=80,
        chromosome_length=6_000_000, missing_rate=0.03, n_validation_samples=50,
    )  # fmt: skip
    api.ingest(db, "small", **cohort_kwargs(cohort))
    kw = cohort_kwargs(cohort.validation)
    kw.pop("phenotype_covariate")
    api.ingest(db, "val", **kw)
    runs = {}
    base = dict(cohort="small", chromosomes=["1"])
    runs["nominal"] = api.run(db, RunSpec(mode="nominal", all_variants=True, name="all", **base))
    runs["perm"] = api.run(db, RunSpec(mode="perm", num_permutations=100, name="perm-100", **base))
    runs["finemap"] = api.run(
        db, RunSpec(mode="finemap", compute_r2=True, r2_stability_threshold=0.3, **FAST, **base)
    )
    runs["validate"] = api.run(
        db,
        RunSpec(
            mode="validate",
            validation_cohort="val",
            finemap_run=runs["finemap"],
            save_model_audit=True,
            name="to-val",
            **FAST,
            **base,
        ),
    )
    return {"db": db, "runs": runs, "cohort": cohort}


def _sql(db, sql, params=None):
    with closing(connect(db, read_only=True)) as con:
        return con.sql(sql, params=params).pl()


def _invoke(*args):
    res = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in res.stderr
    return res


# ------------------------------------------------------------------------------------- views
@pytest.mark.parametrize("view", sorted(RESULT_VIEWS))
def test_views__every_result_set_has_a_view_with_annotations(wh, view):
    df = _sql(wh["db"], f"SELECT * FROM {view}")
    assert df.height > 0, view
    for col in ["run_id", "run_name", "cohort", "phenotype", *RESULT_VIEWS[view]]:
        assert col in df.columns, (view, col)
    if "distance" in df.columns:
        known = df.filter(pl.col("pos").is_not_null())
        assert known.height > 0
        assert (known["distance"] == known["pos"] - known["phenotype_start"]).all()


def test_views__annotations_match_the_input_tables(wh):
    db = wh["db"]
    nominal = _sql(
        db,
        "SELECT phenotype, variant, pos, ref, alt, phenotype_start, phenotype_end, run_name "
        "FROM nominal_results WHERE run_id = $r AND status = 'tested'",
        {"r": wh["runs"]["nominal"]},
    )
    # variant IDs are chr:pos:ref:alt as written; the annotation columns must agree with them
    parts = nominal["variant"].str.split(":")
    assert (parts.list.get(1).cast(pl.Int64) == nominal["pos"]).all()
    assert (parts.list.get(2) == nominal["ref"]).all()
    assert (parts.list.get(3) == nominal["alt"]).all()
    assert set(nominal["run_name"]) == {"all"}
    quant = pl.read_csv(wh["cohort"].quantifications).select(
        pl.col("gene_id").alias("phenotype"),
        pl.col("start").alias("phenotype_start"),
        pl.col("end").alias("phenotype_end"),
    )
    joined = nominal.join(quant, on="phenotype", suffix="_file")
    assert joined.height == nominal.height
    assert (joined["phenotype_start"] == joined["phenotype_start_file"]).all()
    assert (joined["phenotype_end"] == joined["phenotype_end_file"]).all()


def test_views__qvalues_follow_the_perm_run(wh):
    run = wh["runs"]["perm"]
    q = _sql(wh["db"], "SELECT * FROM qvalues WHERE run_id = $r ORDER BY chr, phenotype_idx",
             {"r": run})  # fmt: skip
    perm = _sql(
        wh["db"],
        "SELECT phenotype, variant, p_adj FROM perm_results WHERE run_id = $r "
        "ORDER BY chr, phenotype_idx",
        {"r": run},
    )
    assert q["phenotype"].to_list() == perm["phenotype"].to_list()
    assert q["variant"].to_list() == perm["variant"].to_list()
    assert q["p_value"].to_list() == perm["p_adj"].to_list()
    assert (q["is_hit"] == (q["qvalue"] <= q["fdr"])).all()


def test_views__validate_model_rows_naming_variants_carry_positions(wh):
    m = _sql(
        wh["db"], "SELECT * FROM validate_model WHERE run_id = $r", {"r": wh["runs"]["validate"]}
    )
    variant_rows = m.filter(pl.col("name").str.count_matches(":") == 3)
    assert variant_rows.height > 0
    assert variant_rows["pos"].null_count() == 0
    assert (
        m.filter(pl.col("name") == "intercept")["pos"].null_count()
        == m.filter(pl.col("name") == "intercept").height
    )
    # the join adds no rows: one view row per stored audit row
    n = _sql(wh["db"], "SELECT count(*) AS n FROM validate_model_stats WHERE run_id = $r",
             {"r": wh["runs"]["validate"]})["n"][0]  # fmt: skip
    assert m.height == n


def test_runs_table__records_cohorts_names_versions_and_counts(wh):
    runs = _sql(wh["db"], "SELECT * FROM runs ORDER BY run_id")
    cols = ["run_id", "name", "mode", "cohort", "validation_cohort", "chromosomes", "status",
            "started_at", "finished_at", "segqtl_version", "n_phenotypes", "n_pairs"]  # fmt: skip
    assert set(cols) <= set(runs.columns)
    by_mode = {r["mode"]: r for r in runs.iter_rows(named=True)}
    assert by_mode["validate"]["validation_cohort"] == "val"
    assert by_mode["nominal"]["validation_cohort"] is None
    assert by_mode["perm"]["name"] == "perm-100"
    assert all(r["status"] == "completed" for r in runs.iter_rows(named=True))
    assert all(r["finished_at"] >= r["started_at"] for r in runs.iter_rows(named=True))
    assert by_mode["nominal"]["n_phenotypes"] == 12


def test_run_parameters__hold_every_parameter_and_the_input_checksums(wh):
    run = wh["runs"]["perm"]
    params = dict(
        _sql(wh["db"], "SELECT key, value FROM run_parameters WHERE run_id = $r", {"r": run}).rows()
    )
    assert json.loads(params["num_permutations"]) == 100
    assert json.loads(params["window"]) == 1_000_000
    assert json.loads(params["name"]) == "perm-100"
    cohort = wh["cohort"]
    files = {"quantifications": cohort.quantifications, "segmentation": cohort.segmentation,
             "covariates": cohort.covariates}  # fmt: skip
    for role, path in files.items():
        assert (
            json.loads(params[f"input:{role}"])
            == hashlib.sha256(Path(path).read_bytes()).hexdigest()
        )
    alt = Path(cohort.genotypes) / "chr1_ALTlr.csv"
    assert (
        json.loads(params["input:genotypes_alt:chr1"])
        == hashlib.sha256(alt.read_bytes()).hexdigest()
    )
    assert json.loads(params["version:duckdb"]) == duckdb.__version__
    # validate runs also record the validation cohort's inputs
    vparams = _sql(
        wh["db"], "SELECT key FROM run_parameters WHERE run_id = $r AND key LIKE 'input:val:%'",
        {"r": wh["runs"]["validate"]},
    )  # fmt: skip
    assert vparams.height >= 3


def test_input_tables__cohorts_samples_phenotypes_variants(wh):
    db = wh["db"]
    cohorts = _sql(db, "SELECT cohort, n_samples FROM cohorts ORDER BY cohort")
    assert cohorts.rows() == [("small", 60), ("val", 50)]
    samples = _sql(db, "SELECT sample_id FROM samples WHERE cohort = 'small' ORDER BY sample_idx")
    header = pl.read_csv(wh["cohort"].quantifications, n_rows=0).columns
    assert samples["sample_id"].to_list() == header[4:]
    variants = _sql(db, "SELECT variant_id, chr, pos, ref, alt FROM variants "
                        "WHERE cohort = 'small' AND chr = 'chr1' ORDER BY variant_idx")  # fmt: skip
    geno = pl.read_csv(Path(wh["cohort"].genotypes) / "chr1_ALTlr.csv", columns=[0])
    assert variants["variant_id"].to_list() == geno.to_series().to_list()
    n_pheno = _sql(db, "SELECT count(*) AS n FROM phenotypes WHERE cohort = 'small'")["n"][0]
    assert n_pheno == 12


# ---------------------------------------------------------------------------------- commands
def test_cli_runs__table_tsv_and_json(wh):
    res = _invoke("runs", "--db", wh["db"])
    assert res.exit_code == 0
    header, rule, *rows = res.stdout.splitlines()
    assert header.split()[:4] == ["run_id", "name", "mode", "cohort"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert len(rows) == 4 and "perm-100" in rows[1]
    tsv = _invoke("runs", "--db", wh["db"], "--format", "tsv").stdout
    frame = pl.read_csv(io.StringIO(tsv), separator="\t")
    assert frame["run_id"].to_list() == sorted(wh["runs"].values())
    assert frame["name"].to_list() == ["all", "perm-100", None, "to-val"]
    rows = json.loads(_invoke("runs", "--db", wh["db"], "--format", "json").stdout)
    assert [r["mode"] for r in rows] == ["nominal", "perm", "finemap", "validate"]
    assert rows[3]["validation_cohort"] == "val"


def test_cli_show__parameters_counts_status_timings(wh):
    run = wh["runs"]["perm"]
    res = _invoke("show", "--db", wh["db"], run)
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    for section in ("[run]", "[units]", "[skipped]", "[parameters]", "[provenance]"):
        assert section in lines
    kv = dict(line.split("\t", 1) for line in lines if "\t" in line)
    assert kv["status"] == "completed" and kv["mode"] == "perm" and kv["name"] == "perm-100"
    assert kv["num_permutations"] == "100"
    assert float(kv["seconds"]) > 0
    assert kv["planned"] == kv["done"] == "1"
    assert len(kv["input:quantifications"]) == 64
    info = json.loads(_invoke("show", "--db", wh["db"], run, "--json").stdout)
    assert info["run"]["n_phenotypes"] == 12
    assert info["parameters"]["perm_method"] == "beta"
    assert info["provenance"]["version:segqtl"] == info["run"]["segqtl_version"]
    missing = _invoke("show", "--db", wh["db"], 999)
    assert missing.exit_code != 0 and "run 999 does not exist" in missing.stderr


def test_cli_query__formats_agree_with_the_database(wh):
    sql = (
        "SELECT phenotype, variant, beta_d, nominal_p, number_of_samples FROM nominal_results "
        f"WHERE run_id = {wh['runs']['nominal']} AND status = 'tested' ORDER BY nominal_p LIMIT 7"
    )
    expected = _sql(wh["db"], sql)
    csv = _invoke("query", "--db", wh["db"], sql, "--format", "csv")
    assert csv.exit_code == 0
    assert pl.read_csv(io.StringIO(csv.stdout)).equals(expected)  # floats round-trip exactly
    tsv = _invoke("query", "--db", wh["db"], sql, "--format", "tsv").stdout
    assert pl.read_csv(io.StringIO(tsv), separator="\t").equals(expected)
    rows = json.loads(_invoke("query", "--db", wh["db"], sql, "--format", "json").stdout)
    assert [r["beta_d"] for r in rows] == expected["beta_d"].to_list()
    table = _invoke("query", "--db", wh["db"], sql).stdout.splitlines()
    assert table[0].split() == expected.columns and len(table) == 2 + expected.height
    assert expected["variant"][0] in table[2]


def test_cli_query__is_read_only_and_reports_sql_errors_in_one_line(wh):
    res = _invoke("query", "--db", wh["db"], "DELETE FROM runs")
    assert res.exit_code == 2
    assert "read-only" in res.stderr and "Fix:" in res.stderr
    assert _sql(wh["db"], "SELECT count(*) AS n FROM runs")["n"][0] == 4
    res = _invoke("query", "--db", wh["db"], "SELECT * FROM no_such_view")
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert "no_such_view" in res.stderr
    # without DuckDB's pointer into the statement's lines ("LINE 1: ... ^^^")
    assert "LINE" not in res.stderr and "^" not in res.stderr


def test_cli_query__interrupted_statement_is_one_line_and_130(wh, monkeypatch):
    # Ctrl-C while DuckDB runs a statement: DuckDB stops it and raises RuntimeError
    def interrupted(*args, **kwargs):
        raise RuntimeError("Query interrupted")

    monkeypatch.setattr(api, "query_text", interrupted)
    res = _invoke("query", "--db", wh["db"], "SELECT 1")
    assert res.exit_code == 130
    assert res.stderr == "segqtl: interrupted (SIGINT)\n"


def _python_segqtl(*args) -> list[str]:
    return [sys.executable, "-m", "segqtl", *[str(a) for a in args]]


def test_cli_query__concurrent_readers_while_no_writer(wh):
    sql = "SELECT count(*) AS n FROM nominal_results"
    expected = _sql(wh["db"], sql)["n"][0]
    with closing(connect(wh["db"], read_only=True)) as held:  # a reader in this process too
        procs = [
            subprocess.Popen(
                _python_segqtl("query", "--db", wh["db"], sql, "--format", "csv"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        outs = [p.communicate(timeout=120) for p in procs]
        assert held.execute(sql).fetchone()[0] == expected
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert out.splitlines() == ["n", str(expected)]


def test_cli_query__locked_by_a_writer_is_a_clear_message(wh, tmp_path):
    ready = tmp_path / "ready"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, pathlib, time
                con = duckdb.connect({str(wh["db"])!r})
                pathlib.Path({str(ready)!r}).write_text("x")
                time.sleep(60)
                """
            ),
        ]
    )
    try:
        for _ in range(300):
            if ready.exists():
                break
            time.sleep(0.1)
        assert ready.exists()
        res = subprocess.run(
            _python_segqtl("query", "--db", wh["db"], "SELECT 1"),
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "SEGQTL_DEBUG": "", "SEGQTL_LOCK_WAIT": "1"},
        )
    finally:
        holder.kill()
        holder.wait()
    assert res.returncode == 2
    assert f"is busy: process {holder.pid}" in res.stderr  # after retrying SEGQTL_LOCK_WAIT s
    assert "Fix:" in res.stderr and "Traceback" not in res.stderr


def test_api_query__returns_polars_and_takes_parameters(wh):
    df = api.query(wh["db"], "SELECT run_id, mode FROM runs WHERE mode = $m", {"m": "perm"})
    assert df.rows() == [(wh["runs"]["perm"], "perm")]
    with pytest.raises(UsageError, match="query failed"):
        api.query(wh["db"], "SELEC 1")


def test_dropin__name_is_recorded_and_listed(tmp_path):
    from .conftest import dropin_input_args

    db = tmp_path / "wh.duckdb"
    res = subprocess.run(
        _python_segqtl("--mode", "nominal", "--chromosome", "1", *dropin_input_args(),
                       "--out_dir", tmp_path / "out", "--db", db, "--name", "discovery", "-q"),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    listing = pl.read_csv(io.StringIO(_invoke("runs", "--db", db, "--format", "csv").stdout))
    assert listing["name"].to_list() == ["discovery"]
    assert listing["mode"].to_list() == ["nominal"]


# -------------------------------------------------------------------------------- migrations
def test_migrate__005_renames_tables_keep_rows_and_readers_say_which_version(
    tmp_path, small_cohort, monkeypatch
):
    # A warehouse made by a segqtl that knows migrations 001-004 (today's run code writes the
    # renamed tables, so the bootstrap, R² and q-value rows are inserted into the old ones).
    as_segqtl_of_schema(monkeypatch, 4)
    db = tmp_path / "old.duckdb"
    api.ingest(db, "small", **cohort_kwargs(small_cohort))
    run = api.run(db, RunSpec(mode="nominal", cohort="small", chromosomes=["2"]))
    with closing(duckdb.connect(str(db))) as con:
        con.execute(
            "INSERT INTO finemap_bootstrap VALUES (?, 0, 'chr2', 3, 5, 1, 0.25), "
            "(?, 0, 'chr2', 3, 7, 2, -0.5)",
            [run, run],
        )
        con.execute(
            "INSERT INTO finemap_r2 VALUES (?, 0, 'chr2', 3, 60, 0.1, 0.05, 0.3, 0.2, 0.2, 0.15, "
            "1, 'x')",
            [run],
        )
        con.execute("INSERT INTO qvalues VALUES (?, 'chr2', 3, 0.01, 0.04, NULL)", [run])
        con.execute("INSERT INTO run_fdr VALUES (?, 0.05, 1.0, 'fixed', NULL, 1, 1, now())", [run])
        boot_before = con.execute(
            "SELECT phenotype, variant, bootstrap_iteration, beta_full "
            "FROM finemap_bootstrap_results ORDER BY ALL"
        ).fetchall()
        r2_before = con.execute("SELECT phenotype, r2_full FROM finemap_r2_results").fetchall()
        q_before = con.execute(
            "SELECT phenotype, variant, qvalue, is_hit FROM qvalue_results"
        ).fetchall()
    monkeypatch.undo()
    assert len(boot_before) == 2 and len(r2_before) == 1 and len(q_before) == 1

    res = _invoke("query", "--db", db, "SELECT 1")
    assert res.exit_code == 2
    assert f"schema version 4, this segqtl needs {wdb.SCHEMA_VERSION}" in res.stderr
    assert f"Fix: upgrade it with 'segqtl upgrade --db {db}'" in res.stderr
    with closing(connect(db)) as con:  # a writer upgrades it
        versions = [r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()]
    assert sorted(versions) == list(range(1, wdb.SCHEMA_VERSION + 1))
    boot_after = _sql(
        db,
        "SELECT phenotype, variant, bootstrap_iteration, beta_full FROM finemap_bootstrap "
        "ORDER BY ALL",
    ).rows()
    assert boot_after == boot_before
    assert _sql(db, "SELECT phenotype, r2_full FROM finemap_r2").rows() == r2_before
    q_after = _sql(db, "SELECT phenotype, variant, qvalue, is_hit FROM qvalues").rows()
    assert q_after == q_before
    # runs made before schema 5 read back with an empty validation_cohort
    assert _sql(db, "SELECT validation_cohort FROM runs").rows() == [(None,)]


# ------------------------------------------------------------------- review fixes: robustness
def test_cli_query__nested_decimal_and_interval_columns_print_as_values(wh):
    sql = (
        "SELECT variant_id, altlr[1:3] AS first3, altlr::DOUBLE[] AS all_alt, 0.05 AS level, "
        "finished_at - started_at AS took, {'a': 1} AS s "
        "FROM genotypes AS g JOIN runs AS u ON true WHERE g.cohort = 'small' AND run_id = 1 "
        "LIMIT 2"
    )
    expected = _sql(wh["db"], sql.replace("finished_at - started_at", "NULL"))
    csv = _invoke("query", "--db", wh["db"], sql, "--format", "csv")
    assert csv.exit_code == 0, csv.stderr
    got = pl.read_csv(io.StringIO(csv.stdout))
    # lists and arrays as JSON text: every element, no polars repr, no truncation
    for row, exp in zip(got.iter_rows(named=True), expected.iter_rows(named=True), strict=True):
        assert json.loads(row["all_alt"]) == exp["all_alt"] and len(exp["all_alt"]) == 60
        assert json.loads(row["first3"]) == exp["first3"]
        assert json.loads(row["s"]) == {"a": 1}
        assert row["level"] == 0.05 and ":" in row["took"]
    rows = json.loads(_invoke("query", "--db", wh["db"], sql, "--format", "json").stdout)
    assert rows[0]["level"] == 0.05 and rows[0]["all_alt"] == expected["all_alt"][0].to_list()
    table = _invoke("query", "--db", wh["db"], sql).stdout
    assert "shape:" not in table and "Series" not in table
    special = "SELECT 'nan'::DOUBLE AS x, 'inf'::DOUBLE AS y, 1.5 AS z"
    nan = json.loads(_invoke("query", "--db", wh["db"], special, "--format", "json").stdout)
    assert nan == [{"x": None, "y": None, "z": 1.5}]


def test_cli_query__one_statement_only(wh):
    res = _invoke("query", "--db", wh["db"], "SELECT 1 AS a; SELECT 2 AS b")
    assert res.exit_code == 2 and "one SQL statement, got 2" in res.stderr
    res = _invoke("query", "--db", wh["db"], "  ")
    assert res.exit_code == 2 and "got 0" in res.stderr
    empty = _invoke("query", "--db", wh["db"], "SELECT run_id FROM runs WHERE false")
    assert empty.exit_code == 0 and empty.stdout.splitlines()[0].strip() == "run_id"


@pytest.mark.parametrize(
    "args",
    [
        ["compare", "1", "2"],
        ["export", "--run", "1", "--out-dir", "OUT"],
        ["fdr", "--run", "1"],
        ["runs"],
        ["show", "1"],
        ["cohorts"],
        ["upgrade"],
        ["query", "SELECT 1"],
        ["run", "--cohort", "small", "--chromosome", "1"],
    ],
)
def test_cli__missing_db_is_an_error_and_no_file_is_created(tmp_path, args):
    db = tmp_path / "typo.duckdb"
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    res = _invoke(args[0], "--db", db, *args[1:])
    assert res.exit_code == 2
    assert "no such warehouse. Fix: check the --db path" in res.stderr
    assert not db.exists()


def _hold(db: Path, tmp_path: Path, *, read_only: bool) -> subprocess.Popen:
    """Another process holding the warehouse open until killed."""
    ready = tmp_path / f"ready_{read_only}"
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, pathlib, time
            con = duckdb.connect({str(db)!r}, read_only={read_only})
            pathlib.Path({str(ready)!r}).write_text("x")
            time.sleep(60)
        """)]
    )  # fmt: skip
    for _ in range(300):
        if ready.exists():
            return proc
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the holder did not start")


def test_cli__reader_blocks_writers_with_a_message_and_exports_still_read(wh, tmp_path):
    holder = _hold(wh["db"], tmp_path, read_only=True)
    try:
        res = subprocess.run(
            _python_segqtl("compare", "--db", wh["db"], wh["runs"]["nominal"], wh["runs"]["perm"]),
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "SEGQTL_LOCK_WAIT": "1"},
        )  # fmt: skip
        out = tmp_path / "exported"
        exp = subprocess.run(
            _python_segqtl("export", "--db", wh["db"], "--run", wh["runs"]["perm"],
                           "--out-dir", out),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        holder.kill()
        holder.wait()
    assert res.returncode == 2
    assert f"is open read-only in process {holder.pid}" in res.stderr
    assert "Fix: close that connection" in res.stderr
    assert exp.returncode == 0, exp.stderr  # export only reads: it runs beside other readers
    assert [Path(p).name for p in exp.stdout.split()] == ["perm_chr1_100.csv"]


def test_cli_cohorts_and_upgrade(wh):
    res = _invoke("cohorts", "--db", wh["db"], "--format", "csv")
    assert res.exit_code == 0
    frame = pl.read_csv(io.StringIO(res.stdout))
    assert frame.select("cohort", "n_samples", "n_phenotypes", "chromosomes").rows() == [
        ("small", 60, 12, "chr1"),
        ("val", 50, 12, "chr1"),
    ]
    up = _invoke("upgrade", "--db", wh["db"])
    assert up.exit_code == 0 and up.stdout.strip() == str(wdb.SCHEMA_VERSION)


def test_cli_show__control_characters_stay_on_their_line(small_db):
    """A name with control characters (which --name now refuses, but an earlier segqtl
    stored) is shown escaped, each field on its line."""
    run = api.run(small_db, RunSpec(mode="nominal", cohort="small", chromosomes=["1"]))
    name = "tab\there\nnewline"
    with connect(small_db) as con:
        con.execute("UPDATE runs SET name = ? WHERE run_id = ?", [name, run])
        con.execute(
            "UPDATE run_parameters SET value = ? WHERE run_id = ? AND key = 'name'",
            [json.dumps(name), run],
        )
    out = _invoke("show", "--db", small_db, run).stdout
    assert "name\ttab\\there\\nnewline" in out.splitlines()
    table = _invoke("runs", "--db", small_db).stdout.splitlines()
    assert len(table) == 3 and "tab\\there\\nnewline" in table[2]
    info = json.loads(_invoke("show", "--db", small_db, run, "--json").stdout)
    assert info["run"]["name"] == "tab\there\nnewline"


def test_cli__closed_stdout_is_not_an_error(wh):
    proc = subprocess.run(
        f"{sys.executable} -m segqtl query --db {wh['db']} "
        "'SELECT * FROM nominal_results' --format csv | head -c 10",
        shell=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert len(proc.stdout) == 10
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr


def test_cli_run__closing_line_names_what_the_mode_counts(small_db):
    base = ["run", "--db", small_db, "--cohort", "small", "--chromosome", "1"]
    nominal = _invoke(*base)
    fm = _invoke(*base, "--mode", "finemap", "--phenotype-id", "G1_003", "--n-bootstrap", "10",
                 "--n-lambda", "6")  # fmt: skip
    assert nominal.exit_code == 0 and fm.exit_code == 0
    runs = {r["mode"]: r for r in api.list_runs(small_db).iter_rows(named=True)}
    n, f = runs["nominal"], runs["finemap"]
    assert f"{n['n_phenotypes']} phenotypes, {n['n_pairs_tested']} pairs tested" in nominal.stderr
    assert f"1 phenotypes, {f['n_pairs_tested']} (phenotype, variant) rows fitted" in fm.stderr
    assert f["n_pairs_tested"] > 0
