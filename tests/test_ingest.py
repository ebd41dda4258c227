"""Tests of ingest: reading, validating and loading a cohort (``segqtl ingest``).

Every test goes through the command line (``click.testing.CliRunner``) and looks at the
warehouse afterwards. The cohort is a tiny hand-written one, so each value can be checked
against the CSV text it came from.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from segqtl.cli import cli
from segqtl.errors import InputError, UsageError
from segqtl.ingest import load, readers
from segqtl.warehouse.db import connect

# Quantification (= cohort) sample order; the other files list samples in other orders.
SAMPLES = ["S3", "S1", "S4", "S2"]

FILES = {
    # Chromosome "1" (no prefix) is normalised to chr1; rows are not sorted by chromosome.
    "quantifications.csv": (
        "chr,start,end,gene_id,S3,S1,S4,S2\n"
        "chr2,500,900,G4,1.5,-2.25,NA,0.1\n"
        "1,100,200,G1,3.14159265358979,,1e-300,12345.678901234567\n"
        "chr1,300,400,G2,0,1,2,3\n"
        "chr2,100,300,G3,-0.5,0.25,7,8\n"
        "chr1,50,60,G5,9,10,11,12\n"
    ),
    "genotypes/chr1_ALTlr.csv": (
        "ID,S1,S2,S3,S4\n"
        "chr1:120:A:G,0.1,0.2,0.3,0.4\n"
        "chr1:150:C:T,,NA,0.30000000000000004,1\n"
        "chr1:380:G:GA,1.1,1.2,1.3,1.4\n"
    ),
    "genotypes/chr1_REFlr.csv": (
        "ID,S1,S2,S3,S4\n"
        "chr1:120:A:G,0.5,0.6,0.7,0.8\n"
        "chr1:150:C:T,,NA,-0.1,2.2250738585072014e-308\n"
        "chr1:380:G:GA,2.1,2.2,2.3,2.4\n"
    ),
    "genotypes/chr2_ALTlr.csv": ("ID,S3,S1,S4,S2\nchr2:200:T:C,1,2,3,4\nchr2:600:A:T,5,6,7,8\n"),
    "genotypes/chr2_REFlr.csv": ("ID,S3,S1,S4,S2\nchr2:200:T:C,4,3,2,1\nchr2:600:A:T,8,7,6,5\n"),
    "covariates.csv": "S2,S1,S4,S3\nage,40,50,60,70\nsex,1,0,NA,1\npurity,0.5,,0.7,0.9\n",
    "copynumbers.csv": (
        "gene_id,S3,S1,S4,S2\n"
        "G1,0.1,0.2,0.3,0.4\nG2,0,0,0,0\nG3,-1,NA,1,2\nG4,1,1,1,1\nG5,0.5,0.5,0.5,0.5\n"
    ),
    "segments.csv": (
        "sample,chr,startpos,endpos\n"
        "S1,chr1,1,1000\nS1,chr2,1,1000\n"
        "S2,1,1,500\nS2,1,501,1000\nS2,chr2,1,1000\n"
        "S3,chr1,1,1000\nS3,chr2,1,1000\n"
        "S4,chr1,1,1000\nS4,chr2,1,1000\n"
    ),
    "phenotype_covariate.csv": (
        "gene_id,S1,S2,S3,S4\nG5,1,2,3,4\nG4,5,6,7,8\nG3,NA,,1,1\nG2,0,0,0,0\nG1,9,9,9,9\n"
    ),
}


# ------------------------------------------------------------------------------------ helpers
def write_cohort(root: Path) -> Path:
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def ingest_args(root: Path, db: Path, cohort: str, *extra: str, **paths) -> list[str]:
    """``segqtl ingest`` arguments for the cohort in ``root``; ``paths`` override (None drops)."""
    options = {
        "genotypes": root / "genotypes",
        "quantifications": root / "quantifications.csv",
        "covariates": root / "covariates.csv",
        "copynumber": root / "copynumbers.csv",
        "segmentation": root / "segments.csv",
    } | paths
    args = ["ingest", "--db", str(db), "--cohort", cohort]
    for name, value in options.items():
        if value is not None:
            args += [f"--{name}", str(value)]
    return args + list(extra)


def invoke(args: list[str]):
    return CliRunner().invoke(cli, args)


def stderr_of(result) -> str:
    try:  # click >= 8.2 keeps stderr apart
        return result.stderr
    except ValueError:  # older click with mix_stderr=True
        return result.output


def assert_ok(result):
    assert result.exit_code == 0, stderr_of(result)


def assert_one_line_error(result, *fragments: str, exit_code: int = InputError.exit_code):
    err = stderr_of(result)
    assert result.exit_code == exit_code, (result.exit_code, err)
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("segqtl: error: "), line
    assert "Traceback" not in err and "internal error" not in err
    assert "Fix: " in line, line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every table's full contents (sorted), read without migrating or writing."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'main' ORDER BY table_name"
            ).fetchall()
        ]
        return {t: con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall() for t in tables}
    finally:
        con.close()


def csv_values(text: str, id_column: str) -> dict[str, dict[str, float | None]]:
    """``{row id: {sample: value}}`` parsed with Python's float ('' and NA -> None)."""
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    key = header.index(id_column)
    lead = {"chr", "start", "end", "gene_id", "ID"}
    return {
        row[key]: {
            h: None if v.strip() in ("", "NA") else float(v)
            for h, v in zip(header, row, strict=True)
            if h not in lead
        }
        for row in rows[1:]
    }


