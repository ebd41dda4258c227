"""Benchmark: perm mode on a Dask LocalCluster against the local pool (issue 14).

Uses the cohort and warehouse of ``bench_nominal.py`` (simulated and ingested if missing):
400 samples x 300 phenotypes x 30,000 variants, ~1,000 cis variants per phenotype.  Runs perm
(beta, ``--permutations``, default 1000) on

  - the local pool with 1 and 2 cores (``--num-cores``),
  - a LocalCluster of 1 and 2 single-threaded worker processes, each in two ways: genotype
    rows shipped with every unit (the default of ``--executor dask``) and ``--shared-scratch``
    (the workers memory-map the parent's genotype copies, which sit in a folder they share).

Each Dask cluster is started once (its start-up time is reported apart: a cluster outlives
many runs), warmed by a 10-permutation run (the workers' imports and compiled kernels, and the
genotype copies of the shared folder), then timed over ``--repeats`` runs (median), as the pool
is (after one warm-up run that fills the genotype cache).  Reported per configuration: wall
seconds, overhead against the pool with as many cores, the parent's CPU seconds, the workers'
compute seconds per unit, the bytes each unit's payload takes once pickled (what is sent to a
worker) and the core-nanoseconds per permutation x variant x sample.

From the 2-worker shipping run it projects a genome-wide perm (20,000 phenotypes x 8,000 cis
variants, 400 samples, 1000 permutations) on 64 and 512 cores; the assumptions are printed with
it and stored in benchmarks/out/distributed.json.

Usage: python benchmarks/bench_distributed.py [--permutations 1000] [--repeats 3] [--quick]
(``--quick``: 100 permutations, one timed run per configuration.)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import statistics
import tempfile
import time
from contextlib import closing, contextmanager
from pathlib import Path

from bench_nominal import COHORT, OUT, cohort, ingest

from segqtl import api
from segqtl.engine import executors
from segqtl.engine.units import GenotypeRows
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect

#: The issue's target: Dask with 2 workers at most 10% slower than the pool with 2 cores.
TARGET_OVERHEAD = 0.10
#: The projected genome-wide run.
GENOME = {"phenotypes": 20_000, "cis_variants": 8_000, "samples": 400, "permutations": 1000}
PROJECT_CORES = (64, 512)
#: The parent's link for shipped genotypes in the projection (10 Gb/s Ethernet), bytes/s.
LINK_BYTES_PER_S = 1.25e9


class ShippedBytes:
    """Records the pickled size of each payload as the executor sends it (the bytes a worker
    receives per unit), and its genotype rows; installed over ``executors.for_workers``."""

    def __init__(self):
        self.sizes: list[int] = []
        self.rows: list[int] = []
        self.seconds: list[float] = []  # the parent's: reading the rows, and pickling
        self._original = executors.for_workers

    def __call__(self, payload, shared_scratch=None):
        start = time.perf_counter()
        out = self._original(payload, shared_scratch)
        buffers: list = []
        data = pickle.dumps(out, protocol=5, buffer_callback=buffers.append)
        self.seconds.append(time.perf_counter() - start)  # as Dask's own pickling costs
        self.sizes.append(len(data) + sum(b.raw().nbytes for b in buffers))
        genotypes = out.main.genotypes
        self.rows.append(genotypes.alt.shape[0] if isinstance(genotypes, GenotypeRows) else 0)
        return out

    @contextmanager
    def installed(self):
        executors.for_workers = self
        try:
            yield self
        finally:
            executors.for_workers = self._original


@contextmanager
def env(**values):
    """Environment variables set for the block (None: unset), restored afterwards."""
    old = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def spec(permutations: int, **kw) -> RunSpec:
    return RunSpec(
        mode="perm",
        cohort="bench",
        chromosomes=["1"],
        num_permutations=permutations,
        perm_method="beta",
        **kw,
    )


def timed_run(db, run_spec: RunSpec) -> dict:
    """One run: wall and parent CPU seconds, and the run's recorded units and phases."""
    wall, cpu = time.perf_counter(), time.process_time()
    run_id = api.run(db, run_spec)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    with closing(connect(db, read_only=True)) as con:
        n_units, unit_seconds = con.execute(
            "SELECT count(*), sum(seconds) FROM run_units WHERE run_id = ?", [run_id]
        ).fetchall()[0]
        tested, read_s, commit_s = con.execute(
            "SELECT n_pairs_tested, read_seconds, commit_seconds FROM runs WHERE run_id = ?",
            [run_id],
        ).fetchall()[0]
    return {
        "run_id": run_id,
        "wall_s": wall,
        "parent_cpu_s": cpu,
        "units": n_units,
        "unit_compute_s": unit_seconds,
        "pairs_tested": tested,
        "read_s": read_s,
        "commit_s": commit_s,
    }


