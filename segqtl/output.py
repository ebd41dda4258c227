"""Text renderings of result frames for stdout: an aligned table, CSV, TSV or JSON."""

from __future__ import annotations

import json
import math
from datetime import date, datetime

import polars as pl

FORMATS = ("table", "csv", "tsv", "json")


def format_frame(df: pl.DataFrame, fmt: str = "table") -> str:
    """Render ``df`` as text (no trailing newline).

    Parameters
    ----------
    df : polars.DataFrame
        Any frame; nested values (lists, structs) are shown as JSON.
    fmt : {"table", "csv", "tsv", "json"}
        ``table``: aligned columns for reading, numbers right-aligned, NULL as an empty cell.
        ``csv``/``tsv``: a header row then the rows (floats in their shortest round-trip form).
        ``json``: an array of objects, one per row (NaN and NULL as ``null``).
    """
    if fmt == "json":
        rows = [{k: _json_value(v) for k, v in row.items()} for row in df.iter_rows(named=True)]
        return json.dumps(rows, indent=1, ensure_ascii=False)
    flat = df.with_columns(
        pl.col(c).map_elements(lambda v: json.dumps(v, default=str), return_dtype=pl.String)
        for c, t in df.schema.items()
        if t.is_nested()
    )
    if fmt in ("csv", "tsv"):
        text = flat.write_csv(separator="," if fmt == "csv" else "\t")
        return text.rstrip("\n")
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return _table(flat)


def _json_value(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else str(v)
    if isinstance(v, datetime | date):
        return v.isoformat(sep=" ") if isinstance(v, datetime) else v.isoformat()
    if isinstance(v, list):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    return v


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else str(v)
    if isinstance(v, datetime):
        return v.isoformat(sep=" ", timespec="seconds")
    return str(v)


def _table(df: pl.DataFrame) -> str:
    numeric = [t.is_numeric() for t in df.schema.values()]
    cells = [[_cell(v) for v in row] for row in df.iter_rows()]
    header = list(df.columns)
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
