"""Reading a validate work unit's inputs from the warehouse (docs/methods.md#validate-pipeline).

A validate unit is a range of the **main** cohort's phenotypes.  Its payload holds the main
cohort's slice exactly as :func:`segqtl.warehouse.reads.finemap_payload` reads it, the
validation cohort's rows of the same genes (matched by gene_id on the same chromosome, each with
its own cis window and segment bounds), and the source of β/λ/π: a stored finemap run, a
``finemap_<C>.csv`` or nothing (refit in the worker).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import polars as pl

from ..engine.units import GenotypeFiles, UnitPayload, params_from_spec
from ..errors import UsageError
from ..kernels.options import FinemapParams, ValidateOptions
from .db import fetch_one, query_pl
from .reads import cohort_slice, unit_phenotypes

#: Columns of ``finemap_<C>.csv`` validate needs (docs/methods.md#validate-pipeline).
FINEMAP_CSV_COLUMNS = (
    "phenotype",
    "variant",
    "mean_d",
    "sd_d",
    "stability_score",
    "lambda_selected",
    "beta_full",
)
_FLOATS = FINEMAP_CSV_COLUMNS[2:]

FINEMAP_SCHEMA = {
    "phenotype_idx": pl.Int32,
    "variant": pl.Utf8,
    **dict.fromkeys(_FLOATS, pl.Float64),
}


@functools.lru_cache(maxsize=4)
def _read_finemap_csv(path: str, mtime_ns: int, size: int) -> pl.DataFrame:
    """The validate columns of one ``finemap_<C>.csv`` (cached per file version).

    Floats are parsed by polars (correctly rounded, as Python's ``float``); SegmentQTL parses
    with pandas' default parser, which can differ by 1 ulp
    (docs/methods.md#numerical-reproducibility) — far inside the mean_d/sd_d
    ``allclose`` check, and β differs by at most that ulp.
    """
    del mtime_ns, size  # cache keys only
    header = pl.read_csv(path, n_rows=0, infer_schema=False).columns
    missing = [c for c in FINEMAP_CSV_COLUMNS if c not in header]
    if missing:
        raise UsageError(
            f"{path}: lacks column(s) {', '.join(missing)}. Fix: give the directory of a "
            "finemap run's output (finemap_<C>.csv with "
            f"{', '.join(FINEMAP_CSV_COLUMNS)})"
        )
    frame = pl.read_csv(
        path,
        columns=list(FINEMAP_CSV_COLUMNS),
        infer_schema=False,
        null_values=["", "NaN", "nan"],
    )
    return frame.with_columns(pl.col(c).cast(pl.Float64) for c in _FLOATS)


def finemap_csv_rows(directory: str | Path, chrom: str, phen: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``<directory>/finemap_<chrom>.csv`` for the phenotypes of ``phen``
    (``phenotype_idx``, ``gene_id``), with ``phenotype_idx`` added; file order kept."""
    path = Path(directory) / f"finemap_{chrom}.csv"
    if not path.is_file():
        raise UsageError(
            f"{path} does not exist. Fix: point --finemap_results_dir at a finemap run's output "
            f"directory that covers {chrom}"
        )
    st = os.stat(path)
    frame = _read_finemap_csv(str(path), st.st_mtime_ns, st.st_size)
    keys = phen.select(pl.col("gene_id").alias("phenotype"), "phenotype_idx")
    out = frame.join(keys, on="phenotype", how="inner", maintain_order="left")
    return out.select(
        pl.col("phenotype_idx").cast(pl.Int32), "variant", *(pl.col(c) for c in _FLOATS)
    )


def finemap_run_rows(con, run_id: int, spec, unit) -> pl.DataFrame:
    """A stored finemap run's rows for the unit's phenotypes (exact doubles)."""
    row = fetch_one(con, "SELECT mode, cohort FROM runs WHERE run_id = ?", [int(run_id)])
    if row is None or row[0] != "finemap":
        raise UsageError(
            f"run {run_id} is not a finemap run of this warehouse. Fix: give the run_id of a "
            "finemap run (segqtl runs lists them)"
        )
    if row[1] != spec.cohort:
        raise UsageError(
            f"finemap run {run_id} analysed cohort {row[1]!r}, not the main cohort "
            f"{spec.cohort!r}. Fix: give a finemap run of {spec.cohort!r}"
        )
    frame = query_pl(
        con,
        "validate_finemap_stats",
        run_id=int(run_id),
        chr=unit.chr,
        first_idx=unit.first_idx,
        last_idx=unit.last_idx,
    )
    return frame.cast(FINEMAP_SCHEMA)


def validate_payload(
    con,
    spec,
    unit,
    main_info: dict,
    val_info: dict,
    main_cov: pl.DataFrame,
    val_cov: pl.DataFrame,
    main_genotypes: GenotypeFiles,
    val_genotypes: GenotypeFiles | None,
) -> UnitPayload:
    """Everything a worker needs for one validate unit.

    ``main`` is the main cohort's slice as finemap reads it; ``val`` the validation cohort's
    rows of the same genes (its phenotypes also carry ``main_phenotype_idx``; ``val.genotypes``
    is None when the validation cohort has no genotypes on the chromosome); ``params`` and
    ``options`` come from the spec; ``finemap_rows`` holds a stored finemap run's or a
    ``finemap_<C>.csv``'s rows of the unit's phenotypes, or None (refit in the worker).
    """
    if spec.validation_cohort is None:
        raise UsageError("validate needs a validation cohort. Fix: give --validation_cohort")
    run_id, results_dir = spec.finemap_run, spec.finemap_results_dir
    if run_id is not None and results_dir is not None:
        raise UsageError(
            "give either --finemap_run or --finemap_results_dir, not both. Fix: drop one"
        )
    phen = unit_phenotypes(con, main_info["cohort"], unit, spec.phenotype_id)
    slice_of = functools.partial(cohort_slice, con, window=spec.window, with_variant_ids=True)
    main = slice_of(main_info, unit.chr, phen, main_cov, main_genotypes)
    # The validation cohort's windows and segment bounds come from the same SQL as the main
    # cohort's, with its own start/end and segmentation.
    val_phen = query_pl(
        con,
        "validate_val_phenotypes",
        cohort=main_info["cohort"],
        val_cohort=val_info["cohort"],
        chr=unit.chr,
        first_idx=unit.first_idx,
        last_idx=unit.last_idx,
        only_gene=spec.phenotype_id,
    ).select("main_phenotype_idx", "phenotype_idx", "gene_id", "values", "pcov", "cn")
    val = slice_of(val_info, unit.chr, val_phen, val_cov, val_genotypes)
    if run_id is not None:
        rows = finemap_run_rows(con, run_id, spec, unit)
        rows = rows.filter(pl.col("phenotype_idx").is_in(phen["phenotype_idx"].implode()))
    elif results_dir is not None:
        rows = finemap_csv_rows(results_dir, unit.chr, phen)
    else:
        rows = None
    return UnitPayload(
        main=main,
        params=params_from_spec(FinemapParams, spec),
        val=val,
        options=params_from_spec(ValidateOptions, spec),
        finemap_rows=rows,
    )


__all__ = ["validate_payload", "finemap_csv_rows", "finemap_run_rows"]