def configuration(db, label, cores, permutations, repeats, kw, workers=None, shared=None):
    """Warm up, then time ``repeats`` runs of one configuration (a LocalCluster of ``workers``
    for Dask, started here and timed apart)."""
    import distributed

    result: dict = {"label": label, "cores": cores}
    cluster = None
    if workers is not None:
        start = time.perf_counter()
        cluster = executors.local_cluster(workers)  # the one --cluster local starts
        with distributed.Client(cluster, set_as_default=False) as client:
            client.wait_for_workers(workers)
        result["cluster_start_s"] = time.perf_counter() - start
        kw = {**kw, "executor": "dask", "scheduler": cluster.scheduler_address}
    if shared is not None:
        kw = {**kw, "shared_scratch": str(shared)}
    try:
        timed_run(db, spec(10, **kw))  # warm-up: imports, compiled kernels, genotype copies
        runs, shipped = [], ShippedBytes()
        with shipped.installed():
            for _ in range(repeats):
                runs.append(timed_run(db, spec(permutations, **kw)))
    finally:
        if cluster is not None:
            cluster.close()
    best = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]  # the median run
    result.update(
        runs=runs,
        wall_s=statistics.median(r["wall_s"] for r in runs),
        parent_cpu_s=best["parent_cpu_s"],
        units=best["units"],
        unit_compute_s=best["unit_compute_s"] / best["units"],
        pairs_tested=best["pairs_tested"],
        read_s_per_unit=best["read_s"] / best["units"],
        send_s_per_unit=statistics.mean(shipped.seconds) if shipped.seconds else None,
        commit_s_per_unit=best["commit_s"] / best["units"],
        bytes_per_unit=statistics.mean(shipped.sizes) if shipped.sizes else None,
        genotype_rows_per_unit=statistics.mean(shipped.rows) if shipped.rows else None,
    )
    work = best["pairs_tested"] * permutations * COHORT["n_samples"]
    result["core_ns_per_perm_variant_sample"] = result["wall_s"] * cores / work * 1e9
    return result


def parent_seconds(run: dict, pairs: float, sent: float, phenotypes: float) -> float:
    """The parent's seconds per unit of ``run`` scaled to another unit: its payload building
    by the ratio of cis ``pairs``, its sending by ``sent`` (rows, or phenotypes when only paths
    go), its commit by ``phenotypes``."""
    return (
        run["read_s_per_unit"] * pairs
        + run["send_s_per_unit"] * sent
        + run["commit_s_per_unit"] * phenotypes
    )


