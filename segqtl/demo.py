"""``python -m segqtl.demo``: simulate a cohort, ingest it, run every mode, show SQL on results.

This is what ``make demo`` runs.  Every step uses the public API or the command line, so it
doubles as a worked example.
"""

from __future__ import annotations

import contextlib
import io
import math
import shutil
import sys
from pathlib import Path

import click

from . import api
from .simulate import simulate_cohort
from .spec import RunSpec
from .warehouse.db import connect

QUERIES = {
    "Runs in the warehouse": (
        "SELECT run_id, name, mode, chromosomes, status, n_phenotypes, n_pairs_tested, "
        "round(seconds, 2) AS seconds FROM runs ORDER BY run_id"
    ),
    "Top 5 associations of the all-variants run": (
        "SELECT phenotype, variant, number_of_samples, round(beta_d, 3) AS beta_d, nominal_p "
        "FROM nominal_results WHERE run_id = {all_run} AND status = 'tested' "
        "ORDER BY nominal_p LIMIT 5"
    ),
    "Pairs per status (segment filter and missing genotypes at work)": (
        "SELECT status, count(*) AS pairs, round(avg(number_of_samples), 1) AS mean_samples "
        "FROM nominal_results WHERE run_id = {all_run} GROUP BY status ORDER BY pairs DESC"
    ),
    "Gene-level hits of the permutation run at 5% FDR (Storey q-values)": (
        "SELECT phenotype, variant, p_value AS p_adj, qvalue, pval_nominal_threshold "
        "FROM qvalues WHERE run_id = {perm_run} AND is_hit ORDER BY qvalue LIMIT 5"
    ),
    "Stable fine-mapped variants (finemap run, stability >= 0.6)": (
        "SELECT phenotype, variant, stability_score, round(beta_full, 3) AS beta_full, "
        "round(lambda_selected, 1) AS lambda_selected, effect_interpretation "
        "FROM finemap_results WHERE run_id = {finemap_run} AND stability_score >= 0.6 "
        "ORDER BY stability_score DESC, phenotype LIMIT 5"
    ),
    "Transfer to the validation cohort (validate run): best out-of-cohort R²": (
        "SELECT phenotype, n_variants_shared, round(r2_descriptive, 3) AS r2, "
        "round(r2_ci_lo, 3) AS r2_ci_lo, round(rho_genetic_transfer, 2) AS rho, r2_perm_pval "
        "FROM validate_results WHERE run_id = {validate_run} AND status = 'tested' "
        "ORDER BY r2_descriptive DESC LIMIT 5"
    ),
    "Independent signals beyond the lead (conditional run)": (
        "SELECT phenotype, rank, variant, kept, number_of_samples, round(beta_d, 3) AS beta_d, "
        "printf('%.2e', p_adj) AS p_adj FROM conditional_results "
        "WHERE run_id = {conditional_run} AND phenotype IN (SELECT phenotype "
        "FROM conditional_results WHERE run_id = {conditional_run} AND rank > 1) "
        "ORDER BY phenotype, rank LIMIT 6"
    ),
    "Strongest d x purity interactions (interaction run, eigenMT gene level)": (
        "SELECT phenotype, variant, n_tested, n_eff, printf('%.2e', pval_di) AS pval_di, "
        "round(pval_emt, 3) AS pval_emt, round(qvalue_bh, 3) AS qvalue_bh "
        "FROM interaction_top WHERE run_id = {interaction_run} ORDER BY pval_emt LIMIT 3"
    ),
    "Discovery hits and their replication in demo_val (segqtl compare, matched on names)": (
        "SELECT phenotype, variant_a AS lead_variant, same_variant AS same_lead, "
        "round(effect_a, 3) AS beta_d, round(effect_b, 3) AS beta_d_val, "
        "printf('%.2e', p_a) AS p_adj, printf('%.2e', p_b) AS p_adj_val, hit_change "
        "FROM comparison_results WHERE comparison_id = {comparison} AND hit_a "
        "ORDER BY p_a LIMIT 8"
    ),
}


def _say(text: str) -> None:
    click.echo(text, err=True)


