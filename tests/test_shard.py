"""Sharded runs (``segqtl run --shard K/N``) and ``segqtl merge`` (issue 14).

Every shard is computed in a copy of one warehouse (or, where said, a warehouse ingested from the
same inputs) and merged; the merged run is compared, table by table and row by row, with the same
run made without shards.
"""

from __future__ import annotations

import json
import shutil
from contextlib import closing

import duckdb
import numpy
import polars as pl
import pytest
import scipy
from click.testing import CliRunner

from segqtl import __version__, api, modes
from segqtl.cli import cli
from segqtl.errors import UsageError
from segqtl.simulate import simulate_cohort
from segqtl.spec import RunSpec
from segqtl.warehouse import runs
from segqtl.warehouse.db import connect

from .conftest import cohort_kwargs

#: Small settings (three phenotypes per unit: 8 units over two chromosomes, so shards of 3
#: cross the chromosome boundary).
CASES = {
    "nominal": {"mode": "nominal"},
    "nominal_all_variants": {"mode": "nominal", "all_variants": True},
    "perm_beta": {"mode": "perm", "num_permutations": 30, "perm_method": "beta"},
    "finemap": {"mode": "finemap", "n_bootstrap": 6, "n_lambda": 6, "compute_r2": True},
    "validate": {"mode": "validate", "n_bootstrap": 6, "n_lambda": 6, "validation_cohort": "val"},
}


def _spec(case: str, **kw) -> RunSpec:
    return RunSpec(
        cohort="small", chromosomes=["1", "2"], phenotypes_per_unit=3, **{**CASES[case], **kw}
    )


@pytest.fixture(scope="module")
def base(tmp_path_factory, small_cohort):
    """A warehouse with the small cohort: the one every shard warehouse is a copy of."""
    db = tmp_path_factory.mktemp("shard_base") / "base.duckdb"
    api.ingest(db, "small", **cohort_kwargs(small_cohort))
    return db


class Made:
    """Runs made once per module: the unsharded run of a case, and its N shards."""

    def __init__(self, base, folder):
        self.base, self.folder = base, folder
        self.full: dict[str, tuple] = {}
        self.shards: dict[tuple, list] = {}

    def copy(self, name: str):
        path = self.folder / name
        shutil.copy(self.base, path)
        return path

    def full_run(self, case: str):
        if case not in self.full:
            db = self.copy(f"full_{case}.duckdb")
            self.full[case] = (db, api.run(db, _spec(case)))
        return self.full[case]

    def shard_dbs(self, case: str, n: int) -> list:
        if (case, n) not in self.shards:
            dbs = []
            for k in range(1, n + 1):
                db = self.copy(f"{case}_{k}of{n}.duckdb")
                api.run(db, _spec(case, shard=f"{k}/{n}"))
                dbs.append(db)
            self.shards[case, n] = dbs
        return self.shards[case, n]


@pytest.fixture(scope="module")
def made(base, tmp_path_factory):
    return Made(base, tmp_path_factory.mktemp("shards"))


def _copies(dbs, tmp_path) -> list:
    """Copies of shard warehouses that a test may change."""
    out = []
    for db in dbs:
        out.append(tmp_path / db.name)
        shutil.copy(db, out[-1])
    return out


def _tables(db, run_id) -> dict[str, pl.DataFrame]:
    """The run's result tables (its mode's, q-values, FDR summary) without run_id, sorted."""
    with closing(connect(db, read_only=True)) as con:
        mode = modes.get(
            con.execute("SELECT mode FROM runs WHERE run_id = ?", [run_id]).fetchall()[0][0]
        )
        out = {}
        for table in (*mode.tables, "qvalue_stats", "run_fdr", "run_units"):
            frame = con.sql(f"SELECT * FROM {table} WHERE run_id = {int(run_id)}").pl()
            frame = frame.drop(
                [
                    c
                    for c in ("run_id", "computed_at", "seconds", "finished_at")
                    if c in frame.columns
                ]
            )
            out[table] = frame.sort(frame.columns, nulls_last=True)
    return out


def _totals(db, run_id) -> tuple:
    with closing(connect(db, read_only=True)) as con:
        return con.execute(
            "SELECT mode, cohort, chromosomes, status, n_units, n_phenotypes, n_pairs, "
            "n_pairs_tested, n_pairs_skipped, n_rows FROM runs WHERE run_id = ?",
            [run_id],
        ).fetchall()[0]


