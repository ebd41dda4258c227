"""Storing a run's global multiple-testing results (q-values, thresholds)."""

from __future__ import annotations

import numpy as np
import polars as pl

from .. import modes
from ..errors import UsageError
from ..kernels import fdr as fdr_kernel
from .db import query_pl
from .runs import finish_fix, load_spec, run_status


def compute_run_fdr(con, run_id: int, fdr: float = 0.05, *, transaction: bool = True) -> dict:
    """Storey q-values over all chromosomes of a best-variant run, stored in ``qvalue_stats`` and
    ``run_fdr`` (replacing earlier ones of the run). Returns the summary row as a dict.

    The writes are one transaction; with ``transaction=False`` they join the caller's."""
    if not 0 < fdr < 1:
        raise UsageError(f"--fdr must be between 0 and 1 (got {fdr})")
    spec = load_spec(con, run_id)
    status = run_status(con, run_id)
    if status != "completed":
        raise UsageError(f"run {run_id} is {status}, not completed. {finish_fix(run_id, status)}")
    if spec.all_variants:
        raise UsageError(
            f"run {run_id} reports all variants; q-values need one p-value per "
            "phenotype. Fix: use a best-variant nominal run or a perm run"
        )
    frame = query_pl(con, "run_pvalues", run_id=run_id)
    p = frame["p_value"].to_numpy()
    pi0 = fdr_kernel.pi0_bootstrap(p)
    q = fdr_kernel.qvalues(p, pi0)
    p_threshold = np.nan
    thresholds = np.full(p.size, np.nan)
    if modes.get(spec.mode).nominal_thresholds(spec):
        p_threshold = fdr_kernel.adjusted_p_threshold(p, q, fdr)
        thresholds = fdr_kernel.nominal_thresholds(
            p_threshold, frame["beta_shape1"].to_numpy(), frame["beta_shape2"].to_numpy()
        )
    rows = frame.select("chr", "phenotype_idx", "p_value").with_columns(
        pl.Series("qvalue", q), pl.Series("pval_nominal_threshold", thresholds).fill_nan(None)
    )
    summary = {
        "run_id": run_id,
        "fdr": fdr,
        "pi0": pi0,
        "pi0_method": "bootstrap",
        "p_threshold": None if np.isnan(p_threshold) else p_threshold,
        "n_tests": int(p.size),
        "n_hits": int(np.sum(q <= fdr)),
    }
    arrow = rows.to_arrow()  # noqa: F841  (scanned by name)
    if transaction:
        con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM qvalue_stats WHERE run_id = ?", [run_id])
        con.execute("DELETE FROM run_fdr WHERE run_id = ?", [run_id])
        con.execute("INSERT INTO qvalue_stats SELECT ?, * FROM arrow", [run_id])
        con.execute(
            "INSERT INTO run_fdr VALUES (?, ?, ?, ?, ?, ?, ?, current_timestamp)",
            [
                run_id,
                fdr,
                pi0,
                "bootstrap",
                summary["p_threshold"],
                summary["n_tests"],
                summary["n_hits"],
            ],
        )
        if transaction:
            con.execute("COMMIT")
    except BaseException:
        if transaction:
            con.execute("ROLLBACK")
        raise
    return summary
