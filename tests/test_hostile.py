"""Hostile but realistic input: malformed files, bad flags and paths, a read-only door.

Every case runs one command line (in this process, through :func:`segqtl.cli.main`) against a
warehouse that already holds a cohort and two completed runs, and checks that it is refused
with exit code 2 and exactly one line on stderr (``segqtl: error: ...``) that names the file or
flag and says ``Fix:``, with nothing on stdout and no traceback; and that the warehouse (the
``runs`` and ``cohorts`` listings and every table's row count) and the files (a listing of the
case's folder with each file's checksum) are exactly as before.

The faults (signals, kills, full disks, dead workers) are tested in tests/test_faults.py.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from segqtl import api
from segqtl.cli import main
from segqtl.simulate import simulate_cohort
from segqtl.spec import RunSpec
from segqtl.warehouse.db import view_files

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A small cohort's files and a warehouse holding it, a perm run and a nominal run."""
    root = tmp_path_factory.mktemp("hostile")
    cohort = simulate_cohort(
        root / "in",
        seed=11,
        n_samples=36,
        chromosomes=("1", "2"),
        n_phenotypes=4,
        n_variants=30,
        chromosome_length=3_000_000,
        phenotype_covariate=True,
    )
    db = root / "wh.duckdb"
    api.ingest(db, "c1", **_inputs(cohort.out_dir))
    api.run(db, RunSpec(mode="perm", cohort="c1", chromosomes=["1"], num_permutations=20))
    api.run(db, RunSpec(mode="nominal", cohort="c1", chromosomes=["1"]))
    return root


def _inputs(folder: Path) -> dict[str, Path]:
    return {
        "genotypes": folder / "genotypes",
        "quantifications": folder / "quantifications.csv",
        "covariates": folder / "covariates.csv",
        "copynumber": folder / "copynumbers.csv",
        "segmentation": folder / "segments.csv",
        "phenotype_covariate": folder / "phenotype_covariate.csv",
    }


@dataclass
class World:
    """One case's folder: a copy of the cohort's files (``in/``) and of the warehouse."""

    root: Path
    monkeypatch: pytest.MonkeyPatch

    @property
    def db(self) -> Path:
        return self.root / "wh.duckdb"

    @property
    def inputs(self) -> dict[str, Path]:
        return _inputs(self.root / "in")

    def path(self, name: str) -> Path:
        return self.inputs[name]


@pytest.fixture
def world(base, tmp_path, monkeypatch):
    shutil.copytree(base / "in", tmp_path / "in")
    shutil.copy(base / "wh.duckdb", tmp_path / "wh.duckdb")
    monkeypatch.chdir(tmp_path)
    return World(tmp_path, monkeypatch)


# ------------------------------------------------------------------------------------ helpers
@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(args: list) -> Result:
    """``segqtl ARGS`` (or the drop-in, for ``--mode ...``) in this process."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return Result(code, out.getvalue(), err.getvalue())


def assert_refused(res: Result, *fragments: str, fix: bool = True) -> str:
    """Exit 2, nothing on stdout, one line on stderr naming ``fragments`` (and a fix)."""
    lines = res.err.splitlines()
    assert res.code == 2, (res.code, res.err)
    assert res.out == "", res.out
    assert len(lines) == 1, res.err
    line = lines[0]
    assert line.startswith("segqtl: error: "), line
    assert "Traceback" not in res.err and "internal error" not in line, line
    if fix:
        assert "Fix:" in line, line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def state(root: Path, db: Path | None = None) -> dict:
    """What a refused command must not change: every path under ``root`` (files with their
    checksum; warehouse files by name only, a closing connection may checkpoint them) and the
    warehouse's runs, cohorts and table row counts."""
    listing = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_dir():
            listing[rel] = "dir"
        elif p.suffix in (".duckdb", ".wal") or not p.is_file():
            listing[rel] = "warehouse"
        else:
            listing[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    out = {"files": listing}
    if db is not None and db.is_file():
        con = duckdb.connect(str(db), read_only=True)
        try:
            tables = [
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_type = 'BASE TABLE' ORDER BY table_name"
                ).fetchall()
            ]
            out["rows"] = {
                t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables
            }
        finally:
            con.close()
        runs = api.list_runs(db).drop("progress").write_csv()
        cohorts = api.list_cohorts(db).write_csv()
        out["listings"] = hashlib.sha256((runs + cohorts).encode()).hexdigest()
    return out


def ingest_args(w: World, **override) -> list:
    """``segqtl ingest`` of a new cohort from ``w``'s files, with ``override`` paths."""
    paths = {**w.inputs, **override}
    args = ["ingest", "--db", w.db, "--cohort", "new"]
    for name, value in paths.items():
        args += [f"--{name.replace('_', '-')}", value]
    return args


def dropin_args(w: World, *extra, chromosome: str = "1", **override) -> list:
    """The drop-in on ``w``'s files writing into ``w.root / out``."""
    paths = {**w.inputs, **override}
    args = ["--mode", "nominal", "--chromosome", chromosome, "--out_dir", w.root / "out"]
    for name, value in paths.items():
        args += [f"--{name}", value]
    return args + list(extra)


