"""Run records: creation, unit commits, completion. Only the parent process calls these."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from .. import __version__
from ..errors import UsageError
from ..spec import RunSpec
from .db import fetch_one, query

# The main result table of each mode: its rows are a unit's n_rows.
RESULT_TABLES = {
    "nominal": "nominal_stats",
    "perm": "nominal_stats",
    "finemap": "finemap_stats",
    "validate": "validate_stats",
}
# Every table a mode's worker may fill (a worker returning a dict of frames names them).
MODE_TABLES = {
    "nominal": ("nominal_stats",),
    "perm": ("nominal_stats",),
    "finemap": ("finemap_stats", "finemap_bootstrap_stats", "finemap_r2_stats"),
    "validate": ("validate_stats", "validate_residuals_stats", "validate_model_stats"),
}
# Columns every result table starts with, filled by write_unit rather than by the worker.
KEY_COLUMNS = ("run_id", "unit_id", "chr")


@dataclass
class Unit:
    """One work unit: consecutive phenotypes of one chromosome."""

    unit_id: int
    chr: str
    first_idx: int
    last_idx: int


def create_run(con: duckdb.DuckDBPyConnection, spec: RunSpec) -> int:
    """Record a new run (status ``running``) with its parameters and planned units."""
    cohort = fetch_one(
        con, "SELECT checksum, has_copynumber FROM cohorts WHERE cohort = ?", [spec.cohort]
    )
    if cohort is None:
        raise UsageError(
            f"cohort {spec.cohort!r} is not in the warehouse. Fix: ingest it first "
            "with 'segqtl ingest' (see 'segqtl cohorts --db DB' for the names)"
        )
    if spec.mode == "perm" and not cohort[1]:
        raise UsageError(
            f"--mode perm requires copy number, and cohort {spec.cohort!r} was ingested without "
            "it. Fix: ingest the cohort again with --copynumber"
        )
    if spec.mode == "validate":
        _check_validate_sources(con, spec)
    # One phenotype only: all_variants=GENE (nominal) or phenotype_id (finemap, validate).  The
    # plan keeps the phenotype's phenotype_idx, so its seeds equal those of a full run
    # (SPEC_FINEMAP §10.1).
    if spec.mode in ("finemap", "validate"):
        only_gene = spec.phenotype_id
    else:
        only_gene = spec.all_variants if isinstance(spec.all_variants, str) else None
    units: list[Unit] = []
    for chrom in spec.chromosomes:
        rows = query(
            con,
            "plan_units",
            cohort=spec.cohort,
            chr=chrom,
            size=spec.unit_size,
            only_gene=only_gene,
        ).fetchall()
        if not rows and only_gene is None:
            raise UsageError(
                f"cohort {spec.cohort!r} has no phenotypes on {chrom}. Fix: check --chromosome "
                "(the chr column of the quantification file)"
            )
        for _, first, last, _n in rows:
            units.append(Unit(len(units), chrom, first, last))
    if only_gene is not None and not units:
        raise UsageError(
            f"phenotype {only_gene!r} is not on {', '.join(spec.chromosomes)} in cohort "
            f"{spec.cohort!r}. Fix: check the gene_id and --chromosome"
        )

    con.execute("BEGIN TRANSACTION")
    try:
        run_id = fetch_one(con, "SELECT nextval('run_id_seq')")[0]
        con.execute(
            "INSERT INTO runs (run_id, name, mode, cohort, chromosomes, status, segqtl_version, "
            "duckdb_version, numpy_version, cohort_checksum, started_at, n_units) "
            "VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, current_timestamp, ?)",
            [
                run_id,
                spec.name,
                spec.mode,
                spec.cohort,
                ",".join(spec.chromosomes),
                __version__,
                duckdb.__version__,
                np.__version__,
                cohort[0],
                len(units),
            ],
        )
        if spec.mode == "validate":
            # A separate statement keeps the INSERT above valid on every schema version (the
            # migration tests build older warehouses with this code; runs.validation_cohort is
            # schema 5's).
            con.execute(
                "UPDATE runs SET validation_cohort = ? WHERE run_id = ?",
                [spec.validation_cohort, run_id],
            )
        con.executemany(
            "INSERT INTO run_parameters VALUES (?, ?, ?)",
            [[run_id, k, v] for k, v in spec.to_rows() + _provenance(con, spec)],
        )
        con.executemany(
            "INSERT INTO run_units (run_id, unit_id, chr, first_phenotype_idx, last_phenotype_idx, "
            "status) VALUES (?, ?, ?, ?, ?, 'pending')",
            [[run_id, u.unit_id, u.chr, u.first_idx, u.last_idx] for u in units],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return run_id


def _check_validate_sources(con, spec: RunSpec) -> None:
    """The warehouse checks of a validate run: its validation cohort and its finemap run."""
    if (
        spec.validation_cohort is None
        or not fetch_one(
            con, "SELECT count(*) FROM cohorts WHERE cohort = ?", [spec.validation_cohort]
        )[0]
    ):
        raise UsageError(
            f"validation cohort {spec.validation_cohort!r} is not in the warehouse. Fix: ingest "
            "its files first with 'segqtl ingest --cohort NAME ...'"
        )
    if spec.finemap_run is None:
        return
    row = fetch_one(
        con,
        "SELECT mode, cohort, status, chromosomes FROM runs WHERE run_id = ?",
        [spec.finemap_run],
    )
    fix = (
        f"Fix: give a completed finemap run of cohort {spec.cohort!r} (see 'segqtl runs'), or "
        "--finemap-results-dir"
    )
    if row is None:
        raise UsageError(f"--finemap_run {spec.finemap_run} does not exist. {fix}")
    mode, cohort, status, chromosomes = row
    if mode != "finemap":
        raise UsageError(f"--finemap_run {spec.finemap_run} is a {mode} run, not finemap. {fix}")
    if cohort != spec.cohort:
        raise UsageError(
            f"--finemap_run {spec.finemap_run} analysed cohort {cohort!r}, not {spec.cohort!r}. "
            f"{fix}"
        )
    if status != "completed":
        raise UsageError(
            f"--finemap_run {spec.finemap_run} is {status}, not completed. Fix: finish it with "
            f"'segqtl run --resume {spec.finemap_run}' first"
        )
    missing = [c for c in spec.chromosomes if c not in chromosomes.split(",")]
    if missing:
        raise UsageError(
            f"--finemap_run {spec.finemap_run} does not cover {', '.join(missing)}. {fix}"
        )
    # The finemap results must describe the same kept variants (SPEC §11 step 4).
    fm = load_spec(con, spec.finemap_run)
    for field in ("window", "coverage_tau"):
        if getattr(fm, field) != getattr(spec, field):
            raise UsageError(
                f"--finemap_run {spec.finemap_run} used --{field} {getattr(fm, field)}, this run "
                f"--{field} {getattr(spec, field)}. Fix: use the finemap run's --{field}"
            )
    if fm.phenotype_id is not None and fm.phenotype_id != spec.phenotype_id:
        raise UsageError(
            f"--finemap_run {spec.finemap_run} fine-mapped phenotype {fm.phenotype_id!r} only. "
            f"Fix: validate with --phenotype_id {fm.phenotype_id}, or give a finemap run of "
            "every phenotype"
        )


def finemap_csv_checksums(spec: RunSpec) -> dict[str, str]:
    """sha256 of each ``finemap_<chr>.csv`` a validate run reads (``input:finemap_csv:<chr>``)."""
    if spec.mode != "validate" or spec.finemap_results_dir is None:
        return {}
    from ..ingest.readers import sha256_file

    folder = Path(spec.finemap_results_dir)
    return {
        f"input:finemap_csv:{c}": sha256_file(folder / f"finemap_{c}.csv") for c in spec.chromosomes
    }


def check_finemap_csvs(con, run_id: int, spec: RunSpec) -> None:
    """Refuse to go on with a validate run whose finemap CSVs changed since it started."""
    stored = dict(
        con.execute(
            "SELECT key, value FROM run_parameters WHERE run_id = ? "
            "AND key LIKE 'input:finemap_csv:%'",
            [run_id],
        ).fetchall()
    )
    try:
        now = finemap_csv_checksums(spec)
    except FileNotFoundError as exc:
        raise UsageError(
            f"run {run_id} reads {exc.filename}, which is gone. Fix: put the finemap CSVs back "
            f"in {spec.finemap_results_dir}"
        ) from None
    changed = sorted(k.split(":")[-1] for k, v in now.items() if json.dumps(v) != stored.get(k))
    if changed:
        raise UsageError(
            f"run {run_id}: finemap_{changed[0]}.csv in {spec.finemap_results_dir} changed since "
            "the run started. Fix: restore it, or start a new run"
        )


def _provenance(con, spec: RunSpec) -> list[tuple[str, str]]:
    """Input checksums and library versions, stored with the run (keys with a ':').

    A validate run also records its validation cohort's inputs (``input:val:<role>``).
    """
    import polars
    import scipy

    cohorts = [("input", spec.cohort)]
    if spec.mode == "validate" and spec.validation_cohort is not None:
        cohorts.append(("input:val", spec.validation_cohort))
    rows = []
    for prefix, cohort in cohorts:
        files = con.execute(
            "SELECT role, sha256 FROM cohort_files WHERE cohort = ? ORDER BY role", [cohort]
        ).fetchall()
        rows += [(f"{prefix}:{role}", json.dumps(sha)) for role, sha in files]
    rows += [(k, json.dumps(v)) for k, v in finemap_csv_checksums(spec).items()]
    for name, module in (
        ("segqtl", None),
        ("duckdb", duckdb),
        ("numpy", np),
        ("polars", polars),
        ("scipy", scipy),
    ):
        version = __version__ if module is None else module.__version__
        rows.append((f"version:{name}", json.dumps(version)))
    return rows


def load_spec(con: duckdb.DuckDBPyConnection, run_id: int) -> RunSpec:
    rows = con.execute(
        "SELECT key, value FROM run_parameters WHERE run_id = ?", [run_id]
    ).fetchall()
    if not rows:
        raise UsageError(f"run {run_id} does not exist. Fix: list runs with 'segqtl runs --db DB'")
    return RunSpec.from_rows(rows)


def run_status(con, run_id: int) -> str:
    row = fetch_one(con, "SELECT status FROM runs WHERE run_id = ?", [run_id])
    if row is None:
        raise UsageError(f"run {run_id} does not exist. Fix: list runs with 'segqtl runs --db DB'")
    return row[0]


def pending_units(con, run_id: int) -> list[Unit]:
    rows = con.execute(
        "SELECT unit_id, chr, first_phenotype_idx, last_phenotype_idx FROM run_units "
        "WHERE run_id = ? AND status = 'pending' ORDER BY unit_id",
        [run_id],
    ).fetchall()
    return [Unit(*r) for r in rows]


def write_unit(
    con,
    run_id: int,
    mode: str,
    unit: Unit,
    frame: pl.DataFrame | dict[str, pl.DataFrame],
    counts: dict,
    n_phenotypes: int,
    seconds: float,
    variant_chr: str,
) -> None:
    """Commit a unit's results and its 'done' record in one transaction.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The warehouse (parent process).
    run_id : int
        The run.
    mode : str
        The run's mode; decides the tables.
    unit : Unit
        The unit; its ``unit_id`` and ``chr`` are prepended to every row.
    frame : polars.DataFrame or dict of str to polars.DataFrame
        A DataFrame is the rows of the mode's result table (``RESULT_TABLES``): its columns
        after ``run_id, unit_id, chr`` except ``variant_chr`` (the chromosome of the unit's
        variants), which is given separately.  A dict maps table names of the mode
        (``MODE_TABLES``; the main table is required, the others may be left out) to frames
        holding exactly that table's columns after ``run_id, unit_id, chr`` (matched by name);
        NaN in their float columns is stored as NULL, the warehouse's one spelling of a missing
        value.
    counts : dict
        Status name -> count; ``tested`` is counted as tested, the rest as skipped.
    n_phenotypes : int
        Phenotypes the unit covered.
    seconds : float
        Wall time attributed to the unit.
    variant_chr : str
        Chromosome of the unit's variants (used for a single DataFrame only).

    Notes
    -----
    ``n_rows`` of the unit is the row count of the mode's main table (``RESULT_TABLES``).
    """
    main_table = RESULT_TABLES[mode]
    if isinstance(frame, dict):
        unknown = set(frame) - set(MODE_TABLES[mode])
        if unknown:
            raise ValueError(f"{mode} units cannot write tables {sorted(unknown)}")
        if main_table not in frame:
            raise ValueError(f"{mode} units must return a {main_table} frame")
        # Check every frame before the transaction, so a contract mismatch writes nothing.
        keys = [run_id, unit.unit_id, unit.chr]
        inserts = [(*_frame_insert(con, table, f), keys) for table, f in frame.items()]
        n_rows = frame[main_table].height
    else:
        inserts = [
            (
                f"INSERT INTO {main_table} SELECT ?, ?, ?, phenotype_idx, ?, "
                "* EXCLUDE (phenotype_idx) FROM unit_rows",
                frame.to_arrow(),
                [run_id, unit.unit_id, unit.chr, variant_chr],
            )
        ]
        n_rows = frame.height
    n_pairs = int(sum(counts.values()))
    tested = int(counts.get("tested", 0))
    skipped = {k: v for k, v in counts.items() if k != "tested" and v}
    con.execute("BEGIN TRANSACTION")
    try:
        for sql, rows, params in inserts:
            # The INSERT reads the frame as the view unit_rows.  It is unregistered only after
            # COMMIT/ROLLBACK, because an aborted transaction refuses to unregister it.
            con.register("unit_rows", rows)
            con.execute(sql, params)
        con.execute(
            "UPDATE run_units SET status = 'done', n_phenotypes = ?, n_pairs = ?, "
            "n_pairs_tested = ?, skipped = ?, n_rows = ?, seconds = ?, "
            "finished_at = current_timestamp WHERE run_id = ? AND unit_id = ?",
            [
                n_phenotypes,
                n_pairs,
                tested,
                json.dumps(skipped),
                n_rows,
                seconds,
                run_id,
                unit.unit_id,
            ],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("unit_rows")


def _frame_insert(con, table: str, frame: pl.DataFrame) -> tuple[str, object]:
    """The INSERT of ``frame`` into ``table`` and the rows it reads, checked against the schema.

    The frame must hold exactly the table's columns after ``run_id, unit_id, chr``; they are
    inserted by name, so a worker and the schema cannot silently disagree about a column.  The
    statement reads the rows as ``unit_rows`` and takes ``run_id, unit_id, chr`` as its three
    parameters.
    """
    columns = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position",
            [table],
        ).fetchall()
    ]
    wanted = [c for c in columns if c not in KEY_COLUMNS]
    if sorted(frame.columns) != sorted(wanted):
        missing = sorted(set(wanted) - set(frame.columns))
        extra = sorted(set(frame.columns) - set(wanted))
        raise ValueError(f"{table} frame: missing columns {missing}, unexpected columns {extra}")
    # NaN and NULL both mean "missing" in SegmentQTL's files; store one of them.
    frame = frame.with_columns(pl.col(pl.Float32, pl.Float64).fill_nan(None))
    names = ", ".join(f'"{c}"' for c in wanted)  # checked against the schema above
    sql = (
        f"INSERT INTO {table} ({', '.join(KEY_COLUMNS)}, {names}) "
        f"SELECT ?, ?, ?, {names} FROM unit_rows"
    )
    return sql, frame.to_arrow()


def finish_run(con, run_id: int) -> dict:
    """Mark a run completed and store its totals (from the committed units)."""
    units = con.execute(
        "SELECT n_phenotypes, n_pairs, n_pairs_tested, skipped, n_rows, status FROM run_units "
        "WHERE run_id = ?",
        [run_id],
    ).fetchall()
    if any(u[5] != "done" for u in units):
        raise RuntimeError(f"run {run_id} has unfinished units")
    skipped: dict[str, int] = {}
    for u in units:
        for k, v in json.loads(u[3] or "{}").items():
            skipped[k] = skipped.get(k, 0) + v
    totals = {
        "n_phenotypes": sum(u[0] for u in units),
        "n_pairs": sum(u[1] for u in units),
        "n_pairs_tested": sum(u[2] for u in units),
        "n_pairs_skipped": sum(skipped.values()),
        "n_rows": sum(u[4] for u in units),
        "skipped_by_reason": skipped,
    }
    con.execute("BEGIN TRANSACTION")
    con.execute(
        "UPDATE runs SET status = 'completed', finished_at = current_timestamp, "
        "seconds = epoch(current_timestamp::TIMESTAMP - started_at), error = NULL, "
        "n_phenotypes = ?, n_pairs = ?, n_pairs_tested = ?, n_pairs_skipped = ?, n_rows = ? "
        "WHERE run_id = ?",
        [
            totals["n_phenotypes"],
            totals["n_pairs"],
            totals["n_pairs_tested"],
            totals["n_pairs_skipped"],
            totals["n_rows"],
            run_id,
        ],
    )
    con.execute(
        "DELETE FROM run_parameters WHERE run_id = ? AND key = 'skipped_by_reason'", [run_id]
    )
    con.execute(
        "INSERT INTO run_parameters VALUES (?, 'skipped_by_reason', ?)",
        [run_id, json.dumps(skipped)],
    )
    con.execute("COMMIT")
    return totals


def fail_run(con, run_id: int, message: str) -> None:
    con.execute("UPDATE runs SET status = 'failed', error = ? WHERE run_id = ?", [message, run_id])
