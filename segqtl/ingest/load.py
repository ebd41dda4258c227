"""Load one cohort into the warehouse, in a single transaction."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from pathlib import Path

import duckdb
import polars as pl

from .. import __version__
from ..errors import InputError, UsageError
from ..warehouse.db import fetch_one, genotype_table, refresh_genotypes_view
from . import readers


@dataclass
class IngestResult:
    """What an ingest did: the cohort name, its checksum and table sizes."""

    cohort: str
    checksum: str
    n_samples: int
    n_phenotypes: int
    n_variants: int
    chromosomes: list[str] = field(default_factory=list)
    reused: bool = False


@dataclass(frozen=True)
class CohortInputs:
    """The input files of one cohort in SegmentQTL's layout (docs/methods.md#inputs).

    ``genotypes`` is the directory with ``chr<C>_ALTlr.csv`` / ``chr<C>_REFlr.csv``; the other
    fields are CSV files.  ``covariates``, ``copynumber`` and ``phenotype_covariate`` are
    optional.
    """

    genotypes: Path
    quantifications: Path
    segmentation: Path
    covariates: Path | None = None
    copynumber: Path | None = None
    phenotype_covariate: Path | None = None

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                object.__setattr__(self, f.name, Path(value))

    def files(self) -> list[tuple[str, Path]]:
        """The (role, path) list of the input files, genotype files expanded."""
        files = [("quantifications", self.quantifications)]
        for role in ("covariates", "copynumber", "segmentation", "phenotype_covariate"):
            if getattr(self, role) is not None:
                files.append((role, getattr(self, role)))
        for chrom, (alt, ref) in readers.genotype_files(self.genotypes).items():
            files.append((f"genotypes_alt:{chrom}", alt))
            files.append((f"genotypes_ref:{chrom}", ref))
        return files

    def checksums(self) -> tuple[list[tuple[str, str, int, str]], str]:
        """Per-file (role, path, size, sha256) rows and the cohort checksum."""
        return checksum_files(self.files())


def checksum_files(files: list[tuple[str, Path]]) -> tuple[list[tuple[str, str, int, str]], str]:
    """Per-file sha256 and the cohort checksum (sha256 over roles and file checksums)."""
    rows = []
    for role, path in files:
        if not path.is_file():
            raise InputError(path, f"{role.split(':')[0]} file not found", "pass an existing file")
        rows.append((role, str(path.resolve()), path.stat().st_size, readers.sha256_file(path)))
    total = hashlib.sha256(
        "\n".join(
            f"{r}\t{s}" for r, _, _, s in sorted((r[0], r[1], r[2], r[3]) for r in rows)
        ).encode()
    )
    return rows, total.hexdigest()


def find_cohort_by_checksum(con: duckdb.DuckDBPyConnection, checksum: str) -> str | None:
    row = fetch_one(
        con, "SELECT cohort FROM cohorts WHERE checksum = ? ORDER BY created_at LIMIT 1", [checksum]
    )
    return row[0] if row else None


def ingest_cohort(
    con: duckdb.DuckDBPyConnection,
    cohort: str,
    inputs: CohortInputs,
    *,
    replace: bool = False,
    checksums: tuple[list, str] | None = None,
) -> IngestResult:
    """Read, validate and load one cohort. All or nothing: on error the DB is unchanged.

    Parameters
    ----------
    con : duckdb connection (writable)
    cohort : str
        Name of the cohort in the warehouse.
    inputs : CohortInputs
        The cohort's files.
    replace : bool
        Replace an existing cohort of the same name (its runs are kept).
    checksums : optional
        ``inputs.checksums()`` if the caller has already computed them.
    """
    if not cohort or not cohort.replace("_", "").replace("-", "").isalnum():
        raise UsageError(f"cohort name {cohort!r} must be letters, digits, '_' or '-'")
    exists = fetch_one(con, "SELECT count(*) FROM cohorts WHERE cohort = ?", [cohort])[0]
    if exists and not replace:
        raise UsageError(
            f"cohort {cohort!r} already exists in the warehouse. Fix: choose another "
            "--cohort name or pass --replace"
        )

    quant = readers.read_quantifications(inputs.quantifications)
    samples = quant.samples
    genes = quant.table["gene_id"].to_list()
    seg = readers.read_segmentation(inputs.segmentation, samples)
    if inputs.covariates is not None:
        cov = readers.read_covariates(inputs.covariates, samples)
    else:
        cov = pl.DataFrame(
            schema={"cov_idx": pl.Int32, "name": pl.String, "values": pl.List(pl.Float64)}
        )
    cn = pcov = None
    if inputs.copynumber is not None:
        cn = readers.read_gene_table(inputs.copynumber, samples, genes, "copy number")
    if inputs.phenotype_covariate is not None:
        pcov = readers.read_gene_table(
            inputs.phenotype_covariate, samples, genes, "phenotype covariate"
        )
    geno = {
        chrom: readers.read_genotypes(chrom, alt, ref, samples)
        for chrom, (alt, ref) in readers.genotype_files(inputs.genotypes).items()
    }
    file_rows, checksum = checksums if checksums is not None else inputs.checksums()

    con.execute("BEGIN TRANSACTION")
    try:
        if exists:
            old_id = fetch_one(con, "SELECT cohort_id FROM cohorts WHERE cohort = ?", [cohort])[0]
            con.execute(f"DROP TABLE IF EXISTS {genotype_table(old_id)}")
            for table in (
                "cohorts",
                "cohort_files",
                "samples",
                "phenotypes",
                "variants",
                "covariates",
                "copynumber",
                "phenotype_covariate",
                "segments",
            ):
                con.execute(f"DELETE FROM {table} WHERE cohort = ?", [cohort])
        cohort_id = fetch_one(con, "SELECT nextval('cohort_id_seq')")[0]
        con.execute(
            "INSERT INTO cohorts VALUES (?, ?, ?, ?, ?, ?, ?, current_timestamp)",
            [
                cohort,
                cohort_id,
                len(samples),
                checksum,
                cn is not None,
                pcov is not None,
                __version__,
            ],
        )
        con.executemany(
            "INSERT INTO cohort_files VALUES (?, ?, ?, ?, ?)", [[cohort, *r] for r in file_rows]
        )
        _insert(
            con,
            "samples",
            cohort,
            pl.DataFrame(
                {"sample_idx": list(range(len(samples))), "sample_id": samples},
                schema={"sample_idx": pl.Int32, "sample_id": pl.String},
            ),
        )
        _insert(con, "phenotypes", cohort, quant.table.sort("chr", "phenotype_idx"))
        _insert_genotypes(con, cohort, genotype_table(cohort_id), len(samples), geno)
        _insert(con, "covariates", cohort, cov)
        if cn is not None:
            _insert(con, "copynumber", cohort, cn)
        if pcov is not None:
            _insert(con, "phenotype_covariate", cohort, pcov)
        _insert(con, "segments", cohort, seg)
        refresh_genotypes_view(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return IngestResult(
        cohort=cohort,
        checksum=checksum,
        n_samples=len(samples),
        n_phenotypes=quant.table.height,
        n_variants=sum(f.height for f in geno.values()),
        chromosomes=sorted(geno),
    )


def _insert_genotypes(
    con, cohort: str, table: str, n_samples: int, geno: dict[str, pl.DataFrame]
) -> None:
    """Variant annotations into ``variants``; dosages into the cohort's own genotype table.

    The genotype table stores ALTlr/REFlr as fixed-size ``DOUBLE[n]`` arrays (n = samples),
    which DuckDB hands to Arrow several times faster than variable-length lists.  ``table`` is
    built from the cohort's integer id, never from user text.
    """
    n = int(n_samples)
    con.execute(
        f"CREATE TABLE {table} (chr VARCHAR NOT NULL, variant_idx INTEGER NOT NULL, "
        f"variant_id VARCHAR NOT NULL, pos BIGINT NOT NULL, altlr DOUBLE[{n}] NOT NULL, "
        f"reflr DOUBLE[{n}] NOT NULL)"
    )
    for chrom in sorted(geno):
        frame = geno[chrom].with_columns(pl.lit(chrom).alias("chr"))
        _insert(
            con,
            "variants",
            cohort,
            frame.select("chr", "variant_idx", "variant_id", "pos", "ref", "alt"),
        )
        arrow = frame.select(  # noqa: F841  (scanned by name below)
            "chr", "variant_idx", "variant_id", "pos", "altlr", "reflr"
        ).to_arrow()
        con.execute(
            f"INSERT INTO {table} SELECT chr, variant_idx, variant_id, pos, "
            f"altlr::DOUBLE[{n}], reflr::DOUBLE[{n}] FROM arrow"
        )


def _insert(con: duckdb.DuckDBPyConnection, table: str, cohort: str, frame: pl.DataFrame) -> None:
    """Append a polars frame (columns in table order after ``cohort``) via Arrow."""
    arrow = frame.to_arrow()  # noqa: F841  (scanned by name below)
    con.execute(f"INSERT INTO {table} SELECT ?, * FROM arrow", [cohort])
