"""``segqtl query``'s aligned table, rendered by DuckDB itself.

:func:`segqtl.output.format_rows` renders a result in Python: every cell becomes a Python
object, then text, then a padded line. For a result of thousands of rows that is most of the
command's time (issue 13: one phenotype's 8,000 pairs). :func:`engine_table` has DuckDB do the
same work in one statement: each cell cast to text, each column's width, each line padded by
``printf``; Python only adds the header. The text is the same, byte for byte (tests hold the
two to each other): DuckDB's text of a double is Python's ``repr``, of an integer ``str``, and
both count widths in code points.

Only results whose every cell DuckDB writes as Python does are rendered here: integer, double,
text, boolean and NULL columns (a NaN is written ``nan`` whatever its sign bit), no name twice,
at most :data:`MAX_COLUMNS` columns, and no text that :func:`segqtl.output.escape_control`
would escape or whose line end ``str.rstrip`` would trim otherwise (control characters,
whitespace other than the space). Anything else returns None, and the caller renders in
Python. The statement's columns are read by position (DuckDB takes ``x`` and ``X`` for one
name), and only the blanks DuckDB itself skips are trimmed from its end.

Row order: ``row_number() OVER ()`` numbers the rows in the order the statement returns them
(DuckDB preserves order through an empty window, docs: "Order preservation"), and the lines are
sorted by that number; the statement runs once (a ``MATERIALIZED`` common table expression).
"""

from __future__ import annotations

from ..output import INTEGER_TYPES, escape_control, header_lines, plain_columns, right_aligned

#: Column types whose cells DuckDB casts to the text Python gives them (BOOLEAN by a CASE).
ENGINE_TYPES = INTEGER_TYPES | {"DOUBLE", "VARCHAR", "BOOLEAN", '"NULL"'}

#: Wider results are rendered in Python: DuckDB's one printf per line grows with the columns
#: (1,000 columns: 0.5 s against Python's 0.03 s), and such results have few rows.
MAX_COLUMNS = 100


#: An RE2 class of the characters that keep a text cell out of DuckDB's rendering: those
#: :func:`segqtl.output.escape_control` escapes (C0 controls and DEL), and whitespace other
#: than the space (``str.rstrip`` trims it, DuckDB's ``rtrim`` does not). A test derives it
#: from ``str.isspace`` over every code point.
UNTRIMMABLE = (
    r"[\x{0}-\x{1f}\x{7f}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}-\x{2029}\x{202f}"
    r"\x{205f}\x{3000}]"
)


def engine_table(con, sql: str, params: dict | list | None = None) -> str | None:
    """The aligned table of the SELECT ``sql`` as :func:`segqtl.output.format_rows` renders it,
    or None when DuckDB cannot render it the same way (the caller then renders in Python).

    Parameters
    ----------
    con : DuckDB connection
        The query command's connection (no result pending).
    sql : str
        One statement of the SELECT kind.
    params : dict or list, optional
        Its parameters.
    """
    import _duckdb

    # only what DuckDB itself takes for blanks (it reads other whitespace as part of a name)
    body = sql.rstrip(" \t\n\r;")
    try:
        if len(con.extract_statements(body)) != 1:
            return None
        described = con.execute("DESCRIBE " + body, params or []).fetchall()
    except _duckdb.Error:
        return None
    columns = [row[0] for row in described]
    types = [row[1] for row in described]
    if len(columns) > MAX_COLUMNS or not plain_columns(columns, types, ENGINE_TYPES):
        return None
    cells, templates = [], []
    for i, kind in enumerate(types):
        v = f"v{i}"  # the statement's columns by position: "x" and "X" are one name to DuckDB
        if kind == "BOOLEAN":
            cell = f"CASE WHEN {v} THEN 'True' WHEN NOT {v} THEN 'False' ELSE '' END"
        elif kind == "DOUBLE":  # a NaN with its sign bit set is '-nan' to DuckDB, 'nan' to Python
            cell = f"CASE WHEN isnan({v}) THEN 'nan' ELSE coalesce(CAST({v} AS VARCHAR), '') END"
        else:
            cell = f"coalesce(CAST({v} AS VARCHAR), '')"
        cells.append(f"{cell} AS c{i}")
        templates.append("%*s" if right_aligned(kind) else "%-*s")
    n = len(columns)
    header = [escape_control(c) for c in columns]
    bad = " OR ".join(
        f"regexp_matches(c{i}, '{UNTRIMMABLE}')"
        for i, kind in enumerate(types)
        if kind == "VARCHAR"
    )
    # a column is as wide as its widest cell or its name
    widths = ", ".join(
        f"greatest(max(length(c{i})), {len(h)}) AS w{i}" for i, h in enumerate(header)
    )
    padded = ", ".join(f"w{i}, c{i}" for i in range(n))
    # the statement sits inside the first expression, where neither name is visible
    statement = (
        "WITH segqtl_cells AS MATERIALIZED (SELECT row_number() OVER () AS n__, "
        f"{', '.join(cells)} FROM (\n{body}\n) AS t({', '.join(f'v{i}' for i in range(n))})), "
        f"segqtl_widths AS (SELECT {widths}, bool_or({bad or 'false'}) AS untrimmable__ "
        "FROM segqtl_cells) "
        f"SELECT rtrim(printf('{'  '.join(templates)}', {padded})), untrimmable__, "
        f"CASE WHEN n__ = 1 THEN [{', '.join(f'w{i}' for i in range(n))}] END "
        "FROM segqtl_cells CROSS JOIN segqtl_widths ORDER BY n__"
    )
    try:
        rows = con.execute(statement, params or []).fetchall()
    except _duckdb.Error:
        return None
    if rows and rows[0][1]:
        return None
    lines = header_lines(header, rows[0][2] if rows else [len(h) for h in header])
    lines += [row[0] for row in rows]
    return "\n".join(lines)
