"""Benchmark: finemap mode (missing-aware elastic net + stability selection) against a naive loop.

Simulates (once, cached in benchmarks/out/) a cohort of 300 samples, chromosome 1 only, 20
phenotypes and 2,500 variants on a 20 Mb chromosome (~250 variants per +-1 Mb cis window), 2%
missing genotypes, seed 7 — the files SegmentQTL itself was timed on (README, Benchmarks) —
then times

  (a) the whole process of the SegmentQTL drop-in on those files, as SegmentQTL is run
      (``python -m segqtl --mode finemap --chromosome 1 --genotypes ... --out_dir ...
      --num_cores N``, warehouse benchmarks/out/finemap_dropin.duckdb): one untimed run first
      (ingests the cohort, fills the genotype and numba caches), then the median of
      ``--repeats`` runs with N = ``--cores`` and with N = 1,
  (b) the compiled kernel alone (``kernels.finemap.finemap_phenotype``), one core, in-process,
      on every phenotype's prepared inputs (cohort ingested as 'finemap_bench' into
      benchmarks/out/finemap.duckdb, reused if already there),
  (c) a naive baseline (``naive.finemap``): the pure-Python per-variant solver
      ``tests/reference_enet.py`` on ONE phenotype, with a reduced workload (as many whole CV
      folds' warm-started 30-lambda paths as fit in 60 s, the full fit and 50 stability fits,
      all capped at ~90 s of wall time), extrapolated per fit to the whole pipeline,

and prints a Markdown table (also written to benchmarks/out/bench_finemap.json).

EN fits per phenotype are counted as for the reference (SegmentQTL):
5 folds x 30 lambdas + 1 full fit + 200 stability subsamples = 351 (compute_r2 is off).

Usage: python benchmarks/bench_finemap.py [--cores 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import naive
from bench_nominal import OUT, time_cli
from naive import FITS_PER_PHENOTYPE, N_LAMBDA

from segqtl import api
from segqtl.engine.units import params_from_spec
from segqtl.simulate import SimulatedCohort, simulate_cohort
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect

NAME = "finemap_bench"
DB = OUT / "finemap.duckdb"
COHORT = dict(
    seed=7,
    n_samples=300,
    chromosomes=("1",),
    n_phenotypes=20,
    n_variants=2_500,
    chromosome_length=20_000_000,
    missing_rate=0.02,
)
DROPIN_DB = OUT / "finemap_dropin.duckdb"
DROPIN_OUT = OUT / "finemap_dropin_out"


def _params() -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in COHORT.items()}


def cohort() -> tuple[SimulatedCohort, bool]:
    """The simulated cohort and whether it was (re)written just now."""
    target = OUT / "finemap_cohort"
    stamp = target / "params.json"
    if stamp.exists() and json.loads(stamp.read_text()) == _params():
        return (
            SimulatedCohort(
                target,
                target / "genotypes",
                target / "quantifications.csv",
                target / "covariates.csv",
                target / "copynumbers.csv",
                target / "segments.csv",
                None,
                target / "truth.csv",
                None,
            ),
            False,
        )
    if target.exists():
        shutil.rmtree(target)
    c = simulate_cohort(target, **COHORT)
    stamp.write_text(json.dumps(_params()))
    return c, True


def ensure_ingested() -> dict:
    """Simulate and ingest the cohort unless the warehouse already holds it."""
    t0 = time.perf_counter()
    c, fresh = cohort()
    t_sim = time.perf_counter() - t0
    if fresh:  # a new cohort: never reuse a warehouse built from other files
        for db in (DB, DROPIN_DB):
            db.unlink(missing_ok=True)
            Path(str(db) + ".wal").unlink(missing_ok=True)
    has = 0
    if DB.exists():
        con = connect(DB)
        has = con.execute("SELECT count(*) FROM cohorts WHERE cohort = ?", [NAME]).fetchall()[0][0]
        con.close()
    t_ingest = None
    if not has:
        t0 = time.perf_counter()
        api.ingest(
            DB,
            NAME,
            genotypes=c.genotypes,
            quantifications=c.quantifications,
            covariates=c.covariates,
            copynumber=c.copynumber,
            segmentation=c.segmentation,
        )
        t_ingest = time.perf_counter() - t0
    return {"simulated": fresh, "simulate_seconds": t_sim, "ingest_seconds": t_ingest}


def numba_cache_state() -> str:
    """'warm', 'cold (k of m kernels not cached)' or 'unknown' for the finemap kernels.

    Reads numba's cache index of every compiled kernel (private API, hence 'unknown' on any
    surprise); loading an index compiles nothing.
    """
    try:
        import numba

        from segqtl.kernels import finemap_compiled as fc

        kernels = [v for v in vars(fc).values() if isinstance(v, numba.core.dispatcher.Dispatcher)]
        missing = sum(not k._cache._cache_file._load_index() for k in kernels)
    except Exception:  # noqa: BLE001 - informational only
        return "unknown"
    return "warm" if missing == 0 else f"cold ({missing} of {len(kernels)} kernels not cached)"


def prepared_inputs() -> list[tuple[int, object]]:
    """(phenotype_idx, fm.prepare(...) output) per phenotype, built as engine/finemap.py does."""
    from segqtl.engine.finemap import prepare_phenotype
    from segqtl.engine.units import UnitCohort
    from segqtl.warehouse import reads
    from segqtl.warehouse.runs import Unit

    con = connect(DB, read_only=True)
    info = reads.cohort_info(con, NAME)
    spec = RunSpec(mode="finemap", cohort=NAME, chromosomes=["1"])
    cov_frame = reads.covariates_frame(con, NAME)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        export = reads.GenotypeExport(con, info, "chr1", Path(tmp))
        export.ensure(-1)
        last = COHORT["n_phenotypes"] - 1
        payload = reads.finemap_payload(
            con, spec, Unit(0, "chr1", 0, last), info, cov_frame, export.files
        )
        con.close()
        cohort = UnitCohort(payload.main)  # as the worker decodes it
        for i, ph_idx in enumerate(cohort.idx.tolist()):
            out.append((ph_idx, prepare_phenotype(cohort, i)[0]))
        export.remove()
    return out


def kernel_only(preps) -> dict:
    """``finemap_phenotype`` per phenotype, one core, in-process (kernels loaded beforehand)."""
    from threadpoolctl import threadpool_limits

    from segqtl.kernels import finemap as fm

    params = params_from_spec(
        fm.FinemapParams, RunSpec(mode="finemap", cohort=NAME, chromosomes=["1"])
    )
    fm.warm_up()
    per = []
    with threadpool_limits(1):
        for ph_idx, prep in preps:
            t0 = time.perf_counter()
            res = fm.finemap_phenotype(prep, ph_idx, params)
            sec = time.perf_counter() - t0
            per.append(
                {
                    "phenotype_idx": ph_idx,
                    "status": res.status,
                    "seconds": sec,
                    "n_samples": res.n_samples,
                    "p_kept": int(res.kept.size),
                    "lambda_selected": res.lambda_selected,
                }
            )
    ok = [r for r in per if r["status"] == fm.OK]
    total = sum(r["seconds"] for r in per)
    return {"seconds": total, "ok": len(ok), "phenotypes": per}


def dropin_args(cores: int) -> list[str]:
    """The drop-in's command line on the benchmark's files, as SegmentQTL is run on them."""
    c = OUT / "finemap_cohort"
    return [
        "--mode", "finemap", "--chromosome", "1", "--genotypes", str(c / "genotypes"),
        "--quantifications", str(c / "quantifications.csv"), "--covariates",
        str(c / "covariates.csv"), "--copynumber", str(c / "copynumbers.csv"),
        "--segmentation", str(c / "segments.csv"), "--out_dir", str(DROPIN_OUT), "--db",
        str(DROPIN_DB), "--num_cores", str(cores), "--quiet",
    ]  # fmt: skip


def dropin_fitted() -> int:
    """Phenotypes fitted (status ok) by the drop-in warehouse's latest run."""
    con = connect(DROPIN_DB, read_only=True)
    n_ok = con.execute(
        "SELECT count(DISTINCT phenotype_idx) FROM finemap_stats "
        "WHERE run_id = (SELECT max(run_id) FROM runs) AND status = 0"
    ).fetchall()[0][0]
    con.close()
    return n_ok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per core count (median)")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    setup = ensure_ingested()
    cache = numba_cache_state()

    whole = {}
    for i, cores in enumerate((args.cores, 1)):
        # the first command ingests into the drop-in warehouse and warms the caches
        timing = time_cli(dropin_args(cores), repeats=args.repeats, warmup=1 if i == 0 else 0)
        timing.pop("stdout")
        whole[cores] = {"cores": cores, **timing, "ok": dropin_fitted()}
    preps = prepared_inputs()
    kern = kernel_only(preps)

    # naive baseline on the phenotype of median kernel time (among those fitted)
    ok = sorted((r for r in kern["phenotypes"] if r["status"] == 0), key=lambda r: r["seconds"])
    pick = ok[len(ok) // 2]
    prep = dict(preps)[pick["phenotype_idx"]]
    from segqtl.kernels import finemap as fm

    params = params_from_spec(
        fm.FinemapParams, RunSpec(mode="finemap", cohort=NAME, chromosomes=["1"])
    )
    nv = naive.finemap(prep, pick["phenotype_idx"], pick["lambda_selected"], params)
    nv["kernel_seconds_same_phenotype"] = pick["seconds"]

    def row(label, sec, n_ok, cores):
        fits = FITS_PER_PHENOTYPE * n_ok
        return {
            "label": label,
            "cores": cores,
            "seconds": sec,
            "phenotypes_fitted": n_ok,
            "s_per_phenotype": sec / n_ok,
            "fits": fits,
            "fits_per_s": fits / sec,
        }

    rows = [
        row(
            f"finemap drop-in, whole process, {c} core{'s' if c > 1 else ''} "
            f"(median of {args.repeats})",
            w["seconds"],
            w["ok"],
            c,
        )
        for c, w in whole.items()
    ]
    rows.append(row("kernel only (finemap_phenotype), 1 core", kern["seconds"], kern["ok"], 1))
    kernel_rate = rows[-1]["fits_per_s"]
    speedups = {
        "kernel_vs_naive_fits_per_s": kernel_rate / nv["extrapolated_fits_per_s"],
        "kernel_vs_naive_same_phenotype": nv["extrapolated_seconds_per_phenotype"]
        / pick["seconds"],
    }
    ns = [r["n_samples"] for r in ok]
    ps = [r["p_kept"] for r in ok]
    result = {
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cohort": _params(),
        "fits_per_phenotype": FITS_PER_PHENOTYPE,
        "setup": setup,
        "numba_cache_before_first_run": cache,
        "repeats": args.repeats,
        "whole_process": {str(c): w for c, w in whole.items()},
        "rows": rows,
        "kernel_only": kern,
        "naive": nv,
        "speedups": speedups,
        "total_seconds": time.perf_counter() - t_start,
    }
    (OUT / "bench_finemap.json").write_text(json.dumps(result, indent=2))

    print(
        f"cohort: {COHORT['n_samples']} samples, {COHORT['n_phenotypes']} phenotypes, "
        f"{COHORT['n_variants']:,} variants on chr1 (20 Mb), missing rate "
        f"{COHORT['missing_rate']}, seed {COHORT['seed']}; fitted phenotypes: n = "
        f"{min(ns)}-{max(ns)} good samples, p = {min(ps)}-{max(ps)} coverage-kept variants "
        f"(median {statistics.median(ps):g})"
    )
    if setup["ingest_seconds"] is not None:
        print(f"simulated + ingested now: ingest {setup['ingest_seconds']:.2f} s")
    print(f"numba cache before the first run: {cache}")
    print(
        f"EN fits per fitted phenotype: 5 x 30 CV + 1 full + 200 stability = {FITS_PER_PHENOTYPE}"
    )
    print()
    print("| step | time (s) | phenotypes fitted | s / phenotype | EN fits | fits / s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['label']} | {r['seconds']:.2f} | {r['phenotypes_fitted']} | "
            f"{r['s_per_phenotype']:.3f} | {r['fits']:,} | {r['fits_per_s']:,.0f} |"
        )
    print(
        f"| naive pure-Python `tests/reference_enet.py` loop, 1 core, 1 phenotype (idx "
        f"{nv['phenotype_idx']}, p = {nv['p_kept']}), reduced workload: {nv['cv_fits']} of 150 "
        f"CV-path fits ({nv['cv_folds_completed']} of 5 folds), 1 full fit, "
        f"{nv['stability_fits']} stability fits | "
        f"{nv['seconds']:.2f} | 1 | | {nv['fits']} | {nv['fits_per_s']:.2f} |"
    )
    print(
        f"| naive, extrapolated per fit to the full pipeline (150 CV at "
        f"{nv['cv_seconds'] / max(nv['cv_fits'], 1):.3f} s + 1 full + 200 stability at "
        f"{nv['stability_seconds'] / max(nv['stability_fits'], 1):.3f} s) | | | "
        f"{nv['extrapolated_seconds_per_phenotype']:.1f} | {FITS_PER_PHENOTYPE} | "
        f"{nv['extrapolated_fits_per_s']:.2f} |"
    )
    print()
    print(
        f"- kernel vs naive: {kernel_rate:,.0f} vs {nv['extrapolated_fits_per_s']:.2f} fits/s "
        f"(naive extrapolated at the pipeline's fit mix) -> "
        f"{speedups['kernel_vs_naive_fits_per_s']:,.0f}x; same phenotype: naive extrapolated "
        f"{nv['extrapolated_seconds_per_phenotype']:.1f} s vs kernel {pick['seconds']:.3f} s -> "
        f"{speedups['kernel_vs_naive_same_phenotype']:,.0f}x"
    )
    print(
        f"- naive check: its CV errors (the folds it ran) differ from the kernel's by at most "
        f"{nv['cv_max_abs_err_diff_vs_kernel']:.3g}"
        + (
            ""
            if nv["cv_fits"] % N_LAMBDA == 0
            else "; the last fold was cut short by the "
            "wall-time cap (its skipped small-lambda fits are the slowest, so the naive rate is "
            "an upper bound)"
        )
    )
    ks = [r["seconds"] for r in ok]
    print(
        f"- kernel only, per phenotype: min {min(ks):.3f} s, median {statistics.median(ks):.3f} s, "
        f"max {max(ks):.3f} s (data preparation and result framing not included)"
    )
    print(f"- total benchmark time: {result['total_seconds']:.0f} s")


if __name__ == "__main__":
    main()
