"""pyhegp summary files of a cohort's dosages: byte format, values, missing data, errors."""

from __future__ import annotations

import csv
import io
import shutil

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from segqtl import __version__, api
from segqtl.cli import cli
from segqtl.errors import UsageError
from segqtl.warehouse.db import connect
from segqtl.warehouse.summary import write_summary

from .conftest import cohort_kwargs

N_SAMPLES = 60  # small_cohort
DATA_HEADER = "chromosome\tposition\treference\tmean\tstandard-deviation\tnumber-observed\n"


@pytest.fixture(scope="module")
def summary_db(tmp_path_factory, small_cohort):
    db = tmp_path_factory.mktemp("summary") / "wh.duckdb"
    api.ingest(db, "small", **cohort_kwargs(small_cohort))
    return db


def _expected(small_cohort, chrom: str, dosage: str) -> pl.DataFrame:
    """Mean, sample SD and count per variant, straight from the ingested CSV files."""
    alt = pl.read_csv(small_cohort.genotypes / f"{chrom}_ALTlr.csv", infer_schema_length=None)
    ref = pl.read_csv(small_cohort.genotypes / f"{chrom}_REFlr.csv", infer_schema_length=None)
    assert alt["ID"].to_list() == ref["ID"].to_list()
    a = alt.drop("ID").to_numpy().astype(float)
    r = ref.drop("ID").to_numpy().astype(float)
    x = {"d": r - a, "altlr": a, "reflr": r}[dosage]
    rows = []
    for vid, values in zip(alt["ID"], x, strict=True):
        c, pos, refa, _alt = vid.split(":")
        obs = values[~np.isnan(values)]
        rows.append((c, int(pos), refa, obs.mean(), np.std(obs, ddof=1), len(obs)))
    return pl.DataFrame(
        rows,
        schema=["chromosome", "position", "reference", "mean", "sd", "n"],
        orient="row",
    )


def _read(path) -> pl.DataFrame:
    return pl.read_csv(path, separator="\t", comment_prefix="#")


# --------------------------------------------------------------------------- byte format
def test_write_summary__header_lines_are_exact_bytes(summary_db, tmp_path):
    out = tmp_path / "chr1.summary"
    con = connect(summary_db, read_only=True)
    try:
        result = write_summary(con, "small", "1", out)
    finally:
        con.close()
    assert result == {"path": out, "n_samples": N_SAMPLES, "n_variants": 80, "n_left_out": 0}
    data = out.read_bytes()
    data.decode("ascii")  # pyhegp's files are ASCII
    assert b"\r" not in data and data.endswith(b"\n") and not data.endswith(b"\n\n")
    lines = data.decode().split("\n")
    assert lines[:11] == [
        "# pyhegp summary file version 1",
        f"# number-of-samples {N_SAMPLES}",
        f"# segqtl-version {__version__}",
        "# segqtl-cohort small",
        "# segqtl-chromosome chr1",
        "# segqtl-dosage d",
        "# segqtl-dosage-definition REFlr - ALTlr",
        "# segqtl-standard-deviation sample (denominator n - 1)",
        "# segqtl-number-of-variants 80",
        "# segqtl-variants-left-out 0",
        DATA_HEADER.rstrip("\n"),
    ]
    assert len(lines) == 11 + 80 + 1 and lines[-1] == ""
    for line in lines[11:-1]:
        fields = line.split("\t")
        assert len(fields) == 6 and fields[0] == "chr1" and fields[1].isdigit()
        assert np.isfinite([float(fields[3]), float(fields[4])]).all()
        assert " " not in line and "," not in line


