"""Readers for SegmentQTL's CSV layout, with validation that names file, line and column.

Every reader returns polars frames; numbers are parsed by polars (exact decimal -> double
conversion), empty cells and the usual NA spellings become nulls.  Empty lines are skipped.
Any file may be gzip- or zstd-compressed (``.csv.gz``, ``.csv.zst``; see :mod:`.textio`).
Genotype files are read in blocks of lines (:class:`GenotypeReader`), so their size does not
bound memory, the ALTlr and REFlr files each parsed ahead in a thread of its own; the small
tables are read whole.

Validation is vectorised; the slower diagnostics (a scan of the file's lines) only run when
the fast parse failed or a row may be short (a null in the header's last column).
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import queue
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from ..chromosomes import normalize_chromosome
from ..errors import InputError
from . import textio

NA_VALUES = ["", "NA", "NaN", "nan", "N/A", "NULL", "null", "#N/A", "-nan", "None"]
_VARIANT_ID = re.compile(r"^([^:]+):(\d+):([^:]+):([^:]+)$")
_LINE = "__segqtl_line__"  # 1-based line number of a data row in its file
_MAX_POSITION = 2**53  # larger positions are not exact doubles
#: Largest magnitude a value may have: its square, and sums of squares over millions of
#: samples, stay finite (a value of 1e200 would overflow the fits into NaN or a false
#: collinearity instead of being refused).
MAX_ABS_VALUE = 1e150


def _normalize_chromosome_expr(column: str) -> pl.Expr:
    """Vectorised :func:`normalize_chromosome` of a string column."""
    name = pl.col(column).str.strip_chars()
    # the prefix in any case is the prefix (CHR8, Chr8), exactly as the scalar rule has it
    return (
        pl.when(name.str.slice(0, 3).str.to_lowercase() == "chr")
        .then(pl.lit("chr") + name.str.slice(3))
        .otherwise(pl.lit("chr") + name)
        .alias(column)
    )


#: Text bytes per genotype block: large enough to amortise the per-block work, small enough
#: that the blocks in flight (two files parsed at once, one block waiting for each, frames
#: ~3x their text) stay far below the ingest's memory budget.  16 MB was as fast and
#: ~130 MB larger at peak (issue 13, 250,000 variants x 400 samples).
GENOTYPE_BLOCK_BYTES = 8 << 20


def sha256_file(path: Path) -> str:
    """sha256 of the file's stored bytes (compressed bytes for a compressed file)."""
    with textio.HashingFile(path) as fh:
        while fh.read(8 << 20):
            pass
        return fh.sha256.hexdigest()


def _source(path: Path) -> Path | bytes:
    """What polars reads: the path of a plain file, the decompressed bytes of a compressed one."""
    return textio.read_all(path) if textio.codec_of(path) else path


def _require_file(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        if path.exists():  # a folder, a pipe (<(cmd)), a device: read twice, or not at all
            kind = "a folder" if path.is_dir() else "not a regular file (a pipe or device?)"
            raise InputError(
                path,
                f"the {what} file is {kind}",
                f"pass a {what} file saved on disk (segqtl reads each input more than once)",
            )
        raise InputError(
            path, f"{what} file not found", f"pass the path of an existing {what} file"
        )
    if path.stat().st_size == 0:
        raise InputError(path, f"{what} file is empty", f"write the {what} table into it")
    return path


def _not_text(path: Path) -> InputError:
    return InputError(
        path,
        "not UTF-8 text (a compressed or binary file?)",
        "pass a CSV file saved as UTF-8 (compressed files must be named .csv.gz or .csv.zst)",
    )


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _not_text(path) from None


def _parse_header(path: Path, line: bytes) -> list[str]:
    """A header line's fields as written (a UTF-8 byte-order mark is dropped)."""
    return next(csv.reader([_decode(path, line)]), [])


def _read_raw_header(path: Path) -> list[str]:
    """The first line's fields as written (a UTF-8 byte-order mark is dropped)."""
    return _parse_header(path, textio.first_line(path))


def read_header(path: Path) -> list[str]:
    return [h.strip() for h in _read_raw_header(path)]


def _column(header: list[str], name: str) -> str:
    """``"<1-based index> ('<name>')"`` for error messages."""
    return f"{header.index(name) + 1} ({name!r})" if name in header else repr(name)


def _check_unique(path: Path, names: list[str], what: str):
    """Header fields must be unique (line 1)."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise InputError(
                path,
                f"duplicate {what} {name!r} (first seen at column {seen[name] + 1})",
                f"make every {what} unique",
                line=1,
                column=f"{i + 1} ({name!r})",
            )
        seen[name] = i


#: Column names the quantification reader adds to its table: no sample may be called so.
_RESERVED_COLUMNS = ("file_row", "phenotype_idx", _LINE)


def _check_sample_ids(path: Path, header: list[str], first: int) -> None:
    """The quantification header's sample IDs (``header[first:]``): none empty (a trailing
    comma on every line makes one), none a name of the reader's own columns (line 1)."""
    for i in range(first, len(header)):
        name = header[i]
        if not name:
            raise InputError(
                path,
                "empty sample ID",
                "name every sample column (a comma at the end of every line makes an empty "
                "column: remove it)",
                line=1,
                column=i + 1,
            )
        if name in _RESERVED_COLUMNS:
            raise InputError(
                path,
                f"sample ID {name!r} is the name of a column segqtl adds",
                "rename the sample in every input file",
                line=1,
                column=f"{i + 1} ({name!r})",
            )


