"""All benchmarks side by side: one table per mode (issue 12).

Runs ``bench_nominal.py``, ``bench_perm.py``, ``bench_finemap.py`` and ``bench_validate.py``
in turn (or, with ``--from-json``, only reads what they last wrote to benchmarks/out/), then
prints one Markdown table per mode with the columns

    workload | segqtl (this machine, N cores) | naive per-variant baseline |
    tensorQTL 1.0.10 (issue figure) | SegmentQTL | target | met?

The tensorQTL and SegmentQTL figures are constants (:data:`REFERENCE`), measured elsewhere and
quoted with their provenance; segqtl's and the naive baseline's are this machine's.

Usage: python benchmarks/bench_all.py [--from-json] [--long] [--out DIR]
(``--long`` also runs ``bench_perm.py --permutations 10000``; ``$SEGQTL_BENCH_OUT`` or
``--out`` name the folder of the JSON files, benchmarks/out by default.)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# ---------------------------------------------------------------------------------------------
# Reference figures: the one place they are written down.
#
# tensorQTL / SegmentQTL nominal and perm: issue 12, "measured side by side on one machine
# (2 cores)", the bench cohort of benchmarks/ (400 samples, 300 phenotypes, 30,000 variants on
# one chromosome, ~305,000 cis pairs), warm warehouse, whole process, medians; tensorQTL 1.0.10
# on CPU with one dosage, no masks, float32 (so it does less work than segqtl: no per-sample
# segment masks, no second genotype term).  "segqtl_at_filing" is segqtl on that day.
#
# SegmentQTL finemap: on the files of bench_finemap.py's cohort (300 samples, 20 phenotypes,
# 2,500 variants), SegmentQTL rebuilt from its public source, whole process.  "readme": our own
# like-for-like measurement on this machine (README, Benchmarks: commits e6fba1d/005d4b5 of its
# finemapping.py/segmentqtl.py, numba build, medians of 3 and 4 runs), the figure the ratio is
# taken against; "issue": issue 12's figures (82.6-96.3 s on 1 core, 45.2 s on 2 cores).
REFERENCE = {
    "nominal_all": {"tensorqtl_s": 4.8, "segmentqtl_s": 270.0, "segqtl_at_filing_s": 5.1},
    "perm_1000": {"tensorqtl_s": 8.7, "segmentqtl_s": 2100.0, "segqtl_at_filing_s": 28.4},
    "finemap": {
        1: {"readme_s": 73.0, "issue_s": (82.6, 96.3)},
        2: {"readme_s": 47.3, "issue_s": (45.2, 45.2)},
    },
}
#: Issue 12's targets (same cohorts, 2 cores, warm warehouse, whole process).
TARGETS = {
    "nominal_all_s": 2.4,
    "scale_pairs_per_s": 500_000,  # on the real-density cohort of bench_scale.py
    "perm_1000_s": 10.0,
    "perm_10000_s": 60.0,
    "finemap_speedup": 15.0,  # x SegmentQTL, same files, same cores
}
#: The JSON file each benchmark writes, by key.
FILES = {
    "nominal": "nominal.json",
    "perm": "perm.json",
    "perm_10000": "perm_10000.json",
    "finemap": "bench_finemap.json",
    "validate": "validate.json",
    "scale": "scale.json",
}
COLUMNS = (
    "workload",
    "segqtl ({cores})",
    "naive per-variant baseline",
    "tensorQTL 1.0.10 (issue figure)",
    "SegmentQTL",
    "target",
    "met?",
)


def out_dir(arg: str | None) -> Path:
    """The folder of the benchmarks' JSON files (as bench_nominal.py chooses it)."""
    return Path(arg or os.environ.get("SEGQTL_BENCH_OUT") or HERE / "out")


def load(folder: Path) -> dict:
    """Each benchmark's JSON (None when missing) and when it was measured: its
    ``measured_at`` field, else the file's modification time (UTC)."""
    data = {}
    for key, name in FILES.items():
        path = folder / name
        if path.is_file():
            data[key] = json.loads(path.read_text())
            mtime = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.UTC)
            data[f"{key}_measured"] = data[key].get("measured_at") or mtime.strftime(
                "%Y-%m-%d %H:%M UTC"
            )
        else:
            data[key] = None
    return data


