"""Conditional mode end to end: two planted signals found in order and no third, each round's
statistics against OLS built from the input files, the perm run's checks, resume and export
(docs/methods.md#conditional-analysis)."""

from __future__ import annotations

import csv
from contextlib import closing

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm

from segqtl import api
from segqtl.errors import UsageError
from segqtl.simulate import simulate_cohort
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect

from .conftest import cohort_kwargs

GENE = "G1_004"


def _rows(path, key):
    with open(path) as fh:
        reader = csv.reader(fh)
        header = next(reader)
        return header, {row[header.index(key)]: row for row in reader}


def _plant_two_signals(cohort):
    """Make GENE's expression depend on the d of two of its cis variants (1.0 and 0.7)."""
    q_header, q = _rows(cohort.quantifications, "gene_id")
    samples = q_header[4:]
    start = int(q[GENE][q_header.index("start")])
    a_header, alt = _rows(cohort.genotypes / "chr1_ALTlr.csv", "ID")
    _, ref = _rows(cohort.genotypes / "chr1_REFlr.csv", "ID")
    cis = [v for v in alt if abs(int(v.split(":")[1]) - start) < 600_000]
    first, second = cis[1], cis[-2]
    rng = np.random.default_rng(5)

    def d(v):
        return np.array([float(ref[v][a_header.index(s)]) - float(alt[v][a_header.index(s)])
                         for s in samples])  # fmt: skip

    y = 1.0 * d(first) + 0.7 * d(second) + rng.normal(0, 0.5, len(samples))
    q[GENE] = q[GENE][:4] + [f"{x:.6f}" for x in y]
    with open(cohort.quantifications, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(q_header)
        w.writerows(q.values())
    return first, second, samples


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    out = tmp_path_factory.mktemp("conditional")
    cohort = simulate_cohort(
        out / "cohort", seed=21, n_samples=150, chromosomes=("1",), n_phenotypes=30,
        n_variants=120, chromosome_length=12_000_000, breakpoints_per_sample=0.0,
        causal_fraction=0.2,
    )  # fmt: skip
    first, second, samples = _plant_two_signals(cohort)
    db = out / "wh.duckdb"
    api.ingest(db, "main", **cohort_kwargs(cohort))
    perm = api.run(db, RunSpec(mode="perm", cohort="main", chromosomes=["1"],
                               num_permutations=300, window=600_000))  # fmt: skip
    cond = api.run(db, RunSpec(mode="conditional", cohort="main", chromosomes=["1"],
                               perm_run=perm))  # fmt: skip
    return db, perm, cond, cohort, first, second, samples


def test_conditional_run__finds_both_planted_signals_in_order_and_no_third(planted):
    db, perm, cond, *_, first, second, _ = planted
    found = api.query(
        db, "SELECT rank, variant, kept FROM conditional_results WHERE run_id = $r AND "
        "phenotype = $g ORDER BY rank", {"r": cond, "g": GENE},
    )  # fmt: skip
    assert found.rows() == [(1, first, True), (2, second, True)]
    rounds = api.query(
        db, "SELECT round, pass, signal_rank, passes FROM conditional_rounds WHERE run_id = $r "
        "AND phenotype = $g ORDER BY round", {"r": cond, "g": GENE},
    )  # fmt: skip
    # round 0 (the perm scan), rank-2 search (passes), rank-3 search (fails), two backward.
    assert rounds.rows() == [
        (0, "forward", 1, True), (1, "forward", 2, True), (2, "forward", 3, False),
        (3, "backward", 1, True), (4, "backward", 2, True),
    ]  # fmt: skip


def test_conditional_run__round_zero_is_the_perm_runs_scan(planted):
    db, perm, cond, *_ = planted
    joined = api.query(
        db, "SELECT c.phenotype, c.variant AS cv, p.variant AS pv, c.p_adj AS cp, "
        "p.p_adj AS pp FROM conditional_rounds AS c JOIN perm_results AS p "
        "ON p.phenotype = c.phenotype AND p.run_id = $p WHERE c.run_id = $c AND c.round = 0",
        {"c": cond, "p": perm},
    )  # fmt: skip
    assert joined.height >= 2
    assert (joined["cv"] == joined["pv"]).all()
    np.testing.assert_allclose(joined["cp"], joined["pp"], rtol=1e-12)
    # only the perm run's hits are searched
    hits = api.query(db, "SELECT phenotype FROM qvalues WHERE run_id = $p AND is_hit",
                     {"p": perm})["phenotype"].sort().to_list()  # fmt: skip
    assert sorted(set(joined["phenotype"])) == hits


def test_conditional_run__each_round_equals_ols_with_the_conditioning_variants(planted):
    db, _, cond, cohort, first, second, samples = planted
    rounds = api.query(
        db, "SELECT round, conditioned_on, variant, number_of_samples, beta_d, se_d, "
        "nominal_p FROM conditional_rounds WHERE run_id = $r AND phenotype = $g ORDER BY round",
        {"r": cond, "g": GENE},
    )  # fmt: skip
    _, q = _rows(cohort.quantifications, "gene_id")
    y = np.array([float(x) for x in q[GENE][4:]])
    a_header, alt = _rows(cohort.genotypes / "chr1_ALTlr.csv", "ID")
    _, ref = _rows(cohort.genotypes / "chr1_REFlr.csv", "ID")
    with open(cohort.covariates) as fh:  # header: the samples; rows: name, values
        reader = csv.reader(fh)
        cov_samples = [h for h in next(reader) if h]
        x_cov = np.column_stack(
            [[float(row[-len(cov_samples) :][cov_samples.index(s)]) for s in samples]
             for row in reader]
        )  # fmt: skip

    def sd(v):
        a = np.array([float(alt[v][a_header.index(s)]) for s in samples])
        r = np.array([float(ref[v][a_header.index(s)]) for s in samples])
        return r + a, r - a

    for row in rounds.iter_rows(named=True):
        cols = [np.ones(len(samples)), *sd(row["variant"]), x_cov]
        for v in row["conditioned_on"]:
            cols.extend(sd(v))
        fit = sm.OLS(y, np.column_stack(cols)).fit()
        assert row["number_of_samples"] == len(samples)
        np.testing.assert_allclose(
            [row["beta_d"], row["se_d"], row["nominal_p"]],
            [fit.params[2], fit.bse[2], fit.pvalues[2]], rtol=1e-7,
        )  # fmt: skip


def test_conditional_run__export_and_resume_give_the_same_rows(planted, tmp_path):
    db, perm, cond, *_ = planted
    paths = api.export(db, cond, tmp_path / "export")
    assert [p.name for p in paths] == ["conditional_chr1.csv", "conditional_rounds_chr1.csv"]
    exported = pl.read_csv(tmp_path / "export" / "conditional_chr1.csv")
    assert exported.columns[:3] == ["phenotype", "variant", "rank"]
    before = api.query(db, "SELECT * EXCLUDE (run_id, run_name) FROM conditional_rounds "
                       "WHERE run_id = $r ORDER BY phenotype, round", {"r": cond})  # fmt: skip
    again = api.run(db, RunSpec(mode="conditional", cohort="main", chromosomes=["1"],
                                perm_run=perm, name="again"))  # fmt: skip
    with closing(connect(db)) as con:  # undo half of it, as a kill would have left it
        con.execute("DELETE FROM conditional_stats WHERE run_id = ? AND unit_id = 0", [again])
        con.execute("DELETE FROM conditional_signals WHERE run_id = ? AND unit_id = 0", [again])
        con.execute("UPDATE run_units SET status = 'pending' WHERE run_id = ? AND unit_id = 0",
                    [again])  # fmt: skip
        con.execute("UPDATE runs SET status = 'failed' WHERE run_id = ?", [again])
    api.resume(db, again)
    after = api.query(db, "SELECT * EXCLUDE (run_id, run_name) FROM conditional_rounds "
                      "WHERE run_id = $r ORDER BY phenotype, round", {"r": again})  # fmt: skip
    assert after.equals(before)


def test_conditional_run__refuses_runs_it_cannot_start_from(planted):
    db, perm, cond, *_ = planted
    nominal = api.run(db, RunSpec(mode="nominal", cohort="main", chromosomes=["1"]))
    cases = {
        nominal: "is a nominal run",
        cond: "is a conditional run",
        999: "does not exist",
    }
    for run, message in cases.items():
        with pytest.raises(UsageError, match=message):
            api.run(db, RunSpec(mode="conditional", cohort="main", chromosomes=["1"],
                                perm_run=run))  # fmt: skip
    with pytest.raises(UsageError, match="--perm-run"):
        api.run(db, RunSpec(mode="conditional", cohort="main", chromosomes=["1"]))
    with pytest.raises(UsageError, match="differs from perm run"):
        api.run(db, RunSpec(mode="conditional", cohort="main", chromosomes=["1"],
                            perm_run=perm, window=200_000))  # fmt: skip


def test_condition_on__nominal_pairs_equal_ols_and_perm_equals_the_conditional_round(
    planted, tmp_path
):
    db, perm, cond, cohort, first, second, samples = planted
    ids = tmp_path / "condition.txt"
    ids.write_text(f"# the lead\n{first}\n")
    nominal = api.run(
        db,
        RunSpec(
            mode="nominal",
            cohort="main",
            chromosomes=["1"],
            window=600_000,
            all_variants=GENE,
            condition_on=str(ids),
        ),
    )
    rows = api.query(
        db,
        "SELECT variant, status, beta_d, se_d, nominal_p FROM nominal_results "
        "WHERE run_id = $r ORDER BY variant_idx",
        {"r": nominal},
    )
    by_variant = {r["variant"]: r for r in rows.iter_rows(named=True)}
    assert by_variant[first]["status"] == "singular_design"  # the conditioning variant itself
    rounds = api.query(
        db,
        "SELECT variant, beta_d, se_d, nominal_p FROM conditional_rounds WHERE run_id = $r "
        "AND phenotype = $g AND round = 1",
        {"r": cond, "g": GENE},
    )
    best = rounds.row(0, named=True)  # round 1 conditions on the lead: same model, same numbers
    got = by_variant[best["variant"]]
    np.testing.assert_allclose(
        [got["beta_d"], got["se_d"], got["nominal_p"]],
        [best["beta_d"], best["se_d"], best["nominal_p"]],
        rtol=1e-10,
    )
    conditioned_perm = api.run(
        db,
        RunSpec(
            mode="perm",
            cohort="main",
            chromosomes=["1"],
            num_permutations=300,
            window=600_000,
            condition_on=first,
        ),
    )
    p = api.query(
        db,
        "SELECT variant, p_adj FROM perm_results WHERE run_id = $r AND phenotype = $g",
        {"r": conditioned_perm, "g": GENE},
    )
    r1 = api.query(
        db,
        "SELECT variant, p_adj FROM conditional_rounds WHERE run_id = $r AND "
        "phenotype = $g AND round = 1",
        {"r": cond, "g": GENE},
    )
    assert p["variant"].item() == r1["variant"].item() == second
    np.testing.assert_allclose(p["p_adj"].item(), r1["p_adj"].item(), rtol=1e-12)


def test_condition_on__unknown_variant_and_negative_control_are_refused(planted):
    db, *_ = planted
    with pytest.raises(UsageError, match="'chr1:1:A:C' is not in cohort"):
        api.run(
            db, RunSpec(mode="nominal", cohort="main", chromosomes=["1"], condition_on="chr1:1:A:C")
        )
    with pytest.raises(UsageError, match="conditions cis scans"):
        api.run(
            db,
            RunSpec(
                mode="nominal",
                cohort="main",
                chromosomes=["1"],
                neg_control=True,
                neg_control_chromosome="2",
                condition_on="x",
            ),
        )


def test_conditional_dropin__perm_csvs_give_the_native_runs_signals(planted, tmp_path):
    import subprocess
    import sys

    db, perm, cond, cohort, *_ = planted
    api.export(db, perm, tmp_path / "perm")
    native = api.export(db, cond, tmp_path / "native")
    k = cohort_kwargs(cohort)
    args = ["--mode", "conditional", "--perm_results_dir", str(tmp_path / "perm"),
            "--num_permutations", "300", "--window", "600000", "--chromosome", "1",
            "--genotypes", str(k["genotypes"]), "--quantifications", str(k["quantifications"]),
            "--covariates", str(k["covariates"]), "--copynumber", str(k["copynumber"]),
            "--segmentation", str(k["segmentation"]),
            "--out_dir", str(tmp_path / "dropin")]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "segqtl", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for path in native:
        assert (tmp_path / "dropin" / path.name).read_bytes() == path.read_bytes()
    # a missing B names what the folder holds
    args[args.index("300")] = "301"
    done = subprocess.run([sys.executable, "-m", "segqtl", *args], capture_output=True, text=True)
    assert done.returncode == 2 and "perm_chr1_300.csv" in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("segqtl: error")]
    assert len(errors) == 1 and "Traceback" not in done.stderr


