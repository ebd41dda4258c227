"""Text renderings of result frames for stdout: an aligned table, CSV, TSV or JSON.

:func:`format_frame` renders a polars frame; :func:`format_rows` renders DuckDB's rows of plain
columns (:func:`plain_columns`) to the same text, byte for byte, without polars, whose import
costs more than ``segqtl query``'s whole work (issue 13).
"""

from __future__ import annotations

import math
import re
import sys
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl


FORMATS = ("table", "csv", "tsv", "json")

# Control characters would break the one-row-per-line layouts (table rows, key<TAB>value).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def format_frame(df: pl.DataFrame, fmt: str = "table") -> str:
    """Render ``df`` as text (no trailing newline).

    Parameters
    ----------
    df : polars.DataFrame
        Any frame; nested values (lists, arrays, structs) are shown as JSON text.
    fmt : {"table", "csv", "tsv", "json"}
        ``table``: aligned columns for reading, numbers right-aligned, NULL as an empty cell,
        control characters escaped (``\\t``, ``\\n``, ...).
        ``csv``/``tsv``: a header row then the rows (floats in their shortest round-trip form,
        fields quoted as needed).
        ``json``: an array of objects, one per row (NULL, NaN and infinities as ``null``;
        decimals as numbers; times, dates and durations as ISO text).
    """
    if fmt == "json":
        import json

        rows = [{k: json_value(v) for k, v in row.items()} for row in df.iter_rows(named=True)]
        return json.dumps(rows, indent=1, ensure_ascii=False, allow_nan=False)
    import polars as pl  # here, not at import: the command line starts without polars

    nested = [c for c, t in df.schema.items() if t.is_nested()]
    flat = df.with_columns(
        pl.Series(c, [_nested_text(v) for v in df[c].to_list()], dtype=pl.String) for c in nested
    )
    if fmt in ("csv", "tsv"):
        text = flat.write_csv(separator="," if fmt == "csv" else "\t")
        return text.rstrip("\n")
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return _table(flat)


#: DuckDB column types that :func:`format_rows` renders as :func:`format_frame` renders them
#: after DuckDB's ``.pl()``.  The others (DECIMAL, HUGEINT: polars decimals; FLOAT; nested,
#: INTERVAL, time zones, ...) go through polars.
INTEGER_TYPES = frozenset(
    ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")
)
PLAIN_TYPES = INTEGER_TYPES | {"DOUBLE", "VARCHAR", "BOOLEAN", "DATE", "TIMESTAMP", '"NULL"'}


def plain_columns(
    columns: list[str], types: list[str], kinds: frozenset[str] = PLAIN_TYPES
) -> bool:
    """Whether :func:`format_rows` renders a result with these column names and DuckDB types
    (``str`` of a relation's ``types``): every type plain (one of ``kinds``), and no name twice
    (polars renames the second)."""
    return len(set(columns)) == len(columns) and all(t in kinds for t in types)


def right_aligned(dtype: str) -> bool:
    """Whether the aligned table right-aligns a column of this DuckDB type (numbers)."""
    return dtype in INTEGER_TYPES or dtype == "DOUBLE"


def format_rows(columns: list[str], types: list[str], rows: list[tuple], fmt: str = "table") -> str:
    """Render DuckDB's ``rows`` (``fetchall()``) of plain columns as :func:`format_frame` renders
    the same result as a polars frame, byte for byte.

    Parameters
    ----------
    columns : list of str, length n_columns
        Column names.
    types : list of str, length n_columns
        DuckDB types, each in :data:`PLAIN_TYPES` (:func:`plain_columns`).
    rows : list of tuple, n_rows tuples of n_columns values
        The rows as DuckDB returns them (None for NULL).
    fmt : {"table", "csv", "tsv", "json"}
        As in :func:`format_frame`.
    """
    if fmt == "json":
        import json

        out = [{k: json_value(v) for k, v in zip(columns, row, strict=True)} for row in rows]
        return json.dumps(out, indent=1, ensure_ascii=False, allow_nan=False)
    values = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    if fmt in ("csv", "tsv"):
        sep = "," if fmt == "csv" else "\t"
        cells = [_csv_column(col, t, sep) for col, t in zip(values, types, strict=True)]
        header = sep.join(_csv_text(c, sep) for c in columns)
        text = "\n".join([header, *map(sep.join, zip(*cells, strict=True))]) + "\n"
        return text.rstrip("\n")
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    numeric = [right_aligned(t) for t in types]
    cells = [_table_column(col, t) for col, t in zip(values, types, strict=True)]
    return _aligned([escape_control(c) for c in columns], cells, numeric)