def machine() -> dict:
    """Core counts, load average and date of the machine printing the tables."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_count": os.cpu_count(),
        "usable_cores": usable,
        "load_average": os.getloadavg(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


# ------------------------------------------------------------------------------- formatting
def _s(x: float | None) -> str:
    """Seconds, rounded by magnitude."""
    if x is None:
        return "—"
    return f"{x:,.0f} s" if x >= 100 else f"{x:.1f} s" if x >= 10 else f"{x:.2f} s"


def _rate(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f} pairs/s"


def _met(ok: bool | None) -> str:
    return "—" if ok is None else "yes" if ok else "**no**"


def _table(title: str, notes: list[str], rows: list[tuple], cores_label: str) -> list[str]:
    head = [c.format(cores=cores_label) for c in COLUMNS]
    lines = [f"### {title}", ""]
    lines += [f"{n}" for n in notes]
    if notes:
        lines.append("")
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|---|" + "---:|" * 4 + "---|---|")
    for r in rows:
        assert len(r) == len(COLUMNS), r
        lines.append("| " + " | ".join(str(c) for c in r) + " |")
    lines.append("")
    return lines


def _load_note(loads: list[float] | None) -> str:
    if not loads:
        return ""
    lo, hi = min(loads), max(loads)
    span = f"{lo:.1f}" if f"{lo:.1f}" == f"{hi:.1f}" else f"{lo:.1f}–{hi:.1f}"
    return f", 1-min load before the timed runs {span}"


def _cores(n) -> str:
    return f"{n} core" + ("s" if n != 1 else "")


# ------------------------------------------------------------------------------------ tables
def nominal_table(d: dict) -> list[str]:
    nom, scale = d.get("nominal"), d.get("scale")
    ref = REFERENCE["nominal_all"]
    if nom is None:
        return ["### nominal", "", "not run (benchmarks/bench_nominal.py)", ""]
    cores = nom.get("cores", 2)
    runs = {("all" if "all variants" in r["label"] else "best"): r for r in nom["runs"]}
    allv, best = runs.get("all"), runs.get("best")
    pairs = allv["pairs"]
    nv = nom["naive"]
    naive_rate = nv["pairs"] / nv["seconds"]
    naive_note = (
        f"1 core, extrapolated from {nv['pairs']:,} pairs of {nv.get('phenotypes', 5)} phenotypes"
    )
    naive_all = pairs / naive_rate
    how = (
        f"whole process (`python -m segqtl run`), median of {nom.get('repeats', 1)}, warm warehouse"
        if nom.get("whole_process")
        else "in-process `api.run`, one run"
    )
    loads = [x for r in nom["runs"] for x in r.get("load_before", [])]
    notes = [
        f"`benchmarks/bench_nominal.py`, measured {d.get('nominal_measured', '?')}: "
        f"{nom['cohort']['n_samples']} samples, {nom['cohort']['n_phenotypes']} phenotypes, "
        f"{nom['cohort']['n_variants']:,} variants, {pairs:,} cis pairs; segqtl: {how}"
        f"{_load_note(loads)}; segqtl when issue 12 was filed: "
        f"{_s(ref['segqtl_at_filing_s'])} for all variants."
    ]
    rows = [
        (
            "nominal, all variants: time",
            _s(allv["seconds"]),
            f"{_s(naive_all)} ({naive_note})",
            _s(ref["tensorqtl_s"]),
            _s(ref["segmentqtl_s"]),
            f"≤ {TARGETS['nominal_all_s']} s",
            _met(allv["seconds"] <= TARGETS["nominal_all_s"]),
        ),
        (
            "nominal, all variants: rate",
            _rate(pairs / allv["seconds"]),
            _rate(naive_rate),
            _rate(pairs / ref["tensorqtl_s"]),
            _rate(pairs / ref["segmentqtl_s"]),
            "—",
            "—",
        ),
    ]
    if best is not None:
        rows.append(
            (
                "nominal, best variant per phenotype: time",
                _s(best["seconds"]),
                f"{_s(naive_all)} (same fits as all variants)",
                "—",
                "—",
                "—",
                "—",
            )
        )
    scale_rate = _scale_rate(scale)
    rows.append(
        (
            "nominal, all variants, real-density cohort (`bench_scale.py`): rate of run time",
            _rate(scale_rate) if scale_rate is not None else "not run",
            "—",
            "—",
            "—",
            f"≥ {TARGETS['scale_pairs_per_s']:,} pairs/s",
            _met(None if scale_rate is None else scale_rate >= TARGETS["scale_pairs_per_s"]),
        )
    )
    return _table("nominal", notes, rows, _cores(cores))


def _scale_rate(scale: dict | None) -> float | None:
    """The nominal run's pairs/s in bench_scale.py's JSON (its layout is its own: the first
    number under a key naming pairs per second, nominal's first)."""
    if not scale:
        return None
    found = []

    def walk(x, path):
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, (*path, str(k)))
        elif isinstance(x, int | float) and "pairs_per_s" in path[-1]:
            found.append((path, float(x)))

    walk(scale, ())
    nominal = [v for p, v in found if any("nominal" in k for k in p)]
    return (nominal or [v for _, v in found] or [None])[0]


