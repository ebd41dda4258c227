"""Export formats (csv/tsv/txt/parquet), gzip and the SNPTEST-style metadata header."""

from __future__ import annotations

import gzip
import json
import shutil

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

from segqtl import api
from segqtl.cli import cli
from segqtl.errors import UsageError
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect
from segqtl.warehouse.export import ExportFormat, run_metadata

from .conftest import cohort_kwargs

SEPARATORS = {"csv": ",", "tsv": "\t", "txt": " "}
# Every text variant: (format, gzip, metadata header)
TEXT_VARIANTS = [
    (fmt, gz, meta) for fmt in SEPARATORS for gz in (False, True) for meta in (False, True)
]


@pytest.fixture(scope="module")
def runs_db(tmp_path_factory, small_cohort):
    """A warehouse with a named all-pairs nominal run and a one-phenotype finemap run."""
    db = tmp_path_factory.mktemp("export_formats") / "wh.duckdb"
    api.ingest(db, "small", **cohort_kwargs(small_cohort))
    nominal = api.run(
        db,
        RunSpec(
            mode="nominal",
            cohort="small",
            chromosomes=["1", "2"],
            all_variants=True,
            name="all pairs",
        ),
    )
    finemap = api.run(
        db,
        RunSpec(
            mode="finemap",
            cohort="small",
            chromosomes=["1"],
            phenotype_id="G1_000",
            n_bootstrap=10,
            n_lambda=6,
            compute_r2=True,
        ),
    )
    return db, {"nominal": nominal, "finemap": finemap}


def _export(db, run_id, out, **kw):
    return api.export(db, run_id, out, **kw)


def _lines(path, n):
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        return [fh.readline() for _ in range(n)]


def _stored_metadata(db, run_id):
    con = connect(db, read_only=True)
    try:
        runs = con.execute(
            "SELECT name, mode, cohort, chromosomes, status, cohort_checksum FROM runs "
            "WHERE run_id = ?",
            [run_id],
        ).fetchone()
        params = dict(
            con.execute(
                "SELECT key, value FROM run_parameters WHERE run_id = ?", [run_id]
            ).fetchall()
        )
        files = dict(
            con.execute("SELECT role, sha256 FROM cohort_files WHERE cohort = 'small'").fetchall()
        )
    finally:
        con.close()
    return runs, params, files


def _header_pairs(path):
    """The ``# key value`` lines of a text export, in order."""
    pairs = []
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            assert line.startswith("# ") and line.endswith("\n")
            key, _, value = line[2:-1].partition(" ")
            pairs.append((key, value))
    return pairs


# --------------------------------------------------------------------------- names & options
def test_export_format__file_names_replace_the_csv_extension():
    assert ExportFormat().filename("nominal_chr1.csv") == "nominal_chr1.csv"
    assert ExportFormat("tsv").filename("nominal_chr1.csv") == "nominal_chr1.tsv"
    assert ExportFormat("txt", gzip=True).filename("perm_chr1_5000.csv") == "perm_chr1_5000.txt.gz"
    assert ExportFormat("csv", gzip=True).filename("nominal_chr1.csv") == "nominal_chr1.csv.gz"
    assert ExportFormat("parquet").filename("G1.5_nominal_chr2.csv") == "G1.5_nominal_chr2.parquet"


def test_export_format__default_keeps_the_original_copy_options():
    assert ExportFormat().copy_options(None) == "(HEADER, DELIMITER ',')"


@pytest.mark.parametrize(
    ("kw", "needle"),
    [({"fmt": "parquet", "gzip": True}, "--gzip"), ({"fmt": "xlsx"}, "unknown export format")],
)
def test_export_format__bad_combinations_are_usage_errors(kw, needle):
    with pytest.raises(UsageError, match=needle) as info:
        ExportFormat(**kw)
    assert "Fix:" in str(info.value) and "\n" not in str(info.value)


def test_export_run__parquet_with_gzip_writes_nothing(runs_db, tmp_path):
    db, runs = runs_db
    with pytest.raises(UsageError, match="Fix: drop --gzip"):
        _export(db, runs["nominal"], tmp_path / "o", fmt="parquet", gzip=True)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("meta", [False, True])