def in_sample_order(values: dict[str, float | None]) -> list[float | None]:
    return [values[s] for s in SAMPLES]


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def drop_lines(path: Path, prefix: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not line.startswith(prefix)))


def rows(con, sql: str, *params) -> list[tuple]:
    return con.execute(sql, list(params)).fetchall()


@pytest.fixture(scope="module")
def good_db_template(tmp_path_factory) -> Path:
    """A warehouse holding the valid cohort as "good" (copied per test)."""
    root = write_cohort(tmp_path_factory.mktemp("good"))
    db = root / "template.duckdb"
    assert_ok(invoke(ingest_args(root, db, "good")))
    return db


@pytest.fixture
def good_db(good_db_template, tmp_path) -> Path:
    db = tmp_path / "warehouse.duckdb"
    shutil.copy(good_db_template, db)
    return db


@pytest.fixture
def cohort_dir(tmp_path) -> Path:
    return write_cohort(tmp_path / "cohort")


# --------------------------------------------------------------------------------- happy path
def test_ingest__loads_every_table_from_csv(cohort_dir, tmp_path):
    db = tmp_path / "wh.duckdb"
    result = invoke(ingest_args(cohort_dir, db, "main"))
    assert_ok(result)
    assert result.stdout == "main\n"
    assert "4 samples, 5 phenotypes, 5 variants on chr1, chr2" in stderr_of(result)

    con = connect(db)
    try:
        assert rows(
            con,
            "SELECT sample_idx, sample_id FROM samples WHERE cohort = 'main' ORDER BY sample_idx",
        ) == list(enumerate(SAMPLES))

        # Phenotypes: per-chromosome index in file order, file_row = data row in the file.
        got = rows(
            con,
            'SELECT chr, phenotype_idx, file_row, gene_id, start, "end" '
            "FROM phenotypes WHERE cohort = 'main' ORDER BY chr, phenotype_idx",
        )
        assert got == [
            ("chr1", 0, 1, "G1", 100, 200),
            ("chr1", 1, 2, "G2", 300, 400),
            ("chr1", 2, 4, "G5", 50, 60),
            ("chr2", 0, 0, "G4", 500, 900),
            ("chr2", 1, 3, "G3", 100, 300),
        ]
        expected = csv_values(FILES["quantifications.csv"], "gene_id")
        values = dict(rows(con, "SELECT gene_id, \"values\" FROM phenotypes WHERE cohort = 'main'"))
        assert values == {g: in_sample_order(v) for g, v in expected.items()}
        assert values["G1"][1] is None  # empty cell
        assert values["G4"][2] is None  # NA

        # Variants: pos/ref/alt parsed from the ID; values matched to samples by name.
        got = rows(
            con,
            "SELECT chr, variant_idx, variant_id, pos, ref, alt FROM variants "
            "WHERE cohort = 'main' ORDER BY chr, variant_idx",
        )
        assert got == [
            ("chr1", 0, "chr1:120:A:G", 120, "A", "G"),
            ("chr1", 1, "chr1:150:C:T", 150, "C", "T"),
            ("chr1", 2, "chr1:380:G:GA", 380, "G", "GA"),
            ("chr2", 0, "chr2:200:T:C", 200, "T", "C"),
            ("chr2", 1, "chr2:600:A:T", 600, "A", "T"),
        ]
        for chrom in ("chr1", "chr2"):
            for kind, column in (("ALT", "altlr"), ("REF", "reflr")):
                expected = csv_values(FILES[f"genotypes/{chrom}_{kind}lr.csv"], "ID")
                stored = dict(
                    rows(
                        con,
                        f"SELECT variant_id, {column} FROM genotypes "
                        "WHERE cohort = 'main' AND chr = ?",
                        chrom,
                    )
                )
                assert stored == {v: in_sample_order(x) for v, x in expected.items()}
        alt, ref = rows(
            con,
            "SELECT altlr, reflr FROM genotypes "
            "WHERE cohort = 'main' AND variant_id = 'chr1:150:C:T'",
        )[0]
        assert alt[SAMPLES.index("S1")] is None and alt[SAMPLES.index("S2")] is None
        assert alt[SAMPLES.index("S3")] == 0.30000000000000004
        assert ref[SAMPLES.index("S4")] == 2.2250738585072014e-308

        # Covariates: file order; values matched to samples by name (the file's order differs).
        assert rows(
            con,
            'SELECT cov_idx, name, "values" FROM covariates '
            "WHERE cohort = 'main' ORDER BY cov_idx",
        ) == [
            (0, "age", [70.0, 50.0, 60.0, 40.0]),
            (1, "sex", [1.0, 0.0, None, 1.0]),
            (2, "purity", [0.9, None, 0.7, 0.5]),
        ]

        expected = csv_values(FILES["copynumbers.csv"], "gene_id")
        assert dict(
            rows(con, "SELECT gene_id, \"values\" FROM copynumber WHERE cohort = 'main'")
        ) == {g: in_sample_order(v) for g, v in expected.items()}
        assert rows(con, "SELECT count(*) FROM phenotype_covariate")[0][0] == 0

        assert rows(
            con,
            "SELECT sample_idx, chr, startpos, endpos FROM segments "
            "WHERE cohort = 'main' AND sample_idx = 3 ORDER BY chr, startpos",
        ) == [
            (3, "chr1", 1, 500),
            (3, "chr1", 501, 1000),
            (3, "chr2", 1, 1000),
        ]
        assert rows(con, "SELECT count(*) FROM segments WHERE cohort = 'main'")[0][0] == 9

        # Provenance: every input file with its size and sha256, and a cohort checksum.
        files = rows(
            con,
            "SELECT role, path, size_bytes, sha256 FROM cohort_files "
            "WHERE cohort = 'main' ORDER BY role",
        )
        expected_files = {
            "copynumber": "copynumbers.csv",
            "covariates": "covariates.csv",
            "genotypes_alt:chr1": "genotypes/chr1_ALTlr.csv",
            "genotypes_alt:chr2": "genotypes/chr2_ALTlr.csv",
            "genotypes_ref:chr1": "genotypes/chr1_REFlr.csv",
            "genotypes_ref:chr2": "genotypes/chr2_REFlr.csv",
            "quantifications": "quantifications.csv",
            "segmentation": "segments.csv",
        }
        assert [f[0] for f in files] == sorted(expected_files)
        for role, path, size, sha in files:
            on_disk = cohort_dir / expected_files[role]
            assert Path(path) == on_disk.resolve()
            assert size == on_disk.stat().st_size
            assert sha == hashlib.sha256(on_disk.read_bytes()).hexdigest()

        ((n, checksum, has_cn, has_pcov),) = rows(
            con,
            "SELECT n_samples, checksum, has_copynumber, has_phenotype_covariate "
            "FROM cohorts WHERE cohort = 'main'",
        )
        assert (n, has_cn, has_pcov) == (4, True, False)
        assert re.fullmatch(r"[0-9a-f]{64}", checksum)
    finally:
        con.close()


