"""Load one cohort into the warehouse, in a single transaction.

Genotypes stream: each chromosome's ALTlr/REFlr pair is read, checked and appended in blocks
of variants inside the ingest's one transaction, so memory does not grow with the files and an
error in the last line still leaves the warehouse exactly as it was.  The two files are parsed
in threads of their own while this thread appends (both release the GIL), and DuckDB
compresses and writes each row group as soon as it is full instead of all at the commit, so
the two cores stay busy (issue 13).
"""

from __future__ import annotations

import contextlib
import hashlib
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path

import duckdb
import polars as pl

from .. import __version__
from ..errors import InputError, UsageError
from ..warehouse.db import (
    COHORT_TABLES,
    fetch_one,
    genotype_table,
    has_table,
    query,
    refresh_genotypes_view,
    transaction,
)
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
    fields are CSV files.  Any file may be compressed (``.csv.gz``, ``.csv.zst``).
    ``covariates``, ``copynumber`` and ``phenotype_covariate`` are optional.
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


def checksum_files(
    files: list[tuple[str, Path]], known: dict[Path, str] | None = None
) -> tuple[list[tuple[str, str, int, str]], str]:
    """Per-file sha256 and the cohort checksum (sha256 over roles and file checksums).

    A file's sha256 is of its bytes as stored (compressed bytes for ``.gz``/``.zst``), so a
    compressed copy of a cohort is a different cohort to ``ensure_cohort`` though it loads the
    same values.  ``known`` maps paths to sha256 digests already computed while reading.
    """
    known = known or {}
    rows = []
    for role, path in files:
        if not path.is_file():
            raise InputError(path, f"{role.split(':')[0]} file not found", "pass an existing file")
        digest = known.get(path) or readers.sha256_file(path)
        rows.append((role, str(path.resolve()), path.stat().st_size, digest))
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


def check_cohort_name(cohort: str) -> None:
    """A cohort's name: letters, digits, '_' or '-' (it names files and is typed in SQL)."""
    if not cohort or not cohort.replace("_", "").replace("-", "").isalnum():
        raise UsageError(
            f"--cohort {cohort!r} must be letters, digits, '_' or '-'. Fix: give a name "
            "such as study1"
        )


