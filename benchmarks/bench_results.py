"""Benchmark: reading and exporting a 50 M-row nominal run (issue "Genome scale on one machine").

Builds (once, cached in benchmarks/out/results.duckdb) a warehouse holding one all-variants
nominal run of 6,000 phenotypes × 8,334 cis variants = 50,004,000 result rows, written the way
a run writes them: unit by unit (25 phenotypes each), each unit's rows inserted sorted and its
top hits derived by ``sql/unit_top_rows.sql`` in the same transaction.  The statistics are
random numbers (the benchmark measures storage, not maths), so the table compresses far less
than real results would.

Then measures, each the minimum of ``--repeats`` runs:

- one phenotype's pairs (``nominal_results WHERE run_id AND phenotype``) and the top hit per
  phenotype (``nominal_top WHERE run_id``), in a Python session and as the whole
  ``segqtl query`` command;
- ``segqtl export`` of the run (8 GB of CSV with random statistics): seconds, MB/s and the
  peak resident memory (skip with ``--no-export``).

Usage: python benchmarks/bench_results.py [--repeats 5] [--no-export]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect, query

OUT = Path(__file__).resolve().parent / "out"
DB = OUT / "results.duckdb"
N_PHENOTYPES, N_VARIANTS, UNIT = 6000, 8334, 25
SEGQTL = str(Path(sys.executable).parent / "segqtl")  # the installed command

QUERIES = {
    "one phenotype's pairs": (
        "SELECT * FROM nominal_results WHERE run_id = 1 AND phenotype = 'G3217'",
        N_VARIANTS,
    ),
    "top hit per phenotype": ("SELECT * FROM nominal_top WHERE run_id = 1", N_PHENOTYPES),
}


def build() -> float:
    """Write the warehouse; returns the seconds it took."""
    start = time.perf_counter()
    for suffix in ("", ".wal"):
        Path(f"{DB}{suffix}").unlink(missing_ok=True)
    con = connect(DB)
    span = 400  # phenotype starts 40 kb apart, variants 100 bp apart: windows overlap
    con.execute(
        "INSERT INTO cohorts (cohort, cohort_id, n_samples, checksum, has_copynumber, "
        "has_phenotype_covariate, segqtl_version, created_at) "
        "VALUES ('big', 1, 400, 'synthetic', true, false, 'bench', now())"
    )
    # an empty genotype table: the genotypes view (and so 'segqtl upgrade') reads every
    # cohort's; the results are synthetic, no unit reads a dosage
    con.execute(
        "CREATE TABLE genotypes_1 (chr VARCHAR NOT NULL, variant_idx INTEGER NOT NULL, "
        "variant_id VARCHAR NOT NULL, pos BIGINT NOT NULL, altlr DOUBLE[400] NOT NULL, "
        "reflr DOUBLE[400] NOT NULL)"
    )
    con.execute(
        "INSERT INTO phenotypes SELECT 'big', 'chr1', i, i, 'G' || i, i * 40000, "
        "i * 40000 + 1000, [0.0] FROM range(?) t(i)",
        [N_PHENOTYPES],
    )
    con.execute(
        "INSERT INTO variants SELECT 'big', 'chr1', i, 'chr1:' || (i * 100) || ':A:G', "
        "i * 100, 'A', 'G' FROM range(?) t(i)",
        [N_PHENOTYPES * span + N_VARIANTS],
    )
    spec = RunSpec(mode="nominal", cohort="big", chromosomes=["1"], all_variants=True)
    n_units = N_PHENOTYPES // UNIT
    con.execute(
        "INSERT INTO runs (run_id, name, mode, cohort, chromosomes, status, segqtl_version, "
        "duckdb_version, numpy_version, cohort_checksum, started_at, n_units) VALUES "
        "(1, 'synthetic', 'nominal', 'big', 'chr1', 'running', 'bench', ?, 'bench', "
        "'synthetic', now(), ?)",
        [duckdb.__version__, n_units],
    )
    con.executemany("INSERT INTO run_parameters VALUES (1, ?, ?)", spec.to_rows())
    for u in range(n_units):
        first, last = u * UNIT, u * UNIT + UNIT - 1
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "INSERT INTO nominal_stats SELECT 1, $u, 'chr1', p, 'chr1', "
            "p * $span + v, 400, random(), random(), random(), random(), random() * 8 - 4, "
            "random(), random(), NULL, NULL, NULL, NULL, 0, NULL, NULL "
            "FROM range($first, $last + 1) a(p), range($v) b(v) ORDER BY p, v",
            {"u": u, "span": span, "first": first, "last": last, "v": N_VARIANTS},
        )
        query(con, "unit_top_rows", run_id=1, unit_id=u)
        con.execute(
            "INSERT INTO run_units (run_id, unit_id, chr, first_phenotype_idx, "
            "last_phenotype_idx, status, n_phenotypes, n_rows) "
            "VALUES (1, ?, 'chr1', ?, ?, 'done', ?, ?)",
            [u, first, last, UNIT, UNIT * N_VARIANTS],
        )
        con.execute("COMMIT")
    con.execute("UPDATE runs SET status = 'completed', finished_at = now() WHERE run_id = 1")
    con.execute("CHECKPOINT")
    con.close()
    return time.perf_counter() - start


def in_session(repeats: int) -> dict:
    out = {}
    with duckdb.connect(str(DB), read_only=True) as con:
        for name, (sql, n_expected) in QUERIES.items():
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                n = len(con.execute(sql).fetchall())
                times.append(time.perf_counter() - start)
            assert n == n_expected, (name, n)
            out[name] = min(times)
    return out


def via_cli(repeats: int) -> dict:
    out = {}
    for name, (sql, _) in QUERIES.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(
                [SEGQTL, "query", "--db", str(DB), sql],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            times.append(time.perf_counter() - start)
        out[name] = min(times)
    return out


def export() -> dict:
    target = OUT / "results_export"
    shutil.rmtree(target, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(
        [
            SEGQTL,
            "export",
            "--db",
            str(DB),
            "--run",
            "1",
            "--out-dir",
            str(target),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - start
    size = sum(p.stat().st_size for p in target.iterdir())
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    shutil.rmtree(target, ignore_errors=True)
    return {
        "seconds": seconds,
        "mb": size / 1e6,
        "mb_per_s": size / 1e6 / seconds,
        "peak_rss_mb": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-export", action="store_true")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    result = {"cores": len(os.sched_getaffinity(0)), "rows": N_PHENOTYPES * N_VARIANTS}
    if args.rebuild or not DB.exists():
        result["build_seconds"] = build()
    result["warehouse_mb"] = DB.stat().st_size / 1e6
    result["session_seconds"] = in_session(args.repeats)
    result["cli_seconds"] = via_cli(args.repeats)
    if not args.no_export:
        result["export"] = export()
    result["load_average"] = os.getloadavg()[0]
    (OUT / "results.json").write_text(json.dumps(result, indent=2))
    print(
        f"50,004,000-row nominal run, {result['cores']} cores, "
        f"warehouse {result['warehouse_mb']:.0f} MB, load {result['load_average']:.1f}"
    )
    print("| query | in a session (s) | segqtl query, whole process (s) | target |")
    print("|---|---:|---:|---|")
    for name in QUERIES:
        print(
            f"| {name} | {result['session_seconds'][name]:.3f} | "
            f"{result['cli_seconds'][name]:.3f} | < 0.2 |"
        )
    if "export" in result:
        e = result["export"]
        print(
            f"\nexport: {e['seconds']:.1f} s, {e['mb']:.0f} MB, {e['mb_per_s']:.0f} MB/s, "
            f"peak RSS {e['peak_rss_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