def test_ingest__phenotype_covariate_option(cohort_dir, tmp_path):
    db = tmp_path / "wh.duckdb"
    pcov = cohort_dir / "phenotype_covariate.csv"
    # SegmentQTL's spelling of the option, and no copy number.
    assert_ok(
        invoke(
            ingest_args(cohort_dir, db, "p", "--phenotype_covariate", str(pcov), copynumber=None)
        )
    )
    con = connect(db)
    try:
        expected = csv_values(FILES["phenotype_covariate.csv"], "gene_id")
        assert dict(
            rows(con, "SELECT gene_id, \"values\" FROM phenotype_covariate WHERE cohort = 'p'")
        ) == {g: in_sample_order(v) for g, v in expected.items()}
        assert rows(con, "SELECT has_copynumber, has_phenotype_covariate FROM cohorts") == [
            (False, True)
        ]
        assert rows(con, "SELECT count(*) FROM copynumber")[0][0] == 0
        roles = {r[0] for r in rows(con, "SELECT role FROM cohort_files")}
        assert "phenotype_covariate" in roles and "copynumber" not in roles
    finally:
        con.close()


def test_ingest__checksum_depends_only_on_contents(cohort_dir, tmp_path):
    db = tmp_path / "wh.duckdb"
    assert_ok(invoke(ingest_args(cohort_dir, db, "a")))
    copy = shutil.copytree(cohort_dir, tmp_path / "copy")
    assert_ok(invoke(ingest_args(copy, db, "b")))
    replace_in(copy / "covariates.csv", "age,40", "age,41")
    assert_ok(invoke(ingest_args(copy, db, "c")))
    con = connect(db)
    try:
        sums = dict(rows(con, "SELECT cohort, checksum FROM cohorts"))
    finally:
        con.close()
    assert sums["a"] == sums["b"] != sums["c"]


def test_ingest__chromosome_prefix_in_any_case_is_the_prefix(cohort_dir, tmp_path):
    """CHR1 / Chr2 in the CSV files mean chr1 / chr2, as in genotype file names."""
    replace_in(cohort_dir / "quantifications.csv", "chr2,500,900,G4", "Chr2,500,900,G4")
    replace_in(cohort_dir / "quantifications.csv", "chr1,300,400,G2", " CHR1,300,400,G2")
    replace_in(cohort_dir / "segments.csv", "S1,chr1,1,1000", "S1,CHR1,1,1000")
    replace_in(cohort_dir / "segments.csv", "S3,chr2,1,1000", "S3,cHr2,1,1000")
    db = tmp_path / "wh.duckdb"
    assert_ok(invoke(ingest_args(cohort_dir, db, "main")))
    con = connect(db)
    try:
        assert rows(con, "SELECT gene_id, chr FROM phenotypes ORDER BY gene_id") == [
            ("G1", "chr1"),
            ("G2", "chr1"),
            ("G3", "chr2"),
            ("G4", "chr2"),
            ("G5", "chr1"),
        ]
        assert rows(con, "SELECT DISTINCT chr FROM segments ORDER BY chr") == [
            ("chr1",),
            ("chr2",),
        ]
    finally:
        con.close()


def test_read_genotypes__an_id_naming_another_chromosome_is_warned(cohort_dir):
    """chr1's files holding a chr7 ID: stored on chr1 (the file's), with a warning."""
    for kind in ("ALT", "REF"):
        replace_in(cohort_dir / f"genotypes/chr1_{kind}lr.csv", "chr1:150:C:T", "7:150:C:T")
    with pytest.warns(UserWarning, match=r"chr1_ALTlr.csv, line 3: variant ID '7:150:C:T' names "
                      r"chr7, but the file holds chr1's variants"):  # fmt: skip
        frame = readers.read_genotypes(
            "chr1",
            cohort_dir / "genotypes/chr1_ALTlr.csv",
            cohort_dir / "genotypes/chr1_REFlr.csv",
            SAMPLES,
        )
    assert frame["variant_id"].to_list()[1] == "7:150:C:T"


