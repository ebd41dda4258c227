"""Benchmark: ingest and nominal mode on a 400 x 300 x 30,000 cohort, against a naive loop.

Simulates (once, cached in benchmarks/out/) a cohort like issue 12 describes: 400 samples,
300 phenotypes, 30,000 variants on one 60 Mb chromosome (~1,000 variants per cis window), 2%
missing genotypes, ~4 breakpoints per sample.  Then times

  (a) ingest into a fresh warehouse (in-process ``api.ingest``),
  (b) nominal best-variant and (c) all-variants runs, each as a whole process of the real
      command line (``python -m segqtl run ... --num-cores 2``) on the warm warehouse: one
      untimed run first (fills the genotype cache), then the median of ``--repeats`` runs,
  (d) the naive per-variant ``numpy.linalg.lstsq`` loop (the reference's approach,
      ``naive.nominal``) on a few phenotypes, and the naive permutation scan
      (``naive.perm``: per permutation, per variant, one fit) on fewer, for perm's baseline,
  (e) the nominal worker's computation alone, one core, in-process,

and prints a Markdown table (the figures go to benchmarks/out/nominal.json).
``$SEGQTL_BENCH_OUT`` moves benchmarks/out (this script's, bench_perm's, bench_finemap's and
bench_validate's) elsewhere.

Usage: python benchmarks/bench_nominal.py [--cores 2] [--repeats 3] [--naive-phenotypes 5]
       [--naive-perm-phenotypes 2] [--naive-permutations 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import naive

from segqtl import api
from segqtl.simulate import simulate_cohort
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect

OUT = Path(os.environ.get("SEGQTL_BENCH_OUT") or Path(__file__).parent / "out")
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


def run_args(db: Path, mode: str, cores: int, *extra: str) -> list[str]:
    """``segqtl run`` of the bench cohort's chromosome 1, quiet: the timed command line."""
    return ["run", "--db", str(db), "--cohort", "bench", "--mode", mode, "--chromosome", "1",
            "--num-cores", str(cores), "--quiet", *extra]  # fmt: skip


def time_cli(args: list[str], repeats: int = 3, warmup: int = 1) -> dict:
    """Whole-process timing of ``python -m segqtl ARGS``: ``warmup`` untimed runs, then the
    median wall time of ``repeats`` runs.

    Returns ``{"seconds": median, "all_seconds", "load_before": the 1-minute load average
    before each timed run, "stdout": the last run's stdout words}``.  (No CPU time: the
    workers are not children the parent waits for, so ``RUSAGE_CHILDREN`` would miss them.)

    The command runs as an installed segqtl runs, with its modules' bytecode cached (pip
    compiles it at install; here a folder under benchmarks/out, ``PYTHONPYCACHEPREFIX``, filled
    by the warm-up), also where the environment sets ``PYTHONDONTWRITEBYTECODE``, as
    ``bench_startup.py`` does: otherwise a work tree whose files changed since their bytecode
    was written compiles them at every start (a few tenths of a second).
    """
    cmd = [sys.executable, "-m", "segqtl", *args]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(OUT / "pycache")
    walls, loads, out = [], [], []
    for i in range(warmup + repeats):
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        if done.returncode:
            sys.exit(f"benchmark command failed: {' '.join(cmd)}\n{done.stderr.strip()}")
        if i >= warmup:
            walls.append(wall)
            loads.append(load)
        out = done.stdout.split()
    return {
        "seconds": statistics.median(walls),
        "all_seconds": walls,
        "load_before": loads,
        "stdout": out,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per workload (median)")
    ap.add_argument("--naive-phenotypes", type=int, default=5)
    ap.add_argument("--naive-perm-phenotypes", type=int, default=2)
    ap.add_argument("--naive-permutations", type=int, default=20)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    c = cohort()
    t_sim = time.perf_counter() - t0
    db = OUT / "bench.duckdb"
    db.unlink(missing_ok=True)
    Path(str(db) + ".wal").unlink(missing_ok=True)
    t0 = time.perf_counter()
    ingest(db, c)
    t_ingest = time.perf_counter() - t0

    runs = []
    for label, extra in (
        ("nominal, best variant", []),
        ("nominal, all variants", ["--all-variants"]),
    ):
        timing = time_cli(run_args(db, "nominal", args.cores, *extra), repeats=args.repeats)
        run_id = int(timing.pop("stdout")[-1])
        con = connect(db, read_only=True)
        n_pairs, n_rows, run_s = con.execute(
            "SELECT n_pairs, n_rows, seconds FROM runs WHERE run_id = ?", [run_id]
        ).fetchall()[0]
        con.close()
        runs.append(
            {
                "label": f"{label} ({args.cores} cores)",
                **timing,
                "pairs": n_pairs,
                "rows": n_rows,
                "run_seconds_recorded": run_s,
            }
        )
    nv = naive.nominal(db, "bench", args.naive_phenotypes)
    nvp = naive.perm(db, "bench", args.naive_perm_phenotypes, args.naive_permutations)
    kernel_count, kernel_t = kernel_only(db)

    result = {
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cohort": {k: list(v) if isinstance(v, tuple) else v for k, v in COHORT.items()},
        "cores": args.cores,
        "repeats": args.repeats,
        "whole_process": True,
        "simulate_seconds": t_sim,
        "ingest_seconds": t_ingest,
        "runs": runs,
        "naive": nv,
        "naive_perm": nvp,
        "kernel_only_1_core": {"pairs": kernel_count, "seconds": kernel_t},
    }
    (OUT / "nominal.json").write_text(json.dumps(result, indent=2))
    naive_rate = nv["pairs"] / nv["seconds"]
    print(f"whole process (python -m segqtl run), median of {args.repeats}, warm warehouse\n")
    print("| step | time (s) | cis pairs | pairs/s | vs naive |")
    print("|---|---:|---:|---:|---:|")
    print(f"| ingest (400 samples, 300 phenotypes, 30,000 variants) | {t_ingest:.2f} | | | |")
    for r in runs:
        sec, pairs = r["seconds"], r["pairs"]
        print(
            f"| {r['label']} | {sec:.2f} | {pairs:,} | {pairs / sec:,.0f} | "
            f"{pairs / sec / naive_rate:,.0f}x |"
        )
    print(
        f"| worker computation alone, all variants, 1 core | {kernel_t:.2f} | "
        f"{kernel_count:,} | {kernel_count / kernel_t:,.0f} | "
        f"{kernel_count / kernel_t / naive_rate:,.0f}x |"
    )
    print(
        f"| naive per-variant lstsq loop, 1 core ({args.naive_phenotypes} phenotypes) | "
        f"{nv['seconds']:.2f} | {nv['pairs']:,} | {naive_rate:,.0f} | 1x |"
    )
    print(
        f"| naive permutation scan, 1 core ({nvp['phenotypes']} phenotypes x "
        f"{nvp['permutations']} permutations) | {nvp['seconds']:.2f} | "
        f"{nvp['perm_variants']:,} fits | {1 / nvp['seconds_per_perm_variant']:,.0f} fits/s | |"
    )


if __name__ == "__main__":
    main()