def perm_table(d: dict) -> list[str]:
    perm, long_, nom = d.get("perm"), d.get("perm_10000"), d.get("nominal")
    ref = REFERENCE["perm_1000"]
    nvp = (nom or {}).get("naive_perm")
    if perm is None and long_ is None:
        return ["### perm", "", "not run (benchmarks/bench_perm.py)", ""]
    first = perm or long_
    cores = first.get("cores", 2)
    notes = [
        f"`benchmarks/bench_perm.py` (beta approximation), measured "
        f"{d.get('perm_measured', 'not run')}"
        + (f"; 10,000 permutations measured {d['perm_10000_measured']}" if long_ else "")
        + f": {first['phenotypes']} phenotypes, {first['pairs_tested']:,} cis pairs, "
        f"{first['samples']} samples; segqtl: "
        + (
            f"whole process, median of {first.get('repeats', 1)}"
            if first.get("whole_process")
            else "one in-process `api.run` (bench_perm.py's own timing)"
        )
        + _load_note(
            [
                js["load_average_before"]
                for js in (perm, long_)
                if js and "load_average_before" in js
            ]
        )
        + ". core-ns = wall time × cores / (permutations × variants × samples); the floor is "
        "4 flops per permutation × variant × sample at the machine's 1-thread float64 GEMM rate "
        "(issue 12's floor; the scan now takes that product in float32 and computes exactly "
        "only the t that can be a permutation's largest, so the float32 floor is shown too). "
        f"segqtl when issue 12 was filed: {_s(ref['segqtl_at_filing_s'])} for 1,000 permutations."
    ]
    if nvp:
        notes.append(
            f"Naive: for each permutation, each cis variant's masked `lstsq` fit and t, "
            f"1 core, extrapolated from {nvp['phenotypes']} phenotypes × {nvp['permutations']} "
            f"permutations ({nvp['perm_variants']:,} fits, {nvp['seconds']:.1f} s)."
        )
    rows = []
    for b, js, tkey in ((1000, perm, "perm_1000_s"), (10000, long_, "perm_10000_s")):
        label = f"perm, beta, {b:,} permutations"
        naive_s = naive_ns = "—"
        if js is None:
            rows.append(
                (
                    f"{label}: time",
                    "not run (`--long`)",
                    "—",
                    "—",
                    "—",
                    f"≤ {TARGETS[tkey]:.0f} s",
                    "—",
                )
            )
            continue
        if nvp:
            sec = nvp["seconds_per_perm_variant"] * b * js["pairs_tested"]
            naive_s = f"{_s(sec)} (extrapolated)"
            naive_ns = f"{nvp['seconds_per_perm_variant'] / js['samples'] * 1e9:.1f}"
        is_1000 = b == 1000
        rows.append(
            (
                f"{label}: time",
                _s(js["seconds"]),
                naive_s,
                _s(ref["tensorqtl_s"]) if is_1000 else "—",
                f"≈ {_s(ref['segmentqtl_s'])}" if is_1000 else "—",
                f"≤ {TARGETS[tkey]:.0f} s",
                _met(js["seconds"] <= TARGETS[tkey]),
            )
        )
        cost = js.get("core_ns_per_perm_variant_sample")
        floor = js.get("floor_core_ns_per_perm_variant_sample")
        g1, ga = js.get("gemm_gflops_1_thread"), js.get("gemm_gflops_all_threads")
        f32, g32 = (
            js.get("floor32_core_ns_per_perm_variant_sample"),
            js.get("gemm32_gflops_1_thread"),
        )
        f32_note = "" if f32 is None else f"; float32 {f32:.3f} ({g32:.1f} GFLOP/s 1 thread)"
        rows.append(
            (
                f"{label}: core-ns per permutation × variant × sample",
                "missing in JSON" if cost is None else f"{cost:.3f}",
                naive_ns,
                "—",
                "—",
                "—"
                if floor is None
                else f"floor {floor:.3f} (GEMM {g1:.1f} GFLOP/s 1 thread, {ga:.1f} all){f32_note}",
                "reported" if cost is not None and floor is not None else "—",
            )
        )
    return _table("perm", notes, rows, _cores(cores))