def test_ingest__tolerates_blank_lines_crlf_bom_quotes_and_padded_headers(cohort_dir, tmp_path):
    q = cohort_dir / "quantifications.csv"
    q.write_bytes(b"\xef\xbb\xbf" + q.read_text().replace("\n", "\r\n").encode())
    replace_in(cohort_dir / "copynumbers.csv", "S4,S2", "S4 , S2")
    alt = cohort_dir / "genotypes/chr1_ALTlr.csv"
    lines = alt.read_text().splitlines()
    lines.insert(2, "")
    alt.write_text("\n".join(lines) + "\n\n\n")
    ref = cohort_dir / "genotypes/chr2_REFlr.csv"
    ref.write_text('"ID","S3","S1","S4","S2"\n"chr2:200:T:C",4,3,2,1\nchr2:600:A:T,8,7,6,\n')
    db = tmp_path / "wh.duckdb"
    assert_ok(invoke(ingest_args(cohort_dir, db, "main")))
    con = connect(db)
    try:
        assert rows(con, "SELECT count(*) FROM phenotypes")[0][0] == 5
        assert rows(
            con, "SELECT variant_id FROM variants WHERE chr = 'chr1' ORDER BY variant_idx"
        ) == [("chr1:120:A:G",), ("chr1:150:C:T",), ("chr1:380:G:GA",)]
        assert rows(con, "SELECT reflr FROM genotypes WHERE variant_id = 'chr2:600:A:T'") == [
            ([8.0, 7.0, 6.0, None],)
        ]
        assert rows(con, "SELECT \"values\" FROM copynumber WHERE gene_id = 'G1'") == [
            ([0.1, 0.2, 0.3, 0.4],)
        ]
    finally:
        con.close()


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.lists(
            st.one_of(
                st.none(),
                # every finite double up to the readers' bound (larger ones are refused)
                st.floats(
                    min_value=-readers.MAX_ABS_VALUE, max_value=readers.MAX_ABS_VALUE, width=64
                ),
                st.decimals(min_value=-(10**140), max_value=10**140, allow_nan=False, places=6),
            ),
            min_size=2,
            max_size=2,
        ),
        min_size=1,
        max_size=5,
    )
)
def test_read_genotypes__values_round_trip_python_float(tmp_path_factory, matrix):
    """Whatever decimal text is written, the stored double equals Python's float(text)."""
    root = tmp_path_factory.mktemp("rt")
    cells = [["" if v is None else str(v) for v in row] for row in matrix]
    body = "".join(f"chr1:{i + 1}:A:G,{','.join(r)}\n" for i, r in enumerate(cells))
    for kind in ("ALT", "REF"):
        (root / f"chr1_{kind}lr.csv").write_text("ID,A,B\n" + body)
    frame = readers.read_genotypes(
        "chr1", root / "chr1_ALTlr.csv", root / "chr1_REFlr.csv", ["B", "A"]
    )
    expected = [[None if c == "" else float(c) for c in reversed(r)] for r in cells]
    assert frame["altlr"].to_list() == expected
    assert frame["reflr"].to_list() == expected
    assert frame["pos"].to_list() == list(range(1, len(cells) + 1))


# ------------------------------------------------------------------------------ bad inputs
def _rm(rel):
    return lambda root: (root / rel).unlink()


def _sub(rel, old, new):
    return lambda root: replace_in(root / rel, old, new)


def _both_genotypes(chrom, old, new):
    def mutate(root):
        for kind in ("ALT", "REF"):
            replace_in(root / f"genotypes/{chrom}_{kind}lr.csv", old, new)

    return mutate


def _write(rel, text):
    return lambda root: (root / rel).write_text(text)


Q, CN, COV, SEG = "quantifications.csv", "copynumbers.csv", "covariates.csv", "segments.csv"
ALT1, REF1 = "genotypes/chr1_ALTlr.csv", "genotypes/chr1_REFlr.csv"
ALT2, REF2 = "genotypes/chr2_ALTlr.csv", "genotypes/chr2_REFlr.csv"

