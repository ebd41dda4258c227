"""Issue 20: runs by id, name or last-MODE everywhere; SEGQTL_DB; chromosome lists; a focused
'show' and 'runs'; the negative control's chromosome."""

from __future__ import annotations

import json
import sys
import warnings

import polars as pl
import pytest
from click.testing import CliRunner

from segqtl import api
from segqtl.chromosomes import parse_chromosomes, plain_chromosomes
from segqtl.cli import cli, dropin, main
from segqtl.errors import UsageError
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect

from .conftest import cohort_kwargs


def _invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def _sql(db, sql, params=None):
    con = connect(db, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def wh(tmp_path_factory, small_cohort):
    """Runs 1 nominal 'dup', 2 perm 'scan' (50 permutations), 3 nominal 'dup' (window 500 kb)."""
    db = tmp_path_factory.mktemp("habits") / "wh.duckdb"
    api.ingest(db, "small", **cohort_kwargs(small_cohort))
    one = dict(cohort="small", chromosomes=["1"])
    runs = {
        "nominal": api.run(db, RunSpec(mode="nominal", name="dup", **one)),
        "perm": api.run(db, RunSpec(mode="perm", num_permutations=50, name="scan", **one)),
        "nominal_500kb": api.run(db, RunSpec(mode="nominal", window=500_000, name="dup", **one)),
    }
    return {"db": str(db), "runs": runs}


# ------------------------------------------------------------------------------ run references
def test_resolve_run__id_name_last_and_last_mode(wh):
    db, runs = wh["db"], wh["runs"]
    assert api.resolve_run(db, str(runs["perm"])) == runs["perm"]
    assert api.resolve_run(db, "scan") == runs["perm"]
    assert api.resolve_run(db, "last") == _sql(db, "SELECT max(run_id) FROM runs")[0][0]
    assert api.resolve_run(db, "last-perm") == runs["perm"]
    assert api.resolve_run(db, "LAST-nominal") == runs["nominal_500kb"]


def test_resolve_run__a_shared_name_is_the_newest_run_with_a_warning(wh):
    with pytest.warns(UserWarning, match=r"runs 1, 3 are all named 'dup'; using the newest, 3"):
        assert api.resolve_run(wh["db"], "dup") == wh["runs"]["nominal_500kb"]


@pytest.mark.parametrize(
    ("ref", "needle"),
    [
        ("nope", "run named 'nope' does not exist"),
        ("99", "run '99' does not exist"),
        ("last-finemap", "has no finemap runs"),
        ("last-bogus", "mode 'bogus' is not available"),
    ],
)
def test_resolve_run__unknown_references_are_one_line_errors(wh, ref, needle):
    with pytest.raises(UsageError, match=needle) as info:
        api.resolve_run(wh["db"], ref)
    assert "\n" not in str(info.value)


def test_cli__every_run_command_takes_names_and_last(wh, tmp_path):
    db, runs = wh["db"], wh["runs"]
    shown = json.loads(_invoke("show", "--db", db, "--run", "last-perm", "--json").stdout)
    assert shown["run"]["run_id"] == runs["perm"]
    assert _invoke("show", "--db", db, "scan").exit_code == 0
    both = _invoke("show", "--db", db, "scan", "--run", "scan")
    assert both.exit_code == 2 and "give one run" in both.stderr
    exported = _invoke("export", "--db", db, "--run", "scan", "--out-dir", tmp_path / "e")
    assert exported.exit_code == 0, exported.output
    assert exported.stdout.split() == [str(tmp_path / "e" / "perm_chr1_50.csv")]
    fdr = _invoke("fdr", "--db", db, "--run", "last-perm", "--fdr", "0.1")
    assert fdr.exit_code == 0, fdr.output
    assert fdr.stdout.splitlines()[1].split("\t")[0] == str(runs["perm"])
    by_option = _invoke("compare", "--db", db, "--run", runs["nominal"], "--run", "dup")
    by_argument = _invoke("compare", "--db", db, str(runs["nominal"]), runs["nominal_500kb"])
    assert "using the newest, 3" in by_option.stderr  # 'dup' names runs 1 and 3
    for res in (by_option, by_argument):
        assert res.exit_code == 0, res.output
        head = dict(line.split("\t", 1) for line in res.stdout.splitlines()[:4] if "\t" in line)
        assert (head["run_a"], head["run_b"]) == (str(runs["nominal"]), str(runs["nominal_500kb"]))
    one = _invoke("compare", "--db", db, "last-perm")
    assert one.exit_code == 2 and "compare takes two runs, got 1" in one.stderr


def test_cli__unknown_run_name_is_one_line_naming_the_fix(wh):
    res = _invoke("export", "--db", wh["db"], "--run", "nope", "--out-dir", "x")
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and "Fix: list the runs with 'segqtl runs" in res.stderr


def test_cli_run__resume_takes_a_run_reference(wh):
    res = _invoke("run", "--db", wh["db"], "--resume", "scan", "-q")
    assert res.exit_code == 2
    assert f"run {wh['runs']['perm']} is already completed" in res.stderr


# ------------------------------------------------------------------------------------ SEGQTL_DB
def test_cli__segqtl_db_sets_the_default_warehouse(wh):
    res = _invoke("runs", "--format", "json", env={"SEGQTL_DB": wh["db"]})
    assert res.exit_code == 0, res.output
    assert [r["run_id"] for r in json.loads(res.stdout)] == sorted(wh["runs"].values())
    explicit = _invoke("runs", "--db", wh["db"], "--format", "json", env={"SEGQTL_DB": "x.db"})
    assert explicit.stdout == res.stdout


def test_cli__no_db_and_no_segqtl_db_is_one_line(monkeypatch, capsys):
    monkeypatch.delenv("SEGQTL_DB", raising=False)
    with pytest.raises(SystemExit) as info:
        main(["show", "last"])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err == (
        "segqtl: error: no warehouse given. Fix: add --db WAREHOUSE.duckdb, or set "
        "SEGQTL_DB=WAREHOUSE.duckdb in the environment\n"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["export", "--out-dir", "x"], "missing --run. Fix: see 'segqtl export --help'"),
        (["query"], "missing argument SQL. Fix: see 'segqtl query --help'"),
        (["plot", "--run", "1", "--out", "p.png"], "missing argument KIND"),
        (["show", ""], "invalid value for argument RUN: is empty"),
        (["--mode", "nominal", "--genotypes", "g"], "missing --chromosome"),
    ],
    ids=["option", "argument", "argument-plot", "empty-argument", "dropin-option"],
)
def test_cli__a_missing_or_bad_parameter_is_named_as_typed(wh, capsys, args, expected):
    """click's missing-parameter error has no text of its own: it is named (arguments by the
    usage line's name), never 'invalid value for --run: .'"""
    db_args = ["--db", wh["db"]] if args[0] != "--mode" else []
    with pytest.raises(SystemExit) as info:
        main([args[0], *db_args, *args[1:]])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert len(err.strip().splitlines()) == 1 and expected in err, err


