"""End-to-end: the drop-in reproduces the golden finemap cases (docs/methods.md#agreement)."""

from __future__ import annotations

import math

import polars as pl
import pytest

from .conftest import GOLDEN
from .test_golden_nominal import run_dropin

# docs/methods.md#agreement targets: relative 1e-9 (absolute 1e-12 near zero) for these columns ...
FLOAT_COLUMNS = [
    "median_n_obs",
    "mean_d",
    "sd_d",
    "frac_alt_gain",
    "frac_ref_gain",
    "frac_balanced",
    "mean_beta",
    "lambda_selected",
    "lambda_bic",
    "beta_full",
    "beta_full_raw",
    "beta_cnlr",
]
# ... equality (one subsample, 0.005, tolerated on at most 1% of rows) for these ...
COUNT_COLUMNS = ["stability_score", "sign_consistency"]
# ... and identity for these.
EXACT_COLUMNS = [
    "phenotype",
    "variant",
    "n_samples",
    "n_variants",
    "n_obs",
    "chr",
    "effect_interpretation",
]
R2_FLOATS = ["r2_baseline", "r2_baseline_adj", "r2_full", "r2_full_adj", "delta_r2", "delta_r2_adj"]

CASES = [
    # (case, chromosome, extra flags, file suffix, cores)
    ("finemap", "1", ["--compute_r2"], "chr1", 2),
    ("finemap", "2", ["--compute_r2"], "chr2", 1),
    ("finemap_G1_007", "1", ["--compute_r2", "--phenotype_id", "G1_007"], "chr1_G1_007", 1),
]


def _close(a, b, rtol=1e-9, atol=1e-12) -> bool:
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return a is None or (isinstance(a, float) and math.isnan(a))
    return a is not None and abs(a - b) <= max(atol, rtol * abs(b))


def _compare_floats(got: pl.DataFrame, exp: pl.DataFrame, columns) -> None:
    for c in columns:
        for i, (a, b) in enumerate(zip(got[c].to_list(), exp[c].to_list(), strict=True)):
            assert _close(a, b), (c, i, a, b)


def _read(path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema_length=None)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "chrom", "flags", "suffix", "cores"), CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES]
)
def test_dropin__reproduces_golden_finemap(tmp_path, case, chrom, flags, suffix, cores):
    out = run_dropin(tmp_path, "finemap", chrom, flags, cores)
    expected_dir = GOLDEN / "expected" / case

    got, exp = _read(out / f"finemap_{suffix}.csv"), _read(expected_dir / f"finemap_{suffix}.csv")
    assert got.columns == exp.columns
    assert got.height == exp.height
    for c in EXACT_COLUMNS:
        assert got[c].to_list() == exp[c].to_list(), c
    _compare_floats(got, exp, FLOAT_COLUMNS)
    for c in COUNT_COLUMNS:
        off = [
            (a, b)
            for a, b in zip(got[c].to_list(), exp[c].to_list(), strict=True)
            if not (a == b or (a is None and b is None))
        ]
        assert all(
            a is not None and b is not None and abs(a - b) <= 0.005 + 1e-12 for a, b in off
        ), (c, off[:5])
        assert len(off) <= 0.01 * exp.height, (c, len(off))

    name = f"finemap_bootstrap_nonzero_{suffix}.csv"
    got_b, exp_b = _read(out / name), _read(expected_dir / name)
    assert got_b.columns == exp_b.columns
    keys = ["phenotype", "variant", "bootstrap_iteration"]
    assert got_b.select(keys).rows() == exp_b.select(keys).rows()  # same rows, same order
    _compare_floats(got_b, exp_b, ["beta_full"])

    name = f"finemap_r2_{suffix}.csv"
    got_r, exp_r = _read(out / name), _read(expected_dir / name)
    assert got_r.columns == exp_r.columns
    for c in ("phenotype", "n_samples", "r2_variants"):
        assert got_r[c].to_list() == exp_r[c].to_list(), c
    # SegmentQTL writes this integer column as float when it holds a NaN (pandas); compare values
    assert (
        got_r["r2_n_variants"].cast(pl.Float64).to_list()
        == exp_r["r2_n_variants"].cast(pl.Float64).to_list()
    )
    _compare_floats(got_r, exp_r, R2_FLOATS)
