"""Benchmark: perm mode (beta) on the nominal benchmark's cohort, 2 cores, against the GEMM floor.

Uses the cohort and warehouse of ``bench_nominal.py`` (simulated and ingested if missing):
400 samples x 300 phenotypes x 30,000 variants, ~1,000 cis variants per phenotype.

Times the real command line as a whole process (``python -m segqtl run --mode perm ...``, as
issue 12 asks: start-up, the workers' warm-up and the q-values included): ``--warmup`` untimed
runs (default 1: numba's cache, the genotype cache), then the median of ``--repeats`` runs
(default 3; above 1,000 permutations one run and no warm-up: ``bench_all.py --long`` runs it
after the 1,000-permutation runs).
Reports the run time, permutations x variants tested per second, and the cost per
permutation x variant x sample in core-nanoseconds (wall time x cores / (B x pairs x samples)).
Beside it stands the floor: the permutation scan's irreducible work is two dot products per
(permutation, variant) over the samples — ``s_v · y*_b`` and ``d_v · y*_b``, one matrix product
(docs/methods.md#perm-null) — i.e. 4 flops per permutation x variant x sample, timed here as the
machine's float64 GEMM rate (2000 x 2000, numpy's BLAS) with one thread, as the workers run (they
pin BLAS to one thread each), and with all threads: the floor issue 12 asks for.  The scan now
takes that product in single precision and computes exactly only the t that can be a
permutation's largest (``segqtl.kernels.perm_compiled.screened_max_abs_t``), so the same 4 flops
at the float32 GEMM rate are reported too: the floor of the scan as it runs.

Usage: python benchmarks/bench_perm.py [--cores 2] [--permutations 1000] [--repeats 3]
       [--warmup 1]
(``--permutations 10000`` for the large run.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
from bench_nominal import COHORT, OUT, cohort, ingest, run_args, time_cli
from threadpoolctl import threadpool_limits

from segqtl.warehouse.db import connect

#: The issue's targets (seconds, 2 cores) by number of permutations.
TARGETS = {1000: 10.0, 10000: 60.0}
#: flops per permutation x variant x sample: two multiply-adds (s · y* and d · y*).
FLOPS_PER_UNIT = 4


def gemm_rate(threads: int | None, size: int = 2000, repeats: int = 3, dtype=np.float64) -> float:
    """Best GEMM rate (flop/s) of ``a @ b`` for ``size x size`` matrices of ``dtype``.

    ``threads``: BLAS threads (None = the library's default).
    """
    rng = np.random.default_rng(0)
    a = rng.random((size, size)).astype(dtype)
    b = rng.random((size, size)).astype(dtype)
    with threadpool_limits(threads):
        a @ b  # warm-up
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
    return 2.0 * size**3 / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument(
        "--repeats", type=int, default=None, help="timed runs, median (3; 1 above 1000 perms)"
    )
    ap.add_argument(
        "--warmup", type=int, default=None, help="untimed runs first (1; 0 above 1000 perms)"
    )
    args = ap.parse_args()
    # a long run is timed once, after the 1000-permutation run warmed the caches (bench_all)
    long_run = args.permutations > 1000
    args.repeats = args.repeats if args.repeats is not None else (1 if long_run else 3)
    args.warmup = args.warmup if args.warmup is not None else (0 if long_run else 1)
    OUT.mkdir(exist_ok=True)
    db = OUT / "bench.duckdb"
    con = connect(db)
    has = con.execute("SELECT count(*) FROM cohorts WHERE cohort = 'bench'").fetchall()[0][0]
    con.close()
    if not has:
        ingest(db, cohort())
    # measured before the run, so that the workers do not compete with it
    rate_1 = gemm_rate(1)
    rate_all = gemm_rate(None)
    rate_32 = gemm_rate(1, dtype=np.float32)
    command = run_args(
        db, "perm", args.cores, "--num-permutations", str(args.permutations),
        "--perm-method", "beta",
    )  # fmt: skip
    timing = time_cli(command, repeats=args.repeats, warmup=args.warmup)
    load_before = statistics.mean(timing["load_before"])
    load_after = os.getloadavg()[0]
    elapsed = timing["seconds"]
    run_id = int(timing["stdout"][-1])  # the last run's
    con = connect(db, read_only=True)
    n_ph, tested, *phase_s = con.execute(
        "SELECT n_phenotypes, n_pairs_tested, plan_seconds, read_seconds, compute_seconds, "
        "commit_seconds FROM runs WHERE run_id = ?",
        [run_id],
    ).fetchall()[0]
    con.close()
    phases = dict(zip(("plan", "read", "compute", "commit"), phase_s, strict=True))
    n_samples = COHORT["n_samples"]
    units = args.permutations * tested * n_samples  # permutation x variant x sample
    rate = tested * args.permutations / elapsed
    cost_ns = elapsed * args.cores / units * 1e9
    floor_ns = FLOPS_PER_UNIT / rate_1 * 1e9
    floor_s = units * FLOPS_PER_UNIT / (rate_1 * args.cores)
    floor32_ns = FLOPS_PER_UNIT / rate_32 * 1e9
    floor32_s = units * FLOPS_PER_UNIT / (rate_32 * args.cores)
    target = TARGETS.get(args.permutations)
    name = "perm.json" if args.permutations == 1000 else f"perm_{args.permutations}.json"
    (OUT / name).write_text(
        json.dumps(
            {
                "permutations": args.permutations,
                "cores": args.cores,
                "seconds": elapsed,
                "whole_process": True,
                "repeats": args.repeats,
                "all_seconds": timing["all_seconds"],
                "target_seconds": target,
                "phenotypes": n_ph,
                "pairs_tested": tested,
                "samples": n_samples,
                "perm_x_variants_per_s": rate,
                "core_ns_per_perm_variant_sample": cost_ns,
                "gemm_gflops_1_thread": rate_1 / 1e9,
                "gemm_gflops_all_threads": rate_all / 1e9,
                "floor_core_ns_per_perm_variant_sample": floor_ns,
                "floor_seconds": floor_s,
                "gemm32_gflops_1_thread": rate_32 / 1e9,
                "floor32_core_ns_per_perm_variant_sample": floor32_ns,
                "floor32_seconds": floor32_s,
                # the run's [phases] (``segqtl show``): compute = the units' seconds summed
                # over the workers; and the machine's 1-minute load average around the run
                "phase_seconds": phases,
                "load_average_before": load_before,
                "load_average_after": load_after,
            },
            indent=2,
        )
    )
    tgt = f"≤ {target:.0f}" if target else "—"
    print(
        f"perm, beta, {args.permutations} permutations, {args.cores} cores: {n_ph} phenotypes, "
        f"{tested:,} cis pairs tested, {n_samples} samples\n"
    )
    print("| figure | measured | target / floor |")
    print("|---|---:|---:|")
    print(
        f"| run time (s) | {elapsed:.1f} | {tgt} (target); {floor_s:.1f} (float64 GEMM floor); "
        f"{floor32_s:.1f} (float32) |"
    )
    print(f"| permutations x variants / s | {rate:,.0f} | |")
    print(
        f"| core-ns per permutation x variant x sample | {cost_ns:.3f} | "
        f"{floor_ns:.3f} (floor: {FLOPS_PER_UNIT} flops at the 1-thread float64 GEMM rate); "
        f"{floor32_ns:.3f} (float32) |"
    )
    print(f"| float64 GEMM 2000³, 1 thread (GFLOP/s) | {rate_1 / 1e9:.1f} | |")
    print(f"| float64 GEMM 2000³, all threads (GFLOP/s) | {rate_all / 1e9:.1f} | |")
    print(f"| float32 GEMM 2000³, 1 thread (GFLOP/s) | {rate_32 / 1e9:.1f} | |")
    print(
        "\nphases (s): "
        + ", ".join(f"{k} {v:.2f}" for k, v in phases.items())
        + f" (compute: summed over the workers); load average {load_before:.2f} before, "
        f"{load_after:.2f} after"
    )


if __name__ == "__main__":
    main()
