"""Per-variant dosage summaries of a cohort in pyhegp's summary-file format.

pyhegp (Arun Isaac, https://github.com/encryption4genetics/pyhegp) standardises genotype
dosages with per-SNP means and standard deviations that several parties pool before
encrypting.  :func:`write_summary` writes one chromosome (or several, one after the other in
one file) of a cohort's d (or ALTlr, REFlr) dosages in that format, following its
specification (``doc/file-formats.md``) and its code
(``pyhegp/serialization.py``, ``pyhegp/pyhegp.py``, read in the public repository):

- ASCII, ``\\n`` line ends.  Line 1 is exactly ``# pyhegp summary file version 1``; then
  ``# key value`` lines; ``number-of-samples`` is the one key pyhegp reads
  (``read_summary``: ``int(headers["number-of-samples"])``).  Its header parser splits each line
  at its first space, so every line here has a non-empty value; further keys carry a
  ``segqtl-`` prefix so they cannot collide with keys pyhegp may define later.
- The data section is a tab-separated table with a header row.  pyhegp reads it with
  ``pandas.read_csv(sep="\\t", header=0, dtype={chromosome: str, position: int, reference: str,
  mean: float, standard-deviation: float}, na_filter=False)``: columns are found by label and
  other columns are kept but never used (``pool`` merges on chromosome/position/reference and
  uses mean and std; ``encrypt`` uses chromosome, position, mean and std).  So the number of
  observed values per variant is written as an extra last column, ``number-observed``.
- ``na_filter=False`` means a missing value marker (empty cell, ``NaN``) cannot be read as a
  number, so a variant without a standard deviation (fewer than 2 observed values) is left out
  (pyhegp's ``pool`` and ``encrypt`` drop SNPs missing from a summary anyway); the header line
  ``segqtl-variants-left-out`` says how many.
- Numbers: pyhegp writes ``%.8g``; here DuckDB writes the shortest representation that reads
  back to the same double (full precision), which pandas reads the same way.
- Standard deviation: the sample standard deviation (denominator n - 1).  pyhegp is not
  consistent here: its ``summary`` command writes ``np.std(matrix, axis=1)`` (denominator n),
  but its ``pool`` command rebuilds each file's sum of squares as ``(n - 1) * std**2 +
  n * mean**2`` and divides the pooled one by ``n - 1``, and its property test of pooling
  (``tests/test_pool_stats``) feeds ``np.std(..., ddof=1)``.  Pooling is the reason to write a
  summary at all, so the convention pooling assumes is used (the header line
  ``segqtl-standard-deviation`` states it).  For encryption the difference is a factor
  sqrt(n / (n - 1)) per SNP.
- Mean and standard deviation are over the observed values of each variant (missing genotypes
  are NULL in the warehouse); ``number-of-samples`` is the cohort's number of samples, which
  pyhegp's ``pool`` uses as every SNP's weight.

The statistics are computed in SQL (``sql/summary_dosage.sql``) and written by DuckDB's CSV
writer; the header lines are its ``PREFIX``.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from .. import __version__
from ..chromosomes import natural_order, normalize_chromosome, parse_chromosomes
from ..errors import UsageError
from .db import bind_sql, fetch_one, genotype_table

#: The first line of every pyhegp summary file (pyhegp's ``SUMMARY_HEADER``).
PYHEGP_SUMMARY_HEADER = "# pyhegp summary file version 1"

#: Dosages that can be summarised, with their definition (a header line).
DOSAGES = {"d": "REFlr - ALTlr", "altlr": "ALTlr", "reflr": "REFlr"}

# pyhegp's header values must be ASCII without control characters.
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")


def write_summary(
    con: duckdb.DuckDBPyConnection,
    cohort: str,
    chromosome: str | list[str],
    out: str | Path,
    *,
    dosage: str = "d",
) -> dict:
    """Write the pyhegp summary file of one chromosome (or several) of a cohort.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The warehouse (read-only is enough).
    cohort : str
        An ingested cohort.
    chromosome : str or list of str
        Chromosome, with or without the ``chr`` prefix; or ``--chromosome`` values as typed
        (``all``, ``1,2``, ``1-5``, repeated: :func:`segqtl.chromosomes.parse_chromosomes`),
        whose rows follow each other in the file in that order.
    out : str or Path
        The file to write (overwritten; its folder is created).
    dosage : {"d", "altlr", "reflr"}
        ``d`` = REFlr - ALTlr per sample, or one allele's log-ratio.

    Returns
    -------
    dict
        ``path``, ``n_samples`` (the cohort's samples, ``number-of-samples``), ``n_variants``
        (rows written) and ``n_left_out`` (variants with fewer than 2 observed values).

    Raises
    ------
    UsageError
        Unknown dosage or cohort, or a chromosome without variants in the cohort.
    """
    if dosage not in DOSAGES:
        raise UsageError(
            f"unknown dosage {dosage!r}. Fix: use one of {', '.join(DOSAGES)} (d = REFlr - ALTlr)"
        )
    row = fetch_one(con, "SELECT cohort_id, n_samples FROM cohorts WHERE cohort = ?", [cohort])
    if row is None:
        raise UsageError(
            f"cohort {cohort!r} is not in the warehouse. Fix: ingest it first with "
            "'segqtl ingest' (see 'segqtl cohorts --db DB' for the names)"
        )
    cohort_id, n_samples = row
    present = natural_order(
        r[0]
        for r in con.execute(
            "SELECT DISTINCT chr FROM variants WHERE cohort = ?", [cohort]
        ).fetchall()
    )
    values = [chromosome] if isinstance(chromosome, str) else list(chromosome)
    if len(values) == 1 and normalize_chromosome(values[0]) not in present and "," not in values[0]:
        chrom = normalize_chromosome(values[0])
        if chrom.lower() != "chrall" and "-" not in chrom:
            raise UsageError(
                f"cohort {cohort!r} has no variants on {chrom}. Fix: use one of its chromosomes "
                f"({', '.join(present) or 'none'})"
            )
    chroms = parse_chromosomes(values, present, where=f"cohort {cohort!r} (variants)")
    n_total = fetch_one(
        con,
        "SELECT count(*) FROM variants WHERE cohort = ? AND list_contains(?, chr)",
        [cohort, chroms],
    )[0]

    # The counts go into the header, which DuckDB writes before the rows: materialise the
    # (one row per variant) result first, chromosome after chromosome.
    temp = f"segqtl_summary_{id(con)}_{cohort_id}"
    for i, chrom in enumerate(chroms):
        text, params = bind_sql("summary_dosage", cohort=cohort, chr=chrom, dosage=dosage)
        text = text.replace("{genotypes}", genotype_table(cohort_id)).strip().rstrip(";")
        select = f"SELECT {i} AS chrom_order, * FROM ({text})"
        if i == 0:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {temp} AS {select}", params)
        else:
            con.execute(f"INSERT INTO {temp} {select}", params)
    try:
        n_variants = fetch_one(con, f"SELECT count(*) FROM {temp}")[0]
        header = [
            ("number-of-samples", str(n_samples)),
            ("segqtl-version", __version__),
            ("segqtl-cohort", cohort),
            ("segqtl-chromosome", ",".join(chroms)),
            ("segqtl-dosage", dosage),
            ("segqtl-dosage-definition", DOSAGES[dosage]),
            ("segqtl-standard-deviation", "sample (denominator n - 1)"),
            ("segqtl-number-of-variants", str(n_variants)),
            ("segqtl-variants-left-out", str(n_total - n_variants)),
        ]
        prefix = PYHEGP_SUMMARY_HEADER + "\n"
        prefix += "".join(f"# {key} {_ascii_value(value)}\n" for key, value in header)
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        # DuckDB writes its header row after PREFIX when HEADER is left at its default (an
        # explicit HEADER is refused with PREFIX), ends every row but the last with "\n" and
        # then writes SUFFIX: a "\n" suffix ends the file with exactly one "\n".
        con.execute(
            f"COPY (SELECT * EXCLUDE (chrom_order, variant_idx) FROM {temp} "
            "ORDER BY chrom_order, variant_idx) "
            f"TO {_quote(str(out))} "
            f"(DELIMITER '\t', PREFIX {_quote(prefix)}, SUFFIX {_quote(chr(10))})"
        )
    finally:
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    return {
        "path": out,
        "n_samples": int(n_samples),
        "n_variants": int(n_variants),
        "n_left_out": int(n_total - n_variants),
    }


def _ascii_value(value: str) -> str:
    """A header value pyhegp can read: printable ASCII (others as ``\\xNN``/``\\uNNNN``)."""
    return (
        _NOT_PRINTABLE_ASCII.sub(
            lambda m: m.group().encode("unicode_escape").decode("ascii"), value
        )
        or "-"
    )


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
