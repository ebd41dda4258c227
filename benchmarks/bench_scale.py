"""Benchmark at real density: ingest, nominal run, warehouse, queries and export (issue 13).

The cohort is one chromosome at the density of real data: 250,000 variants x 400 samples
(two ~0.4 GB CSVs), 600 phenotypes, ~8,500 variants per 2-Mb cis window, so ~5.1 M cis pairs
for a nominal all-variants run.  ``--variants 1000000`` measures a 1 M-variant chromosome:
it is the 250,000-variant cohort's genotype files tiled four times along a 4x longer
chromosome (positions shifted, values repeated; simulating 1 M variants at once needs ~20 GB),
with the same 600 phenotypes, so its run part (skipped by default at that size, ``--run``
forces it) tests the same pairs.  ``--quick`` is a 10x smaller smoke size.

The nominal run is timed ``--repeats`` times (default 3) after a first run on the warehouse the
ingest made, and reported as the median, as issue 12 measures and the other benchmarks do (warm
warehouse: the first run fills the genotype cache and numba's; whole process; medians).  The
first run is given alone too, and the queries and the export read it.

Everything goes through the ``segqtl`` command line, one process per step, and each step's
peak memory is the largest sum of resident set sizes over the process and its children (run
workers included; shared pages count once per process, so this overstates a little), sampled
every 0.1 s with psutil.  CPU seconds are the children's user+system time.

Prints a Markdown table and a projected genome-wide cost (20,000 phenotypes x ~8,000 cis
variants = 160 M pairs), and writes benchmarks/out/scale.json (``--quick``: scale_quick.json).
Files go under benchmarks/out/scale/.

Usage: python benchmarks/bench_scale.py [--variants 1000000] [--quick] [--run|--skip-run]
       [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

HERE = Path(__file__).parent
OUT = HERE / "out"
SCALE = OUT / "scale"
SEGQTL = [sys.executable, "-m", "segqtl"]

BASE_VARIANTS = 250_000
COHORT = dict(
    seed=13,
    n_samples=400,
    chromosomes=("1",),
    n_phenotypes=600,
    n_variants=BASE_VARIANTS,
    chromosome_length=59_000_000,  # 250,000 variants / 59 Mb = ~8,500 per 2-Mb window
    missing_rate=0.02,
    breakpoints_per_sample=4.0,
    causal_fraction=0.3,
)
QUICK = COHORT | dict(n_phenotypes=60, n_variants=25_000, chromosome_length=5_900_000)
GENOME = dict(phenotypes=20_000, variants_per_window=8_000, variants=8_000_000, samples=400)


# ------------------------------------------------------------------------------ the cohort
def _stamp(params: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def simulated(params: dict) -> Path:
    """The simulated cohort of ``params`` (cached under benchmarks/out/scale/)."""
    from segqtl.simulate import simulate_cohort

    target = SCALE / f"cohort_{params['n_variants']}"
    stamp = target / "params.json"
    if stamp.exists() and json.loads(stamp.read_text()) == _stamp(params):
        return target
    if target.exists():
        shutil.rmtree(target)
    t0 = time.perf_counter()
    simulate_cohort(target, **params)
    stamp.write_text(json.dumps(_stamp(params)))
    print(f"simulated {target} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return target


def tiled(base: Path, copies: int, length: int) -> Path:
    """``base``'s cohort with its genotype files repeated ``copies`` times along the chromosome
    (copy k's positions shifted by k * ``length``); other files copied, segments stretched."""
    target = SCALE / f"cohort_{BASE_VARIANTS * copies}"
    stamp = target / "params.json"
    want = {"base": str(base), "copies": copies, "length": length}
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return target
    if target.exists():
        shutil.rmtree(target)
    (target / "genotypes").mkdir(parents=True)
    for name in ("quantifications.csv", "covariates.csv", "copynumbers.csv"):
        shutil.copy(base / name, target / name)
    with open(base / "segments.csv") as src, open(target / "segments.csv", "w") as dst:
        dst.write(src.readline())
        for line in src:
            sample, chrom, start, end = line.rstrip("\n").split(",")
            end = str(length * copies) if int(end) >= length else end
            dst.write(f"{sample},{chrom},{start},{end}\n")
    for kind in ("ALT", "REF"):
        name = f"chr1_{kind}lr.csv"
        with (
            open(base / "genotypes" / name, "rb") as src,
            open(target / "genotypes" / name, "wb") as dst,
        ):
            header = src.readline()
            dst.write(header)
            for k in range(copies):
                src.seek(len(header))
                shift = k * length
                for line in src:
                    vid, rest = line.split(b",", 1)
                    chrom, pos, ref, alt = vid.split(b":")
                    dst.write(b"%s:%d:%s:%s,%s" % (chrom, int(pos) + shift, ref, alt, rest))
    stamp.write_text(json.dumps(want))
    return target


# ------------------------------------------------------------------------------- measuring
def measured(args: list[str], **kw) -> dict:
    """Run a ``segqtl`` command; wall and CPU seconds, peak RSS of its process tree, stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = psutil.Popen(SEGQTL + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    peak = [0]
    cpu_seen: dict[int, float] = {}  # pid -> last user+system seconds seen

    def sample():
        while proc.poll() is None:
            total = 0
            try:
                for p in [proc, *proc.children(recursive=True)]:
                    try:
                        total += p.memory_info().rss
                        t = p.cpu_times()
                        cpu_seen[p.pid] = t.user + t.system
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            peak[0] = max(peak[0], total)
            time.sleep(0.1)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    watcher.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"segqtl {' '.join(args[:1])} failed: {stderr.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # Workers not reaped by this process are missing from rusage: add what was sampled.
    cpu = max(cpu, sum(cpu_seen.values()))
    return {"seconds": wall, "cpu_seconds": cpu, "peak_rss_mb": peak[0] / 2**20, "out": stdout}


def query(db: Path, sql: str) -> list[list]:
    """The rows of ``sql`` (``segqtl query``), as lists in column order."""
    res = measured(["query", "--db", str(db), "--format", "json", sql])
    return [list(row.values()) for row in json.loads(res["out"])]


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", type=int, default=BASE_VARIANTS, help="250000 or 1000000")
    ap.add_argument("--quick", action="store_true", help="25,000 variants, 60 phenotypes")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed nominal runs (median)")
    run_flag = ap.add_mutually_exclusive_group()
    run_flag.add_argument("--run", dest="run", action="store_true", default=None)
    run_flag.add_argument("--skip-run", dest="run", action="store_false")
    ap.add_argument(
        "--table-only",
        action="store_true",
        help="re-print the table of the saved JSON (projection from the current benchmark files)",
    )
    args = ap.parse_args()
    SCALE.mkdir(parents=True, exist_ok=True)
    if args.table_only:
        name = (
            "scale_quick.json"
            if args.quick
            else ("scale.json" if args.variants == BASE_VARIANTS else f"scale_{args.variants}.json")
        )
        result = json.loads((OUT / name).read_text())
        n = result["cohort"]["n_variants"]
        result["projection"] = projection(result, n)
        (OUT / name).write_text(json.dumps(result, indent=2))
        print(table(result, n))
        return

    if args.quick:
        cohort, n_variants, params = simulated(QUICK), QUICK["n_variants"], QUICK
    elif args.variants == BASE_VARIANTS:
        cohort, n_variants, params = simulated(COHORT), BASE_VARIANTS, COHORT
    elif args.variants % BASE_VARIANTS == 0:
        copies = args.variants // BASE_VARIANTS
        cohort = tiled(simulated(COHORT), copies, COHORT["chromosome_length"])
        n_variants = args.variants
        params = COHORT | dict(n_variants=n_variants, tiled_from=BASE_VARIANTS)
    else:
        raise SystemExit("--variants must be a multiple of 250000")
    do_run = args.run if args.run is not None else n_variants <= BASE_VARIANTS

    tag = "quick" if args.quick else str(n_variants)
    db = SCALE / f"scale_{tag}.duckdb"
    for f in (db, Path(f"{db}.wal")):
        f.unlink(missing_ok=True)
    csv_bytes = dir_bytes(cohort / "genotypes")
    all_bytes = csv_bytes + sum(
        (cohort / n).stat().st_size
        for n in ("quantifications.csv", "covariates.csv", "copynumbers.csv", "segments.csv")
    )
    load = os.getloadavg()[0]
    ingest = measured(
        ["ingest", "--db", str(db), "--cohort", "scale", "--genotypes", str(cohort / "genotypes")]
        + ["--quantifications", str(cohort / "quantifications.csv")]
        + ["--covariates", str(cohort / "covariates.csv")]
        + ["--copynumber", str(cohort / "copynumbers.csv")]
        + ["--segmentation", str(cohort / "segments.csv")]
    )
    result: dict = {
        "cohort": _stamp(params),
        "load_average_before": load,
        "cores": os.cpu_count(),
        "ingest": {
            "seconds": ingest["seconds"],
            "cpu_seconds": ingest["cpu_seconds"],
            "csv_mb": all_bytes / 1e6,
            "genotype_csv_mb": csv_bytes / 1e6,
            "mb_per_s": all_bytes / 1e6 / ingest["seconds"],
            "mb_per_cpu_s": all_bytes / 1e6 / ingest["cpu_seconds"],
            "peak_rss_mb": ingest["peak_rss_mb"],
        },
        "warehouse_mb_after_ingest": db.stat().st_size / 1e6,
    }
    print(f"ingest: {json.dumps(result['ingest'])}", file=sys.stderr)

    if do_run:
        runs = []
        for i in range(1 + max(args.repeats, 1)):
            runs.append(
                measured(
                    ["run", "--db", str(db), "--cohort", "scale", "--mode", "nominal"]
                    + ["--chromosome", "1", "--all-variants", "--num-cores", str(args.cores)]
                    + ["--quiet"]
                )
            )
            if i == 0:
                result["warehouse_mb_after_run"] = db.stat().st_size / 1e6
        first, timed = runs[0], runs[1:]
        run = sorted(timed, key=lambda r: r["seconds"])[len(timed) // 2]  # the median run
        run_id = int(first["out"].decode().split()[-1])
        (n_pairs, n_rows, n_phen), *_ = query(
            db, f"SELECT n_pairs, n_rows, n_phenotypes FROM runs WHERE run_id = {run_id}"
        )
        result["run"] = {
            "run_id": run_id,
            "seconds": run["seconds"],
            "cpu_seconds": run["cpu_seconds"],
            "pairs": n_pairs,
            "rows": n_rows,
            "phenotypes": n_phen,
            "pairs_per_s": n_pairs / run["seconds"],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "repeats": len(timed),
            "all_seconds": [r["seconds"] for r in timed],
            "first_run_seconds": first["seconds"],
        }
        gene = query(db, "SELECT gene_id FROM phenotypes ORDER BY file_row LIMIT 1")[0][0]
        latencies = {}
        for label, sql in (
            ("SELECT 1 (command start-up alone)", "SELECT 1"),
            (
                "one phenotype's pairs",
                f"SELECT * FROM nominal_results WHERE run_id = {run_id} AND phenotype = '{gene}'",
            ),
            ("top hit per phenotype", f"SELECT * FROM nominal_top WHERE run_id = {run_id}"),
            (
                "count pairs p < 1e-5",
                f"SELECT count(*) FROM nominal_results "
                f"WHERE run_id = {run_id} AND nominal_p < 1e-5",
            ),
        ):
            res = measured(["query", "--db", str(db), "--format", "csv", sql])
            latencies[label] = {
                "seconds": res["seconds"],
                "rows": max(res["out"].count(b"\n") - 1, 0),
            }
        result["queries"] = latencies
        export_dir = SCALE / f"export_{tag}"
        shutil.rmtree(export_dir, ignore_errors=True)
        exp = measured(
            ["export", "--db", str(db), "--run", str(run_id), "--out-dir", str(export_dir)]
        )
        out_bytes = dir_bytes(export_dir)
        result["export"] = {
            "seconds": exp["seconds"],
            "mb": out_bytes / 1e6,
            "mb_per_s": out_bytes / 1e6 / exp["seconds"],
            "rows_per_s": n_rows / exp["seconds"],
            "peak_rss_mb": exp["peak_rss_mb"],
        }
        shutil.rmtree(export_dir, ignore_errors=True)
    name = "scale_quick.json" if args.quick else f"scale{'' if tag == '250000' else '_' + tag}.json"
    (OUT / name).write_text(json.dumps(result, indent=2))  # the measurements, come what may
    result["projection"] = projection(result, n_variants)
    (OUT / name).write_text(json.dumps(result, indent=2))
    print(table(result, n_variants))


def projection(result: dict, n_variants: int) -> dict:
    """Genome-wide cost (GENOME) from this run's rates and the other benchmarks' figures."""
    pairs = GENOME["phenotypes"] * GENOME["variants_per_window"]
    ing = result["ingest"]
    per_variant_mb = result["warehouse_mb_after_ingest"] / n_variants
    proj = {
        "pairs": pairs,
        "ingest_seconds": GENOME["variants"] * ing["seconds"] / n_variants,
        "ingest_peak_rss_mb": ing["peak_rss_mb"],
        "genotype_warehouse_gb": per_variant_mb * GENOME["variants"] / 1e3,
        "basis": {},
    }
    if "run" in result:
        rate = result["run"]["pairs_per_s"]
        proj["nominal_seconds"] = pairs / rate
        proj["basis"]["nominal"] = f"{rate:,.0f} pairs/s measured here (all variants)"
        proj["nominal_results_gb"] = (
            (result["warehouse_mb_after_run"] - result["warehouse_mb_after_ingest"])
            / result["run"]["pairs"]
            * pairs
            / 1e3
        )
    perm = OUT / "perm.json"
    with contextlib.suppress(OSError, KeyError, ValueError):
        p = json.loads(perm.read_text())
        core_ns = p["core_ns_per_perm_variant_sample"]
        cores = p.get("cores", 2)
        proj["perm_1000_seconds"] = core_ns * 1e-9 * 1000 * pairs * GENOME["samples"] / cores
        proj["basis"]["perm_1000"] = (
            f"{core_ns:.3f} core-ns per permutation x variant x sample (perm.json), {cores} cores"
        )
    finemap = OUT / "bench_finemap.json"
    with contextlib.suppress(OSError, KeyError, StopIteration, ValueError):
        f = json.loads(finemap.read_text())
        warm = next(r for r in f["rows"] if r.get("cores") == 2 or "2 cores" in r["label"])
        bench_window = 2 * 1_000_000 * f["cohort"]["n_variants"] / f["cohort"]["chromosome_length"]
        scale = (
            GENOME["variants_per_window"]
            / bench_window
            * GENOME["samples"]
            / f["cohort"]["n_samples"]
        )
        proj["finemap_seconds"] = warm["s_per_phenotype"] * scale * GENOME["phenotypes"]
        proj["basis"]["finemap"] = (
            f"{warm['s_per_phenotype']:.2f} s/phenotype at ~{bench_window:,.0f} variants x "
            f"{f['cohort']['n_samples']} samples (bench_finemap.json: {warm['label']}), scaled "
            f"linearly in variants x samples ({scale:.0f}x)"
        )
    validate = OUT / "validate.json"
    with contextlib.suppress(OSError, KeyError, StopIteration, ValueError):
        v = json.loads(validate.read_text())
        secs = dict(
            (r["label"], r["seconds"]) if isinstance(r, dict) else tuple(r) for r in v["rows"]
        )
        rec = next(s for label, s in secs.items() if label.startswith("validate recalibrated"))
        proj["validate_seconds"] = rec / v["scored"] * GENOME["phenotypes"]
        proj["basis"]["validate"] = (
            f"{rec / v['scored']:.3f} s/phenotype, recalibrated, 1000 bootstraps + 1000 "
            "permutations (validate.json); does not grow with the window"
        )
    return proj


def _h(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds >= 3600 else f"{seconds / 60:,.1f} min"


def table(result: dict, n_variants: int) -> str:
    ing = result["ingest"]
    rows = [
        "| step | wall (s) | CPU (s) | rate | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|",
        f"| ingest ({n_variants:,} variants x 400 samples, {ing['csv_mb']:,.0f} MB CSV) | "
        f"{ing['seconds']:.1f} | {ing['cpu_seconds']:.1f} | {ing['mb_per_s']:.0f} MB/s "
        f"({ing['mb_per_cpu_s']:.0f} MB per CPU-s) | {ing['peak_rss_mb']:,.0f} |",
    ]
    if "run" in result:
        run = result["run"]
        every = ", ".join(f"{x:.2f}" for x in run.get("all_seconds", [run["seconds"]]))
        rows.append(
            f"| nominal, all variants ({run['pairs']:,} pairs, {run['phenotypes']} phenotypes; "
            f"median of {run.get('repeats', 1)}: {every} s; first run "
            f"{run.get('first_run_seconds', run['seconds']):.2f} s) | "
            f"{run['seconds']:.1f} | {run['cpu_seconds']:.1f} | {run['pairs_per_s']:,.0f} "
            f"pairs/s | {run['peak_rss_mb']:,.0f} |"
        )
        for label, q in result["queries"].items():
            rows.append(f"| query: {label} ({q['rows']:,} rows) | {q['seconds']:.2f} | | | |")
        exp = result["export"]
        rows.append(
            f"| export (csv, {exp['mb']:,.0f} MB) | {exp['seconds']:.1f} | | "
            f"{exp['mb_per_s']:.0f} MB/s | {exp['peak_rss_mb']:,.0f} |"
        )
    rows.append(
        f"| warehouse on disk | | | {result['warehouse_mb_after_ingest']:,.0f} MB after ingest"
        + (
            f", {result['warehouse_mb_after_run']:,.0f} MB after the first run"
            if "warehouse_mb_after_run" in result
            else ""
        )
        + " | |"
    )
    proj = result["projection"]
    lines = [
        "",
        f"Projected genome-wide cost ({GENOME['phenotypes']:,} phenotypes x "
        f"~{GENOME['variants_per_window']:,} cis variants = {proj['pairs'] / 1e6:,.0f} M pairs, "
        f"{GENOME['variants'] / 1e6:.0f} M variants, 400 samples, 2 cores):",
        "",
        "| mode | projected wall time | basis |",
        "|---|---:|---|",
        f"| ingest | {_h(proj['ingest_seconds'])} | linear in variants; peak RSS stays "
        f"~{proj['ingest_peak_rss_mb']:,.0f} MB; genotypes ~{proj['genotype_warehouse_gb']:,.0f}"
        " GB on disk |",
    ]
    for key, label in (
        ("nominal_seconds", "nominal (all variants)"),
        ("perm_1000_seconds", "perm, 1000 permutations"),
        ("finemap_seconds", "finemap"),
        ("validate_seconds", "validate"),
    ):
        if key in proj:
            basis = proj["basis"][key.removesuffix("_seconds")]
            lines.append(f"| {label} | {_h(proj[key])} | {basis} |")
    return "\n".join(rows + lines)


if __name__ == "__main__":
    main()