def edit(path: Path, fn: Callable[[list[list[str]]], list[list[str]]]) -> Path:
    """Rewrite a CSV file through ``fn`` (rows of fields)."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    with open(path, "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(fn(rows))
    return path


def set_cell(row: int, col: int, value: str):
    def fn(rows):
        rows[row][col] = value
        return rows

    return fn


def unreadable(w: World, name: str) -> Path:
    """The input ``name`` made unreadable (as root, whom permissions do not stop, a file
    whose read fails: /proc/self/mem)."""
    path = w.path(name)
    if os.geteuid() == 0:
        return Path("/proc/self/mem")
    path.chmod(0)
    return path


def garbage(path: Path) -> Path:
    path.write_bytes(bytes(range(256)) * 8 + b"\x00\xff\xfe")
    return path


def _csv_db(w: World) -> Path:
    target = w.root / "results.csv"
    shutil.copy(w.path("quantifications"), target)
    return target


def _truncated_db(w: World) -> Path:
    target = w.root / "cut.duckdb"
    data = w.db.read_bytes()
    target.write_bytes(data[: len(data) // 2 + 1000])
    return target


def _foreign_db(w: World) -> Path:
    """Another program's DuckDB database (a table, no segqtl schema)."""
    target = w.root / "sales.duckdb"
    con = duckdb.connect(str(target))
    con.execute("CREATE TABLE sales AS SELECT 1 AS amount")
    con.close()
    return target


# ------------------------------------------------------------------------------- the case list
@dataclass
class Case:
    id: str
    prepare: Callable[[World], list]  # sets the case up; returns the command line
    names: tuple[str, ...]  # what the one line must name (file, flag, ...)


def case(id_: str, *names: str):
    def register(fn):
        CASES.append(Case(id_, fn, names))
        return fn

    return register


CASES: list[Case] = []
Q, COV, CN, SEG, PCOV = (
    "quantifications",
    "covariates",
    "copynumber",
    "segmentation",
    "phenotype_covariate",
)


def _input_case(id_, name, mutate, *names):
    """A malformed input file ``name`` given to ``segqtl ingest``."""

    def prepare(w):
        path = mutate(w, w.path(name))
        return ingest_args(w, **{name: path})

    CASES.append(Case(id_, prepare, names))


# --- quantifications
_input_case("quant-ragged-row", Q, lambda w, p: edit(p, lambda r: [*r[:2], r[2][:-3], *r[3:]]),
            "quantifications.csv", "line 3")  # fmt: skip
_input_case("quant-long-row", Q, lambda w, p: edit(p, lambda r: [*r[:2], r[2] + ["9"], *r[3:]]),
            "quantifications.csv", "line 3")  # fmt: skip
_input_case("quant-duplicate-gene", Q, lambda w, p: edit(p, set_cell(3, 3, "G1_000")),
            "quantifications.csv", "duplicate gene_id")  # fmt: skip
_input_case("quant-duplicate-sample", Q, lambda w, p: edit(p, set_cell(0, 5, "S000")),
            "quantifications.csv", "duplicate")  # fmt: skip
_input_case("quant-non-numeric", Q, lambda w, p: edit(p, set_cell(2, 6, "high")),
            "quantifications.csv", "'high'")  # fmt: skip
_input_case("quant-nan-misspelt", Q, lambda w, p: edit(p, set_cell(2, 6, "n/a!")),
            "quantifications.csv", "'n/a!'")  # fmt: skip
_input_case("quant-infinite", Q, lambda w, p: edit(p, set_cell(2, 6, "inf")),
            "quantifications.csv", "infinite")  # fmt: skip
_input_case("quant-minus-infinity", Q, lambda w, p: edit(p, set_cell(3, 7, "-Infinity")),
            "quantifications.csv", "infinite")  # fmt: skip
_input_case("quant-empty-file", Q, lambda w, p: (p.write_text(""), p)[1],
            "quantifications.csv", "empty")  # fmt: skip
_input_case("quant-header-only", Q, lambda w, p: edit(p, lambda r: r[:1]),
            "quantifications.csv", "no data rows")  # fmt: skip
_input_case("quant-missing-column", Q,
            lambda w, p: edit(p, lambda r: [row[:2] + row[3:] for row in r]),
            "quantifications.csv", "line 1")  # fmt: skip
_input_case("quant-end-before-start", Q, lambda w, p: edit(p, set_cell(1, 2, "5")),
            "quantifications.csv", "start", "end")  # fmt: skip
_input_case("quant-negative-position", Q, lambda w, p: edit(p, set_cell(1, 1, "-40")),
            "quantifications.csv", "-40")  # fmt: skip
_input_case("quant-utf16-bom", Q,
            lambda w, p: (p.write_bytes(p.read_text().encode("utf-16")), p)[1],
            "quantifications.csv")  # fmt: skip
_input_case("quant-binary-garbage", Q, lambda w, p: garbage(p), "quantifications.csv")
_input_case("quant-is-a-directory", Q, lambda w, p: (p.unlink(), p.mkdir(), p)[2],
            "quantifications.csv")  # fmt: skip