BAD_INPUTS = [
    # --- missing files
    pytest.param(_rm(Q), ["quantifications.csv", "not found"], id="missing-quantifications"),
    pytest.param(
        lambda r: shutil.rmtree(r / "genotypes"),
        ["genotypes", "directory not found"],
        id="missing-genotype-dir",
    ),
    pytest.param(
        _rm(REF2), ["chr2_REFlr.csv", "chr2_ALTlr.csv has no REFlr partner"], id="missing-ref-file"
    ),
    pytest.param(_rm(SEG), ["segments.csv", "not found"], id="missing-segmentation"),
    pytest.param(
        lambda r: ((r / SEG).unlink(), (r / SEG).mkdir()),
        ["segments.csv", "the segmentation file is a folder"],
        id="segmentation-is-a-folder",
    ),
    pytest.param(
        lambda r: ((r / COV).unlink(), (r / COV).symlink_to("/dev/null")),
        ["covariates.csv", "not a regular file (a pipe or device?)"],
        id="covariates-is-a-device",
    ),
    pytest.param(_write(Q, ""), ["quantifications.csv", "empty"], id="empty-quantifications"),
    pytest.param(
        _write(Q, "chr,start,end,gene_id,S3,S1,S4,S2\n"),
        ["quantifications.csv", "no data rows"],
        id="header-only-quantifications",
    ),
    pytest.param(
        lambda r: (r / ALT1).write_bytes(b"\x1f\x8b\x08\x00\xff\xfe" * 20),
        ["chr1_ALTlr.csv", "not UTF-8"],
        id="binary-genotype-file",
    ),
    # --- headers
    pytest.param(
        _sub(Q, "chr,start", "chrom,start"),
        ["quantifications.csv", "line 1", "'chrom,start,end,gene_id'"],
        id="bad-quantifications-header",
    ),
    pytest.param(
        _sub(REF1, "ID,", "id,"), ["chr1_REFlr.csv", "line 1", "'id'"], id="bad-genotype-header"
    ),
    pytest.param(
        _sub(SEG, "startpos,endpos", "start,end"),
        ["segments.csv", "line 1", "sample,chr,startpos,endpos"],
        id="bad-segmentation-header",
    ),
    pytest.param(
        _sub(CN, "gene_id,", "gene,"),
        ["copynumbers.csv", "line 1", "'gene'"],
        id="bad-copynumber-header",
    ),
    # --- duplicates
    pytest.param(
        _sub(Q, "S4,S2", "S4,S3"),
        ["quantifications.csv", "line 1", "column 8 ('S3')", "duplicate", "column 5"],
        id="duplicate-sample-quantifications",
    ),
    pytest.param(
        _sub(COV, "S2,S1,S4,S3", "S2,S1,S4,S3,S1"),
        ["covariates.csv", "line 1", "column 5 ('S1')", "duplicate sample ID"],
        id="duplicate-sample-covariates",
    ),
    pytest.param(
        _sub(Q, "G5", "G2"),
        ["quantifications.csv", "line 6", "duplicate gene_id 'G2'", "line 4"],
        id="duplicate-gene-id",
    ),
    pytest.param(
        _sub(CN, "G5,", "G4,"),
        ["copynumbers.csv", "line 6", "duplicate gene_id 'G4'", "line 5"],
        id="duplicate-gene-id-copynumber",
    ),
    pytest.param(
        _both_genotypes("chr1", "chr1:380:G:GA", "chr1:120:A:G"),
        ["chr1_ALTlr.csv", "line 4", "duplicate variant ID 'chr1:120:A:G'", "line 2"],
        id="duplicate-variant-id",
    ),
    pytest.param(
        _sub(COV, "purity", "age"),
        ["covariates.csv", "line 4", "duplicate covariate 'age'", "line 2"],
        id="duplicate-covariate",
    ),
    # --- ALT vs REF
    pytest.param(
        _sub(REF1, "chr1:150:C:T", "chr1:150:C:A"),
        ["chr1_REFlr.csv", "line 3", "'chr1:150:C:A'", "'chr1:150:C:T'", "chr1_ALTlr.csv"],
        id="alt-ref-different-ids",
    ),
    pytest.param(
        _write(REF2, "ID,S3,S1,S4,S2\nchr2:600:A:T,8,7,6,5\nchr2:200:T:C,4,3,2,1\n"),
        ["chr2_REFlr.csv", "line 2", "same order"],
        id="alt-ref-different-order",
    ),
    pytest.param(
        _write(REF2, "ID,S3,S1,S4,S2\nchr2:200:T:C,4,3,2,1\n"),
        ["chr2_REFlr.csv", "line 3", "<end of file>"],
        id="alt-ref-fewer-rows",
    ),
    # --- non-numeric values
    pytest.param(
        _sub(ALT1, "1.3,1.4", "1.3,abc"),
        ["chr1_ALTlr.csv", "line 4", "column 5 ('S4')", "'abc'"],
        id="non-numeric-genotype",
    ),
    pytest.param(
        _sub(Q, "0,1,2,3", "0,1,x2,3"),
        ["quantifications.csv", "line 4", "column 7 ('S4')", "'x2'"],
        id="non-numeric-quantification",
    ),
    pytest.param(
        _sub(COV, "0.5,,0.7", "0.5,,high"),
        ["covariates.csv", "line 4", "column 4", "'S4'", "'high'"],
        id="non-numeric-covariate",
    ),
    pytest.param(
        _sub(CN, "G2,0,0,0,0", "G2,0,0,zero,0"),
        ["copynumbers.csv", "line 3", "column 4 ('S4')", "'zero'"],
        id="non-numeric-copynumber",
    ),
    pytest.param(
        _sub(Q, "0,1,2,3", "0,1,inf,3"),
        ["quantifications.csv", "line 4", "column 7 ('S4')", "infinite value 'inf'"],
        id="infinite-quantification",
    ),
    pytest.param(
        _sub(ALT1, "1.3,1.4", "1.3,-Infinity"),
        ["chr1_ALTlr.csv", "line 4", "column 5 ('S4')", "infinite value '-inf'"],
        id="infinite-genotype",
    ),
    pytest.param(
        _sub(COV, "age,40,50,60,70", "age,40,1e999,60,70"),
        ["covariates.csv", "line 2", "'S1'", "infinite value '1e999'"],
        id="infinite-covariate",
    ),
    pytest.param(
        _sub(Q, "0,1,2,3", "0,1,-2e200,3"),
        ["quantifications.csv", "line 4", "column 7 ('S4')", "value '-2e+200' is too large"],
        id="huge-quantification",
    ),
    pytest.param(
        _sub(ALT1, "1.3,1.4", "1.3,1e151"),
        ["chr1_ALTlr.csv", "line 4", "column 5 ('S4')", "value '1e+151' is too large"],
        id="huge-genotype",
    ),
    pytest.param(
        _sub(CN, "G2,0,0,0,0", "G2,0,0,5e160,0"),
        ["copynumbers.csv", "line 3", "column 4 ('S4')", "value '5e+160' is too large"],
        id="huge-copynumber",
    ),
    pytest.param(
        _sub(COV, "age,40,50,60,70", "age,40,1e200,60,70"),
        ["covariates.csv", "line 2", "'S1'", "value '1e200' is too large"],
        id="huge-covariate",
    ),
    pytest.param(
        _sub(COV, "age,40,50,60,70", "age,NA,,nan,NA"),
        ["covariates.csv", "line 2", "column 1", "covariate 'age' is missing in every sample"],
        id="covariate-missing-everywhere",
    ),
    pytest.param(
        _sub(Q, "0,1,2,3", "0,1 ,2,3"),
        ["quantifications.csv", "line 4", "column 6 ('S1')", "'1 ' has a blank after the number"],
        id="blank-after-quantification",
    ),
    pytest.param(
        _sub(ALT1, "1.3,1.4", "1.3\t,1.4"),
        ["chr1_ALTlr.csv", "line 4", "'1.3\\t' has a blank after the number"],
        id="tab-after-genotype",
    ),
    pytest.param(
        _sub(CN, "G2,0,0,0,0", "G2,0,0 ,0,0"),
        ["copynumbers.csv", "line 3", "'0 ' has a blank after the number"],
        id="blank-after-copynumber",
    ),
    pytest.param(
        lambda r: (r / SEG).write_bytes((r / SEG).read_bytes().replace(b"\n", b"\r")),
        ["segments.csv", "line 1", "bare carriage return"],
        id="cr-only-segments",
    ),
    pytest.param(
        lambda r: (r / Q).write_bytes((r / Q).read_bytes().replace(b"\n", b"\r")),
        ["quantifications.csv", "line 1", "bare carriage return"],
        id="cr-only-quantifications",
    ),
    pytest.param(
        _sub(Q, "gene_id,S3,S1,S4,S2", "gene_id,S3,,S4,S2"),
        ["quantifications.csv", "line 1", "column 6", "empty sample ID"],
        id="empty-sample-id",
    ),
    pytest.param(
        lambda r: [replace_in(r / f, "S4", "file_row") for f in (Q, CN, COV, SEG, ALT1, REF1)],
        ["quantifications.csv", "line 1", "sample ID 'file_row' is the name of a column"],
        id="sample-named-like-an-own-column",
    ),
    pytest.param(
        _sub(COV, "age,40,50,60,70", "age,40,5_0,60,70"),
        ["covariates.csv", "line 2", "non-numeric value '5_0'"],
        id="covariate-with-underscore",
    ),
    pytest.param(
        _sub(COV, "age,40,50,60,70", "age,40,\uff15\uff10,60,70"),
        ["covariates.csv", "line 2", "non-numeric value"],
        id="covariate-full-width-digits",
    ),
    pytest.param(
        _sub(SEG, "S2,1,501,1000", "S2,1,five,1000"),
        ["segments.csv", "line 5", "column 3 ('startpos')", "'five'"],
        id="non-numeric-segment-position",
    ),
    # --- variant IDs
    pytest.param(
        _both_genotypes("chr1", "chr1:150:C:T", "chr1-150-C-T"),
        ["chr1_ALTlr.csv", "line 3", "column 1 ('ID')", "'chr1-150-C-T'", "chr:pos:ref:alt"],
        id="malformed-variant-id-dashes",
    ),
    pytest.param(
        _both_genotypes("chr1", "chr1:150:C:T", "chr1:abc:C:T"),
        ["chr1_ALTlr.csv", "line 3", "'chr1:abc:C:T'"],
        id="malformed-variant-id-pos",
    ),
    pytest.param(
        _both_genotypes("chr1", "chr1:150:C:T", "chr1:99999999999999999999:C:T"),
        ["chr1_ALTlr.csv", "line 3", "malformed variant ID"],
        id="malformed-variant-id-huge-pos",
    ),
    pytest.param(
        _both_genotypes("chr1", "chr1:150:C:T", ""),
        ["chr1_ALTlr.csv", "line 3", "empty ID"],
        id="empty-variant-id",
    ),
    # --- positions
    pytest.param(
        _sub(SEG, "S2,1,501,1000", "S2,1,1001,1000"),
        ["segments.csv", "line 5", "startpos 1001 > endpos 1000"],
        id="segment-startpos-after-endpos",
    ),
    pytest.param(
        _sub(Q, "chr1,300,400", "chr1,500,400"),
        ["quantifications.csv", "line 4", "start 500 > end 400"],
        id="quantification-start-after-end",
    ),
    pytest.param(
        _sub(Q, "chr1,300,400", "chr1,300.5,400"),
        ["quantifications.csv", "line 4", "'start'", "300.5", "integer"],
        id="non-integer-position",
    ),
    pytest.param(
        _sub(SEG, "S2,1,501,1000", "S2,1,501.5,1000"),
        ["segments.csv", "line 5", "'startpos'", "501.5", "integer"],
        id="non-integer-segment-position",
    ),
    pytest.param(
        _sub(Q, "chr1,300,400", "chr1,-300,400"),
        ["quantifications.csv", "line 4", "'start'", "-300"],
        id="negative-position",
    ),
    pytest.param(
        _sub(Q, "chr1,300,400", "chr1,,400"),
        ["quantifications.csv", "line 4", "missing start"],
        id="missing-position",
    ),
    # --- samples missing from other files
    pytest.param(
        _sub(ALT2, "ID,S3,S1,S4,S2", "ID,S3,S1,S4,S5"),
        ["chr2_ALTlr.csv", "line 1", "missing from the genotype header: S2"],
        id="sample-missing-from-genotypes",
    ),
    pytest.param(
        _sub(COV, "S2,S1,S4,S3", "S2,S1,S4,S9"),
        ["covariates.csv", "line 1", "missing from the covariates header: S3"],
        id="sample-missing-from-covariates",
    ),
    pytest.param(
        _sub(CN, "S4,S2", "S4,SX"),
        ["copynumbers.csv", "line 1", "missing from the copy number header: S2"],
        id="sample-missing-from-copynumber",
    ),
    pytest.param(
        lambda r: drop_lines(r / SEG, "S4,"),
        ["segments.csv", "have no segments: S4"],
        id="sample-missing-from-segmentation",
    ),
    # --- row shapes and IDs
    pytest.param(
        _sub(COV, "sex,1,0,NA,1", "sex,1,0,NA"),
        ["covariates.csv", "line 3", "4 fields, expected 5"],
        id="covariate-wrong-field-count",
    ),
    pytest.param(
        _sub(Q, "0,1,2,3", "0,1,2"),
        ["quantifications.csv", "line 4", "7 fields, expected 8"],
        id="short-row-quantifications",
    ),
    pytest.param(
        _sub(ALT1, "1.3,1.4", "1.3,1.4,9"),
        ["chr1_ALTlr.csv", "line 4", "6 fields, expected 5"],
        id="long-row-genotypes",
    ),
    pytest.param(
        _sub(CN, "G2,0,0,0,0", "G2,0,0,0"),
        ["copynumbers.csv", "line 3", "4 fields, expected 5"],
        id="short-row-copynumber",
    ),
    pytest.param(
        _sub(CN, "G3,-1,NA,1,2\n", ""),
        ["copynumbers.csv", "have no row: G3"],
        id="gene-missing-from-copynumber",
    ),
    pytest.param(
        _sub(Q, "G5", ""),
        ["quantifications.csv", "line 6", "column 4 ('gene_id')", "empty gene_id"],
        id="empty-gene-id",
    ),
    pytest.param(
        _sub(Q, "chr1,50,60", ",50,60"),
        ["quantifications.csv", "line 6", "empty chr"],
        id="empty-chromosome",
    ),
    pytest.param(
        _sub(SEG, "S2,1,501", "S2,,501"),
        ["segments.csv", "line 5", "empty chr"],
        id="empty-segment-chromosome",
    ),
    pytest.param(
        _sub(Q, "chr1,300,400,G2", "\nchr1,300,400,G5"),
        ["quantifications.csv", "line 7", "duplicate gene_id 'G5'", "line 5"],
        id="line-numbers-count-blank-lines",
    ),
]


