"""Golden checks of the per-phenotype validate pipeline (docs/methods.md#validate-pipeline).

The inputs are prepared inline (docs/methods.md#inputs, #segment-mask; test-only) for both
cohorts: main from ``tests/data/golden/main``, val from ``tests/data/golden/val`` (see
tests/data/golden/README.md for their provenance).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from segqtl.kernels import finemap
from segqtl.kernels import validate_pipeline as validate

from .conftest import run_params

DEFAULT_OPTIONS = run_params(validate.ValidateOptions, "validate")

GOLDEN = Path(__file__).parent / "data" / "golden"
EXPECTED = GOLDEN / "expected"
VAL_DATA = Path(__file__).parent / "data" / "golden" / "val"


#: p-values the reference computes as 1 − cdf (docs/methods.md#differences): compared with an
#: absolute tolerance.
PVAL_COLUMNS = {
    "calibration_joint_pval",
    "rho_genetic_transfer_pval",
    "rho_genetic_adjustment_pval",
}

_CACHE: dict = {}


def _load(root: Path, chrom: str = "chr1"):
    import pandas as pd  # installed with statsmodels (test extra)

    key = (str(root), chrom)
    if key in _CACHE:
        return _CACHE[key]
    q = pd.read_csv(root / "quantifications.csv", index_col=3)
    q = q[q["chr"] == chrom]
    samples = list(q.columns[3:])
    alt = pd.read_csv(root / "genotypes" / f"{chrom}_ALTlr.csv", index_col="ID")
    ref = pd.read_csv(root / "genotypes" / f"{chrom}_REFlr.csv", index_col="ID")
    cn = pd.read_csv(root / "copynumbers.csv", index_col="gene_id")
    cov = pd.read_csv(root / "covariates.csv")
    cov = cov[[c for c in cov.columns if c in samples]]
    S = [
        s
        for s in samples
        if s in alt.columns and s in ref.columns and s in cov.columns and s in cn.columns
    ]
    seg = pd.read_csv(root / "segments.csv", index_col="sample")
    seg = seg[(seg["chr"] == chrom) & seg.index.isin(S)]
    ref_ids = set(ref.index)
    ids = [v for v in alt.index if v in ref_ids]
    _CACHE[key] = (q, S, alt, ref, cn, cov, seg, ids)
    return _CACHE[key]


def _cohort(root: Path, pheno: str, window: int = 1_000_000):
    """Inputs and preparation of one chr1 phenotype.

    Returns (k, Prepared, window ids, raw blocks, names, samples).
    """
    import pandas as pd

    q, S, alt, ref, cn, cov, seg, ids = _load(root)
    k = list(q.index).index(pheno)
    gs, ge = int(q.iloc[k]["start"]), int(q.iloc[k]["end"])
    pos = np.array([int(v.split(":")[1]) for v in ids])
    win = [v for v, p_ in zip(ids, pos, strict=True) if gs - window <= p_ <= ge + window]
    wpos = np.array([int(v.split(":")[1]) for v in win])
    A = alt.loc[win, S].to_numpy(float)
    R = ref.loc[win, S].to_numpy(float)
    for j, s in enumerate(S):
        rows = seg.loc[[s]] if s in seg.index else seg.iloc[:0]
        hit = rows[(rows["startpos"] <= gs) & (gs <= rows["endpos"])]
        if len(hit) != 1:
            miss = np.ones(len(win), bool)
        else:
            lb, ub = int(hit["startpos"].iloc[0]), int(hit["endpos"].iloc[0])
            miss = np.ones(len(win), bool) if not lb <= ge <= ub else (wpos < lb) | (wpos > ub)
        A[miss, j] = np.nan
        R[miss, j] = np.nan
    y = pd.to_numeric(q.loc[pheno, S], errors="coerce").to_numpy(float)
    blocks = [pd.to_numeric(cn.loc[pheno, S], errors="coerce").to_numpy(float)]
    names = ["CN"]
    for i in range(len(cov)):
        blocks.append(pd.to_numeric(cov.iloc[i][S], errors="coerce").to_numpy(float))
        names.append(str(cov.index[i]))
    prep = finemap.prepare(y, blocks, R - A, has_cn=True)
    raw = np.column_stack([b[prep.good] for b in blocks])
    return k, prep, win, raw, names, S


def _case(pheno: str):
    k, main, main_ids, _, names, _ = _cohort(GOLDEN / "main", pheno)
    _, val, val_ids, val_raw, _, val_S = _cohort(VAL_DATA, pheno)
    return k, main, main_ids, val, val_ids, val_raw, names, val_S


def _finemap_rows(pheno: str) -> validate.FinemapRows:
    import pandas as pd

    fm = pd.read_csv(
        EXPECTED / "finemap" / "finemap_chr1.csv"
    )  # default parser (docs/methods.md#numerical-reproducibility)
    r = fm[fm["phenotype"] == pheno]
    return validate.FinemapRows(
        variant=list(r["variant"]),
        mean_d=r["mean_d"].to_numpy(float),
        sd_d=r["sd_d"].to_numpy(float),
        stability_score=r["stability_score"].to_numpy(float),
        lambda_selected=r["lambda_selected"].to_numpy(float),
        beta_full=r["beta_full"].to_numpy(float),
    )


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    both_nan = np.isnan(a) & np.isnan(b)
    assert np.array_equal(np.isnan(a), np.isnan(b)), (a, b)
    a, b = a[~both_nan], b[~both_nan]
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def _check(res: validate.ValidateResult, case: str, pheno: str, val_S: list[str]):
    import pandas as pd

    exp = pd.read_csv(EXPECTED / case / "validate_chr1.csv")
    row_exp = exp[exp["phenotype"] == pheno].iloc[0]
    row = res.row()
    assert row["validation_mode"] == row_exp["validation_mode"]
    dev = {}
    for c in validate.ROW_COLUMNS:
        if c == "validation_mode":
            continue
        got, want = float(row[c]), float(row_exp[c])
        if c in PVAL_COLUMNS:
            assert np.isnan(got) == np.isnan(want), (c, got, want)
            if not np.isnan(want):
                assert abs(got - want) <= 1e-12, (c, got, want)
            dev[c] = 0.0 if np.isnan(want) else abs(got - want)
            continue
        assert np.isnan(got) == np.isnan(want), (c, got, want)
        if np.isnan(want):
            continue
        if c.startswith("n_"):
            assert got == want, (c, got, want)
        # ~1e-16-sized quantities (mean_bias, calibration intercept, Wald ≈ 1e-29 in
        # recalibrated mode) are rounding noise: compare them absolutely
        d = _rel([got], [want]) if abs(want) > 1e-12 else abs(got - want)
        assert d <= 1e-9 or abs(got - want) <= 1e-13, (c, got, want)
        dev[c] = d
    res_exp = pd.read_csv(EXPECTED / case / "validate_residuals_chr1.csv")
    res_exp = res_exp[res_exp["phenotype"] == pheno]
    assert list(res_exp["sample_id"]) == [val_S[i] for i in res.val_good]
    np.testing.assert_array_equal(res_exp["n_obs_used"].to_numpy(), res.n_obs_used)
    for c, got in (
        ("y", res.y),
        ("y_hat", res.y_hat),
        ("y_hat_base", res.y_hat_base),
        ("residual", res.residual),
        ("residual_base", res.residual_base),
    ):
        want = res_exp[c].to_numpy(float)
        d = np.abs(got - want) / np.maximum(np.abs(want), 1e-12)
        assert np.all((d <= 1e-9) | (np.abs(got - want) <= 1e-13)), c
        dev["res_" + c] = float(d.max())
    return dev


def _check_audit(res: validate.ValidateResult, case: str, pheno: str):
    import pandas as pd

    exp = pd.read_csv(EXPECTED / case / "validate_model_chr1.csv")
    exp = exp[exp["phenotype"] == pheno]
    assert len(exp) == len(res.audit)
    for (block, name, vm, vv, sh), (_, e) in zip(res.audit, exp.iterrows(), strict=True):
        assert (block, name, sh) == (e["block"], e["name"], bool(e["shared_with_val"]))
        for got, want in ((vm, e["value_main"]), (vv, e["value_val"])):
            assert np.isnan(got) == np.isnan(want), (block, name, got, want)
            if not np.isnan(want):
                assert abs(got - want) <= 1e-9 * abs(want) + 1e-13, (block, name, got, want)


PHENOS = ["G1_000", "G1_003", "G1_007", "G1_010", "G1_021"]


@pytest.mark.parametrize("pheno", PHENOS)
def test_validate_refit__golden_chr1(pheno):
    k, main, main_ids, val, val_ids, val_raw, names, val_S = _case(pheno)
    opts = run_params(validate.ValidateOptions, "validate", save_model_audit=True)
    res = validate.validate_phenotype(
        main, main_ids, val, val_ids, k, run_params(finemap.FinemapParams), opts, block_names=names
    )
    assert res.status == validate.SCORED
    dev = _check(res, "validate_refit", pheno, val_S)
    _check_audit(res, "validate_refit", pheno)
    print(pheno, {c: f"{v:.1e}" for c, v in dev.items() if v})


@pytest.mark.parametrize("pheno", ["G1_000", "G1_007"])
def test_validate_from_finemap__golden_chr1(pheno):
    k, main, main_ids, val, val_ids, val_raw, names, val_S = _case(pheno)
    opts = run_params(validate.ValidateOptions, "validate", save_model_audit=True)
    res = validate.validate_phenotype(
        main,
        main_ids,
        val,
        val_ids,
        k,
        run_params(finemap.FinemapParams),
        opts,
        finemap_rows=_finemap_rows(pheno),
        block_names=names,
    )
    _check(res, "validate_from_finemap", pheno, val_S)
    _check_audit(res, "validate_from_finemap", pheno)


@pytest.mark.parametrize("pheno", ["G1_003", "G1_007"])
def test_validate_frozen_full__golden_chr1(pheno):
    k, main, main_ids, val, val_ids, val_raw, names, val_S = _case(pheno)
    opts = run_params(
        validate.ValidateOptions,
        "validate",
        validation_mode=validate.FROZEN,
        validate_with_bootstrap=True,
        bootstrap_ci=True,
        n_boot_ci=200,
        n_permutations=200,
        restrict_to_supported_phenotypes=True,
        save_model_audit=True,
    )
    res = validate.validate_phenotype(
        main,
        main_ids,
        val,
        val_ids,
        k,
        run_params(finemap.FinemapParams),
        opts,
        finemap_rows=_finemap_rows(pheno),
        val_raw_blocks=val_raw,
        block_names=names,
    )
    dev = _check(res, "validate_frozen_full", pheno, val_S)
    _check_audit(res, "validate_frozen_full", pheno)
    print(pheno, {c: f"{v:.1e}" for c, v in dev.items() if v})


def test_validate_frozen_full__unsupported_is_skipped():
    import pandas as pd

    exp = pd.read_csv(EXPECTED / "validate_frozen_full" / "validate_chr1.csv")
    pheno = next(f"G1_{i:03d}" for i in range(40) if f"G1_{i:03d}" not in set(exp["phenotype"]))
    k, main, main_ids, val, val_ids, val_raw, names, _ = _case(pheno)
    opts = run_params(
        validate.ValidateOptions,
        "validate",
        validation_mode=validate.FROZEN,
        validate_with_bootstrap=True,
        restrict_to_supported_phenotypes=True,
    )
    res = validate.validate_phenotype(
        main, main_ids, val, val_ids, k, run_params(finemap.FinemapParams), opts,
        finemap_rows=_finemap_rows(pheno), val_raw_blocks=val_raw,
    )  # fmt: skip
    assert (res.status, res.reason) == (validate.SKIPPED, validate.UNSUPPORTED)


def test_validate_refit__with_stability_mask_matches_csv_pi():
    """Refit + mask without a CSV reruns stability selection: same π as finemap's CSV."""
    pheno = "G1_007"
    k, main, main_ids, val, val_ids, val_raw, names, _ = _case(pheno)
    opts = run_params(validate.ValidateOptions, "validate", validate_with_bootstrap=True)
    res = validate.validate_phenotype(
        main, main_ids, val, val_ids, k, run_params(finemap.FinemapParams), opts
    )
    rows = _finemap_rows(pheno)
    masked = np.where(rows.stability_score < 0.6, 0.0, rows.beta_full)
    np.testing.assert_allclose(res.beta, masked, rtol=1e-12, atol=0)
    assert res.n_variants_stable == np.sum(rows.stability_score >= 0.6)