_input_case("quant-unreadable", Q, lambda w, p: unreadable(w, Q), "quantifications")
_input_case("quant-missing", Q, lambda w, p: w.root / "nope.csv", "nope.csv")
_input_case("quant-unknown-sample", Q, lambda w, p: edit(p, set_cell(0, 6, "ZZ9")),
            "ZZ9")  # fmt: skip
# --- segmentation
_input_case("seg-end-before-start", SEG, lambda w, p: edit(p, set_cell(1, 3, "0")),
            "segments.csv", "line 2")  # fmt: skip
_input_case("seg-negative-position", SEG, lambda w, p: edit(p, set_cell(2, 2, "-7")),
            "segments.csv", "-7")  # fmt: skip
_input_case("seg-non-numeric", SEG, lambda w, p: edit(p, set_cell(2, 3, "end")),
            "segments.csv", "'end'")  # fmt: skip
_input_case("seg-missing-column", SEG, lambda w, p: edit(p, lambda r: [x[:3] for x in r]),
            "segments.csv", "line 1")  # fmt: skip
_input_case("seg-empty-file", SEG, lambda w, p: (p.write_text(""), p)[1],
            "segments.csv", "empty")  # fmt: skip
_input_case("seg-header-only", SEG, lambda w, p: edit(p, lambda r: r[:1]), "segments.csv")
_input_case("seg-is-a-directory", SEG, lambda w, p: (p.unlink(), p.mkdir(), p)[2],
            "segments.csv")  # fmt: skip
_input_case("seg-binary-garbage", SEG, lambda w, p: garbage(p), "segments.csv")
_input_case("seg-ragged-row", SEG, lambda w, p: edit(p, lambda r: [*r[:3], r[3][:2], *r[4:]]),
            "segments.csv", "line 4")  # fmt: skip
# --- covariates
_input_case("cov-ragged-row", COV, lambda w, p: edit(p, lambda r: [r[0], r[1][:-1], *r[2:]]),
            "covariates.csv", "line 2")  # fmt: skip
_input_case("cov-duplicate-name", COV,
            lambda w, p: edit(p, lambda r: [*r, [r[1][0], *r[1][1:]]]),
            "covariates.csv", "duplicate covariate")  # fmt: skip
_input_case("cov-non-numeric", COV, lambda w, p: edit(p, set_cell(1, 4, "old")),
            "covariates.csv", "'old'")  # fmt: skip
_input_case("cov-infinite", COV, lambda w, p: edit(p, set_cell(1, 4, "inf")),
            "covariates.csv", "infinite")  # fmt: skip
_input_case("cov-empty-file", COV, lambda w, p: (p.write_text(""), p)[1],
            "covariates.csv", "empty")  # fmt: skip
_input_case("cov-wrong-samples", COV, lambda w, p: edit(p, set_cell(0, 0, "X1")),
            "covariates.csv")  # fmt: skip
_input_case("cov-binary-garbage", COV, lambda w, p: garbage(p), "covariates.csv")
_input_case("cov-is-a-directory", COV, lambda w, p: (p.unlink(), p.mkdir(), p)[2],
            "covariates.csv")  # fmt: skip
# --- copy number and phenotype covariate
_input_case("cn-missing-gene", CN, lambda w, p: edit(p, lambda r: r[:2] + r[3:]),
            "copynumbers.csv")  # fmt: skip
_input_case("cn-duplicate-gene", CN, lambda w, p: edit(p, set_cell(2, 0, "G1_000")),
            "copynumbers.csv", "duplicate")  # fmt: skip
_input_case("cn-non-numeric", CN, lambda w, p: edit(p, set_cell(2, 3, "amp")),
            "copynumbers.csv", "'amp'")  # fmt: skip
_input_case("cn-header-only", CN, lambda w, p: edit(p, lambda r: r[:1]), "copynumbers.csv")
_input_case("cn-ragged-row", CN, lambda w, p: edit(p, lambda r: [r[0], r[1][:-2], *r[2:]]),
            "copynumbers.csv", "line 2")  # fmt: skip
_input_case("pcov-non-numeric", PCOV, lambda w, p: edit(p, set_cell(1, 2, "x")),
            "phenotype_covariate.csv", "'x'")  # fmt: skip
_input_case("pcov-infinite", PCOV, lambda w, p: edit(p, set_cell(1, 2, "1e999")),
            "phenotype_covariate.csv", "infinite")  # fmt: skip


# --- genotypes
def _genotype_case(id_, mutate, *names):
    def prepare(w):
        mutate(w.path("genotypes"))
        return ingest_args(w)

    CASES.append(Case(id_, prepare, names))


ALT1, ALT_REF = "chr1_ALTlr.csv", ("ALT", "REF")
_genotype_case("geno-ragged-row", lambda g: edit(g / ALT1, lambda r: [r[0], r[1][:-1], *r[2:]]),
               ALT1, "line 2")  # fmt: skip
