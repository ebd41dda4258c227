"""Benchmark: validate mode with bootstrap CIs and permutations on the finemap benchmark's design.

Simulates (once, cached in benchmarks/out/validate_cohort) the finemap benchmark's cohort — 300
samples, chromosome 1, 20 phenotypes, 2,500 variants on 20 Mb, 2% missing genotypes, seed 7 —
plus a 200-sample validation cohort, ingests both into benchmarks/out/validate.duckdb, runs
finemap (2 cores), then times validate taking that run's models with ``--bootstrap_ci
--n_boot_ci 1000 --n_permutations 1000`` (recalibrated and frozen), 2 cores.

Usage: python benchmarks/bench_validate.py [--cores 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from segqtl import api
from segqtl.simulate import simulate_cohort
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect

OUT = Path(__file__).parent / "out"
TARGET = OUT / "validate_cohort"
DB = OUT / "validate.duckdb"
COHORT = dict(
    seed=7,
    n_samples=300,
    chromosomes=("1",),
    n_phenotypes=20,
    n_variants=2500,
    chromosome_length=20_000_000,
    missing_rate=0.02,
    n_validation_samples=200,
)


def ensure_ingested() -> None:
    stamp = TARGET / "params.json"
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in COHORT.items()}
    if stamp.exists() and json.loads(stamp.read_text()) == params and DB.exists():
        return
    DB.unlink(missing_ok=True)
    c = simulate_cohort(TARGET, **COHORT)
    stamp.write_text(json.dumps(params))
    for name, cohort in (("discovery", c), ("validation", c.validation)):
        api.ingest(
            DB,
            name,
            genotypes=cohort.genotypes,
            quantifications=cohort.quantifications,
            covariates=cohort.covariates,
            copynumber=cohort.copynumber,
            segmentation=cohort.segmentation,
        )


def timed_run(spec: RunSpec) -> tuple[int, float]:
    t0 = time.perf_counter()
    run_id = api.run(DB, spec)
    return run_id, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    ensure_ingested()
    base = dict(cohort="discovery", chromosomes=["1"], num_cores=args.cores)
    fm_run, fm_s = timed_run(RunSpec(mode="finemap", **base))
    rows = [("finemap (the models), 2 cores", fm_s)]
    for mode in ("recalibrated", "frozen"):
        _, secs = timed_run(
            RunSpec(
                mode="validate",
                validation_cohort="validation",
                finemap_run=fm_run,
                validation_mode=mode,
                bootstrap_ci=True,
                n_boot_ci=1000,
                n_permutations=1000,
                save_model_audit=True,
                **base,
            )
        )
        rows.append((f"validate {mode}, 1000 bootstrap CIs + 1000 permutations", secs))
    con = connect(DB, read_only=True)
    scored = con.execute(
        "SELECT count(*) FROM validate_stats WHERE run_id = (SELECT max(run_id) FROM runs) "
        "AND status = 0"
    ).fetchone()[0]
    con.close()
    print(f"{COHORT['n_phenotypes']} phenotypes, {scored} scored in the validation cohort")
    print("| step | time (s) | s / phenotype |\n|---|---:|---:|")
    for label, secs in rows:
        print(f"| {label} | {secs:.2f} | {secs / COHORT['n_phenotypes']:.3f} |")
    (OUT / "validate.json").write_text(json.dumps({"rows": rows, "scored": scored}, indent=1))


if __name__ == "__main__":
    main()