# ---------------------------------------------------------------------------- show and runs
def test_cli_show__only_the_modes_parameters_unless_all(wh):
    from segqtl import modes

    db, perm = wh["db"], wh["runs"]["perm"]
    focused = json.loads(_invoke("show", "--db", db, perm, "--json").stdout)
    text = _invoke("show", "--db", db, perm).stdout
    every = json.loads(_invoke("show", "--db", db, perm, "--all", "--json").stdout)
    declared = modes.params()
    keys = {line.split("\t")[0] for line in text.split("[parameters]\n")[1].split("\n\n")[0]
            .splitlines()}  # fmt: skip
    assert "alpha_en" in every["parameters"] and "num_permutations" in every["parameters"]
    assert "num_permutations" in keys and "window" in keys
    for key in keys & set(declared):
        assert declared[key].applies_to("perm"), key
    not_perm = {
        k for k in every["parameters"] if k in declared and not declared[k].applies_to("perm")
    }
    assert not_perm and not (keys & not_perm)
    assert set(focused["parameters"]) == keys  # the JSON holds what the text shows


def test_show__outcome_matches_the_stored_results(wh):
    db, perm = wh["db"], wh["runs"]["perm"]
    outcome = api.show(db, perm)["outcome"]
    ((pi0, fdr, n_hits),) = _sql(
        db, "SELECT pi0, fdr, n_hits FROM run_fdr WHERE run_id = ?", [perm]
    )
    hits = _sql(db, "SELECT count(*) FROM qvalues WHERE run_id = ? AND is_hit", [perm])[0][0]
    tested = _sql(
        db, "SELECT count(*) FROM nominal_top WHERE run_id = ? AND status = 'tested'", [perm]
    )[0][0]
    assert (outcome["pi0"], outcome["fdr"], outcome["hits"]) == (pi0, fdr, n_hits)
    assert outcome["hits"] == hits
    assert outcome["phenotypes_tested"] == tested
    assert sum(v for k, v in outcome.items() if k.startswith("phenotypes_")) == 12
    nominal = api.show(db, wh["runs"]["nominal"])["outcome"]
    assert "hits" not in nominal and nominal["phenotypes_tested"] >= 1


