"""Run records: creation, unit commits, completion. Only the parent process calls these."""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from .. import __version__
from ..errors import UsageError
from ..spec import RunSpec
from .db import fetch_one, query

RESULT_TABLES = {"nominal": "nominal_stats", "perm": "nominal_stats"}


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
            "with 'segqtl ingest' (see 'segqtl cohorts' for the names)"
        )
    if spec.mode == "perm" and not cohort[1]:
        raise UsageError(
            f"--mode perm requires copy number, and cohort {spec.cohort!r} was ingested without "
            "it. Fix: ingest the cohort again with --copynumber"
        )
    only_gene = spec.all_variants if isinstance(spec.all_variants, str) else None
    units: list[Unit] = []
    for chrom in spec.chromosomes:
        rows = query(
            con,
            "plan_units",
            cohort=spec.cohort,
            chr=chrom,
            size=spec.phenotypes_per_unit,
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
        con.executemany(
            "INSERT INTO run_parameters VALUES (?, ?, ?)",
            [[run_id, k, v] for k, v in spec.to_rows() + _provenance(con, spec.cohort)],
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


def _provenance(con, cohort: str) -> list[tuple[str, str]]:
    """Input checksums and library versions, stored with the run (keys with a ':')."""
    import polars
    import scipy

    files = con.execute(
        "SELECT role, sha256 FROM cohort_files WHERE cohort = ? ORDER BY role", [cohort]
    ).fetchall()
    rows = [(f"input:{role}", json.dumps(sha)) for role, sha in files]
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
        raise UsageError(f"run {run_id} does not exist. Fix: list runs with 'segqtl runs --db ...'")
    return RunSpec.from_rows(rows)


def run_status(con, run_id: int) -> str:
    row = fetch_one(con, "SELECT status FROM runs WHERE run_id = ?", [run_id])
    if row is None:
        raise UsageError(f"run {run_id} does not exist. Fix: list runs with 'segqtl runs --db ...'")
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
    frame: pl.DataFrame,
    counts: dict,
    n_phenotypes: int,
    seconds: float,
    variant_chr: str,
) -> None:
    """Commit a unit's results and its 'done' record in one transaction.

    ``frame`` has the result table's columns after ``run_id, unit_id, chr`` except
    ``variant_chr`` (the chromosome of the unit's variants), which is given separately.
    """
    table = RESULT_TABLES[mode]
    arrow = frame.to_arrow()  # noqa: F841  (scanned by name)
    n_pairs = int(sum(counts.values()))
    tested = int(counts.get("tested", 0))
    skipped = {k: v for k, v in counts.items() if k != "tested" and v}
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            f"INSERT INTO {table} SELECT ?, ?, ?, phenotype_idx, ?, * EXCLUDE (phenotype_idx) "
            "FROM arrow",
            [run_id, unit.unit_id, unit.chr, variant_chr],
        )
        con.execute(
            "UPDATE run_units SET status = 'done', n_phenotypes = ?, n_pairs = ?, "
            "n_pairs_tested = ?, skipped = ?, n_rows = ?, seconds = ?, "
            "finished_at = current_timestamp WHERE run_id = ? AND unit_id = ?",
            [
                n_phenotypes,
                n_pairs,
                tested,
                json.dumps(skipped),
                frame.height,
                seconds,
                run_id,
                unit.unit_id,
            ],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


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