def planted_recovery(db: Path, truth: Path, perm_run: int, all_run: int) -> dict:
    """The perm run's eGenes checked against the simulated truth (``truth.csv``).

    A planted effect is recovered when its phenotype is an eGene (q-value at the run's FDR
    level).  The power expected of this design: for each planted effect, the causal pair's
    expected |t| is ``|beta_d| / se_d`` (the true effect over the standard error the
    all-variants run measured for that pair), tested at ``fdr / n_cis`` (a Bonferroni
    correction over the phenotype's tested cis variants, more severe than the permutation
    p-value, so the expectation errs low); the expected count is the sum of those powers and
    ``minimum`` is it less two binomial standard deviations.

    Returns
    -------
    dict
        ``planted``, ``recovered``, ``causal_lead`` (recovered with the causal variant as the
        lead), ``egenes``, ``false_egenes`` (eGenes without a planted effect), ``fdr``,
        ``expected`` and ``minimum``.
    """
    import polars as pl
    from scipy.stats import norm

    planted = pl.read_csv(truth)
    egenes = api.query(
        db,
        "SELECT phenotype, variant, fdr FROM qvalues WHERE run_id = $run AND is_hit",
        {"run": perm_run},
    )
    fdr = api.query(db, "SELECT fdr FROM run_fdr WHERE run_id = $run", {"run": perm_run})
    level = float(fdr["fdr"][0]) if fdr.height else 0.05
    found = planted.join(egenes, on="phenotype", how="inner")
    design = api.query(
        db,
        "SELECT phenotype, variant, se_d, count(*) OVER (PARTITION BY phenotype) AS n_cis "
        "FROM nominal_results WHERE run_id = $run AND status = 'tested'",
        {"run": all_run},
    )
    pairs = planted.join(
        design, left_on=["phenotype", "causal_variant"], right_on=["phenotype", "variant"]
    )
    ncp = (pairs["beta_d"].abs() / pairs["se_d"]).to_numpy()
    z = norm.isf(level / pairs["n_cis"].to_numpy() / 2)
    power = norm.sf(z - ncp) + norm.cdf(-z - ncp)
    expected = float(power.sum())
    spread = math.sqrt(float((power * (1 - power)).sum()))
    return {
        "planted": planted.height,
        "recovered": found.height,
        "causal_lead": int((found["variant"] == found["causal_variant"]).sum()),
        "egenes": egenes.height,
        "false_egenes": egenes.join(planted, on="phenotype", how="anti").height,
        "fdr": level,
        "expected": expected,
        "minimum": max(0, math.floor(expected - 2 * spread)),
    }


def recovery_text(r: dict) -> tuple[str, bool]:
    """The demo's verdict on :func:`planted_recovery`: its text, and whether it passed."""
    ok = r["recovered"] >= r["minimum"]
    text = (
        f"Planted effects recovered: {r['recovered']} of {r['planted']} as eGenes at "
        f"{r['fdr']:.0%} FDR, {r['causal_lead']} with the causal variant as lead (expected "
        f"≈ {r['expected']:.1f}, at least {r['minimum']}, at this power); "
        f"{r['false_egenes']} of {r['egenes']} eGenes have no planted effect (≈ "
        f"{r['fdr'] * r['egenes']:.1f} expected at this FDR) — checked against the simulated "
        f"truth: {'OK' if ok else 'FEWER THAN EXPECTED'}"
    )
    return text, ok


def _purity_term(db: Path, cohort: str, path: Path) -> Path:
    """A random tumour purity per sample of ``cohort`` (uniform 0.2-0.9, seed 3), written as
    the ``sample,purity`` CSV that ``--interaction`` takes."""
    import numpy as np

    samples = api.query(
        db, "SELECT sample_id FROM samples WHERE cohort = $c ORDER BY sample_idx", {"c": cohort}
    )["sample_id"].to_list()
    rng = np.random.default_rng(3)
    path.write_text(
        "sample,purity\n" + "".join(f"{s},{rng.uniform(0.2, 0.9):.4f}\n" for s in samples)
    )
    return path