def _assert_same_run(db_a, run_a, db_b, run_b) -> None:
    a, b = _tables(db_a, run_a), _tables(db_b, run_b)
    assert _totals(db_a, run_a) == _totals(db_b, run_b)
    assert a["run_units"].height > 0
    for table in a:
        assert a[table].equals(b[table]), table  # NaN equals NaN, bit for bit otherwise
    mode = modes.get(_totals(db_a, run_a)[0])
    assert sum(a[t].height for t in mode.tables) > 0


def _dump(db) -> dict:
    """Every table of a warehouse (names and rows), to show that nothing changed."""
    with closing(duckdb.connect(str(db), read_only=True)) as con:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
                "ORDER BY 1"
            ).fetchall()
        ]
        return {n: sorted(map(repr, con.execute(f"SELECT * FROM {n}").fetchall())) for n in names}


def _merge_error(db, shards) -> str:
    with pytest.raises(UsageError) as err:
        api.merge(db, shards)
    message = str(err.value)
    assert "\n" not in message and "Fix:" in message
    return message


# ------------------------------------------------------------------------------------- identity
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("case", ["nominal_all_variants", "perm_beta", "finemap"])
def test_merge__shards_give_the_unsharded_runs_results(made, tmp_path, case, n):
    full_db, full_run = made.full_run(case)
    shards = made.shard_dbs(case, n)
    # N=2 merges into a copy of the warehouse the shards were copied from; N=3 into a new
    # warehouse, which gets the cohort from the first shard.
    target = made.copy(f"target_{case}_{n}.duckdb") if n == 2 else tmp_path / "new.duckdb"
    merged = api.merge(target, list(reversed(shards)))  # any order
    _assert_same_run(full_db, full_run, target, merged)
    with closing(connect(target, read_only=True)) as con:
        shard_of = con.execute(
            "SELECT shard_index, shard_count, merged_shards FROM runs WHERE run_id = ?", [merged]
        ).fetchall()[0]
        params = dict(
            con.execute(
                "SELECT key, value FROM run_parameters WHERE run_id = ?", [merged]
            ).fetchall()
        )
        cohorts = con.execute("SELECT cohort, checksum FROM cohorts").fetchall()
    with closing(connect(made.base, read_only=True)) as con:
        assert cohorts == con.execute("SELECT cohort, checksum FROM cohorts").fetchall()
    assert shard_of == (None, None, n)
    assert json.loads(params["shard"]) is None
    assert [s["shard"] for s in json.loads(params["merge:shards"])] == [
        f"{k}/{n}" for k in range(1, n + 1)
    ]
    if case == "perm_beta":  # the q-values are over the whole run, not one shard's
        assert _tables(target, merged)["qvalue_stats"].height == 24


def test_merge__validate_shards_bring_both_cohorts_into_a_new_warehouse(tmp_path):
    cohort = simulate_cohort(
        tmp_path / "cohort", seed=7, n_samples=60, chromosomes=("1", "2"), n_phenotypes=12,
        n_variants=80, chromosome_length=6_000_000, missing_rate=0.03,
        phenotype_covariate=True, n_validation_samples=45,
    )  # fmt: skip
    base = tmp_path / "base.duckdb"
    api.ingest(base, "small", **cohort_kwargs(cohort))
    val = cohort_kwargs(cohort.validation)
    val.pop("phenotype_covariate")
    api.ingest(base, "val", **val)
    made = Made(base, tmp_path)
    full_db, full = made.full_run("validate")
    shards = made.shard_dbs("validate", 2)
    target = tmp_path / "new.duckdb"
    merged = api.merge(target, shards)
    _assert_same_run(full_db, full, target, merged)
    with closing(connect(target, read_only=True)) as con:
        cohorts = con.execute("SELECT cohort, checksum FROM cohorts ORDER BY 1").fetchall()
        residuals = con.execute(
            "SELECT count(*) FROM validate_residuals WHERE run_id = ?", [merged]
        ).fetchall()[0][0]
    with closing(connect(base, read_only=True)) as con:
        assert cohorts == con.execute("SELECT cohort, checksum FROM cohorts ORDER BY 1").fetchall()
    assert residuals > 0  # the view joins the copied validation cohort's samples


def test_merge__new_target_has_the_cohorts_genotypes_and_can_run_again(made, tmp_path):
    shards = made.shard_dbs("nominal_all_variants", 2)
    target = tmp_path / "new.duckdb"
    api.merge(target, shards)
    again = api.run(target, _spec("nominal"))  # reads the copied genotypes and segments
    full_db, full = made.full_run("nominal")
    _assert_same_run(full_db, full, target, again)