_genotype_case("geno-non-numeric", lambda g: edit(g / ALT1, set_cell(3, 2, "AA")), ALT1, "'AA'")
_genotype_case("geno-infinite", lambda g: edit(g / ALT1, set_cell(3, 2, "inf")), ALT1, "infinite")
_genotype_case("geno-bad-variant-id",
               lambda g: [edit(g / f"chr1_{k}lr.csv", set_cell(2, 0, "rs12")) for k in ALT_REF],
               ALT1, "'rs12'")  # fmt: skip
_genotype_case("geno-ids-differ",
               lambda g: edit(g / "chr1_REFlr.csv", set_cell(2, 0, "chr1:5:A:C")),
               "chr1_REFlr.csv", "chr1:5:A:C")  # fmt: skip
_genotype_case("geno-no-ref-partner", lambda g: (g / "chr2_REFlr.csv").unlink(), "chr2_")
_genotype_case("geno-wrong-samples", lambda g: edit(g / ALT1, set_cell(0, 1, "Q1")), ALT1)
_genotype_case("geno-binary-garbage", lambda g: garbage(g / ALT1), ALT1)
_genotype_case("geno-empty-file", lambda g: (g / ALT1).write_text(""), ALT1)
_genotype_case("geno-empty-folder", lambda g: [p.unlink() for p in g.iterdir()], "genotypes")


@case("geno-folder-is-a-file", "genotypes")
def _(w):
    g = w.path("genotypes")
    shutil.rmtree(g)
    g.write_text("ID\n")
    return ingest_args(w)


# --- --db that is not a warehouse, for every command
COMMANDS = {
    "runs": lambda db: ["runs", "--db", db],
    "cohorts": lambda db: ["cohorts", "--db", db],
    "show": lambda db: ["show", "--db", db, "1"],
    "query": lambda db: ["query", "--db", db, "SELECT 1"],
    "export": lambda db: ["export", "--db", db, "--run", "1", "--out-dir", "exported"],
    "fdr": lambda db: ["fdr", "--db", db, "--run", "1"],
    "compare": lambda db: ["compare", "--db", db, "1", "2"],
    "summary": lambda db: [
        "summary",
        "--db",
        db,
        "--cohort",
        "c1",
        "--chromosome",
        "1",
        "--out",
        "summary.txt",
    ],  # fmt: skip
    "upgrade": lambda db: ["upgrade", "--db", db],
    "run": lambda db: ["run", "--db", db, "--cohort", "c1", "--chromosome", "1"],
    "merge": lambda db: ["merge", "--db", db, "wh.duckdb"],
}
for _name, _command in COMMANDS.items():
    CASES.append(
        Case(
            f"db-csv-{_name}", lambda w, c=_command: c(_csv_db(w)), ("results.csv", "not a DuckDB")
        )
    )
    CASES.append(
        Case(f"db-truncated-{_name}", lambda w, c=_command: c(_truncated_db(w)), ("cut.duckdb",))
    )
CASES += [
    Case("db-csv-ingest", lambda w: [*ingest_args(w)[:2], _csv_db(w), *ingest_args(w)[3:]],
         ("results.csv", "not a DuckDB")),
    Case("db-truncated-ingest", lambda w: [*ingest_args(w)[:2], _truncated_db(w),
                                           *ingest_args(w)[3:]], ("cut.duckdb",)),
    Case("db-csv-dropin", lambda w: dropin_args(w, "--db", _csv_db(w)),
         ("results.csv", "not a DuckDB")),
    Case("db-csv-as-shard", lambda w: ["merge", "--db", w.root / "merged.duckdb", _csv_db(w)],
         ("results.csv", "not a DuckDB")),
    Case("db-empty-file", lambda w: ["runs", "--db", (w.root / "e.duckdb").touch() or "e.duckdb"],
         ("e.duckdb", "empty")),
    Case("db-binary-garbage", lambda w: ["cohorts", "--db", garbage(w.root / "g.duckdb")],
         ("g.duckdb", "not a DuckDB")),
    Case("db-is-a-folder", lambda w: ["query", "--db", (w.root / "in"), "SELECT 1"],
         ("--db",)),
    Case("db-under-a-file", lambda w: ["upgrade", "--db", w.path(Q) / "wh.duckdb"],
         ("quantifications.csv",)),
    Case("db-new-under-a-file", lambda w: ingest_args(w)[:2] + [w.path(Q) / "x.duckdb"]
         + ingest_args(w)[3:], ("quantifications.csv", "not a folder")),
]  # fmt: skip

for _name in ("runs", "query", "upgrade", "run"):
    CASES.append(
        Case(
            f"db-foreign-duckdb-{_name}",
            lambda w, c=COMMANDS[_name]: c(_foreign_db(w)),
            ("sales.duckdb", "not a segqtl warehouse"),
        )
    )
CASES.append(
    Case(
        "db-foreign-duckdb-ingest",
        lambda w: [*ingest_args(w)[:2], _foreign_db(w), *ingest_args(w)[3:]],
        ("sales.duckdb", "not a segqtl warehouse"),
    )
)

