"""End-to-end: the SegmentQTL drop-in reproduces every golden nominal case.

Tolerances: docs/methods.md#agreement.
"""

from __future__ import annotations

import math

import polars as pl
import pytest
from click.testing import CliRunner

from segqtl.cli import dropin

from .conftest import GOLDEN, dropin_input_args

INT_COLUMNS = ["number_of_samples"]
FLOAT_COLUMNS = [
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
]

CASES = [
    # (case, chromosome, extra flags, file name, cores)
    ("nominal", "1", [], "nominal_chr1.csv", 1),
    ("nominal", "2", [], "nominal_chr2.csv", 2),
    ("nominal_all_variants", "1", ["--all_variants"], "nominal_chr1.csv", 2),
    ("nominal_all_variants", "2", ["--all_variants"], "nominal_chr2.csv", 1),
    (
        "nominal_all_variants_G1_007",
        "1",
        ["--all_variants", "G1_007"],
        "G1_007_nominal_chr1.csv",
        1,
    ),
    ("nominal_record_aic", "1", ["--record_aic"], "nominal_chr1.csv", 1),
    ("nominal_neg_control", "1", ["--neg_control"], "negctrl_trans_nominal_chr1.csv", 1),
]


def assert_matches_golden(got: pl.DataFrame, expected: pl.DataFrame) -> dict[str, float]:
    """Same rows in the same order, equal integers, floats within docs/methods.md#agreement.

    Returns the largest relative differences.
    """
    assert got.height == expected.height
    assert got["phenotype"].to_list() == expected["phenotype"].to_list()
    assert got["variant"].to_list() == expected["variant"].to_list()
    assert got["chr"].to_list() == expected["chr"].to_list()
    for c in INT_COLUMNS:
        assert got[c].to_list() == expected[c].to_list(), c
    worst = {}
    for c in FLOAT_COLUMNS:
        if c not in expected.columns:
            assert c not in got.columns, f"unexpected column {c}"
            continue
        worst[c] = 0.0
        for a, b in zip(got[c].to_list(), expected[c].to_list(), strict=True):
            if b is None or (isinstance(b, float) and math.isnan(b)):
                assert a is None or math.isnan(a), (c, a, b)
                continue
            diff = abs(a - b)
            assert diff <= 1e-12 or diff <= 1e-8 * abs(b), (c, a, b)
            worst[c] = max(worst[c], diff / abs(b) if b else diff)
    if "p_adj" in expected.columns:
        assert got["p_adj"].null_count() == got.height
    return worst


def run_dropin(tmp_path, mode: str, chrom: str, flags: list[str], cores: int):
    """Run the drop-in on the golden inputs; returns the output folder."""
    out = tmp_path / "out"
    args = [
        "--mode",
        mode,
        "--chromosome",
        chrom,
        *dropin_input_args(),
        "--out_dir",
        str(out),
        "--num_cores",
        str(cores),
        *flags,
    ]
    result = CliRunner().invoke(dropin, args)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "chrom", "flags", "fname", "cores"), CASES, ids=[f"{c[0]}-chr{c[1]}" for c in CASES]
)
def test_dropin__reproduces_golden_nominal(tmp_path, case, chrom, flags, fname, cores):
    out = run_dropin(tmp_path, "nominal", chrom, flags, cores)
    assert (out / fname).exists()
    assert (out / "segqtl.duckdb").exists()
    got = pl.read_csv(out / fname, infer_schema_length=None)
    expected = pl.read_csv(GOLDEN / "expected" / case / fname, infer_schema_length=None)
    # SegmentQTL's nominal files have no p_adj column; segqtl always writes it (empty).
    assert got.columns == [c for c in got.columns if c in expected.columns or c == "p_adj"]
    assert [c for c in got.columns if c != "p_adj"] == [c for c in expected.columns if c != "p_adj"]
    assert_matches_golden(got, expected)


def test_dropin__reuses_cohort_with_identical_checksums(tmp_path):
    out = tmp_path / "out"
    base = ["--mode", "nominal", *dropin_input_args(), "--out_dir", str(out)]
    first = CliRunner().invoke(dropin, [*base, "--chromosome", "1"])
    assert first.exit_code == 0, first.output
    assert "ingested cohort" in first.output
    second = CliRunner().invoke(dropin, [*base, "--chromosome", "2"])
    assert second.exit_code == 0, second.output
    assert "reusing cohort" in second.output
    from segqtl.warehouse.db import connect

    con = connect(out / "segqtl.duckdb", read_only=True)
    assert con.execute("SELECT count(*) FROM cohorts").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM runs WHERE status = 'completed'").fetchone()[0] == 2
    con.close()