def test_run__shard_plans_every_unit_and_computes_its_own_contiguous_block(made):
    shards = made.shard_dbs("finemap", 3)
    owners: dict[int, int] = {}
    for k, db in enumerate(shards, start=1):
        with closing(connect(db, read_only=True)) as con:
            run = con.execute(
                "SELECT run_id, status, shard_index, shard_count, n_units FROM runs "
                "WHERE shard_count IS NOT NULL"
            ).fetchall()[0]
            units = con.execute(
                "SELECT unit_id, status FROM run_units WHERE run_id = ? ORDER BY unit_id",
                [run[0]],
            ).fetchall()
            q = con.execute("SELECT count(*) FROM qvalue_stats").fetchall()[0][0]
        assert run[1:] == (runs.SHARD_COMPLETED, k, 3, 8)
        assert len(units) == 8 and q == 0
        for unit_id, status in units:
            if status == "done":
                assert unit_id not in owners
                owners[unit_id] = k
            else:
                assert status == runs.OTHER_SHARD
    assert owners == {0: 1, 1: 1, 2: 1, 3: 2, 4: 2, 5: 2, 6: 3, 7: 3}


def test_list_runs__shows_shard_and_merged_runs(made, tmp_path):
    shards = _copies(made.shard_dbs("nominal_all_variants", 2), tmp_path)
    target = tmp_path / "wh.duckdb"
    merged = api.merge(target, shards)
    listed = api.list_runs(shards[1]).filter(pl.col("shard").is_not_null())
    assert listed.select("status", "shard").rows() == [(runs.SHARD_COMPLETED, "2/2")]
    assert api.list_runs(target).filter(pl.col("run_id") == merged).select(
        "status", "shard"
    ).rows() == [("completed", "merged 2")]


# ------------------------------------------------------------------------------------- refusals
def test_merge__missing_shard_is_refused_naming_it(made, tmp_path):
    shards = made.shard_dbs("nominal_all_variants", 3)
    message = _merge_error(tmp_path / "wh.duckdb", [shards[0], shards[2]])
    assert "shard 2 of 3 is missing" in message and "--shard 2/3" in message
    assert not (tmp_path / "wh.duckdb").exists()  # a refused merge leaves no new warehouse


def test_merge__duplicated_shard_is_refused(made, tmp_path):
    shards = made.shard_dbs("nominal_all_variants", 2)
    twin = tmp_path / "twin.duckdb"
    shutil.copy(shards[0], twin)
    message = _merge_error(tmp_path / "wh.duckdb", [shards[0], twin, shards[1]])
    assert f"{twin} and {shards[0]} are both shard 1/2" in message
    message = _merge_error(tmp_path / "wh.duckdb", [shards[0], shards[0], shards[1]])
    assert "given twice" in message


def test_merge__shards_of_different_counts_are_refused(made, tmp_path):
    two, three = (
        made.shard_dbs("nominal_all_variants", 2),
        made.shard_dbs("nominal_all_variants", 3),
    )
    message = _merge_error(tmp_path / "wh.duckdb", [two[0], three[1], three[2]])
    assert f"{three[1]} is shard 2/3, but {two[0]} is shard 1/2" in message


def test_merge__mismatched_parameter_is_refused_naming_it_and_both_values(made, tmp_path):
    shards = made.shard_dbs("nominal_all_variants", 2)
    other = made.copy("window_2of2.duckdb")
    api.run(other, _spec("nominal_all_variants", shard="2/2", window=500_000))
    message = _merge_error(tmp_path / "wh.duckdb", [shards[0], other])
    assert f"{other}: parameter window (--window) is 500000 there but 1000000 in" in message
    other_mode = made.shard_dbs("nominal", 2)[1]
    message = _merge_error(tmp_path / "wh.duckdb", [shards[0], other_mode])
    assert "parameter all_variants" in message


def test_merge__where_units_ran_may_differ_between_shards(made, tmp_path):
    shards = made.shard_dbs("nominal_all_variants", 2)
    other = made.copy("cores_2of2.duckdb")
    api.run(other, _spec("nominal_all_variants", shard="2/2", num_cores=2))
    merged = api.merge(tmp_path / "wh.duckdb", [shards[0], other])
    full_db, full = made.full_run("nominal_all_variants")
    _assert_same_run(full_db, full, tmp_path / "wh.duckdb", merged)


def test_merge__shard_of_other_inputs_is_refused(made, tmp_path):
    other_inputs = simulate_cohort(
        tmp_path / "other", seed=8, n_samples=60, chromosomes=("1", "2"), n_phenotypes=12,
        n_variants=80, chromosome_length=6_000_000, missing_rate=0.03, phenotype_covariate=True,
    )  # fmt: skip
    other = tmp_path / "other_2of2.duckdb"  # a shard made from inputs, not a copy
    api.ingest(other, "small", **cohort_kwargs(other_inputs))
    api.run(other, _spec("nominal_all_variants", shard="2/2"))
    shards = made.shard_dbs("nominal_all_variants", 2)
    message = _merge_error(tmp_path / "wh.duckdb", [shards[0], other])
    assert f"{other}: cohort 'small' has inputs of checksum" in message
    assert "same input files" in message


