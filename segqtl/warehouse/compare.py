"""Comparing two completed runs of one mode (``segqtl compare``).

A comparison matches the results of run A and run B, stores every matched or unmatched key in
``comparison_pairs`` and a summary in ``comparisons`` (migration 006), in one transaction, and
returns both as a :class:`Comparison`.  Running it again stores a new ``comparison_id``.

Semantics
---------
Runs
    Both must exist, be ``completed`` and have the same mode; they may analyse different cohorts
    and different chromosomes (the keys of a chromosome only one run covers are "only in" that
    run).  Comparing a run with itself is refused.
Keys (matched on names, never on per-cohort row numbers)
    The phenotype is its ``gene_id``, the variant its ID exactly as written (``chr:pos:ref:alt``).
    Per-(phenotype, variant) result sets are keyed on both: all-variants nominal runs
    (``all_variants`` true or a gene) and finemap.  One-row-per-phenotype sets are keyed on the
    phenotype, with each run's lead variant in ``variant_a``/``variant_b`` and ``same_variant``
    (NULL for validate, which has no variant): best-variant nominal runs, perm, validate.  A
    best-variant and an all-variants nominal run cannot be compared.  Only results count: status
    ``tested`` and, except for validate, a variant.
Effect and significance (``effect_column``, ``p_column``)
    nominal: ``beta_d``, ``nominal_p``; perm: ``beta_d``, ``p_adj``; finemap: ``beta_full``,
    ``stability_score`` (not a p-value: ``corr_log10p`` is then the correlation of the stability
    scores themselves, printed as ``corr_stability``); validate: ``pearson_r``, ``pearson_pval``.
Hits (``hit_rule_a``/``hit_rule_b``, decided per run)
    A run with q-values (a ``run_fdr`` row: every perm run, per phenotype; all-variants nominal
    runs after ``segqtl fdr``, per pair; best-variant nominal runs of an older segqtl):
    ``qvalue <= fdr``.  Otherwise perm: ``p_adj <= fdr``; nominal:
    ``nominal_p <= fdr`` (nominal runs never fill ``p_adj``); finemap: ``stability_score >=`` the
    run's ``r2_stability_threshold`` (``fdr`` is not used); validate: ``pearson_pval <= fdr``.  A
    missing value is no hit, and a key missing from a run is no hit there.
Summary
    Counts of keys in A, in B, in both, only in A, only in B; the Pearson correlation of the
    effects over the keys in both with the same variant (``n_corr_pairs`` of them: a phenotype
    whose lead variants differ is left out, its effects belong to different variants) and of
    -log10 p over the keys in both (NULL with fewer than 3 keys or a constant side); the sign
    agreement among keys in both with two nonzero effects; hits in A, in B, in both, gained
    (hit in B, not in A, including keys only in B) and lost (hit in A, not in B).
Replication (derived from the stored pairs when a comparison is loaded)
    ``pi1`` = 1 - pi0 of B's p-values (``p_column``) at A's hits that are in B (``n_pi1`` of
    them): Storey's pi0 by the bootstrap (:func:`segqtl.kernels.fdr.pi0_estimate`) when there
    are at least 100 of them, else at the fixed λ = 0.5 (``pi1_method`` says which; NULL for
    finemap, whose ``p_column`` is not a p-value, and without p-values).
    ``hit_sign_agreement``: among A's hits in B with the same variant and two nonzero effects
    (``n_hit_sign_pairs``), the share whose effects have one sign.
Largest changes
    The ``top`` keys in both that are a hit in at least one run, with the largest
    ``|effect_b - effect_a|``, ties broken by phenotype, then variant; per-phenotype
    comparisons show ``same_variant`` (false: the lead variants differ).

The matching is ``sql/compare_pairs.sql``, the summary ``sql/compare_summary.sql``, the
replication figures ``sql/compare_replication.sql`` and the largest changes
``sql/compare_top.sql``; their headers state the exact rules.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields

import duckdb
import numpy as np
import polars as pl

from .. import __version__, modes
from ..errors import UsageError
from ..kernels import fdr as fdr_kernel
from .db import bind_sql, fetch_one, load_sql, query_pl, transaction
from .runs import finish_fix

__all__ = ["Comparison", "compare_runs", "format_comparison", "load_comparison"]

KEY_PAIR = "phenotype, variant"
KEY_PHENOTYPE = "phenotype"

# The summary columns of ``comparisons``, in the order they are printed.
_SUMMARY = (
    "n_pairs_a",
    "n_pairs_b",
    "n_both",
    "n_only_a",
    "n_only_b",
    "corr_effect",
    "corr_log10p",
    "sign_agreement",
    "n_sign_pairs",
    "hits_a",
    "hits_b",
    "hits_both",
    "hits_gained",
    "hits_lost",
)

#: Fields of :class:`Comparison` derived from the stored pairs when loaded (not columns of
#: ``comparisons``), in the order they are printed after the summary.
_DERIVED = (
    "n_corr_pairs",
    "pi1",
    "n_pi1",
    "pi1_method",
    "hit_sign_agreement",
    "n_hit_sign_pairs",
)

#: pi1 uses the fixed λ below when A's hits in B are fewer than the bootstrap needs.
PI1_FIXED_LAMBDA = 0.5


@dataclass
class Comparison:
    """One stored comparison of run A with run B (a row of ``comparisons``).

    The fields are the columns of ``comparisons`` (see ``sql/migrations/006_compare.sql``)
    except ``segqtl_version``, plus ``largest_changes``.

    Attributes
    ----------
    n_corr_pairs, pi1, n_pi1, pi1_method, hit_sign_agreement, n_hit_sign_pairs
        The replication figures (module docstring), derived from the stored pairs.
    largest_changes : polars.DataFrame
        The keys in both runs that are a hit in at least one, with the largest
        ``|effect_b - effect_a|`` (``sql/compare_top.sql``),
        with the columns that make sense for the comparison's key and mode: ``phenotype``, then
        ``variant`` (key ``phenotype, variant``) or ``variant_a, variant_b, same_variant`` (key
        ``phenotype``, except validate), then ``effect_a, effect_b, delta``, the significance
        (``p_a, p_b``, or ``stability_a, stability_b`` for finemap) and ``hit_a, hit_b``.
    """

    comparison_id: int
    run_a: int
    run_b: int
    mode: str
    cohort_a: str
    cohort_b: str
    match_key: str
    effect_column: str
    p_column: str
    fdr: float
    hit_rule_a: str
    hit_rule_b: str
    n_pairs_a: int
    n_pairs_b: int
    n_both: int
    n_only_a: int
    n_only_b: int
    corr_effect: float | None
    corr_log10p: float | None
    sign_agreement: float | None
    n_sign_pairs: int
    hits_a: int
    hits_b: int
    hits_both: int
    hits_gained: int
    hits_lost: int
    created_at: object
    n_corr_pairs: int
    pi1: float | None
    n_pi1: int
    pi1_method: str | None
    hit_sign_agreement: float | None
    n_hit_sign_pairs: int
    largest_changes: pl.DataFrame

    def summary(self) -> dict[str, object]:
        """The summary as ordered ``name: value`` (what :func:`format_comparison` prints first).

        For finemap, ``corr_log10p`` is shown as ``corr_stability``: it correlates stability
        scores, not p-values.
        """
        out: dict[str, object] = {
            k: getattr(self, k)
            for k in (
                "comparison_id",
                "run_a",
                "run_b",
                "mode",
                "cohort_a",
                "cohort_b",
                "match_key",
                "effect_column",
                "p_column",
                "fdr",
                "hit_rule_a",
                "hit_rule_b",
            )
        }
        for k in _SUMMARY:
            scored = not modes.get(self.mode).p_is_pvalue
            name = "corr_stability" if k == "corr_log10p" and scored else k
            out[name] = getattr(self, k)
            if k == "corr_effect":
                out["n_corr_pairs"] = self.n_corr_pairs
        for k in _DERIVED[1:]:
            out[k] = getattr(self, k)
        return out


@dataclass
class _Side:
    """What the comparison needs from one run (a row of ``sql/compare_run_info.sql``)."""

    run_id: int
    mode: str
    cohort: str
    status: str
    all_variants: object  # False, True or a gene ID (the run parameter)
    r2_stability_threshold: float | None
    n_qvalues: int

    @property
    def by_variant(self) -> bool:
        """Whether the run's results are per (phenotype, variant) rather than per phenotype."""
        return modes.get(self.mode).by_variant(self.all_variants)

    def hit_rule(self, fdr: float) -> modes.HitRule:
        """The run's hit rule (its mode's, given whether the run has q-values)."""
        return modes.get(self.mode).hit_rule(self, fdr)


