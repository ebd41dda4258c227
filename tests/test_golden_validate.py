"""End-to-end: the drop-in reproduces the golden validate cases (docs/methods.md#agreement)."""

from __future__ import annotations

import math

import polars as pl
import pytest

from .conftest import GOLDEN
from .test_golden_nominal import run_dropin

VAL = GOLDEN / "val"
VAL_ARGS = [
    "--val_genotypes", str(VAL / "genotypes"),
    "--val_quantifications", str(VAL / "quantifications.csv"),
    "--val_covariates", str(VAL / "covariates.csv"),
    "--val_copynumber", str(VAL / "copynumbers.csv"),
    "--val_segmentation", str(VAL / "segments.csv"),
]  # fmt: skip
FINEMAP_DIR = str(GOLDEN / "expected" / "finemap")
# p-values: segqtl takes survival functions where SegmentQTL takes 1 − cdf
# (docs/methods.md#differences)
PVALUES = {"calibration_joint_pval", "rho_genetic_transfer_pval", "rho_genetic_adjustment_pval",
           "pearson_pval", "spearman_pval"}  # fmt: skip

CASES = [
    # (case, chromosome, flags)
    ("validate_refit", "1", ["--save_model_audit"]),
    ("validate_refit", "2", ["--save_model_audit"]),
    ("validate_from_finemap", "1", ["--save_model_audit", "--finemap_results_dir", FINEMAP_DIR]),
    ("validate_from_finemap", "2", ["--save_model_audit", "--finemap_results_dir", FINEMAP_DIR]),
    (
        "validate_frozen_full",
        "1",
        [
            "--finemap_results_dir",
            FINEMAP_DIR,
            "--validation_mode",
            "frozen",
            "--validate_with_bootstrap",
            "--bootstrap_ci",
            "--n_boot_ci",
            "200",
            "--n_permutations",
            "200",
            "--restrict_to_supported_phenotypes",
            "--save_model_audit",
        ],
    ),  # fmt: skip
]


def _same(a, b, column: str) -> bool:
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return a is None or (isinstance(a, float) and math.isnan(a))
    if isinstance(b, str) or isinstance(b, bool):
        return a == b
    if a is None:
        return False
    if column in PVALUES:
        return abs(a - b) <= 1e-12 + 1e-9 * abs(b)
    # the target (docs/methods.md#agreement) is 1e-9 relative; values that are zero up to
    # rounding get an absolute floor
    return abs(a - b) <= max(1e-9 * abs(b), 1e-12)


def _compare(got: pl.DataFrame, exp: pl.DataFrame) -> None:
    assert got.columns == exp.columns
    assert got.height == exp.height
    for c in exp.columns:
        for i, (a, b) in enumerate(zip(got[c].to_list(), exp[c].to_list(), strict=True)):
            assert _same(a, b, c), (c, i, a, b)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "chrom", "flags"), CASES, ids=[f"{c[0]}-chr{c[1]}" for c in CASES]
)
def test_dropin__reproduces_golden_validate(tmp_path, case, chrom, flags):
    out = run_dropin(tmp_path, "validate", chrom, [*VAL_ARGS, *flags], 1)
    for name in ("validate", "validate_residuals", "validate_model"):
        fname = f"{name}_chr{chrom}.csv"
        got = pl.read_csv(out / fname, infer_schema_length=None)
        exp = pl.read_csv(GOLDEN / "expected" / case / fname, infer_schema_length=None)
        _compare(got, exp)