def test_cli_runs__key_parameters_and_hits(wh):
    rows = {r["run_id"]: r for r in json.loads(_invoke("runs", "--db", wh["db"], "--format",
                                                       "json").stdout)}  # fmt: skip
    runs = wh["runs"]
    assert rows[runs["perm"]]["key_parameters"] == "window=1Mb num_permutations=50"
    assert rows[runs["nominal"]]["key_parameters"] == "window=1Mb"
    assert rows[runs["nominal_500kb"]]["key_parameters"] == "window=500kb"
    stored = _sql(wh["db"], "SELECT n_hits FROM run_fdr WHERE run_id = ?", [runs["perm"]])[0][0]
    assert rows[runs["perm"]]["hits"] == stored
    assert rows[runs["nominal"]]["hits"] is None


def test_key_parameters__flags_genes_and_sizes():
    from segqtl.api import _bp, key_parameters

    assert [_bp(n) for n in (1_000_000, 500_000, 2_500_000, 300)] == ["1Mb", "500kb", "2.5Mb",
                                                                       "300bp"]  # fmt: skip
    words = key_parameters("nominal", {"window": 1000, "all_variants": "G1", "record_aic": True,
                                       "num_cores": 4, "num_permutations": 10})  # fmt: skip
    assert words == "window=1kb all_variants=G1 record_aic"


def test_cli__runs_and_show_print_the_stored_status(tmp_path, small_cohort):
    db = tmp_path / "wh.duckdb"
    api.ingest(db, "small", **cohort_kwargs(small_cohort))
    run = api.run(db, RunSpec(mode="nominal", cohort="small", chromosomes=["1"]))
    con = connect(db)
    con.execute("UPDATE runs SET status = 'interrupted' WHERE run_id = ?", [run])
    con.close()
    listed = json.loads(_invoke("runs", "--db", db, "--format", "json").stdout)
    assert listed[0]["status"] == "interrupted"
    assert "status\tinterrupted" in _invoke("show", "--db", db, "last").stdout.splitlines()