def compare_runs(
    con: duckdb.DuckDBPyConnection, run_a: int, run_b: int, *, fdr: float = 0.05, top: int = 10
) -> Comparison:
    """Compare two completed runs of one mode, store the comparison and return it.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A writable warehouse connection.
    run_a, run_b : int
        The runs: A is the reference, B the new one (``delta = effect_b - effect_a``; hits
        "gained" are hits of B only).
    fdr : float
        Level of the hit rules that use one, in (0, 1).
    top : int
        Rows of ``largest_changes`` (>= 0).

    Returns
    -------
    Comparison
        The stored summary and the largest changes.

    Raises
    ------
    UsageError
        Same run twice, ``fdr`` outside (0, 1), ``top`` negative, a run that does not exist or
        is not completed, runs of different modes, or nominal runs of which one reports the best
        variant and the other all variants.

    Notes
    -----
    The pairs (``sql/compare_pairs.sql``) and the summary (``sql/compare_summary.sql``) are
    written in one transaction: an error leaves no partial comparison.
    """
    run_a, run_b, top = _check_arguments(run_a, run_b, fdr, top)
    a, b = _sides(con, run_a, run_b)
    by_variant = a.by_variant
    mode = modes.get(a.mode)
    rule_a, rule_b = a.hit_rule(fdr), b.hit_rule(fdr)
    template, pairs_params = bind_sql(
        "compare_pairs",
        run_a=run_a,
        run_b=run_b,
        by_variant=by_variant,
        rule_a=rule_a.code,
        rule_b=rule_b.code,
        threshold_a=rule_a.threshold,
        threshold_b=rule_b.threshold,
    )
    # The mode's result source is a file of sql/ (never user text); it uses $run_a and $run_b.
    pairs_sql = template.replace("{results}", load_sql(mode.compare_source).strip().rstrip(";"))
    with transaction(con):
        comparison_id = fetch_one(con, "SELECT nextval('comparison_id_seq')")[0]
        # BY NAME: the SELECT's column names are checked against the table's.
        con.execute(
            "INSERT INTO comparison_pairs BY NAME "
            f"SELECT $comparison_id AS comparison_id, * FROM ({pairs_sql})",
            {**pairs_params, "comparison_id": comparison_id},
        )
        summary = query_pl(
            con, "compare_summary", comparison_id=comparison_id, log10p=mode.p_is_pvalue
        ).row(0, named=True)
        row = {
            "comparison_id": comparison_id,
            "run_a": run_a,
            "run_b": run_b,
            "mode": a.mode,
            "cohort_a": a.cohort,
            "cohort_b": b.cohort,
            "match_key": KEY_PAIR if by_variant else KEY_PHENOTYPE,
            "effect_column": mode.effect_column,
            "p_column": mode.p_column,
            "fdr": fdr,
            "hit_rule_a": rule_a.label,
            "hit_rule_b": rule_b.label,
            **{k: summary[k] for k in _SUMMARY},
            "segqtl_version": __version__,
        }
        # The column names are this module's constants, never user text.
        con.execute(
            f"INSERT INTO comparisons ({', '.join(row)}, created_at) "
            f"VALUES ({', '.join('$' + k for k in row)}, current_timestamp)",
            row,
        )
    return load_comparison(con, comparison_id, top=top)