@pytest.mark.parametrize("fmt", ["csv", "tsv", "txt"])
def test_export_format__empty_result_has_header_row_and_no_blank_line(tmp_path, fmt, meta):
    form = ExportFormat(fmt, metadata_header=meta)
    path = tmp_path / form.filename("empty.csv")
    metadata = [("segqtl-export", "1"), ("name", "NA")] if meta else None
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT 1 AS a, 2.5 AS b WHERE false) TO '{path}' {form.copy_options(metadata)}"
    )
    sep = SEPARATORS[fmt]
    prefix = "# segqtl-export 1\n# name NA\n" if meta else ""
    assert path.read_text() == f"{prefix}a{sep}b\n"


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("mode", ["nominal", "finemap"])
def test_export_run__every_format_round_trips_to_the_csv_values(runs_db, tmp_path, mode):
    db, runs = runs_db
    run_id = runs[mode]
    base = _export(db, run_id, tmp_path / "csv")
    parquet = _export(db, run_id, tmp_path / "parquet", fmt="parquet")
    assert [p.name.replace(".parquet", ".csv") for p in parquet] == [p.name for p in base]
    con = duckdb.connect()
    for csv_path, pq_path in zip(base, parquet, strict=True):
        typed = pl.read_parquet(pq_path)
        # The CSV export, typed like the parquet file, holds exactly the parquet values.
        assert_frame_equal(pl.read_csv(csv_path, schema=typed.schema), typed, check_exact=True)
        via_duckdb = con.sql(f"SELECT * FROM read_parquet('{pq_path}')").pl()
        assert_frame_equal(via_duckdb, typed, check_exact=True)
    for fmt, gz, meta in TEXT_VARIANTS:
        out = tmp_path / f"{fmt}_{gz}_{meta}"
        paths = _export(db, run_id, out, fmt=fmt, gzip=gz, metadata_header=meta)
        assert [p.name for p in paths] == [ExportFormat(fmt, gz).filename(p.name) for p in base]
        nulls = "NA" if fmt == "txt" else ""
        for path, pq_path in zip(paths, parquet, strict=True):
            typed = pl.read_parquet(pq_path)
            back = pl.read_csv(
                path,
                separator=SEPARATORS[fmt],
                comment_prefix="#",
                schema=typed.schema,
                null_values=nulls or None,
            )
            assert_frame_equal(back, typed, check_exact=True)
            via_duckdb = (
                con.sql(
                    f"SELECT * FROM read_csv('{path}', comment = '#', delim = "
                    f"'{SEPARATORS[fmt]}', header = true, nullstr = '{nulls}', "
                    "all_varchar = true)"
                )
                .pl()
                .cast(typed.schema)
            )
            assert_frame_equal(via_duckdb, typed, check_exact=True)


def test_export_run__parquet_columns_are_typed(runs_db, tmp_path):
    db, runs = runs_db
    (path, _) = _export(db, runs["nominal"], tmp_path, fmt="parquet")
    schema = pl.read_parquet_schema(path)
    assert schema["phenotype"] == pl.String and schema["variant"] == pl.String
    assert schema["number_of_samples"].is_integer()
    for col in ("beta_s", "se_d", "nominal_p", "r2_alt", "p_adj"):
        assert schema[col] == pl.Float64
    con = duckdb.connect()
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    kinds = {row[0]: row[1] for row in described}
    assert kinds["nominal_p"] == "DOUBLE" and kinds["number_of_samples"] == "INTEGER"


def test_export_run__gzip_files_are_gzip_streams(runs_db, tmp_path):
    db, runs = runs_db
    plain = _export(db, runs["nominal"], tmp_path / "plain", fmt="tsv", metadata_header=True)
    packed = _export(
        db, runs["nominal"], tmp_path / "gz", fmt="tsv", gzip=True, metadata_header=True
    )
    for a, b in zip(plain, packed, strict=True):
        assert b.name == a.name + ".gz"
        assert b.read_bytes()[:2] == b"\x1f\x8b"
        with gzip.open(b, "rb") as fh:
            assert fh.read() == a.read_bytes()
        assert b.stat().st_size < a.stat().st_size


