"""Significant variant–phenotype pairs (``segqtl signif``), as tensorQTL's
``get_significant_pairs``.

For a perm run A and an all-variants nominal run B of the same cohort and model: every
phenotype g of A with q-value ``q_g <= fdr`` gets the nominal threshold
``t_g = BetaPPF(p_t; a_g, b_g)`` (``p_t``: A's adjusted-p cut-off at ``fdr``, midway between
the largest hit's and the smallest non-hit's ``p_adj``; ``a_g, b_g``: g's fitted Beta shapes),
and every pair (g, v) of B with ``nominal_p <= t_g`` is significant (tensorQTL keeps
``pval_nominal < t_g``; the two differ only for a p-value equal to the threshold).

A request is recorded (``signif_requests``, ``signif_thresholds``; migration 011) and its pairs
are the view ``significant_pairs`` (``WHERE signif_id = N``), so the command and SQL give the
same rows.

Refused (one line each): A not a completed beta perm run with q-values; B not a completed
nominal run over every variant of every phenotype (``--all-variants`` without a gene); runs of
different cohorts or cohort contents (checksum); different model parameters (window,
min_samples, the negative control); A's chromosomes not all in B; and, checked on the data, B's
p-value of any significant phenotype's lead pair differing from A's (e.g. perm leaves out the
samples without copy number, nominal does not, so a cohort with missing copy number gives B
other p-values than the ones A's thresholds are calibrated on).
"""

from __future__ import annotations

import math

import polars as pl

from .. import modes
from ..errors import UsageError
from ..kernels import fdr as fdr_kernel
from .db import bind_sql, fetch_one, query_pl, transaction
from .runs import finish_fix, load_spec

#: The columns of ``significant_pairs`` that ``segqtl signif`` writes, in order.
CSV_COLUMNS = (
    "phenotype",
    "variant",
    "chr",
    "pos",
    "ref",
    "alt",
    "distance",
    "number_of_samples",
    "beta_s",
    "se_s",
    "beta_d",
    "se_d",
    "t_stat_d",
    "pval_nominal",
    "pval_nominal_threshold",
    "qvalue",
)

#: Run parameters that do not change a pair's nominal statistics (how the run executed, its
#: name, what it reports).
_NOT_MODEL = {"all_variants", "record_aic", "name"}


def model_params(mode_a: str, mode_b: str) -> list[str]:
    """The parameters of both modes' models that A and B must share."""
    execution = {p.name for p in modes.EXECUTION_PARAMS}
    return [
        p.name
        for p in modes.params().values()
        if p.applies_to(mode_a)
        and p.applies_to(mode_b)
        and p.name not in execution
        and p.name not in _NOT_MODEL
    ]


def _run_row(con, run_id: int) -> dict:
    rel = con.execute(
        "SELECT run_id, mode, cohort, cohort_checksum, status FROM runs WHERE run_id = ?", [run_id]
    )
    names = [d[0] for d in rel.description]
    row = rel.fetchone()
    rel.fetchall()
    if row is None:
        raise UsageError(f"run {run_id} does not exist. Fix: list runs with 'segqtl runs --db DB'")
    return dict(zip(names, row, strict=True))


def check_runs(con, perm_run: int, nominal_run: int) -> None:
    """Refuse two runs whose significant pairs would not mean anything (one line each)."""
    a, b = _run_row(con, perm_run), _run_row(con, nominal_run)
    for run, flag in ((a, "--perm-run"), (b, "--nominal-run")):
        if run["status"] != "completed":
            raise UsageError(
                f"{flag} {run['run_id']} is {run['status']}, not completed. "
                f"{finish_fix(run['run_id'], run['status'])}"
            )
    spec_a, spec_b = load_spec(con, perm_run), load_spec(con, nominal_run)
    mode_a, mode_b = modes.get(spec_a.mode), modes.get(spec_b.mode)
    if not getattr(mode_a, "permutes", False):
        raise UsageError(
            f"--perm-run {perm_run} is a {spec_a.mode} run; the phenotypes and their thresholds "
            "come from a perm run's q-values and Beta fits. Fix: give a perm run (segqtl runs)"
        )
    if not mode_a.nominal_thresholds(spec_a):
        raise UsageError(
            f"--perm-run {perm_run} used --perm-method {spec_a.perm_method}: no Beta fit, so no "
            "per-phenotype nominal threshold. Fix: use a perm run with --perm-method beta"
        )
    if getattr(mode_b, "permutes", False) or spec_b.all_variants is not True:
        what = (
            f"reports every variant of {spec_b.all_variants} only"
            if isinstance(spec_b.all_variants, str)
            else f"is a {spec_b.mode} run without --all-variants"
        )
        raise UsageError(
            f"--nominal-run {nominal_run} {what}; significant pairs need the p-value of every "
            "cis pair. Fix: run --mode nominal --all-variants on the perm run's cohort and "
            "chromosomes"
        )
    if a["cohort"] != b["cohort"] or a["cohort_checksum"] != b["cohort_checksum"]:
        what = (
            f"cohorts {a['cohort']!r} and {b['cohort']!r}"
            if a["cohort"] != b["cohort"]
            else f"cohort {a['cohort']!r} as ingested at different times (other input files)"
        )
        raise UsageError(
            f"runs {perm_run} and {nominal_run} analyse {what}; thresholds apply to the same "
            "samples only. Fix: run both on one cohort as it is now"
        )
    for name in model_params(spec_a.mode, spec_b.mode):
        va, vb = getattr(spec_a, name), getattr(spec_b, name)
        if va != vb:
            flag = modes.param(name).kebab
            raise UsageError(
                f"runs {perm_run} and {nominal_run} differ in {flag} ({va} and {vb}), so B's "
                "p-values are not the ones A's thresholds are calibrated on. Fix: run the "
                f"all-variants nominal run with {flag} {va}"
            )
    missing = [c for c in spec_a.chromosomes if c not in spec_b.chromosomes]
    if missing:
        raise UsageError(
            f"--nominal-run {nominal_run} lacks chromosome(s) {', '.join(missing)} of perm run "
            f"{perm_run}. Fix: run the all-variants nominal run on {', '.join(spec_a.chromosomes)}"
        )
    f = fetch_one(con, "SELECT count(*) FROM run_fdr WHERE run_id = ?", [perm_run])
    if not f[0]:
        raise UsageError(
            f"perm run {perm_run} has no q-values. Fix: compute them with "
            f"'segqtl fdr --run {perm_run}'"
        )