def load_comparison(con: duckdb.DuckDBPyConnection, comparison_id: int, *, top: int = 10):
    """A stored comparison with its ``top`` largest changes.

    Raises
    ------
    UsageError
        When there is no comparison ``comparison_id``.
    """
    names = [
        f.name for f in fields(Comparison) if f.name != "largest_changes" and f.name not in _DERIVED
    ]
    row = fetch_one(
        con,
        f"SELECT {', '.join(names)} FROM comparisons WHERE comparison_id = ?",
        [comparison_id],
    )
    if row is None:
        raise UsageError(
            f"comparison {comparison_id} does not exist. Fix: list them with "
            "'SELECT * FROM comparisons'"
        )
    values = dict(zip(names, row, strict=True))
    changes = query_pl(con, "compare_top", comparison_id=comparison_id, top=top)
    return Comparison(
        **values,
        **_replication(con, comparison_id, modes.get(values["mode"]).p_is_pvalue),
        largest_changes=_display_columns(changes, values["mode"], values["match_key"]),
    )


def _replication(con, comparison_id: int, p_is_pvalue: bool) -> dict:
    """The derived figures of a stored comparison (``sql/compare_replication.sql`` and pi1)."""
    text, params = bind_sql("compare_replication", comparison_id=comparison_id)
    n_corr, p_list, sign, n_sign = fetch_one(con, text, params)
    p = np.asarray(p_list, dtype=np.float64)
    pi1 = method = None
    if p_is_pvalue and p.size:
        few = p.size < fdr_kernel.MIN_STABLE
        est = fdr_kernel.pi0_estimate(p, PI1_FIXED_LAMBDA if few else None)
        pi1 = 1.0 - est.pi0
        method = f"fixed lambda {PI1_FIXED_LAMBDA:g}" if few else "bootstrap"
    return {
        "n_corr_pairs": n_corr,
        "pi1": pi1,
        "n_pi1": int(p.size) if p_is_pvalue else 0,
        "pi1_method": method,
        "hit_sign_agreement": sign,
        "n_hit_sign_pairs": n_sign,
    }