def test_write_summary__chromosome_with_or_without_prefix_is_the_same_file(summary_db, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    api.summary(summary_db, "small", "2", a)
    api.summary(summary_db, "small", "chr2", b)
    assert a.read_bytes() == b.read_bytes()


# --------------------------------------------------------------------------- values
@pytest.mark.parametrize("dosage", ["d", "altlr", "reflr"])
@pytest.mark.parametrize("chrom", ["chr1", "chr2"])
def test_write_summary__values_match_numpy_on_the_input_files(
    summary_db, small_cohort, tmp_path, dosage, chrom
):
    out = tmp_path / "s"
    api.summary(summary_db, "small", chrom, out, dosage=dosage)
    got = _read(out)
    want = _expected(small_cohort, chrom, dosage)
    assert got.columns == DATA_HEADER.rstrip("\n").split("\t")
    assert got["chromosome"].to_list() == want["chromosome"].to_list()
    assert got["position"].to_list() == want["position"].to_list()
    assert got["reference"].to_list() == want["reference"].to_list()
    assert got["number-observed"].to_list() == want["n"].to_list()
    np.testing.assert_allclose(got["mean"], want["mean"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got["standard-deviation"], want["sd"], rtol=1e-12, atol=0)
    header = [line for line in out.read_text().splitlines() if line.startswith("#")]
    assert f"# segqtl-dosage {dosage}" in header


def test_write_summary__missing_genotypes_are_not_counted(summary_db, small_cohort, tmp_path):
    out = tmp_path / "s"
    api.summary(summary_db, "small", "1", out)
    got = _read(out)
    want = _expected(small_cohort, "chr1", "d")
    assert (want["n"] < N_SAMPLES).sum() > 0  # the cohort does have missing genotypes
    assert got["number-observed"].to_list() == want["n"].to_list()
    assert got["number-observed"].max() <= N_SAMPLES


def test_write_summary__numbers_round_trip_at_full_precision(summary_db, tmp_path):
    out = tmp_path / "s"
    api.summary(summary_db, "small", "1", out)
    con = connect(summary_db, read_only=True)
    try:
        exact = con.execute(
            "SELECT list_aggregate(list_transform(list_zip(reflr::DOUBLE[], altlr::DOUBLE[]), "
            "lambda p: p[1] - p[2]), 'stddev_samp') FROM genotypes "
            "WHERE cohort = 'small' AND chr = 'chr1' ORDER BY variant_idx"
        ).fetchall()
    finally:
        con.close()
    assert _read(out)["standard-deviation"].to_list() == [r[0] for r in exact]


def test_write_summary__variants_with_fewer_than_two_values_are_left_out(summary_db, tmp_path):
    db = tmp_path / "wh.duckdb"
    shutil.copy(summary_db, db)
    con = connect(db)
    try:
        table = f"genotypes_{con.execute('SELECT cohort_id FROM cohorts').fetchone()[0]}"
        # variant 3 keeps one observed value, variant 5 none
        for idx, keep in ((3, 1), (5, 0)):
            con.execute(
                f"UPDATE {table} SET altlr = list_transform(altlr::DOUBLE[], "
                f"lambda x, i: CASE WHEN i <= {keep} THEN x END)::DOUBLE[{N_SAMPLES}] "
                f"WHERE chr = 'chr1' AND variant_idx = {idx}"
            )
        gone = con.execute(
            "SELECT pos FROM variants WHERE cohort = 'small' AND chr = 'chr1' "
            "AND variant_idx IN (3, 5) ORDER BY variant_idx"
        ).fetchall()
        result = write_summary(con, "small", "chr1", tmp_path / "s")
    finally:
        con.close()
    assert result["n_variants"] == 78 and result["n_left_out"] == 2
    text = (tmp_path / "s").read_text()
    assert "# segqtl-number-of-variants 78\n# segqtl-variants-left-out 2\n" in text
    positions = _read(tmp_path / "s")["position"].to_list()
    assert len(positions) == 78 and not {p for (p,) in gone} & set(positions)
    assert "nan" not in text.lower() and "\t\t" not in text


# --------------------------------------------------------------------------- pyhegp's reader
def _pyhegp_read_summary(data: bytes):
    """pyhegp's ``read_summary`` (pyhegp/serialization.py), restated for this test."""
    pd = pytest.importorskip("pandas")
    file = io.BytesIO(data)
    first = file.readline().decode("ascii")
    assert first.lstrip("#").lstrip() == "pyhegp summary file version 1\n"
    headers = {}
    while file.read(1) == b"#":
        file.seek(-1, 1)
        line = file.readline().decode("ascii").rstrip("\n").lstrip("#").lstrip()
        key, value = line.split(" ", maxsplit=1)
        headers[key] = value
    file.seek(-1, 1)
    frame = pd.read_csv(
        file,
        sep="\t",
        header=0,
        dtype={
            "chromosome": "str",
            "position": "int",
            "reference": "str",
            "mean": "float",
            "standard-deviation": "float",
        },
        na_filter=False,
        quoting=csv.QUOTE_MINIMAL,
    ).rename(columns={"standard-deviation": "std"})
    return int(headers["number-of-samples"]), headers, frame


def test_write_summary__pyhegp_reader_accepts_it(summary_db, tmp_path):
    out = tmp_path / "s"
    api.summary(summary_db, "small", "2", out, dosage="reflr")
    n, headers, frame = _pyhegp_read_summary(out.read_bytes())
    assert n == N_SAMPLES and headers["segqtl-dosage"] == "reflr"
    ours = _read(out)
    assert frame["position"].tolist() == ours["position"].to_list()
    assert frame["mean"].tolist() == ours["mean"].to_list()
    assert frame["std"].tolist() == ours["standard-deviation"].to_list()
    assert list(frame.columns[:5]) == ["chromosome", "position", "reference", "mean", "std"]


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("cohort", "chrom", "dosage", "needle"),
    [
        ("nope", "1", "d", "cohort 'nope' is not in the warehouse"),
        ("small", "7", "d", "cohort 'small' has no variants on chr7"),
        ("small", "1", "total", "unknown dosage 'total'"),
    ],
)
def test_write_summary__usage_errors(summary_db, tmp_path, cohort, chrom, dosage, needle):
    with pytest.raises(UsageError, match=needle) as info:
        api.summary(summary_db, cohort, chrom, tmp_path / "s", dosage=dosage)
    assert "Fix:" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "s").exists()


def test_write_summary__missing_chromosome_lists_the_cohorts_chromosomes(summary_db, tmp_path):
    with pytest.raises(UsageError, match=r"Fix: use one of its chromosomes \(chr1, chr2\)"):
        api.summary(summary_db, "small", "X", tmp_path / "s")


# --------------------------------------------------------------------------- CLI
def test_cli_summary__writes_the_file_and_prints_its_path(summary_db, tmp_path):
    out = tmp_path / "sub" / "chr2.summary"
    res = CliRunner().invoke(
        cli,
        ["summary", "--db", str(summary_db), "--cohort", "small", "--chromosome", "2",
         "--out", str(out), "--dosage", "altlr"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(out)
    assert out.read_text().startswith("# pyhegp summary file version 1\n# number-of-samples 60\n")
    assert "# segqtl-dosage altlr\n" in out.read_text()


def test_cli_summary__unknown_cohort_is_a_one_line_error(summary_db, tmp_path):
    res = CliRunner().invoke(
        cli,
        ["summary", "--db", str(summary_db), "--cohort", "nope", "--chromosome", "1",
         "--out", str(tmp_path / "s")],
    )  # fmt: skip
    assert res.exit_code == 2
    assert "Fix:" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.output