# -------------------------------------------------------------------------------- chromosomes
HAVE = ["chr1", "chr2", "chr3", "chr5", "chrX"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["all"], HAVE),
        (["1,2"], ["chr1", "chr2"]),
        (["1-5"], ["chr1", "chr2", "chr3", "chr5"]),
        (["chr1"], ["chr1"]),
        (["X", "2", "chr2"], ["chrX", "chr2"]),
        (["3-1", "X"], ["chr1", "chr2", "chr3", "chrX"]),
        (["5, 1 ,"], ["chr5", "chr1"]),
    ],
)
def test_parse_chromosomes__all_lists_ranges_prefixes_repeats(values, expected):
    assert parse_chromosomes(values, HAVE) == expected


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        (["4"], "--chromosome 4: the cohort has no chr4"),
        (["1,4"], "--chromosome 4: the cohort has no chr4"),
        (["6-9"], "--chromosome 6-9: the cohort has none of 6-9"),
        ([","], "--chromosome is empty"),
        (["chrall"], "has no chrall"),
    ],
)
def test_parse_chromosomes__errors_name_the_chromosomes_there_are(values, needle):
    with pytest.raises(UsageError, match=needle) as info:
        parse_chromosomes(values, HAVE)
    assert str(info.value).endswith("one or more of chr1, chr2, chr3, chr5, chrX (or 'all')")


def test_plain_chromosomes__only_single_names():
    assert plain_chromosomes(["8", "chr8", "X"]) == ["chr8", "chrX"]
    for values in (["all"], ["1,2"], ["1-5"], []):
        assert plain_chromosomes(values) is None


def test_cli_run__chromosome_lists_ranges_and_all(wh):
    db = wh["db"]
    for value, expected in (("1,2", "chr1,chr2"), ("1-5", "chr1,chr2"), ("all", "chr1,chr2")):
        res = _invoke("run", "--db", db, "--cohort", "small", "--chromosome", value, "-q",
                      "--name", f"chroms {value}")  # fmt: skip
        assert res.exit_code == 0, res.output
        run = int(res.stdout)
        assert _sql(db, "SELECT chromosomes FROM runs WHERE run_id = ?", [run])[0][0] == expected


def test_cli_export__chromosome_lists_choose_the_files(wh, tmp_path):
    db = wh["db"]
    res = _invoke("run", "--db", db, "--cohort", "small", "--chromosome", "all", "-q",
                  "--mode", "perm", "--num-permutations", "20", "--name", "two chroms")  # fmt: skip
    assert res.exit_code == 0, res.output
    for value, expected in (("2", ["perm_chr2_20.csv"]), ("chr1", ["perm_chr1_20.csv"]),
                            ("1-2", ["perm_chr1_20.csv", "perm_chr2_20.csv"]),
                            ("all", ["perm_chr1_20.csv", "perm_chr2_20.csv"])):  # fmt: skip
        out = tmp_path / value
        res = _invoke("export", "--db", db, "--run", "two chroms", "--out-dir", out,
                      "--chromosome", value)  # fmt: skip
        assert res.exit_code == 0, res.output
        assert sorted(p.name for p in out.iterdir()) == expected
        assert [line.rsplit("/", 1)[-1] for line in res.stdout.split()] == expected
    res = _invoke("export", "--db", db, "--run", "two chroms", "--out-dir", tmp_path / "x",
                  "--chromosome", "5")  # fmt: skip
    assert res.exit_code == 2 and "run" in res.stderr and "chr5" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "x").exists()


def test_cli_run__a_missing_chromosome_records_nothing(wh):
    before = _sql(wh["db"], "SELECT count(*) FROM runs")[0][0]
    for value in ("1,7", "7"):
        res = _invoke("run", "--db", wh["db"], "--cohort", "small", "--chromosome", value)
        assert res.exit_code == 2 and "chr7" in res.stderr and "Fix:" in res.stderr
    assert _sql(wh["db"], "SELECT count(*) FROM runs")[0][0] == before


