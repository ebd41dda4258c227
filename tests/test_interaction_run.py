"""Interaction mode end to end: wiring, statistics from the input files, gene-level columns,
errors, resume and the drop-in's spelling (docs/methods.md#interaction-model)."""

from __future__ import annotations

import csv
import json
import math
from contextlib import closing

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from click.testing import CliRunner

from segqtl import api
from segqtl.cli import cli
from segqtl.errors import InputError, UsageError
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect

from .conftest import cohort_kwargs


def _samples(cohort) -> list[str]:
    with open(cohort.quantifications) as fh:
        header = next(csv.reader(fh))
    return [h for h in header if h not in ("gene_id", "chr", "start", "end")]


def _write_term(path, samples, seed=3, drop=4):
    rng = np.random.default_rng(seed)
    values = {s: float(rng.uniform(0.2, 0.9)) for s in samples[drop:]}
    with open(path, "w") as fh:
        fh.write("sample,purity\n")
        for s, v in values.items():
            fh.write(f"{s},{v!r}\n")
    return values


def _csv_matrix(path, key):
    frame = pl.read_csv(path, infer_schema_length=0)
    return {row[key]: row for row in frame.iter_rows(named=True)}


def _num(x):
    return math.nan if x in (None, "", "NA") else float(x)


def _reference_pair(cohort, samples, term, gene, variant, chrom, window=1_000_000):
    """The interaction model for one pair, built from the input CSVs (docs/methods.md)."""
    q = _csv_matrix(cohort.quantifications, "gene_id")[gene]
    start, end = int(q["start"]), int(q["end"])
    y = np.array([_num(q[s]) for s in samples])
    with open(cohort.covariates) as fh:  # header: the samples; rows: name, values
        reader = csv.reader(fh)
        cov_samples = [h for h in next(reader) if h]
        cov_rows = [dict(zip(cov_samples, row[-len(cov_samples) :], strict=True)) for row in reader]
    covs = [np.array([_num(r[s]) for s in samples]) for r in cov_rows]
    cn = _csv_matrix(cohort.copynumber, "gene_id").get(gene)
    if cn is not None:  # the interaction model adjusts for the phenotype's copy number
        covs.insert(0, np.array([_num(cn[s]) for s in samples]))
    if cohort.phenotype_covariate is not None:
        pc = _csv_matrix(cohort.phenotype_covariate, "gene_id").get(gene)
        covs.insert(0, np.array([_num(pc[s]) if pc else math.nan for s in samples]))
    alt = _csv_matrix(f"{cohort.genotypes}/{chrom}_ALTlr.csv", "ID")[variant]
    ref = _csv_matrix(f"{cohort.genotypes}/{chrom}_REFlr.csv", "ID")[variant]
    a = np.array([_num(alt[s]) for s in samples])
    r = np.array([_num(ref[s]) for s in samples])
    pos = int(variant.split(":")[1])
    seg = pl.read_csv(cohort.segmentation)
    use = np.zeros(len(samples), dtype=bool)
    for i, s in enumerate(samples):
        rows = seg.filter(
            (pl.col("sample") == s) & (pl.col("chr") == chrom)
            & (pl.col("startpos") <= start) & (pl.col("endpos") >= start)
        )  # fmt: skip
        if rows.height == 1 and rows["endpos"][0] >= end:
            use[i] = rows["startpos"][0] <= pos <= rows["endpos"][0]
    t = np.array([term.get(s, math.nan) for s in samples])
    x_cov = np.column_stack(covs) if covs else np.empty((len(samples), 0))
    use &= np.isfinite(y) & np.isfinite(a) & np.isfinite(r) & np.isfinite(t)
    use &= np.isfinite(x_cov).all(axis=1)
    s_, d_ = r + a, r - a
    x = np.column_stack([np.ones(use.sum()), x_cov[use], t[use], s_[use], d_[use], (d_ * t)[use]])
    fit = sm.OLS(y[use], x).fit()
    k = 1 + x_cov.shape[1]
    return int(use.sum()), fit.params[k + 3], fit.bse[k + 3], fit.pvalues[k + 3], fit.params[k]


@pytest.fixture(scope="module")
def interaction_db(tmp_path_factory, small_cohort):
    out = tmp_path_factory.mktemp("interaction")
    db = out / "wh.duckdb"
    api.ingest(db, "small", **cohort_kwargs(small_cohort))
    term = _write_term(out / "purity.csv", _samples(small_cohort))
    run_id = api.run(
        db,
        RunSpec(mode="nominal", cohort="small", chromosomes=["1", "2"],
                interaction=str(out / "purity.csv")),
    )  # fmt: skip
    return db, run_id, term, out


