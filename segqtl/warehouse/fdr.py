"""Storing a run's global multiple-testing results (q-values, thresholds).

Two scopes (``run_fdr.scope``, migration 011):

phenotype
    perm runs: one p-value per phenotype (``p_adj``, corrected for the cis variants by the
    permutations), q-values in ``qvalue_stats`` (view ``qvalues``), and for beta runs each
    phenotype's nominal threshold.
pair
    all-variants nominal runs: every tested pair's ``nominal_p``, q-values in
    ``pair_qvalue_stats`` (view ``pair_qvalues``), computed in the warehouse
    (``sql/signif_pair_counts.sql``, ``sql/signif_pair_qvalues.sql``).

Best-variant nominal runs are refused: their p-value is a phenotype's minimum over its cis
variants, not corrected for how many were tested, so q-values over them call nearly every
phenotype a hit.  ``method`` is ``storey`` (pi0 by the bootstrap, or at a fixed λ) or ``bh``
(Benjamini–Hochberg, pi0 = 1).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from .. import modes
from ..errors import UsageError
from ..kernels import fdr as fdr_kernel
from . import db
from .db import bind_sql, fetch_one, query_pl
from .runs import finish_fix, load_spec, run_status

METHODS = ("storey", "bh")


def check_options(fdr: float, method: str = "storey", qvalue_lambda: float | None = None) -> None:
    """Refuse a bad ``--fdr``, ``--method`` or ``--qvalue-lambda`` (one line each)."""
    if not 0 < fdr < 1:
        raise UsageError(f"--fdr must be between 0 and 1 (got {fdr}). Fix: give a level like 0.05")
    if method not in METHODS:
        raise UsageError(f"--method must be storey or bh (got {method!r})")
    if qvalue_lambda is not None:
        if method == "bh":
            raise UsageError(
                "--qvalue-lambda sets Storey's pi0, which --method bh does not estimate (pi0 = "
                "1). Fix: drop one of them"
            )
        if not 0 <= qvalue_lambda < 1:
            raise UsageError(
                f"--qvalue-lambda must be in [0, 1) (got {qvalue_lambda}). Fix: give a value "
                "such as 0.5"
            )


def compute_run_fdr(
    con,
    run_id: int,
    fdr: float = 0.05,
    *,
    method: str = "storey",
    qvalue_lambda: float | None = None,
    transaction: bool = True,
) -> dict:
    """q-values over all chromosomes of a perm run (per phenotype) or of an all-variants
    nominal run (per pair), stored with their ``run_fdr`` row (replacing the run's earlier
    ones).  Returns the summary row as a dict (the columns of ``run_fdr`` but ``computed_at``,
    plus ``pi0_unstable_reason``).

    Parameters
    ----------
    fdr : float
        Level of the hits (and, for beta perm runs, of the nominal thresholds), in (0, 1).
    method : {"storey", "bh"}
        Storey's q-values or Benjamini–Hochberg (pi0 = 1).
    qvalue_lambda : float, optional
        Fix λ of Storey's pi0 instead of choosing it by the bootstrap.
    transaction : bool
        ``False``: the writes join the caller's transaction instead of one of their own.
    """
    check_options(fdr, method, qvalue_lambda)
    spec = load_spec(con, run_id)
    status = run_status(con, run_id)
    if status != "completed":
        raise UsageError(f"run {run_id} is {status}, not completed. {finish_fix(run_id, status)}")
    mode = modes.get(spec.mode)
    pair_scope = mode.by_variant(spec.all_variants)
    if not pair_scope and not getattr(mode, "permutes", False):
        raise UsageError(
            f"run {run_id} is a best-variant {spec.mode} run: its p-value per phenotype is the "
            "minimum over the cis variants, not corrected for how many were tested, so q-values "
            "over them would call nearly every phenotype a hit. Fix: use a perm run (gene-level "
            "q-values) or an all-variants run (--all-variants: q-values over every pair)"
        )
    if pair_scope:
        pi0, write = _pair_qvalues(con, run_id, method, qvalue_lambda)
        p_threshold = np.nan
    else:
        pi0, write, p_threshold = _phenotype_qvalues(con, run_id, spec, fdr, method, qvalue_lambda)
    summary = {
        "run_id": run_id,
        "fdr": fdr,
        "method": method,
        "scope": "pair" if pair_scope else "phenotype",
        "pi0": pi0.pi0,
        "pi0_method": pi0.method,
        "pi0_lambda": pi0.lam,
        "pi0_se": pi0.se,
        "pi0_unstable": pi0.unstable,
        "p_threshold": None if math.isnan(p_threshold) else p_threshold,
        "n_tests": pi0.m,
        "n_hits": None,  # counted from the stored q-values
    }
    with db.transaction(con, own=transaction):
        con.execute("DELETE FROM qvalue_stats WHERE run_id = ?", [run_id])
        con.execute("DELETE FROM run_fdr WHERE run_id = ?", [run_id])
        columns = _columns(con, "run_fdr")
        if "scope" in columns:  # a warehouse of schema 11 or later
            con.execute("DELETE FROM pair_qvalue_stats WHERE run_id = ?", [run_id])
        write()
        table = "pair_qvalue_stats" if pair_scope else "qvalue_stats"  # constants
        summary["n_hits"] = fetch_one(
            con, f"SELECT count(*) FROM {table} WHERE run_id = ? AND qvalue <= ?", [run_id, fdr]
        )[0]
        _insert_run_fdr(con, summary, columns)
    summary["pi0_unstable_reason"] = pi0.reason()
    return summary


def _estimate(p: np.ndarray, method: str, qvalue_lambda: float | None) -> fdr_kernel.Pi0:
    if method == "bh":
        return fdr_kernel.pi0_bh(p.size)
    return fdr_kernel.pi0_estimate(p, qvalue_lambda)


def _phenotype_qvalues(con, run_id, spec, fdr, method, qvalue_lambda):
    """pi0, the writer of ``qvalue_stats`` and the adjusted-p threshold of a perm run."""
    frame = query_pl(con, "run_pvalues", run_id=run_id)
    p = frame["p_value"].to_numpy()
    pi0 = _estimate(p, method, qvalue_lambda)
    q = fdr_kernel.qvalues(p, pi0.pi0)
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

    def write() -> None:
        arrow = rows.to_arrow()  # noqa: F841  (scanned by name)
        con.execute("INSERT INTO qvalue_stats SELECT ?, * FROM arrow", [run_id])

    return pi0, write, p_threshold


def _pair_qvalues(con, run_id, method, qvalue_lambda):
    """pi0 and the writer of ``pair_qvalue_stats`` of an all-variants nominal run: the tail
    counts and the q-values are computed in the warehouse, never as arrays of every pair."""
    if method == "bh":
        grid = fdr_kernel.LAMBDAS[:1]
    elif qvalue_lambda is not None:
        grid = np.array([qvalue_lambda], dtype=np.float64)
    else:
        grid = fdr_kernel.LAMBDAS
    counts = query_pl(con, "signif_pair_counts", run_id=run_id, lambdas=grid.tolist())
    m = int(counts["m"][0])
    if m == 0:
        raise UsageError(
            f"run {run_id} has no tested pair with a p-value, so there is nothing to correct. "
            "Fix: check the run's skipped pairs with 'segqtl show'"
        )
    lam, w = counts["lam"].to_numpy(), counts["w"].to_numpy()
    if method == "bh":
        pi0 = fdr_kernel.pi0_bh(m)
    elif qvalue_lambda is not None:
        pi0 = fdr_kernel.pi0_from_counts(m, lam, w, fixed=True)
    else:
        keep = np.isin(lam, fdr_kernel.grid_lambdas(float(counts["p_max"][0])))
        pi0 = fdr_kernel.pi0_from_counts(m, lam[keep], w[keep])

    def write() -> None:
        text, params = bind_sql("signif_pair_qvalues", run_id=run_id, pi0=pi0.pi0, m=m)
        con.execute(text, params)

    return pi0, write


def _columns(con, table: str) -> set[str]:
    """The columns of ``table`` (writers migrate a warehouse first, so these are this schema's;
    the check keeps perm runs working in warehouses that tests build with an older schema)."""
    return {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
        ).fetchall()
    }


def _insert_run_fdr(con, summary: dict, columns: set[str]) -> None:
    row = {k: v for k, v in summary.items() if k in columns}
    # The column names are this module's keys (checked against the table), never user text.
    con.execute(
        f"INSERT INTO run_fdr ({', '.join(row)}, computed_at) "
        f"VALUES ({', '.join('$' + k for k in row)}, current_timestamp)",
        row,
    )


def load_run_fdr(con, run_id: int) -> dict | None:
    """A run's ``run_fdr`` row as a dict (None when the run has no q-values)."""
    rel = con.execute("SELECT * FROM run_fdr WHERE run_id = ?", [run_id])
    names = [d[0] for d in rel.description]
    row = rel.fetchone()
    rel.fetchall()
    return None if row is None else dict(zip(names, row, strict=True))
