"""Reading a validate work unit's inputs from the warehouse (SPEC_FINEMAP_VALIDATE §11).

A validate unit is a range of the **main** cohort's phenotypes.  Its payload holds the main data
exactly as :func:`segqtl.warehouse.reads.finemap_payload` builds it, the validation cohort's rows
of the same genes (matched by gene_id on the same chromosome, each with its own cis window and
segment bounds), and the source of β/λ/π: a stored finemap run, a ``finemap_<C>.csv`` or
nothing (refit in the worker).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

from ..errors import UsageError
from .db import fetch_one, query_pl
from .reads import GenotypeFiles, finemap_payload

#: Columns of ``finemap_<C>.csv`` validate needs (§11).
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

#: validate options (§11) with SegmentQTL's defaults, read from the RunSpec when present.
OPTION_DEFAULTS = {
    "validation_mode": "recalibrated",
    "validate_with_bootstrap": False,
    "validation_stability_threshold": 0.6,
    "restrict_to_supported_phenotypes": False,
    "support_definition": "stability",
    "support_min_stability": 0.6,
    "bootstrap_ci": False,
    "n_boot_ci": 1000,
    "n_permutations": 0,
    "save_model_audit": False,
}

FINEMAP_SCHEMA = {
    "phenotype_idx": pl.Int32,
    "variant": pl.Utf8,
    **dict.fromkeys(_FLOATS, pl.Float64),
}


def _variant_ids(con, cohort: str, chrom: str, rows: np.ndarray) -> list[str]:
    if rows.size == 0:
        return []
    frame = query_pl(
        con,
        "variant_ids",
        cohort=cohort,
        chr=chrom,
        first_variant=int(rows[0]),
        last_variant=int(rows[-1]),
    )
    idx = np.searchsorted(frame["variant_idx"].to_numpy(), rows)
    all_ids = frame["variant_id"].to_list()
    return [all_ids[i] for i in idx]


@lru_cache(maxsize=4)
def _read_finemap_csv(path: str, mtime_ns: int, size: int) -> pl.DataFrame:
    """The validate columns of one ``finemap_<C>.csv`` (cached per file version).

    Floats are parsed by polars (correctly rounded, as Python's ``float``); SegmentQTL parses
    with pandas' default parser, which can differ by 1 ulp (§15.6) — far inside the mean_d/sd_d
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
    val_genotypes: GenotypeFiles,
) -> dict:
    """Everything a worker needs for one validate unit.

    Keys of finemap's payload (main cohort: ``n_samples``, ``phenotypes``, ``covariates``,
    ``genotypes``, ``rows``, ``pairs``, ``bounds``, ``variant_ids``, ``params``) plus

    * ``val_n_samples``, ``val_phenotypes`` (``main_phenotype_idx``, ``phenotype_idx`` = val
      row, ``gene_id``, ``values``, ``pcov``, ``cn``), ``val_covariates``, ``val_genotypes``,
      ``val_rows`` (sorted unique val variant_idx; the runner copies val genotypes up to
      ``val_rows[-1]``), ``val_pairs``, ``val_bounds``, ``val_variant_ids`` (aligned with
      ``val_rows``);
    * ``finemap``: None (refit) or a frame (``phenotype_idx``, ``variant``, ``mean_d``,
      ``sd_d``, ``stability_score``, ``lambda_selected``, ``beta_full``) in kept order;
    * ``options``: the validate options (:data:`OPTION_DEFAULTS` keys);
    * ``cov_names``: the main covariate names (audit block names).
    """
    payload = finemap_payload(con, spec, unit, main_info, main_cov, main_genotypes)
    val_cohort = getattr(spec, "validation_cohort", None)
    if val_cohort is None:
        raise UsageError("validate needs a validation cohort. Fix: give --validation_cohort")
    rng = dict(
        cohort=spec.cohort,
        val_cohort=val_cohort,
        chr=unit.chr,
        first_idx=unit.first_idx,
        last_idx=unit.last_idx,
        only_gene=spec.phenotype_id,
    )
    val_phen = query_pl(con, "validate_val_phenotypes", **rng)
    # The validation cohort's windows and segment bounds come from the same SQL as the main
    # cohort's (its own start/end and segmentation), over the span of its matched rows, keeping
    # only those rows.
    val_idx = val_phen["phenotype_idx"]
    span = (int(val_idx.min()), int(val_idx.max())) if val_idx.len() else (0, -1)
    val_rng = dict(cohort=val_cohort, chr=unit.chr, first_idx=span[0], last_idx=span[1])
    matched = pl.col("phenotype_idx").is_in(val_idx.implode())
    val_pairs = query_pl(con, "cis_pairs", window=spec.window, **val_rng).filter(matched)
    val_bounds = query_pl(con, "segment_bounds", **val_rng).filter(matched)
    val_rows = np.unique(val_pairs["variant_idx"].to_numpy())
    payload.update(
        val_n_samples=val_info["n_samples"],
        val_phenotypes=val_phen.select(
            "main_phenotype_idx", "phenotype_idx", "gene_id", "values", "pcov", "cn"
        ),
        val_covariates=val_cov,
        val_genotypes=val_genotypes,
        val_rows=val_rows,
        val_pairs=val_pairs,
        val_bounds=val_bounds,
        val_variant_ids=_variant_ids(con, val_cohort, unit.chr, val_rows),
        cov_names=main_cov["name"].to_list(),
        options={k: getattr(spec, k, v) for k, v in OPTION_DEFAULTS.items()},
    )
    run_id = getattr(spec, "finemap_run", None)
    results_dir = getattr(spec, "finemap_results_dir", None)
    if run_id is not None and results_dir is not None:
        raise UsageError(
            "give either --finemap_run or --finemap_results_dir, not both. Fix: drop one"
        )
    if run_id is not None:
        fm = finemap_run_rows(con, run_id, spec, unit)
        keep = payload["phenotypes"]["phenotype_idx"].implode()
        payload["finemap"] = fm.filter(pl.col("phenotype_idx").is_in(keep))
    elif results_dir is not None:
        payload["finemap"] = finemap_csv_rows(results_dir, unit.chr, payload["phenotypes"])
    else:
        payload["finemap"] = None
    return payload


__all__ = ["validate_payload", "finemap_csv_rows", "finemap_run_rows", "OPTION_DEFAULTS"]