@pytest.mark.parametrize("fmt", ["tsv", "txt"])
def test_export_run__separators_in_the_raw_bytes(runs_db, tmp_path, fmt):
    db, runs = runs_db
    (path, _) = _export(db, runs["nominal"], tmp_path, fmt=fmt)
    head = path.read_bytes().split(b"\n")[:3]
    sep = SEPARATORS[fmt].encode()
    assert head[0] == sep.join(
        b"phenotype variant number_of_samples beta_s se_s beta_d se_d t_stat_d nominal_p "
        b"r2_alt p_adj chr".split()
    )
    for line in head[1:]:
        assert line.count(sep) == 11 and b"," not in line and b'"' not in line
    if fmt == "txt":  # missing values are NA, never an empty field between two spaces
        body = path.read_bytes()
        assert b"  " not in body and b" NA" in body
    else:
        assert b"\t\t" in path.read_bytes()  # p_adj is empty in nominal runs, as in the csv


def test_export_run__no_trailing_blank_line(runs_db, tmp_path):
    db, runs = runs_db
    for meta in (False, True):
        for path in _export(db, runs["finemap"], tmp_path / str(meta), metadata_header=meta):
            data = path.read_bytes()
            assert data.endswith(b"\n") and not data.endswith(b"\n\n")


# --------------------------------------------------------------------------- metadata header
def test_export_run__metadata_header_lines_in_order(runs_db, tmp_path):
    db, runs = runs_db
    run_id = runs["nominal"]
    paths = _export(db, run_id, tmp_path, fmt="csv", metadata_header=True)
    runs_row, params, files = _stored_metadata(db, run_id)
    name, mode, cohort, chromosomes, status, checksum = runs_row
    for path, chrom in zip(paths, ["chr1", "chr2"], strict=True):
        pairs = _header_pairs(path)
        keys = [k for k, _ in pairs]
        assert pairs[:12] == [
            ("segqtl-export", "1"),
            ("run_id", str(run_id)),
            ("name", "all pairs"),
            ("mode", "nominal"),
            ("cohort", "small"),
            ("chromosomes", "chr1,chr2"),
            ("chromosome", chrom),
            ("status", "completed"),
            pairs[8],
            pairs[9],
            ("cohort_checksum", checksum),
            ("window", "1000000"),
        ]
        assert keys[8:10] == ["started_at", "finished_at"] and pairs[8][1] < pairs[9][1]
        assert (name, mode, cohort, chromosomes, status) == (
            "all pairs",
            "nominal",
            "small",
            "chr1,chr2",
            "completed",
        )
        got = dict(pairs)
        assert len(got) == len(pairs)  # every key once
        # every stored parameter is there, strings unquoted, other JSON values as stored
        for key, value in params.items():
            decoded = json.loads(value)
            if decoded is None:
                assert got[key] == "NA"
            elif isinstance(decoded, str):
                assert got[key] == decoded
            elif key not in ("chromosomes",):
                assert got[key] == value
        assert got["all_variants"] == "true" and got["min_samples"] == "30"
        # provenance: the input checksums and library versions of the run
        for role, sha in files.items():
            assert got[f"input:{role}"] == sha
        assert got["version:duckdb"] == duckdb.__version__
        assert got["version:polars"] == pl.__version__
        # parameters in RunSpec order, then provenance keys sorted
        provenance = [k for k in keys if ":" in k]
        assert provenance == sorted(provenance)
        assert keys.index("window") < keys.index("seed") < keys.index(provenance[0])
        # the data section follows: SegmentQTL's header row
        data = path.read_text().split("\n")
        assert data[len(pairs)].startswith("phenotype,variant,number_of_samples,")
        assert all(" " not in k for k in keys)


