"""``segqtl query``'s aligned table rendered by DuckDB (``segqtl/warehouse/table_text.py``) is the
table :func:`segqtl.output.format_rows` renders in Python, byte for byte; where DuckDB would
write something else, it declines (None) and Python renders."""

from __future__ import annotations

import math
import struct

import _duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segqtl.output import format_rows
from segqtl.warehouse.table_text import UNTRIMMABLE, engine_table


def _python(con, sql: str, params=None) -> str:
    con.execute(sql, params or [])
    columns = [d[0] for d in con.description]
    types = [str(d[1]) for d in con.description]
    return format_rows(columns, types, con.fetchall())


@pytest.fixture
def con():
    c = _duckdb.connect()
    yield c
    c.close()


def test_table_text__untrimmable_is_every_escaped_or_stripped_character():
    import re

    wanted = [
        c for c in range(0x110000) if c < 0x20 or c == 0x7F or (chr(c).isspace() and c != 0x20)
    ]
    listed: list[int] = []
    for part in re.findall(r"\\x\{([0-9a-f]+)\}(?:-\\x\{([0-9a-f]+)\})?", UNTRIMMABLE):
        lo = int(part[0], 16)
        hi = int(part[1], 16) if part[1] else lo
        listed.extend(range(lo, hi + 1))
    assert listed == wanted


@pytest.mark.parametrize(
    "sql",
    [
        # integers of every width, doubles around the points where repr switches to exponents
        "SELECT i::TINYINT AS a, (i * 1000003)::BIGINT AS b, (i + 7)::UINTEGER AS c, "
        "18446744073709551615::UBIGINT AS d, "
        "[0.1, -0.0, 1e-5, -1.5e-5, 9.5e-6, 1.25e-7, 1e15, 1e16, 1.5e300, 5e-324, 'nan'::DOUBLE, "
        "'inf'::DOUBLE, '-inf'::DOUBLE, NULL, 123456789012345.6][i % 15 + 1]::DOUBLE AS \"x,y\" "
        "FROM range(40) t(i)",
        # text with separators, quotes, accents, wide characters, padding, empty and NULL
        "SELECT ['', 'a,b', 'q\"x', 'é中', ' pad', 'x  ', NULL, 'ünïcödé wide 中文字'][i % 8 + 1] "
        'AS "text ""q"" t", i % 3 = 0 AS flag, NULL AS nothing FROM range(24) t(i)',
        # a last text column ending in spaces, and empty: trimmed line ends
        "SELECT i AS n, CASE WHEN i % 2 = 0 THEN 'x   ' END AS tail FROM range(6) t(i)",
        # a header wider than its cells, and a non-ASCII header
        'SELECT 1 AS "a very long column name", \'z\' AS "ß中"',
        # no rows
        "SELECT 1 AS a, 'b' AS b WHERE false",
        # booleans with NULLs
        "SELECT [true, false, NULL][i % 3 + 1] AS b FROM range(5) t(i)",
    ],
    ids=["numbers", "text", "trailing", "header", "empty", "booleans"],
)
def test_table_text__renders_format_rows_text(con, sql):
    got = engine_table(con, sql)
    assert got is not None  # rendered by DuckDB, not declined
    assert got == _python(con, sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT E'tab\\there' AS t",  # escaped by format_rows
        "SELECT E'line\\nbreak' AS t",
        "SELECT 'no' || chr(160) || 'break' AS t",  # whitespace rstrip trims
        "SELECT 'x' || chr(12288) AS t",
        "SELECT 1 AS a, 2 AS a",  # a name twice
        "SELECT 1.5 AS decimal_value",  # DECIMAL: polars' path
        "SELECT DATE '2024-01-01' AS d",  # dates: Python's text
        "SELECT [1, 2] AS l",
        "SELECT 1; SELECT 2",  # not one statement (the caller refuses it)
    ],
)
def test_table_text__declines_what_duckdb_would_write_otherwise(con, sql):
    assert engine_table(con, sql) is None


def test_table_text__keeps_the_statements_row_order(con):
    # enough rows for several row groups and both threads; an order by a hash
    con.execute("SET threads = 2")
    sql = "SELECT i, hash(i) % 1000 AS h, 'v' || i AS s FROM range(300000) t(i) ORDER BY h, i DESC"
    assert engine_table(con, sql) == _python(con, sql)


