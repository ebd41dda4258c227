"""segqtl signif and the significant_pairs view, against a direct computation from the
definitions (tensorQTL's get_significant_pairs) on the raw stored p-values and Beta shapes."""

from __future__ import annotations

import io
import shutil
from contextlib import closing

import duckdb
import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from scipy import stats

from segqtl import api
from segqtl.cli import cli
from segqtl.errors import UsageError
from segqtl.spec import RunSpec
from segqtl.warehouse import runs as _runs
from segqtl.warehouse.db import connect

from .conftest import cohort_kwargs

FDR = 0.2  # 24 phenotypes: a level at which some, not all, are eGenes


@pytest.fixture(scope="module")
def wh(tmp_path_factory, small_cohort):
    db = tmp_path_factory.mktemp("signif") / "wh.duckdb"
    api.ingest(db, "small", **cohort_kwargs(small_cohort))
    api.ingest(db, "other", **cohort_kwargs(small_cohort))

    def run(**kw):
        kw.setdefault("cohort", "small")
        kw.setdefault("chromosomes", ["1", "2"])
        return api.run(db, RunSpec(**kw), progress=False)

    ids = {
        "perm": run(mode="perm", num_permutations=200),
        "all": run(mode="nominal", all_variants=True),
        "best": run(mode="nominal"),
        "all_500k": run(mode="nominal", all_variants=True, window=500_000),
        "all_chr1": run(mode="nominal", all_variants=True, chromosomes=["1"]),
        "all_other": run(mode="nominal", all_variants=True, cohort="other"),
        "perm_direct": run(mode="perm", num_permutations=50, perm_method="direct"),
    }
    with closing(connect(db)) as con:  # recorded, never executed: stays 'running'
        ids["running"] = _runs.create_run(
            con, RunSpec(mode="nominal", cohort="small", chromosomes=["1", "2"], all_variants=True)
        )
    return db, ids


def _sql(db, text, params=None) -> pl.DataFrame:
    with closing(duckdb.connect(str(db), read_only=True)) as con:
        return con.sql(text, params=params or {}).pl()


def _direct(db, perm_run, nominal_run, fdr) -> pl.DataFrame:
    """The significant pairs from the definitions, reading the stored raw values."""
    a = _sql(
        db,
        "SELECT s.chr, s.phenotype_idx, s.p_adj, s.beta_shape1, s.beta_shape2, q.qvalue "
        "FROM nominal_stats s JOIN qvalue_stats q USING (run_id, chr, phenotype_idx) "
        "WHERE s.run_id = $r",
        {"r": perm_run},
    )
    p, q = a["p_adj"].to_numpy(), a["qvalue"].to_numpy()
    hit = q <= fdr
    assert 0 < hit.sum() < len(q)
    # tensorQTL: midway between the largest hit's and the smallest non-hit's adjusted p
    p_t = (p[hit].max() + p[~hit].min()) / 2
    thr = stats.beta.ppf(p_t, a["beta_shape1"].to_numpy(), a["beta_shape2"].to_numpy())
    genes = a.with_columns(pl.Series("thr", thr), pl.Series("hit", hit)).filter("hit")
    b = _sql(
        db,
        "SELECT chr, phenotype_idx, variant_idx, nominal_p FROM nominal_stats "
        "WHERE run_id = $r AND status = 0",
        {"r": nominal_run},
    )
    return (
        b.join(genes.select("chr", "phenotype_idx", "thr", "qvalue"), on=["chr", "phenotype_idx"])
        .filter(pl.col("nominal_p") <= pl.col("thr"))
        .sort("chr", "phenotype_idx", "variant_idx")
    )


def _invoke(db, *args):
    return CliRunner().invoke(cli, ["signif", "--db", str(db), *map(str, args)])


def test_signif__pairs_equal_the_direct_computation_in_csv_and_view(wh, tmp_path):
    db, ids = wh
    want = _direct(db, ids["perm"], ids["all"], FDR)
    assert want.height > 0
    res = _invoke(db, "--perm-run", ids["perm"], "--nominal-run", ids["all"], "--fdr", FDR)
    assert res.exit_code == 0, res.output
    got = pl.read_csv(io.StringIO(res.stdout))
    assert got.columns[:2] == ["phenotype", "variant"]
    assert got.height == want.height
    np.testing.assert_array_equal(got["pval_nominal"].to_numpy(), want["nominal_p"].to_numpy())
    np.testing.assert_allclose(
        got["pval_nominal_threshold"].to_numpy(), want["thr"].to_numpy(), rtol=1e-12
    )
    assert (got["pval_nominal"] <= got["pval_nominal_threshold"]).all()
    # the same rows through SQL, named by the request printed on stderr
    signif_id = int(res.stderr.split("signif_id = ")[1].split()[0])
    view = _sql(
        db,
        "SELECT chr, phenotype_idx, variant_idx, phenotype, variant, pval_nominal, qvalue "
        "FROM significant_pairs WHERE signif_id = $s ORDER BY chr, phenotype_idx, variant_idx",
        {"s": signif_id},
    )
    assert view.select("chr", "phenotype_idx", "variant_idx").equals(
        want.select("chr", "phenotype_idx", "variant_idx")
    )
    assert view["variant"].to_list() == got["variant"].to_list()
    np.testing.assert_array_equal(view["qvalue"].to_numpy(), want["qvalue"].to_numpy())
    request = _sql(db, "SELECT * FROM signif_requests WHERE signif_id = $s", {"s": signif_id})
    n_genes = want.select("chr", "phenotype_idx").n_unique()  # eGenes with a pair
    assert request["n_pairs"][0] == want.height
    assert request["n_phenotypes"][0] >= n_genes > 0
    # --out: the same CSV, written whole, no temporary file left
    out = tmp_path / "pairs.csv"
    res = _invoke(db, "--perm-run", ids["perm"], "--nominal-run", ids["all"], "--fdr", FDR,
                  "--out", out)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    assert pl.read_csv(out).equals(got)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.csv"]


