"""File conventions (issue 15): BOM, CRLF, comments, '#' headers, separators, quotes, NA
spellings, compression and transposed matrices load exactly what the plain CSVs load."""

from __future__ import annotations

import csv
import gzip
import hashlib
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

from segqtl import api
from segqtl.cli import cli
from segqtl.errors import InputError
from segqtl.ingest import conventions
from segqtl.ingest.conventions import Conventions, Source, describe, prepare
from segqtl.spec import RunSpec

from .conftest import GOLDEN_MAIN

#: The golden cohort's files by role (the genotype files under genotypes/).
ROLES = {
    "quantifications": "quantifications.csv",
    "covariates": "covariates.csv",
    "copynumber": "copynumbers.csv",
    "segmentation": "segments.csv",
}
GENOTYPES = ["chr1_ALTlr.csv", "chr1_REFlr.csv", "chr2_ALTlr.csv", "chr2_REFlr.csv"]
MATRICES = ["quantifications", "covariates", "copynumber"]  # transposable besides genotypes
#: The cohort tables compared between two ingests (all but bookkeeping).
TABLES = {
    "samples": "sample_idx",
    "phenotypes": "chr, phenotype_idx",
    "variants": "chr, variant_idx",
    "covariates": "cov_idx",
    "copynumber": "gene_id",
    "segments": "sample_idx, chr, startpos",
}


# ------------------------------------------------------------------------------------ helpers
def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return [row for row in csv.reader(fh)]


def with_missing(src: Path, dst: Path) -> Path:
    """A copy of the golden cohort with some value cells empty (a missing value)."""
    dst.mkdir(parents=True)
    (dst / "genotypes").mkdir()
    names = [*ROLES.values(), *(f"genotypes/{g}" for g in GENOTYPES)]
    for name in names:
        rows = read_rows(src / name)
        first_value = 4 if name == "quantifications.csv" else 1
        if name not in ("segments.csv",):
            for i, row in enumerate(rows[1:], start=1):
                for j in range(first_value, len(row)):
                    if (i * 7 + j) % 29 == 0:
                        row[j] = ""
        write_rows(dst / name, rows)
    return dst


def write_rows(path: Path, rows, sep=",", quote=False, newline="\n", bom=False, head=""):
    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if quote else v

    text = head + "".join(sep.join(cell(v) for v in row) + "\n" for row in rows)
    data = (b"\xef\xbb\xbf" if bom else b"") + text.replace("\n", newline).encode()
    path.write_bytes(data)


def transpose(rows: list[list[str]], role: str) -> list[list[str]]:
    """The samples-by-rows form of a SegmentQTL matrix (covariates: a corner cell added)."""
    if role == "covariates":
        rows = [["id", *rows[0]], *rows[1:]]
    return [list(col) for col in zip(*rows, strict=True)]


def variant(
    src: Path,
    dst: Path,
    *,
    sep=",",
    quote=False,
    newline="\n",
    bom=False,
    head="",
    missing_as: str | None = None,
    transposed=(),
    compress: str | None = None,
    comment_inside: str | None = None,
) -> dict:
    """Write ``src``'s cohort to ``dst`` in other conventions; returns CohortInputs kwargs."""
    dst.mkdir(parents=True)
    (dst / "genotypes").mkdir()
    out = {}
    for role, name in [*ROLES.items(), *((f"genotypes:{g}", f"genotypes/{g}") for g in GENOTYPES)]:
        rows = read_rows(src / name)
        if missing_as is not None:
            rows = [rows[0]] + [[missing_as if v == "" else v for v in r] for r in rows[1:]]
        base = role.split(":")[0]
        if base in transposed:
            rows = transpose(rows, base)
        if comment_inside is not None and len(rows) > 3:
            rows = [*rows[:3], [comment_inside], *rows[3:]]
        path = dst / name
        write_rows(path, rows, sep, quote, newline, bom, head)
        if compress:
            path = _compress(path, compress)
        if not role.startswith("genotypes"):
            out[role] = path
    out["genotypes"] = dst / "genotypes"
    return out