def test_merge__shard_of_other_versions_is_refused(made, tmp_path):
    shards = _copies(made.shard_dbs("nominal_all_variants", 2), tmp_path)
    with closing(connect(shards[1])) as con:
        con.execute("UPDATE runs SET numpy_version = '0.0.1'")
    message = _merge_error(tmp_path / "wh.duckdb", shards)
    assert f"{shards[1]} was computed with numpy 0.0.1, but {shards[0]} with numpy" in message
    with closing(connect(shards[1])) as con:
        con.execute("UPDATE runs SET numpy_version = ?", [numpy.__version__])
        con.execute("UPDATE run_parameters SET value = '\"0.0.1\"' WHERE key = 'version:scipy'")
    assert "computed with scipy 0.0.1" in _merge_error(tmp_path / "wh.duckdb", shards)
    for db in shards:  # both shards of an older segqtl: this one would compute the q-values
        with closing(connect(db)) as con:
            con.execute("UPDATE runs SET segqtl_version = '0.0.1'")
            con.execute(
                "UPDATE run_parameters SET value = ? WHERE key = 'version:scipy'",
                [json.dumps(scipy.__version__)],
            )
    message = _merge_error(tmp_path / "wh.duckdb", shards)
    assert f"computed with segqtl 0.0.1, and this is segqtl {__version__}" in message


def test_merge__incomplete_shard_is_refused_and_merges_after_resume(made, tmp_path, monkeypatch):
    shards = made.shard_dbs("perm_beta", 2)
    second = made.copy("perm_interrupted_2of2.duckdb")
    real_write = runs.write_unit
    calls = []

    def write_then_fail(*args, **kwargs):
        if calls:
            raise RuntimeError("worker lost")
        calls.append(1)
        return real_write(*args, **kwargs)

    monkeypatch.setattr(runs, "write_unit", write_then_fail)
    with pytest.raises(RuntimeError):
        api.run(second, _spec("perm_beta", shard="2/2"))
    monkeypatch.undo()
    with closing(connect(second, read_only=True)) as con:
        run_id, status = con.execute(
            "SELECT run_id, status FROM runs WHERE shard_count IS NOT NULL"
        ).fetchall()[0]
        done = con.execute(
            "SELECT count(*) FROM run_units WHERE run_id = ? AND status = 'done'", [run_id]
        ).fetchall()[0][0]
    assert status == "failed" and done == 1
    message = _merge_error(tmp_path / "wh.duckdb", [shards[0], second])
    assert f"{second}: shard 2/2 (run {run_id}) is failed, not completed" in message
    assert f"--resume {run_id}" in message

    api.resume(second, run_id)
    assert runs.SHARD_COMPLETED in str(api.list_runs(second)["status"].to_list())
    with pytest.raises(UsageError, match="already shard-completed"):
        api.resume(second, run_id)
    merged = api.merge(tmp_path / "wh.duckdb", [shards[0], second])
    full_db, full = made.full_run("perm_beta")
    _assert_same_run(full_db, full, tmp_path / "wh.duckdb", merged)


def test_merge__warehouse_without_shard_run_or_file_is_refused(made, tmp_path):
    shards = made.shard_dbs("nominal_all_variants", 2)
    message = _merge_error(tmp_path / "wh.duckdb", [shards[0], made.base])
    assert f"{made.base} holds no shard run" in message
    message = _merge_error(tmp_path / "wh.duckdb", [shards[0], tmp_path / "nope.duckdb"])
    assert "no such shard warehouse" in message
    message = _merge_error(shards[0], shards)
    assert "is the target --db" in message
    plain = tmp_path / "plain.duckdb"
    with closing(duckdb.connect(str(plain))) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    message = _merge_error(tmp_path / "wh.duckdb", [shards[0], plain])
    assert f"{plain} is not a segqtl warehouse" in message


def test_merge__target_with_other_inputs_under_the_cohorts_name_is_refused(
    made, tmp_path, small_cohort
):
    other_inputs = simulate_cohort(
        tmp_path / "other", seed=9, n_samples=50, chromosomes=("1",), n_phenotypes=5,
        n_variants=30, chromosome_length=6_000_000,
    )  # fmt: skip
    target = tmp_path / "wh.duckdb"
    api.ingest(target, "small", **cohort_kwargs(other_inputs))
    before = _dump(target)
    message = _merge_error(target, made.shard_dbs("nominal_all_variants", 2))
    assert "has a cohort 'small' of other inputs" in message
    assert _dump(target) == before