@pytest.mark.parametrize(("mutate", "fragments"), BAD_INPUTS)
def test_ingest__bad_input_is_one_line_error_and_db_unchanged(
    good_db, cohort_dir, mutate, fragments
):
    before = snapshot(good_db)
    assert [r[0] for r in before["cohorts"]] == ["good"]
    mutate(cohort_dir)
    result = invoke(ingest_args(cohort_dir, good_db, "bad"))
    assert_one_line_error(result, *fragments)
    assert snapshot(good_db) == before


def test_ingest__bad_phenotype_covariate_is_one_line_error(good_db, cohort_dir):
    before = snapshot(good_db)
    replace_in(cohort_dir / "phenotype_covariate.csv", "G4,5,6", "G4,5,six")
    pcov = str(cohort_dir / "phenotype_covariate.csv")
    result = invoke(ingest_args(cohort_dir, good_db, "bad", "--phenotype-covariate", pcov))
    assert_one_line_error(result, "phenotype_covariate.csv", "line 3", "column 3 ('S2')", "'six'")
    assert snapshot(good_db) == before


# -------------------------------------------------------------------- cohort names, --replace
def test_ingest__same_cohort_twice_fails_without_replace(good_db, cohort_dir):
    before = snapshot(good_db)
    result = invoke(ingest_args(cohort_dir, good_db, "good"))
    assert_one_line_error(
        result, "cohort 'good' already exists", "--replace", exit_code=UsageError.exit_code
    )
    assert snapshot(good_db) == before


