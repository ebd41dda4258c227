"""Run orchestration in the parent process: plan, read, dispatch, commit, finish."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from ..errors import SegqtlError, UsageError
from ..spec import RunSpec, trans_chromosome
from ..warehouse import reads, runs
from ..warehouse.db import fetch_one
from . import finemap as finemap_worker
from . import nominal as nominal_worker
from . import validate as validate_worker
from .pool import ordered_map

WORKERS: dict[str, Callable] = {
    "nominal": nominal_worker.compute_unit,
    "perm": nominal_worker.compute_unit,  # nominal best variant plus the permutation scan
    "finemap": finemap_worker.compute_unit,
    "validate": validate_worker.compute_unit,
}
# Modules the worker processes' fork server imports: finemap's warms the compiled kernels
# (numba's cache) once there instead of in every worker.
PRELOAD = {
    "finemap": ["segqtl.engine.finemap_warm"],
    "validate": ["segqtl.engine.finemap_warm", "segqtl.engine.validate"],
}
PAYLOADS: dict[str, Callable] = {
    "nominal": reads.nominal_payload,
    "perm": reads.nominal_payload,
    "finemap": reads.finemap_payload,
}


def _variant_chromosome(spec: RunSpec, unit) -> str:
    return trans_chromosome(unit.chr) if spec.neg_control else unit.chr


def _validate_payloads(con, spec: RunSpec, units, info, exports: dict, scratch: Path):
    """Payloads of a validate run: both cohorts' genotypes go to scratch files (keys of
    ``exports``: (role, chromosome))."""
    from ..warehouse.validate_reads import validate_payload

    val_info = reads.cohort_info(con, spec.validation_cohort)
    main_cov = reads.covariates_frame(con, spec.cohort)
    val_cov = reads.covariates_frame(con, spec.validation_cohort)
    for unit in units:
        if ("main", unit.chr) not in exports:
            exports[("main", unit.chr)] = reads.GenotypeExport(
                con, info, unit.chr, scratch / "main"
            )
            # a validation cohort without genotypes on this chromosome scores nothing there
            # (every window is empty), which is not an error
            has_val = reads.has_genotypes(con, val_info, unit.chr)
            exports[("val", unit.chr)] = (
                reads.GenotypeExport(con, val_info, unit.chr, scratch / "val") if has_val else None
            )
        main, val = exports[("main", unit.chr)], exports[("val", unit.chr)]
        payload = validate_payload(
            con, spec, unit, info, val_info, main_cov, val_cov, main.files,
            None if val is None else val.files,
        )  # fmt: skip
        for export, rows in ((main, payload["rows"]), (val, payload["val_rows"])):
            if export is not None:
                export.ensure(int(rows[-1]) if rows.size else 0)
        yield payload


def _payloads(con, spec: RunSpec, units, info, exports: dict, scratch: Path):
    """Yield each unit's payload, copying genotypes to scratch files as units need them.

    ``exports`` maps chromosome -> :class:`reads.GenotypeExport`; the caller removes a
    chromosome's files once its last unit is committed (payloads are read ahead of results).
    """
    covariates = reads.covariates_frame(con, spec.cohort)
    for unit in units:
        chrom = _variant_chromosome(spec, unit)
        if chrom not in exports:
            exports[chrom] = reads.GenotypeExport(con, info, chrom, scratch)
        export = exports[chrom]
        payload = PAYLOADS[spec.mode](con, spec, unit, info, covariates, export.files)
        rows = payload["rows"]
        export.ensure(-1 if rows is None else int(rows[-1]) if rows.size else 0)
        yield payload


def _scratch_root() -> str | None:
    """Where runs put their temporary genotype files: $SEGQTL_TMPDIR, else the system default."""
    return os.environ.get("SEGQTL_TMPDIR") or None


def execute(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    *,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Compute every pending unit of a run, committing each, then mark the run completed.

    Safe to call again after an interruption: committed units are not recomputed.

    Returns
    -------
    dict
        The run's totals (phenotypes, pairs tested/skipped, result rows, skipped by reason).
    """
    spec = runs.load_spec(con, run_id)
    if spec.mode not in WORKERS:
        raise UsageError(f"mode {spec.mode!r} is not available in this version of segqtl")
    info = reads.cohort_info(con, spec.cohort)
    runs.check_finemap_csvs(con, run_id, spec)
    units = runs.pending_units(con, run_id)
    worker = WORKERS[spec.mode]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(units), unit="unit", file=sys.stderr, desc=f"run {run_id}")
    n_total = fetch_one(con, "SELECT n_units FROM runs WHERE run_id = ?", [run_id])[0]
    pause = float(os.environ.get("SEGQTL_UNIT_PAUSE", "0") or 0)
    cleanup: list[Path] = []
    con.execute("SET threads = 1")  # the workers have the cores; DuckDB threads would compete
    try:
        t_last = time.perf_counter()
        scratch = Path(tempfile.mkdtemp(prefix=f"segqtl-run{run_id}-", dir=_scratch_root()))
        cleanup.append(scratch)
        exports: dict[str, reads.GenotypeExport] = {}
        last_unit = {_variant_chromosome(spec, u): u.unit_id for u in units}
        make_payloads = _validate_payloads if spec.mode == "validate" else _payloads
        payloads = make_payloads(con, spec, units, info, exports, scratch)
        results = ordered_map(worker, payloads, spec.num_cores, preload=PRELOAD.get(spec.mode))
        for unit, (frame, counts) in zip(units, results, strict=True):
            now = time.perf_counter()
            n_ph = unit.last_idx - unit.first_idx + 1
            if isinstance(spec.all_variants, str) or spec.phenotype_id is not None:
                n_ph = 1
            variant_chr = _variant_chromosome(spec, unit)
            runs.write_unit(
                con, run_id, spec.mode, unit, frame, counts, n_ph, now - t_last, variant_chr
            )
            if last_unit[variant_chr] == unit.unit_id:  # no later unit reads this chromosome
                done = [
                    k for k in exports if variant_chr in (k, k[-1] if isinstance(k, tuple) else k)
                ]
                for key in done:
                    export = exports.pop(key)
                    if export is not None:
                        export.remove()
            t_last = now
            if log is not None:
                log(f"run {run_id}: committed unit {unit.unit_id + 1} of {n_total}")
            if bar is not None:
                bar.update(1)
            if pause:
                time.sleep(pause)
    except SegqtlError as exc:
        runs.fail_run(con, run_id, str(exc))
        raise
    except KeyboardInterrupt:
        runs.fail_run(con, run_id, "interrupted")
        raise
    except Exception as exc:
        runs.fail_run(con, run_id, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if bar is not None:
            bar.close()
        for path in cleanup:
            shutil.rmtree(path, ignore_errors=True)
        con.execute("RESET threads")
    totals = runs.finish_run(con, run_id)
    if spec.mode == "perm":  # q-values over the run's chromosomes, at the default FDR
        from ..warehouse.fdr import compute_run_fdr

        compute_run_fdr(con, run_id)
    return totals