def json_value(v):
    """A Python value from a frame or the database as something :func:`json.dumps` accepts."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    # a Decimal only exists once the decimal module is loaded (not imported here: start-up)
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(v, decimal.Decimal):
        return float(v) if v.is_finite() else None
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date | time):
        return v.isoformat()
    if isinstance(v, timedelta):
        return str(v)
    if isinstance(v, bytes | bytearray):
        return v.hex()
    if isinstance(v, list | tuple):
        return [json_value(x) for x in v]
    if isinstance(v, dict):
        return {k: json_value(x) for k, x in v.items()}
    return v


def escape_control(text: str) -> str:
    """``text`` with control characters written as escapes, so it stays on one line."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def _nested_text(v) -> str | None:
    import json

    return None if v is None else json.dumps(json_value(v), ensure_ascii=False)


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else str(v)
    if isinstance(v, datetime):
        return v.isoformat(sep=" ", timespec="seconds")
    return escape_control(str(v))


def _table_column(values: tuple, dtype: str) -> list[str]:
    """:func:`_cell` of each value of one column, a column at a time (the same text)."""
    if dtype in ("DOUBLE", "BOOLEAN") or dtype in INTEGER_TYPES:
        text = repr if dtype == "DOUBLE" else str
        if None not in values:
            return list(map(text, values))
        return ["" if v is None else text(v) for v in values]
    if dtype == "VARCHAR":
        texts = ["" if v is None else v for v in values]
        return [escape_control(v) for v in texts] if _CONTROL.search("".join(texts)) else texts
    return [_cell(v) for v in values]


def _csv_column(values: tuple, dtype: str, sep: str) -> list[str]:
    """One column's CSV fields as polars' ``write_csv`` writes them (NULL empty)."""
    if dtype == "DOUBLE":
        return ["" if v is None else _csv_float(v) for v in values]
    if dtype in INTEGER_TYPES:
        return ["" if v is None else str(v) for v in values]
    if dtype == "BOOLEAN":
        return ["" if v is None else "true" if v else "false" for v in values]
    if dtype == "VARCHAR":
        return ["" if v is None else _csv_text(v, sep) for v in values]
    if dtype == "TIMESTAMP":  # polars' microsecond datetimes: ISO with six decimals
        # beyond Python's years 1-9999 DuckDB hands over its own text, written as it is
        return [
            "" if v is None else _csv_text(v, sep) if isinstance(v, str) else
            v.isoformat(timespec="microseconds") for v in values
        ]  # fmt: skip
    return ["" if v is None else str(v) for v in values]  # DATE (ISO), NULL


def _csv_text(v: str, sep: str) -> str:
    """A text field quoted as polars quotes it: when it is empty or holds the separator, a
    quote or a line break."""
    if v == "" or sep in v or '"' in v or "\n" in v or "\r" in v:
        return '"' + v.replace('"', '""') + '"'
    return v


def _csv_float(v: float) -> str:
    """A double as polars writes it: Python's shortest round-trip digits, but positional from
    1e-5 (Python: 1e-05) and without a leading zero in negative exponents (1e-7, not 1e-07)."""
    text = repr(v)
    if "e-" in text:
        mantissa, exponent = text.split("e-")
        if exponent == "05":
            sign = "-" if mantissa.startswith("-") else ""
            return f"{sign}0.0000{mantissa.lstrip('-').replace('.', '')}"
        return f"{mantissa}e-{exponent.lstrip('0')}"
    return "NaN" if v != v else text


def _table(df: pl.DataFrame) -> str:
    numeric = [t.is_numeric() for t in df.schema.values()]
    cells = [[_cell(v) for v in df[c].to_list()] for c in df.columns]
    return _aligned([escape_control(h) for h in df.columns], cells, numeric)


def _aligned(header: list[str], cells: list[list[str]], numeric: list[bool]) -> str:
    """The aligned table: ``cells`` holds one list of texts per column; numbers right-aligned."""
    widths = [max([len(h), *map(len, col)]) for h, col in zip(header, cells, strict=True)]
    # one printf-style template pads a whole row ('%5s' right-aligns, '%-5s' left-aligns)
    row = "  ".join(f"%{'' if num else '-'}{w}s" for w, num in zip(widths, numeric, strict=True))
    lines = header_lines(header, widths)
    lines += [(row % values).rstrip() for values in zip(*cells, strict=True)]
    return "\n".join(lines)


def header_lines(header: list[str], widths: list[int]) -> list[str]:
    """The aligned table's first two lines: the column names, then dashes under each."""
    return [
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
