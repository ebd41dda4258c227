"""Storey q-values, pi0, thresholds, and the fdr command."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from segqtl import api
from segqtl.cli import cli
from segqtl.kernels.fdr import (
    adjusted_p_threshold,
    nominal_thresholds,
    pi0_bh,
    pi0_bootstrap,
    pi0_estimate,
    qvalues,
)
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect


def test_qvalues__hand_worked():
    np.testing.assert_allclose(qvalues([0.001, 0.5, 0.9], pi0=1.0), [0.003, 0.75, 0.9])
    np.testing.assert_allclose(qvalues([0.05, 0.01, 0.04, 0.02, 0.03], pi0=1.0), [0.05] * 5)
    np.testing.assert_allclose(qvalues([0.001, 0.5, 0.9], pi0=0.5), [0.0015, 0.375, 0.45])
    q = qvalues([0.2, np.nan, 0.1], pi0=1.0)
    assert np.isnan(q[1]) and q[0] == 0.2 and q[2] == 0.2


def test_pi0_bootstrap__uniform_and_mixture():
    rng = np.random.default_rng(0)
    assert pi0_bootstrap(rng.uniform(size=5000)) == pytest.approx(1.0, abs=0.05)
    mixed = np.concatenate([rng.uniform(size=2500), rng.beta(0.1, 20, size=2500)])
    assert pi0_bootstrap(mixed) == pytest.approx(0.5, abs=0.06)


@given(st.lists(st.floats(1e-12, 1.0), min_size=1, max_size=200))
@settings(max_examples=50, deadline=None)
def test_qvalues__properties(p):
    p = np.array(p)
    pi0 = pi0_bootstrap(p)
    q = qvalues(p, pi0)
    assert 0 < pi0 <= 1
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(q[order]) >= -1e-15)  # monotone in p
    assert np.all(q >= p * pi0 - 1e-15)
    assert np.all(q <= 1)


def test_adjusted_p_threshold__midway_and_beta_quantiles():
    p = np.array([0.001, 0.002, 0.2, 0.5])
    q = np.array([0.004, 0.004, 0.27, 0.5])
    assert adjusted_p_threshold(p, q, 0.05) == pytest.approx(0.101)
    assert np.isnan(adjusted_p_threshold(p, q, 0.001))
    assert adjusted_p_threshold(p, q, 0.9) == 0.5
    got = nominal_thresholds(0.101, np.array([1.0, 0.8]), np.array([30.0, 50.0]))
    np.testing.assert_allclose(got, stats.beta.ppf(0.101, [1.0, 0.8], [30.0, 50.0]))


def test_fdr_command__stores_qvalues_and_writes_csv(small_db, tmp_path):
    run_id = api.run(
        small_db,
        RunSpec(
            mode="perm",
            cohort="small",
            chromosomes=["1", "2"],
            num_permutations=100,
            perm_method="beta",
        ),
    )
    con = connect(small_db, read_only=True)
    auto = con.execute("SELECT fdr, n_tests FROM run_fdr WHERE run_id = ?", [run_id]).fetchall()
    con.close()
    assert auto == [(0.05, 24)]  # computed when the perm run finished
    out = tmp_path / "q.csv"
    res = CliRunner().invoke(
        cli, ["fdr", "--db", str(small_db), "--run", str(run_id), "--fdr", "0.2", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    header, values = res.stdout.strip().splitlines()
    summary = dict(zip(header.split("\t"), values.split("\t"), strict=True))
    assert summary["fdr"] == "0.2" and summary["n_tests"] == "24"
    con = connect(small_db, read_only=True)
    q = con.sql(f"SELECT * FROM qvalues WHERE run_id = {run_id}").pl()
    fdr_rows = con.execute("SELECT fdr FROM run_fdr WHERE run_id = ?", [run_id]).fetchall()
    p_adj = con.sql(
        f"SELECT chr, phenotype_idx, p_adj FROM perm_results WHERE run_id = {run_id}"
        " ORDER BY chr, phenotype_idx"
    ).pl()
    con.close()
    assert fdr_rows == [(0.2,)]  # replaced, not duplicated
    assert q.height == 24
    q = q.sort("chr", "phenotype_idx")
    np.testing.assert_allclose(q["p_value"].to_numpy(), p_adj["p_adj"].to_numpy())
    np.testing.assert_allclose(q["qvalue"].to_numpy(), qvalues(p_adj["p_adj"].to_numpy()))
    assert (q["is_hit"] == (q["qvalue"] <= 0.2)).all()
    csv = pl.read_csv(out)
    assert csv.columns == [
        "phenotype",
        "variant",
        "chr",
        "p_value",
        "qvalue",
        "pval_nominal_threshold",
        "is_hit",
    ]
    assert csv.height == 24


def _stored_pairs(db, run_id) -> pl.DataFrame:
    """The run's tested pairs straight from nominal_stats (status tested, with a p-value)."""
    con = connect(db, read_only=True)
    try:
        return con.sql(
            "SELECT chr, phenotype_idx, variant_idx, nominal_p FROM nominal_stats "
            f"WHERE run_id = {int(run_id)} AND status = 0 AND variant_idx IS NOT NULL "
            "AND nominal_p IS NOT NULL ORDER BY chr, phenotype_idx, variant_idx"
        ).pl()
    finally:
        con.close()


