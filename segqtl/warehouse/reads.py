"""Reading a work unit's inputs from the warehouse as polars frames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from ..errors import UsageError
from ..spec import RunSpec
from .db import bind_sql, fetch_one, genotype_table, query_pl


def cohort_info(con: duckdb.DuckDBPyConnection, cohort: str) -> dict:
    """n_samples, has_copynumber, has_phenotype_covariate, checksum and genotype_table."""
    keys = ("n_samples", "has_copynumber", "has_phenotype_covariate", "checksum", "cohort_id")
    row = fetch_one(con, f"SELECT {', '.join(keys)} FROM cohorts WHERE cohort = ?", [cohort])
    if row is None:
        raise UsageError(f"cohort {cohort!r} is not in the warehouse. Fix: ingest it first")
    info = dict(zip(keys, row, strict=True))
    info["genotype_table"] = genotype_table(info["cohort_id"])
    info["cohort"] = cohort
    return info


def covariates_frame(con, cohort: str) -> pl.DataFrame:
    return con.sql(
        'SELECT name, "values" FROM covariates WHERE cohort = $cohort ORDER BY cov_idx',
        params={"cohort": cohort},
    ).pl()


@dataclass(frozen=True)
class GenotypeFiles:
    """One chromosome's dosages as ``.npy`` files that workers memory-map.

    ``alt``/``ref``: (V, n) float64, row = variant_idx, NaN = missing; ``pos``: (V,) int64.
    """

    chrom: str
    alt: str
    ref: str
    pos: str
    n_variants: int


def has_genotypes(con, info: dict, chrom: str) -> bool:
    """Whether the cohort has any variant on ``chrom``."""
    table = info["genotype_table"]
    return fetch_one(con, f"SELECT count(*) FROM {table} WHERE chr = ?", [chrom])[0] > 0


class GenotypeExport:
    """Copies a chromosome's genotypes from the warehouse into scratch files for the workers.

    Work units then carry row numbers instead of pickled dosage matrices (which cost more to
    ship than to analyse).  Rows are copied on demand in variant_idx order, so the first units
    can start while later rows are still being copied.
    """

    def __init__(self, con, info: dict, chrom: str, directory: Path):
        self.con = con
        self.table = info["genotype_table"]
        self.n = int(info["n_samples"])
        self.chrom = chrom
        n_var = fetch_one(con, f"SELECT count(*) FROM {self.table} WHERE chr = ?", [chrom])[0]
        if n_var == 0:
            raise UsageError(
                f"cohort {info['cohort']!r} has no genotypes for {chrom}. Fix: add "
                f"{chrom}_ALTlr.csv and {chrom}_REFlr.csv to the genotype directory and ingest "
                "again"
            )
        directory.mkdir(parents=True, exist_ok=True)
        paths = {k: str(directory / f"{chrom}.{k}.npy") for k in ("alt", "ref", "pos")}
        shape = (n_var, self.n)
        self._alt = np.lib.format.open_memmap(paths["alt"], "w+", np.float64, shape)
        self._ref = np.lib.format.open_memmap(paths["ref"], "w+", np.float64, shape)
        self._pos = np.lib.format.open_memmap(paths["pos"], "w+", np.int64, (n_var,))
        self.files = GenotypeFiles(chrom, paths["alt"], paths["ref"], paths["pos"], int(n_var))
        self.done = 0  # rows [0, done) are copied

    def ensure(self, upto: int) -> GenotypeFiles:
        """Copy rows up to variant_idx ``upto`` (inclusive; -1 = all) if not done yet."""
        last = self.files.n_variants - 1 if upto < 0 else min(int(upto), self.files.n_variants - 1)
        if last < self.done:
            return self.files
        text, params = bind_sql(
            "chromosome_variants",
            genotype_table=self.table,
            chr=self.chrom,
            first_variant=self.done,
            last_variant=last,
        )
        for batch in self.con.sql(text, params=params).to_arrow_reader(batch_size=8192):
            idx = batch.column("variant_idx").to_numpy()
            self._pos[idx] = batch.column("pos").to_numpy()
            for name, target in (("altlr", self._alt), ("reflr", self._ref)):
                # nulls (missing dosages) become NaN in the float conversion
                flat = batch.column(name).flatten().to_numpy(zero_copy_only=False)
                target[idx] = flat.reshape(-1, self.n)
        self.done = last + 1
        return self.files

    def remove(self) -> None:
        """Delete the scratch files (no flush needed: workers share the page cache)."""
        del self._alt, self._ref, self._pos
        for path in (self.files.alt, self.files.ref, self.files.pos):
            Path(path).unlink(missing_ok=True)


def nominal_payload(
    con, spec: RunSpec, unit, info: dict, covariates: pl.DataFrame, genotypes: GenotypeFiles
) -> dict:
    """Everything a worker needs for one nominal unit (``genotypes``: the variants' chromosome,
    the unit's own or, for negative controls, the next one)."""
    only_gene = spec.all_variants if isinstance(spec.all_variants, str) else None
    rng = dict(cohort=spec.cohort, chr=unit.chr, first_idx=unit.first_idx, last_idx=unit.last_idx)
    phen = query_pl(con, "unit_phenotypes", only_gene=only_gene, **rng)
    if spec.neg_control:
        rows, pairs, bounds = None, None, None
    else:
        pairs = query_pl(con, "cis_pairs", window=spec.window, **rng)
        bounds = query_pl(con, "segment_bounds", **rng)
        if only_gene is not None:
            keep = phen["phenotype_idx"]
            pairs = pairs.filter(pl.col("phenotype_idx").is_in(keep.implode()))
        rows = np.unique(pairs["variant_idx"].to_numpy())
    return {
        "n_samples": info["n_samples"],
        "phenotypes": phen.select("phenotype_idx", "gene_id", "values", "pcov", "cn"),
        "covariates": covariates,
        "genotypes": genotypes,
        "rows": rows,
        "pairs": pairs,
        "bounds": bounds,
        "params": {
            "min_samples": spec.min_samples,
            "record_aic": spec.record_aic,
            "all_variants": bool(spec.all_variants),
            "neg_control_max_variants": spec.neg_control_max_variants,
            "mode": spec.mode,
            "num_permutations": spec.num_permutations,
            "perm_method": spec.perm_method,
            "seed": spec.seed,
        },
    }


def finemap_payload(
    con, spec: RunSpec, unit, info: dict, covariates: pl.DataFrame, genotypes: GenotypeFiles
) -> dict:
    """Everything a worker needs for one finemap unit: the nominal unit's inputs (phenotypes
    with copy number and phenotype covariate, cis pairs, segment bounds) plus the variant IDs
    of the rows, which label the R² variants."""
    payload = nominal_payload(con, spec, unit, info, covariates, genotypes)
    if spec.phenotype_id is not None:
        keep = payload["phenotypes"].filter(pl.col("gene_id") == spec.phenotype_id)
        payload["phenotypes"] = keep
        payload["pairs"] = payload["pairs"].filter(
            pl.col("phenotype_idx").is_in(keep["phenotype_idx"].implode())
        )
        payload["rows"] = np.unique(payload["pairs"]["variant_idx"].to_numpy())
    rows = payload["rows"]
    ids: list[str] = []
    if rows.size:
        frame = query_pl(
            con,
            "variant_ids",
            cohort=spec.cohort,
            chr=unit.chr,
            first_variant=int(rows[0]),
            last_variant=int(rows[-1]),
        )
        idx = np.searchsorted(frame["variant_idx"].to_numpy(), rows)
        all_ids = frame["variant_id"].to_list()
        ids = [all_ids[i] for i in idx]
    payload["variant_ids"] = ids
    payload["params"] = {
        k: getattr(spec, k)
        for k in (
            "alpha_en",
            "coverage_tau",
            "n_bootstrap",
            "subsample_frac",
            "n_lambda",
            "lambda_ratio",
            "cv_tau",
            "min_obs_boot",
            "compute_r2",
            "r2_stability_threshold",
        )
    }
    return payload