def _compress(path: Path, codec: str) -> Path:
    data = path.read_bytes()
    if codec == "gz":
        packed = gzip.compress(data, mtime=0)  # the same bytes every time
    else:
        import pyarrow as pa

        sink = pa.BufferOutputStream()
        stream = pa.CompressedOutputStream(sink, "zstd")
        stream.write(data)
        stream.close()
        packed = sink.getvalue().to_pybytes()
    target = path.with_name(path.name + f".{codec}")
    target.write_bytes(packed)
    path.unlink()
    return target


def golden_paths(folder: Path = GOLDEN_MAIN) -> dict:
    return {"genotypes": folder / "genotypes", **{r: folder / n for r, n in ROLES.items()}}


def cohort_tables(db: Path, cohort: str) -> dict[str, pl.DataFrame]:
    """Every stored table of a cohort (without the cohort column), in a fixed order."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {
            t: con.sql(
                f"SELECT * EXCLUDE (cohort) FROM {t} WHERE cohort = ? ORDER BY {order}",
                params=[cohort],
            ).pl()
            for t, order in TABLES.items()
        }
        out["genotypes"] = con.sql(
            "SELECT chr, variant_idx, variant_id, pos, altlr, reflr FROM genotypes "
            "WHERE cohort = ? ORDER BY chr, variant_idx",
            params=[cohort],
        ).pl()
        return out
    finally:
        con.close()


def assert_same_cohort(db: Path, a: str, b: str) -> None:
    ta, tb = cohort_tables(db, a), cohort_tables(db, b)
    for name in ta:
        assert ta[name].height > 0 or name == "copynumber", name
        assert ta[name].equals(tb[name], null_equal=True), name


def nominal_results(db: Path, cohort: str) -> pl.DataFrame:
    """A nominal run (all variants) on ``cohort``: its result table, without the run id."""
    run_id = api.run(
        db, RunSpec(mode="nominal", cohort=cohort, chromosomes=["1", "2"], all_variants=True)
    )
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(
            "SELECT * EXCLUDE (run_id) FROM nominal_stats WHERE run_id = ? ORDER BY ALL",
            params=[run_id],
        ).pl()
    finally:
        con.close()


def file_rows(db: Path, cohort: str) -> dict[str, tuple[str, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT role, path, sha256 FROM cohort_files WHERE cohort = ?", [cohort]
        ).fetchall()
    finally:
        con.close()
    return {r: (p, s) for r, p, s in rows}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def missing_cohort(tmp_path_factory):
    """The golden cohort with missing cells, and a warehouse holding it plainly as 'plain'."""
    root = tmp_path_factory.mktemp("conventions")
    src = with_missing(GOLDEN_MAIN, root / "plain")
    db = root / "w.duckdb"
    api.ingest(db, "plain", **golden_paths(src))
    return src, db


# -------------------------------------------------------------------------------------- tests
def test_conventions__plain_csv_is_handed_over_unchanged(tmp_path):
    for path in [*golden_paths().values()][1:]:
        assert describe(Source(path=path), Conventions()) == []
        p = prepare(Source(path=path), "quantifications", Conventions(), tmp_path)
        assert p.path == path and not p.converted
    assert list(tmp_path.iterdir()) == []


CASES = {
    "crlf_bom": dict(newline="\r\n", bom=True),
    "quoted": dict(quote=True),
    "semicolon": dict(sep=";"),
    "tab": dict(sep="\t"),
    "space": dict(sep=" "),
    "pyhegp_header": dict(
        sep="\t", head="# pyhegp summary file version 1\n# number-of-samples 120\n"
    ),
    "gz_tab": dict(sep="\t", compress="gz"),
    "zst_crlf": dict(newline="\r\n", compress="zst"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_conventions__detected_without_flags_load_the_plain_tables(missing_cohort, tmp_path, case):
    src, db = missing_cohort
    paths = variant(src, tmp_path / case, **CASES[case])
    res = api.ingest_files(db, case, **paths)
    assert_same_cohort(db, "plain", case)
    # provenance: every file's sha256 is of the file as given, not of its canonical copy
    rows = file_rows(db, case)
    assert rows["quantifications"] == (
        str(paths["quantifications"].resolve()),
        sha256(paths["quantifications"]),
    )
    alt = next(paths["genotypes"].glob("chr1_ALTlr*"))
    assert rows["genotypes_alt:chr1"][1] == sha256(alt)
    plain = api.list_cohorts(db).filter(pl.col("cohort") == "plain")["checksum"][0]
    assert res.checksum != plain  # other bytes: another cohort by provenance, same values


def test_conventions__na_spellings_comments_and_flags(missing_cohort, tmp_path):
    src, db = missing_cohort
    paths = variant(
        src,
        tmp_path / "flags",
        sep=";",
        missing_as="-",
        head="% written by hand\n",
        comment_inside="% a note",
    )
    res = api.ingest_files(db, "flags", sep=";", na_strings=["-"], comment_char="%", **paths)
    assert res.n_samples == 120
    assert_same_cohort(db, "plain", "flags")
    con = duckdb.connect(str(db), read_only=True)
    fmt, text = con.execute(
        "SELECT format, control_text FROM cohort_control WHERE cohort = 'flags'"
    ).fetchone()
    headers = con.execute(
        "SELECT role, line, key FROM cohort_file_headers WHERE cohort = 'flags' ORDER BY ALL"
    ).fetchall()
    con.close()
    assert fmt == "flags" and '"-"' in text and '";"' in text
    assert ("quantifications", 1, "written") in headers


def test_conventions__without_the_flag_a_dash_is_not_missing(missing_cohort, tmp_path):
    src, db = missing_cohort
    paths = variant(src, tmp_path / "dash", missing_as="-")
    with pytest.raises(InputError) as err:
        api.ingest_files(db, "dash", **paths)
    assert "non-numeric value '-'" in str(err.value)
    assert "dash" not in set(api.list_cohorts(db)["cohort"].to_list())


@pytest.mark.parametrize("pieces", [256, 3])
def test_conventions__transposed_matrices_load_the_plain_tables(
    missing_cohort, tmp_path, pieces, monkeypatch
):
    monkeypatch.setattr(conventions, "MAX_PIECES", pieces)
    src, db = missing_cohort
    name = f"transposed{pieces}"
    paths = variant(src, tmp_path / name, transposed=("genotypes", *MATRICES), sep="\t")
    from segqtl.ingest.control import plan_paths, prepare_plan

    # transposition is per file in a control file; here every matrix is transposed
    conv = Conventions(None, (), None, True)
    plan = plan_paths(api.CohortInputs(**paths), conv)
    plan.files = [
        j if j.role in MATRICES else type(j)(j.role, j.source, Conventions()) for j in plan.files
    ]
    with conventions.tempfile.TemporaryDirectory() as work:
        prepared = prepare_plan(plan, Path(work))
        assert all(p.converted for p in prepared.prepared.values() if p.conventions.transposed)
        assert sum(p.conventions.transposed for p in prepared.prepared.values()) == 7
        from segqtl.ingest.control import ingest_prepared
        from segqtl.warehouse.db import connect

        con = connect(db)
        try:
            ingest_prepared(con, name, prepared, source="test", fmt="flags", text=b"{}")
        finally:
            con.close()
    assert_same_cohort(db, "plain", name)


def test_conventions__results_identical_to_the_plain_csv(missing_cohort, tmp_path):
    """A nominal run on a cohort written in every convention at once equals the plain one's."""
    src, db = missing_cohort
    paths = variant(
        src,
        tmp_path / "all",
        sep="\t",
        quote=True,
        newline="\r\n",
        bom=True,
        head="# pyhegp genotype file version 1\n",
        missing_as="NA",
        compress="gz",
    )
    api.ingest_files(db, "all", na_strings=["NA"], comment_char="#", **paths)
    assert_same_cohort(db, "plain", "all")
    plain, other = nominal_results(db, "plain"), nominal_results(db, "all")
    assert plain.height > 0
    assert plain.equals(other, null_equal=True)