def ingest_cohort(
    con: duckdb.DuckDBPyConnection,
    cohort: str,
    inputs: CohortInputs,
    *,
    replace: bool = False,
    checksums: tuple[list, str] | None = None,
    extra_writes=None,
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
        Replace an existing cohort of the same name.  Its runs are kept when the files are
        the same (the checksum); other files under a cohort that runs use are refused, since
        those runs' results are labelled (phenotypes, variants, samples) through its rows.
    checksums : optional
        ``inputs.checksums()`` if the caller has already computed them.
    extra_writes : callable, optional
        ``extra_writes(con)`` runs inside the ingest's transaction, after the cohort's rows
        (issue 15: the control file, :mod:`segqtl.ingest.control`).
    """
    check_cohort_name(cohort)
    exists = fetch_one(con, "SELECT count(*) FROM cohorts WHERE cohort = ?", [cohort])[0]
    if exists and not replace:
        raise UsageError(
            f"cohort {cohort!r} already exists in the warehouse. Fix: choose another "
            "--cohort name or pass --replace"
        )
    if exists and has_table(con, "cohort_exclusions"):  # schema 15: derived cohorts
        source = fetch_one(con, "SELECT source_cohort FROM cohorts WHERE cohort = ?", [cohort])
        if source is not None and source[0] is not None:
            # its runs and its name (the hash of a selection) would then mean other data
            raise UsageError(
                f"cohort {cohort!r} is {source[0]!r} with a run's selection (a derived cohort); "
                "it cannot be replaced. Fix: ingest the files under another --cohort name"
            )

    runs = query(con, "cohort_runs", cohort=cohort).fetchall() if exists else []
    if runs:
        # runs use the cohort: only the same files may replace it, which the checksums tell
        # now, before anything is read (then not hashed again while loading).  A missing or
        # odd file is left to the readers, whose one-line message comes before any write.
        if checksums is None:
            files = inputs.files()
            if all(path.is_file() for _, path in files):
                checksums = checksum_files(files)
        old = fetch_one(con, "SELECT checksum FROM cohorts WHERE cohort = ?", [cohort])[0]
        if checksums is not None and checksums[1] != old:
            _refuse_replace_under_runs(cohort, runs)

    quant = readers.read_quantifications(inputs.quantifications)
    samples = quant.samples
    genes = quant.table["gene_id"].to_list()
    seg = readers.read_segmentation(inputs.segmentation, samples)
    if inputs.covariates is not None:
        cov = readers.read_covariates(inputs.covariates, samples)
        _warn_redundant_covariates(inputs.covariates, cov)
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
    pairs = readers.genotype_files(inputs.genotypes)
    _warn_phenotypes_without_genotypes(inputs.quantifications, quant.table, pairs)

    with _bounded_memory(con):
        return _load(
            con, cohort, exists, quant, seg, cov, cn, pcov, pairs, inputs, checksums, extra_writes
        )


#: DuckDB keeps the row group a transaction is filling in memory (one of the genotype table,
#: ~123,000 variants, is ~0.8 GB at 400 samples); above this it spills to ``<warehouse>.tmp``
#: so an ingest's memory does not grow with the input.
INGEST_MEMORY_LIMIT = "800MB"


@contextmanager
def _bounded_memory(con: duckdb.DuckDBPyConnection):
    """Lower DuckDB's memory limit while ingesting into a file-backed warehouse, and have
    it write each full row group of the transaction at once.

    By default DuckDB buffers several row groups (``write_buffer_row_group_count``) and
    compresses them at the commit, on one core, after the files are read: a quarter of the
    ingest's time.  Written as they fill, they are compressed while the next blocks parse.
    """
    on_disk = fetch_one(
        con, "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    )
    if not on_disk or on_disk[0] is None:  # an in-memory database cannot spill
        yield
        return
    old = fetch_one(
        con,
        "SELECT current_setting('memory_limit'), current_setting('write_buffer_row_group_count')",
    )
    con.execute(f"SET memory_limit = '{INGEST_MEMORY_LIMIT}'")
    con.execute("SET write_buffer_row_group_count = 1")
    try:
        yield
    finally:
        # The default back exactly when it was the default (its rendering, '18.8 GiB', is
        # rounded); else the rendering.  SET takes no parameters: ``old`` is DuckDB's own.
        con.execute("RESET memory_limit")
        if fetch_one(con, "SELECT current_setting('memory_limit')")[0] != old[0]:
            con.execute(f"SET memory_limit = '{old[0]}'")
        con.execute(f"SET write_buffer_row_group_count = {int(old[1])}")


def _load(con, cohort, exists, quant, seg, cov, cn, pcov, pairs, inputs, checksums, extra=None):
    """The write half of :func:`ingest_cohort`: one transaction, rolled back on any error."""
    samples = quant.samples
    with transaction(con):
        if exists:
            old_id = fetch_one(con, "SELECT cohort_id FROM cohorts WHERE cohort = ?", [cohort])[0]
            con.execute(f"DROP TABLE IF EXISTS {genotype_table(old_id)}")
            for table in ("cohorts", *COHORT_TABLES):
                if has_table(con, table):  # a warehouse of an older schema lacks later ones
                    con.execute(f"DELETE FROM {table} WHERE cohort = ?", [cohort])
        cohort_id = fetch_one(con, "SELECT nextval('cohort_id_seq')")[0]
        n_variants, digests = _insert_genotypes(
            con, cohort, genotype_table(cohort_id), samples, pairs
        )
        if checksums is None:  # genotype files were hashed while read
            checksums = checksum_files(inputs.files(), digests)
        file_rows, checksum = checksums
        con.execute(
            "INSERT INTO cohorts (cohort, cohort_id, n_samples, checksum, has_copynumber, "
            "has_phenotype_covariate, segqtl_version, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, current_timestamp)",
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
        _insert(con, "covariates", cohort, cov)
        if cn is not None:
            _insert(con, "copynumber", cohort, cn)
        if pcov is not None:
            _insert(con, "phenotype_covariate", cohort, pcov)
        _insert(con, "segments", cohort, seg)
        if extra is not None:  # issue 15: the control file, in the same transaction
            extra(con)
        refresh_genotypes_view(con)
    return IngestResult(
        cohort=cohort,
        checksum=checksum,
        n_samples=len(samples),
        n_phenotypes=quant.table.height,
        n_variants=n_variants,
        chromosomes=sorted(pairs),
    )


def _refuse_replace_under_runs(cohort: str, runs: list[tuple[int, str | None]]) -> None:
    """Refuse other files under a cohort that ``runs`` (run id, name) use: their stored
    results name phenotypes, variants and samples by index through the cohort's rows, and a
    resume would mix the two sets of files."""
    named = ", ".join(f"{i} ({n})" if n else str(i) for i, n in runs[:5])
    more = f" and {len(runs) - 5} more" if len(runs) > 5 else ""
    raise UsageError(
        f"cohort {cohort!r} has {len(runs)} run(s) on its current files (run {named}{more}), "
        "and --replace with other files would relabel their results. Fix: ingest the new "
        "files under another --cohort name (or into another --db)"
    )


def _insert_genotypes(
    con, cohort: str, table: str, samples: list[str], pairs: dict[str, tuple[Path, Path]]
) -> tuple[int, dict[Path, str]]:
    """Stream every chromosome's genotypes into ``variants`` and the cohort's genotype table.

    The genotype table stores ALTlr/REFlr as fixed-size ``DOUBLE[n]`` arrays (n = samples),
    which DuckDB hands to Arrow several times faster than variable-length lists.  ``table`` is
    built from the cohort's integer id, never from user text.  Returns the number of variants
    and the sha256 of every genotype file (computed while reading it).
    """
    n = len(samples)
    con.execute(
        f"CREATE TABLE {table} (chr VARCHAR NOT NULL, variant_idx INTEGER NOT NULL, "
        f"variant_id VARCHAR NOT NULL, pos BIGINT NOT NULL, altlr DOUBLE[{n}] NOT NULL, "
        f"reflr DOUBLE[{n}] NOT NULL)"
    )
    n_variants, digests = 0, {}
    for chrom, (alt, ref) in sorted(pairs.items()):
        reader = readers.GenotypeReader(chrom, alt, ref, samples)
        # Closed at once on any error (a failed append too), so that its two parsing threads
        # have ended, and its files are closed, before the rollback.
        with contextlib.closing(iter(reader)) as blocks:
            for block in blocks:
                frame = block.frame.with_columns(pl.lit(chrom).alias("chr"))
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
                del frame, arrow, block
        n_variants += reader.n_variants
        digests.update(reader.checksums)
    return n_variants, digests


def _insert(con: duckdb.DuckDBPyConnection, table: str, cohort: str, frame: pl.DataFrame) -> None:
    """Append a polars frame (columns in table order after ``cohort``) via Arrow."""
    arrow = frame.to_arrow()  # noqa: F841  (scanned by name below)
    con.execute(f"INSERT INTO {table} SELECT ?, * FROM arrow", [cohort])


def _warn_phenotypes_without_genotypes(path: Path, table: pl.DataFrame, pairs: dict) -> None:
    """Name, as a warning, chromosomes with phenotypes but no genotype files (often chrX
    beside autosomes only): runs cannot test them ('--chromosome all' leaves them out)."""
    import warnings

    from ..chromosomes import natural_order

    counts = table.group_by("chr").len()
    missing = {c: n for c, n in counts.iter_rows() if c not in pairs}
    if missing:
        shown = ", ".join(f"{c} ({missing[c]})" for c in natural_order(missing))
        warnings.warn(
            f"{path}: phenotypes on {shown} have no genotype files, so cis runs cannot test "
            "them ('--chromosome all' leaves them out; a negative control can still use them). "
            "Fix: add <chr>_ALTlr.csv and <chr>_REFlr.csv to the genotype folder",
            stacklevel=2,
        )


def _warn_redundant_covariates(path: Path, cov: pl.DataFrame) -> None:
    """Name, as a warning, covariates the runs will drop (constant or collinear)."""
    import warnings

    import numpy as np

    from .covariates import covariate_warning, redundant_covariates

    if cov.height == 0:
        return
    values = np.array(
        [[np.nan if v is None else v for v in row] for row in cov["values"].to_list()],
        dtype=np.float64,
    )
    dropped = redundant_covariates(cov["name"].to_list(), values)
    if dropped:
        warnings.warn(covariate_warning(dropped, str(path), ingest=True), stacklevel=2)