def test_conditional_run__tensorqtl_layout_is_cis_independent(planted, tmp_path):
    from scipy.special import stdtr

    db, perm, cond, *_ = planted
    (path,) = api.export(db, cond, tmp_path, layout="tensorqtl", prefix="study")
    assert path.name == "study.cis_independent_qtl.txt.gz"
    table = pl.read_csv(path, separator="\t")
    assert table.columns == [
        "phenotype_id", "num_var", "beta_shape1", "beta_shape2", "true_df", "pval_true_df",
        "variant_id", "start_distance", "end_distance", "pval_nominal", "slope", "slope_se",
        "pval_perm", "pval_beta", "rank",
    ]  # fmt: skip
    sql = (
        "SELECT phenotype, variant, rank, nominal_p FROM conditional_results "
        "WHERE run_id = $r AND kept ORDER BY phenotype_idx, rank"
    )
    kept = api.query(db, sql, {"r": cond})
    assert table.select("phenotype_id", "variant_id", "rank").rows() == kept.select(
        "phenotype", "variant", "rank").rows()  # fmt: skip
    t = table["slope"].to_numpy() / table["slope_se"].to_numpy()
    np.testing.assert_allclose(2 * stdtr(table["true_df"].to_numpy(), -np.abs(t)),
                               table["pval_nominal"].to_numpy(), rtol=1e-9)  # fmt: skip