def _check_unique_rows(path: Path, df: pl.DataFrame, column: str, what: str, header):
    """Values of ``column`` must be unique; names the first repeat and its first occurrence."""
    values = df[column]
    repeat = ~values.is_first_distinct()
    if repeat.any():
        row = int(repeat.arg_true()[0])
        first = int((values == values[row]).arg_true()[0])
        raise InputError(
            path,
            f"duplicate {what} {values[row]!r} (first seen at line {df[_LINE][first]})",
            f"make every {what} unique",
            line=df[_LINE][row],
            column=_column(header, column),
        )


def _check_samples_present(path: Path, header: list[str], samples: list[str], what: str):
    present = set(header)
    missing = [s for s in samples if s not in present]
    if missing:
        raise InputError(
            path,
            f"{len(missing)} sample(s) of the quantification file are missing from the {what} "
            f"header: {_shown(missing)}",
            f"add a column for every sample of the quantification file to the {what} file",
            line=1,
        )


def _shown(names: list[str]) -> str:
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return ", ".join(names[:5]) + more


# ------------------------------------------------------------------------------ slow diagnostics
def _check_field_counts(
    path: Path, n_fields: int, source: Path | bytes | None = None, first_line: int = 1
) -> set[int]:
    """Raise on the first non-empty line whose field count is not ``n_fields``.

    Returns the line numbers of empty lines (which the readers skip). Vectorised: commas are
    counted per line; only lines holding a quote character are split by the csv module.
    ``source`` (default: ``_source(path)``) starts with the header line, which is line
    ``first_line - 1`` of ``path`` (a genotype block carries a copy of the file's header).
    """
    lines = pl.read_csv(
        _source(path) if source is None else source,
        has_header=False,
        separator="\x1f",
        quote_char=None,
        infer_schema=False,
        new_columns=["text"],
        encoding="utf8-lossy",
        row_index_name="line",
        row_index_offset=first_line - 1,
    ).filter(pl.col("line") >= first_line)
    text = pl.col("text").str.strip_chars("\r\n")
    lines = lines.with_columns(
        blank=text.is_null() | (text.str.strip_chars() == ""),
        n=pl.col("text").str.count_matches(",", literal=True) + 1,
        quoted=pl.col("text").str.contains('"', literal=True).fill_null(False),
    )
    quoted = lines.filter(pl.col("quoted") & ~pl.col("blank"))
    if quoted.height:
        counts = [len(next(csv.reader([t.rstrip("\r\n")]), [])) for t in quoted["text"]]
        fixed = pl.DataFrame(
            {"line": quoted["line"], "n_csv": counts},
            schema={"line": lines.schema["line"], "n_csv": pl.Int64},
        )
        lines = lines.join(fixed, on="line", how="left").with_columns(
            n=pl.coalesce(pl.col("n_csv"), pl.col("n").cast(pl.Int64))
        )
    bad = lines.filter(~pl.col("blank") & (pl.col("n") != n_fields))
    if bad.height:
        n, line = int(bad["n"][0]), int(bad["line"][0])
        raise InputError(
            path,
            f"{n} field{'s' if n != 1 else ''}, expected {n_fields} (one per header column)",
            "give every row as many comma-separated fields as the header (line 1) has",
            line=line,
        )
    return set(lines.filter(pl.col("blank"))["line"].to_list())


def _check_lines_field_counts(
    path: Path, n_fields: int, source: bytes, first_line: int, lines: list[int]
) -> set[int]:
    """:func:`_check_field_counts` of some lines only (those that may be short or blank).

    ``source`` is a header line then lines ``first_line, first_line + 1, ...`` of ``path``.
    """
    ends = np.flatnonzero(np.frombuffer(source, dtype=np.uint8) == ord("\n"))
    blank = set()
    for line in lines:
        k = line - first_line + 1  # index of the line in source (the header is 0)
        start = int(ends[k - 1]) + 1
        text = source[start : int(ends[k]) if k < len(ends) else len(source)].rstrip(b"\r\n")
        if not text.strip():
            blank.add(line)
            continue
        if b'"' in text:
            n = len(next(csv.reader([text.decode("utf-8", "replace")]), []))
        else:
            n = text.count(b",") + 1
        if n != n_fields:
            raise InputError(
                path,
                f"{n} field{'s' if n != 1 else ''}, expected {n_fields} (one per header column)",
                "give every row as many comma-separated fields as the header (line 1) has",
                line=line,
            )
    return blank