@click.command()
@click.option(
    "--out",
    default="demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the cohort, the warehouse and exported results.",
)
@click.option("--samples", default=200, show_default=True)
@click.option("--num-cores", default=2, show_default=True)
def main(out: str, samples: int, num_cores: int) -> None:
    """Run the segqtl demo end to end."""
    out_dir = Path(out)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    db = out_dir / "segqtl.duckdb"
    _say(f"1. simulating a cohort ({samples} samples, chr1 and chr2) in {out_dir / 'cohort'}")
    cohort = simulate_cohort(
        out_dir / "cohort",
        seed=2026,
        n_samples=samples,
        chromosomes=("1", "2"),
        n_phenotypes=60,
        n_variants=600,
        chromosome_length=30_000_000,
        missing_rate=0.01,
        phenotype_covariate=True,
        n_validation_samples=samples * 3 // 4,
    )
    _say(f"2. ingesting it into {db}")
    res = api.ingest(
        db,
        "demo",
        genotypes=cohort.genotypes,
        quantifications=cohort.quantifications,
        covariates=cohort.covariates,
        copynumber=cohort.copynumber,
        segmentation=cohort.segmentation,
        phenotype_covariate=cohort.phenotype_covariate,
    )
    _say(f"   {res.n_samples} samples, {res.n_phenotypes} phenotypes, {res.n_variants} variants")
    val = cohort.validation
    api.ingest(
        db,
        "demo_val",
        genotypes=val.genotypes,
        quantifications=val.quantifications,
        covariates=val.covariates,
        copynumber=val.copynumber,
        segmentation=val.segmentation,
        phenotype_covariate=val.phenotype_covariate,
    )
    _say("   and an independent validation cohort as 'demo_val'")

    _say("3. running the modes")
    runs = {
        "best_run": RunSpec(
            mode="nominal",
            cohort="demo",
            chromosomes=["1", "2"],
            num_cores=num_cores,
            name="nominal best variant",
        ),
        "all_run": RunSpec(
            mode="nominal",
            cohort="demo",
            chromosomes=["1", "2"],
            all_variants=True,
            record_aic=True,
            num_cores=num_cores,
            name="nominal all variants + AIC",
        ),
        "perm_run": RunSpec(
            mode="perm",
            cohort="demo",
            chromosomes=["1", "2"],
            num_permutations=1000,
            perm_method="beta",
            num_cores=num_cores,
            name="perm beta, 1000 permutations",
        ),
        "finemap_run": RunSpec(
            mode="finemap",
            cohort="demo",
            chromosomes=["1"],
            compute_r2=True,
            num_cores=num_cores,
            name="finemap chr1 (elastic net + stability selection)",
        ),
        "neg_run": RunSpec(
            mode="nominal",
            cohort="demo",
            chromosomes=["1"],
            neg_control=True,
            num_cores=num_cores,
            name="nominal trans negative control",
        ),
    }
    ids = {}
    for key, spec in runs.items():
        ids[key] = api.run(db, spec, progress=sys.stderr.isatty())
        _say(f"   run {ids[key]}: {spec.name}")
    spec = RunSpec(
        mode="validate",
        cohort="demo",
        validation_cohort="demo_val",
        finemap_run=ids["finemap_run"],
        chromosomes=["1"],
        bootstrap_ci=True,
        n_permutations=200,
        num_cores=num_cores,
        name="validate finemap's models in demo_val",
    )
    ids["validate_run"] = api.run(db, spec, progress=sys.stderr.isatty())
    _say(f"   run {ids['validate_run']}: {spec.name}")
    spec = RunSpec(
        mode="perm",
        cohort="demo_val",
        chromosomes=["1", "2"],
        num_permutations=1000,
        num_cores=num_cores,
        name="perm beta in demo_val (replication)",
    )
    ids["replication_run"] = api.run(db, spec, progress=sys.stderr.isatty())
    _say(f"   run {ids['replication_run']}: {spec.name}")
    comparison = api.compare(db, ids["perm_run"], ids["replication_run"])
    ids["comparison"] = comparison.comparison_id
    corr = "n/a" if comparison.corr_effect is None else f"{comparison.corr_effect:.2f}"
    _say(
        f"   comparison {comparison.comparison_id} (segqtl compare): discovery perm run vs its "
        f"replication in demo_val: {comparison.hits_a} and {comparison.hits_b} gene-level hits, "
        f"{comparison.hits_both} in both; effect correlation {corr}"
    )
    spec = RunSpec(
        mode="conditional",
        cohort="demo",
        chromosomes=["1", "2"],
        perm_run=ids["perm_run"],
        num_cores=num_cores,
        name="conditional: independent signals of the perm run's eGenes",
    )
    ids["conditional_run"] = api.run(db, spec, progress=sys.stderr.isatty())
    n_second = api.query(
        db,
        "SELECT count(*) AS n FROM conditional_results WHERE run_id = $r AND kept AND rank > 1",
        {"r": ids["conditional_run"]},
    )["n"][0]
    _say(f"   run {ids['conditional_run']}: {spec.name} ({n_second} kept beyond the leads)")
    term = _purity_term(db, "demo", out_dir / "cohort" / "purity.csv")
    spec = RunSpec(
        mode="nominal",
        cohort="demo",
        chromosomes=["1", "2"],
        interaction=str(term),
        num_cores=num_cores,
        name="interaction with a random purity (nominal + --interaction: a null)",
    )
    ids["interaction_run"] = api.run(db, spec, progress=sys.stderr.isatty())
    n_ix = api.query(
        db,
        "SELECT count(*) AS n FROM interaction_top WHERE run_id = $r AND qvalue_bh <= 0.05",
        {"r": ids["interaction_run"]},
    )["n"][0]
    _say(
        f"   run {ids['interaction_run']}: {spec.name}; {n_ix} phenotypes with a d x purity "
        "interaction at BH 5% (the term is random: expect about none)"
    )
    exported = []
    for key, run_id in ids.items():
        if key.endswith("_run"):
            exported += api.export(db, run_id, out_dir / "results" / key.removesuffix("_run"))

    _say("4. the same through the SegmentQTL drop-in (one line changed: python -m segqtl):")
    cmd = [
        "--mode",
        "nominal",
        "--chromosome",
        "1",
        "--genotypes",
        str(cohort.genotypes),
        "--quantifications",
        str(cohort.quantifications),
        "--covariates",
        str(cohort.covariates),
        "--copynumber",
        str(cohort.copynumber),
        "--segmentation",
        str(cohort.segmentation),
        "--phenotype_covariate",
        str(cohort.phenotype_covariate),
        "--out_dir",
        str(out_dir / "dropin"),
        "--num_cores",
        str(num_cores),
        "--quiet",
    ]
    _say("   python -m segqtl " + " ".join(cmd))
    from .cli import dropin

    # the drop-in prints the files it wrote on stdout (its data); listed under Results here
    with contextlib.redirect_stdout(io.StringIO()) as written:
        dropin.main(args=cmd, standalone_mode=False)
    dropin_files = written.getvalue().split()

    _say("5. reports: one self-contained HTML page per run (segqtl report)")
    reports = {
        "perm": api.report(db, ids["perm_run"], out_dir / "report_perm.html"),
        "all-variants": api.report(db, ids["all_run"], out_dir / "report_nominal_all.html"),
        "finemap": api.report(db, ids["finemap_run"], out_dir / "report_finemap.html"),
        "validate": api.report(db, ids["validate_run"], out_dir / "report_validate.html"),
        "comparison": api.report(
            db,
            ids["perm_run"],
            out_dir / "report_comparison.html",
            run_b=ids["replication_run"],
        ),
    }
    recovery, recovered_ok = recovery_text(
        planted_recovery(db, cohort.truth, ids["perm_run"], ids["all_run"])
    )

    click.echo("\nResults")
    click.echo(f"  warehouse : {db}")
    for path in exported:
        click.echo(f"  exported  : {path}")
    for path in dropin_files:
        click.echo(f"  drop-in   : {path}")
    for what, path in reports.items():
        click.echo(f"  report    : {path}  ({what}; open it in a browser)")
    con = connect(db, read_only=True)
    try:
        for title, sql in QUERIES.items():
            sql = sql.format(**ids)
            click.echo(f"\n-- {title}\n{sql};")
            click.echo(str(con.sql(sql)))
    finally:
        con.close()
    click.echo(
        f"\nTry your own: .venv/bin/segqtl query --db {db} "
        '"SELECT * FROM qvalues WHERE is_hit LIMIT 5"\n'
        f"  or: .venv/bin/segqtl runs --db {db}; .venv/bin/segqtl show --db {db} "
        f"{ids['perm_run']}; .venv/bin/segqtl compare --db {db} {ids['perm_run']} "
        f"{ids['replication_run']}\n"
        f"  or: .venv/bin/segqtl plot qq --db {db} --run {ids['perm_run']} --out qq.png; "
        f".venv/bin/segqtl report --db {db} --run {ids['perm_run']} --out report.html"
    )
    click.echo(f"\n{recovery}")
    if not recovered_ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