def test_ingest__replace_replaces_the_cohorts_rows(good_db, cohort_dir):
    assert_ok(invoke(ingest_args(cohort_dir, good_db, "other")))
    other_before = {
        t: [r for r in v if "other" in r]
        for t, v in snapshot(good_db).items()
        if not t.startswith("genotypes_")  # per-cohort tables, named by cohort id
    }
    drop_lines(cohort_dir / Q, "chr1,50,60,G5")
    replace_in(cohort_dir / ALT1, "chr1:120:A:G,0.1", "chr1:120:A:G,0.125")
    replace_in(cohort_dir / COV, "purity,0.5,,0.7,0.9\n", "purity,0.5,,0.7,0.9\nPC1,1,2,3,4\n")
    result = invoke(ingest_args(cohort_dir, good_db, "good", "--replace"))
    assert_ok(result)
    con = connect(good_db)
    try:
        assert rows(con, "SELECT count(*) FROM cohorts WHERE cohort = 'good'") == [(1,)]
        assert rows(
            con, "SELECT gene_id FROM phenotypes WHERE cohort = 'good' ORDER BY file_row"
        ) == [("G4",), ("G1",), ("G2",), ("G3",)]
        assert rows(
            con,
            "SELECT altlr[2] FROM genotypes WHERE cohort = 'good' AND variant_id = 'chr1:120:A:G'",
        ) == [(0.125,)]
        assert rows(con, "SELECT name FROM covariates WHERE cohort = 'good' ORDER BY cov_idx") == [
            ("age",),
            ("sex",),
            ("purity",),
            ("PC1",),
        ]
        for table in ("samples", "variants", "segments", "copynumber", "cohort_files"):
            n_good, n_other = (
                rows(con, f"SELECT count(*) FROM {table} WHERE cohort = ?", c)[0][0]
                for c in ("good", "other")
            )
            assert n_good == n_other, table  # no duplicated leftovers
        (good_sum,), (other_sum,) = (
            rows(con, "SELECT checksum FROM cohorts WHERE cohort = ?", c)[0]
            for c in ("good", "other")
        )
        assert good_sum != other_sum
    finally:
        con.close()
    other_after = {
        t: [r for r in v if "other" in r]
        for t, v in snapshot(good_db).items()
        if not t.startswith("genotypes_")
    }
    assert other_after == other_before