def test_export_run__metadata_header_of_finemap_files(runs_db, tmp_path):
    db, runs = runs_db
    paths = _export(db, runs["finemap"], tmp_path, fmt="txt", gzip=True, metadata_header=True)
    assert {p.name for p in paths} >= {"finemap_chr1_G1_000.txt.gz"}
    for path in paths:
        got = dict(_header_pairs(path))
        assert got["mode"] == "finemap" and got["name"] == "NA"
        assert got["phenotype_id"] == "G1_000" and got["n_bootstrap"] == "10"
        assert _lines(path, 1) == ["# segqtl-export 1\n"]


def test_export_run__parquet_key_value_metadata(runs_db, tmp_path):
    db, runs = runs_db
    run_id = runs["nominal"]
    paths = _export(db, run_id, tmp_path, fmt="parquet", metadata_header=True)
    text = _export(db, run_id, tmp_path / "txt", fmt="tsv", metadata_header=True)
    for pq_path, txt_path in zip(paths, text, strict=True):
        kv = pl.read_parquet_metadata(pq_path)
        assert {k: v for k, v in kv.items() if k != "ARROW:schema"} == dict(_header_pairs(txt_path))
        con = duckdb.connect()
        stored = dict(
            con.execute(
                f"SELECT decode(key), decode(value) FROM parquet_kv_metadata('{pq_path}')"
            ).fetchall()
        )
        assert stored["run_id"] == str(run_id) and stored["name"] == "all pairs"
    plain = _export(db, run_id, tmp_path / "plain", fmt="parquet")
    assert "run_id" not in pl.read_parquet_metadata(plain[0])


def test_run_metadata__control_characters_and_whitespace_stay_on_one_line(runs_db, tmp_path):
    db, runs = runs_db
    copy = tmp_path / "wh.duckdb"
    shutil.copy(db, copy)
    con = connect(copy)
    try:
        con.execute(
            "UPDATE runs SET name = ? WHERE run_id = ?",
            ["two\nlines\tand\x1b esc", runs["finemap"]],
        )
        con.execute(
            "INSERT INTO run_parameters VALUES (?, 'odd key\tname', ?)",
            [runs["finemap"], json.dumps("a\rb")],
        )
        pairs = dict(run_metadata(con, runs["finemap"]))
    finally:
        con.close()
    assert pairs["name"] == "two\\x0alines\\x09and\\x1b esc"
    assert pairs["odd_key_name"] == "a\\x0db"
    paths = _export(copy, runs["finemap"], tmp_path / "o", metadata_header=True)
    got = dict(_header_pairs(paths[0]))
    assert got["name"] == "two\\x0alines\\x09and\\x1b esc"


def test_export_run__repeat_export_is_byte_identical(runs_db, tmp_path):
    db, runs = runs_db
    a = _export(db, runs["nominal"], tmp_path / "a", fmt="tsv", metadata_header=True)
    b = _export(db, runs["nominal"], tmp_path / "b", fmt="tsv", metadata_header=True)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


# --------------------------------------------------------------------------- CLI
def _cli(*args):
    res = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in res.output
    return res