def test_interaction_run__nominal_with_a_term_runs_as_interaction(interaction_db):
    db, run_id, _, _ = interaction_db
    row = api.query(db, "SELECT mode, status FROM runs WHERE run_id = $r", {"r": run_id})
    assert row.row(0) == ("interaction", "completed")
    with closing(connect(db, read_only=True)) as con:
        sql = "SELECT key, value FROM run_parameters WHERE run_id = ?"
        keys = dict(con.execute(sql, [run_id]).fetchall())
    assert json.loads(keys["interaction:term"]) == "purity"
    assert len(json.loads(keys["input:interaction"])) == 64


def test_interaction_run__pairs_equal_ols_from_the_input_files(interaction_db, small_cohort):
    db, run_id, term, _ = interaction_db
    rows = api.query(
        db,
        "SELECT phenotype, variant, chr, number_of_samples, beta_di, se_di, pval_di, beta_i "
        "FROM interaction_results WHERE run_id = $r AND status = 'tested' "
        "ORDER BY phenotype_idx, variant_idx",
        {"r": run_id},
    )
    assert rows.height > 50
    samples = _samples(small_cohort)
    for row in rows.gather_every(max(1, rows.height // 12)).iter_rows(named=True):
        n, b, se, p, b_i = _reference_pair(
            small_cohort, samples, term, row["phenotype"], row["variant"], row["chr"]
        )
        assert row["number_of_samples"] == n
        np.testing.assert_allclose(
            [row["beta_di"], row["se_di"], row["pval_di"], row["beta_i"]], [b, se, p, b_i],
            rtol=1e-7,
        )  # fmt: skip


def test_interaction_run__gene_level_columns(interaction_db):
    db, run_id, _, _ = interaction_db
    top = api.query(db, "SELECT * FROM interaction_top WHERE run_id = $r", {"r": run_id})
    pairs = api.query(
        db, "SELECT chr, phenotype, min(pval_di) AS p, count(*) FILTER (status = 'tested') AS n "
        "FROM interaction_results WHERE run_id = $r GROUP BY ALL", {"r": run_id},
    )  # fmt: skip
    joined = top.join(pairs, on=["chr", "phenotype"])
    assert joined.height == 24
    tested = joined.filter(pl.col("n") > 0)
    np.testing.assert_allclose(tested["pval_di"], tested["p"])
    assert (tested["n_tested"] == tested["n"]).all()
    assert ((tested["n_eff"] >= 1) & (tested["n_eff"] <= tested["n_tested"])).all()
    np.testing.assert_allclose(
        tested["pval_emt"], np.minimum(1.0, tested["pval_di"] * tested["n_eff"])
    )
    # Benjamini-Hochberg over the run's phenotypes, from the definition.
    p = tested["pval_emt"].to_numpy()
    order = np.argsort(p)
    m = p.size
    raw = p[order] * m / np.arange(1, m + 1)
    q = np.minimum(1.0, np.minimum.accumulate(raw[::-1])[::-1])
    want = np.empty(m)
    want[order] = q
    np.testing.assert_allclose(tested["qvalue_bh"], want)
    # the run's hits at 5 % (run_fdr), as 'segqtl runs' and 'segqtl show' report them
    fdr = api.query(db, "SELECT method, pi0, n_tests, n_hits FROM run_fdr WHERE run_id = $r",
                    {"r": run_id})  # fmt: skip
    assert fdr.row(0) == ("bh", 1.0, m, int(np.sum(want <= 0.05)))


def test_interaction_run__export_and_compare(interaction_db):
    db, run_id, _, out = interaction_db
    paths = api.export(db, run_id, out / "export")
    names = sorted(p.name for p in map(__import__("pathlib").Path, paths))
    assert names == ["interaction_chr1.csv", "interaction_chr2.csv",
                     "interaction_top_chr1.csv", "interaction_top_chr2.csv"]  # fmt: skip
    top = pl.read_csv(out / "export" / "interaction_top_chr1.csv")
    assert top.columns[:3] == ["phenotype", "variant", "n_tested"] and top.height == 12
    spec = RunSpec(mode="interaction", cohort="small", chromosomes=["1", "2"], name="again",
                   interaction=str(out / "purity.csv"))  # fmt: skip
    again = api.run(db, spec)
    c = api.compare(db, run_id, again)
    assert c.mode == "interaction" and c.effect_column == "beta_di" and c.p_column == "pval_emt"
    assert c.n_only_a == c.n_only_b == 0 and c.n_both > 0
    assert c.corr_effect == pytest.approx(1.0) and c.hits_gained == c.hits_lost == 0


def test_interaction_run__term_file_errors_name_the_line(tmp_path, small_db, small_cohort):
    samples = _samples(small_cohort)
    bad = {
        "header.csv": "purity\n0.3\n",
        "unknown.csv": f"sample,purity\n{samples[0]},0.5\nNOPE,0.2\n",
        "twice.csv": f"sample,purity\n{samples[0]},0.5\n{samples[0]},0.2\n",
        "text.csv": f"sample,purity\n{samples[0]},high\n",
        "empty.csv": "sample,purity\n",
    }
    lines = {"header.csv": 1, "unknown.csv": 3, "twice.csv": 3, "text.csv": 2, "empty.csv": None}
    for name, text in bad.items():
        path = tmp_path / name
        path.write_text(text)
        spec = RunSpec(mode="interaction", cohort="small", chromosomes=["1"],
                       interaction=str(path))  # fmt: skip
        with pytest.raises(InputError) as err:
            api.run(small_db, spec)
        assert name in str(err.value) and "Fix:" in str(err.value)
        if lines[name]:
            assert f"line {lines[name]}" in str(err.value)
    assert api.list_runs(small_db).height == 0  # nothing recorded
    with pytest.raises(UsageError, match="--interaction"):
        api.run(small_db, RunSpec(mode="interaction", cohort="small", chromosomes=["1"]))


def test_interaction_run__constant_term_is_a_status_and_resume_matches(tmp_path, small_db,
                                                                      small_cohort):  # fmt: skip
    samples = _samples(small_cohort)
    path = tmp_path / "treated.csv"
    path.write_text("sample,treated\n" + "".join(f"{s},1\n" for s in samples))
    run_id = api.run(small_db, RunSpec(mode="interaction", cohort="small", chromosomes=["1"],
                                       interaction=str(path)))  # fmt: skip
    status = api.query(
        small_db, "SELECT DISTINCT status FROM interaction_results WHERE run_id = $r",
        {"r": run_id},
    )["status"].to_list()  # fmt: skip
    assert "constant_term" in status and "tested" not in status
    # A changed term file stops a resume.
    path.write_text("sample,treated\n" + "".join(f"{s},0\n" for s in samples))
    with closing(connect(small_db)) as con:
        con.execute("UPDATE runs SET status = 'failed' WHERE run_id = ?", [run_id])
    with pytest.raises(UsageError, match="changed"):
        api.resume(small_db, run_id)


def test_interaction_run__dropin_flag(tmp_path, small_cohort):
    term = tmp_path / "purity.csv"
    _write_term(term, _samples(small_cohort))
    k = cohort_kwargs(small_cohort)
    args = ["--mode", "nominal", "--interaction", str(term), "--chromosome", "1",
            "--genotypes", str(k["genotypes"]), "--quantifications", str(k["quantifications"]),
            "--covariates", str(k["covariates"]), "--segmentation", str(k["segmentation"]),
            "--out_dir", str(tmp_path / "out")]  # fmt: skip
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "segqtl", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "interaction_chr1.csv").is_file()
    assert CliRunner().invoke(cli, ["run", "--help"]).output.count("--interaction") >= 2


def test_interaction_run__term_rows_of_left_out_samples_are_skipped(interaction_db, small_cohort):
    # --exclude-samples with the same term file: its rows of the left-out samples are ignored,
    # as if they had been deleted from it
    db, _, _, out = interaction_db
    samples = _samples(small_cohort)
    excluded = samples[2:5]
    (out / "left_out.txt").write_text("\n".join(excluded))
    lines = (out / "purity.csv").read_text().splitlines()
    (out / "purity_cut.csv").write_text(
        "\n".join(line for line in lines if line.split(",")[0] not in excluded) + "\n"
    )
    runs = [
        api.run(
            db,
            RunSpec(
                mode="interaction",
                cohort="small",
                chromosomes=["1"],
                interaction=str(out / name),
                exclude_samples=str(out / "left_out.txt"),
            ),
        )  # fmt: skip
        for name in ("purity.csv", "purity_cut.csv")
    ]
    sql = "SELECT * EXCLUDE (run_id, run_name) FROM interaction_results WHERE run_id = $r"
    first, second = (api.query(db, sql, {"r": r}) for r in runs)
    assert first.height > 0 and first.equals(second)