def _locate_bad_number(
    path: Path, columns: list[str], header: list[str], raw_of, source=None, first_line: int = 2
) -> InputError:
    """Find the first non-numeric cell among ``columns``."""
    raw = pl.read_csv(
        _source(path) if source is None else source,
        infer_schema=False,
        columns=[raw_of[c] for c in columns],
        null_values=NA_VALUES,
        row_index_name=_LINE,
        row_index_offset=first_line,
    )

    def non_numeric(raw_col):
        col = raw_col.str.strip_chars()
        return col.is_not_null() & (col != "") & col.cast(pl.Float64, strict=False).is_null()

    def blank_after(raw_col):  # a number, but the parser stops at blanks after one
        return raw_col.is_not_null() & (raw_col != raw_col.str.strip_chars_end())

    checks = [
        (non_numeric, "non-numeric value {!r}", "use numbers, or leave the cell empty (or NA) "
         "for a missing value"),
        (blank_after, "value {!r} has a blank after the number", "remove blanks and tabs "
         "between a number and the next separator"),
    ]  # fmt: skip
    for bad_in, problem, fix in checks:  # every column for the first kind, then the next
        for name in columns:
            raw_col = raw[raw_of[name]]
            bad = bad_in(raw_col)
            if bad.any():
                row = int(bad.arg_true()[0])
                shown = raw_col[row].strip() if bad_in is non_numeric else raw_col[row]
                return InputError(
                    path,
                    problem.format(shown),
                    fix,
                    line=raw[_LINE][row],
                    column=_column(header, name),
                )
    return InputError(
        path, "cannot parse the table", "check that every row has the header's fields"
    )


def read_numeric_table(
    path: Path,
    id_columns: list[str],
    value_columns: list[str],
    what: str,
    *,
    source: Path | bytes | None = None,
    raw_header: list[str] | None = None,
    first_line: int = 2,
    require_rows: bool = True,
    array: str | None = None,
) -> pl.DataFrame:
    """Read ``id_columns`` as text and ``value_columns`` as Float64 (nulls for missing).

    Header names are matched after stripping blanks. Empty lines are skipped; ID cells must
    not be empty. The result carries each row's line number in a private column.
    Raises :class:`InputError` naming the first bad line or cell.

    ``source`` is the text to parse (default: the file): a header line then data rows, the
    first of which is line ``first_line`` of ``path``.  ``raw_header`` is its header's fields
    if already read.  ``require_rows=False`` accepts a block without data rows.  With
    ``array``, the value columns come back as one column of that name, ``Array(Float64, n)``
    with n = ``len(value_columns)`` (row-major, as the warehouse stores genotypes), instead of
    one column each.
    """
    source = _source(path) if source is None else source
    if raw_header is None:
        raw_header = _read_raw_header(path)
    header = [h.strip() for h in raw_header]
    raw_of = dict(zip(header, raw_header, strict=True))
    last = header[-1]
    wanted = id_columns + value_columns
    extra = [] if last in wanted else [last]  # read to spot short rows
    schema = {raw_of[c]: pl.String for c in id_columns + extra} | {
        raw_of[c]: pl.Float64 for c in value_columns
    }

    # When every column is read, a full schema spares polars the projection (a quarter of
    # the parse of a wide genotype block); the parse is the same either way.
    every = len(set(raw_header)) == len(raw_header) == len(schema)

    def parse(null_values):
        if every:
            return pl.read_csv(
                source,
                schema={c: schema[c] for c in raw_header},
                null_values=null_values,
                row_index_name=_LINE,
                row_index_offset=first_line,
            )
        return pl.read_csv(
            source,
            columns=[raw_of[c] for c in wanted + extra],
            schema_overrides=schema,
            null_values=null_values,
            row_index_name=_LINE,
            row_index_offset=first_line,
        )

    try:
        # Matching NA spellings slows the parse by a third; most files write missing values
        # as empty cells (null either way) or NaN (nulled below), so try without first.
        df = parse(None)
        text = [raw_of[c] for c in id_columns + extra]
        df = df.with_columns(
            pl.when(pl.col(text).is_in(NA_VALUES)).then(None).otherwise(pl.col(text)).name.keep()
        )
    except pl.exceptions.PolarsError:
        try:
            df = parse(NA_VALUES)
        except pl.exceptions.PolarsError as exc:
            raise _diagnose(
                path, header, value_columns, raw_of, what, exc, source, first_line
            ) from None
    df = df.rename({raw_of[c]: c for c in wanted + extra if raw_of[c] != c})
    blank: set[int] = set()
    if df.height and df[last].null_count():  # a short row leaves the last column empty
        if isinstance(source, bytes):
            lines = df.filter(pl.col(last).is_null())[_LINE].to_list()
            blank = _check_lines_field_counts(path, len(header), source, first_line, lines)
        else:
            blank = _check_field_counts(path, len(header), source, first_line)
    if blank:
        df = df.filter(~pl.col(_LINE).is_in(sorted(blank)))
    if df.height == 0 and require_rows:
        raise InputError(path, f"the {what} file has a header but no data rows", "add data rows")
    df = df.with_columns(
        [pl.col(c).str.strip_chars().replace("", None) for c in id_columns]
        # NaN spelled as a number is a missing value too (for ``array``: below).
        + ([] if array else [pl.col(value_columns).fill_nan(None)])
    )
    for c in id_columns:
        empty = df[c].is_null()
        if empty.any():
            row = int(empty.arg_true()[0])
            raise InputError(
                path,
                f"empty {c}",
                f"fill the {c} column in every data row (or delete the row)",
                line=df[_LINE][row],
                column=_column(header, c),
            )
    if array:
        values = _values_array(path, df, value_columns, header).alias(array)
        return df.select(_LINE, *id_columns).with_columns(values)
    _check_finite(path, df, value_columns, header)
    return df.drop(extra)


