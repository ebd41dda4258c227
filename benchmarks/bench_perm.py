"""Benchmark: perm mode (beta, 1000 permutations) on the nominal benchmark's cohort, 2 cores.

Uses the cohort and warehouse of ``bench_nominal.py`` (simulated and ingested if missing):
400 samples x 300 phenotypes x 30,000 variants, ~1,000 cis variants per phenotype.
Reports the run time and permutations x variants tested per second.

Usage: python benchmarks/bench_perm.py [--cores 2] [--permutations 1000]
"""

from __future__ import annotations

import argparse
import json
import time

from bench_nominal import OUT, cohort, ingest

from segqtl import api
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--permutations", type=int, default=1000)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    db = OUT / "bench.duckdb"
    con = connect(db)
    has = con.execute("SELECT count(*) FROM cohorts WHERE cohort = 'bench'").fetchall()[0][0]
    con.close()
    if not has:
        ingest(db, cohort())
    spec = RunSpec(
        mode="perm",
        cohort="bench",
        chromosomes=["1"],
        num_cores=args.cores,
        num_permutations=args.permutations,
        perm_method="beta",
    )
    t0 = time.perf_counter()
    run_id = api.run(db, spec)
    elapsed = time.perf_counter() - t0
    con = connect(db, read_only=True)
    n_ph, tested = con.execute(
        "SELECT n_phenotypes, n_pairs_tested FROM runs WHERE run_id = ?", [run_id]
    ).fetchall()[0]
    con.close()
    rate = tested * args.permutations / elapsed
    (OUT / "perm.json").write_text(
        json.dumps(
            {
                "permutations": args.permutations,
                "cores": args.cores,
                "seconds": elapsed,
                "phenotypes": n_ph,
                "pairs_tested": tested,
                "perm_x_variants_per_s": rate,
            },
            indent=2,
        )
    )
    print("| step | time (s) | phenotypes | cis pairs tested | permutations x variants / s |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| perm, beta, {args.permutations} permutations ({args.cores} cores) | "
        f"{elapsed:.1f} | {n_ph} | {tested:,} | {rate:,.0f} |"
    )


if __name__ == "__main__":
    main()