def _pair_q(db, run_id) -> pl.DataFrame:
    con = connect(db, read_only=True)
    try:
        return con.sql(
            f"SELECT * FROM pair_qvalues WHERE run_id = {int(run_id)} "
            "ORDER BY chr, phenotype_idx, variant_idx"
        ).pl()
    finally:
        con.close()


def _summary(res) -> dict:
    header, values = res.stdout.strip().splitlines()
    return dict(zip(header.split("\t"), values.split("\t"), strict=True))


def test_fdr_command__all_variants_run_gets_pair_qvalues_storey_bh_and_fixed_lambda(small_db):
    run_id = api.run(
        small_db, RunSpec(mode="nominal", cohort="small", chromosomes=["1", "2"], all_variants=True)
    )
    pairs = _stored_pairs(small_db, run_id)
    p = pairs["nominal_p"].to_numpy()
    assert p.size > 500
    args = ["fdr", "--db", str(small_db), "--run", str(run_id)]

    # Storey, pi0 by the bootstrap: the kernel over the raw stored p-values
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    summary = _summary(res)
    pi0 = pi0_bootstrap(p)
    assert (summary["scope"], summary["method"], summary["pi0_method"]) == (
        "pair",
        "storey",
        "bootstrap",
    )
    assert float(summary["pi0"]) == pytest.approx(pi0, rel=1e-12)
    assert summary["p_threshold"] == "NA" and "None" not in res.stdout
    q = _pair_q(small_db, run_id)
    assert q.height == p.size
    assert q.select("chr", "phenotype_idx", "variant_idx").equals(
        pairs.select("chr", "phenotype_idx", "variant_idx")
    )
    np.testing.assert_array_equal(q["p_value"].to_numpy(), p)
    np.testing.assert_allclose(q["qvalue"].to_numpy(), qvalues(p, pi0), rtol=1e-12)
    assert int(summary["n_tests"]) == p.size
    assert int(summary["n_hits"]) == int(np.sum(qvalues(p, pi0) <= 0.05)) == q["is_hit"].sum()

    # Benjamini-Hochberg: statsmodels' fdr_bh; --out writes the pair q-values
    from statsmodels.stats.multitest import multipletests

    out = small_db.parent / "pairs_q.csv"
    res = CliRunner().invoke(cli, [*args, "--method", "bh", "--fdr", "0.1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = _summary(res)
    assert (summary["method"], summary["pi0"], summary["pi0_lambda"]) == ("bh", "1.0", "NA")
    assert summary["pi0_unstable"] == "NA"
    reject, bh, _, _ = multipletests(p, alpha=0.1, method="fdr_bh")
    q = _pair_q(small_db, run_id)
    assert q.height == p.size  # replaced, not added
    np.testing.assert_allclose(q["qvalue"].to_numpy(), bh, rtol=1e-12)
    assert int(summary["n_hits"]) == int(reject.sum()) and (q["is_hit"] == reject).all()
    csv = pl.read_csv(out)
    assert csv.columns == ["phenotype", "variant", "chr", "p_value", "qvalue", "is_hit"]
    np.testing.assert_allclose(csv["qvalue"].to_numpy(), bh, rtol=1e-12)

    # A fixed lambda: pi0 = #{p >= lambda} / ((1 - lambda) m)
    res = CliRunner().invoke(cli, [*args, "--qvalue-lambda", "0.5"])
    assert res.exit_code == 0, res.output
    summary = _summary(res)
    fixed = min(1.0, np.mean(p >= 0.5) / 0.5)
    assert summary["pi0_method"] == "fixed" and float(summary["pi0_lambda"]) == 0.5
    assert float(summary["pi0"]) == pytest.approx(fixed, rel=1e-12)
    np.testing.assert_allclose(_pair_q(small_db, run_id)["qvalue"], qvalues(p, fixed), rtol=1e-12)
    con = connect(small_db, read_only=True)
    stored = con.execute(
        "SELECT scope, method, pi0_method, pi0_lambda, pi0_unstable, n_tests FROM run_fdr "
        "WHERE run_id = ?",
        [run_id],
    ).fetchall()
    con.close()
    assert stored == [("pair", "storey", "fixed", 0.5, summary["pi0_unstable"] == "true", p.size)]


def test_fdr_command__best_variant_nominal_run_is_refused_in_one_line(small_db):
    run_id = api.run(small_db, RunSpec(mode="nominal", cohort="small", chromosomes=["1"]))
    res = CliRunner().invoke(cli, ["fdr", "--db", str(small_db), "--run", str(run_id)])
    assert res.exit_code == 2 and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1
    assert "not corrected for how many were tested" in res.stderr
    assert "perm run" in res.stderr and "--all-variants" in res.stderr
    con = connect(small_db, read_only=True)
    assert con.execute("SELECT count(*) FROM run_fdr").fetchall() == [(0,)]
    con.close()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--method", "bh", "--qvalue-lambda", "0.5"], "--qvalue-lambda sets Storey's pi0"),
        (["--qvalue-lambda", "1"], "--qvalue-lambda must be in [0, 1)"),
        (["--qvalue-lambda", "-0.1"], "--qvalue-lambda must be in [0, 1)"),
        (["--fdr", "1.5"], "--fdr must be between 0 and 1"),
    ],
)
def test_fdr_command__bad_options_are_one_line(small_db, flags, message):
    res = CliRunner().invoke(cli, ["fdr", "--db", str(small_db), "--run", "1", *flags])
    assert res.exit_code == 2
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_pi0_estimate__fixed_lambda_and_the_unstable_rule():
    rng = np.random.default_rng(3)
    p = rng.uniform(size=1000)
    est = pi0_estimate(p, 0.4)
    assert est.method == "fixed" and est.lam == 0.4
    assert est.pi0 == pytest.approx(min(1.0, np.mean(p >= 0.4) / 0.6), rel=1e-12)
    w = np.sum(p >= 0.4)
    assert est.se == pytest.approx(np.sqrt(w * (1 - w / 1000)) / (1000 * 0.6), rel=1e-12)
    assert est.unstable is False and est.reason() is None
    few = pi0_estimate(p[:60])  # fewer than 100 p-values
    assert few.method == "bootstrap" and few.unstable and "only 60 p-values" in few.reason()
    # many p-values but lambda near 1: few above it, a large standard error
    wide = pi0_estimate(p[:400], 0.95)
    assert wide.se > 0.05 and wide.unstable and "standard error" in wide.reason()
    # the bootstrap's pi0 is the one pi0_bootstrap returns (golden numbers unchanged)
    mixed = np.concatenate([rng.uniform(size=300), rng.beta(0.1, 20, size=300)])
    assert pi0_estimate(mixed).pi0 == pi0_bootstrap(mixed)
    bh = pi0_bh(10)
    assert (bh.pi0, bh.method, bh.lam, bh.unstable) == (1.0, "bh", None, None)