# --- segqtl query is read-only and reads only the warehouse
QUERIES = {
    "copy-to-warehouse": "COPY (SELECT 1) TO 'wh.duckdb'",
    "copy-to-input": "COPY (SELECT 1) TO 'in/quantifications.csv'",
    "copy-from": "COPY runs FROM 'in/quantifications.csv'",
    "export-database": "EXPORT DATABASE 'dump'",
    "attach": "ATTACH 'other.duckdb' AS other",
    "detach": "DETACH wh",
    "install": "INSTALL httpfs",
    "load": "LOAD httpfs",
    "read-csv": "SELECT * FROM read_csv('/etc/passwd')",
    "read-text": "SELECT * FROM read_text('in/covariates.csv')",
    "glob": "SELECT * FROM glob('/etc/*')",
    "read-remote": "SELECT * FROM 'https://example.org/x.csv'",
    "checkpoint": "CHECKPOINT",
    "force-checkpoint": "FORCE CHECKPOINT",
    "set": "SET memory_limit = '1GB'",
    "set-external-access": "SET enable_external_access = true",
    "reset": "RESET lock_configuration",
    "pragma-setting": "PRAGMA threads = 1",
    "use": "USE memory",
    "insert": "INSERT INTO runs (run_id) VALUES (99)",
    "update": "UPDATE runs SET name = 'x'",
    "delete": "DELETE FROM runs",
    "create-table": "CREATE TABLE t AS SELECT 1",
    "create-temp-table": "CREATE TEMP TABLE t AS SELECT 1",
    "create-view": "CREATE VIEW v AS SELECT 1",
    "drop": "DROP VIEW perm_results",
    "vacuum": "VACUUM",
    "begin": "BEGIN TRANSACTION",
    "two-statements": "SELECT 1; SELECT 2",
}
for _name, _sql in QUERIES.items():
    names = ("one SQL statement",) if _name == "two-statements" else ("query is read-only",)
    CASES.append(Case(f"query-{_name}", lambda w, s=_sql: ["query", "--db", w.db, s], names))

# --- run parameters out of range
RUN = ["run", "--db", "wh.duckdb", "--cohort", "c1", "--chromosome", "1"]
FLAGS = {
    "unit-size-zero": (["--unit-size", "0"], "--unit-size"),
    "unit-size-negative": (["--unit-size", "-4"], "--unit-size"),
    "seed-negative": (["--mode", "perm", "--seed", "-1"], "--seed"),
    "seed-huge": (["--mode", "perm", "--seed", str(2**70)], "--seed"),
    "window-huge": (["--window", "99999999999999999"], "--window"),
    "window-negative": (["--window", "-1"], "--window"),
    "num-cores-zero": (["--num-cores", "0"], "--num-cores"),
    "permutations-zero": (["--mode", "perm", "--num-permutations", "0"], "--num-permutations"),
    "min-samples-zero": (["--min-samples", "0"], "--min-samples"),
    "max-memory-text": (["--max-memory", "lots"], "--max-memory"),
    "max-memory-tiny": (["--max-memory", "1KB"], "--max-memory"),
    "shard-k-above-n": (["--shard", "3/2"], "--shard"),
    "alpha-above-one": (["--mode", "finemap", "--alpha-en", "2"], "--alpha-en"),
    "not-a-number": (["--window", "ten"], "--window"),
}
for _name, (_extra, _flag) in FLAGS.items():
    CASES.append(Case(f"flag-{_name}", lambda w, e=_extra: [*RUN, *e], (_flag,)))


# --- paths that cannot be written, checked before anything is computed or recorded
def _env(name: str, value):
    def prepare(w):
        w.monkeypatch.setenv(name, str(value(w)))
        return [*RUN, "--mode", "perm", "--num-permutations", "10"]

    return prepare


