"""Benchmark: ingest and nominal mode on a 400 x 300 x 30,000 cohort, against a naive loop.

Simulates (once, cached in benchmarks/out/) a cohort like the issue describes: 400 samples,
300 phenotypes, 30,000 variants on one 60 Mb chromosome (~1,000 variants per cis window), 2%
missing genotypes, ~4 breakpoints per sample.  Then times

  (a) ingest into a fresh warehouse,
  (b) nominal best-variant run, (c) nominal all-variants run, both with --num-cores 2,
  (d) a naive per-variant ``numpy.linalg.lstsq`` loop (the reference's approach) on a subset,

and prints a Markdown table (also written to benchmarks/out/nominal.json).

Usage: python benchmarks/bench_nominal.py [--cores 2] [--naive-phenotypes 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
from scipy import stats

from segqtl import api
from segqtl.engine.units import list_matrix
from segqtl.simulate import simulate_cohort
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect, query_pl

OUT = Path(__file__).parent / "out"
COHORT = dict(
    seed=11,
    n_samples=400,
    chromosomes=("1",),
    n_phenotypes=300,
    n_variants=30_000,
    chromosome_length=60_000_000,
    missing_rate=0.02,
    breakpoints_per_sample=4.0,
    causal_fraction=0.3,
)


def cohort():
    target = OUT / "cohort"
    stamp = target / "params.json"
    if stamp.exists() and json.loads(stamp.read_text()) == {
        k: list(v) if isinstance(v, tuple) else v for k, v in COHORT.items()
    }:
        from segqtl.simulate import SimulatedCohort

        return SimulatedCohort(
            target,
            target / "genotypes",
            target / "quantifications.csv",
            target / "covariates.csv",
            target / "copynumbers.csv",
            target / "segments.csv",
            None,
            target / "truth.csv",
            None,
        )
    if target.exists():
        shutil.rmtree(target)
    c = simulate_cohort(target, **COHORT)
    stamp.write_text(
        json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in COHORT.items()})
    )
    return c


def ingest(db, c) -> None:
    """Ingest the benchmark cohort ``c`` as 'bench'."""
    api.ingest(
        db,
        "bench",
        genotypes=c.genotypes,
        quantifications=c.quantifications,
        covariates=c.covariates,
        copynumber=c.copynumber,
        segmentation=c.segmentation,
    )


def naive_pairs(db, n_phenotypes: int, window: int = 1_000_000) -> tuple[int, float]:
    """The reference's approach: one lstsq fit (and an inverse for se) per variant, in Python."""
    con = connect(db, read_only=True)
    n = con.execute("SELECT n_samples FROM cohorts WHERE cohort = 'bench'").fetchall()[0][0]
    cov = list_matrix(
        con.sql("SELECT \"values\" FROM covariates WHERE cohort = 'bench' ORDER BY cov_idx").pl()[
            "values"
        ],
        n,
    ).T
    rng = dict(cohort="bench", chr="chr1", first_idx=0, last_idx=n_phenotypes - 1)
    phen = query_pl(con, "unit_phenotypes", only_gene=None, **rng)
    variants = con.sql(
        "SELECT variant_idx, pos, altlr, reflr FROM genotypes WHERE cohort = 'bench' "
        "AND chr = 'chr1' ORDER BY variant_idx"
    ).pl()
    pairs = query_pl(con, "cis_pairs", window=window, **rng)
    bounds = query_pl(con, "segment_bounds", **rng)
    con.close()
    alt = list_matrix(variants["altlr"], n)
    ref = list_matrix(variants["reflr"], n)
    pos = variants["pos"].to_numpy()
    vidx = variants["variant_idx"].to_numpy()
    y_all = list_matrix(phen["values"], n)
    t0 = time.perf_counter()
    count = 0
    for i, ph in enumerate(phen["phenotype_idx"].to_list()):
        b = bounds.filter(bounds["phenotype_idx"] == ph)
        lb = np.full(n, np.nan)
        ub = np.full(n, np.nan)
        lb[b["sample_idx"].to_numpy()] = b["lb"].to_numpy()
        ub[b["sample_idx"].to_numpy()] = b["ub"].to_numpy()
        rows = np.searchsorted(
            vidx, pairs.filter(pairs["phenotype_idx"] == ph)["variant_idx"].to_numpy()
        )
        y = y_all[i]
        for r in rows:
            a, f = alt[r], ref[r]
            with np.errstate(invalid="ignore"):
                m = (
                    np.isfinite(y)
                    & np.isfinite(a)
                    & np.isfinite(f)
                    & np.isfinite(cov).all(1)
                    & (pos[r] >= lb)
                    & (pos[r] <= ub)
                )
            if m.sum() < 30:
                continue
            x = np.column_stack([np.ones(m.sum()), f[m] + a[m], f[m] - a[m], cov[m]])
            beta, rss, *_ = np.linalg.lstsq(x, y[m], rcond=None)
            df = m.sum() - x.shape[1]
            se = np.sqrt(np.diag(np.linalg.inv(x.T @ x)) * rss[0] / df)
            2 * stats.t.sf(abs(beta[2] / se[2]), df)
            count += 1
    return count, time.perf_counter() - t0


