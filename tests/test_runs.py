"""Runs: recording, unit commits, kill-and-resume, exports and the native CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import click
import polars as pl
import pytest
from click.testing import CliRunner

from segqtl import api
from segqtl.cli import cli
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect

RESULT_COLS = (
    "chr, phenotype_idx, variant_idx, phenotype, variant, number_of_samples, beta_s, "
    "se_s, beta_d, se_d, t_stat_d, nominal_p, r2_alt, aic_null, aic_alt, "
    "delta_aic_alt_minus_null, p_adj, status"
)


def results(db, run_id) -> pl.DataFrame:
    con = connect(db, read_only=True)
    try:
        return con.sql(
            f"SELECT {RESULT_COLS} FROM nominal_results WHERE run_id = {int(run_id)} "
            "ORDER BY chr, phenotype_idx, variant_idx"
        ).pl()
    finally:
        con.close()


def test_run__records_parameters_versions_checksums_and_counts(small_db):
    spec = RunSpec(
        mode="nominal",
        cohort="small",
        chromosomes=["1", "chr2"],
        all_variants=True,
        name="all pairs",
        phenotypes_per_unit=5,
    )
    run_id = api.run(small_db, spec)
    con = connect(small_db, read_only=True)
    run = con.execute(
        "SELECT name, mode, cohort, chromosomes, status, segqtl_version, "
        "duckdb_version, numpy_version, cohort_checksum, started_at, finished_at, "
        "n_units, n_phenotypes, n_pairs, n_pairs_tested, n_pairs_skipped, n_rows "
        "FROM runs WHERE run_id = ?",
        [run_id],
    ).fetchone()
    params = dict(
        con.execute("SELECT key, value FROM run_parameters WHERE run_id = ?", [run_id]).fetchall()
    )
    checksum = con.execute("SELECT checksum FROM cohorts WHERE cohort = 'small'").fetchone()[0]
    n_cis = con.execute(
        "SELECT count(*) FROM phenotypes p JOIN variants v ON v.cohort = p.cohort "
        'AND v.chr = p.chr AND v.pos BETWEEN p.start - 1000000 AND p."end" + 1000000 '
        "WHERE p.cohort = 'small'"
    ).fetchone()[0]
    units = con.execute(
        "SELECT count(*), count(*) FILTER (status = 'done') FROM run_units WHERE run_id = ?",
        [run_id],
    ).fetchone()
    con.close()
    assert run[:5] == ("all pairs", "nominal", "small", "chr1,chr2", "completed")
    assert run[5] and run[6] and run[7]
    assert run[8] == checksum
    assert run[10] >= run[9]
    assert run[11] == units[0] == units[1] == 6  # 12 phenotypes per chromosome, 5 per unit
    assert run[12] == 24
    assert run[13] == n_cis == run[14] + run[15] == run[16]
    assert json.loads(params["window"]) == 1_000_000
    assert json.loads(params["min_samples"]) == 30
    assert json.loads(params["all_variants"]) is True
    skipped = json.loads(params["skipped_by_reason"])
    assert sum(skipped.values()) == run[15]


def test_run__best_variant_is_the_max_abs_t_of_all_variants(small_db):
    best = api.run(small_db, RunSpec(mode="nominal", cohort="small", chromosomes=["1"]))
    every = api.run(
        small_db, RunSpec(mode="nominal", cohort="small", chromosomes=["1"], all_variants=True)
    )
    b = results(small_db, best)
    a = results(small_db, every).filter(pl.col("status") == "tested")
    top = (
        a.with_columns(pl.col("t_stat_d").abs().alias("abs_t"))
        .sort("phenotype_idx", "abs_t", "variant_idx", descending=[False, True, False])
        .group_by("phenotype_idx", maintain_order=True)
        .first()
    )
    assert b.height == 12
    merged = b.join(top, on="phenotype_idx", suffix="_all")
    assert merged["variant"].to_list() == merged["variant_all"].to_list()
    assert merged["nominal_p"].to_list() == merged["nominal_p_all"].to_list()


def test_run__results_do_not_depend_on_cores_or_unit_size(small_db):
    one = api.run(
        small_db,
        RunSpec(
            mode="nominal",
            cohort="small",
            chromosomes=["1", "2"],
            all_variants=True,
            num_cores=1,
            phenotypes_per_unit=25,
        ),
    )
    two = api.run(
        small_db,
        RunSpec(
            mode="nominal",
            cohort="small",
            chromosomes=["1", "2"],
            all_variants=True,
            num_cores=2,
            phenotypes_per_unit=3,
        ),
    )
    assert results(small_db, one).equals(results(small_db, two))


def _start_run(db, *extra, pause="0.3"):
    env = dict(os.environ, SEGQTL_UNIT_PAUSE=pause)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "segqtl",
            "run",
            "--db",
            str(db),
            "--cohort",
            "small",
            "--chromosome",
            "1",
            "--chromosome",
            "2",
            "--all-variants",
            "--unit-size",
            "1",
            "--verbose",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


@pytest.mark.slow
def test_run__killed_run_resumes_to_identical_results(small_db):
    proc = _start_run(small_db)
    committed = 0
    deadline = time.monotonic() + 120
    while committed < 3 and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if "committed unit" in line:
            committed += 1
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    assert committed == 3, "the run did not get far enough to be killed mid-way"

    con = connect(small_db)
    run_id, status = con.execute("SELECT run_id, status FROM runs").fetchone()
    done_before = con.execute(
        "SELECT unit_id, finished_at FROM run_units WHERE run_id = ? "
        "AND status = 'done' ORDER BY unit_id",
        [run_id],
    ).fetchall()
    n_units = con.execute("SELECT n_units FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
    con.close()
    assert status == "running"  # a killed run looks unfinished, never complete
    assert 3 <= len(done_before) < n_units
    with pytest.raises(Exception, match="not completed"):
        api.export(small_db, run_id, small_db.parent / "x")

    res = CliRunner().invoke(cli, ["run", "--db", str(small_db), "--resume", str(run_id), "-q"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(run_id)

    con = connect(small_db)
    after = dict(
        con.execute(
            "SELECT unit_id, finished_at FROM run_units WHERE run_id = ?", [run_id]
        ).fetchall()
    )
    status = con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
    con.close()
    assert status == "completed"
    # units committed before the kill were not recomputed
    assert all(after[u] == t for u, t in done_before)
    assert len(after) == n_units

    fresh = api.run(
        small_db, RunSpec(mode="nominal", cohort="small", chromosomes=["1", "2"], all_variants=True)
    )
    assert results(small_db, run_id).equals(results(small_db, fresh))


def test_resume__completed_run_is_refused(small_db):
    run_id = api.run(small_db, RunSpec(mode="nominal", cohort="small", chromosomes=["1"]))
    res = CliRunner().invoke(cli, ["run", "--db", str(small_db), "--resume", str(run_id)])
    assert res.exit_code != 0
    assert "already completed" in res.stderr
    assert "Traceback" not in res.output


def test_cli_run__prints_run_id_and_exports(small_db, tmp_path):
    runner = CliRunner()
    res = runner.invoke(
        cli,
        [
            "run",
            "--db",
            str(small_db),
            "--cohort",
            "small",
            "--chromosome",
            "all",
            "--record-aic",
            "--name",
            "first",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    run_id = int(res.stdout.strip())
    res = runner.invoke(
        cli,
        ["export", "--db", str(small_db), "--run", str(run_id), "--out-dir", str(tmp_path / "exp")],
    )
    assert res.exit_code == 0, res.output
    paths = res.stdout.split()
    assert [p.rsplit("/", 1)[1] for p in paths] == ["nominal_chr1.csv", "nominal_chr2.csv"]
    frame = pl.read_csv(paths[0])
    assert frame.columns == [
        "phenotype",
        "variant",
        "number_of_samples",
        "beta_s",
        "se_s",
        "beta_d",
        "se_d",
        "t_stat_d",
        "nominal_p",
        "r2_alt",
        "aic_null",
        "aic_alt",
        "delta_aic_alt_minus_null",
        "p_adj",
        "chr",
    ]
    assert frame.height == 12
    listing = runner.invoke(cli, ["runs", "--db", str(small_db), "--format", "tsv"])
    assert listing.exit_code == 0
    assert f"{run_id}\tfirst\tnominal\tsmall\t\tchr1,chr2\tcompleted" in listing.stdout


def test_cli_run__unknown_cohort_and_gene_are_clear_errors(small_db):
    runner = CliRunner()
    res = runner.invoke(
        cli, ["run", "--db", str(small_db), "--cohort", "nope", "--chromosome", "1"]
    )
    assert res.exit_code != 0
    assert "cohort 'nope' is not in the warehouse" in res.stderr
    res = runner.invoke(
        cli,
        [
            "run",
            "--db",
            str(small_db),
            "--cohort",
            "small",
            "--chromosome",
            "1",
            "--all-variants",
            "NOT_A_GENE",
        ],
    )
    assert res.exit_code != 0
    assert "phenotype 'NOT_A_GENE' is not on chr1" in res.stderr
    assert "Traceback" not in res.output


def test_export__all_variants_gene_file_name_and_overwrite_warning(small_db, tmp_path):
    run_id = api.run(
        small_db, RunSpec(mode="nominal", cohort="small", chromosomes=["1"], all_variants="G1_003")
    )
    out = tmp_path / "exp"
    (path,) = api.export(small_db, run_id, out)
    assert path.name == "G1_003_nominal_chr1.csv"
    frame = pl.read_csv(path)
    assert set(frame["phenotype"]) == {"G1_003"}
    with pytest.warns(UserWarning, match="overwriting"):
        api.export(small_db, run_id, out)


def test_dropin__neg_control_without_next_chromosome_is_a_clear_error(tmp_path, small_cohort):
    from segqtl.cli import dropin

    from .conftest import cohort_kwargs

    kw = cohort_kwargs(small_cohort)
    args = [
        "--mode",
        "nominal",
        "--chromosome",
        "2",
        "--neg_control",
        "--out_dir",
        str(tmp_path / "o"),
    ]
    for k, v in kw.items():
        args += [f"--{k}", str(v)]
    res = CliRunner().invoke(dropin, args)
    assert res.exit_code != 0
    assert "no genotypes for chr3" in res.stderr


def test_run__stores_input_checksums_and_library_versions(small_db):
    run_id = api.run(small_db, RunSpec(mode="nominal", cohort="small", chromosomes=["1"]))
    con = connect(small_db, read_only=True)
    params = dict(
        con.execute("SELECT key, value FROM run_parameters WHERE run_id = ?", [run_id]).fetchall()
    )
    files = dict(
        con.execute("SELECT role, sha256 FROM cohort_files WHERE cohort = 'small'").fetchall()
    )
    con.close()
    assert {k.removeprefix("input:") for k in params if k.startswith("input:")} == set(files)
    for role, sha in files.items():
        assert json.loads(params[f"input:{role}"]) == sha
    import duckdb
    import numpy

    assert json.loads(params["version:duckdb"]) == duckdb.__version__
    assert json.loads(params["version:numpy"]) == numpy.__version__
    assert "version:polars" in params and "version:segqtl" in params


@pytest.mark.slow
def test_python_m_segqtl__dropin_prints_written_files_on_stdout(tmp_path, small_cohort):
    from .conftest import cohort_kwargs

    args = [
        sys.executable,
        "-m",
        "segqtl",
        "--mode",
        "nominal",
        "--chromosome",
        "chr1",
        "--out_dir",
        str(tmp_path / "out"),
        "--all_variants",
        "G1_002",
        "--record_aic",
    ]
    for k, v in cohort_kwargs(small_cohort).items():
        args += [f"--{k}", str(v)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "out" / "G1_002_nominal_chr1.csv")
    assert "Traceback" not in done.stderr
    frame = pl.read_csv(done.stdout.strip())
    assert set(frame["phenotype"]) == {"G1_002"}
    assert "aic_alt" in frame.columns


def test_cli__every_command_has_help_text():
    runner = CliRunner()
    for name, command in cli.commands.items():
        assert command.help, name
        res = runner.invoke(cli, [name, "--help"])
        assert res.exit_code == 0, name
        assert "Usage:" in res.output
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, (name, param.opts)


def test_run__neg_control_subsamples_with_the_reference_rng_rule(small_db):
    import numpy as np

    run_id = api.run(
        small_db,
        RunSpec(
            mode="nominal",
            cohort="small",
            chromosomes=["1"],
            neg_control=True,
            neg_control_max_variants=20,
            all_variants=True,
        ),
    )
    got = results(small_db, run_id)
    con = connect(small_db, read_only=True)
    n_trans = con.execute(
        "SELECT count(*) FROM variants WHERE cohort = 'small' AND chr = 'chr2'"
    ).fetchall()[0][0]
    con.close()
    assert n_trans > 20
    for ph_idx, group in got.group_by("phenotype_idx", maintain_order=True):
        expected = np.sort(np.random.default_rng(42 + ph_idx[0]).choice(n_trans, 20, replace=False))
        assert group["variant_idx"].to_list() == expected.tolist()
        assert set(group["variant"].str.split(":").list.first()) == {"chr2"}
        assert set(group["chr"]) == {"chr1"}


def test_run__perm_with_neg_control_and_aic(small_db, tmp_path):
    run_id = api.run(
        small_db,
        RunSpec(
            mode="perm",
            cohort="small",
            chromosomes=["1"],
            neg_control=True,
            record_aic=True,
            num_permutations=30,
            perm_method="direct",
        ),
    )
    got = results(small_db, run_id)
    assert got.height == 12
    assert set(got["variant"].str.split(":").list.first()) == {"chr2"}
    assert got["p_adj"].is_not_null().all()
    assert ((got["p_adj"] >= 1 / 31) & (got["p_adj"] <= 1)).all()
    assert got["aic_alt"].is_not_null().all()
    (path,) = api.export(small_db, run_id, tmp_path / "exp")
    assert path.name == "negctrl_trans_perm_chr1_30.csv"


def test_run__chromosome_without_phenotypes_is_a_clear_error(small_db):
    res = CliRunner().invoke(
        cli, ["run", "--db", str(small_db), "--cohort", "small", "--chromosome", "5"]
    )
    assert res.exit_code == 2
    assert "has no phenotypes on chr5" in res.stderr
    assert "Traceback" not in res.output


def test_run__records_where_the_time_goes(small_db, tmp_path):
    run_id = api.run(small_db, RunSpec(mode="perm", cohort="small", chromosomes=["1"],
                                       num_permutations=20, num_cores=2))  # fmt: skip
    phases = api.show(small_db, run_id)["phases"]
    assert set(phases) == {"plan", "read", "compute", "commit", "export"}
    assert all(phases[p] > 0 for p in ("plan", "read", "compute", "commit"))
    assert phases["export"] is None  # not exported by the run
    api.export(small_db, run_id, tmp_path, record_seconds=True)
    api.export(small_db, run_id, tmp_path / "again")  # not recorded
    with connect(small_db, read_only=True) as con:
        exported = con.execute(
            "SELECT export_seconds FROM runs WHERE run_id = ?", [run_id]
        ).fetchone()[0]
    assert exported > 0
    assert api.show(small_db, run_id)["phases"]["export"] == exported


def test_resume__adds_the_resumed_parts_phase_times(small_db):
    spec = RunSpec(mode="nominal", cohort="small", chromosomes=["1", "2"], phenotypes_per_unit=4)
    run_id = api.run(small_db, spec)
    with connect(small_db) as con:
        before = con.execute(
            "SELECT read_seconds, compute_seconds, commit_seconds FROM runs WHERE run_id = ?",
            [run_id],
        ).fetchone()
        # as after an interruption: the last unit not committed yet
        last = con.execute(
            "SELECT max(unit_id) FROM run_units WHERE run_id = ?", [run_id]
        ).fetchone()[0]
        con.execute("DELETE FROM nominal_stats WHERE run_id = ? AND unit_id = ?", [run_id, last])
        con.execute(
            "UPDATE run_units SET status = 'pending' WHERE run_id = ? AND unit_id = ?",
            [run_id, last],
        )
        con.execute("UPDATE runs SET status = 'failed' WHERE run_id = ?", [run_id])
    api.resume(small_db, run_id)
    with connect(small_db, read_only=True) as con:
        after = con.execute(
            "SELECT read_seconds, compute_seconds, commit_seconds FROM runs WHERE run_id = ?",
            [run_id],
        ).fetchone()
    assert all(a > b for a, b in zip(after, before, strict=True))


def _forbid_copies(monkeypatch) -> None:
    """Make a genotype copy from the warehouse an error: the cache must hold every chromosome."""
    from segqtl.warehouse import reads

    copy = reads.GenotypeExport.ensure

    def no_copy(self, upto):
        assert self.done == self.files.n_variants, "copied genotypes the cache holds"
        return copy(self, upto)

    monkeypatch.setattr(reads.GenotypeExport, "ensure", no_copy)


def test_run__second_run_reads_genotypes_from_the_cache(small_db, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGQTL_CACHE", str(tmp_path / "cache"))
    spec = RunSpec(mode="nominal", cohort="small", chromosomes=["1", "2"], all_variants=True)
    first = api.run(small_db, spec)
    markers = sorted(p.name for p in (tmp_path / "cache").rglob("*.done"))
    assert markers == ["chr1.done", "chr2.done"]

    _forbid_copies(monkeypatch)
    second = api.run(small_db, spec)
    with connect(small_db, read_only=True) as con:
        rows = [
            con.execute(
                "SELECT * EXCLUDE (run_id) FROM nominal_stats WHERE run_id = ? "
                "ORDER BY chr, phenotype_idx, variant_idx",
                [run_id],
            ).fetchall()
            for run_id in (first, second)
        ]
    assert rows[0] == rows[1] and rows[0]


def _fake_entry(cache, name: str, size: int, age: float):
    """A cache entry of ``size`` bytes last used ``age`` seconds ago."""
    import time

    folder = cache / name
    folder.mkdir(parents=True)
    (folder / "chr1.alt.npy").write_bytes(b"x" * size)
    marker = folder / "chr1.done"
    marker.write_text("1 variants\n")
    os.utime(marker, (time.time() - age, time.time() - age))
    return folder


def test_trim_cache__least_recently_used_go_first_never_kept_or_locked(tmp_path):
    from segqtl.warehouse import reads

    cache = tmp_path / "cache"
    old = _fake_entry(cache, "old", 40_000, 3000)
    locked = _fake_entry(cache, "locked", 40_000, 2000)
    mid = _fake_entry(cache, "mid", 40_000, 1000)
    new = _fake_entry(cache, "new", 40_000, 0)
    fd = reads._entry_lock(locked, exclusive=False)  # a run is reading it
    try:
        removed = reads.trim_cache(cache, 100_000, keep=new)
    finally:
        os.close(fd)
    # 4 x ~40 kB against 100 kB: the two oldest that are free go; the locked one stays
    assert removed == [old, mid]
    assert sorted(p.name for p in cache.iterdir() if p.is_dir()) == ["locked", "new"]
    # the entry just written stays even alone above the limit
    assert reads.trim_cache(cache, 0, keep=new) == [locked]
    assert [p.name for p in cache.iterdir() if p.is_dir()] == ["new"]


@pytest.mark.parametrize(
    "text,value",
    [("500M", (5e8, False)), ("20G", (2e10, False)), ("1.5tb", (1.5e12, False)),
     ("12345", (12345.0, False)), ("10%", (0.1, True)), ("0", (0.0, False))],
)  # fmt: skip
def test_parse_cache_max__sizes_and_shares(text, value):
    from segqtl.warehouse.reads import parse_cache_max

    assert parse_cache_max(text) == value


@pytest.mark.parametrize("text", ["lots", "-5G", "150%", "G", "nan", "inf", "5X"])
def test_parse_cache_max__not_a_size_is_refused(text):
    from segqtl.warehouse.reads import parse_cache_max

    with pytest.raises(ValueError):
        parse_cache_max(text)


def test_run__genotype_cache_stays_within_its_limit(small_db, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SEGQTL_CACHE", str(cache))
    old = _fake_entry(cache, "0123-genotypes_99", 400_000, 3600)
    # the run's copies (2 x 80 variants x 60 samples x 16 bytes ≈ 160 kB) and the old entry do
    # not fit in 450 kB: the old entry goes, the run's copies stay for the next run
    monkeypatch.setenv("SEGQTL_CACHE_MAX", "450K")
    spec = RunSpec(mode="nominal", cohort="small", chromosomes=["1", "2"], all_variants=True)
    first = api.run(small_db, spec)
    assert not old.exists()
    markers = sorted(p.name for p in cache.rglob("*.done"))
    assert markers == ["chr1.done", "chr2.done"]
    _forbid_copies(monkeypatch)
    second = api.run(small_db, spec)
    sql = "SELECT * EXCLUDE (run_id) FROM nominal_stats WHERE run_id = $r ORDER BY ALL"
    assert api.query(small_db, sql, {"r": first}).equals(api.query(small_db, sql, {"r": second}))


def test_run__cache_off_leaves_no_files(small_db, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("SEGQTL_CACHE", "off")
    monkeypatch.setenv("SEGQTL_TMPDIR", str(scratch))
    api.run(small_db, RunSpec(mode="nominal", cohort="small", chromosomes=["1"]))
    assert list(scratch.iterdir()) == []


def test_run__scratch_need_is_told_and_checked_against_free_space(small_db, tmp_path, monkeypatch):
    import collections

    from segqtl.engine import runner

    monkeypatch.setenv("SEGQTL_CACHE", str(tmp_path / "cache"))
    told = []
    spec = RunSpec(mode="nominal", cohort="small", chromosomes=["1", "2"])
    api.run(small_db, spec, notify=told.append)
    # 60 samples, 80 + 80 variants: two float64 matrices and the positions per chromosome
    assert told == [
        f"run {told[0].split()[1].rstrip(':')}: genotype copies need "
        f"{runner._size(160 * (16 * 60 + 8) + 3 * 128 * 2)} in "
        f"{runner._scratch_root() or __import__('tempfile').gettempdir()}, kept in the cache "
        f"{tmp_path / 'cache'}"
    ]
    told.clear()
    api.run(small_db, spec, notify=told.append)
    assert told == []  # both chromosomes are in the cache now

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(runner.shutil, "disk_usage", lambda path: usage(10**6, 10**6, 1000))
    monkeypatch.setenv("SEGQTL_CACHE", "off")
    with pytest.raises(api.UsageError, match=r"has 1\.0 KB free, and run \d+'s genotype copies"):
        api.run(small_db, spec)
    with connect(small_db, read_only=True) as con:
        status, error = con.execute(
            "SELECT status, error FROM runs ORDER BY run_id DESC LIMIT 1"
        ).fetchone()
        done = con.execute(
            "SELECT count(*) FROM run_units WHERE status = 'done' AND run_id = "
            "(SELECT max(run_id) FROM runs)"
        ).fetchone()[0]
    assert status == "failed" and "SEGQTL_TMPDIR" in error and done == 0


def test_cli_resume__a_refused_resume_is_one_line_and_a_good_one_says_resumed(small_db):
    run_id = api.run(small_db, RunSpec(mode="nominal", cohort="small", chromosomes=["1"]))
    res = CliRunner().invoke(cli, ["run", "--db", str(small_db), "--resume", str(run_id)])
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [
        f"segqtl: error: run {run_id} is already completed. Fix: nothing to finish; see it with "
        f"'segqtl show --db {small_db} {run_id}', or start a new run"
    ]
    with connect(small_db) as con:
        con.execute("UPDATE runs SET status = 'interrupted' WHERE run_id = ?", [run_id])
    res = CliRunner().invoke(cli, ["run", "--db", str(small_db), "--resume", str(run_id)])
    assert res.exit_code == 0, res.output
    assert res.stderr.splitlines()[0].endswith(f"run {run_id} resumed")


@pytest.mark.parametrize(
    ("flag", "value", "recorded"),
    [
        ("--mode", "finemap", "nominal"),
        ("--cohort", "nosuch", "small"),
        ("--chromosome", "2", "chr1"),
    ],
)
def test_cli_resume__what_the_run_is_cannot_be_typed_again(small_db, flag, value, recorded):
    """--mode, --cohort and --chromosome define the run's units: another value with --resume is
    refused, as the model's flags are, never silently ignored."""
    run_id = api.run(small_db, RunSpec(mode="nominal", cohort="small", chromosomes=["1"]))
    with connect(small_db) as con:
        con.execute("UPDATE runs SET status = 'interrupted' WHERE run_id = ?", [run_id])
    args = ["run", "--db", str(small_db), "--resume", str(run_id), flag, value]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().splitlines() == [
        f"segqtl: error: {flag} cannot change when run {run_id} resumes (it was {recorded}): its "
        f"units were planned with the recorded value. Fix: drop {flag}, or start a new run"
    ]
    with connect(small_db, read_only=True) as con:
        assert con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone() == (
            "interrupted",
        )


