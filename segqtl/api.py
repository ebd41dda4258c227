"""The library API: everything the command line does, callable from Python or a notebook.

Typical use (see the README for a complete, tested example)::

    api.ingest("wh.duckdb", "main", api.CohortInputs(genotypes=..., quantifications=...,
                                                     segmentation=..., copynumber=...))
    run_id = api.run("wh.duckdb", RunSpec(mode="perm", cohort="main", chromosomes=["1"]))
    api.fdr("wh.duckdb", run_id, 0.05)
    api.export("wh.duckdb", run_id, "results/")
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from .engine import runner
from .errors import UsageError
from .ingest import CohortInputs, IngestResult, ingest_cohort
from .ingest.load import find_cohort_by_checksum
from .spec import RunSpec
from .warehouse import export as _export
from .warehouse import runs as _runs
from .warehouse.db import connect, connect_reader, fetch_one

__all__ = [
    "RunSpec",
    "ingest",
    "run",
    "resume",
    "export",
    "ensure_cohort",
    "CohortInputs",
    "connect",
    "cohort_chromosomes",
    "fdr",
    "list_runs",
    "validate",
    "available_modes",
    "query",
    "show",
    "compare",
    "format_comparison",
    "summary",
    "upgrade",
    "list_cohorts",
]


def ingest(
    db: str | Path,
    cohort: str,
    inputs: CohortInputs | None = None,
    *,
    replace: bool = False,
    **paths,
) -> IngestResult:
    """Ingest one cohort into the warehouse file ``db`` (created if missing).

    Give the files as a :class:`CohortInputs` or as its fields (``genotypes=...,
    quantifications=..., segmentation=..., covariates=..., copynumber=...,
    phenotype_covariate=...``).  A failed ingest leaves the warehouse as it was, and leaves no
    file behind if there was none.
    """
    inputs = inputs or CohortInputs(**paths)
    return _with_new_db_cleanup(db, lambda con: ingest_cohort(con, cohort, inputs, replace=replace))


def ensure_cohort(db: str | Path, inputs: CohortInputs | None = None, **paths) -> IngestResult:
    """Reuse the cohort whose input checksums equal these files', or ingest them as a new one.

    The new cohort is named ``cohort_<first 12 hex digits of its checksum>``.
    """
    inputs = inputs or CohortInputs(**paths)
    checksums = inputs.checksums()
    checksum = checksums[1]

    def reuse_or_ingest(con):
        existing = find_cohort_by_checksum(con, checksum)
        if existing is not None:
            n = fetch_one(con, "SELECT n_samples FROM cohorts WHERE cohort = ?", [existing])[0]
            return IngestResult(existing, checksum, n, 0, 0, reused=True)
        return ingest_cohort(con, f"cohort_{checksum[:12]}", inputs, checksums=checksums)

    return _with_new_db_cleanup(db, reuse_or_ingest)


def _with_new_db_cleanup(db: str | Path, work: Callable):
    """Run ``work(con)`` on the warehouse; if it fails and the file was new, remove it."""
    created = not Path(db).exists()
    try:
        with closing(connect(db)) as con:
            return work(con)
    except BaseException:
        if created:  # an ingest that fails leaves no warehouse behind, not an empty one
            for suffix in ("", ".wal"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        raise


def run(
    db: str | Path,
    spec: RunSpec,
    *,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    on_created: Callable[[int], None] | None = None,
) -> int:
    """Record and execute a run; returns its run id.

    ``on_created`` is called with the run id as soon as the run is recorded (before any work),
    so callers can report it even if the run is interrupted.
    """
    validate(spec)
    with closing(connect(db, must_exist=True)) as con:
        run_id = _runs.create_run(con, spec)
        if on_created is not None:
            on_created(run_id)
        runner.execute(con, run_id, progress=progress, log=log)
        return run_id


def resume(
    db: str | Path, run_id: int, *, progress: bool = False, log: Callable[[str], None] | None = None
) -> dict:
    """Finish an interrupted or failed run: only units not yet committed are computed."""
    with closing(connect(db, must_exist=True)) as con:
        status = _runs.run_status(con, run_id)
        if status == "completed":
            raise UsageError(f"run {run_id} is already completed")
        con.execute("UPDATE runs SET status = 'running', error = NULL WHERE run_id = ?", [run_id])
        return runner.execute(con, run_id, progress=progress, log=log)


def fdr(db: str | Path, run_id: int, level: float = 0.05, out: str | Path | None = None) -> dict:
    """Storey q-values (and, for beta perm runs, per-phenotype nominal thresholds) of a run.

    Stored in the ``qvalue_stats`` and ``run_fdr`` tables (view ``qvalues``); with ``out``
    also written as CSV.
    Returns the summary (pi0, threshold, number of tests and hits).
    """
    from .warehouse.fdr import compute_run_fdr

    with closing(connect(db, must_exist=True)) as con:
        mode = _runs.load_spec(con, run_id).mode
        if mode in ("finemap", "validate"):  # no association p-values to adjust
            raise UsageError(
                f"run {run_id} is a {mode} run, which has no association p-values. Fix: use a "
                "best-variant nominal run or a perm run"
            )
        summary = compute_run_fdr(con, run_id, level)
        if out is not None:
            con.execute(
                "COPY (SELECT phenotype, variant, chr, p_value, qvalue, pval_nominal_threshold, "
                "is_hit FROM qvalues WHERE run_id = $run_id ORDER BY chr, phenotype_idx) "
                f"TO '{str(out).replace(chr(39), chr(39) * 2)}' (HEADER, DELIMITER ',')",
                {"run_id": int(run_id)},
            )
    return summary


def export(
    db: str | Path,
    run_id: int,
    out_dir: str | Path,
    *,
    fmt: str = "csv",
    gzip: bool = False,
    metadata_header: bool = False,
) -> list[Path]:
    """Write a completed run's results with SegmentQTL's file names (and, by default, format).

    ``fmt`` is ``csv`` (SegmentQTL's files), ``tsv``, ``txt`` (space separated) or ``parquet``;
    ``gzip`` compresses the text formats; ``metadata_header`` starts each file with ``# key
    value`` lines describing the run (parquet: key-value metadata).
    """
    with closing(connect_reader(db)) as con:
        return _export.export_run(
            con, run_id, out_dir, fmt=fmt, gzip=gzip, metadata_header=metadata_header
        )


def query(db: str | Path, sql: str, params: dict | list | None = None):
    """Run one SQL statement on a read-only connection and return its rows as a polars frame.

    Usable while no run is writing the warehouse (a clear error otherwise).  A statement that
    returns no rows (e.g. ``SET``) gives an empty frame.
    """
    import duckdb
    import polars as pl

    try:
        n_statements = len(duckdb.extract_statements(sql))
    except duckdb.Error as exc:
        raise UsageError(_query_error(exc)) from None
    if n_statements != 1:
        raise UsageError(
            f"query takes one SQL statement, got {n_statements}. Fix: run the statements one "
            "at a time (or join them into one SELECT)"
        )
    with closing(connect(db, read_only=True)) as con:
        try:
            rel = con.sql(sql, params=params)
            if rel is None:
                return pl.DataFrame()
            # polars has no type for DuckDB's INTERVAL (months, days and nanoseconds): text.
            if any(str(t) == "INTERVAL" for t in rel.types):
                quoted = ['"' + c.replace('"', '""') + '"' for c in rel.columns]
                rel = rel.select(
                    ", ".join(
                        f"{q}::VARCHAR AS {q}" if str(t) == "INTERVAL" else q
                        for q, t in zip(quoted, rel.types, strict=True)
                    )
                )
            return rel.pl()
        except duckdb.Error as exc:
            raise UsageError(_query_error(exc)) from None


def _query_error(exc) -> str:
    text = " ".join(str(exc).split()).rstrip("!")
    if "read-only" in text or "read only" in text:
        return (
            f"query failed: {text}. Fix: 'segqtl query' opens the warehouse read-only; "
            "use SELECT statements (results are written by segqtl run/fdr/compare)"
        )
    return f"query failed: {text}"


def upgrade(db: str | Path) -> int:
    """Apply pending schema migrations to an existing warehouse; returns its schema version."""
    from .warehouse.db import SCHEMA_VERSION

    with closing(connect(db, must_exist=True)):
        return SCHEMA_VERSION


def list_cohorts(db: str | Path):
    """The warehouse's cohorts with their sizes and inputs' checksum (a polars frame)."""
    from .warehouse.db import query_pl

    with closing(connect(db, read_only=True)) as con:
        return query_pl(con, "list_cohorts")


def format_comparison(comparison) -> str:
    """The text ``segqtl compare`` prints for a :func:`compare` result."""
    from .warehouse.compare import format_comparison as _format

    return _format(comparison)


def show(db: str | Path, run_id: int) -> dict:
    """Everything recorded about a run, as sections of ``{key: value}``.

    Sections: ``run`` (name, mode, cohorts, chromosomes, status, timings, versions, counts),
    ``units`` (planned/done work units), ``skipped`` (pairs or phenotypes skipped, by
    reason), ``parameters`` (the run's parameters as stored, JSON-decoded) and ``provenance``
    (input checksums and library versions).
    """
    import json

    with closing(connect(db, read_only=True)) as con:
        df = con.sql("SELECT * FROM runs WHERE run_id = $run_id", params={"run_id": run_id}).pl()
        if df.height == 0:
            raise UsageError(
                f"run {run_id} does not exist. Fix: list runs with 'segqtl runs --db {db}'"
            )
        run = df.row(0, named=True)
        units = con.execute(
            "SELECT count(*), count(*) FILTER (status = 'done'), sum(seconds) "
            "FROM run_units WHERE run_id = ?",
            [run_id],
        ).fetchall()[0]
        params = con.execute(
            "SELECT key, value FROM run_parameters WHERE run_id = ? ORDER BY key", [run_id]
        ).fetchall()
    decoded = {k: json.loads(v) if v is not None else None for k, v in params}
    skipped = decoded.pop("skipped_by_reason", None) or {}
    provenance = {k: v for k, v in decoded.items() if ":" in k}
    parameters = {k: v for k, v in decoded.items() if ":" not in k}
    return {
        "run": run,
        "units": {"planned": units[0], "done": units[1], "compute_seconds": units[2]},
        "skipped": skipped,
        "parameters": parameters,
        "provenance": provenance,
    }


def compare(db: str | Path, run_a: int, run_b: int, *, fdr: float = 0.05, top: int = 10):
    """Compare two completed runs of the same mode (possibly of different cohorts).

    Matches pairs on phenotype and variant names, stores the comparison in the
    ``comparisons`` and ``comparison_pairs`` tables and returns it
    (:class:`segqtl.warehouse.compare.Comparison`).
    """
    from .warehouse.compare import compare_runs

    with closing(connect(db, must_exist=True)) as con:
        return compare_runs(con, run_a, run_b, fdr=fdr, top=top)


def summary(
    db: str | Path, cohort: str, chromosome: str, out: str | Path, *, dosage: str = "d"
) -> dict:
    """Write a per-variant dosage summary of a cohort's chromosome as a pyhegp summary file.

    ``dosage`` is ``d`` (REFlr - ALTlr), ``altlr`` or ``reflr``.  Returns the counts written.
    """
    from .warehouse.summary import write_summary

    with closing(connect(db, read_only=True)) as con:
        return write_summary(con, cohort, chromosome, Path(out), dosage=dosage)


def available_modes() -> list[str]:
    """The analysis modes this version of segqtl can run."""
    return list(runner.WORKERS)


def validate(spec: RunSpec) -> None:
    """Reject run parameters that cannot work, with a message saying why."""
    if spec.mode not in runner.WORKERS:
        raise UsageError(
            f"mode {spec.mode!r} is not available in this version of segqtl "
            f"(available: {', '.join(available_modes())})"
        )
    if spec.window < 0:
        raise UsageError("--window must be >= 0")
    if spec.min_samples < 1:
        raise UsageError("--min-samples must be >= 1")
    if spec.num_cores < 1:
        raise UsageError("--num-cores must be >= 1")
    if spec.neg_control_max_variants < 1:
        raise UsageError("--neg_control_max_variants must be >= 1")
    if not spec.chromosomes:
        raise UsageError("give at least one --chromosome")
    if spec.mode == "perm":
        if spec.all_variants:
            raise UsageError(
                "--mode perm is not compatible with --all_variants. Permutation testing "
                "computes gene-level scan p-values (best variant in window). Use --mode nominal "
                "for per-variant association testing without permutation adjustment"
            )
        if spec.perm_method not in ("beta", "direct"):
            raise UsageError(
                f"invalid --perm_method {spec.perm_method!r}. Fix: select beta or direct"
            )
        if spec.num_permutations < 1:
            raise UsageError(f"--num_permutations must be at least 1 (got {spec.num_permutations})")
    if spec.mode in ("finemap", "validate"):
        _validate_finemap(spec)
    elif spec.phenotype_id is not None:
        # It would otherwise be ignored and the run would cover every phenotype.
        raise UsageError(
            f"--phenotype_id is a finemap option, not a {spec.mode} one. Fix: use --mode finemap, "
            "or --all_variants GENE for one phenotype in nominal mode"
        )
    if spec.mode == "validate":
        _validate_validate(spec)
    else:
        for flag in ("validation_cohort", "finemap_run", "finemap_results_dir"):
            if getattr(spec, flag) is not None:  # it would otherwise be ignored
                raise UsageError(
                    f"--{flag} is a validate option, not a {spec.mode} one. Fix: use --mode "
                    f"validate, or drop --{flag}"
                )


def _validate_finemap(spec: RunSpec) -> None:
    """The finemap checks of :func:`validate` (SPEC_FINEMAP_VALIDATE §0, §3-§9); validate
    shares them, as it re-fits finemap's models."""
    not_options = {
        "all_variants": f"{spec.mode} reports on every phenotype; --phenotype_id GENE selects "
        "one phenotype",
        "neg_control": "negative controls belong to nominal and perm modes",
        "record_aic": "AIC belongs to nominal and perm modes",
    }
    for flag, why in not_options.items():
        if getattr(spec, flag) is not False:
            raise UsageError(f"--{flag} is not a {spec.mode} option ({why}). Fix: drop --{flag}")

    def bad(flag: str, rule: str, fix: str) -> UsageError:
        return UsageError(f"--{flag} {rule} (got {getattr(spec, flag)!r}). Fix: {fix}")

    # `not (lo <= x <= hi)` rather than `x < lo or x > hi`, so NaN is rejected too.
    if not (0 < spec.subsample_frac <= 1):
        # SegmentQTL crashes on > 1: subsamples are drawn without replacement (SPEC §16.5).
        raise bad(
            "subsample_frac",
            "must be in (0, 1]: subsamples are drawn without replacement",
            "give a fraction of the samples such as 0.8",
        )
    if not (0 <= spec.alpha_en <= 1):
        raise bad("alpha_en", "must be in [0, 1]", "give the mixing, 0 = ridge to 1 = lasso")
    if not (0 <= spec.coverage_tau <= 1):
        raise bad(
            "coverage_tau",
            "must be in [0, 1]",
            "give the fraction of samples a variant must be observed in, such as 0.6",
        )
    if spec.n_bootstrap < 1:
        raise bad("n_bootstrap", "must be at least 1", "give the number of subsamples, such as 200")
    if spec.n_lambda < 1:
        raise bad("n_lambda", "must be at least 1", "give the number of lambda values, such as 30")
    if not (0 < spec.lambda_ratio <= 1):
        raise bad(
            "lambda_ratio",
            "must be in (0, 1]",
            "give the smallest lambda as a fraction of the largest, such as 0.01",
        )
    if not (0 <= spec.cv_tau <= 1):
        raise bad(
            "cv_tau",
            "must be in [0, 1]",
            "give 0 (the lambda of least CV error) up to 1 (the largest lambda), such as 0.8",
        )
    if spec.min_obs_boot < 1:
        raise bad(
            "min_obs_boot",
            "must be at least 1",
            "give the fewest observed samples of a variant in a subsample, such as 20",
        )
    if not (0 <= spec.r2_stability_threshold <= 1):
        raise bad(
            "r2_stability_threshold",
            "must be in [0, 1]",
            "give the stability score a variant needs to enter the R2, such as 0.6",
        )


def _validate_validate(spec: RunSpec) -> None:
    """The validate checks of :func:`validate` that need no warehouse (SPEC_FINEMAP_VALIDATE
    §11); the validation cohort's and the finemap run's existence are checked when the run is
    created (:func:`segqtl.warehouse.runs.create_run`)."""

    def bad(flag: str, rule: str, fix: str) -> UsageError:
        return UsageError(f"--{flag} {rule} (got {getattr(spec, flag)!r}). Fix: {fix}")

    if spec.validation_cohort is None:
        raise UsageError(
            "--mode validate needs a validation cohort. Fix: give --validation-cohort NAME (an "
            "ingested cohort), or the drop-in's --val_genotypes, --val_quantifications and "
            "--val_segmentation"
        )
    if spec.validation_mode not in ("recalibrated", "frozen"):
        raise bad("validation_mode", "is not a validation mode", "select recalibrated or frozen")
    if spec.support_definition not in ("stability", "selected"):
        raise bad(
            "support_definition", "is not a support definition", "select stability or selected"
        )
    if spec.finemap_run is not None and spec.finemap_results_dir is not None:
        raise UsageError(
            "--finemap_run and --finemap_results_dir both give the finemap models. Fix: give "
            "only one of them"
        )
    if spec.restrict_to_supported_phenotypes and (
        spec.finemap_run is None and spec.finemap_results_dir is None
    ):
        raise UsageError(
            "--restrict_to_supported_phenotypes needs finemap results (the support test reads "
            "their stability scores or betas). Fix: add --finemap_run RUN_ID or "
            "--finemap_results_dir DIR"
        )
    for flag in ("validation_stability_threshold", "support_min_stability"):
        if not (0 <= getattr(spec, flag) <= 1):
            raise bad(flag, "must be in [0, 1]", "give a stability score such as 0.6")
    if spec.n_boot_ci < 1:
        raise bad("n_boot_ci", "must be at least 1", "give the number of resamples, such as 1000")
    if spec.n_permutations < 0:
        raise bad(
            "n_permutations", "must be at least 0", "give 0 (no permutation p-values) or more"
        )
    if spec.finemap_results_dir is not None:
        # stored absolute, so that a resume from another folder reads the same files
        folder = Path(spec.finemap_results_dir).resolve()
        spec.finemap_results_dir = str(folder)
        if not folder.is_dir():
            raise bad(
                "finemap_results_dir",
                "is not a folder",
                "give the --out_dir of a finemap run (it holds finemap_<C>.csv)",
            )
        missing = [
            f"finemap_{c}.csv"
            for c in spec.chromosomes
            if not (folder / f"finemap_{c}.csv").is_file()
        ]
        if missing:
            raise bad(
                "finemap_results_dir",
                f"has no {', '.join(missing)}",
                "run finemap on these chromosomes into that folder first (without --phenotype_id)",
            )


def cohort_chromosomes(db: str | Path, cohort: str) -> list[str]:
    """Chromosomes with phenotypes in a cohort, in natural order."""
    from .spec import AUTOSOMES_X

    with closing(connect(db, read_only=True)) as con:
        chroms = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT chr FROM phenotypes WHERE cohort = ?", [cohort]
            ).fetchall()
        ]
    rank = {c: i for i, c in enumerate(AUTOSOMES_X)}
    return sorted(chroms, key=lambda c: (rank.get(c, len(rank)), c))


RUN_COLUMNS = (
    "run_id",
    "name",
    "mode",
    "cohort",
    "validation_cohort",
    "chromosomes",
    "status",
    "started_at",
    "finished_at",
    "seconds",
    "segqtl_version",
    "n_phenotypes",
    "n_pairs",
    "n_pairs_tested",
)


def list_runs(db: str | Path):
    """The warehouse's runs, one row each (polars frame with :data:`RUN_COLUMNS`)."""
    with closing(connect(db, read_only=True)) as con:
        return con.sql(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs ORDER BY run_id").pl()