def format_comparison(c: Comparison) -> str:
    """The comparison as plain text: ``key<TAB>value`` summary lines, a blank line, then the
    largest changes as a tab-separated table with a header row.

    Numbers are printed with 6 significant digits, booleans as ``true``/``false`` and missing
    values as ``NA``, so the text depends only on the stored values.
    """
    lines = [f"{k}\t{_cell(v)}" for k, v in c.summary().items()]
    lines.append("")
    frame = c.largest_changes
    lines.append("\t".join(frame.columns))
    lines += ["\t".join(_cell(v) for v in r) for r in frame.iter_rows()]
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return "NA"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "NA" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def _display_columns(changes: pl.DataFrame, mode: str, match_key: str) -> pl.DataFrame:
    """Keep (and name) the largest-changes columns that mean something for this comparison."""
    declared = modes.get(mode)
    if match_key == KEY_PAIR:
        key = [pl.col("variant_a").alias("variant")]
    elif not declared.has_variant:
        key = []
    else:
        key = [pl.col("variant_a"), pl.col("variant_b"), pl.col("same_variant")]
    sig = "p" if declared.p_is_pvalue else "stability"
    return changes.select(
        pl.col("phenotype"),
        *key,
        pl.col("effect_a"),
        pl.col("effect_b"),
        pl.col("delta"),
        pl.col("p_a").alias(f"{sig}_a"),
        pl.col("p_b").alias(f"{sig}_b"),
        pl.col("hit_a"),
        pl.col("hit_b"),
    )


def _check_arguments(run_a, run_b, fdr, top) -> tuple[int, int, int]:
    run_a, run_b, top = int(run_a), int(run_b), int(top)
    if run_a == run_b:
        raise UsageError(
            f"cannot compare run {run_a} with itself. Fix: give two different run ids "
            "(see 'segqtl runs')"
        )
    # `not (0 < fdr < 1)` rather than `fdr <= 0 or fdr >= 1`, so NaN is rejected too.
    if not (0 < fdr < 1):
        raise UsageError(f"--fdr must be between 0 and 1 (got {fdr}). Fix: give a level like 0.05")
    if top < 0:
        raise UsageError(f"--top must be >= 0 (got {top}). Fix: give the rows to show, like 10")
    return run_a, run_b, top


def _sides(con, run_a: int, run_b: int) -> tuple[_Side, _Side]:
    """The two runs' information, checked: existing, completed, comparable."""
    rows = {
        r["run_id"]: r
        for r in query_pl(con, "compare_run_info", run_a=run_a, run_b=run_b).iter_rows(named=True)
    }
    sides = []
    for run_id in (run_a, run_b):
        if run_id not in rows:
            raise UsageError(
                f"run {run_id} does not exist. Fix: list runs with 'segqtl runs --db DB'"
            )
        r = rows[run_id]
        if r["status"] != "completed":
            raise UsageError(
                f"run {run_id} is {r['status']}, not completed; only completed runs are "
                f"compared. {finish_fix(run_id, r['status'])}"
            )
        if r["mode"] not in modes.modes():
            raise UsageError(
                f"run {run_id} is a {r['mode']} run, which segqtl compare does not know. "
                f"Fix: compare runs of mode {', '.join(modes.modes())}"
            )
        all_variants = json.loads(r["all_variants"]) if r["all_variants"] is not None else False
        sides.append(
            _Side(
                run_id=run_id,
                mode=r["mode"],
                cohort=r["cohort"],
                status=r["status"],
                all_variants=all_variants,
                r2_stability_threshold=r["r2_stability_threshold"],
                n_qvalues=r["n_qvalues"],
            )
        )
    a, b = sides
    if a.mode != b.mode:
        raise UsageError(
            f"run {a.run_id} is a {a.mode} run and run {b.run_id} a {b.mode} run; only runs of "
            "the same mode are compared. Fix: give two runs of one mode (see 'segqtl runs')"
        )
    if a.by_variant != b.by_variant:
        best, every = (a, b) if b.by_variant else (b, a)
        raise UsageError(
            f"run {best.run_id} reports the best variant per phenotype and run {every.run_id} "
            "every variant, so their results do not match one to one. Fix: compare two "
            "best-variant runs or two --all-variants runs"
        )
    return a, b