def test_cli_export__format_gzip_metadata_header(runs_db, tmp_path):
    db, runs = runs_db
    out = tmp_path / "o"
    res = _cli(
        "export", "--db", db, "--run", runs["nominal"], "--out-dir", out,
        "--format", "tsv", "--gzip", "--metadata-header",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    paths = res.stdout.split()
    assert [p.rsplit("/", 1)[1] for p in paths] == ["nominal_chr1.tsv.gz", "nominal_chr2.tsv.gz"]
    assert _lines(out / "nominal_chr1.tsv.gz", 2) == [
        "# segqtl-export 1\n",
        f"# run_id {runs['nominal']}\n",
    ]


def test_cli_export__parquet_and_default(runs_db, tmp_path):
    db, runs = runs_db
    res = _cli("export", "--db", db, "--run", runs["nominal"], "--out-dir", tmp_path / "p",
               "--format", "parquet")  # fmt: skip
    assert res.exit_code == 0 and (tmp_path / "p" / "nominal_chr1.parquet").exists()
    res = _cli("export", "--db", db, "--run", runs["nominal"], "--out-dir", tmp_path / "c")
    assert res.exit_code == 0
    assert (tmp_path / "c" / "nominal_chr1.csv").read_bytes().startswith(b"phenotype,variant,")


def test_cli_export__parquet_with_gzip_is_a_one_line_error(runs_db, tmp_path):
    db, runs = runs_db
    res = _cli("export", "--db", db, "--run", runs["nominal"], "--out-dir", tmp_path,
               "--format", "parquet", "--gzip")  # fmt: skip
    assert res.exit_code == 2
    assert "Fix:" in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("layout", ["segmentqtl", "tensorqtl"])
def test_cli_export__a_folder_named_like_an_output_is_refused_before_any_file(
    runs_db, tmp_path, layout
):
    """Refused before the first file is written, so the export never stops half-way."""
    db, runs = runs_db
    taken = "nominal_chr2.csv" if layout == "segmentqtl" else "run1.cis_qtl_pairs.chr2.parquet"
    (tmp_path / taken.replace("run1", f"run{runs['nominal']}")).mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    res = _cli("export", "--db", db, "--run", runs["nominal"], "--out-dir", tmp_path,
               "--layout", layout)  # fmt: skip
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "is a folder, and the export writes a file" in lines[0]
    assert "Fix:" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def _read_all(path):
    """A file's bytes, decompressed if gzip (every member)."""
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


_STRETCHED = {}


def _stretched_run(db) -> int:
    """An all-pairs nominal run of units of 2 phenotypes (made once per warehouse)."""
    if db not in _STRETCHED:
        spec = RunSpec(
            mode="nominal",
            cohort="small",
            chromosomes=["1"],
            all_variants=True,
            phenotypes_per_unit=2,
        )
        _STRETCHED[db] = api.run(db, spec)
    return _STRETCHED[db]


@pytest.mark.parametrize(("fmt", "gz", "meta"), TEXT_VARIANTS)
def test_export__large_file_in_stretches_equals_one_copy(
    runs_db, tmp_path, monkeypatch, fmt, gz, meta
):
    """A file written a stretch of units at a time has the bytes of one COPY."""
    from segqtl.warehouse import export as export_module

    db, _ = runs_db
    nominal = _stretched_run(db)
    whole = api.export(db, nominal, tmp_path / "whole", fmt=fmt, gzip=gz, metadata_header=meta)
    monkeypatch.setattr(export_module, "CHUNK_ROWS", 7)  # a few units per stretch
    pieces = api.export(db, nominal, tmp_path / "pieces", fmt=fmt, gzip=gz, metadata_header=meta)
    with duckdb.connect(str(db), read_only=True) as con:
        n_stretches = len(
            export_module.query(con, "export_chunks", run_id=nominal, chr="chr1", rows=7).fetchall()
        )
    assert n_stretches > 2
    assert [p.name for p in whole] == [p.name for p in pieces]
    for a, b in zip(whole, pieces, strict=True):
        assert _read_all(a) == _read_all(b)
    assert not list((tmp_path / "pieces").glob(".*"))  # no temporary piece left behind


@pytest.mark.parametrize(("fmt", "gz", "meta"), [("csv", False, False), ("parquet", False, True)])
@pytest.mark.parametrize("via", ["api", "cli"])
def test_export__segmentqtl_layout_named_writes_the_default_files(
    runs_db, tmp_path, fmt, gz, meta, via
):
    """``--layout segmentqtl`` (the default) is the export without the flag, byte for byte."""
    db, runs = runs_db
    default = _export(
        db, runs["nominal"], tmp_path / "default", fmt=fmt, gzip=gz, metadata_header=meta
    )
    out = tmp_path / "named"
    if via == "api":
        named = _export(
            db, runs["nominal"], out, fmt=fmt, gzip=gz, metadata_header=meta, layout="segmentqtl"
        )
    else:
        args = ["export", "--db", str(db), "--run", str(runs["nominal"]), "--out-dir", str(out)]
        args += ["--format", fmt, "--layout", "segmentqtl"] + (["--metadata-header"] * meta)
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 0, res.output
        named = [out / line.rsplit("/", 1)[1] for line in res.stdout.splitlines()]
    assert [p.name for p in named] == [p.name for p in default] and default
    for a, b in zip(default, named, strict=True):
        assert a.read_bytes() == b.read_bytes()
