"""Benchmark: the read commands as whole processes (issue 13: "large results stay fast").

Times, as the user waits for them, ``segqtl query`` of one phenotype's pairs and of the top hit
per phenotype (the queries of ``bench_results.py``), ``segqtl runs``, ``segqtl show 1`` and
``segqtl --help``: the median of ``--repeats`` runs of the installed command, wall-clock and CPU
seconds (user + system: the CPU time is the steadier figure on a busy machine), with the
machine's cores and load average before and after.

The commands run as an installed segqtl runs: with Python's cached bytecode (in a temporary
folder, ``PYTHONPYCACHEPREFIX``, after a warm-up run), even where the environment sets
``PYTHONDONTWRITEBYTECODE`` (as this project's development machines do); the column "no
bytecode cache" shows what compiling segqtl's modules at every start adds (a work tree without
``__pycache__`` and ``PYTHONDONTWRITEBYTECODE=1``).

The warehouse is ``bench_results.py``'s 50 M-row nominal run (``--db``, default
``benchmarks/out/results.duckdb``); it must be of this segqtl's schema ('segqtl upgrade').
Nothing is written to it (every command opens it read-only).

Usage: python benchmarks/bench_startup.py [--db WH.duckdb] [--repeats 10] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_results import QUERIES

OUT = Path(__file__).resolve().parent / "out"
SEGQTL = str(Path(sys.executable).parent / "segqtl")  # the installed command


def commands(db: str) -> dict[str, tuple[list[str], int | None]]:
    """Name -> (arguments of segqtl, rows it prints or None)."""
    out = {f"query: {name}": (["query", "--db", db, sql], n) for name, (sql, n) in QUERIES.items()}
    out["runs"] = (["runs", "--db", db], None)
    out["show 1"] = (["show", "--db", db, "1"], None)
    out["--help"] = (["--help"], None)
    return out


def timed(args: list[str], env: dict, repeats: int) -> tuple[float, float, int]:
    """Median wall and CPU seconds of ``segqtl ARGS`` over ``repeats`` runs, and its output's
    line count."""
    walls, cpus = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        res = subprocess.run([SEGQTL, *args], env=env, capture_output=True, check=False)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if res.returncode != 0:
            sys.exit(f"segqtl {' '.join(args)} failed: {res.stderr.decode().strip()}")
    return statistics.median(walls), statistics.median(cpus), res.stdout.count(b"\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=str(OUT / "results.duckdb"))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--markdown", type=Path, help="Also write the table to this file.")
    args = parser.parse_args()
    if not Path(args.db).exists():
        sys.exit(f"{args.db} does not exist. Fix: 'python benchmarks/bench_results.py' builds it")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="segqtl-pycache-") as cache:
        cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached["PYTHONPYCACHEPREFIX"] = cache
        # as on the development machines: the libraries' bytecode is read from their
        # __pycache__, segqtl's modules (a work tree without __pycache__) are compiled anew
        uncached = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}
        uncached["PYTHONDONTWRITEBYTECODE"] = "1"
        rows = {}
        for name, (cmd, n_expected) in commands(args.db).items():
            timed(cmd, cached, 1)  # warm-up: writes the bytecode, reads the file into the cache
            wall, cpu, lines = timed(cmd, cached, args.repeats)
            if n_expected is not None and lines != n_expected + 2:  # + header and rule lines
                sys.exit(f"{name}: printed {lines} lines, expected {n_expected + 2}")
            cold, _, _ = timed(cmd, uncached, max(3, args.repeats // 3))
            rows[name] = {"lines": lines, "wall": wall, "cpu": cpu, "no_bytecode_cache": cold}
    result = {
        "cores": len(os.sched_getaffinity(0)),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "python": platform.python_version(),
        "repeats": args.repeats,
        "db": args.db,
        "seconds": rows,
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "startup.json").write_text(json.dumps(result, indent=2))
    lines = [
        f"Whole-process seconds, median of {args.repeats} runs; {result['cores']} cores, load "
        f"average {load_before:.2f} before, {result['load_average_after']:.2f} after; Python "
        f"{result['python']}; warehouse {Path(args.db).name}.",
        "",
        "| command | lines printed | wall (s) | CPU (s) | wall, no bytecode cache (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| segqtl {name} | {r['lines']} | {r['wall']:.3f} | {r['cpu']:.3f} | "
            f"{r['no_bytecode_cache']:.3f} |"
        )
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