def finemap_table(d: dict) -> list[str]:
    fm = d.get("finemap")
    if fm is None:
        return ["### finemap", "", "not run (benchmarks/bench_finemap.py)", ""]
    whole = fm.get("whole_process")
    nv = fm["naive"]
    n_ph = fm["cohort"]["n_phenotypes"]
    c = fm["cohort"]
    loads = [x for w in (whole or {}).values() for x in w.get("load_before", [])]
    notes = [
        f"`benchmarks/bench_finemap.py`, measured {d.get('finemap_measured', '?')}: "
        f"{c['n_samples']} samples, {n_ph} phenotypes, {c['n_variants']:,} variants, "
        f"SegmentQTL's defaults ({fm['fits_per_phenotype']} elastic-net fits per phenotype); "
        "segqtl: the SegmentQTL drop-in (`python -m segqtl --mode finemap ... --num_cores N`) "
        f"on the same files SegmentQTL was timed on, whole process, median of "
        f"{fm.get('repeats', 1)}, warm warehouse{_load_note(loads)}.",
        "SegmentQTL: our like-for-like measurement on this machine (README; its numba build "
        "from the public source), issue 12's figures in brackets; the ratio is against ours.",
        f"Naive: `tests/reference_enet.py`'s pure-Python per-fit loop, 1 core, extrapolated "
        f"from {nv['fits']} fits on one phenotype to {n_ph} phenotypes × "
        f"{fm['fits_per_phenotype']} fits.",
    ]
    if not whole:
        notes.append("This JSON predates the whole-process timings: no segqtl figures.")
        return _table("finemap", notes, [], "—")
    naive_total = nv["extrapolated_seconds_per_phenotype"] * n_ph
    rows = []
    for cores in (1, 2):
        w = whole.get(str(cores))
        ref = REFERENCE["finemap"][cores]
        lo, hi = ref["issue_s"]
        issue = f"{lo:.1f}" if lo == hi else f"{lo:.1f}–{hi:.1f}"
        target_s = ref["readme_s"] / TARGETS["finemap_speedup"]
        if w is None:
            rows.append(
                (
                    f"finemap, {_cores(cores)}: time",
                    "not run",
                    "—",
                    "—",
                    f"{_s(ref['readme_s'])} ({issue} s)",
                    f"≤ {_s(target_s)}",
                    "—",
                )
            )
            continue
        ratio = ref["readme_s"] / w["seconds"]
        rows.append(
            (
                f"finemap, {_cores(cores)}: time",
                _s(w["seconds"]),
                f"{_s(naive_total)} (1 core, extrapolated)" if cores == 1 else "—",
                "—",
                f"{_s(ref['readme_s'])} ({issue} s)",
                f"≤ {_s(target_s)}",
                _met(w["seconds"] <= target_s),
            )
        )
        rows.append(
            (
                f"finemap, {_cores(cores)}: SegmentQTL ÷ segqtl",
                f"{ratio:.1f}×",
                f"{ref['readme_s'] / naive_total:.2f}×" if cores == 1 else "—",
                "—",
                "1×",
                f"≥ {TARGETS['finemap_speedup']:.0f}×",
                _met(ratio >= TARGETS["finemap_speedup"]),
            )
        )
    cores_used = sorted(int(k) for k in whole)
    return _table("finemap", notes, rows, "/".join(str(k) for k in cores_used) + " cores")