def test_validate_phenotype__empty_cases():
    k, main, main_ids, val, val_ids, *_ = _case("G1_000")
    params = run_params(finemap.FinemapParams)
    res = validate.validate_phenotype(
        finemap.TOO_FEW_SAMPLES, main_ids, val, val_ids, k, params, DEFAULT_OPTIONS
    )
    assert (res.status, res.reason) == (validate.EMPTY, validate.NOT_PREPARED)
    row = res.row()
    assert row["n_samples_main"] == 0 and row["n_variants_shared"] == 0
    assert np.isnan(row["rmse"]) and np.isnan(row["n_variants_stable"])
    assert row["validation_mode"] == "recalibrated"
    # no shared variant: the val window IDs do not overlap
    res = validate.validate_phenotype(
        main, main_ids, val, [f"x{i}" for i in val_ids], k, params, DEFAULT_OPTIONS
    )
    assert (res.status, res.reason) == (validate.EMPTY, validate.NO_SHARED_VARIANT)
    assert res.y is None
    # a finemap CSV without rows for the phenotype
    none = validate.FinemapRows([], *(np.empty(0),) * 5)
    res = validate.validate_phenotype(
        main, main_ids, val, val_ids, k, params, DEFAULT_OPTIONS, finemap_rows=none
    )
    assert (res.status, res.reason) == (validate.EMPTY, validate.NO_FINEMAP_RESULT)
    # no variant passes the coverage filter (it is checked before the finemap rows)
    sparse = dataclasses.replace(main, d=np.where(np.arange(main.n) < 29, main.d, np.nan))
    res = validate.validate_phenotype(
        sparse, main_ids, val, val_ids, k, params, DEFAULT_OPTIONS, finemap_rows=none
    )
    assert (res.status, res.reason) == (validate.EMPTY, validate.NO_VARIANT_PASSES_COVERAGE)
    assert res.row()["n_samples_main"] == 0


