"""Exports of run results with SegmentQTL's file names and columns (DuckDB's CSV writer)."""

from __future__ import annotations

import warnings
from pathlib import Path

import duckdb

from ..errors import UsageError
from ..spec import RunSpec
from .db import load_sql
from .runs import load_spec, run_status

AIC_COLUMNS = ("aic_null", "aic_alt", "delta_aic_alt_minus_null")


def segmentqtl_filename(spec: RunSpec, chrom: str) -> str:
    """The file name SegmentQTL writes for this run and chromosome."""
    prefix = "negctrl_trans_" if spec.neg_control else ""
    if isinstance(spec.all_variants, str):
        return f"{prefix}{spec.all_variants}_{spec.mode}_{chrom}.csv"
    if spec.mode == "nominal":
        return f"{prefix}nominal_{chrom}.csv"
    return f"{prefix}{spec.mode}_{chrom}_{spec.num_permutations}.csv"


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
    written: list[Path] = []
    sql = load_sql("export_nominal")  # perm runs store the nominal columns plus p_adj
    for chrom in spec.chromosomes:
        path = out_dir / segmentqtl_filename(spec, chrom)
        if path in written or path.exists():
            warnings.warn(f"overwriting {path}", stacklevel=2)
        inner = sql.strip().rstrip(";")
        if not spec.record_aic:
            inner = f"SELECT * EXCLUDE ({', '.join(AIC_COLUMNS)}) FROM ({inner}\n)"
        con.execute(
            f"COPY ({inner}\n) TO {_quote(str(path))} (HEADER, DELIMITER ',')",
            {"run_id": int(run_id), "chr": chrom},
        )
        written.append(path)
    return written


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
