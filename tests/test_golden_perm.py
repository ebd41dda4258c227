"""End-to-end: the drop-in reproduces every golden perm case.

Method and tolerances: docs/methods.md#perm-null, #agreement.
"""

from __future__ import annotations

import polars as pl
import pytest
from click.testing import CliRunner

from segqtl.cli import dropin

from .conftest import GOLDEN, dropin_input_args
from .test_golden_nominal import assert_matches_golden, run_dropin

CASES = [
    # (case, chromosome, flags, file name, cores)
    (
        "perm_direct_1000",
        "1",
        ["--perm_method", "direct", "--num_permutations", "1000"],
        "perm_chr1_1000.csv",
        2,
    ),
    (
        "perm_direct_1000",
        "2",
        ["--perm_method", "direct", "--num_permutations", "1000"],
        "perm_chr2_1000.csv",
        1,
    ),
    (
        "perm_beta_1000",
        "1",
        ["--perm_method", "beta", "--num_permutations", "1000"],
        "perm_chr1_1000.csv",
        1,
    ),
    (
        "perm_beta_1000",
        "2",
        ["--perm_method", "beta", "--num_permutations", "1000"],
        "perm_chr2_1000.csv",
        2,
    ),
    ("perm_beta_5000", "1", [], "perm_chr1_5000.csv", 2),  # the defaults: beta, 5000
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "chrom", "flags", "fname", "cores"), CASES, ids=[f"{c[0]}-chr{c[1]}" for c in CASES]
)
def test_dropin__reproduces_golden_perm(tmp_path, case, chrom, flags, fname, cores):
    out = run_dropin(tmp_path, "perm", chrom, flags, cores)
    got = pl.read_csv(out / fname, infer_schema_length=None)
    expected = pl.read_csv(GOLDEN / "expected" / case / fname, infer_schema_length=None)
    assert got.columns == expected.columns
    got_nominal = got.with_columns(pl.lit(None, dtype=pl.Float64).alias("p_adj"))
    assert_matches_golden(got_nominal, expected.with_columns(pl.lit(None).alias("p_adj")))
    a, b = got["p_adj"].to_list(), expected["p_adj"].to_list()
    if "direct" in case:
        assert a == b  # identical: the same permutation stream and counts
    else:
        for x, y in zip(a, b, strict=True):
            assert abs(x - y) <= 1e-4 * abs(y), (x, y)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--all_variants"], "not compatible with --all_variants"),
        (["--perm_method", "other"], "--perm_method is not one of beta, direct (got 'other')"),
        (["--num_permutations", "0"], "--num_permutations must be in [1, 10000000]"),
    ],
)
def test_dropin__perm_bad_options_are_one_line_errors(tmp_path, flags, message):
    args = [
        "--mode",
        "perm",
        "--chromosome",
        "1",
        *dropin_input_args(),
        "--out_dir",
        str(tmp_path / "out"),
        *flags,
    ]
    result = CliRunner().invoke(dropin, args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "segqtl.duckdb").exists()  # rejected before any ingest


def test_dropin__perm_without_copy_number_is_an_error(tmp_path):
    args = [a for a in dropin_input_args()]
    i = args.index("--copynumber")
    del args[i : i + 2]
    result = CliRunner().invoke(
        dropin, ["--mode", "perm", "--chromosome", "1", *args, "--out_dir", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    assert "--mode perm requires --copynumber" in result.stderr