def test_conventions__errors_name_the_file_as_given_and_its_line(missing_cohort, tmp_path):
    src, db = missing_cohort
    paths = variant(src, tmp_path / "bad", sep="\t", head="# one\n# two\n")
    q = paths["quantifications"]
    lines = q.read_bytes().split(b"\n")
    lines[9] = lines[9].replace(b"\t", b"\tx", 1)  # line 10: 'x...' in the start column
    q.write_bytes(b"\n".join(lines))
    before = api.list_cohorts(db)
    with pytest.raises(InputError) as err:
        api.ingest_files(db, "bad", **paths)
    assert err.value.path == str(q) and err.value.line == 10
    assert api.list_cohorts(db).equals(before)


def test_conventions__cli_detects_and_plain_files_take_the_plain_path(missing_cohort, tmp_path):
    src, db = missing_cohort
    runner = CliRunner()

    def ingest(name, paths, *extra):
        args = ["ingest", "--db", str(db), "--cohort", name, "-q", *extra]
        for role, path in paths.items():
            args += [f"--{role.replace('_', '-')}", str(path)]
        return runner.invoke(cli, args)

    plain = ingest("cli_plain", golden_paths(src))
    assert plain.exit_code == 0, plain.output
    tabbed = ingest("cli_tab", variant(src, tmp_path / "tab", sep="\t"))
    assert tabbed.exit_code == 0, tabbed.output
    assert_same_cohort(db, "plain", "cli_tab")
    con = duckdb.connect(str(db), read_only=True)
    recorded = {r[0] for r in con.execute("SELECT cohort FROM cohort_control").fetchall()}
    checksums = dict(con.execute("SELECT cohort, checksum FROM cohorts").fetchall())
    con.close()
    assert "cli_plain" not in recorded and "cli_tab" in recorded
    assert checksums["cli_plain"] == checksums["plain"]
    flagged = variant(src, tmp_path / "flags", sep=";", missing_as="-", comment_inside="# x")
    flags = ingest(
        "cli_flags", flagged, "--sep", ";", "--na-strings", "NA,-", "--comment-char", "#"
    )
    assert flags.exit_code == 0, flags.output
    assert_same_cohort(db, "plain", "cli_flags")
    bad = ingest("cli_bad", golden_paths(src), "--sep", "|")
    assert bad.exit_code == 2
    assert bad.output.count("\n") == 1 and "--sep" in bad.output and "Fix:" in bad.output


def test_conventions__copy_keeps_the_source_bytes(tmp_path):
    """A canonical bundle member (here: a file) copied as stored keeps its checksum."""
    path = GOLDEN_MAIN / "segments.csv"
    p = prepare(Source(path=path), "segmentation", Conventions(), tmp_path, copy=True)
    assert p.path != path and p.path.read_bytes() == path.read_bytes()
    assert p.sha256 == sha256(path)
    shutil.rmtree(tmp_path)


def test_conventions__given_comment_char_finds_comments_past_the_first_block(
    missing_cohort, tmp_path, monkeypatch
):
    monkeypatch.setattr(conventions, "HEAD_BYTES", 64)  # the first block: part of line 1
    src, db = missing_cohort
    paths = variant(src, tmp_path / "late", comment_inside="; a late note")
    assert describe(Source(path=paths["segmentation"]), Conventions()) == []
    res = api.ingest_files(db, "late", comment_char=";", **paths)
    assert res.n_phenotypes == 80
    assert_same_cohort(db, "plain", "late")
