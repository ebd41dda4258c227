"""Tests of the faster genotype ingest (issue 13): files parsed in threads of their own, blocks
of lines joined once, values built as arrays with numpy, row groups written as they fill.

Each test checks the new path against an independent reading of the same text (the file's own
lines, the column-per-sample reader) rather than against figures taken from the code itself.
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segqtl.errors import InputError
from segqtl.ingest import load, readers, textio

SAMPLES = ["S3", "S1", "S4", "S2"]  # cohort order; the files list S1..S4


def _parse_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("segqtl-parse-")]


# ------------------------------------------------------------------------------- Prefetched
def test_prefetched__items_then_the_error_in_the_consumer_thread():
    produced_in = []

    def items():
        produced_in.append(threading.current_thread().name)
        yield "a"
        yield "b"
        raise InputError("f.csv", "bad cell", "fix it", line=7)

    got = []
    it = readers.Prefetched(items(), name="segqtl-test-producer")
    with pytest.raises(InputError, match="line 7"):
        for item in it:
            got.append(item)
    it.close()
    assert got == ["a", "b"]
    assert produced_in == ["segqtl-test-producer"]  # made in the thread, raised here
    assert next(it, "done") == "done"


def test_prefetched__close_stops_an_endless_producer():
    closed = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    it = readers.Prefetched(endless(), depth=2, name="segqtl-test-endless")
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()
    assert closed.is_set()
    assert not any(t.name == "segqtl-test-endless" for t in threading.enumerate())


# ------------------------------------------------------------------------------- LineBlocks
@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(
        st.one_of(st.just(""), st.text(alphabet="ab,\r", min_size=1, max_size=40)),
        max_size=40,
    ),
    trailing_newline=st.booleans(),
    block_bytes=st.integers(min_value=1, max_value=120),
)
def test_line_blocks__prefixed_blocks_rebuild_the_file_with_their_line_numbers(
    tmp_path_factory, lines, trailing_newline, block_bytes
):
    body = "\n".join(lines) + ("\n" if trailing_newline and lines else "")
    path = tmp_path_factory.mktemp("blocks") / "x.csv"
    path.write_bytes(b"ID,S1\n" + body.encode())
    with textio.Stream(path) as stream:
        blocks = textio.LineBlocks(stream, block_bytes, prefix=b"HEAD\n")
        assert blocks.header == b"ID,S1\n"
        got = list(blocks)
    assert all(data.startswith(b"HEAD\n") for _, data in got)
    datas = [data.removeprefix(b"HEAD\n") for _, data in got]
    assert b"".join(datas) == body.encode()
    assert all(d for d in datas)  # no empty block
    assert all(d.endswith(b"\n") for d in datas[:-1])  # whole lines
    # Each block's first line number is the file's: 1 + the line breaks before it.
    seen = b"ID,S1\n"
    for first, data in got:
        assert first == seen.count(b"\n") + 1
        seen += data.removeprefix(b"HEAD\n")


# ------------------------------------------------------------------------ values as arrays
GENO = (
    "ID,S1,S2,S3,S4\n"
    "chr1:100:A:G,0.1,,NaN,1e-300\n"
    "\n"
    "chr1:200:A:G,-2.5,NA,3,0.30000000000000004\n"
    "chr1:300:A:G,,,,\n"
)


def test_read_numeric_table__array_holds_the_columns_values(tmp_path):
    path = tmp_path / "chr1_ALTlr.csv"
    path.write_text(GENO)
    columns = readers.read_numeric_table(path, ["ID"], SAMPLES, "genotype")
    arrays = readers.read_numeric_table(path, ["ID"], SAMPLES, "genotype", array="values")
    assert arrays["values"].dtype == pl.Array(pl.Float64, len(SAMPLES))
    assert arrays["ID"].to_list() == columns["ID"].to_list()
    assert arrays[readers._LINE].to_list() == [2, 4, 5]
    # Python's float of each cell, in cohort sample order; empty, NA and NaN are missing.
    want = []
    for line in GENO.splitlines()[1:]:
        if not line:
            continue
        cells = dict(zip(["S1", "S2", "S3", "S4"], line.split(",")[1:], strict=True))
        want.append([None if cells[s] in ("", "NA", "NaN") else float(cells[s]) for s in SAMPLES])
    assert arrays["values"].to_list() == want
    assert columns.select(SAMPLES).rows() == [tuple(r) for r in want]


@pytest.mark.parametrize("cell", ["inf", "-Infinity", "1e999"])
def test_read_numeric_table__array_refuses_infinity_like_the_columns(tmp_path, cell):
    path = tmp_path / "chr1_REFlr.csv"
    path.write_text(GENO.replace("-2.5,NA,3,", f"-2.5,NA,{cell},"))
    with pytest.raises(InputError) as by_columns:
        readers.read_numeric_table(path, ["ID"], SAMPLES, "genotype")
    with pytest.raises(InputError) as by_array:
        readers.read_numeric_table(path, ["ID"], SAMPLES, "genotype", array="values")
    assert str(by_array.value) == str(by_columns.value)
    assert "line 4" in str(by_array.value) and "column 4 ('S3')" in str(by_array.value)


def test_read_numeric_table__unused_columns_are_not_parsed_as_numbers(tmp_path):
    """A column outside the cohort (here text) is skipped, as before the full-schema parse."""
    path = tmp_path / "chr1_ALTlr.csv"
    path.write_text("ID,S1,note,S2,S3,S4\nchr1:1:A:G,1,hello,2,3,4\nchr1:2:A:G,5,x,6,7,8\n")
    got = readers.read_numeric_table(path, ["ID"], SAMPLES, "genotype", array="values")
    assert got["values"].to_list() == [[3.0, 1.0, 4.0, 2.0], [7.0, 5.0, 8.0, 6.0]]


# ------------------------------------------------------------------------- GenotypeReader
def _pair(root: Path, n: int, bad_line: int | None = None) -> tuple[Path, Path]:
    alt, ref = root / "chr1_ALTlr.csv", root / "chr1_REFlr.csv"
    rows_alt, rows_ref = ["ID,S1,S2,S3,S4"], ["ID,S1,S2,S3,S4"]
    for i in range(n):
        vid = f"chr1:{100 * (i + 1)}:A:G"
        rows_alt.append(f"{vid}," + ",".join(f"{(4 * i + j) / 7:.4f}" for j in range(4)))
        rows_ref.append(f"{vid}," + ",".join(f"{(4 * i + j) / 3:.9f}" for j in range(4)))
    if bad_line is not None:
        rows_ref[bad_line - 1] = rows_ref[bad_line - 1].rsplit(",", 1)[0] + ",oops"
    alt.write_text("\n".join(rows_alt) + "\n")
    ref.write_text("\n".join(rows_ref) + "\n")
    return alt, ref


def test_genotype_reader__threaded_blocks_match_the_file_text(tmp_path):
    alt, ref = _pair(tmp_path, 400)
    blocks = list(readers.GenotypeReader("chr1", alt, ref, SAMPLES, block_bytes=500))
    assert len(blocks) > 20
    frame = pl.concat([b.frame for b in blocks])
    assert frame["variant_idx"].to_list() == list(range(400))
    for path, column in ((alt, "altlr"), (ref, "reflr")):
        lines = path.read_text().splitlines()[1:]
        want = [[float(x) for x in line.split(",")[1:]] for line in lines]
        order = [["S1", "S2", "S3", "S4"].index(s) for s in SAMPLES]
        assert frame[column].to_list() == [[row[j] for j in order] for row in want]
    assert not _parse_threads()


def test_genotype_reader__error_late_in_a_file_ends_the_threads(tmp_path):
    alt, ref = _pair(tmp_path, 400, bad_line=390)
    reader = readers.GenotypeReader("chr1", alt, ref, SAMPLES, block_bytes=500)
    with pytest.raises(InputError) as err:
        for _ in reader:
            pass
    assert "chr1_REFlr.csv" in str(err.value) and "line 390" in str(err.value)
    assert "'oops'" in str(err.value)
    assert not _parse_threads()


def test_genotype_reader__abandoned_iteration_ends_the_threads(tmp_path):
    alt, ref = _pair(tmp_path, 400)
    it = iter(readers.GenotypeReader("chr1", alt, ref, SAMPLES, block_bytes=500))
    next(it)
    assert len(_parse_threads()) == 2
    it.close()
    assert not _parse_threads()


# ------------------------------------------------------------------------- DuckDB settings
@pytest.mark.parametrize("user_limit", [None, "2GiB"], ids=["default", "set-by-user"])
def test_bounded_memory__sets_then_restores_the_settings(tmp_path, user_limit):
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    try:
        if user_limit:
            con.execute(f"SET memory_limit = '{user_limit}'")

        def settings_now():
            return con.execute(
                "SELECT current_setting('memory_limit'), "
                "current_setting('write_buffer_row_group_count')"
            ).fetchone()

        before = settings_now()
        with load._bounded_memory(con):
            during = settings_now()
        assert during[1] == 1
        assert during[0] != before[0]
        assert settings_now() == before
    finally:
        con.close()


def test_ingest_cohort__error_late_in_genotypes_ends_the_threads_and_rolls_back(
    tmp_path, monkeypatch
):
    from segqtl.warehouse.db import connect

    from .test_ingest import write_cohort

    monkeypatch.setattr(readers, "GENOTYPE_BLOCK_BYTES", 40)  # a block or two per line
    root = write_cohort(tmp_path / "cohort")
    ref = root / "genotypes" / "chr2_REFlr.csv"
    ref.write_text(ref.read_text().replace("8,7,6,5", "8,7,x,5"))
    inputs = load.CohortInputs(
        genotypes=root / "genotypes",
        quantifications=root / "quantifications.csv",
        segmentation=root / "segments.csv",
    )
    con = connect(tmp_path / "wh.duckdb")
    try:
        with pytest.raises(InputError) as err:  # holds the traceback, and its frames
            load.ingest_cohort(con, "c", inputs)
        assert "chr2_REFlr.csv" in str(err.value) and "line 3" in str(err.value)
        assert not _parse_threads()
        assert con.execute("SELECT count(*) FROM cohorts").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM variants").fetchone() == (0,)
    finally:
        con.close()