def test_cli_summary__all_chromosomes_in_one_file(wh, tmp_path):
    out = tmp_path / "all.summary"
    res = _invoke("summary", "--db", wh["db"], "--cohort", "small", "--chromosome", "all",
                  "--out", out)  # fmt: skip
    assert res.exit_code == 0, res.output
    frame = pl.read_csv(out, separator="\t", comment_prefix="#")
    counts = dict(_sql(wh["db"], "SELECT chr, count(*) FROM variants WHERE cohort = 'small' "
                                 "GROUP BY chr"))  # fmt: skip
    assert frame["chromosome"].unique(maintain_order=True).to_list() == ["chr1", "chr2"]
    assert frame.group_by("chromosome").len().sort("chromosome")["len"].to_list() == [
        counts["chr1"], counts["chr2"]]  # fmt: skip
    assert "# segqtl-chromosome chr1,chr2\n" in out.read_text()


def _dropin_args(cohort, out_dir, *extra):
    args = ["--mode", "nominal", "--out_dir", str(out_dir), "-q", *extra]
    for k, v in cohort_kwargs(cohort).items():
        args += [f"--{k}", str(v)]
    return args


def test_dropin__chromosome_all_runs_every_chromosome(tmp_path, small_cohort):
    res = CliRunner().invoke(dropin, _dropin_args(small_cohort, tmp_path, "--chromosome", "all"))
    assert res.exit_code == 0, res.output
    assert res.stdout.split() == [str(tmp_path / f"nominal_chr{c}.csv") for c in (1, 2)]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--chromosome", "1,5"], "--chromosome 5: "),
        (["--chromosome", "2", "--neg_control"], "has no genotypes for chr3"),
        (["--chromosome", "2", "--neg_control", "--neg_control_chromosome", "7"],
         "--neg_control_chromosome 7: "),
    ],
)  # fmt: skip
def test_dropin__bad_chromosomes_stop_before_anything_is_ingested(tmp_path, small_cohort, extra,
                                                                  needle):  # fmt: skip
    out = tmp_path / "o"
    res = CliRunner().invoke(dropin, _dropin_args(small_cohort, out, *extra))
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and "Fix:" in res.stderr
    assert not out.exists()  # no warehouse, no files


# ---------------------------------------------------------------------------- negative control
def test_run__neg_control_chromosome_equals_the_default_rule(tmp_path, small_cohort):
    db = tmp_path / "wh.duckdb"
    api.ingest(db, "small", **cohort_kwargs(small_cohort))
    base = dict(mode="nominal", cohort="small", chromosomes=["1"], neg_control=True,
                neg_control_max_variants=20)  # fmt: skip
    default = api.run(db, RunSpec(**base))  # chr1's next chromosome: chr2
    chosen = api.run(db, RunSpec(**base, neg_control_chromosome="chr2"))
    cols = "phenotype, variant, number_of_samples, beta_d, se_d, nominal_p"
    rows = [
        _sql(db, f"SELECT {cols} FROM nominal_results WHERE run_id = ? ORDER BY ALL", [r])
        for r in (default, chosen)
    ]
    assert rows[0] == rows[1] and rows[0]
    assert {v.split(":")[0] for _, v, *_ in rows[1] if v} == {"chr2"}


def test_run__neg_control_chromosome_picks_another_chromosome(tmp_path, small_cohort):
    db = tmp_path / "wh.duckdb"
    api.ingest(db, "small", **cohort_kwargs(small_cohort))
    spec = dict(mode="nominal", cohort="small", chromosomes=["2"], neg_control=True)
    with pytest.raises(UsageError, match=r"no genotypes for chr3\. Fix: .* one of chr1$"):
        api.run(db, RunSpec(**spec))
    assert _sql(db, "SELECT count(*) FROM runs")[0][0] == 0
    run = api.run(db, RunSpec(**spec, neg_control_chromosome="1"))
    variants = _sql(db, "SELECT DISTINCT split_part(variant, ':', 1) FROM nominal_results "
                        "WHERE run_id = ? AND variant IS NOT NULL", [run])  # fmt: skip
    assert variants == [("chr1",)]
    (path,) = api.export(db, run, tmp_path / "out")
    assert path.name == "negctrl_trans_nominal_chr2.csv"


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--neg-control-chromosome", "1"], "--neg-control-chromosome chooses"),
        (["--neg-control", "--neg-control-chromosome", "2"], "is one of the run's chromosomes"),
        (["--mode", "finemap", "--neg-control-chromosome", "1"], "not a finemap one"),
    ],
)
def test_cli_run__neg_control_chromosome_misuse_is_one_line(wh, extra, needle):
    res = _invoke("run", "--db", wh["db"], "--cohort", "small", "--chromosome", "2", *extra)
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and res.stderr.count("\n") == 1