def _values_array(path: Path, df: pl.DataFrame, columns: list[str], header: list[str]):
    """``columns`` of ``df`` as one ``Array(Float64, len(columns))`` series, NaN as null.

    Refuses an infinite value as :func:`_check_finite` does (same cell, same message).  Built
    with numpy and Arrow: ``pl.concat_arr`` over hundreds of columns runs on one core and
    costs as much as the parse.

    Returns
    -------
    pl.Series, shape (rows,) of arrays of shape (len(columns),)
    """
    # (rows, columns), row-major as DOUBLE[n] stores them, nulls as NaN
    values = df.select(columns).to_numpy(order="c")
    infinite = np.abs(values) > MAX_ABS_VALUE  # inf too; NaN (missing) compares False
    if infinite.any():
        row = int(np.flatnonzero(infinite.any(axis=1))[0])
        j = int(np.flatnonzero(infinite[row])[0])
        raise _too_large(path, float(values[row, j]), df[_LINE][row], _column(header, columns[j]))
    del infinite
    flat = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)  # a view, no copy
    nulls = np.isnan(flat)
    child = pa.array(flat, mask=nulls) if nulls.any() else pa.array(flat)
    return pl.Series(pa.FixedSizeListArray.from_arrays(child, len(columns)))


def _too_large(path: Path, value: float, line: int, column: str, shown=None) -> InputError:
    """The error for a value beyond :data:`MAX_ABS_VALUE` (infinite or just huge); ``shown``
    is the cell as written, when the caller has it."""
    shown = str(value) if shown is None else shown
    if math.isinf(value):
        return InputError(
            path,
            f"infinite value '{shown}'",
            "write a finite number, or leave the cell empty (or NA) for a missing value",
            line=line,
            column=column,
        )
    return InputError(
        path,
        f"value '{shown}' is too large (above {MAX_ABS_VALUE:g} in magnitude, its square "
        "overflows)",
        "check the value, rescale the row (e.g. log or z-score), or leave the cell empty (or NA)",
        line=line,
        column=column,
    )


def _check_finite(path: Path, df: pl.DataFrame, columns: list[str], header: list[str]) -> None:
    """Refuse an infinite or huge value ('inf', 1e999, 1e200; :data:`MAX_ABS_VALUE`): no fit
    can use it, and it would turn whole phenotypes into NaN (or fake a collinearity) instead
    of being skipped like a missing value."""
    if not columns or df.height == 0:
        return
    huge = [pl.col(c).abs() > MAX_ABS_VALUE for c in columns]
    bad = df.select(pl.any_horizontal(huge).alias("x"))["x"]
    if not bad.any():
        return
    row = int(bad.arg_true()[0])
    name = next(c for c in columns if abs(df[c][row] or 0.0) > MAX_ABS_VALUE)
    raise _too_large(path, float(df[name][row]), df[_LINE][row], _column(header, name))


def _diagnose(
    path, header, value_columns, raw_of, what, exc, source, first_line: int = 2
) -> InputError:
    """After a failed parse: the first short/long row, else the first non-numeric cell."""
    try:
        _check_field_counts(path, len(header), source, first_line)
        err = _locate_bad_number(path, value_columns, header, raw_of, source, first_line)
    except InputError as found:
        return found
    except pl.exceptions.PolarsError:
        err = None
    if err is None or err.problem == "cannot parse the table":
        if "utf-8" in str(exc).lower() or "utf8" in str(exc).lower():
            return _not_text(path)
        return InputError(
            path,
            f"cannot parse the {what} table ({str(exc).splitlines()[0]})",
            "check that every row has the same number of fields as the header",
        )
    return err


def _check_positions(path: Path, df: pl.DataFrame, columns: list[str], header, fix: str):
    """Position columns: present, whole, non-negative and not absurdly large."""
    for c in columns:
        x = df[c]
        bad = x.is_null()
        if bad.any():
            row = int(bad.arg_true()[0])
            raise InputError(
                path, f"missing {c}", fix, line=df[_LINE][row], column=_column(header, c)
            )
        bad = ~x.is_finite() | (x != x.round(0)) | (x < 0) | (x > _MAX_POSITION)
        if bad.any():
            row = int(bad.arg_true()[0])
            raise InputError(
                path,
                f"{c} {x[row]!r} is not a non-negative integer position",
                fix,
                line=df[_LINE][row],
                column=_column(header, c),
            )


