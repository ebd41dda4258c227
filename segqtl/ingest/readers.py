"""Readers for SegmentQTL's CSV layout, with validation that names file, line and column.

Every reader returns polars frames; numbers are parsed by polars (exact decimal -> double
conversion), empty cells and the usual NA spellings become nulls.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ..errors import InputError

NA_VALUES = ["", "NA", "NaN", "nan", "N/A", "NULL", "null", "#N/A", "-nan", "None"]
_VARIANT_ID = re.compile(r"^([^:]+):(\d+):([^:]+):([^:]+)$")


def normalize_chromosome(name: str) -> str:
    """``8`` / ``chr8`` -> ``chr8``; ``X`` -> ``chrX``."""
    name = str(name).strip()
    return name if name.startswith("chr") else f"chr{name}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _require_file(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, f"{what} file not found", f"pass the path of an existing {what} file")
    if path.stat().st_size == 0:
        raise InputError(path, f"{what} file is empty", f"write the {what} table into it")
    return path


def read_header(path: Path) -> list[str]:
    with open(path, newline="") as fh:
        try:
            header = next(csv.reader(fh))
        except StopIteration:
            header = []
    return [h.strip() for h in header]


def _check_unique(path: Path, names: list[str], what: str, line_of=None):
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            line = line_of(i) if line_of else 1
            column = None if line_of else f"{i + 1} ({name!r})"
            raise InputError(
                path,
                f"duplicate {what} {name!r} (first seen at "
                + (f"line {line_of(seen[name])})" if line_of else f"column {seen[name] + 1})"),
                f"make every {what} unique",
                line=line,
                column=column,
            )
        seen[name] = i


def _check_samples_present(path: Path, header: list[str], samples: list[str], what: str):
    present = set(header)
    missing = [s for s in samples if s not in present]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError(
            path,
            f"{len(missing)} sample(s) of the quantification file are missing from the {what} "
            f"header: {shown}",
            f"add a column for every sample of the quantification file to the {what} file",
            line=1,
        )


def _locate_bad_number(path: Path, columns: list[str], header: list[str]) -> InputError:
    """Find the first non-numeric cell among ``columns`` (slow path, only after a failure)."""
    raw = pl.read_csv(path, infer_schema=False, columns=columns, null_values=NA_VALUES)
    for name in columns:
        col = raw[name]
        parsed = col.cast(pl.Float64, strict=False)
        bad = col.is_not_null() & parsed.is_null()
        if bad.any():
            row = int(bad.arg_true()[0])
            return InputError(
                path,
                f"non-numeric value {col[row]!r}",
                "use numbers, or leave the cell empty (or NA) for a missing value",
                line=row + 2,
                column=f"{header.index(name) + 1} ({name!r})",
            )
    return InputError(path, "cannot parse the table", "check that every row has the header's fields")


def read_numeric_table(
    path: Path, id_columns: list[str], value_columns: list[str], what: str
) -> pl.DataFrame:
    """Read ``id_columns`` as text and ``value_columns`` as Float64 (nulls for missing).

    Raises :class:`InputError` naming the first bad cell.
    """
    header = read_header(path)
    schema = {c: pl.String for c in id_columns} | {c: pl.Float64 for c in value_columns}
    try:
        df = pl.read_csv(
            path,
            columns=id_columns + value_columns,
            schema_overrides=schema,
            null_values=NA_VALUES,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.ShapeError) as exc:
        err = _locate_bad_number(path, value_columns, header)
        if err.problem == "cannot parse the table":
            raise InputError(
                path,
                f"cannot parse the {what} table ({str(exc).splitlines()[0]})",
                "check that every row has the same number of fields as the header",
            ) from None
        raise err from None
    if df.height == 0:
        raise InputError(path, f"the {what} file has a header but no data rows", "add data rows")
    # NaN spelled as a number is a missing value too.
    return df.with_columns(pl.col(value_columns).fill_nan(None))


def _values_list(df: pl.DataFrame, samples: list[str]) -> pl.Expr:
    return pl.concat_list([pl.col(s) for s in samples]).alias("values")


# --------------------------------------------------------------------------------------------
@dataclass
class Quantifications:
    samples: list[str]
    table: pl.DataFrame  # chr, start, end, gene_id, file_row, phenotype_idx, values


def read_quantifications(path: Path) -> Quantifications:
    path = _require_file(path, "quantifications")
    header = read_header(path)
    lead = ["chr", "start", "end", "gene_id"]
    if header[:4] != lead:
        raise InputError(
            path,
            f"the header starts with {','.join(header[:4])!r}",
            "start the header with 'chr,start,end,gene_id' followed by the sample IDs",
            line=1,
        )
    samples = header[4:]
    if not samples:
        raise InputError(path, "no sample columns", "add one column per sample", line=1)
    _check_unique(path, header, "column name")
    df = read_numeric_table(path, ["chr", "gene_id"], ["start", "end"] + samples, "quantifications")
    for c in ("start", "end"):
        bad = df[c].is_null() | (df[c] != df[c].round(0))
        if bad.any():
            row = int(bad.arg_true()[0])
            raise InputError(
                path, f"{c} {df[c][row]!r} is not an integer position",
                "write start and end as whole base-pair positions", line=row + 2, column=c,
            )
    bad = df["start"] > df["end"]
    if bad.any():
        row = int(bad.arg_true()[0])
        raise InputError(path, "start > end", "swap start and end", line=row + 2, column="start")
    genes = df["gene_id"].to_list()
    _check_unique(path, genes, "gene_id", line_of=lambda i: i + 2)
    df = df.with_columns(
        pl.col("chr").map_elements(normalize_chromosome, return_dtype=pl.String),
        pl.col("start").cast(pl.Int64),
        pl.col("end").cast(pl.Int64),
        pl.int_range(pl.len(), dtype=pl.Int32).alias("file_row"),
    )
    df = df.with_columns(
        pl.int_range(pl.len(), dtype=pl.Int32).over("chr").alias("phenotype_idx"),
    )
    table = df.select(
        "chr", "phenotype_idx", "file_row", "gene_id", "start", "end", _values_list(df, samples)
    )
    return Quantifications(samples=samples, table=table)


def read_covariates(path: Path, samples: list[str]) -> pl.DataFrame:
    """Covariates: first line = sample IDs; further lines = ``name,v1..vn``.

    Returns ``cov_idx, name, values`` with values in the cohort's sample order.
    """
    path = _require_file(path, "covariates")
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(fh)]
    header = [h.strip() for h in rows[0]]
    _check_unique(path, header, "sample ID")
    _check_samples_present(path, header, samples, "covariates")
    order = [header.index(s) for s in samples]
    names, values = [], []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header) + 1:
            raise InputError(
                path,
                f"{len(row)} fields, expected {len(header) + 1} (a name and one value per sample)",
                "write each covariate as 'name,v1,...,vn' with n = number of sample IDs on line 1",
                line=lineno,
            )
        name = row[0].strip()
        if name in names:
            raise InputError(path, f"duplicate covariate {name!r}", "give each covariate a unique name",
                             line=lineno, column=1)
        vals = []
        for j in order:
            cell = row[j + 1].strip()
            if cell in NA_VALUES:
                vals.append(None)
                continue
            try:
                v = float(cell)
            except ValueError:
                raise InputError(
                    path, f"non-numeric value {cell!r}",
                    "use numbers (encode categories as 0/1 indicator covariates) or leave it empty",
                    line=lineno, column=f"{j + 2} (sample {header[j]!r})",
                ) from None
            vals.append(None if v != v else v)
        names.append(name)
        values.append(vals)
    return pl.DataFrame(
        {"cov_idx": list(range(len(names))), "name": names, "values": values},
        schema={"cov_idx": pl.Int32, "name": pl.String, "values": pl.List(pl.Float64)},
    )


def read_gene_table(path: Path, samples: list[str], genes: list[str], what: str) -> pl.DataFrame:
    """Copy number or phenotype covariate: ``gene_id,<samples>``. Returns ``gene_id, values``."""
    path = _require_file(path, what)
    header = read_header(path)
    if not header or header[0] != "gene_id":
        raise InputError(path, f"the first column is {header[0] if header else ''!r}",
                         "start the header with 'gene_id' followed by the sample IDs", line=1)
    _check_unique(path, header, "column name")
    _check_samples_present(path, header, samples, what)
    df = read_numeric_table(path, ["gene_id"], samples, what)
    _check_unique(path, df["gene_id"].to_list(), "gene_id", line_of=lambda i: i + 2)
    missing = sorted(set(genes) - set(df["gene_id"].to_list()))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError(path, f"{len(missing)} phenotype(s) of the quantification file have no row: {shown}",
                         f"add a row for every gene_id of the quantification file to the {what} file")
    return df.select("gene_id", _values_list(df, samples))


def read_segmentation(path: Path, samples: list[str]) -> pl.DataFrame:
    """``sample,chr,startpos,endpos`` -> ``sample_idx, chr, startpos, endpos`` (cohort samples)."""
    path = _require_file(path, "segmentation")
    header = read_header(path)
    need = ["sample", "chr", "startpos", "endpos"]
    if [h for h in header if h in need] != need or len(header) < 4:
        raise InputError(path, f"header is {','.join(header)!r}",
                         "use the header 'sample,chr,startpos,endpos'", line=1)
    df = read_numeric_table(path, ["sample", "chr"], ["startpos", "endpos"], "segmentation")
    for c in ("startpos", "endpos"):
        bad = df[c].is_null() | (df[c] != df[c].round(0))
        if bad.any():
            row = int(bad.arg_true()[0])
            raise InputError(path, f"{c} {df[c][row]!r} is not an integer position",
                             "write whole base-pair positions", line=row + 2, column=c)
    bad = df["startpos"] > df["endpos"]
    if bad.any():
        row = int(bad.arg_true()[0])
        raise InputError(path, f"startpos {int(df['startpos'][row])} > endpos {int(df['endpos'][row])}",
                         "write each segment as startpos <= endpos (closed interval)",
                         line=row + 2, column="startpos")
    present = set(df["sample"].to_list())
    missing = [s for s in samples if s not in present]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError(path, f"{len(missing)} sample(s) of the quantification file have no segments: {shown}",
                         "add the segmentation of every sample of the quantification file")
    index = pl.DataFrame({"sample": samples, "sample_idx": list(range(len(samples)))},
                         schema={"sample": pl.String, "sample_idx": pl.Int32})
    return (
        df.join(index, on="sample", how="inner")
        .with_columns(
            pl.col("chr").map_elements(normalize_chromosome, return_dtype=pl.String),
            pl.col("startpos").cast(pl.Int64),
            pl.col("endpos").cast(pl.Int64),
        )
        .select("sample_idx", "chr", "startpos", "endpos")
        .sort("sample_idx", "chr", "startpos")
    )


def genotype_files(directory: Path) -> dict[str, tuple[Path, Path]]:
    """Map chromosome -> (ALTlr file, REFlr file) found in a genotype directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(directory, "genotype directory not found",
                         "pass the directory holding chr<C>_ALTlr.csv and chr<C>_REFlr.csv")
    found: dict[str, dict[str, Path]] = {}
    for f in directory.glob("*_*lr.csv"):
        m = re.fullmatch(r"(.+)_(ALT|REF)lr\.csv", f.name)
        if m:
            found.setdefault(normalize_chromosome(m.group(1)), {})[m.group(2)] = f
    if not found:
        raise InputError(directory, "no chr<C>_ALTlr.csv / chr<C>_REFlr.csv files",
                         "put one ALTlr and one REFlr file per chromosome in the directory")
    out = {}
    for chrom, pair in sorted(found.items()):
        for kind, other in (("ALT", "REF"), ("REF", "ALT")):
            if kind not in pair:
                have = pair[other]
                raise InputError(directory / have.name.replace(f"_{other}lr", f"_{kind}lr"),
                                 f"missing: {have.name} has no {kind}lr partner",
                                 f"add the {kind}lr file for {chrom} (or remove {have.name})")
        out[chrom] = (pair["ALT"], pair["REF"])
    return out