def _former_engine_reason(res, prep_m, params, rows) -> str:
    """segqtl.engine.validate._status before the kernel said why: it re-ran standardise."""
    if res.status == validate.SKIPPED:
        return validate.UNSUPPORTED
    n = prep_m.n
    keep = finemap.standardise(prep_m.d, np.arange(n), max(30, int(params.coverage_tau * n)))[3]
    if not np.any(keep):
        return validate.NO_VARIANT_PASSES_COVERAGE
    if rows is not None and (
        len(rows.variant) == 0 or all(validate._is_missing_id(v) for v in rows.variant)
    ):
        return validate.NO_FINEMAP_RESULT
    return validate.NO_SHARED_VARIANT


@pytest.mark.parametrize("coverage_tau", [0.6, 1.01])
@pytest.mark.parametrize("rows", ["refit", "none", "nan", "csv", "unsupported"])
@pytest.mark.parametrize("shared", [True, False])
def test_validate_phenotype__reason_equals_the_former_engine_derivation(coverage_tau, rows, shared):
    k, main, main_ids, val, val_ids, val_raw, *_ = _case("G1_003")
    params = run_params(finemap.FinemapParams, coverage_tau=coverage_tau, n_lambda=4)
    fm_rows = {
        "refit": None,
        "none": validate.FinemapRows([], *(np.empty(0),) * 5),
        "nan": validate.FinemapRows([np.nan], *(np.array([np.nan]),) * 5),
        "csv": _finemap_rows("G1_003"),
        "unsupported": _finemap_rows("G1_003"),
    }[rows]
    if rows == "unsupported":  # no variant reaches the support threshold
        fm_rows = dataclasses.replace(fm_rows, stability_score=np.zeros(len(fm_rows.variant)))
    opts = run_params(
        validate.ValidateOptions, "validate", restrict_to_supported_phenotypes=rows == "unsupported"
    )
    ids_v = val_ids if shared else [f"x{i}" for i in val_ids]
    res = validate.validate_phenotype(
        main, main_ids, val, ids_v, k, params, opts, finemap_rows=fm_rows
    )
    if res.status == validate.SCORED:
        assert res.reason is None
    else:
        assert res.reason == _former_engine_reason(res, main, params, fm_rows)


def test_validate_phenotype__csv_mismatch_raises():
    k, main, main_ids, val, val_ids, *_ = _case("G1_000")
    rows = _finemap_rows("G1_000")
    cols = (rows.mean_d, rows.sd_d, rows.stability_score, rows.lambda_selected, rows.beta_full)
    bad = validate.FinemapRows(rows.variant[::-1], *(a[::-1] for a in cols))
    with pytest.raises(RuntimeError):
        validate.validate_phenotype(
            main,
            main_ids,
            val,
            val_ids,
            k,
            run_params(finemap.FinemapParams),
            DEFAULT_OPTIONS,
            finemap_rows=bad,
        )