def kernel_only(db) -> tuple[int, float]:
    """Worker computation alone (payloads prepared beforehand), one core, all variants."""
    import tempfile

    from threadpoolctl import threadpool_limits

    from segqtl.engine.nominal import compute_unit
    from segqtl.warehouse import reads
    from segqtl.warehouse.runs import Unit

    con = connect(db, read_only=True)
    info = reads.cohort_info(con, "bench")
    spec = RunSpec(mode="nominal", cohort="bench", chromosomes=["1"], all_variants=True)
    cov = reads.covariates_frame(con, "bench")
    with tempfile.TemporaryDirectory() as tmp:
        export = reads.GenotypeExport(con, info, "chr1", Path(tmp))
        export.ensure(-1)
        payloads = [
            reads.nominal_payload(
                con, spec, Unit(i, "chr1", 25 * i, 25 * i + 24), info, cov, export.files
            )
            for i in range(12)
        ]
        con.close()
        with threadpool_limits(1):
            t0 = time.perf_counter()
            pairs = sum(sum(compute_unit(p)[1].values()) for p in payloads)
            elapsed = time.perf_counter() - t0
        export.remove()
    return pairs, elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--naive-phenotypes", type=int, default=5)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    c = cohort()
    t_sim = time.perf_counter() - t0
    db = OUT / "bench.duckdb"
    db.unlink(missing_ok=True)
    t0 = time.perf_counter()
    ingest(db, c)
    t_ingest = time.perf_counter() - t0

    rows = []
    for label, all_variants in (("nominal, best variant", False), ("nominal, all variants", True)):
        spec = RunSpec(
            mode="nominal",
            cohort="bench",
            chromosomes=["1"],
            num_cores=args.cores,
            all_variants=all_variants,
        )
        t0 = time.perf_counter()
        run_id = api.run(db, spec)
        elapsed = time.perf_counter() - t0
        con = connect(db, read_only=True)
        n_pairs, n_rows = con.execute(
            "SELECT n_pairs, n_rows FROM runs WHERE run_id = ?", [run_id]
        ).fetchall()[0]
        con.close()
        rows.append((f"{label} ({args.cores} cores)", elapsed, n_pairs, n_rows))
    naive_count, naive_t = naive_pairs(db, args.naive_phenotypes)
    kernel_count, kernel_t = kernel_only(db)

    result = {
        "cohort": {k: list(v) if isinstance(v, tuple) else v for k, v in COHORT.items()},
        "simulate_seconds": t_sim,
        "ingest_seconds": t_ingest,
        "runs": [dict(zip(("label", "seconds", "pairs", "rows"), r, strict=True)) for r in rows],
        "naive": {"pairs": naive_count, "seconds": naive_t},
        "kernel_only_1_core": {"pairs": kernel_count, "seconds": kernel_t},
    }
    (OUT / "nominal.json").write_text(json.dumps(result, indent=2))
    naive_rate = naive_count / naive_t
    print("| step | time (s) | cis pairs | pairs/s | vs naive |")
    print("|---|---:|---:|---:|---:|")
    print(f"| ingest (400 samples, 300 phenotypes, 30,000 variants) | {t_ingest:.2f} | | | |")
    for label, sec, pairs, _ in rows:
        print(
            f"| {label} | {sec:.2f} | {pairs:,} | {pairs / sec:,.0f} | "
            f"{pairs / sec / naive_rate:,.0f}x |"
        )
    print(
        f"| worker computation alone, all variants, 1 core | {kernel_t:.2f} | "
        f"{kernel_count:,} | {kernel_count / kernel_t:,.0f} | "
        f"{kernel_count / kernel_t / naive_rate:,.0f}x |"
    )
    print(
        f"| naive per-variant lstsq loop, 1 core ({args.naive_phenotypes} phenotypes) | "
        f"{naive_t:.2f} | {naive_count:,} | {naive_rate:,.0f} | 1x |"
    )


if __name__ == "__main__":
    main()