def projection(ship: dict, shared: dict, permutations: int, unit_sizes=(25, 5)) -> dict:
    """A genome-wide perm on 64 and 512 cores from the 2-worker runs' measured costs.

    The workers' cost is their compute seconds per pair-permutation (both runs' mean, from
    ``run_units.seconds``); the parent's, its seconds per unit building a payload (``read``),
    preparing it for sending (reading the rows and pickling) and committing the result;
    shipping's, the measured bytes per unit scaled to the genome's rows per unit.  The parent
    works while the workers compute, so the run takes the longest of the three.
    """
    n_samples = COHORT["n_samples"]
    per_pair_perm = statistics.mean(
        x["unit_compute_s"] * x["units"] / (x["pairs_tested"] * permutations)
        for x in (ship, shared)
    ) * (GENOME["samples"] / n_samples)  # linear in samples (the same 400 here)
    cis_bench = ship["pairs_tested"] / COHORT["n_phenotypes"]
    bench_size = COHORT["n_phenotypes"] / ship["units"]  # phenotypes per unit in the bench
    # a unit's rows: one cis window, plus a share of one for each further phenotype (the
    # bench's windows overlap as a genome's do: ~150 kb between genes, 2 Mb windows)
    extra = (ship["genotype_rows_per_unit"] / cis_bench - 1) / (bench_size - 1)
    row_bytes = 16 * GENOME["samples"] + 8
    fixed_bytes = ship["bytes_per_unit"] - ship["genotype_rows_per_unit"] * (16 * n_samples + 8)
    out: dict = {
        "assumptions": {
            **GENOME,
            "core_s_per_pair_permutation": per_pair_perm,
            "link_bytes_per_s": LINK_BYTES_PER_S,
            "cost": "the workers' compute is linear in phenotypes x cis variants x "
            "permutations x samples, at the 2-worker runs' measured seconds per unit",
            "unit_rows": "a unit's genotype rows = one cis window x (1 + "
            f"{extra:.3f} x (phenotypes per unit - 1)), the overlap measured in the bench",
            "parent": "the parent builds, sends and commits units one after another while "
            "the workers compute: per unit, the 2-worker run's payload building scaled by the "
            "unit's cis pairs, its sending (row reads and pickling) by the unit's rows when "
            "shipped (by its phenotypes with a shared scratch), its commit by its phenotypes",
            "link": "shipped bytes leave the parent over one 10 Gb/s link",
            "scaling": "perfect across workers, in waves of whole units (ceil(units/cores))",
        },
        "cores": {},
    }
    core_seconds = GENOME["phenotypes"] * GENOME["cis_variants"] * permutations * per_pair_perm
    for size in unit_sizes:
        units = math.ceil(GENOME["phenotypes"] / size)
        unit_s = core_seconds / units
        rows = GENOME["cis_variants"] * (1 + extra * (size - 1))
        pairs = size * GENOME["cis_variants"] / (bench_size * cis_bench)
        phenotypes = size / bench_size
        modes = {
            "shipped": (
                fixed_bytes * phenotypes + rows * row_bytes,
                parent_seconds(ship, pairs, rows / ship["genotype_rows_per_unit"], phenotypes),
            ),
            "shared scratch": (
                shared["bytes_per_unit"] * phenotypes,
                parent_seconds(shared, pairs, phenotypes, phenotypes),
            ),
        }
        for cores in PROJECT_CORES:
            for mode, (unit_bytes, parent_s) in modes.items():
                compute = math.ceil(units / cores) * unit_s
                link = units * unit_bytes / LINK_BYTES_PER_S
                parent = units * parent_s
                times = {"workers": compute, "parent link": link, "parent": parent}
                out["cores"][f"{cores} cores, unit size {size}, {mode}"] = {
                    "units": units,
                    "unit_compute_s": unit_s,
                    "mb_per_unit": unit_bytes / 1e6,
                    "workers_h": compute / 3600,
                    "link_h": link / 3600,
                    "parent_h": parent / 3600,
                    "hours": max(times.values()) / 3600,
                    "bottleneck": max(times, key=times.get),
                }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="100 permutations, one timed run")
    args = ap.parse_args()
    if args.quick:
        args.permutations, args.repeats = min(args.permutations, 100), 1
    OUT.mkdir(exist_ok=True)
    db = OUT / "bench.duckdb"
    with closing(connect(db)) as con:
        has = con.execute("SELECT count(*) FROM cohorts WHERE cohort = 'bench'").fetchall()[0][0]
    if not has:
        ingest(db, cohort())
    load_before = os.getloadavg()
    shared = Path(tempfile.mkdtemp(prefix="segqtl-shared-", dir=OUT))
    p, r = args.permutations, args.repeats
    results = []
    for cores in (1, 2):
        results.append(configuration(db, f"pool, {cores} cores", cores, p, r, {"num_cores": cores}))
    for workers in (1, 2):
        results.append(
            configuration(
                db, f"dask, {workers} workers, shipped", workers, p, r, {}, workers=workers
            )
        )
        # the shared folder holds the genotype copies (cache included) the workers read
        with env(SEGQTL_CACHE=str(shared / "cache")):
            results.append(
                configuration(
                    db,
                    f"dask, {workers} workers, shared scratch",
                    workers,
                    p,
                    r,
                    {},
                    workers=workers,
                    shared=shared,
                )
            )
    load_after = os.getloadavg()
    pool = {x["cores"]: x for x in results if x["label"].startswith("pool")}
    for x in results:
        x["overhead_vs_pool"] = x["wall_s"] / pool[x["cores"]]["wall_s"] - 1
    ship2 = next(x for x in results if x["label"] == "dask, 2 workers, shipped")
    shared2 = next(x for x in results if x["label"] == "dask, 2 workers, shared scratch")
    proj = projection(ship2, shared2, GENOME["permutations"])
    report = {
        "permutations": p,
        "repeats": r,
        "phenotypes": COHORT["n_phenotypes"],
        "samples": COHORT["n_samples"],
        "load_average_before": load_before,
        "load_average_after": load_after,
        "target_overhead_2_workers": TARGET_OVERHEAD,
        "configurations": results,
        "projection": proj,
    }
    name = "distributed.json" if not args.quick else "distributed_quick.json"
    (OUT / name).write_text(json.dumps(report, indent=2))
    import shutil

    shutil.rmtree(shared, ignore_errors=True)

    print(
        f"perm, beta, {p} permutations, {COHORT['n_phenotypes']} phenotypes, "
        f"{ship2['pairs_tested']:,} cis pairs, {COHORT['n_samples']} samples; median of {r} "
        f"run(s); load average {load_before[0]:.1f} before, {load_after[0]:.1f} after\n"
    )
    print(
        "| configuration | wall s | vs pool (same cores) | cluster start s | parent CPU s | "
        "compute s / unit | bytes / unit | core-ns / perm·variant·sample |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for x in results:
        start = f"{x['cluster_start_s']:.1f}" if "cluster_start_s" in x else "—"
        overhead = "—" if x["label"].startswith("pool") else f"{x['overhead_vs_pool']:+.1%}"
        size = "—" if x["bytes_per_unit"] is None else f"{x['bytes_per_unit'] / 1e6:.3f} MB"
        print(
            f"| {x['label']} | {x['wall_s']:.1f} | {overhead} | {start} | "
            f"{x['parent_cpu_s']:.1f} | {x['unit_compute_s']:.2f} | "
            f"{size} | {x['core_ns_per_perm_variant_sample']:.3f} |"
        )
    verdict = "met" if ship2["overhead_vs_pool"] <= TARGET_OVERHEAD else "not met"
    print(
        f"\n2 workers (shipped) vs pool 2 cores: {ship2['overhead_vs_pool']:+.1%} "
        f"(target ≤ {TARGET_OVERHEAD:.0%}: {verdict})\n"
    )
    a = proj["assumptions"]
    print(
        f"Projection: genome-wide perm {GENOME['permutations']} ({GENOME['phenotypes']:,} "
        f"phenotypes x {GENOME['cis_variants']:,} cis variants, {GENOME['samples']} samples) "
        f"at {a['core_s_per_pair_permutation'] * 1e9:.0f} core-ns / pair-perm\n"
    )
    print(
        "| cores, unit size, genotypes | units | compute s / unit | MB sent / unit | "
        "workers h | parent link h | parent h | total h | bottleneck |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for key, v in proj["cores"].items():
        print(
            f"| {key} | {v['units']} | {v['unit_compute_s']:.1f} | {v['mb_per_unit']:.1f} | "
            f"{v['workers_h']:.3f} | {v['link_h']:.3f} | {v['parent_h']:.3f} | "
            f"{v['hours']:.3f} | {v['bottleneck']} |"
        )
    print()
    for key, text in a.items():
        if isinstance(text, str):
            print(f"- {key}: {text}")


if __name__ == "__main__":
    main()