def record_significant_pairs(con, perm_run: int, nominal_run: int, fdr: float = 0.05) -> dict:
    """Check the runs, record a signif request and return its summary.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A writable warehouse connection.
    perm_run : int
        A: a completed beta perm run (its stored q-values select the phenotypes).
    nominal_run : int
        B: a completed all-variants nominal run of the same cohort and model.
    fdr : float
        The q-value level, in (0, 1).

    Returns
    -------
    dict
        ``signif_id, perm_run, nominal_run, fdr, p_threshold`` (None when no phenotype passes),
        ``n_phenotypes, n_pairs``.
    """
    if not 0 < fdr < 1:
        raise UsageError(f"--fdr must be between 0 and 1 (got {fdr}). Fix: give a level like 0.05")
    check_runs(con, perm_run, nominal_run)
    frame = query_pl(con, "signif_phenotypes", perm_run=perm_run)
    p, q = frame["p_value"].to_numpy(), frame["qvalue"].to_numpy()
    p_threshold = fdr_kernel.adjusted_p_threshold(p, q, fdr)
    thresholds = fdr_kernel.nominal_thresholds(
        p_threshold,
        frame["beta_shape1"].to_numpy().astype(float),
        frame["beta_shape2"].to_numpy().astype(float),
    )
    hits = frame.with_columns(pl.Series("pval_nominal_threshold", thresholds)).filter(
        (pl.col("qvalue") <= fdr) & pl.col("pval_nominal_threshold").is_finite()
    )
    rows = hits.select("chr", "phenotype_idx", "qvalue", "pval_nominal_threshold")
    with transaction(con):
        signif_id = fetch_one(con, "SELECT nextval('signif_id_seq')")[0]
        con.execute(
            "INSERT INTO signif_requests VALUES (?, ?, ?, ?, ?, ?, 0, current_timestamp)",
            [
                signif_id,
                perm_run,
                nominal_run,
                fdr,
                None if math.isnan(p_threshold) else p_threshold,
                rows.height,
            ],
        )
        arrow = rows.to_arrow()  # noqa: F841  (scanned by name)
        con.execute("INSERT INTO signif_thresholds SELECT ?, * FROM arrow", [signif_id])
        _check_same_scan(con, signif_id, perm_run, nominal_run, rows.height)
        n_pairs = fetch_one(
            con, "SELECT count(*) FROM significant_pairs WHERE signif_id = ?", [signif_id]
        )[0]
        con.execute(
            "UPDATE signif_requests SET n_pairs = ? WHERE signif_id = ?", [n_pairs, signif_id]
        )
    return {
        "signif_id": signif_id,
        "perm_run": perm_run,
        "nominal_run": nominal_run,
        "fdr": fdr,
        "p_threshold": None if math.isnan(p_threshold) else p_threshold,
        "n_phenotypes": rows.height,
        "n_pairs": n_pairs,
    }


def _check_same_scan(con, signif_id: int, perm_run: int, nominal_run: int, n: int) -> None:
    """Refuse when B's p-value of a significant phenotype's lead pair is not A's."""
    text, params = bind_sql("signif_check", signif_id=signif_id)
    bad = con.execute(text, params).fetchall()
    if not bad:
        return
    gene, variant, n_a, n_b, p_a, p_b = bad[0]
    seen = "no tested row" if n_b is None else f"p {p_b:.4g} on {n_b} samples"
    raise UsageError(
        f"--nominal-run {nominal_run} does not reproduce perm run {perm_run}'s nominal scan at "
        f"{len(bad)} of {n} significant phenotypes (first: {gene}, lead variant {variant}: p "
        f"{p_a:.4g} on {n_a} samples in the perm run, {seen} in the nominal run), so the perm "
        "run's thresholds do not apply to its p-values (perm leaves out samples without copy "
        "number; nominal keeps them). Fix: use runs whose samples agree, e.g. a cohort whose "
        "copy number has no missing values"
    )


def pairs_sql(signif_id: int) -> tuple[str, dict]:
    """The SELECT (and its parameters) of a request's pairs with :data:`CSV_COLUMNS`."""
    return (
        f"SELECT {', '.join(CSV_COLUMNS)} FROM significant_pairs WHERE signif_id = $signif_id "
        "ORDER BY chr, phenotype_idx, variant_idx",
        {"signif_id": int(signif_id)},
    )


def write_csv(con, signif_id: int, out) -> None:
    """Write a request's pairs as CSV to ``out`` under a temporary name, then rename it, so
    that ``out`` is either the whole file or absent (never half written)."""
    import os
    from pathlib import Path

    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    text, params = pairs_sql(signif_id)
    quoted = str(tmp).replace("'", "''")
    try:
        con.execute(f"COPY ({text}) TO '{quoted}' (HEADER, DELIMITER ',')", params)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
