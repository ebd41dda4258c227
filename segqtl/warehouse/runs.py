"""Run records: creation, unit commits, completion. Only the parent process calls these."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb

from .. import __version__, modes
from ..errors import UsageError
from ..modes.parameters import parse_shard
from ..spec import RunSpec
from . import db
from .db import fetch_one, has_table, query, transaction

if TYPE_CHECKING:  # polars is imported where frames are written: read commands do without it
    import polars as pl

# Columns every result table starts with, filled by write_unit rather than by the worker.
KEY_COLUMNS = ("run_id", "unit_id", "chr")

#: The status of a shard run whose own units are done (sql/migrations/009_shards.sql).
SHARD_COMPLETED = "shard-completed"
#: The status of a shard run's planned units that another shard computes.
OTHER_SHARD = "other-shard"


def shard_of(unit_id: int, n_units: int, n_shards: int) -> int:
    """The shard (1-based) computing unit ``unit_id`` of a plan of ``n_units`` units.

    N contiguous blocks of the plan (chromosomes in the run's order, phenotypes in file order)
    whose sizes differ by at most one unit: each shard copies the genotypes of its own stretch
    of the genome only, and the shards' phenotype counts are equal up to one unit.
    """
    return 1 + (unit_id * n_shards) // n_units


def finish_fix(run_id: int, status: str) -> str:
    """The fix for a run that is not completed: resume it, or merge it with its other shards."""
    if status == SHARD_COMPLETED:
        return (
            f"Fix: run {run_id} is one shard of a sharded run; join the shards with "
            "'segqtl merge --db WAREHOUSE shard_*.duckdb' and use the merged run"
        )
    return f"Fix: finish it first with 'segqtl run --resume {run_id}'"


@dataclass
class Unit:
    """One work unit: consecutive phenotypes of one chromosome."""

    unit_id: int
    chr: str
    first_idx: int
    last_idx: int


def _numpy_version() -> str:
    import numpy  # here: the read commands that import this module need no numpy

    return numpy.__version__


def create_run(con: duckdb.DuckDBPyConnection, spec: RunSpec) -> int:
    """Record a new run (status ``running``) with its parameters and planned units.

    A shard run (``spec.shard`` K/N) plans every unit of the run, leaving the units of the other
    shards (:func:`shard_of`) with status ``other-shard``, so that its warehouse holds the whole
    plan that ``segqtl merge`` checks the shards against.
    """
    mode = modes.get(spec.mode)
    shard = None if spec.shard is None else parse_shard(spec.shard, modes.flag_name)
    cohort = fetch_one(
        con, "SELECT checksum, has_copynumber FROM cohorts WHERE cohort = ?", [spec.cohort]
    )
    if cohort is None:
        raise UsageError(
            f"cohort {spec.cohort!r} is not in the warehouse. Fix: ingest it first "
            "with 'segqtl ingest' (see 'segqtl cohorts --db DB' for the names)"
        )
    mode.check_warehouse(con, spec, {"checksum": cohort[0], "has_copynumber": cohort[1]})
    # One phenotype only (nominal's all_variants=GENE, finemap's and validate's phenotype_id):
    # the plan keeps the phenotype's phenotype_idx, so its seeds equal those of a full run
    # (docs/methods.md#finemap-outputs).
    only_gene = mode.only_phenotype(spec)
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
        from .derive import left_out_by_selection

        why = left_out_by_selection(con, spec.cohort, "phenotype", only_gene)
        if why is not None:
            raise UsageError(
                f"phenotype {only_gene!r}: {why}. Fix: keep it in the selection, or choose "
                "another phenotype"
            )
        raise UsageError(
            f"phenotype {only_gene!r} is not on {', '.join(spec.chromosomes)} in cohort "
            f"{spec.cohort!r}. Fix: check the gene_id and --chromosome"
        )

    with transaction(con):
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
                _numpy_version(),
                cohort[0],
                len(units),
            ],
        )
        for column, value in mode.run_columns(spec).items():
            # A separate statement keeps the INSERT above valid on every schema version (the
            # migration tests build older warehouses with this code; e.g. runs.validation_cohort
            # is schema 5's).  Column names come from the mode declarations, never user text.
            con.execute(f"UPDATE runs SET {column} = ? WHERE run_id = ?", [value, run_id])
        con.executemany(
            "INSERT INTO run_parameters VALUES (?, ?, ?)",
            [[run_id, k, v] for k, v in spec.to_rows() + _provenance(con, spec)],
        )
        if shard is not None:
            con.execute(
                "UPDATE runs SET shard_index = ?, shard_count = ? WHERE run_id = ?",
                [shard[0], shard[1], run_id],
            )

        def status(unit: Unit) -> str:
            mine = shard is None or shard_of(unit.unit_id, len(units), shard[1]) == shard[0]
            return "pending" if mine else OTHER_SHARD

        con.executemany(
            "INSERT INTO run_units (run_id, unit_id, chr, first_phenotype_idx, last_phenotype_idx, "
            "status) VALUES (?, ?, ?, ?, ?, ?)",
            [[run_id, u.unit_id, u.chr, u.first_idx, u.last_idx, status(u)] for u in units],
        )
    return run_id


def _covariate_warnings(con, spec: RunSpec) -> list[tuple[str, str]]:
    """Covariates the run leaves out of the model (constant or collinear), as provenance rows
    ``warning:covariates`` (shown by 'segqtl show'); each also a warning on stderr."""
    import warnings

    from .reads import _covariates, _drops_redundant, covariate_warnings, redundant_covariates_of

    cohorts = [spec.cohort] + ([spec.validation_cohort] if spec.validation_cohort else [])
    texts = [text for c in cohorts for text in covariate_warnings(con, c, spec.mode)]
    for text in texts:
        warnings.warn(text, stacklevel=2)
    if not texts:
        return []
    # the names too, for the view pair_samples (which counts the model's columns)
    dropped = []
    if _drops_redundant(spec.mode):
        dropped = [name for name, _ in redundant_covariates_of(_covariates(con, spec.cohort))]
    return [
        ("warning:covariates", json.dumps(" | ".join(texts))),
        ("covariates:dropped", json.dumps(dropped)),
    ]


def _provenance(con, spec: RunSpec) -> list[tuple[str, str]]:
    """Input checksums and library versions, stored with the run (keys with a ':').

    The mode may add its own (validate: the validation cohort's inputs, ``input:val:<role>``).
    """
    from importlib.metadata import version as installed

    files = con.execute(
        "SELECT role, sha256 FROM cohort_files WHERE cohort = ? ORDER BY role", [spec.cohort]
    ).fetchall()
    rows = [(f"input:{role}", json.dumps(sha)) for role, sha in files]
    source = None
    if has_table(con, "cohort_exclusions"):  # schema 15 (older ones: the migration tests)
        source = fetch_one(con, "SELECT source_cohort FROM cohorts WHERE cohort = ?", [spec.cohort])
    if source is not None and source[0] is not None:  # a derived cohort (warehouse/derive.py)
        from .derive import selection_provenance

        rows += [("cohort:source", json.dumps(source[0]))] + selection_provenance(spec)
    rows += modes.get(spec.mode).provenance(con, spec)
    rows += _covariate_warnings(con, spec)
    rows.append(("version:segqtl", json.dumps(__version__)))
    # from the packages' metadata: nothing is imported for it (scipy would cost the parent 0.5 s)
    for name in ("duckdb", "numpy", "polars", "scipy"):
        rows.append((f"version:{name}", json.dumps(installed(name))))
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
    mode: modes.Mode,
    unit: Unit,
    frame: pl.DataFrame | dict[str, pl.DataFrame],
    counts: dict,
    n_phenotypes: int,
    seconds: float,
    variant_chr: str,
    *,
    excluded: pl.DataFrame | None = None,
) -> None:
    """Commit a unit's results and its 'done' record in one transaction.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The warehouse (parent process).
    run_id : int
        The run.
    mode : segqtl.modes.Mode
        The run's mode; decides the tables (``result_table``, ``tables``).
    unit : Unit
        The unit; its ``unit_id`` and ``chr`` are prepended to every row.
    frame : polars.DataFrame or dict of str to polars.DataFrame
        A DataFrame is the rows of the mode's result table (``mode.result_table``): its columns
        after ``run_id, unit_id, chr`` except ``variant_chr`` (the chromosome of the unit's
        variants), which is given separately.  A dict maps table names of the mode
        (``mode.tables``; the main table is required, the others may be left out) to frames
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
    excluded : polars.DataFrame, optional
        Pairs left out by ``--min-samples-observed`` (``phenotype_idx``, ``variant_idx``,
        ``n_observed``; engine/observed.py), stored in ``run_pair_exclusions``.

    Notes
    -----
    ``n_rows`` of the unit is the row count of the mode's main table (``mode.result_table``).
    """
    main_table = mode.result_table
    if isinstance(frame, dict):
        unknown = set(frame) - set(mode.tables)
        if unknown:
            raise ValueError(f"{mode.name} units cannot write tables {sorted(unknown)}")
        if main_table not in frame:
            raise ValueError(f"{mode.name} units must return a {main_table} frame")
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
    if excluded is not None and excluded.height:
        inserts.append(
            (
                "INSERT INTO run_pair_exclusions SELECT ?, ?, ?, phenotype_idx, variant_idx, "
                "n_observed FROM unit_rows",
                excluded.to_arrow(),
                [run_id, unit.unit_id, unit.chr],
            )
        )
    if mode.unit_sql and isinstance(frame, dict):
        raise ValueError(f"{mode.name}: unit_sql reads a single frame's rows (unit_main)")
    n_pairs = int(sum(counts.values()))
    tested = int(counts.get("tested", 0))
    skipped = {k: v for k, v in counts.items() if k != "tested" and v}
    try:
        with transaction(con):
            for sql, rows, params in inserts:
                # The INSERT reads the frame as the view unit_rows.  It is unregistered only after
                # COMMIT/ROLLBACK, because an aborted transaction refuses to unregister it.
                con.register("unit_rows", rows)
                con.execute(sql, params)
            if mode.unit_sql:  # rows derived from the unit's (e.g. its top hits)
                con.register("unit_main", inserts[0][1])
                for name in mode.unit_sql:
                    query(
                        con, name, run_id=run_id, unit_id=unit.unit_id, chr=unit.chr,
                        variant_chr=variant_chr,
                    )  # fmt: skip
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
    finally:
        for name in ("unit_rows", "unit_main"):
            with contextlib.suppress(duckdb.Error):  # not registered, or a failed commit
                con.unregister(name)  # invalidated the connection


def _frame_insert(con, table: str, frame: pl.DataFrame) -> tuple[str, object]:
    """The INSERT of ``frame`` into ``table`` and the rows it reads, checked against the schema.

    The frame must hold exactly the table's columns after ``run_id, unit_id, chr``; they are
    inserted by name, so a worker and the schema cannot silently disagree about a column.  The
    statement reads the rows as ``unit_rows`` and takes ``run_id, unit_id, chr`` as its three
    parameters.
    """
    # the columns from an empty SELECT's description: 0.4 ms, where information_schema takes
    # 3-8 ms (a finemap unit writes three tables); table names come from the mode, never user text
    columns = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
    wanted = [c for c in columns if c not in KEY_COLUMNS]
    if sorted(frame.columns) != sorted(wanted):
        missing = sorted(set(wanted) - set(frame.columns))
        extra = sorted(set(frame.columns) - set(wanted))
        raise ValueError(f"{table} frame: missing columns {missing}, unexpected columns {extra}")
    # NaN and NULL both mean "missing" in SegmentQTL's files; store one of them.
    import polars as pl

    frame = frame.with_columns(pl.col(pl.Float32, pl.Float64).fill_nan(None))
    names = ", ".join(f'"{c}"' for c in wanted)  # checked against the schema above
    sql = (
        f"INSERT INTO {table} ({', '.join(KEY_COLUMNS)}, {names}) "
        f"SELECT ?, ?, ?, {names} FROM unit_rows"
    )
    return sql, frame.to_arrow()


def finish_run(con, run_id: int, *, transaction: bool = True) -> dict:
    """Mark a run completed and store its totals (from the committed units).

    A shard run (``runs.shard_count`` set) becomes ``shard-completed`` instead, with the totals
    of its own units.  ``transaction=False``: the caller holds the transaction (segqtl merge).
    """
    units = con.execute(
        "SELECT n_phenotypes, n_pairs, n_pairs_tested, skipped, n_rows, status FROM run_units "
        "WHERE run_id = ? AND status <> ?",
        [run_id, OTHER_SHARD],
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
    # (the parameter hides the module's transaction(): reached through db)
    with db.transaction(con, own=transaction):
        con.execute(
            "UPDATE runs SET status = ?, finished_at = current_timestamp, "
            "seconds = epoch(current_timestamp::TIMESTAMP - started_at), error = NULL, "
            "n_phenotypes = ?, n_pairs = ?, n_pairs_tested = ?, n_pairs_skipped = ?, n_rows = ? "
            "WHERE run_id = ?",
            [
                SHARD_COMPLETED if run_shard(con, run_id) is not None else "completed",
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
    return totals


def run_shard(con, run_id: int) -> tuple[int, int] | None:
    """``(K, N)`` of a shard run, None for any other run (and on schemas before 9)."""
    has_columns = fetch_one(
        con,
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_name = 'runs' "
        "AND column_name = 'shard_count'",
    )[0]
    if not has_columns:  # the migration tests build older warehouses with this code
        return None
    row = fetch_one(con, "SELECT shard_index, shard_count FROM runs WHERE run_id = ?", [run_id])
    return None if row is None or row[1] is None else (row[0], row[1])


#: The phases of a run whose seconds the runs table keeps (``<phase>_seconds``, migration 008).
PHASES = ("plan", "read", "compute", "commit", "export")


def add_phase_seconds(con, run_id: int, seconds: dict[str, float]) -> None:
    """Add ``seconds`` (phase -> s, phases of :data:`PHASES`) to the run's phase times.

    A resumed run adds its part to what the interrupted part recorded.
    """
    unknown = set(seconds) - set(PHASES)
    if unknown:
        raise ValueError(f"unknown run phases {sorted(unknown)}")
    columns = fetch_one(
        con,
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_name = 'runs' AND column_name = 'plan_seconds'",
    )[0]
    if not columns:  # a schema before 8 (the migration tests build such warehouses)
        return
    # the column names come from PHASES, never from user text
    sets = ", ".join(f"{k}_seconds = coalesce({k}_seconds, 0) + ${k}" for k in seconds)
    con.execute(
        f"UPDATE runs SET {sets} WHERE run_id = $run_id",
        {"run_id": int(run_id), **{k: float(v) for k, v in seconds.items()}},
    )


#: The status of a run stopped by a signal (Ctrl-C, SIGTERM, SIGHUP): resumable, as a failed
#: run is, but stopped on request rather than by an error.
INTERRUPTED = "interrupted"


def fail_run(con, run_id: int, message: str, status: str = "failed") -> None:
    """Record that a run stopped: ``failed`` (an error, ``message``) or :data:`INTERRUPTED`.

    Either is resumable (``segqtl run --resume``): its committed units are kept.
    """
    con.execute("UPDATE runs SET status = ?, error = ? WHERE run_id = ?", [status, message, run_id])
