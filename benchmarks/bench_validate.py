"""Benchmark: validate mode with bootstrap CIs and permutations on the finemap benchmark's design.

Simulates (once, cached in benchmarks/out/validate_cohort) the finemap benchmark's cohort — 300
samples, chromosome 1, 20 phenotypes, 2,500 variants on 20 Mb, 2% missing genotypes, seed 7 —
plus a 200-sample validation cohort, ingests both into benchmarks/out/validate.duckdb, runs
finemap (2 cores), then times validate taking that run's models with ``--bootstrap-ci
--n-boot-ci 1000 --n-permutations 1000`` (recalibrated and frozen), 2 cores.  Every timing is
the whole process of the real command line (``python -m segqtl run ...``) on the warm warehouse:
the finemap run once (it makes the models), each validate run once untimed, then the median of
``--repeats`` runs.

Usage: python benchmarks/bench_validate.py [--cores 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import time

from bench_nominal import OUT, time_cli

from segqtl import api
from segqtl.simulate import simulate_cohort
from segqtl.warehouse.db import connect

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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per workload (median)")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    ensure_ingested()
    base = ["run", "--db", str(DB), "--cohort", "discovery", "--chromosome", "1",
            "--num-cores", str(args.cores), "--quiet"]  # fmt: skip
    fm = time_cli([*base, "--mode", "finemap"], repeats=1, warmup=0)
    fm_run = int(fm.pop("stdout")[-1])
    rows = [{"label": f"finemap (the models), {args.cores} cores, one run", **fm}]
    for mode in ("recalibrated", "frozen"):
        timing = time_cli(
            [*base, "--mode", "validate", "--validation-cohort", "validation",
             "--finemap-run", str(fm_run), "--validation-mode", mode, "--bootstrap-ci",
             "--n-boot-ci", "1000", "--n-permutations", "1000", "--save-model-audit"],
            repeats=args.repeats,
        )  # fmt: skip
        timing.pop("stdout")
        label = f"validate {mode}, 1000 bootstrap CIs + 1000 permutations"
        rows.append({"label": f"{label} (median of {args.repeats})", "mode": mode, **timing})
    con = connect(DB, read_only=True)
    scored = con.execute(
        "SELECT count(*) FROM validate_stats WHERE run_id = (SELECT max(run_id) FROM runs) "
        "AND status = 0"
    ).fetchone()[0]
    con.close()
    print(f"{COHORT['n_phenotypes']} phenotypes, {scored} scored in the validation cohort")
    print("whole process (python -m segqtl run), warm warehouse")
    print("| step | time (s) | s / phenotype |\n|---|---:|---:|")
    for r in rows:
        print(
            f"| {r['label']} | {r['seconds']:.2f} | {r['seconds'] / COHORT['n_phenotypes']:.3f} |"
        )
    (OUT / "validate.json").write_text(
        json.dumps(
            {
                "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "cores": args.cores,
                "repeats": args.repeats,
                "whole_process": True,
                "phenotypes": COHORT["n_phenotypes"],
                "rows": rows,
                "scored": scored,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