def validate_table(d: dict) -> list[str]:
    v = d.get("validate")
    if v is None:
        return ["### validate", "", "not run (benchmarks/bench_validate.py)", ""]
    cores = v.get("cores", 2)
    rows_in = v["rows"]
    if rows_in and isinstance(rows_in[0], list):  # the older layout: [label, seconds]
        rows_in = [{"label": label, "seconds": sec} for label, sec in rows_in]
    loads = [x for r in rows_in for x in r.get("load_before", [])]
    notes = [
        f"`benchmarks/bench_validate.py`, measured {d.get('validate_measured', '?')}: the "
        "finemap benchmark's design plus a 200-sample validation cohort, models from a finemap "
        "run in the warehouse (`--finemap-run`); segqtl: "
        + (
            f"whole process (`python -m segqtl run`), median of {v.get('repeats', 1)}, warm "
            "warehouse"
            if v.get("whole_process")
            else "in-process `api.run`, one run"
        )
        + f"{_load_note(loads)}. No naive baseline, no reference figures."
    ]
    rows = [
        (r["label"], _s(r["seconds"]), "—", "—", "—", "—", "—")
        for r in rows_in
        if r["label"].startswith("validate")
    ]
    return _table("validate", notes, rows, _cores(cores))


def render(d: dict, m: dict) -> str:
    """All tables as Markdown, under a header naming the machine and the date."""
    usable = f", {m['usable_cores']} usable" if m.get("usable_cores") else ""
    la = m["load_average"]
    lines = [
        f"## segqtl benchmarks — {m['date']}",
        "",
        f"Machine: {m['cpu_count']} cores{usable}; load average {la[0]:.2f} / {la[1]:.2f} / "
        f"{la[2]:.2f} (1 / 5 / 15 min) when these tables were printed.",
        "",
    ]
    for table in (nominal_table, perm_table, finemap_table, validate_table):
        lines += table(d)
    return "\n".join(lines)


def run_scripts(scripts: list[list[str]], folder: Path) -> None:
    """Run benchmark scripts (argument lists) from benchmarks/, their figures going to
    ``folder`` and their own tables to stderr; stop at the first failure."""
    env = {**os.environ, "SEGQTL_BENCH_OUT": str(folder)}
    for args in scripts:
        print(f"$ python {' '.join(args)}", file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, *args], cwd=HERE, env=env, stdout=sys.stderr)
        if done.returncode:
            sys.exit(f"{args[0]} failed (exit {done.returncode})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--from-json", action="store_true", help="only read the benchmarks' last JSON files"
    )
    ap.add_argument("--long", action="store_true", help="also run perm with 10,000 permutations")
    ap.add_argument("--out", help="folder of the JSON files (default: benchmarks/out)")
    args = ap.parse_args()
    folder = out_dir(args.out)
    scripts = []
    if not args.from_json:
        scripts += [["bench_nominal.py"], ["bench_perm.py"], ["bench_finemap.py"],
                    ["bench_validate.py"]]  # fmt: skip
    if args.long:
        scripts.append(["bench_perm.py", "--permutations", "10000"])
    run_scripts(scripts, folder)
    print(render(load(folder), machine()))


if __name__ == "__main__":
    main()