CASES += [
    Case("path-export-out-dir-is-a-file",
         lambda w: ["export", "--db", w.db, "--run", "1", "--out-dir", w.path(Q)],
         ("--out-dir",)),
    Case("path-export-out-dir-under-a-file",
         lambda w: ["export", "--db", w.db, "--run", "1", "--out-dir", w.path(Q) / "x"],
         ("--out-dir", "quantifications.csv")),
    Case("path-export-out-dir-unwritable",
         lambda w: ["export", "--db", w.db, "--run", "1", "--out-dir", "/proc/segqtl-out"],
         ("--out-dir", "/proc")),
    Case("path-fdr-out-missing-folder",
         lambda w: ["fdr", "--db", w.db, "--run", "1", "--out", w.root / "no" / "q.csv"],
         ("--out", "does not exist")),
    Case("path-fdr-out-under-a-file",
         lambda w: ["fdr", "--db", w.db, "--run", "1", "--out", w.path(Q) / "q.csv"],
         ("--out",)),
    Case("path-fdr-out-is-a-folder",
         lambda w: ["fdr", "--db", w.db, "--run", "1", "--out", w.root / "in"], ("--out",)),
    Case("path-tmpdir-is-a-file", _env("SEGQTL_TMPDIR", lambda w: w.path(Q)),
         ("SEGQTL_TMPDIR",)),
    Case("path-tmpdir-missing", _env("SEGQTL_TMPDIR", lambda w: w.root / "scratch"),
         ("SEGQTL_TMPDIR", "does not exist")),
    Case("path-tmpdir-unwritable", _env("SEGQTL_TMPDIR", lambda w: "/proc/1"),
         ("SEGQTL_TMPDIR",)),
    Case("path-cache-is-a-file", _env("SEGQTL_CACHE", lambda w: w.path(Q)), ("SEGQTL_CACHE",)),
    Case("env-cache-max-not-a-size", _env("SEGQTL_CACHE_MAX", lambda w: "lots"),
         ("SEGQTL_CACHE_MAX", "not a size")),
    # simulate: bounded sizes (a typo must not fill the memory), --out checked first
    Case("simulate-samples-beyond-64-bits",
         lambda w: ["simulate", "--out", w.root / "sim", "--samples", "99999999999999999999"],
         ("--samples", "1<=x<=100000")),
    Case("simulate-too-many-cells",
         lambda w: ["simulate", "--out", w.root / "sim", "--samples", "50000",
                    "--variants", "10000"], ("genotype cells", "Fix:")),
    Case("simulate-out-under-a-file",
         lambda w: ["simulate", "--out", w.path(Q) / "sim"], ("--out", "a file")),
    Case("simulate-bad-rate-names-the-flag",
         lambda w: ["simulate", "--out", w.root / "sim", "--missing-rate", "2"],
         ("--missing-rate must be in [0, 1)",)),
    # an empty path is not the working folder
    Case("db-empty", lambda w: ["show", "--db", "", "last"], ("--db is empty",)),
    Case("export-out-dir-empty",
         lambda w: ["export", "--db", w.db, "--run", "1", "--out-dir", ""],
         ("--out-dir is empty",)),
    Case("dropin-out-dir-empty", lambda w: dropin_args(w)[:5] + [""] + dropin_args(w)[6:],
         ("--out_dir is empty",)),
    Case("progress-every-nan", lambda w: [*RUN, "--progress-every", "nan"],
         ("--progress-every", "not a number of seconds")),
    # a run name that reads as a run reference would shadow another run
    Case("run-name-digits", lambda w: [*RUN, "--name", "007"], ("--name", "is a number")),
    Case("run-name-last", lambda w: [*RUN, "--name", "Last-perm"], ("--name", "'last'")),
    Case("run-name-empty", lambda w: [*RUN, "--name", " "], ("--name", "is empty")),
    Case("run-name-line-break", lambda w: [*RUN, "--name", "a\nb"],
         ("--name", "control character")),
    # a float flag's range is not followed by the 64-bit integer note
    Case("float-flag-infinite", lambda w: [*RUN, "--mode", "finemap", "--alpha-en", "inf"],
         ("--alpha-en must be in [0, 1] (got inf). Fix:",)),
    # beyond 64 bits, --top overflowed the SQL LIMIT (an internal error)
    Case("top-beyond-int64-compare",
         lambda w: ["compare", "--db", w.db, "1", "1", "--top", "99999999999999999999"],
         ("--top", "0<=x<=1000000000")),
    Case("top-beyond-int64-report",
         lambda w: ["report", "--db", w.db, "--run", "1", "--out", w.root / "r.html",
                    "--top", "99999999999999999999"], ("--top", "0<=x<=1000000000")),
    # read by a run only once recorded: checked before, so no run is left 'running'
    Case("env-lock-notice-negative", _env("SEGQTL_LOCK_NOTICE", lambda w: "-1"),
         ("SEGQTL_LOCK_NOTICE", "not a number of seconds")),
    Case("path-dropin-out-dir-is-a-file",
         lambda w: dropin_args(w)[:5] + [w.path(Q)] + dropin_args(w)[6:], ("--out_dir",)),
    Case("path-dropin-out-dir-unwritable",
         lambda w: dropin_args(w)[:5] + ["/proc/segqtl-out"] + dropin_args(w)[6:],
         ("--out_dir", "/proc")),
    Case("path-dropin-tmpdir-is-a-file",
         lambda w: (w.monkeypatch.setenv("SEGQTL_TMPDIR", str(w.path(Q))), dropin_args(w))[1],
         ("SEGQTL_TMPDIR",)),
    Case("path-summary-out-under-a-file",
         lambda w: [*COMMANDS["summary"](w.db)[:-1], w.path(Q) / "s.txt"],
         ("--out", "quantifications.csv")),
    Case("path-summary-out-unwritable",
         lambda w: [*COMMANDS["summary"](w.db)[:-1], "/proc/segqtl/s.txt"], ("--out", "/proc")),
    Case("path-resume-tmpdir-is-a-file",
         lambda w: (w.monkeypatch.setenv("SEGQTL_TMPDIR", str(w.path(Q))),
                    ["run", "--db", w.db, "--resume", "1", "--quiet"])[1], ("SEGQTL_TMPDIR",)),
    # the drop-in stops before ingesting when the chromosome has phenotypes but no genotypes
    Case("dropin-phenotypes-without-genotypes",
         lambda w: dropin_args(w, chromosome="3", quantifications=edit(
             w.path(Q), lambda r: [r[0]] + [[("chr3" if x[0] == "chr2" else x[0]), *x[1:]]
                                            for x in r[1:]])),
         ("chr3", "genotype")),
    Case("dropin-chromosome-not-in-inputs", lambda w: dropin_args(w, chromosome="9"), ("chr9",)),
    Case("dropin-bad-input-file",
         lambda w: dropin_args(w, covariates=edit(w.path(COV), set_cell(1, 3, "old"))),
         ("covariates.csv", "'old'")),
    # bytes that are not UTF-8 in argv reach Python as lone surrogates
    Case("argv-sql-not-utf8", lambda w: ["query", "--db", w.db, "SELECT '\udcff'"],
         ("argument 4", "0xff", "UTF-8")),
    Case("argv-dropin-path-not-utf8",
         lambda w: dropin_args(w)[:5] + [str(w.root / "out\udce9")] + dropin_args(w)[6:],
         ("argument 6", "0xe9", "out\\xe9")),
]  # fmt: skip


