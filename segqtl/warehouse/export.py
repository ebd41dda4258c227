"""Exports of run results with SegmentQTL's file names and columns (DuckDB's CSV writer).

DuckDB writes doubles as their shortest round-trip representation (``0.1``, ``2.0``,
``1e-20``) and NULL as an empty cell, which is how pandas' ``to_csv`` writes floats and NaN in
SegmentQTL's files.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import duckdb

from ..errors import UsageError
from ..spec import RunSpec
from .db import fetch_one, load_sql
from .runs import load_spec, run_status

AIC_COLUMNS = ("aic_null", "aic_alt", "delta_aic_alt_minus_null")


def segmentqtl_filename(spec: RunSpec, chrom: str) -> str:
    """The file name SegmentQTL writes for this nominal or perm run and chromosome."""
    prefix = "negctrl_trans_" if spec.neg_control else ""
    if isinstance(spec.all_variants, str):
        return f"{prefix}{spec.all_variants}_{spec.mode}_{chrom}.csv"
    if spec.mode == "nominal":
        return f"{prefix}nominal_{chrom}.csv"
    return f"{prefix}{spec.mode}_{chrom}_{spec.num_permutations}.csv"


def finemap_filenames(spec: RunSpec, chrom: str) -> dict[str, str]:
    """SegmentQTL's finemap file names for a chromosome, keyed by the SQL that fills them.

    A single-phenotype run (``phenotype_id``) adds ``_<phenotype>`` to each name
    (SPEC_FINEMAP_VALIDATE §10.2).
    """
    suffix = f"_{spec.phenotype_id}" if spec.phenotype_id is not None else ""
    return {
        "export_finemap": f"finemap_{chrom}{suffix}.csv",
        "export_finemap_bootstrap": f"finemap_bootstrap_nonzero_{chrom}{suffix}.csv",
        "export_finemap_r2": f"finemap_r2_{chrom}{suffix}.csv",
    }


def validate_filenames(spec: RunSpec, chrom: str) -> dict[str, str]:
    """SegmentQTL's validate file names for a chromosome, keyed by the SQL that fills them.

    The model audit file only with ``save_model_audit``; a single-phenotype run adds
    ``_<phenotype>`` to each name (SPEC_FINEMAP_VALIDATE §13).
    """
    suffix = f"_{spec.phenotype_id}" if spec.phenotype_id is not None else ""
    names = {
        "export_validate": f"validate_{chrom}{suffix}.csv",
        "export_validate_residuals": f"validate_residuals_{chrom}{suffix}.csv",
    }
    if spec.save_model_audit:
        names["export_validate_model"] = f"validate_model_{chrom}{suffix}.csv"
    return names


def export_run(con: duckdb.DuckDBPyConnection, run_id: int, out_dir: str | Path) -> list[Path]:
    """Write a completed run's results as SegmentQTL CSV files into ``out_dir``.

    Returns the written paths.  A file that already exists is overwritten with a warning.
    """
    spec = load_spec(con, run_id)
    status = run_status(con, run_id)
    if status != "completed":
        raise UsageError(
            f"run {run_id} is {status}, not completed. Fix: finish it with "
            f"'segqtl run --resume {run_id}' first"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if spec.mode == "finemap":
        return _export_finemap(con, run_id, spec, out_dir)
    if spec.mode == "validate":
        return _export_validate(con, run_id, spec, out_dir)
    written: list[Path] = []
    sql = load_sql("export_nominal")  # perm runs store the nominal columns plus p_adj
    for chrom in spec.chromosomes:
        inner = sql.strip().rstrip(";")
        if not spec.record_aic:
            inner = f"SELECT * EXCLUDE ({', '.join(AIC_COLUMNS)}) FROM ({inner}\n)"
        _copy(con, inner, out_dir / segmentqtl_filename(spec, chrom), run_id, chrom, written)
    return written


def _export_finemap(
    con: duckdb.DuckDBPyConnection, run_id: int, spec: RunSpec, out_dir: Path
) -> list[Path]:
    """finemap files per chromosome: results, bootstrap-nonzero and (with compute_r2) R².

    As SegmentQTL: the bootstrap file is always written (header only if empty); the R² file
    only when the run computed R² and the chromosome has at least one R² row.  A
    single-phenotype run writes files only for the chromosome holding that phenotype (the
    others have no units).
    """
    written: list[Path] = []
    for chrom in _planned_chromosomes(con, run_id, spec):
        for name, filename in finemap_filenames(spec, chrom).items():
            if name == "export_finemap_r2":
                if not spec.compute_r2:
                    continue
                n_r2 = fetch_one(
                    con,
                    "SELECT count(*) FROM finemap_r2 WHERE run_id = ? AND chr = ?",
                    [run_id, chrom],
                )[0]
                if n_r2 == 0:
                    continue
            _copy(con, load_sql(name), out_dir / filename, run_id, chrom, written)
    return written


def _export_validate(
    con: duckdb.DuckDBPyConnection, run_id: int, spec: RunSpec, out_dir: Path
) -> list[Path]:
    """validate files per chromosome: metrics, residuals and (with save_model_audit) the audit.

    Every file is written with its full header, even without rows (SegmentQTL's header
    depends on the first row, SPEC §0).  A single-phenotype run writes files only for the
    chromosome holding that phenotype.
    """
    written: list[Path] = []
    for chrom in _planned_chromosomes(con, run_id, spec):
        for name, filename in validate_filenames(spec, chrom).items():
            _copy(con, load_sql(name), out_dir / filename, run_id, chrom, written)
    return written


def _planned_chromosomes(con, run_id: int, spec: RunSpec) -> list[str]:
    """The run's chromosomes that have units, in the run's order."""
    planned = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT chr FROM run_units WHERE run_id = ?", [run_id]
        ).fetchall()
    }
    return [c for c in spec.chromosomes if c in planned]


def _copy(con, select: str, path: Path, run_id: int, chrom: str, written: list[Path]) -> None:
    """COPY the rows of ``select`` (parameters $run_id, $chr) to the CSV file ``path``."""
    if path in written or path.exists():
        warnings.warn(f"overwriting {path}", stacklevel=3)
    inner = select.strip().rstrip(";")
    con.execute(
        f"COPY ({inner}\n) TO {_quote(str(path))} (HEADER, DELIMITER ',')",
        {"run_id": int(run_id), "chr": chrom},
    )
    written.append(path)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