def test_ingest__replace_with_bad_input_keeps_the_old_cohort(good_db, cohort_dir):
    before = snapshot(good_db)
    replace_in(cohort_dir / SEG, "S2,1,501,1000", "S2,1,1001,1000")
    result = invoke(ingest_args(cohort_dir, good_db, "good", "--replace"))
    assert_one_line_error(result, "segments.csv", "line 5")
    assert snapshot(good_db) == before


def _run_on(db: Path, cohort: str) -> None:
    result = invoke(
        [
            "run",
            "--db",
            str(db),
            "--cohort",
            cohort,
            "--mode",
            "nominal",
            "--chromosome",
            "all",
            "-q",
        ]
    )
    assert_ok(result)


def test_ingest__replace_with_other_files_under_a_run_is_refused(good_db, cohort_dir):
    """A run's results name phenotypes, variants and samples through the cohort's rows: other
    files under it would relabel them (and a resume would mix two sets of files)."""
    _run_on(good_db, "good")
    before = snapshot(good_db)
    drop_lines(cohort_dir / Q, "chr1,50,60,G5")  # the phenotypes' indices move
    # refused before any file is parsed: a cell no reader would take is never reached
    replace_in(cohort_dir / ALT1, "chr1:120:A:G,0.1", "chr1:120:A:G,oops")
    result = invoke(ingest_args(cohort_dir, good_db, "good", "--replace"))
    assert_one_line_error(
        result,
        "cohort 'good' has 1 run(s) on its current files (run 1)",
        "relabel their results",
        "Fix: ingest the new files under another --cohort name",
        exit_code=UsageError.exit_code,
    )
    assert snapshot(good_db) == before


def test_ingest__replace_under_a_run_with_a_missing_file_names_the_file(good_db, cohort_dir):
    _run_on(good_db, "good")
    before = snapshot(good_db)
    (cohort_dir / SEG).unlink()
    result = invoke(ingest_args(cohort_dir, good_db, "good", "--replace"))
    assert_one_line_error(result, "segments.csv", "not found")
    assert snapshot(good_db) == before


def test_ingest__replace_with_the_same_files_keeps_the_runs(good_db, cohort_dir):
    _run_on(good_db, "good")
    con = connect(good_db)
    try:
        labelled = rows(con, "SELECT phenotype, variant FROM nominal_results ORDER BY 1, 2")
    finally:
        con.close()
    assert labelled
    assert_ok(invoke(ingest_args(cohort_dir, good_db, "good", "--replace")))
    con = connect(good_db)
    try:
        assert rows(con, "SELECT phenotype, variant FROM nominal_results ORDER BY 1, 2") == labelled
    finally:
        con.close()


@pytest.mark.parametrize("replace", [False, True], ids=["new-cohort", "replace"])
def test_ingest__failure_while_writing_rolls_everything_back(
    good_db, cohort_dir, monkeypatch, replace
):
    """An error after some rows were written (here: while inserting segments) undoes them."""
    real_insert = load._insert

    def failing_insert(con, table, cohort, frame):
        if table == "segments":
            raise InputError(cohort_dir / SEG, "simulated failure", "none", line=2)
        real_insert(con, table, cohort, frame)

    monkeypatch.setattr(load, "_insert", failing_insert)
    before = snapshot(good_db)
    extra = ["--replace"] if replace else []
    result = invoke(ingest_args(cohort_dir, good_db, "good" if replace else "bad", *extra))
    assert_one_line_error(result, "simulated failure")
    assert snapshot(good_db) == before


def test_ingest__invalid_cohort_name(good_db, cohort_dir):
    before = snapshot(good_db)
    result = invoke(ingest_args(cohort_dir, good_db, "bad name;"))
    assert result.exit_code == UsageError.exit_code
    assert len(stderr_of(result).splitlines()) == 1
    assert "--cohort 'bad name;' must be letters, digits" in stderr_of(result)
    assert "Fix:" in stderr_of(result)
    assert "Traceback" not in stderr_of(result)
    assert snapshot(good_db) == before


def test_read_quantifications__frame_layout(cohort_dir):
    quant = readers.read_quantifications(cohort_dir / Q)
    assert quant.samples == SAMPLES
    assert quant.table.columns == [
        "chr",
        "phenotype_idx",
        "file_row",
        "gene_id",
        "start",
        "end",
        "values",
    ]
    assert quant.table.schema["values"] == pl.List(pl.Float64)


def test_ingest__failure_into_a_new_path_leaves_no_warehouse(cohort_dir, tmp_path):
    replace_in(cohort_dir / "segments.csv", "S1,chr1,1,", "S1,chr1,x,")
    db = tmp_path / "new" / "wh.duckdb"
    result = invoke(ingest_args(cohort_dir, db, "bad"))
    assert result.exit_code == 2
    assert "segments.csv" in result.stderr
    assert not db.exists()
    assert not Path(f"{db}.wal").exists()
