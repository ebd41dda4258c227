"""What the plots and the report read: polars frames from ``sql/plot_*.sql``, read-only.

Each function takes an open (read-only) connection and returns exactly the rows a figure
draws or the report shows; the figures themselves (:mod:`segqtl.plots.figures`) never touch
the warehouse.  Errors a user can fix (no such run, a phenotype the run lacks, a comparison
not yet made) are :class:`~segqtl.errors.UsageError` lines with the fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import polars as pl

from ..errors import UsageError
from ..warehouse.db import bind_sql, fetch_one


@dataclass(frozen=True)
class RunInfo:
    """One run's identity, as the plots label it.

    Attributes
    ----------
    run_id : int
    name : str or None
        The run's name (``--name``).
    mode : str
        ``nominal``, ``perm``, ``finemap`` or ``validate``.
    cohort, validation_cohort : str, str or None
    status : str
    all_variants : bool
        A nominal run that stored every cis pair (not only each phenotype's lead variant).
    neg_control : bool
        A trans negative-control run (its variants lie on another chromosome).
    """

    run_id: int
    name: str | None
    mode: str
    cohort: str
    validation_cohort: str | None
    status: str
    all_variants: bool
    neg_control: bool

    @property
    def label(self) -> str:
        """``run 3 (perm, "perm beta")`` for titles."""
        name = f', "{self.name}"' if self.name else ""
        return f"run {self.run_id} ({self.mode}{name})"


def frame(con: duckdb.DuckDBPyConnection, name: str, **params) -> pl.DataFrame:
    """The rows of ``sql/<name>.sql`` with its named parameters, as a polars frame."""
    text, used = bind_sql(name, params)
    return con.sql(text, params=used).pl()


def run_info(con: duckdb.DuckDBPyConnection, run_id: int, db: object = "DB") -> RunInfo:
    """The run ``run_id``; a missing run is a :class:`UsageError` naming ``segqtl runs``."""
    row = fetch_one(
        con,
        "SELECT run_id, name, mode, cohort, validation_cohort, status FROM runs WHERE run_id = ?",
        [int(run_id)],
    )
    if row is None:
        raise UsageError(
            f"run {run_id} does not exist. Fix: list the runs with 'segqtl runs --db {db}'"
        )
    params = dict(
        con.execute(
            "SELECT key, value FROM run_parameters WHERE run_id = ? "
            "AND key IN ('all_variants', 'neg_control')",
            [int(run_id)],
        ).fetchall()
    )
    all_variants = json.loads(params.get("all_variants") or "false")
    neg_control = json.loads(params.get("neg_control") or "false")
    # all_variants may name one gene (``--all_variants GENE``): every pair of that gene
    return RunInfo(*row, all_variants=bool(all_variants), neg_control=bool(neg_control))


def pvalues(con, run_id: int) -> pl.DataFrame:
    """Column ``p``, ascending: the run's p-values (``sql/plot_pvalues.sql`` says which)."""
    return frame(con, "plot_pvalues", run_id=int(run_id))


def fdr_summary(con, run_id: int) -> dict | None:
    """The run's stored q-value summary (``run_fdr``: fdr, pi0, pi0_method, p_threshold,
    n_tests, n_hits), or None when q-values were never computed for it."""
    rel = con.sql(
        "SELECT fdr, pi0, pi0_method, p_threshold, n_tests, n_hits FROM run_fdr "
        "WHERE run_id = $run_id",
        params={"run_id": int(run_id)},
    )
    rows = rel.fetchall()
    return dict(zip(rel.columns, rows[0], strict=True)) if rows else None


def gene_level(con, run_id: int) -> pl.DataFrame:
    """One gene-level p per phenotype with q-value and hit flag (``sql/plot_gene_level.sql``)."""
    return frame(con, "plot_gene_level", run_id=int(run_id))


def _phenotype_missing(run: RunInfo, phenotype: str, what: str) -> UsageError:
    return UsageError(
        f"--phenotype {phenotype}: {run.label} has no {what} for it. Fix: give a gene_id of "
        f"cohort {run.cohort}'s quantifications that the run covers (see 'segqtl report' or "
        f"'segqtl query' on the run's results view)"
    )


def locus(con, run: RunInfo, phenotype: str) -> pl.DataFrame:
    """The phenotype's variant rows in a nominal run (``sql/plot_locus.sql``)."""
    rows = frame(con, "plot_locus", run_id=run.run_id, phenotype=phenotype)
    if rows.height == 0:
        raise _phenotype_missing(run, phenotype, "rows")
    return rows


def finemap_variants(con, run_id: int, phenotype: str) -> pl.DataFrame:
    """A finemap run's variants of one phenotype (``sql/plot_finemap_variants.sql``)."""
    return frame(con, "plot_finemap_variants", run_id=int(run_id), phenotype=phenotype)


def finemap_run_for(con, cohort: str, phenotype: str) -> int | None:
    """The newest completed finemap run of ``cohort`` that fitted ``phenotype``, if any."""
    text, used = bind_sql("plot_finemap_run", cohort=cohort, phenotype=phenotype)
    row = fetch_one(con, text, used)
    return None if row is None else int(row[0])


def stability(con, run: RunInfo, phenotype: str | None = None) -> pl.DataFrame:
    """A finemap run's variants with stability and coefficients (``sql/plot_stability.sql``)."""
    rows = frame(con, "plot_stability", run_id=run.run_id, phenotype=phenotype)
    if phenotype is not None and rows.height == 0:
        raise _phenotype_missing(run, phenotype, "fitted variants")
    return rows


def stability_threshold(con, run_id: int) -> float:
    """The finemap run's ``r2_stability_threshold`` (its hit rule), or the declared default."""
    row = fetch_one(
        con,
        "SELECT value FROM run_parameters WHERE run_id = ? AND key = 'r2_stability_threshold'",
        [int(run_id)],
    )
    if row is None or row[0] is None:
        from ..modes import param

        return float(param("r2_stability_threshold").default)
    return float(json.loads(row[0]))


def calibration(con, run_id: int) -> pl.DataFrame:
    """A validate run's scored phenotypes (``sql/plot_calibration.sql``)."""
    return frame(con, "plot_calibration", run_id=int(run_id))


def calibration_samples(con, run_id: int, phenotype: str) -> pl.DataFrame:
    """Observed against predicted per validation sample (``sql/plot_calibration_samples.sql``)."""
    return frame(con, "plot_calibration_samples", run_id=int(run_id), phenotype=phenotype)


def comparison_id(con, run_a: int, run_b: int, db: object = "DB") -> int:
    """The newest stored comparison of ``run_a`` with ``run_b``; none is a :class:`UsageError`
    saying to run ``segqtl compare`` first (plots and reports only read)."""
    text, used = bind_sql("plot_comparison_id", run_a=int(run_a), run_b=int(run_b))
    row = fetch_one(con, text, used)
    if row is None:
        raise UsageError(
            f"runs {run_a} and {run_b} have not been compared. Fix: run 'segqtl compare --db "
            f"{db} {run_a} {run_b}' first (plot and report only read the warehouse)"
        )
    return int(row[0])


def comparison_pairs(con, comparison_id: int) -> pl.DataFrame:
    """The keys in both runs of a stored comparison (``sql/plot_comparison.sql``)."""
    return frame(con, "plot_comparison", comparison_id=int(comparison_id))


def status_counts(con, run_id: int) -> pl.DataFrame:
    """Stored rows and phenotypes by status (``sql/plot_status_counts.sql``)."""
    return frame(con, "plot_status_counts", run_id=int(run_id))


def top_results(con, run: RunInfo, top: int) -> pl.DataFrame | None:
    """The run's strongest results (``sql/plot_top_<mode>.sql``; None for a mode without
    that file)."""
    from ..warehouse.db import sql_dir

    if not (sql_dir() / f"plot_top_{run.mode}.sql").is_file():
        return None
    return frame(con, f"plot_top_{run.mode}", run_id=run.run_id, top=int(top))


def egenes(con, run_id: int) -> pl.DataFrame:
    """The run's eGenes at its FDR level (``sql/plot_egenes.sql``); empty without q-values."""
    return frame(con, "plot_egenes", run_id=int(run_id))
