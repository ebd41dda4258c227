"""Run orchestration in the parent process: plan, read, dispatch, commit, finish."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import duckdb

from ..errors import SegqtlError, UsageError
from ..spec import RunSpec
from ..warehouse import reads, runs
from ..warehouse.db import fetch_one
from . import nominal as nominal_worker
from .pool import ordered_map

WORKERS: dict[str, Callable] = {"nominal": nominal_worker.compute_unit}


def _payloads(con, spec: RunSpec, units, info):
    covariates = reads.covariates_frame(con, spec.cohort)
    trans_cache: dict = {}
    for unit in units:
        yield reads.nominal_payload(con, spec, unit, info["n_samples"], covariates, trans_cache)


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
    units = runs.pending_units(con, run_id)
    worker = WORKERS[spec.mode]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(units), unit="unit", file=sys.stderr, desc=f"run {run_id}")
    n_total = fetch_one(con, "SELECT n_units FROM runs WHERE run_id = ?", [run_id])[0]
    pause = float(os.environ.get("SEGQTL_UNIT_PAUSE", "0") or 0)
    try:
        t_last = time.perf_counter()
        results = ordered_map(worker, _payloads(con, spec, units, info), spec.num_cores)
        for unit, (frame, counts) in zip(units, results, strict=True):
            now = time.perf_counter()
            n_ph = unit.last_idx - unit.first_idx + 1
            if isinstance(spec.all_variants, str):
                n_ph = 1
            runs.write_unit(con, run_id, spec.mode, unit, frame, counts, n_ph, now - t_last)
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
    return runs.finish_run(con, run_id)