def _values_list(df: pl.DataFrame, samples: list[str]) -> pl.Expr:
    """Per row, the samples' values as a list (nulls kept). ``concat_arr`` is ~10x faster than
    ``concat_list`` over many columns."""
    return pl.concat_arr(samples).cast(pl.List(pl.Float64)).alias("values")


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
    _check_sample_ids(path, header, 4)
    _check_unique(path, header, "column name")
    df = read_numeric_table(path, ["chr", "gene_id"], ["start", "end"] + samples, "quantifications")
    _check_positions(
        path, df, ["start", "end"], header, "write start and end as whole base-pair positions"
    )
    bad = df["start"] > df["end"]
    if bad.any():
        row = int(bad.arg_true()[0])
        raise InputError(
            path,
            f"start {int(df['start'][row])} > end {int(df['end'][row])}",
            "swap start and end",
            line=df[_LINE][row],
            column=_column(header, "start"),
        )
    _check_unique_rows(path, df, "gene_id", "gene_id", header)
    df = df.with_columns(
        _normalize_chromosome_expr("chr"),
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
    rows = list(csv.reader(io.StringIO(_decode(path, textio.read_all(path)), newline="")))
    if not rows:  # a compressed file holding nothing
        raise InputError(path, "covariates file is empty", "write the covariates table into it")
    header = [h.strip() for h in rows[0]]
    _check_unique(path, header, "sample ID")
    _check_samples_present(path, header, samples, "covariates")
    order = [header.index(s) for s in samples]
    names, values = [], []
    first_line: dict[str, int] = {}
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
        if not name:
            raise InputError(
                path,
                "empty covariate name",
                "start the line with the covariate's name",
                line=lineno,
                column=1,
            )
        if name in first_line:
            raise InputError(
                path,
                f"duplicate covariate {name!r} (first seen at line {first_line[name]})",
                "give each covariate a unique name",
                line=lineno,
                column=1,
            )
        first_line[name] = lineno
        vals = []
        for j in order:
            cell = row[j + 1].strip()
            if cell in NA_VALUES:
                vals.append(None)
                continue
            try:
                # float() also reads '1_000' and other scripts' digits; the other files'
                # parser does not, so neither do the covariates
                if not cell.isascii() or "_" in cell:
                    raise ValueError(cell)
                v = float(cell)
            except ValueError:
                raise InputError(
                    path,
                    f"non-numeric value {cell!r}",
                    "use numbers (encode categories as 0/1 indicator covariates) or leave it empty",
                    line=lineno,
                    column=f"{j + 2} (sample {header[j]!r})",
                ) from None
            if abs(v) > MAX_ABS_VALUE:
                raise _too_large(path, v, lineno, f"{j + 2} (sample {header[j]!r})", cell)
            vals.append(None if v != v else v)
        if all(v is None for v in vals):
            raise InputError(
                path,
                f"covariate {name!r} is missing in every sample",
                "fill in its values, or delete the line (no sample could be fitted with it)",
                line=lineno,
                column=1,
            )
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
        raise InputError(
            path,
            f"the first column is {header[0] if header else ''!r}",
            "start the header with 'gene_id' followed by the sample IDs",
            line=1,
        )
    _check_unique(path, header, "column name")
    _check_samples_present(path, header, samples, what)
    df = read_numeric_table(path, ["gene_id"], samples, what)
    _check_unique_rows(path, df, "gene_id", "gene_id", header)
    missing = pl.Series(genes, dtype=pl.String)
    missing = missing.filter(~missing.is_in(df["gene_id"].implode())).to_list()
    if missing:
        raise InputError(
            path,
            f"{len(missing)} phenotype(s) of the quantification file have no row: "
            f"{_shown(missing)}",
            f"add a row for every gene_id of the quantification file to the {what} file",
        )
    return df.select("gene_id", _values_list(df, samples))


def read_segmentation(path: Path, samples: list[str]) -> pl.DataFrame:
    """``sample,chr,startpos,endpos`` -> ``sample_idx, chr, startpos, endpos`` (cohort samples)."""
    path = _require_file(path, "segmentation")
    header = read_header(path)
    need = ["sample", "chr", "startpos", "endpos"]
    if [h for h in header if h in need] != need:
        raise InputError(
            path,
            f"header is {','.join(header)!r}",
            "use the header 'sample,chr,startpos,endpos'",
            line=1,
        )
    _check_unique(path, header, "column name")
    df = read_numeric_table(path, ["sample", "chr"], ["startpos", "endpos"], "segmentation")
    _check_positions(path, df, ["startpos", "endpos"], header, "write whole base-pair positions")
    bad = df["startpos"] > df["endpos"]
    if bad.any():
        row = int(bad.arg_true()[0])
        raise InputError(
            path,
            f"startpos {int(df['startpos'][row])} > endpos {int(df['endpos'][row])}",
            "write each segment as startpos <= endpos (closed interval)",
            line=df[_LINE][row],
            column=_column(header, "startpos"),
        )
    present = set(df["sample"].unique().to_list())
    missing = [s for s in samples if s not in present]
    if missing:
        raise InputError(
            path,
            f"{len(missing)} sample(s) of the quantification file have no segments: "
            f"{_shown(missing)}",
            "add the segmentation of every sample of the quantification file",
        )
    index = pl.DataFrame(
        {"sample": samples, "sample_idx": list(range(len(samples)))},
        schema={"sample": pl.String, "sample_idx": pl.Int32},
    )
    return (
        df.join(index, on="sample", how="inner")
        .with_columns(
            _normalize_chromosome_expr("chr"),
            pl.col("startpos").cast(pl.Int64),
            pl.col("endpos").cast(pl.Int64),
        )
        .select("sample_idx", "chr", "startpos", "endpos")
        .sort("sample_idx", "chr", "startpos")
    )


_GENOTYPE_FILE = re.compile(r"(.+)_(ALT|REF)lr\.csv(\.gz|\.zst)?", re.IGNORECASE)


def genotype_files(directory: Path) -> dict[str, tuple[Path, Path]]:
    """Map chromosome -> (ALTlr file, REFlr file) found in a genotype directory.

    Each file may be plain (``chr1_ALTlr.csv``) or compressed (``chr1_ALTlr.csv.gz``,
    ``.csv.zst``); the two files of a pair need not be compressed alike.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(
            directory,
            "genotype directory not found",
            "pass the directory holding chr<C>_ALTlr.csv and chr<C>_REFlr.csv",
        )
    found: dict[str, dict[str, Path]] = {}
    for f in sorted(directory.glob("*_*lr.csv*")):
        m = _GENOTYPE_FILE.fullmatch(f.name)
        if not m or m.group(2) not in ("ALT", "REF"):
            continue
        pair = found.setdefault(normalize_chromosome(m.group(1)), {})
        if m.group(2) in pair:
            raise InputError(
                f,
                f"a second {m.group(2)}lr file for {normalize_chromosome(m.group(1))} "
                f"(besides {pair[m.group(2)].name})",
                "keep one file per chromosome and kind (plain, .gz or .zst)",
            )
        pair[m.group(2)] = f
    if not found:
        raise InputError(
            directory,
            "no chr<C>_ALTlr.csv / chr<C>_REFlr.csv files",
            "put one ALTlr and one REFlr file per chromosome in the directory",
        )
    out = {}
    for chrom, pair in sorted(found.items()):
        for kind, other in (("ALT", "REF"), ("REF", "ALT")):
            if kind not in pair:
                have = pair[other]
                raise InputError(
                    directory / have.name.replace(f"_{other}lr", f"_{kind}lr"),
                    f"missing: {have.name} has no {kind}lr partner",
                    f"add the {kind}lr file for {chrom} (or remove {have.name})",
                )
        out[chrom] = (pair["ALT"], pair["REF"])
    return out


@dataclass
class _GenotypeFile:
    """One open genotype file: its blocks, parsed header, and the parsed rows not yet used.

    ``parsed`` (set by :meth:`GenotypeReader.__iter__`) parses the blocks ahead in a thread
    of its own, so that the ALTlr and REFlr files are parsed at the same time.
    """

    path: Path
    stream: textio.Stream
    blocks: textio.LineBlocks
    raw_header: list[str]
    header: list[str]
    pending: pl.DataFrame | None = None
    done: bool = False
    last_line: int = 1  # line of the last data row parsed so far
    parsed: Prefetched | None = None

    @property
    def n_pending(self) -> int:
        return 0 if self.pending is None else self.pending.height

    def close(self) -> None:
        """Stop the parsing thread, then close the file (in this order: it reads the file)."""
        try:
            if self.parsed is not None:
                self.parsed.close()
        finally:
            self.stream.close()


def _open_genotype_file(path: Path, samples: list[str], block_bytes: int) -> _GenotypeFile:
    _require_file(path, "genotype")
    stream = textio.Stream(path)
    try:
        blocks = textio.LineBlocks(stream, block_bytes)
        raw_header = _parse_header(path, blocks.header.rstrip(b"\r\n"))
        header = [h.strip() for h in raw_header]
        if not header or header[0] != "ID":
            raise InputError(
                path,
                f"the first column is {header[0] if header else ''!r}",
                "start the header with 'ID' followed by the sample IDs",
                line=1,
            )
        _check_unique(path, header, "column name")
        _check_samples_present(path, header, samples, "genotype")
    except BaseException:
        stream.close()
        raise
    # Every block starts with a copy of the header, so that it parses as a CSV file of its own.
    prefix = blocks.header.removeprefix(b"\xef\xbb\xbf")
    blocks.prefix = prefix if prefix.endswith(b"\n") else prefix + b"\n"
    return _GenotypeFile(path, stream, blocks, raw_header, header)


def _parse_blocks(f: _GenotypeFile, samples: list[str]) -> Iterator[pl.DataFrame]:
    """The file's blocks of lines, parsed and checked: ``ID, <line>, values`` frames
    (``values``: ``Array(Float64, len(samples))`` in ``samples`` order)."""
    for first, data in f.blocks:
        frame = read_numeric_table(
            f.path,
            ["ID"],
            samples,
            "genotype",
            source=data,
            raw_header=f.raw_header,
            first_line=first,
            require_rows=False,
            array="values",
        )
        yield frame.select("ID", pl.col(_LINE).cast(pl.Int64), "values")


def _read_block(f: _GenotypeFile) -> None:
    """Take the file's next parsed block and append its rows to ``f.pending``."""
    frame = next(f.parsed, None)
    if frame is None:
        f.done = True
        return
    if frame.height:
        f.last_line = int(frame[_LINE][-1])
    f.pending = frame if f.pending is None else pl.concat([f.pending, frame], rechunk=False)


class Prefetched:
    """The items of ``iterable``, produced ahead in a thread of their own.

    At most ``depth`` items wait, done, for the consumer.  An error raised while producing an
    item is raised by ``next`` in the consumer's thread, in the item's place, so the consumer
    sees items and errors in the order it would have made them itself.  ``close`` stops the
    thread (after the item in hand) and waits for it.  Parsing (polars), hashing, reading and
    DuckDB's appends all release the GIL, so the threads share both cores.
    """

    def __init__(self, iterable, depth: int = 1, name: str = "segqtl-prefetch"):
        self._slot: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._run, args=(iterable,), name=name, daemon=True)
        self._thread.start()

    def _run(self, iterable) -> None:
        source = iter(iterable)
        try:
            for item in source:
                if not self._put(("item", item)):
                    return
            self._put(("end", None))
        except BaseException as exc:  # handed to the consumer's thread
            self._put(("error", exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def _put(self, entry) -> bool:
        while not self._stop.is_set():
            try:
                self._slot.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Prefetched:
        return self

    def __next__(self):
        if self._finished:
            raise StopIteration
        kind, item = self._slot.get()
        if kind == "item":
            return item
        self._finished = True
        if kind == "error":
            raise item
        raise StopIteration

    def close(self) -> None:
        self._stop.set()
        self._finished = True
        with contextlib.suppress(queue.Empty):
            while True:  # drop what waits, unblocking the producer
                self._slot.get_nowait()
        self._thread.join()


def _ids_differ(alt: _GenotypeFile, ref: _GenotypeFile, got: str, want: str, line: int):
    """The error for the first row where the REFlr file's ID is not the ALTlr file's."""
    return InputError(
        ref.path,
        f"variant IDs differ from {alt.path.name}: {got!r} where the ALTlr file has {want!r}",
        "write the same ID column, in the same order, in the ALTlr and REFlr files",
        line=line,
        column="1 ('ID')",
    )


@dataclass
class GenotypeBlock:
    """Checked rows of one chromosome: ``variant_idx, variant_id, pos, ref, alt, altlr, reflr``
    (``altlr``/``reflr``: ``Array(Float64, n_samples)`` in the cohort's sample order)."""

    frame: pl.DataFrame


class GenotypeReader:
    """Stream one chromosome's ALTlr/REFlr pair as checked blocks of variants.

    Iterating yields :class:`GenotypeBlock` s with contiguous ``variant_idx`` from 0.  Every
    check of the whole-file reader is applied block by block (header, samples, field counts,
    numeric cells, ID format, same IDs in ALT and REF); unique IDs are checked when the last
    block has been read, which is when ``n_variants`` and ``checksums`` (sha256 of each
    file's stored bytes, computed while reading) become available.  Each file is read and
    parsed one block ahead in a thread of its own (:class:`Prefetched`); errors still surface
    in the order of a one-thread read, in the iterating thread.

    Parameters
    ----------
    chrom : str
        Normalised chromosome name.
    alt_path, ref_path : Path
        The ALTlr and REFlr files (plain, ``.gz`` or ``.zst``).
    samples : list of str
        The cohort's samples, in the order of the arrays.
    block_bytes : int, optional
        Text bytes read per block of each file (default :data:`GENOTYPE_BLOCK_BYTES`).
    """

    def __init__(
        self,
        chrom: str,
        alt_path: Path,
        ref_path: Path,
        samples: list[str],
        block_bytes: int | None = None,
    ):
        self.chrom = chrom
        self.samples = list(samples)
        self.alt_path, self.ref_path = Path(alt_path), Path(ref_path)
        self.block_bytes = GENOTYPE_BLOCK_BYTES if block_bytes is None else block_bytes
        self.n_variants = 0
        self.checksums: dict[Path, str] = {}
        self._warned_chromosome = False

    def _warn_other_chromosome(self, alt, a: pl.DataFrame, ids: pl.Series, named: pl.Series):
        """Warn (once per file pair) when a variant ID names another chromosome than the
        file's: the variant is stored on the file's chromosome, which the cis windows use."""
        import warnings

        names = pl.DataFrame({"c": named}).select(_normalize_chromosome_expr("c"))["c"]
        other = names != self.chrom
        if not other.any():
            return
        row = int(other.arg_true()[0])
        self._warned_chromosome = True
        warnings.warn(
            f"{alt.path}, line {a[_LINE][row]}: variant ID {ids[row]!r} names "
            f"{names[row]}, but the file holds {self.chrom}'s variants (it is stored on "
            f"{self.chrom}; {int(other.sum())} such ID(s) in this block). Fix: check that the "
            "file is the chromosome's",
            stacklevel=2,
        )

    def __iter__(self) -> Iterator[GenotypeBlock]:
        samples = self.samples
        alt = _open_genotype_file(self.alt_path, samples, self.block_bytes)
        try:
            ref = _open_genotype_file(self.ref_path, samples, self.block_bytes)
        except BaseException:
            alt.stream.close()
            raise
        ids, lines = [], []
        try:
            for f, kind in ((alt, "alt"), (ref, "ref")):
                name = f"segqtl-parse-{kind}-{self.chrom}"
                f.parsed = Prefetched(_parse_blocks(f, samples), name=name)
            while True:
                # Read on the side that has fewer rows waiting, so the two stay in step
                # whatever their line lengths.
                lagging = alt if alt.n_pending <= ref.n_pending else ref
                if lagging.done:
                    lagging = ref if lagging is alt else alt
                if lagging.done:
                    break
                _read_block(lagging)
                n = min(alt.n_pending, ref.n_pending)
                if n == 0:
                    continue
                a, alt.pending = alt.pending.head(n), alt.pending.slice(n)
                r, ref.pending = ref.pending.head(n), ref.pending.slice(n)
                block = self._check(alt, ref, a, r)
                ids.append(a["ID"])
                lines.append(a[_LINE])
                yield block
            if ref.n_pending:  # the ALTlr file ended first
                raise _ids_differ(
                    alt, ref, ref.pending["ID"][0], "<end of file>", ref.pending[_LINE][0]
                )
            if alt.n_pending:  # the REFlr file ended first: point after its last row
                got = "<end of file>"
                raise _ids_differ(alt, ref, got, alt.pending["ID"][0], ref.last_line + 1)
            if self.n_variants == 0:
                raise InputError(
                    alt.path, "the genotype file has a header but no data rows", "add data rows"
                )
            _check_unique_rows(
                alt.path,
                pl.DataFrame({"ID": pl.concat(ids), _LINE: pl.concat(lines)}),
                "ID",
                "variant ID",
                alt.header,
            )
            for f in (alt, ref):  # the parsing threads have read to the end: stop them
                f.parsed.close()
            self.checksums = {f.path: f.stream.digest() for f in (alt, ref)}
        finally:
            try:
                alt.close()
            finally:
                ref.close()

    def _check(self, alt: _GenotypeFile, ref: _GenotypeFile, a, r) -> GenotypeBlock:
        same = (a["ID"] == r["ID"]).fill_null(False)
        if not same.all():
            row = int((~same).arg_true()[0])
            raise _ids_differ(alt, ref, r["ID"][row], a["ID"][row], r[_LINE][row])
        ids = a["ID"]
        parts = ids.str.extract_groups(_VARIANT_ID.pattern)
        pos = parts.struct.field("2").cast(pl.Int64, strict=False)
        bad = parts.struct.field("1").is_null() | pos.is_null() | (pos > _MAX_POSITION)
        if bad.any():
            row = int(bad.arg_true()[0])
            raise InputError(
                alt.path,
                f"malformed variant ID {ids[row]!r}",
                "write variant IDs as chr:pos:ref:alt (e.g. chr8:123456:A:G)",
                line=a[_LINE][row],
                column="1 ('ID')",
            )
        if not self._warned_chromosome:
            self._warn_other_chromosome(alt, a, ids, parts.struct.field("1"))
        start = self.n_variants
        self.n_variants += a.height
        frame = pl.DataFrame(
            {
                "variant_idx": pl.int_range(start, start + a.height, dtype=pl.Int32, eager=True),
                "variant_id": ids,
                "pos": pos,
                "ref": parts.struct.field("3"),
                "alt": parts.struct.field("4"),
                "altlr": a["values"],
                "reflr": r["values"],
            }
        )
        return GenotypeBlock(frame)


def read_genotypes(chrom: str, alt_path: Path, ref_path: Path, samples: list[str]) -> pl.DataFrame:
    """One chromosome's ALTlr/REFlr pair, whole (small files; ingest streams them).

    Returns ``variant_idx, variant_id, pos, ref, alt, altlr, reflr`` (``altlr``/``reflr``:
    lists of the samples' values, nulls kept).
    """
    frames = [b.frame for b in GenotypeReader(chrom, alt_path, ref_path, samples)]
    return pl.concat(frames).with_columns(
        pl.col("altlr").cast(pl.List(pl.Float64)), pl.col("reflr").cast(pl.List(pl.Float64))
    )