def test_signif__default_fdr_uses_the_stored_thresholds_of_the_perm_run(wh):
    # At the run's own level (0.05) the thresholds are the perm run's pval_nominal_threshold.
    db, ids = wh
    summary = api.signif(db, ids["perm"], ids["all"])
    stored = _sql(
        db,
        "SELECT chr, phenotype_idx, pval_nominal_threshold AS thr FROM qvalues "
        "WHERE run_id = $r AND is_hit ORDER BY chr, phenotype_idx",
        {"r": ids["perm"]},
    )
    mine = _sql(
        db,
        "SELECT chr, phenotype_idx, pval_nominal_threshold AS thr FROM signif_thresholds "
        "WHERE signif_id = $s ORDER BY chr, phenotype_idx",
        {"s": summary["signif_id"]},
    )
    assert summary["n_phenotypes"] == stored.height == mine.height
    np.testing.assert_allclose(mine["thr"].to_numpy(), stored["thr"].to_numpy(), rtol=1e-12)
    text = pl.read_csv(io.StringIO(summary["csv"])) if summary["csv"].strip() else None
    assert (0 if text is None else text.height) == summary["n_pairs"]


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "message"),
    [
        ("all", "all", {}, "is a nominal run; the phenotypes and their thresholds"),
        ("perm_direct", "all", {}, "--perm-method direct: no Beta fit"),
        ("perm", "best", {}, "without --all-variants"),
        ("perm", "perm", {}, "without --all-variants"),
        ("perm", "all_500k", {}, "differ in --window"),
        ("perm", "all_chr1", {}, "lacks chromosome(s) chr2"),
        ("perm", "all_other", {}, "analyse cohorts 'small' and 'other'"),
        ("perm", "running", {}, "is running, not completed"),
        ("perm", 999, {}, "run 999 does not exist"),
        ("perm", "all", {"level": 1.5}, "--fdr must be between 0 and 1"),
    ],
)
def test_signif__refuses_mismatched_runs_in_one_line(wh, a, b, kwargs, message):
    db, ids = wh
    before = _sql(db, "SELECT count(*) AS n FROM signif_requests")["n"][0]
    with pytest.raises(UsageError) as err:
        api.signif(db, ids.get(a, a), ids.get(b, b), **kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)
    res = _invoke(db, "--perm-run", ids.get(a, a), "--nominal-run", ids.get(b, b),
                  "--fdr", kwargs.get("level", 0.05))  # fmt: skip
    assert res.exit_code == 2 and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1 and message in res.stderr
    assert _sql(db, "SELECT count(*) AS n FROM signif_requests")["n"][0] == before


def test_signif__nominal_p_values_other_than_the_perm_scans_are_refused(wh, tmp_path):
    # A cohort whose copy number is missing in some samples: perm's scan leaves them out,
    # nominal's keeps them, so the nominal run's p-values differ.  Simulated by changing the
    # stored p-value of one significant phenotype's lead pair in a copy of the warehouse.
    db, ids = wh
    copy = tmp_path / "copy.duckdb"
    shutil.copy(db, copy)
    lead = _sql(
        copy,
        "SELECT q.chr, q.phenotype_idx, s.variant_idx FROM qvalue_stats q "
        "JOIN nominal_stats s USING (run_id, chr, phenotype_idx) "
        "WHERE q.run_id = $r AND q.qvalue <= $f ORDER BY q.chr, q.phenotype_idx LIMIT 1",
        {"r": ids["perm"], "f": FDR},
    ).row(0)
    with closing(duckdb.connect(str(copy))) as con:
        con.execute(
            "UPDATE nominal_stats SET number_of_samples = number_of_samples - 3, "
            "nominal_p = nominal_p * 1.5 "
            "WHERE run_id = ? AND chr = ? AND phenotype_idx = ? AND variant_idx = ?",
            [ids["all"], *lead],
        )
    before = _sql(copy, "SELECT count(*) AS n FROM signif_thresholds")["n"][0]
    with pytest.raises(UsageError, match="does not reproduce perm run") as err:
        api.signif(copy, ids["perm"], ids["all"], FDR)
    assert "copy number" in str(err.value) and "\n" not in str(err.value)
    assert _sql(copy, "SELECT count(*) AS n FROM signif_thresholds")["n"][0] == before
