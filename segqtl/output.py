"""Text renderings of result frames for stdout: an aligned table, CSV, TSV or JSON."""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
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


def json_value(v):
    """A Python value from a frame or the database as something :func:`json.dumps` accepts."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, Decimal):
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
    return None if v is None else json.dumps(json_value(v), ensure_ascii=False)


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else str(v)
    if isinstance(v, datetime):
        return v.isoformat(sep=" ", timespec="seconds")
    return escape_control(str(v))


def _table(df: pl.DataFrame) -> str:
    numeric = [t.is_numeric() for t in df.schema.values()]
    cells = [[_cell(v) for v in row] for row in df.iter_rows()]
    header = [escape_control(h) for h in df.columns]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(header)]

    def line(values, is_header=False):
        out = [
            v.rjust(w) if (num and not is_header) else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(out).rstrip()

    lines = [line(header, True), "  ".join("-" * w for w in widths)]
    lines += [line(r) for r in cells]
    return "\n".join(lines)