def test_hostile__at_least_sixty_cases():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("hostile", CASES, ids=[c.id for c in CASES])
def test_hostile__refused_in_one_line_leaving_warehouse_and_files_as_they_were(world, hostile):
    args = hostile.prepare(world)
    before = state(world.root, world.db)
    res = run_cli(args)
    assert_refused(res, *hostile.names)
    assert state(world.root, world.db) == before


# ------------------------------------------------------------------------- query: what works
def test_query__selects_describe_pragma_explain_and_parameters_work(world):
    rows = api.query(world.db, "SELECT run_id, mode FROM runs WHERE mode = $m", {"m": "perm"})
    assert rows.rows() == [(1, "perm")]
    assert "run_id" in api.query(world.db, "DESCRIBE runs")["column_name"].to_list()
    assert "run_id" in api.query(world.db, "PRAGMA table_info('runs')")["name"].to_list()
    assert api.query(world.db, "EXPLAIN SELECT * FROM runs").height >= 1
    res = run_cli(
        ["query", "--db", world.db, "SELECT count(*) AS n FROM perm_results", "--format", "csv"]
    )
    assert res.code == 0 and res.out.splitlines() == ["n", "4"], res.err


def test_query__every_view_reads_under_the_locked_connection(world):
    from segqtl.warehouse.db import connect_query

    con = connect_query(world.db)
    try:
        for view in view_files():
            con.execute(f"SELECT * FROM {view.name} LIMIT 5").fetchall()
        settings = dict(
            con.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN "
                "('enable_external_access', 'lock_configuration', 'autoload_known_extensions',"
                " 'autoinstall_known_extensions')"
            ).fetchall()
        )
    finally:
        con.close()
    assert settings == {
        "enable_external_access": "false",
        "lock_configuration": "true",
        "autoload_known_extensions": "false",
        "autoinstall_known_extensions": "false",
    }


def test_query__works_beside_another_open_connection_in_this_process(world):
    other = duckdb.connect(str(world.db), read_only=True)  # a notebook's, with default settings
    try:
        assert api.query(world.db, "SELECT count(*) AS n FROM runs")["n"][0] == 2
    finally:
        other.close()


# --------------------------------------------------------------------- the --db file checks
def test_db_check__a_busy_warehouse_is_never_taken_for_a_truncated_one(world):
    """After checkpoints that grow and trim the file, every open still accepts it."""
    for i in range(3):
        api.run(world.db, RunSpec(mode="nominal", cohort="c1", chromosomes=["2"], name=f"r{i}"))
        assert run_cli(["runs", "--db", world.db]).code == 0


def test_db_check__a_partial_block_is_refused_unless_a_write_ahead_log_follows(world):
    """A checkpoint that failed on a full disk leaves a partial last block and the changes in
    the WAL, which DuckDB replays: resumable, so accepted; without a WAL it is a cut copy."""
    target = world.root / "partial.duckdb"
    target.write_bytes(world.db.read_bytes() + b"\0" * 1000)
    res = run_cli(["runs", "--db", target])
    assert res.code == 2 and "damaged DuckDB warehouse" in res.err
    Path(f"{target}.wal").write_bytes(b"")
    res = run_cli(["runs", "--db", target])
    assert res.code == 0, res.err


def test_db_check__a_new_warehouse_with_any_suffix_is_created(world):
    res = run_cli(ingest_args(world)[:2] + [world.root / "new.csv"] + ingest_args(world)[3:])
    assert res.code == 0, res.err
    assert api.list_cohorts(world.root / "new.csv")["cohort"].to_list() == ["new"]