def read_genotypes(chrom: str, alt_path: Path, ref_path: Path, samples: list[str]) -> pl.DataFrame:
    """One chromosome's ALTlr/REFlr pair -> ``variant_idx, variant_id, pos, ref, alt, altlr, reflr``."""
    frames = []
    for path in (alt_path, ref_path):
        _require_file(path, "genotype")
        header = read_header(path)
        if not header or header[0] != "ID":
            raise InputError(path, f"the first column is {header[0] if header else ''!r}",
                             "start the header with 'ID' followed by the sample IDs", line=1)
        _check_unique(path, header, "column name")
        _check_samples_present(path, header, samples, "genotype")
        frames.append(read_numeric_table(path, ["ID"], samples, "genotype"))
    alt, ref = frames
    ids = alt["ID"]
    if alt.height != ref.height or not ids.equals(ref["ID"]):
        n = min(alt.height, ref.height)
        diff = (ids.head(n) != ref["ID"].head(n)).fill_null(True)
        row = int(diff.arg_true()[0]) if diff.any() else n
        got = ref["ID"][row] if row < ref.height else "<end of file>"
        want = ids[row] if row < alt.height else "<end of file>"
        raise InputError(ref_path, f"variant IDs differ from {alt_path.name}: {got!r} where the ALTlr file has {want!r}",
                         "write the same ID column, in the same order, in the ALTlr and REFlr files",
                         line=row + 2, column="ID")
    parts = ids.str.extract_groups(_VARIANT_ID.pattern)
    bad = parts.struct.field("1").is_null()
    if bad.any():
        row = int(bad.arg_true()[0])
        raise InputError(alt_path, f"malformed variant ID {ids[row]!r}",
                         "write variant IDs as chr:pos:ref:alt (e.g. chr8:123456:A:G)",
                         line=row + 2, column="ID")
    _check_unique(alt_path, ids.to_list(), "variant ID", line_of=lambda i: i + 2)
    return pl.DataFrame(
        {
            "variant_idx": pl.int_range(alt.height, dtype=pl.Int32, eager=True),
            "variant_id": ids,
            "pos": parts.struct.field("2").cast(pl.Int64),
            "ref": parts.struct.field("3"),
            "alt": parts.struct.field("4"),
            "altlr": alt.select(_values_list(alt, samples)).to_series(),
            "reflr": ref.select(_values_list(ref, samples)).to_series(),
        }
    )