def test_merge__failure_midway_leaves_the_target_as_it_was(
    made, tmp_path, monkeypatch, small_cohort
):
    shards = made.shard_dbs("perm_beta", 2)
    target = tmp_path / "wh.duckdb"  # lacks the shards' cohort: the merge copies it
    api.ingest(target, "unrelated", **cohort_kwargs(small_cohort))
    api.run(target, RunSpec(mode="nominal", cohort="unrelated", chromosomes=["1"]))
    before = _dump(target)
    from segqtl.warehouse import fdr

    def fail(con, run_id, *a, **k):  # the last step: cohort, run, units and rows are written
        assert con.execute("SELECT count(*) FROM cohorts WHERE cohort = 'small'").fetchall()[0][0]
        raise RuntimeError("disk full")

    monkeypatch.setattr(fdr, "compute_run_fdr", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        api.merge(target, shards)
    monkeypatch.undo()
    assert _dump(target) == before
    with closing(connect(target, read_only=True)) as con:
        assert con.execute("SELECT count(*) FROM cohorts WHERE cohort = 'small'").fetchall()[0] == (
            0,
        )
    merged = api.merge(target, shards)  # and the same merge then goes through
    assert _totals(target, merged)[3] == "completed"


# ------------------------------------------------------------------------------------------ CLI
def test_cli__run_shards_and_merge_end_to_end(made, tmp_path, small_cohort):
    runner = CliRunner()
    dbs = []
    for k in (1, 2, 3):
        db = tmp_path / f"shard_{k}.duckdb"  # each shard from the same inputs
        api.ingest(db, "small", **cohort_kwargs(small_cohort))
        res = runner.invoke(
            cli,
            ["run", "--db", str(db), "--cohort", "small", "--chromosome", "1", "--chromosome",
             "2", "--mode", "nominal", "--all-variants", "--unit-size", "3", "--shard",
             f"{k}/3"],
        )  # fmt: skip
        assert res.exit_code == 0, res.output
        assert f"(shard {k}/3) completed" in res.stderr and "segqtl merge" in res.stderr
        dbs.append(db)
    target = tmp_path / "wh.duckdb"
    res = runner.invoke(cli, ["merge", "--db", str(target), *map(str, dbs)])
    assert res.exit_code == 0, res.output
    merged = int(res.stdout.strip())
    assert "completed from 3 shards" in res.stderr
    full_db, full = made.full_run("nominal_all_variants")
    _assert_same_run(full_db, full, target, merged)
    res = runner.invoke(cli, ["runs", "--db", str(target), "--format", "csv"])
    assert "merged 3" in res.stdout
    res = runner.invoke(cli, ["merge", "--db", str(tmp_path / "x.duckdb"), str(dbs[0])])
    assert res.exit_code != 0
    assert res.stderr.count("\n") == 1 and "shards 2, 3 of 3 are missing" in res.stderr


@pytest.mark.parametrize(
    "value,problem",
    [
        ("0/3", "must have 1 <= K <= N"),
        ("4/3", "must have 1 <= K <= N"),
        ("x", "must be K/N, the shard K of N shards"),
    ],
)
def test_cli_run__bad_shard_is_a_one_line_error(base, value, problem):
    res = CliRunner().invoke(
        cli,
        ["run", "--db", str(base), "--cohort", "small", "--chromosome", "1", "--shard", value],
    )
    assert res.exit_code != 0
    assert res.stderr.count("\n") == 1
    assert f"--shard {problem} (got '{value}')" in res.stderr and "Fix:" in res.stderr


def test_dropin__has_no_shard_flag():
    assert modes.param("shard").dropin is False
    with pytest.raises(UsageError, match="--shard must be K/N"):
        api.validate(RunSpec(mode="nominal", cohort="c", chromosomes=["1"], shard="3"))


def test_export__shard_run_is_refused_with_the_merge_fix(made, tmp_path):
    db = made.shard_dbs("perm_beta", 2)[0]
    with closing(connect(db, read_only=True)) as con:
        run_id = con.execute("SELECT run_id FROM runs WHERE shard_count IS NOT NULL").fetchone()[0]
    with pytest.raises(UsageError, match=r"one shard of a sharded run.*segqtl merge"):
        api.export(db, run_id, tmp_path / "out")
    with pytest.raises(UsageError, match=r"one shard of a sharded run.*segqtl merge"):
        api.fdr(db, run_id)