def test_perm_run__closing_line_and_stored_pi0_report_the_unstable_estimate(small_db, tmp_path):
    res = CliRunner().invoke(
        cli,
        [
            "run", "--db", str(small_db), "--cohort", "small", "--mode", "perm",
            "--chromosome", "1", "--chromosome", "2", "--num-permutations", "50",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    run_id = int(res.stdout.strip())
    con = connect(small_db, read_only=True)
    p = con.execute(
        "SELECT p_adj FROM perm_results WHERE run_id = ? AND p_adj IS NOT NULL", [run_id]
    ).fetchall()
    row = con.execute(
        "SELECT fdr, method, scope, pi0, pi0_method, pi0_unstable, n_hits FROM run_fdr "
        "WHERE run_id = ?",
        [run_id],
    ).fetchall()
    con.close()
    p = np.array([r[0] for r in p])
    pi0 = pi0_bootstrap(p)
    hits = int(np.sum(qvalues(p, pi0) <= 0.05))
    # 24 phenotypes: fewer than 100 p-values, so the estimate is flagged
    assert row == [(0.05, "storey", "phenotype", pytest.approx(pi0), "bootstrap", True, hits)]
    closing = [line for line in res.stderr.splitlines() if "completed" in line][-1]
    assert f"pi0 {pi0:.4g} (unstable), {hits} eGenes at FDR 0.05" in closing
    # segqtl fdr prints the flag and says what to do
    res = CliRunner().invoke(cli, ["fdr", "--db", str(small_db), "--run", str(run_id)])
    assert res.exit_code == 0, res.output
    assert _summary(res)["pi0_unstable"] == "true"
    assert "unstable: only 24 p-values" in res.stderr and "--qvalue-lambda" in res.stderr
