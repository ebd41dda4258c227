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
from segqtl.kernels.fdr import adjusted_p_threshold, nominal_thresholds, pi0_bootstrap, qvalues
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


def test_fdr_command__all_variants_run_is_refused(small_db):
    run_id = api.run(
        small_db, RunSpec(mode="nominal", cohort="small", chromosomes=["1"], all_variants=True)
    )
    res = CliRunner().invoke(cli, ["fdr", "--db", str(small_db), "--run", str(run_id)])
    assert res.exit_code == 2
    assert "one p-value per phenotype" in res.stderr
