"""Reading a work unit's inputs from the warehouse as polars frames."""

from __future__ import annotations

import duckdb
import polars as pl

from ..errors import UsageError
from ..spec import RunSpec, trans_chromosome
from .db import fetch_one, query_pl


def cohort_info(con: duckdb.DuckDBPyConnection, cohort: str) -> dict:
    row = fetch_one(
        con,
        "SELECT n_samples, has_copynumber, has_phenotype_covariate, checksum "
        "FROM cohorts WHERE cohort = ?",
        [cohort],
    )
    if row is None:
        raise UsageError(f"cohort {cohort!r} is not in the warehouse. Fix: ingest it first")
    return dict(
        zip(
            ("n_samples", "has_copynumber", "has_phenotype_covariate", "checksum"), row, strict=True
        )
    )


def covariates_frame(con, cohort: str) -> pl.DataFrame:
    return con.sql(
        'SELECT name, "values" FROM covariates WHERE cohort = $cohort ORDER BY cov_idx',
        params={"cohort": cohort},
    ).pl()


def chromosome_variants(con, cohort: str, chrom: str) -> pl.DataFrame:
    frame = query_pl(con, "chromosome_variants", cohort=cohort, chr=chrom)
    if frame.height == 0:
        raise UsageError(
            f"cohort {cohort!r} has no genotypes for {chrom}, needed by --neg_control. "
            f"Fix: add {chrom}_ALTlr.csv and {chrom}_REFlr.csv to the genotype directory"
        )
    return frame


def nominal_payload(
    con, spec: RunSpec, unit, n_samples: int, covariates: pl.DataFrame, trans_cache: dict
) -> dict:
    """Everything a worker needs for one nominal unit."""
    only_gene = spec.all_variants if isinstance(spec.all_variants, str) else None
    rng = dict(cohort=spec.cohort, chr=unit.chr, first_idx=unit.first_idx, last_idx=unit.last_idx)
    phen = query_pl(con, "unit_phenotypes", only_gene=only_gene, **rng)
    if spec.neg_control:
        trans = trans_chromosome(unit.chr)
        if trans not in trans_cache:
            trans_cache.clear()
            trans_cache[trans] = chromosome_variants(con, spec.cohort, trans)
        variants, pairs, bounds = trans_cache[trans], None, None
    else:
        variants = query_pl(con, "unit_variants", window=spec.window, **rng)
        pairs = query_pl(con, "cis_pairs", window=spec.window, **rng)
        bounds = query_pl(con, "segment_bounds", **rng)
        if only_gene is not None:
            keep = phen["phenotype_idx"]
            pairs = pairs.filter(pl.col("phenotype_idx").is_in(keep.implode()))
    return {
        "n_samples": n_samples,
        "phenotypes": phen.select("phenotype_idx", "gene_id", "values", "pcov"),
        "covariates": covariates,
        "variants": variants,
        "pairs": pairs,
        "bounds": bounds,
        "params": {
            "min_samples": spec.min_samples,
            "record_aic": spec.record_aic,
            "all_variants": bool(spec.all_variants),
            "neg_control_max_variants": spec.neg_control_max_variants,
        },
    }