def test_condition_on__pair_samples_account_for_the_conditioning_variant(small_db):
    from scipy.special import stdtr

    plain = api.run(small_db, RunSpec(mode="nominal", cohort="small", chromosomes=["1"],
                                      all_variants=True))  # fmt: skip
    # condition on the tested variant with the fewest samples: its gaps and segment bounds
    # then remove samples from the phenotype's other pairs
    lead = api.query(
        small_db, "SELECT phenotype, variant FROM nominal_results WHERE run_id = $r AND "
        "status = 'tested' ORDER BY number_of_samples, variant_idx LIMIT 1", {"r": plain},
    ).row(0)  # fmt: skip
    spec = RunSpec(mode="nominal", cohort="small", chromosomes=["1"], all_variants=True,
                   condition_on=lead[1], name="cond")  # fmt: skip
    run = api.run(small_db, spec)
    view = api.query(
        small_db, "SELECT s.*, r.se_d, r.beta_d, r.nominal_p FROM pair_samples AS s JOIN "
        "nominal_results AS r USING (run_id, chr, phenotype_idx, variant_idx) WHERE "
        "s.run_id = $r AND s.status = 'tested'", {"r": run},
    )  # fmt: skip
    drops = ["n_missing_phenotype", "n_missing_covariate", "n_segment_rule", "n_conditioning",
             "n_missing_genotype"]  # fmt: skip
    total = view["n_samples_total"] - sum(view[c] for c in drops)
    assert (total == view["number_of_samples"]).all() and (view["n_usable"] == total).all()
    conditioned = view.filter(pl.col("phenotype") == lead[0])
    assert conditioned["n_conditioning"].sum() > 0
    assert (conditioned["n_model_columns"] == view["n_model_columns"].min() + 2).all()
    df = (view["number_of_samples"] - view["n_model_columns"]).to_numpy()
    t = (view["beta_d"] / view["se_d"]).to_numpy()
    np.testing.assert_allclose(2 * stdtr(df, -np.abs(t)), view["nominal_p"], rtol=1e-9)