def test_neg_control_chromosome__declared_once_in_both_command_lines():
    from segqtl import modes

    p = modes.param("neg_control_chromosome")
    assert p.flags == ("--neg-control-chromosome", "--neg_control_chromosome")
    assert p.native and p.dropin and p.applies_to("perm") and not p.applies_to("finemap")
    assert RunSpec(mode="nominal", cohort="", chromosomes=["1"]).neg_control_chromosome is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        help_text = _invoke("run", "--help").stdout + CliRunner().invoke(dropin, ["--help"]).stdout
    assert help_text.count("--neg-control-chromosome") >= 2


def test_group__plain_db_and_run_options_get_the_shared_habits(wh):
    import click

    from segqtl.cli import _Group, handle_errors

    group = _Group()

    @group.command()
    @click.option("--db", required=True, type=click.Path(dir_okay=False), help="Warehouse file.")
    @click.option("--run", "run_id", required=True, type=int, help="Run id.")
    @click.option("--run-b", "run_b", type=int, help="Another run.")
    @click.option("--top", default=3, type=int, help="Not a run.")
    @handle_errors
    def probe(db, run_id, run_b, top):
        click.echo(f"{db} {run_id} {run_b} {top}")

    res = CliRunner().invoke(
        group, ["probe", "--run", "scan", "--run-b", "last", "--top", "4"],
        env={"SEGQTL_DB": wh["db"]},
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    newest = _sql(wh["db"], "SELECT max(run_id) FROM runs")[0][0]
    assert res.stdout.split() == [wh["db"], str(wh["runs"]["perm"]), str(newest), "4"]
    missing = CliRunner().invoke(group, ["probe", "--run", "1"], env={"SEGQTL_DB": None})
    assert missing.exit_code == 2 and "no warehouse given" in missing.output


@pytest.mark.parametrize("entry", ["python -m segqtl", "segqtl"])
def test_entry__ctrl_c_while_the_command_line_loads(entry):
    # Ctrl-C while segqtl.cli and its imports load (most of a second) ends as it does later:
    # one line and exit code 130, no traceback.  The import is made to raise KeyboardInterrupt.
    import subprocess
    import textwrap

    launch = (
        "runpy.run_module('segqtl', run_name='__main__', alter_sys=True)"
        if entry == "python -m segqtl"
        else "from segqtl.entry import start; start()"
    )
    code = textwrap.dedent(
        f"""
        import builtins, runpy, sys
        real = builtins.__import__
        def interrupted(name, globals=None, locals=None, fromlist=(), level=0):
            if name == "segqtl.cli" or (name == "cli" and level == 1):
                raise KeyboardInterrupt
            return real(name, globals, locals, fromlist, level)
        builtins.__import__ = interrupted
        sys.argv = ["segqtl", "--help"]
        {launch}
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 130, res.stderr
    assert res.stderr == "segqtl: interrupted\n"
    assert res.stdout == ""


@pytest.mark.parametrize("typed", ["8", "chr8", "CHR8", "Chr8", " chr8 "])
def test_normalize_chromosome__prefix_in_any_case(typed):
    from segqtl.chromosomes import normalize_chromosome

    assert normalize_chromosome(typed) == "chr8"
    assert normalize_chromosome("X") == "chrX"