def test_table_text__binds_parameters(con):
    assert engine_table(con, "SELECT ?::INTEGER AS a, ? AS b", [7, "x"]) == _python(
        con, "SELECT ?::INTEGER AS a, ? AS b", [7, "x"]
    )
    assert engine_table(con, "SELECT $v::DOUBLE AS v", {"v": 0.1}) == _python(
        con, "SELECT $v::DOUBLE AS v", {"v": 0.1}
    )


def test_table_text__trailing_semicolon_and_comment(con):
    for sql in ("SELECT 1 AS a;", "SELECT 1 AS a -- a comment", "SELECT 1 AS a;\n"):
        assert engine_table(con, sql) == _python(con, "SELECT 1 AS a")


@settings(max_examples=200, deadline=None)
@given(bits=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=50))
def test_table_text__doubles_as_python_writes_them(bits):
    # DuckDB's text of a double is Python's repr, for any bit pattern (NaN payloads aside)
    values = [struct.unpack("<d", struct.pack("<Q", b))[0] for b in bits]
    values = [v if not math.isnan(v) else float("nan") for v in values]
    con = _duckdb.connect()
    try:
        con.execute("CREATE TABLE t AS SELECT unnest(?::DOUBLE[]) AS x", [values])
        sql = "SELECT x FROM t"
        assert engine_table(con, sql) == _python(con, sql)
    finally:
        con.close()


def test_table_text__names_like_its_own_are_the_users(con):
    # columns named like the statement's own, and tables named like its parts
    con.execute("CREATE TABLE segqtl_cells AS SELECT 'a user table' AS v")
    con.execute("CREATE TABLE q AS SELECT 'another' AS v")
    for sql in (
        "SELECT 5 AS n__, 6 AS c0, 7 AS w0, 8 AS untrimmable__, 9 AS t",
        "SELECT * FROM segqtl_cells",
        "SELECT v AS c1, 'x' AS c0 FROM q",
    ):
        got = engine_table(con, sql)
        assert got is not None and got == _python(con, sql)


@pytest.mark.parametrize(
    "sql",
    [
        # names DuckDB takes for one (case): the columns are taken by position
        "SELECT 1 AS x, 2 AS X",
        'SELECT i AS "n__", i * 2 AS "N__", \'z\' AS c0 FROM range(3) t(i)',
        # NaNs with the sign bit set (x86 makes them): Python writes nan
        "SELECT 'inf'::DOUBLE - 'inf'::DOUBLE AS x, sqrt(-1.0) AS y, 0 * 'inf'::DOUBLE AS z",
        # a trailing character DuckDB reads as part of a name is part of the statement
        "SELECT 7 AS pval\u00a0",
        "SELECT 1 AS a\x1c",
        # a long run of blanks inside the statement
        "SELECT 1" + " " * 40000 + "AS a",
    ],
    ids=["case", "case-aliases", "signed-nan", "nbsp-name", "separator-name", "blanks"],
)
def test_table_text__review_cases_render_as_python(con, sql):
    got = engine_table(con, sql)
    assert got is not None
    assert got == _python(con, sql)


def test_table_text__wide_results_are_left_to_python(con):
    from segqtl.warehouse.table_text import MAX_COLUMNS

    narrow = ", ".join(f"{k} AS c{k}" for k in range(MAX_COLUMNS))
    wide = ", ".join(f"{k} AS c{k}" for k in range(MAX_COLUMNS + 1))
    assert engine_table(con, f"SELECT {narrow}") == _python(con, f"SELECT {narrow}")
    assert engine_table(con, f"SELECT {wide}") is None


@pytest.mark.parametrize("fmt", ["csv", "tsv", "table", "json"])
def test_format_rows__timestamps_beyond_python_years(con, fmt):
    # DuckDB returns a TIMESTAMP outside Python's years 1-9999 as its own text: every format
    # writes it as that text instead of failing
    con.execute(
        "SELECT TIMESTAMP '12000-01-01 00:00:00' AS t, DATE '15000-03-01' AS d, "
        "TIMESTAMP '2026-12-01 04:00:00' AS now"
    )
    columns = [d[0] for d in con.description]
    types = [str(d[1]) for d in con.description]
    text = format_rows(columns, types, con.fetchall(), fmt)
    assert "12000-01-01 00:00:00" in text
    assert "15000-03-01" in text
    assert "2026-12-01" in text