# --------------------------------------------------------------------- constant covariates
def test_covariates__constant_and_collinear_are_dropped_with_a_stored_warning(world):
    def add(rows):
        n = len(rows[0])
        return [*rows, ["female"] + ["1"] * n, ["age_again", *rows[1][1:]]]

    edit(world.path(COV), add)
    res = run_cli(ingest_args(world))
    assert res.code == 0, res.err
    assert "warning" in res.err and "'female' is constant" in res.err
    assert "nominal and perm runs drop it" in res.err
    assert "'age_again' is a linear combination" in res.err
    spec = dict(mode="perm", chromosomes=["1"], num_permutations=20)
    with pytest.warns(UserWarning, match="'female' is constant"):  # on stderr at run start
        with_extra = api.run(world.db, RunSpec(cohort="new", **spec))
    plain = api.run(world.db, RunSpec(cohort="c1", **spec))
    warning = api.show(world.db, with_extra)["provenance"]["warning:covariates"]
    assert "female" in warning and "age_again" in warning and "dropped" in warning
    assert "warning:covariates" not in api.show(world.db, plain)["provenance"]

    def results(run_id):
        return api.query(
            world.db,
            "SELECT * EXCLUDE (run_id, run_name, cohort) FROM perm_results WHERE run_id = $r "
            "ORDER BY phenotype",
            {"r": run_id},
        )

    # finemap and validate keep every covariate, as SegmentQTL does (a raw constant block)
    from segqtl.warehouse.db import connect
    from segqtl.warehouse.reads import covariates_frame

    con = connect(world.db, read_only=True)
    try:
        names = {m: covariates_frame(con, "new", m)["name"].to_list() for m in ("perm", "finemap")}
    finally:
        con.close()
    assert names["finemap"] == [*names["perm"], "female", "age_again"]

    got, want = results(with_extra), results(plain)
    assert got.height == 4 and got["p_adj"].null_count() < 4  # not an all-empty run
    differ = [c for c in got.columns if not got[c].equals(want[c])]
    assert differ == [], (differ, got.select(differ), want.select(differ))


def test_covariates__redundant_covariates_named_in_order():
    import numpy as np

    from segqtl.ingest.covariates import redundant_covariates

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=40), rng.normal(size=40)
    found = redundant_covariates(
        ["a", "sex", "b", "a2", "mix", "c"],
        [a, np.full(40, 2.0), b, a, 1 + 2 * a - b, rng.normal(size=40)],
    )
    assert [name for name, _ in found] == ["sex", "a2", "mix"]
    assert found[0][1] == "constant (every sample has 2)"
    assert redundant_covariates(["a", "b"], [a, b]) == []


# ------------------------------------------------------------------- a read-only installation
NUMBA_PROBE = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    import segqtl
    assert segqtl.__file__.startswith(sys.argv[1]), segqtl.__file__
    from segqtl.cli import main
    from segqtl.kernels import perm_compiled, finemap_compiled  # compiled, cached kernels
    out = np.zeros((1, 3), dtype=np.int64)
    perm_compiled.shuffle_rows(out, 0, np.arange(1, 9, dtype=np.uint64), 0)  # compiles, caches
    assert sorted(out[0].tolist()) == [0, 1, 2]
    print("cache", os.environ.get("NUMBA_CACHE_DIR"), os.environ.get("NUMBA_CACHE_LOCATOR_CLASSES"))
    main(["--version"])
    """
)


def _read_only_install(tmp_path: Path) -> tuple[Path, dict]:
    """A copy of segqtl whose kernels' ``__pycache__`` cannot be a folder, a HOME under a
    file: neither numba's in-tree nor its user-wide cache can be written, even by root."""
    site = tmp_path / "site"
    shutil.copytree(REPO / "segqtl", site / "segqtl", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "sql", site / "sql")
    (site / "segqtl" / "kernels" / "__pycache__").write_text("not a folder")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_"))}
    env |= {"HOME": str(blocked / "home"), "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    return site, env


def test_numba__a_read_only_install_caches_in_the_temporary_folder(tmp_path):
    site, env = _read_only_install(tmp_path)
    res = subprocess.run(
        [sys.executable, "-c", NUMBA_PROBE, str(site)], env=env, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    folder = tmp_path / "tmp" / f"segqtl-numba-{os.getuid()}"
    assert f"cache {folder} None" in res.stdout
    assert "segqtl, version" in res.stdout
    assert any(folder.rglob("*.nbi"))  # the kernels' cache index went there


def test_numba__no_writable_folder_at_all_compiles_without_a_cache(tmp_path):
    site, env = _read_only_install(tmp_path)
    env["TMPDIR"] = str(tmp_path / "blocked" / "tmp")  # under a file too
    probe = (
        "import tempfile, os, sys\n"
        "def refuse(*a, **k): raise OSError(30, 'read-only file system')\n"
        "tempfile.TemporaryFile = refuse\n" + NUMBA_PROBE  # no folder anywhere can be written
    )
    res = subprocess.run(
        [sys.executable, "-c", probe, str(site)], env=env, capture_output=True, text=True, cwd="/"
    )
    assert res.returncode == 0, res.stderr
    assert "cache None segqtl.kernels.nocache.NoCacheLocator" in res.stdout


def test_db_check__another_programs_duckdb_gets_no_segqtl_tables(world):
    foreign = _foreign_db(world)
    for args in (["upgrade", "--db", foreign], ingest_args(world)[:2] + [foreign]
                 + ingest_args(world)[3:]):  # fmt: skip
        assert_refused(run_cli(args), "sales.duckdb", "not a segqtl warehouse")
    con = duckdb.connect(str(foreign), read_only=True)
    try:
        assert con.execute("SHOW TABLES").fetchall() == [("sales",)]
    finally:
        con.close()
