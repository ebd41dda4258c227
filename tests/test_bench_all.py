"""benchmarks/bench_all.py: one table per mode from the benchmarks' JSON files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_all  # noqa: E402

PAIRS = 300_000
NAIVE_PERM_S = 2e-4  # seconds per permutation x variant fit


def _fake(folder: Path, *, with_long: bool = False) -> None:
    """A small JSON set in the layout the benchmark scripts write."""
    nominal = {
        "cohort": {"n_samples": 400, "n_phenotypes": 300, "n_variants": 30_000},
        "cores": 2,
        "repeats": 3,
        "whole_process": True,
        "runs": [
            {
                "label": "nominal, best variant (2 cores)",
                "seconds": 3.0,
                "pairs": PAIRS,
                "load_before": [0.5, 0.7, 0.6],
            },
            {
                "label": "nominal, all variants (2 cores)",
                "seconds": 2.0,
                "pairs": PAIRS,
                "load_before": [0.4, 0.9, 0.6],
            },
        ],  # fmt: skip
        "naive": {"phenotypes": 5, "pairs": 5_000, "seconds": 1.0},
        "naive_perm": {
            "phenotypes": 2,
            "permutations": 20,
            "perm_variants": 40_000,
            "seconds": 40_000 * NAIVE_PERM_S,
            "seconds_per_perm_variant": NAIVE_PERM_S,
        },
    }
    perm = {
        "permutations": 1000,
        "cores": 2,
        "seconds": 12.0,
        "phenotypes": 300,
        "pairs_tested": PAIRS,
        "samples": 400,
        "core_ns_per_perm_variant_sample": 0.2,
        "gemm_gflops_1_thread": 50.0,
        "gemm_gflops_all_threads": 100.0,
        "floor_core_ns_per_perm_variant_sample": 0.08,
    }
    finemap = {
        "cohort": {"n_samples": 300, "n_phenotypes": 20, "n_variants": 2_500},
        "fits_per_phenotype": 351,
        "repeats": 3,
        "whole_process": {
            "2": {"cores": 2, "seconds": 3.0, "load_before": [1.0]},
            "1": {"cores": 1, "seconds": 5.0, "load_before": [1.0]},
        },
        "naive": {"fits": 201, "extrapolated_seconds_per_phenotype": 30.0},
    }
    validate = {
        "cores": 2,
        "repeats": 3,
        "whole_process": True,
        "rows": [
            {"label": "finemap (the models), 2 cores, one run", "seconds": 9.0},
            {"label": "validate recalibrated, 1000 bootstrap CIs", "seconds": 1.5},
            {"label": "validate frozen, 1000 bootstrap CIs", "seconds": 1.25},
        ],
    }
    files = {"nominal.json": nominal, "perm.json": perm, "bench_finemap.json": finemap,
             "validate.json": validate}  # fmt: skip
    if with_long:
        files["perm_10000.json"] = {**perm, "permutations": 10000, "seconds": 55.0}
    for name, data in files.items():
        (folder / name).write_text(json.dumps(data))


MACHINE = {"cpu_count": 2, "usable_cores": 2, "load_average": (0.1, 0.2, 0.3),
           "date": "2026-11-30 12:00 UTC"}  # fmt: skip


def _tables(text: str) -> dict[str, list[list[str]]]:
    """{mode: rows of cells} of every Markdown table under a '### mode' heading."""
    out: dict[str, list[list[str]]] = {}
    mode = None
    for line in text.splitlines():
        if line.startswith("### "):
            mode = line[4:].strip()
            out[mode] = []
        elif line.startswith("|") and mode is not None:
            out[mode].append([c.strip() for c in line.strip().strip("|").split("|")])
    return out


def _row(rows: list[list[str]], start: str) -> list[str]:
    return next(r for r in rows if r[0].startswith(start))


def test_render__one_table_per_mode_with_every_column(tmp_path):
    _fake(tmp_path)
    tables = _tables(bench_all.render(bench_all.load(tmp_path), MACHINE))
    assert list(tables) == ["nominal", "perm", "finemap", "validate"]
    for mode, rows in tables.items():
        assert len(rows) >= 3, mode  # header, rule, at least one workload
        assert all(len(r) == len(bench_all.COLUMNS) for r in rows), mode
        assert rows[0][1] == "segqtl (2 cores)" or mode == "finemap"


def test_render__targets_judged_from_the_measured_figures(tmp_path):
    _fake(tmp_path)
    tables = _tables(bench_all.render(bench_all.load(tmp_path), MACHINE))
    nominal_all = _row(tables["nominal"], "nominal, all variants: time")
    assert nominal_all[1] == "2.00 s" and nominal_all[-1] == "yes"  # 2.0 <= 2.4
    assert _row(tables["nominal"], "nominal, all variants: rate")[1] == f"{PAIRS / 2:,.0f} pairs/s"
    perm = _row(tables["perm"], "perm, beta, 1,000 permutations: time")
    assert perm[1] == "12.0 s" and perm[-1] == "**no**"  # 12 > 10
    # the naive scan extrapolated per fit to 1000 permutations x all cis pairs
    assert perm[2].startswith(f"{NAIVE_PERM_S * 1000 * PAIRS:,.0f} s")
    assert _row(tables["perm"], "perm, beta, 10,000")[1].startswith("not run")


def test_render__finemap_ratio_against_segmentqtl(tmp_path):
    _fake(tmp_path)
    tables = _tables(bench_all.render(bench_all.load(tmp_path), MACHINE))
    for cores, secs in ((1, 5.0), (2, 3.0)):
        ratio = bench_all.REFERENCE["finemap"][cores]["readme_s"] / secs
        row = _row(tables["finemap"], f"finemap, {cores} core{'s' if cores > 1 else ''}: Segm")
        assert row[1] == f"{ratio:.1f}×"
        assert row[-1] == ("yes" if ratio >= bench_all.TARGETS["finemap_speedup"] else "**no**")


def test_render__long_perm_and_validate_rows(tmp_path):
    _fake(tmp_path, with_long=True)
    tables = _tables(bench_all.render(bench_all.load(tmp_path), MACHINE))
    long_row = _row(tables["perm"], "perm, beta, 10,000 permutations: time")
    assert long_row[1] == "55.0 s" and long_row[-1] == "yes"  # 55 <= 60
    labels = [r[0] for r in tables["validate"][2:]]
    assert labels == ["validate recalibrated, 1000 bootstrap CIs",
                      "validate frozen, 1000 bootstrap CIs"]  # fmt: skip
    assert all(r[2] == "—" for r in tables["validate"][2:])  # no naive baseline


def test_render__missing_files_say_not_run(tmp_path):
    text = bench_all.render(bench_all.load(tmp_path), MACHINE)
    for script in ("bench_nominal.py", "bench_perm.py", "bench_finemap.py", "bench_validate.py"):
        assert f"not run (benchmarks/{script})" in text


def test_main__prints_the_core_count_and_date(tmp_path):
    _fake(tmp_path)
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench_all.py"), "--from-json", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"Machine: {os.cpu_count()} cores" in done.stdout
    assert done.stdout.count("### ") == 4