def test_cli_resume__the_original_command_line_with_resume_added_works(small_db):
    run_id = api.run(small_db, RunSpec(mode="nominal", cohort="small", chromosomes=["1", "2"]))
    with connect(small_db) as con:
        con.execute("UPDATE runs SET status = 'interrupted' WHERE run_id = ?", [run_id])
    args = ["run", "--db", str(small_db), "--cohort", "small", "--mode", "nominal",
            "--chromosome", "2,CHR1", "--resume", str(run_id), "-q"]  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    with connect(small_db, read_only=True) as con:
        assert con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone() == (
            "completed",
        )


@pytest.fixture
def chr2_without_genotypes(tmp_path, small_cohort):
    """A warehouse whose cohort 'nochr2' has phenotypes on chr1 and chr2, genotypes on chr1."""
    import shutil

    from .conftest import cohort_kwargs

    kwargs = cohort_kwargs(small_cohort)
    genotypes = shutil.copytree(kwargs["genotypes"], tmp_path / "genotypes")
    for path in genotypes.glob("chr2_*"):
        path.unlink()
    db = tmp_path / "wh.duckdb"
    with pytest.warns(UserWarning, match=r"phenotypes on chr2 \(12\) have no genotype files"):
        api.ingest(db, "nochr2", **{**kwargs, "genotypes": genotypes})
    return db


def test_run__a_chromosome_without_genotypes_is_skipped_by_all(chr2_without_genotypes):
    """Phenotypes on a chromosome the genotype files lack (chrX beside autosomes only):
    'all' leaves it out with a message instead of recording a run that fails there."""
    db = chr2_without_genotypes
    res = CliRunner().invoke(cli, ["run", "--db", str(db), "--cohort", "nochr2",
                                   "--chromosome", "all"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "skipping chr2: cohort 'nochr2' has no genotypes there" in res.stderr
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT chromosomes, status FROM runs").fetchall() == [
            ("chr1", "completed")
        ]


def test_run__a_named_chromosome_without_genotypes_is_refused_unrecorded(chr2_without_genotypes):
    db = chr2_without_genotypes
    res = CliRunner().invoke(cli, ["run", "--db", str(db), "--cohort", "nochr2",
                                   "--chromosome", "1,2"])  # fmt: skip
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().splitlines() == [
        "segqtl: error: cohort 'nochr2' has no genotypes for chr2. Fix: add chr2_ALTlr.csv and "
        "chr2_REFlr.csv to the genotype directory and ingest again, or leave it out of "
        "--chromosome"
    ]
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (0,)
