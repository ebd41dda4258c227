"""Benchmark: finemap mode (missing-aware elastic net + stability selection) against a naive loop.

Simulates (once, cached in benchmarks/out/) a cohort of 300 samples, chromosome 1 only, 20
phenotypes and 2,500 variants on a 20 Mb chromosome (~250 variants per +-1 Mb cis window), 2%
missing genotypes, seed 7, and ingests it as 'finemap_bench' into benchmarks/out/finemap.duckdb
(reused if already there).  Then times

  (a) ``api.run`` in finemap mode with --num-cores N, twice (the first may include numba
      compilation into the on-disk cache; the second is warm),
  (b) the same with one core (warm),
  (c) the compiled kernel alone (``kernels.finemap.finemap_phenotype``), one core, in-process,
      on every phenotype's prepared inputs,
  (d) a naive baseline: the pure-Python per-variant solver ``tests/reference_enet.py`` on ONE
      phenotype, with a reduced workload (as many whole CV folds' warm-started 30-lambda paths
      as fit in 60 s, the full fit and 50 stability fits, all capped at ~90 s of wall time),
      extrapolated per fit to the whole pipeline,

and prints a Markdown table (also written to benchmarks/out/bench_finemap.json).

EN fits per phenotype are counted as for the reference (SegmentQTL):
5 folds x 30 lambdas + 1 full fit + 200 stability subsamples = 351 (compute_r2 is off).

Usage: python benchmarks/bench_finemap.py [--cores 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from segqtl import api
from segqtl.engine.units import params_from_spec
from segqtl.simulate import SimulatedCohort, simulate_cohort
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect

OUT = Path(__file__).parent / "out"
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
N_FOLDS, N_LAMBDA, N_BOOTSTRAP = 5, 30, 200
FITS_PER_PHENOTYPE = N_FOLDS * N_LAMBDA + 1 + N_BOOTSTRAP  # 351, as counted for the reference
REFERENCE_S_PER_PHENOTYPE = 11.0  # the reference on data_big: N=400, p~200-300, 1 core
NAIVE_BUDGET_S = 90.0  # wall-time cap of the naive baseline
NAIVE_CV_BUDGET_S = 60.0  # ... of which the CV path may use at most this
NAIVE_STABILITY_FITS = 50


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
        DB.unlink(missing_ok=True)
        Path(str(DB) + ".wal").unlink(missing_ok=True)
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


def timed_run(cores: int) -> dict:
    spec = RunSpec(mode="finemap", cohort=NAME, chromosomes=["1"], num_cores=cores)
    t0 = time.perf_counter()
    run_id = api.run(DB, spec)
    elapsed = time.perf_counter() - t0
    con = connect(DB, read_only=True)
    n_ok = con.execute(
        "SELECT count(DISTINCT phenotype_idx) FROM finemap_stats WHERE run_id = ? AND status = 0",
        [run_id],
    ).fetchall()[0][0]
    n_ph = con.execute("SELECT n_phenotypes FROM runs WHERE run_id = ?", [run_id]).fetchall()[0][0]
    con.close()
    return {"run_id": run_id, "cores": cores, "seconds": elapsed, "phenotypes": n_ph, "ok": n_ok}


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


def _naive_standardise(d: np.ndarray, cols: np.ndarray, min_count: int):
    """The reference's per-variant Python loop over a subsample: mask, mean, std, zero-fill."""
    p = d.shape[0]
    Z = np.zeros((p, cols.size))
    keep = np.zeros(p, dtype=bool)
    for v in range(p):
        row = d[v, cols]
        obs = np.flatnonzero(~np.isnan(row))
        if obs.size < min_count:
            continue
        vals = row[obs]
        mu, sd = np.mean(vals), np.std(vals)
        if sd < 1e-10:
            continue
        keep[v] = True
        Z[v, obs] = (vals - mu) / sd
    return keep, Z


