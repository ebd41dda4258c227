"""Tests of streaming genotype ingest and compressed inputs (``.csv.gz``, ``.csv.zst``).

Genotype files are read in blocks of lines; the tests shrink the block size to a few hundred
bytes so that small hand-made files span many blocks, and check that blocks change nothing:
same warehouse content, same error lines, all-or-nothing on an error in the last line.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from segqtl.ingest import readers
from segqtl.warehouse.db import COHORT_TABLES

from .test_ingest import (
    FILES,
    SAMPLES,
    assert_ok,
    assert_one_line_error,
    ingest_args,
    invoke,
    snapshot,
    write_cohort,
)

ALT1, REF1 = "genotypes/chr1_ALTlr.csv", "genotypes/chr1_REFlr.csv"
GENO_SAMPLES = ["S1", "S2", "S3", "S4"]  # column order of the generated genotype files


# ------------------------------------------------------------------------------------ helpers
def compress(path: Path, codec: str) -> Path:
    """Replace ``path`` by its gzip (``.gz``) or zstd (``.zst``) compressed copy."""
    data = path.read_bytes()
    if codec == "gzip":
        out = path.with_name(path.name + ".gz")
        out.write_bytes(gzip.compress(data))
    else:
        out = path.with_name(path.name + ".zst")
        sink = pa.BufferOutputStream()
        stream = pa.CompressedOutputStream(sink, "zstd")
        stream.write(data)
        stream.close()
        out.write_bytes(sink.getvalue().to_pybytes())
    path.unlink()
    return out


def genotype_text(n: int, offset: float = 0.0, digits: int = 3) -> str:
    """An ID,S1..S4 genotype file with ``n`` variants on chr1 (positions 100, 200, ...)."""
    lines = ["ID," + ",".join(GENO_SAMPLES)]
    for i in range(n):
        values = [f"{(i * 4 + j) / 7 + offset:.{digits}f}" for j in range(4)]
        lines.append(f"chr1:{100 * (i + 1)}:A:G," + ",".join(values))
    return "\n".join(lines) + "\n"


def big_cohort(root: Path, n: int = 2_000) -> Path:
    """The test cohort with ``n`` variants on chr1 (REF lines longer than ALT lines)."""
    write_cohort(root)
    (root / ALT1).write_text(genotype_text(n))
    (root / REF1).write_text(genotype_text(n, offset=0.5, digits=9))
    return root


# a cohort's tables but its file records (their paths and checksums differ between copies)
COMPARED = tuple(t for t in COHORT_TABLES if t != "cohort_files")


def table_contents(db: Path) -> dict[str, list[tuple]]:
    """The cohort's rows (genotype table included), without its inputs' checksums."""
    snap = snapshot(db)
    out = {t: rows for t, rows in snap.items() if t in COMPARED or t.startswith("genotypes_")}
    # without checksum (column 4) and created_at (column 8; migration 015 added two after it)
    out["cohorts"] = [row[:3] + row[4:7] + row[8:] for row in snap["cohorts"]]
    assert any(t.startswith("genotypes_") for t in out)
    return out


@pytest.fixture
def small_blocks(monkeypatch):
    """Genotype blocks of ~300 bytes: the small test files span many blocks."""
    monkeypatch.setattr(readers, "GENOTYPE_BLOCK_BYTES", 300)


@pytest.fixture
def good_big(tmp_path) -> tuple[Path, Path]:
    """(cohort directory, warehouse holding it as 'good')."""
    root = big_cohort(tmp_path / "cohort")
    db = tmp_path / "wh.duckdb"
    assert_ok(invoke(ingest_args(root, db, "good")))
    return root, db


# ------------------------------------------------------------------------------- streaming
def test_read_genotypes__small_blocks_give_the_same_frame(tmp_path):
    root = big_cohort(tmp_path, n=500)
    args = ("chr1", root / ALT1, root / REF1, SAMPLES)
    whole = readers.read_genotypes(*args)
    blocks = [b.frame for b in readers.GenotypeReader(*args, block_bytes=200)]
    assert len(blocks) > 20
    streamed = __import__("polars").concat(blocks)
    assert streamed["variant_idx"].to_list() == list(range(500))
    assert streamed["variant_id"].equals(whole["variant_id"])
    assert streamed["altlr"].to_list() == whole["altlr"].to_list()
    assert streamed["reflr"].to_list() == whole["reflr"].to_list()
    # Values are in the cohort's sample order, parsed as Python's float of the text.
    first = (root / REF1).read_text().splitlines()[1].split(",")
    by_sample = dict(zip(GENO_SAMPLES, map(float, first[1:]), strict=True))
    assert whole["reflr"][0].to_list() == [by_sample[s] for s in SAMPLES]


def test_ingest__small_blocks_load_the_same_warehouse(tmp_path, small_blocks, monkeypatch):
    root = big_cohort(tmp_path / "cohort", n=1_500)
    streamed = tmp_path / "streamed.duckdb"
    assert_ok(invoke(ingest_args(root, streamed, "c")))
    monkeypatch.setattr(readers, "GENOTYPE_BLOCK_BYTES", 1 << 30)
    whole = tmp_path / "whole.duckdb"
    assert_ok(invoke(ingest_args(root, whole, "c")))
    assert table_contents(streamed) == table_contents(whole)
    con = duckdb.connect(str(streamed), read_only=True)
    try:
        idx = con.execute(
            "SELECT variant_idx FROM variants WHERE chr = 'chr1' ORDER BY variant_idx"
        ).fetchall()
    finally:
        con.close()
    assert [i for (i,) in idx] == list(range(1_500))


def _last_line_mutations():
    def bad_cell(root):
        text = (root / REF1).read_text()
        head, last = text.rstrip("\n").rsplit("\n", 1)
        (root / REF1).write_text(head + "\n" + last.rsplit(",", 1)[0] + ",oops\n")

    def duplicate_id(root):
        for rel in (ALT1, REF1):
            lines = (root / rel).read_text().splitlines()
            lines[-1] = lines[2].split(",", 1)[0] + "," + lines[-1].split(",", 1)[1]
            (root / rel).write_text("\n".join(lines) + "\n")

    def short_row(root):
        lines = (root / ALT1).read_text().splitlines()
        lines[-1] = lines[-1].rsplit(",", 1)[0]
        (root / ALT1).write_text("\n".join(lines) + "\n")

    def ref_short(root):
        lines = (root / REF1).read_text().splitlines()
        (root / REF1).write_text("\n".join(lines[:-1]) + "\n")

    return [
        pytest.param(bad_cell, [REF1, "line 2001", "column 5 ('S4')", "'oops'"], id="bad-cell"),
        pytest.param(
            duplicate_id,
            [ALT1, "line 2001", "duplicate variant ID 'chr1:200:A:G'", "line 3"],
            id="duplicate-id",
        ),
        pytest.param(short_row, [ALT1, "line 2001", "4 fields, expected 5"], id="short-row"),
        pytest.param(ref_short, [REF1, "line 2001", "<end of file>"], id="ref-ends-early"),
    ]


@pytest.mark.parametrize("replace", [False, True], ids=["new-cohort", "replace"])
@pytest.mark.parametrize(("mutate", "fragments"), _last_line_mutations())
def test_ingest__error_in_the_last_line_leaves_the_warehouse_unchanged(
    good_big, small_blocks, mutate, fragments, replace
):
    """Earlier blocks were already appended when the error is found: all are rolled back."""
    root, db = good_big
    before = snapshot(db)
    mutate(root)
    extra = ["--replace"] if replace else []
    result = invoke(ingest_args(root, db, "good" if replace else "bad", *extra))
    line = assert_one_line_error(result, *fragments[1:])
    assert Path(fragments[0]).name in line
    assert snapshot(db) == before


def test_ingest__blank_lines_in_one_genotype_file_only_keep_rows_aligned(tmp_path, small_blocks):
    root = big_cohort(tmp_path / "cohort", n=300)
    plain = tmp_path / "plain.duckdb"
    assert_ok(invoke(ingest_args(root, plain, "c")))
    lines = (root / REF1).read_text().splitlines()
    spaced = lines[:50] + [""] * 7 + lines[50:200] + ["", "  "] + lines[200:]
    (root / REF1).write_text("\n".join(spaced) + "\n")
    blank = tmp_path / "blank.duckdb"
    assert_ok(invoke(ingest_args(root, blank, "c")))
    assert table_contents(blank) == table_contents(plain)


# ------------------------------------------------------------------------------ compression
@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_ingest__compressed_cohort_loads_the_same_content(tmp_path, small_blocks, codec):
    root = big_cohort(tmp_path / "cohort", n=400)
    plain = tmp_path / "plain.duckdb"
    assert_ok(invoke(ingest_args(root, plain, "c")))
    packed = {}
    for rel in FILES:
        if rel != "genotypes/chr2_REFlr.csv":  # a pair may mix plain and compressed files
            packed[rel] = compress(root / rel, codec)
    paths = {
        "quantifications": packed["quantifications.csv"],
        "covariates": packed["covariates.csv"],
        "copynumber": packed["copynumbers.csv"],
        "segmentation": packed["segments.csv"],
    }
    pcov = str(packed["phenotype_covariate.csv"])
    compressed = tmp_path / "compressed.duckdb"
    assert_ok(invoke(ingest_args(root, compressed, "c", "--phenotype-covariate", pcov, **paths)))
    want = table_contents(plain)
    got = table_contents(compressed)
    assert got.pop("phenotype_covariate") != []
    want.pop("phenotype_covariate")
    got["cohorts"] = [r[:4] + r[5:] for r in got["cohorts"]]  # has_phenotype_covariate
    want["cohorts"] = [r[:4] + r[5:] for r in want["cohorts"]]
    assert got == want
    # Checksums are of the files as stored: the compressed bytes.
    con = duckdb.connect(str(compressed), read_only=True)
    try:
        stored = dict(con.execute("SELECT path, sha256 FROM cohort_files").fetchall())
    finally:
        con.close()
    assert len(stored) == 9
    for path, digest in stored.items():
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == digest


def test_ingest__bad_cell_late_in_a_gz_file_names_its_line(tmp_path, small_blocks):
    root = big_cohort(tmp_path / "cohort", n=1_200)
    lines = (root / ALT1).read_text().splitlines()
    lines[1150] = lines[1150].replace(",", ",x", 1)  # S1's cell of line 1151
    (root / ALT1).write_text("\n".join(lines) + "\n")
    compress(root / ALT1, "gzip")
    result = invoke(ingest_args(root, tmp_path / "wh.duckdb", "c"))
    assert_one_line_error(result, "chr1_ALTlr.csv.gz", "line 1151", "column 2 ('S1')", "'x")


@pytest.mark.parametrize(
    ("rel", "codec"),
    [(ALT1, "gzip"), (ALT1, "zstd"), ("quantifications.csv", "gzip")],
    ids=["genotypes-gz", "genotypes-zst", "quantifications-gz"],
)
def test_ingest__truncated_compressed_file_is_one_line_error(tmp_path, rel, codec):
    root = big_cohort(tmp_path / "cohort", n=3_000)
    packed = compress(root / rel, codec)
    data = packed.read_bytes()
    packed.write_bytes(data[: len(data) * 2 // 3])
    paths = {} if rel == ALT1 else {"quantifications": packed}
    db = tmp_path / "wh.duckdb"
    result = invoke(ingest_args(root, db, "c", **paths))
    assert_one_line_error(result, packed.name, f"truncated or corrupt {codec} data")
    assert not db.exists()


def test_ingest__compressed_bytes_in_a_csv_name_is_a_clear_error(tmp_path):
    root = write_cohort(tmp_path / "cohort")
    packed = compress(root / "segments.csv", "gzip")
    shutil.move(packed, root / "segments.csv")
    result = invoke(ingest_args(root, tmp_path / "wh.duckdb", "c"))
    assert_one_line_error(result, "segments.csv", "not UTF-8", "gzip-compressed", "'.gz'")


def test_ingest__plain_text_named_gz_is_a_clear_error(tmp_path):
    root = write_cohort(tmp_path / "cohort")
    (root / REF1).rename(root / (REF1 + ".gz"))
    result = invoke(ingest_args(root, tmp_path / "wh.duckdb", "c"))
    assert_one_line_error(result, "chr1_REFlr.csv.gz", "not gzip-compressed")


def test_genotype_files__plain_and_compressed_copy_of_one_file_is_an_error(tmp_path):
    root = write_cohort(tmp_path / "cohort")
    (root / (ALT1 + ".gz")).write_bytes(gzip.compress((root / ALT1).read_bytes()))
    result = invoke(ingest_args(root, tmp_path / "wh.duckdb", "c"))
    assert_one_line_error(result, "a second ALTlr file for chr1")
