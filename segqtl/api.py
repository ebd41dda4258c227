"""The library API: everything the command line does, callable from Python or a notebook.

Typical use (see the README for a complete, tested example)::

    api.ingest("wh.duckdb", "main", api.CohortInputs(genotypes=..., quantifications=...,
                                                     segmentation=..., copynumber=...))
    run_id = api.run("wh.duckdb", RunSpec(mode="perm", cohort="main", chromosomes=["1"]))
    api.fdr("wh.duckdb", run_id, 0.05)
    api.export("wh.duckdb", run_id, "results/")
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UsageError
from .spec import RunSpec
from .warehouse import export as _export
from .warehouse import runs as _runs
from .warehouse.db import WriterLease, connect, connect_reader, fetch_one, small_frame

if TYPE_CHECKING:
    from .ingest import CohortInputs, IngestResult


def __getattr__(name: str):
    # The ingest classes load polars and pyarrow: read commands import this module without them.
    if name in ("CohortInputs", "IngestResult"):
        from . import ingest

        return getattr(ingest, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "RunSpec",
    "ingest",
    "run",
    "resume",
    "merge",
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
    from .ingest import CohortInputs, ingest_cohort

    inputs = inputs or CohortInputs(**paths)
    return _with_new_db_cleanup(db, lambda con: ingest_cohort(con, cohort, inputs, replace=replace))


def ensure_cohort(db: str | Path, inputs: CohortInputs | None = None, **paths) -> IngestResult:
    """Reuse the cohort whose input checksums equal these files', or ingest them as a new one.

    The new cohort is named ``cohort_<first 12 hex digits of its checksum>``.
    """
    from .ingest import CohortInputs, IngestResult, ingest_cohort
    from .ingest.load import find_cohort_by_checksum

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
    progress_every: float = 30.0,
    log: Callable[[str], None] | None = None,
    notify: Callable[[str], None] | None = None,
    on_created: Callable[[int], None] | None = None,
) -> int:
    """Record and execute a run; returns its run id.

    With ``spec.shard`` K/N the run computes only shard K of its work units and stops at status
    ``shard-completed``, without the run-level steps (q-values); :func:`merge` joins the N shards.
    ``on_created`` is called with the run id as soon as the run is recorded (before any work),
    so callers can report it even if the run is interrupted.
    """
    from .engine import runner

    validate(spec)
    with closing(connect(db, must_exist=True)) as con:
        start = time.perf_counter()
        run_id = _runs.create_run(con, spec)
        _runs.add_phase_seconds(con, run_id, {"plan": time.perf_counter() - start})
    if on_created is not None:
        on_created(run_id)
    # the run holds the file only while it reads or commits (docs/concurrency.md)
    with WriterLease(db, notify=notify, label=f"run {run_id}") as lease:
        runner.execute(
            lease,
            run_id,
            progress=progress,
            progress_every=progress_every,
            log=log,
            notify=notify,
        )
    return run_id


def resume(
    db: str | Path,
    run_id: int,
    *,
    progress: bool = False,
    progress_every: float = 30.0,
    log: Callable[[str], None] | None = None,
    notify: Callable[[str], None] | None = None,
    execution: dict | None = None,
) -> dict:
    """Finish an interrupted or failed run: only units not yet committed are computed.

    ``execution`` changes where the rest is computed (such as ``{"executor": "dask",
    "scheduler": "tcp://..."}`` after a lost scheduler, or ``{"executor": "pool"}``): execution
    parameters only (:func:`segqtl.engine.executors.resumed_spec`), recorded in the run's
    parameters.  The numbers do not depend on them.
    """
    from .engine import runner

    with closing(connect(db, must_exist=True)) as con:
        status = _runs.run_status(con, run_id)
        if status in ("completed", _runs.SHARD_COMPLETED):
            raise UsageError(f"run {run_id} is already {status}")
        if execution:
            from .engine.executors import resumed_spec

            spec, changed = resumed_spec(_runs.load_spec(con, run_id), execution, run_id)
            for key, value in spec.to_rows():
                if key in changed:
                    con.execute(
                        "DELETE FROM run_parameters WHERE run_id = ? AND key = ?", [run_id, key]
                    )
                    con.execute("INSERT INTO run_parameters VALUES (?, ?, ?)", [run_id, key, value])
        con.execute("UPDATE runs SET status = 'running', error = NULL WHERE run_id = ?", [run_id])
    with WriterLease(db, notify=notify, label=f"run {run_id}") as lease:
        return runner.execute(
            lease, run_id, progress=progress, progress_every=progress_every, log=log, notify=notify
        )


def merge(
    db: str | Path,
    shards: list[str | Path],
    *,
    notify: Callable[[str], None] | None = None,
) -> int:
    """Join the N shard runs of ``segqtl run --shard K/N`` into one completed run of ``db``.

    ``shards`` are the N shard warehouses (each one's latest shard run is taken).  They must be
    the completed shards 1..N of one run: same mode, parameters (other than where the units
    ran), inputs and versions.  The run's cohorts are copied from the first shard if ``db``
    lacks them (``db`` is created if missing); the run-level steps (perm's q-values) are
    computed over the merged run.  All in one transaction: a refused or failed merge leaves
    ``db`` as it was.  Returns the merged run's id.  Its results equal those of the same run
    made without shards (docs: README, "Sharded runs").
    """
    from .warehouse.merge import merge_shards

    return _with_new_db_cleanup(
        db, lambda con: merge_shards(con, list(shards), target=db, notify=notify)
    )


def fdr(db: str | Path, run_id: int, level: float = 0.05, out: str | Path | None = None) -> dict:
    """Storey q-values (and, for beta perm runs, per-phenotype nominal thresholds) of a run.

    Stored in the ``qvalue_stats`` and ``run_fdr`` tables (view ``qvalues``); with ``out``
    also written as CSV.
    Returns the summary (pi0, threshold, number of tests and hits).
    """
    from . import modes
    from .warehouse.fdr import compute_run_fdr

    with closing(connect(db, must_exist=True)) as con:
        modes.get(_runs.load_spec(con, run_id).mode).check_fdr(run_id)
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
    record_seconds: bool = False,
) -> list[Path]:
    """Write a completed run's results with SegmentQTL's file names (and, by default, format).

    ``fmt`` is ``csv`` (SegmentQTL's files), ``tsv``, ``txt`` (space separated) or ``parquet``;
    ``gzip`` compresses the text formats; ``metadata_header`` starts each file with ``# key
    value`` lines describing the run (parquet: key-value metadata).  ``record_seconds`` adds the
    export's time to the run's ``export_seconds`` (the drop-in's export, part of its run).
    """
    start = time.perf_counter()
    with closing(connect_reader(db)) as con:
        paths = _export.export_run(
            con, run_id, out_dir, fmt=fmt, gzip=gzip, metadata_header=metadata_header
        )
    if record_seconds:
        with closing(connect(db, must_exist=True)) as con:
            _runs.add_phase_seconds(con, run_id, {"export": time.perf_counter() - start})
    return paths


def query(db: str | Path, sql: str, params: dict | list | None = None):
    """Run one SQL statement on a read-only connection and return its rows as a polars frame.

    Usable while a run works: it sees the committed units (a run holds the file only while it
    commits; the open waits for that, docs/concurrency.md).  A statement that returns no rows
    (e.g. ``SET``) gives an empty frame.
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
    from .warehouse.db import bind_sql

    with closing(connect(db, read_only=True)) as con:
        text, params = bind_sql("list_cohorts")
        return small_frame(con.sql(text, params=params))


def format_comparison(comparison) -> str:
    """The text ``segqtl compare`` prints for a :func:`compare` result."""
    from .warehouse.compare import format_comparison as _format

    return _format(comparison)


def show(db: str | Path, run_id: int) -> dict:
    """Everything recorded about a run, as sections of ``{key: value}``.

    Sections: ``run`` (name, mode, cohorts, chromosomes, status, timings, versions, counts),
    ``units`` (planned/done work units), for a running run ``progress`` (phenotypes done and
    total, rate, ETA: view ``run_progress``), ``phases`` (seconds spent planning, reading,
    computing (summed over workers), committing and exporting;
    ``sql/migrations/008_phases.sql``), ``skipped`` (pairs or phenotypes skipped, by
    reason), ``parameters`` (the run's parameters as stored, JSON-decoded) and ``provenance``
    (input checksums and library versions).
    """
    import json

    with closing(connect(db, read_only=True)) as con:
        df = small_frame(
            con.sql("SELECT * FROM runs WHERE run_id = $run_id", params={"run_id": run_id})
        )
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
        progress = con.execute(
            "SELECT phenotypes_done, phenotypes_total, rate, eta_seconds, last_commit_at "
            "FROM run_progress WHERE run_id = ?",
            [run_id],
        ).fetchall()[0]
    decoded = {k: json.loads(v) if v is not None else None for k, v in params}
    skipped = decoded.pop("skipped_by_reason", None) or {}
    phases = {p: run.pop(f"{p}_seconds", None) for p in _runs.PHASES}
    provenance = {k: v for k, v in decoded.items() if ":" in k}
    parameters = {k: v for k, v in decoded.items() if ":" not in k}
    out = {
        "run": run,
        "units": {"planned": units[0], "done": units[1], "compute_seconds": units[2]},
    }
    if run["status"] == "running":  # live progress (view run_progress, docs/concurrency.md)
        done, total, rate, eta, last = progress
        out["progress"] = {
            "phenotypes_done": done,
            "phenotypes_total": total,
            "rate_per_second": None if rate is None else round(rate, 4),
            "eta_seconds": None if eta is None else round(eta, 1),
            "last_commit_at": last,
            "summary": _progress_text(done, total, rate, eta),
        }
    return out | {
        "phases": phases,
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
    """The analysis modes this version of segqtl can run (the registry's, in order)."""
    from . import modes

    return list(modes.modes())


def validate(spec: RunSpec) -> None:
    """Reject run parameters that cannot work, with a one-line message saying why.

    Every parameter against its declared range or choices, parameters that do not apply to the
    mode, and the mode's own rules (:func:`segqtl.modes.check_spec`).
    """
    from . import modes

    modes.check_spec(spec)


def cohort_chromosomes(db: str | Path, cohort: str) -> list[str]:
    """Chromosomes with phenotypes in a cohort, in natural order."""
    from .chromosomes import natural_order

    with closing(connect(db, read_only=True)) as con:
        chroms = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT chr FROM phenotypes WHERE cohort = ?", [cohort]
            ).fetchall()
        ]
    return natural_order(chroms)


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

#: The ``shard`` column of :func:`list_runs`: ``K/N`` for a shard run (``segqtl run --shard``),
#: ``merged N`` for a run merged from N shards, empty otherwise.
SHARD_COLUMN = (
    "CASE WHEN shard_count IS NOT NULL THEN shard_index || '/' || shard_count "
    "WHEN merged_shards IS NOT NULL THEN 'merged ' || merged_shards END AS shard"
)


def list_runs(db: str | Path):
    """The warehouse's runs, one row each (polars frame with :data:`RUN_COLUMNS`, ``shard``:
    ``K/N`` for a shard run, ``merged N`` for a run merged from N shards, and ``progress``: a
    running run's phenotypes done/total, rate and ETA (view ``run_progress``))."""
    import polars as pl

    with closing(connect(db, read_only=True)) as con:
        frame = small_frame(
            con.sql(f"SELECT {', '.join(RUN_COLUMNS)}, {SHARD_COLUMN} FROM runs ORDER BY run_id")
        )
        progress = con.execute(
            "SELECT run_id, phenotypes_done, phenotypes_total, rate, eta_seconds "
            "FROM run_progress WHERE status = 'running'"
        ).fetchall()
    texts = {row[0]: _progress_text(*row[1:]) for row in progress}
    return frame.with_columns(
        pl.Series("progress", [texts.get(r) for r in frame["run_id"]], dtype=pl.String)
    )


def _progress_text(done: int, total: int, rate: float | None, eta: float | None) -> str:
    """``120/300 phenotypes, 4.1/s, ETA 0:00:44`` (rate and ETA once a unit is committed)."""
    text = f"{done}/{total} phenotypes"
    if rate:
        text += f", {rate:.3g}/s"
    if eta is not None:  # h:mm:ss, as the run's own progress lines (not importing the engine)
        hours, rest = divmod(int(round(eta)), 3600)
        text += f", ETA {hours}:{rest // 60:02d}:{rest % 60:02d}"
    return text