def naive(prep, ph_idx: int, lam_sel: float) -> dict:
    """Pure-Python per-variant solver (``tests/reference_enet.py``) on one phenotype, reduced
    workload."""
    import sys

    from threadpoolctl import threadpool_limits

    from segqtl.kernels import finemap as fm

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ is a package there
    from tests import reference_enet as enet

    params = params_from_spec(
        fm.FinemapParams, RunSpec(mode="finemap", cohort=NAME, chromosomes=["1"])
    )
    alpha = params.alpha_en
    y, X, n = np.ascontiguousarray(prep.y), prep.X, prep.n
    required = max(fm.MIN_SAMPLES, int(params.coverage_tau * n))
    _, _, _, keep, Zall = fm.standardise(prep.d, np.arange(n), required)  # not timed
    kept = np.flatnonzero(keep)
    Z = np.ascontiguousarray(Zall[kept])
    d_kept = np.ascontiguousarray(prep.d[kept])
    grid = fm.lambda_grid(enet.lambda_max(y, Z, X, alpha), params.n_lambda, params.lambda_ratio)
    E_kernel = fm.cv_errors(y, Z, X, grid, alpha, 42 + ph_idx)  # to check the naive numbers
    out: dict = {"phenotype_idx": ph_idx, "n_samples": n, "p_kept": int(kept.size)}
    with threadpool_limits(1):
        start = time.perf_counter()
        # (1) whole folds' warm-started lambda paths (enet_path's loop, one enet_fit per lambda,
        # so that the wall-time cap can also stop a fold part-way), while the CV budget allows
        cv_times, cv_sweeps, max_err_diff, folds_done = [], [], 0.0, 0
        for f_idx, (tr, te) in enumerate(enet.cv_folds(n, 42 + ph_idx)):
            elapsed = time.perf_counter() - start
            if folds_done and elapsed + elapsed / folds_done > NAIVE_CV_BUDGET_S:
                break  # the next fold would not finish in time
            beta = theta = None
            ytr, Ztr, Xtr = y[tr], Z[:, tr], X[tr]
            for t, lam in enumerate(grid):
                if time.perf_counter() - start > NAIVE_CV_BUDGET_S:
                    break
                t0 = time.perf_counter()
                f = enet.enet_fit(ytr, Ztr, Xtr, float(lam), alpha, *fm.CV_PATH, beta, theta)
                cv_times.append(time.perf_counter() - t0)
                cv_sweeps.append(f.n_iter)
                beta, theta = f.beta, f.theta
                err = np.mean((y[te] - enet.predict(X[te], Z[:, te], f)) ** 2)
                max_err_diff = max(max_err_diff, abs(err - E_kernel[t, f_idx]))
            else:
                folds_done += 1
                continue
            break
        # (2) the full-data fit at lambda_sel (cold)
        t0 = time.perf_counter()
        f = enet.enet_fit(y, Z, X, lam_sel, alpha, *fm.FULL_FIT)
        full_time, full_sweeps = time.perf_counter() - t0, f.n_iter
        # (3) stability fits at lambda_sel on the first subsamples (the kernel's first ones)
        n_sub = fm.n_subsample(n, params.subsample_frac)
        subs = fm.stability_subsamples(n, n_sub, NAIVE_STABILITY_FITS, 42 + ph_idx)
        st_times, st_sweeps = [], []
        for sub in subs:
            if st_times and time.perf_counter() - start > NAIVE_BUDGET_S:
                break
            t0 = time.perf_counter()
            keep_b, Zb = _naive_standardise(d_kept, sub, params.min_obs_boot)
            if keep_b.any():
                f = enet.enet_fit(y[sub], Zb, X[sub], lam_sel, alpha, *fm.STABILITY_FIT)
                st_sweeps.append(f.n_iter)
            st_times.append(time.perf_counter() - t0)
        total = time.perf_counter() - start
    n_fits = len(cv_times) + 1 + len(st_times)
    mean_cv = statistics.fmean(cv_times) if cv_times else float("nan")
    mean_st = statistics.fmean(st_times) if st_times else float("nan")
    # the whole pipeline at the measured per-fit costs: 150 CV fits, 1 full fit, 200 stability
    per_phenotype = N_FOLDS * N_LAMBDA * mean_cv + full_time + N_BOOTSTRAP * mean_st
    out.update(
        seconds=total,
        fits=n_fits,
        fits_per_s=n_fits / total,
        cv_fits=len(cv_times),
        cv_folds_completed=folds_done,
        cv_seconds=sum(cv_times),
        cv_sweeps=cv_sweeps,
        cv_max_abs_err_diff_vs_kernel=max_err_diff,
        full_fit_seconds=full_time,
        full_fit_sweeps=full_sweeps,
        stability_fits=len(st_times),
        stability_seconds=sum(st_times),
        stability_sweeps=st_sweeps,
        extrapolated_seconds_per_phenotype=per_phenotype,
        extrapolated_fits_per_s=FITS_PER_PHENOTYPE / per_phenotype,
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    t_start = time.perf_counter()
    setup = ensure_ingested()
    cache = numba_cache_state()

    first = timed_run(args.cores)
    warm = timed_run(args.cores)
    single = timed_run(1)
    preps = prepared_inputs()
    kern = kernel_only(preps)

    # naive baseline on the phenotype of median kernel time (among those fitted)
    ok = sorted((r for r in kern["phenotypes"] if r["status"] == 0), key=lambda r: r["seconds"])
    pick = ok[len(ok) // 2]
    prep = dict(preps)[pick["phenotype_idx"]]
    nv = naive(prep, pick["phenotype_idx"], pick["lambda_selected"])
    nv["kernel_seconds_same_phenotype"] = pick["seconds"]

    def row(label, sec, n_ok):
        fits = FITS_PER_PHENOTYPE * n_ok
        return {
            "label": label,
            "seconds": sec,
            "phenotypes_fitted": n_ok,
            "s_per_phenotype": sec / n_ok,
            "fits": fits,
            "fits_per_s": fits / sec,
        }

    rows = [
        row(
            f"api.run finemap, {args.cores} cores, first (includes JIT compile if cache is cold)",
            first["seconds"],
            first["ok"],
        ),
        row(f"api.run finemap, {args.cores} cores, warm", warm["seconds"], warm["ok"]),
        row("api.run finemap, 1 core, warm", single["seconds"], single["ok"]),
        row("kernel only (finemap_phenotype), 1 core", kern["seconds"], kern["ok"]),
    ]
    warm_s = rows[1]["s_per_phenotype"]
    kernel_rate = rows[3]["fits_per_s"]
    speedups = {
        "reference_s_per_phenotype": REFERENCE_S_PER_PHENOTYPE,
        f"vs_reference_warm_{args.cores}_cores": REFERENCE_S_PER_PHENOTYPE / warm_s,
        "vs_reference_warm_1_core": REFERENCE_S_PER_PHENOTYPE / rows[2]["s_per_phenotype"],
        "kernel_vs_naive_fits_per_s": kernel_rate / nv["extrapolated_fits_per_s"],
        "kernel_vs_naive_same_phenotype": nv["extrapolated_seconds_per_phenotype"]
        / pick["seconds"],
    }
    ns = [r["n_samples"] for r in ok]
    ps = [r["p_kept"] for r in ok]
    result = {
        "cohort": _params(),
        "fits_per_phenotype": FITS_PER_PHENOTYPE,
        "setup": setup,
        "numba_cache_before_first_run": cache,
        "runs": [first, warm, single],
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
        f"- warm {args.cores}-core run: {warm_s:.3f} s per phenotype vs the reference's ~11 s "
        f"per phenotype -> {speedups[f'vs_reference_warm_{args.cores}_cores']:,.0f}x "
        f"(1 core: {speedups['vs_reference_warm_1_core']:,.0f}x). Caveat: the reference figure "
        "is the reference's measured time on a different data set (N=400, p~200-300, single core), "
        "not a same-data run."
    )
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
